"""One provenance record per trained model: `<stem>.provenance.json` beside `<stem>.keras`.

Every trainer (the teacher, the default pipeline's students, the study's seeds) writes the same
small record, and whatever later fine-tunes a model (compress, deep_compress) reads it with `read`
to learn what the model trained on, so that fine-tuning does not shift it to other data.
"""
from pathlib import Path

from distill.core import files

SUFFIX = ".provenance.json"
TRAINED_ON = VIEWS, IMAGES = ("views", "images")  # the cached augmented views, or the plain training images
KEYS = ("model", "arch", "trained_on", "seed", "recipe")


def path(model_path):
    """data/teacher.keras -> data/teacher.provenance.json."""
    model_path = Path(model_path)
    if model_path.suffix != ".keras":
        raise ValueError(f"{model_path}: a model file ends in .keras")
    return str(model_path.with_name(model_path.stem + SUFFIX))


def record(model_path, arch, augment, seed, recipe):
    """The provenance of the model at `model_path`: its family, whether it trained on the cached views,
    the seed of its init and batch order, and its training recipe (a dict of params)."""
    return {"model": Path(model_path).name, "arch": arch, "trained_on": VIEWS if augment else IMAGES,
            "seed": seed, "recipe": recipe}


def write(model_path, provenance, folder=None):
    """Write `provenance` beside the model (in `folder` when the model is being written there first)."""
    target = Path(path(model_path))
    files.write_json(target if folder is None else Path(folder) / target.name, provenance)


def read(model_path):
    """The provenance record of the model at `model_path`, checked."""
    file = path(model_path)
    found = files.read_record(file, KEYS)
    if found["trained_on"] not in TRAINED_ON:
        raise files.InputError(f"{file}: 'trained_on' must be one of {', '.join(TRAINED_ON)}, got "
                               f"{found['trained_on']!r}; rerun the stage that trained it (dvc repro)")
    return found


def trained_on_views(model_paths):
    """Whether the models at `model_paths` (the seeds of one student, or the teacher) trained on the
    cached views; they must agree."""
    seen = {str(p): read(p)["trained_on"] for p in model_paths}
    if not seen:
        raise ValueError("no model paths")
    if len(set(seen.values())) != 1:
        raise files.InputError(f"{', '.join(path(p) for p in seen)}: the models disagree on 'trained_on' "
                               f"({seen}); rerun the stages that trained them (dvc repro)")
    return next(iter(seen.values())) == VIEWS
