"""Config objects for the params sections that more than one stage reads.

A section read by one stage only has its dataclass in that stage's script, so editing it reruns
that stage alone. These are shared: `TrainConfig` (the headline student and every grid point),
`sweep` (the grid stages and evaluate) and `compress` (compress, teacher_tflite and evaluate).
"""
from dataclasses import dataclass, fields

from . import names
from . import params as P

TUNING = "bench/tuning.json"  # the validation trials behind the defaults: bench/tune.py appends, evaluate lists them


@dataclass(frozen=True)
class TrainConfig:
    """How a student trains from the cached teacher outputs (Adam, cosine-decayed to 0)."""

    temperature: float = P.field(P.number(above=0))  # kd: softmax temperature T
    alpha: float = P.field(P.number(min=0, max=1))  # kd: weight of the soft term; 1 - alpha on the labels
    target_weight: float = P.field(P.number(min=0))  # dkd: weight of the target-class term (DKD's alpha)
    nontarget_weight: float = P.field(P.number(min=0))  # dkd: weight of the non-target term (DKD's beta)
    augment: bool = P.field(P.boolean())  # standalone families: train on the cached views and their teacher logits
    epochs: int = P.field(P.integer(min=1))
    batch_size: int = P.field(P.integer(min=1))
    learning_rate: float = P.field(P.number(above=0))
    dropout: float = P.field(P.number(min=0, max=0.95))
    seeds: list = P.field(P.list_of(P.integer(min=0)))  # one model per seed: its init and batch order

    def as_dict(self):
        return {f.name: getattr(self, f.name) for f in fields(TrainConfig)}

    @classmethod
    def part_of(cls, cfg):
        """The TrainConfig inside a config that extends it (e.g. the headline student's)."""
        return cls(**{f.name: getattr(cfg, f.name) for f in fields(cls)})


def augment_problem(arch, augment):
    """Why a student of family `arch` cannot train on the cached views, or None."""
    if augment and arch not in names.STANDALONE:
        return (f"a {arch} student reads the teacher's conv features of the plain images, not views; "
                "must be false")
    return None


@dataclass(frozen=True)
class FamilyConfig:
    """One student family's grid: every width crossed with every loss, trained with `train`."""

    hidden: list = P.field(P.list_of(P.widths()))
    loss: list = P.field(P.list_of(P.choice(*names.LOSSES)))
    train: TrainConfig = P.field(P.config(TrainConfig))


@dataclass(frozen=True)
class SweepConfig:
    """The `sweep` section: a grid per student family; each point is its own DVC stage."""

    families: dict  # arch -> FamilyConfig, for the families params.yaml grids

    def problems(self):
        for arch, family in self.families.items():
            if problem := augment_problem(arch, family.train.augment):
                yield f"{arch}.train.augment", problem
            for i, widths in enumerate(family.hidden):
                if problem := names.widths_problem(arch, widths):
                    yield f"{arch}.hidden[{i}]", problem

    def specs(self):
        """Every grid point, family by family."""
        return [names.StudentSpec(arch, widths, loss) for arch, family in self.families.items()
                for widths in family.hidden for loss in family.loss]


def sweep_spec():
    """The spec that reads the `sweep` section into a SweepConfig: a grid for any of the families in
    names.ARCHS (the default pipeline grids head and mlp, the study mlp, cnn and sep), at least one."""
    family = P.config(FamilyConfig)

    def check(value, key, path):
        if not isinstance(value, dict) or not value:
            P.fail(path, key, f"must map one or more of {', '.join(names.ARCHS)} to a grid, got {P._show(value)}")
        unknown = sorted(str(k) for k in value if k not in names.ARCHS)
        if unknown:
            P.fail(path, f"{key}.{unknown[0]}", f"unknown family (known: {', '.join(names.ARCHS)})")
        sweep = SweepConfig({arch: family(value[arch], f"{key}.{arch}", path) for arch in names.ARCHS if arch in value})
        for sub, message in sweep.problems():
            P.fail(path, f"{key}.{sub}", message)
        return sweep

    return check


# The goals evaluate (default pipeline) and study_report (the study) answer, checked alike.
ACCURACY = P.number(min=0, max=1)
BUDGET = P.mapping({"params": P.integer(min=1), "target": ACCURACY})  # validation's pick within params reaches target
KD_GOAL = P.mapping({"params": P.integer(min=1), "gain": P.number(min=0, max=1), "networks": P.integer(min=1)})
DEEP_KEYS = ("name", "seeds", "accuracy", "accuracy_std", "accuracy_before", "bytes", "x_smaller", "recipe", "per_seed")


@dataclass(frozen=True)
class CompressConfig:
    """Deep Compression of trained students: prune while fine-tuning, then float32 and int8 TFLite."""

    students: list = P.field(P.list_of(P.string()))  # 'student' (the headline) or grid point names
    sparsity: float = P.field(P.number(min=0, max=0.99))  # share of each Dense/Conv kernel pruned
    finetune_epochs: int = P.field(P.integer(min=0))  # 0: prune in one shot
    learning_rate: float = P.field(P.number(above=0))
    batch_size: int = P.field(P.integer(min=1))
    calibration_images: int = P.field(P.integer(min=1))  # int8 activation ranges
    threads: int = P.field(P.integer(min=1))  # TFLite interpreter threads for the latency figures
    repeats_batch1: int = P.field(P.integer(min=1))
    repeats_batch1000: int = P.field(P.integer(min=1))
    seed: int = P.field(P.integer(min=0))
