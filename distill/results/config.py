"""What evaluate and study_report answer: the accuracy goals and the record keys they read."""
from dataclasses import dataclass

from distill.core import params as P

TUNING = "bench/tuning.json"  # the validation trials behind the defaults: bench/tune.py appends, evaluate lists them

# The goals evaluate (default pipeline) and study_report (the study) answer, checked alike.
ACCURACY = P.number(min=0, max=1)
BUDGET = P.mapping({"params": P.integer(min=1), "target": ACCURACY})  # validation's pick within params reaches target
KD_GOAL = P.mapping({"params": P.integer(min=1), "gain": P.number(min=0, max=1), "networks": P.integer(min=1)})
DEEP_KEYS = ("name", "seeds", "accuracy", "accuracy_std", "accuracy_before", "bytes", "x_smaller", "recipe", "per_seed")


DEEP_GOALS = P.mapping({"teacher_ratio": P.number(min=1), "teacher_loss": P.number(min=0, max=1),
                        "file_ratio": P.number(min=1)})


@dataclass(frozen=True)
class EvaluateConfig:
    """The default pipeline's `evaluate` section: its accuracy targets and goals."""

    targets: list = P.field(P.list_of(ACCURACY))  # summary.json's smallest_at_<target>: fewest params reaching it
    file_target: float = P.field(ACCURACY)  # summary.json's smallest_bytes_at_<target>: the smallest file reaching it
    budgets: list = P.field(P.list_of(BUDGET, unique=False))  # within `params`, validation's pick reaches `target`
    kd_goal: dict = P.field(KD_GOAL)  # distillation beats labels only by >= gain on >= networks under params
    deep_goals: dict = P.field(DEEP_GOALS)  # the teacher deep-compressed; a file at file_target this much smaller


@dataclass(frozen=True)
class StudyEvaluateConfig:
    """The study's `evaluate` section: the goals study_report answers."""

    targets: list = P.field(P.list_of(ACCURACY))  # summary's smallest_at_<target>: fewest params reaching it
    file_target: float = P.field(ACCURACY)  # the smallest .dcz file reaching it
    budgets: list = P.field(P.list_of(BUDGET, unique=False))  # within `params`, validation's pick reaches `target`
    kd_goal: dict = P.field(KD_GOAL)  # kd or dkd beats hard significantly by >= gain on >= networks under params
