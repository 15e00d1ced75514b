"""The research study (study/dvc.yaml, study/params.yaml): its `study` params section and its files.

The study trains the standalone families (sep, cnn, mlp) at several schedules, one DVC stage per
(network, loss, epochs, seed): `stages/study_seed.py` trains one seed for one schedule, `stages/study_gather.py`
gathers a network's seeds, `stages/study_report.py` writes the summary, report and plots. Seeds and
schedules (`epochs`) sit beside `train`, not in it, so adding a seed or a schedule changes no params a
trained seed depends on: only the new stages run. Validation chooses each network's schedule per
loss (distill/results/study_gather.py).

Every stage of the study runs inside study/, so these paths (like those of paths.py) are relative to
study/. Import-light (no TensorFlow): params are checked before any work starts. Editing this file
reruns every seed stage of the study: what only gathering or the report need lives in distill/results/
(study_gather.py and study_report.py).
"""
import dataclasses
from dataclasses import dataclass

from distill.core import names, paths
from distill.core import params as P
from distill.training.config import SweepConfig, TrainConfig

SECTION = "study"
FAMILIES = names.STANDALONE  # mlp, cnn, sep: students from raw pixels, which can train on the cached views

AXES = ("epochs", "seeds")  # TrainConfig's fields that are the study's matrix axes, not `train` settings

# TrainConfig without the axes, kept out of what a seed trains by
StudyTrain = dataclasses.make_dataclass(
    "StudyTrain",
    [(f.name, f.type, dataclasses.field(metadata=f.metadata)) for f in dataclasses.fields(TrainConfig)
     if f.name not in AXES],
    frozen=True,
)


def train_config(train, epochs, seed):
    """The TrainConfig that trains seed `seed` of a study network for `epochs` epochs (one schedule:
    Adam, cosine-decayed to 0 over those epochs) as `train` (a StudyTrain) says."""
    return TrainConfig(**dataclasses.asdict(train), epochs=epochs, seeds=[seed])


@dataclass(frozen=True)
class StudyFamily:
    """One family's grid: every width crossed with every loss and every schedule, each trained once
    per seed."""

    hidden: list = P.field(P.list_of(P.widths(), empty=True))  # []: the family left out
    loss: list = P.field(P.list_of(P.choice(*names.LOSSES)))
    epochs: list = P.field(P.list_of(P.integer(min=1)))  # the schedules: validation picks one per network and loss
    seeds: list = P.field(P.list_of(P.integer(min=0)))  # add one and only it trains
    train: StudyTrain = P.field(P.config(StudyTrain))


@dataclass(frozen=True)
class StudyConfig(SweepConfig):
    """The `study` section: a grid per standalone family (arch -> StudyFamily, for every arch in
    FAMILIES), checked and listed as the default pipeline's sweep is; each seed is its own stage."""

    def problems(self):
        yield from super().problems()
        for arch, family in self.families.items():
            if names.MSE in family.loss:
                yield f"{arch}.loss", (f"the study trains standalone students: {names.MSE} (on a head's logits) "
                                       "is not one")

    def networks(self):
        """Every network of the study as (arch, widths)."""
        return [(arch, widths) for arch, family in self.families.items() for widths in family.hidden]

    def family(self, arch, path=P.PARAMS_FILE):
        if arch not in self.families:
            raise P.ParamsError(f"{path}: {SECTION}.{arch}: no such family (known: {', '.join(self.families)})")
        return self.families[arch]


def study_spec():
    families = P.mapping({arch: P.config(StudyFamily) for arch in FAMILIES})

    def check(value, key, path):
        study = StudyConfig(families(value, key, path))
        for sub, message in study.problems():
            P.fail(path, f"{key}.{sub}", message)
        return study

    return check


def load(path=P.PARAMS_FILE):
    return P.section(SECTION, study_spec(), path)


def point(study, arch, hidden, loss=None, path=P.PARAMS_FILE):
    """The network (arch, widths) that a stage's arguments name, checked to be on the study's grid
    (and `loss` among its losses)."""
    family = study.family(arch, path)
    widths = P.widths()(hidden, f"{SECTION}.{arch}.hidden", path)
    if widths not in family.hidden or (loss is not None and loss not in family.loss):
        what = f"{hidden}" + (f" {loss}" if loss is not None else "")
        raise P.ParamsError(f"{path}: {SECTION}.{arch}: {what} is not on the grid "
                            "(study/dvc.yaml's matrix and study/params.yaml disagree)")
    return widths


# --- files (relative to study/) ------------------------------------------------------------------------

SEEDS = f"{paths.METRICS}/seeds"  # metrics/seeds/<network>/: each seed's record and predictions
NETWORKS = f"{paths.METRICS}/networks"  # metrics/networks/<network>.json: a network's seeds gathered
TUNING = f"{paths.METRICS}/tuning.json"  # the exploration trials on validation (bench/tune.py --study appends)


def network_dir(network):
    """metrics/seeds/<network>/: what every seed of every loss of one network wrote; the gather stage
    of the network depends on this folder."""
    return f"{SEEDS}/{network}"


def run_name(spec, epochs):
    """A student at one schedule, e.g. sep-8-24-2-kd-e36: its folder data/students/<run>/ holds a
    model per seed, and deep_compress.students names it so."""
    return names.scheduled(spec.name, epochs)


def seed_stem(spec, epochs, seed):
    return f"{network_dir(spec.network)}/{names.scheduled(spec.loss, epochs)}-{paths.SEED_PREFIX}{seed}"


def seed_record(spec, epochs, seed):
    """metrics/seeds/<network>/<loss>-e<epochs>-seed-<seed>.json: evaluation.student_record of that one seed."""
    return f"{seed_stem(spec, epochs, seed)}.json"


def seed_predictions(spec, epochs, seed, split):
    """metrics/seeds/<network>/<loss>-e<epochs>-seed-<seed>-<split>.npy: predicted classes, int8 (val or test)."""
    return f"{seed_stem(spec, epochs, seed)}-{split}.npy"


def seed_timing(spec, epochs, seed):
    """metrics/timing/<name>-e<epochs>-seed-<seed>.json: wall-clock, apart from the record (no stage reads it)."""
    return paths.timing(f"{run_name(spec, epochs)}-{paths.SEED_PREFIX}{seed}")


def network_record(network):
    return f"{NETWORKS}/{network}.json"


def network_name(arch, widths):
    return names.StudentSpec(arch, widths, names.HARD).network
