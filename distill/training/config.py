"""The training params sections as config objects: the teacher, the headline student and the grids.

Every section is one frozen dataclass whose fields carry their checks (core/params.py), so a
section is validated whole before TensorFlow is imported.
"""
from dataclasses import dataclass, fields

from distill.core import names
from distill.core import params as P


@dataclass(frozen=True)
class TrainConfig:
    """How a student trains from the cached teacher outputs (its optimizer at a peak learning rate,
    cosine-decayed to 0)."""

    temperature: float = P.field(P.number(above=0))  # kd: softmax temperature T
    alpha: float = P.field(P.number(min=0, max=1))  # kd: weight of the soft term; 1 - alpha on the labels
    target_weight: float = P.field(P.number(min=0))  # dkd: weight of the target-class term (DKD's alpha)
    nontarget_weight: float = P.field(P.number(min=0))  # dkd: weight of the non-target term (DKD's beta)
    augment: bool = P.field(P.boolean())  # standalone families: train on the cached views and their teacher logits
    mixup: bool = P.field(P.boolean())  # with augment: on the views' mixup blends (views.mixup > 0), labels blended too
    epochs: int = P.field(P.integer(min=1))
    batch_size: int = P.field(P.integer(min=1))
    learning_rate: float = P.field(P.number(above=0))  # peak: cosine-decayed to 0 over the epochs
    optimizer: str = P.field(P.choice(*names.OPTIMIZERS))
    weight_decay: float = P.field(P.number(min=0, max=1))  # decoupled (AdamW's); 0: off
    dropout: float = P.field(P.number(min=0, max=0.95))
    seeds: list = P.field(P.list_of(P.integer(min=0)))  # one model per seed: its init and batch order

    def as_dict(self):
        return {f.name: getattr(self, f.name) for f in fields(TrainConfig)}

    @classmethod
    def part_of(cls, cfg):
        """The TrainConfig inside a config that extends it (e.g. the headline student's)."""
        return cls(**{f.name: getattr(cfg, f.name) for f in fields(cls)})


def augment_problem(arch, augment, mixup=False):
    """(key, why) when a student of family `arch` cannot train on the cached views (or their blends)
    as asked, or None."""
    if augment and arch not in names.STANDALONE:
        return "augment", (f"a {arch} student reads the teacher's conv features of the plain images, not views; "
                           "must be false")
    if mixup and not augment:
        return "mixup", "the blends are of the cached views: needs augment true"
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
            if problem := augment_problem(arch, family.train.augment, family.train.mixup):
                yield f"{arch}.train.{problem[0]}", problem[1]
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


@dataclass(frozen=True)
class TeacherConfig:
    """The `teacher` section: the seed's CNN and how it trains."""

    epochs: int = P.field(P.integer(min=1))
    batch_size: int = P.field(P.integer(min=1))
    optimizer: str = P.field(P.choice(*names.OPTIMIZERS))
    learning_rate: float = P.field(P.number(above=0))  # peak learning rate
    schedule: str = P.field(P.choice(*names.SCHEDULES))
    warmup_epochs: int = P.field(P.integer(min=0))  # linear warmup to the peak before the schedule
    weight_decay: float = P.field(P.number(min=0))  # decoupled; 0: off
    augment: bool = P.field(P.boolean())  # train on data/views (geometric views, no mixup) instead of the plain images
    seed: int = P.field(P.integer(min=0))

    def problems(self):
        if self.warmup_epochs >= self.epochs:
            yield "warmup_epochs", f"must be < teacher.epochs ({self.epochs}), got {self.warmup_epochs}"


@dataclass(frozen=True)
class TeacherOutputsConfig:
    """The `teacher_outputs` section: the cached logits and conv features every student trains from."""

    batch_size: int = P.field(P.integer(min=1))  # inference batch; changing it may change low bits
    features_dtype: str = P.field(P.choice(*names.FEATURE_DTYPES))


@dataclass(frozen=True)
class StudentConfig(TrainConfig):
    """The headline student: what it is (arch, hidden, loss) and how it trains (TrainConfig)."""

    arch: str = P.field(P.choice(*names.ARCHS))
    hidden: tuple = P.field(P.widths())
    loss: str = P.field(P.choice(*names.LOSSES))

    def problems(self):
        if problem := names.widths_problem(self.arch, self.hidden):
            yield "hidden", problem
        if problem := augment_problem(self.arch, self.augment, self.mixup):
            yield problem

    @property
    def spec(self):
        return names.StudentSpec(self.arch, self.hidden, self.loss)

    @property
    def train(self):
        return TrainConfig.part_of(self)
