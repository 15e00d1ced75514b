"""Every file the pipeline reads or writes, relative to the project's root, defined once.

dvc.yaml spells the same paths for DVC; tests/test_dvc_yaml.py checks that the two agree.
"""
from distill.core.names import FLOAT32

DATA, METRICS = "data", "metrics"

MNIST = f"{DATA}/mnist.npz"
MNIST_RECIPE = f"{DATA}/mnist.recipe.json"  # how fetch made mnist.npz, and its SHA-256 (core/files.py: recipes)
TEACHER_MODEL = f"{DATA}/teacher.keras"
VIEWS = f"{DATA}/views"
VIEW_IMAGES = f"{VIEWS}/images.npy"  # uint8 (K, n, 28, 28): K augmented views of each training image
VIEW_MIX = f"{VIEWS}/mix.npz"  # mixup: each view's partner image and weight (both empty when off)
VIEW_RECIPE = f"{VIEWS}/recipe.json"  # the views params and the SHA-256 of images.npy and mix.npz
TEACHER_OUTPUTS = f"{DATA}/teacher_outputs"
VIEW_LOGITS = f"{TEACHER_OUTPUTS}/views_logits.npy"  # float32 (K, n, 10): the teacher on each view
VIEW_MIXED_LOGITS = f"{TEACHER_OUTPUTS}/views_mixed_logits.npy"  # on each view's mixup blend; (0, n, 10): none
OUTPUT_KINDS = ("logits", "features")  # what teacher_outputs caches per split
STUDENTS = f"{DATA}/students"
COMPRESSED = f"{DATA}/compressed"
DEEP_COMPRESSED = f"{DATA}/deep_compressed"

HEADLINE = "student"  # the headline student's file stem: data/students/student.keras
# Each stage's record in two files: the whole of it beside the model (DVC-cached: TEACHER_FULL_RECORD,
# student_full_record, compress_full_record, deep_full_record), and its names.HEADLINE_KEYS in
# the metrics file below that dvc.yaml declares, so `dvc metrics show` lists a few columns, not hundreds.
TEACHER_FULL_RECORD = f"{DATA}/teacher.json"
TEACHER_RECORD = f"{METRICS}/teacher.json"
STUDENT_RECORD = f"{METRICS}/{HEADLINE}.json"
STUDENT_PREDICTIONS = f"{METRICS}/student_predictions.csv"
SWEEP_RECORDS, COMPRESS_RECORDS, DEEP_RECORDS = (f"{METRICS}/{s}" for s in ("sweep", "compress", "deep_compress"))
SUMMARY, REPORT, PLOTS = f"{METRICS}/summary.json", f"{METRICS}/report.md", f"{METRICS}/plots"  # evaluate's
LIVE = f"{METRICS}/live"  # dvclive's per-epoch tables (DVC-cached)
TIMING = f"{METRICS}/timing"  # wall-clock figures: neither a DVC output nor tracked by git


def teacher_outputs(split, kind):
    """data/teacher_outputs/<split>_<kind>.npy: kind logits (n, 10) or features (n, 9216)."""
    return f"{TEACHER_OUTPUTS}/{split}_{kind}.npy"


def student_dir(name):
    """data/students/<name>/: `student` (the headline) or a grid point such as cnn-8-16-kd; one
    seed-<seed>.keras per seed and the test predictions of every seed."""
    return f"{STUDENTS}/{name}"


def student_model(name, seed):
    return seed_dir(student_dir(name), seed) + ".keras"


def student_seeds(name):
    """The seeds whose models data/students/<name>/ holds, in increasing order."""
    from pathlib import Path

    stems = (p.stem for p in Path(student_dir(name)).glob(f"{SEED_PREFIX}*.keras"))
    return sorted(int(s[len(SEED_PREFIX):]) for s in stems if s[len(SEED_PREFIX):].isdigit())


RECORD_FILE = "record.json"  # a full record's name in the folder of what it describes


def student_full_record(name):
    return f"{student_dir(name)}/{RECORD_FILE}"


def test_predictions(name):
    """data/students/<name>/test_predictions.npy: (seeds, test images) predicted classes, int8."""
    return f"{student_dir(name)}/test_predictions.npy"


SEED_PREFIX = "seed-"


def seed_dir(folder, seed):
    """<folder>/seed-<seed>: one seed's share of a multi-seed output."""
    return f"{folder}/{SEED_PREFIX}{seed}"


def sweep_record(name):
    return f"{SWEEP_RECORDS}/{name}.json"


def compress_record(name):
    return f"{COMPRESS_RECORDS}/{name}.json"


def compress_full_record(name):
    """data/compressed/<name>.json: the compress (or teacher_tflite) record in full."""
    return f"{COMPRESSED}/{name}.json"


def deep_dir(subject):
    """data/deep_compressed/<subject>/: teacher.dcz, or seed-<seed>.dcz for each seed of a student, and
    record.json, the record in full (deep_full_record)."""
    return f"{DEEP_COMPRESSED}/{subject}"


def deep_record(subject):
    """metrics/deep_compress/<subject>.json: the record's names.HEADLINE_KEYS (what dvc.yaml declares)."""
    return f"{DEEP_RECORDS}/{subject}.json"


def deep_full_record(subject):
    return f"{deep_dir(subject)}/{RECORD_FILE}"


def tflite(name, kind):
    """data/compressed/<name>.tflite for float32, <name>-int8.tflite for int8."""
    return f"{COMPRESSED}/{name}.tflite" if kind == FLOAT32 else f"{COMPRESSED}/{name}-{kind}.tflite"


def timing(name):
    """metrics/timing/<name>.json: wall-clock seconds of a training stage. Kept out of the records so
    that a rerun reproducing the same model leaves everything downstream up to date."""
    return f"{TIMING}/{name}.json"


def live(name):
    """metrics/live/<name>: dvclive's per-epoch curves of a training stage."""
    return f"{LIVE}/{name}"


def plot(name):
    return f"{PLOTS}/{name}"
