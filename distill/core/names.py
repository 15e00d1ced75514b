"""The names the pipeline shares, each defined once: losses, student families, optimizers and
schedules, the widths notation, and a student's name.

Import-light (no TensorFlow): params are validated against these names before any work starts.
"""
from dataclasses import dataclass

# mse: the seed's loss on logits; kd: Hinton's; hard: labels only, the no-distillation baseline;
# dkd: decoupled KD (Zhao et al. 2022), target and non-target terms weighted apart
LOSSES = MSE, KD, HARD, DKD = ("mse", "kd", "hard", "dkd")
# head: the seed's Dense(h) on the teacher's conv features; the rest standalone, from pixels: mlp, cnn,
# sep (residual separable blocks at 7x7), tied (one separable conv applied again and again at 11x11)
# and vsep (a stack of valid separable convs, 11x11 down to 5x5), the last two after the public records
ARCHS = HEAD, MLP, CNN, SEP, TIED, VSEP = ("head", "mlp", "cnn", "sep", "tied", "vsep")
STANDALONE = (MLP, CNN, SEP, TIED, VSEP)  # from pixels: they can train on the cached augmented views
TEACHER = "teacher"
NUM_CLASSES = 10  # MNIST's digits: every network's output width
OPTIMIZERS = ADAM, ADAMW, SGD, RMSPROP, ADADELTA = ("adam", "adamw", "sgd", "rmsprop", "adadelta")
SCHEDULES = CONSTANT, COSINE = ("constant", "cosine")
NO_FEATURES = "none"  # teacher_outputs.features_dtype: no conv features written (no head student reads them)
FEATURE_DTYPES = ("float16", "float32", NO_FEATURES)
TFLITE_KINDS = FLOAT32, INT8 = ("float32", "int8")
# what each stage's declared metrics file keeps of its record (those it has): `dvc metrics show`'s columns
HEADLINE_KEYS = ("accuracy", "accuracy_std", "val_accuracy", "params", "bytes")


def headline(record):
    """The HEADLINE_KEYS of a record, those it has, in that order."""
    return {k: record[k] for k in HEADLINE_KEYS if k in record}

# --- widths: "8-16-32" in params, stage names, file names and records ---------------------------------

WIDTHS_SEP = "-"
MAX_WIDTHS, MAX_WIDTH = 8, 4096


SCHEDULE_MARK = "e"  # a study run's name: its student's name, then -e<epochs> (sep-8-24-2-kd-e36)


def scheduled(name, epochs):
    """'sep-8-24-2-kd', 36 -> 'sep-8-24-2-kd-e36': a student trained for `epochs` epochs."""
    return f"{name}{WIDTHS_SEP}{SCHEDULE_MARK}{epochs}"


def split_schedule(name):
    """'sep-8-24-2-kd-e36' -> ('sep-8-24-2-kd', 36); a name without a schedule -> (name, None)."""
    stem, _, last = name.rpartition(WIDTHS_SEP)
    if stem and last[:1] == SCHEDULE_MARK and last[1:].isdigit() and int(last[1:]) >= 1:
        return stem, int(last[1:])
    return name, None


def parse_widths(value):
    """6, [8, 16] or "8-16" -> a tuple of ints; ValueError saying what is wrong."""
    items = value
    if isinstance(value, str):
        try:
            items = [int(p) for p in value.split(WIDTHS_SEP)]
        except ValueError:
            items = None
    elif isinstance(value, int) and not isinstance(value, bool):
        items = [value]
    if not isinstance(items, list) or not all(isinstance(w, int) and not isinstance(w, bool) for w in items):
        raise ValueError(f"must be widths like 6, [8, 16] or \"8{WIDTHS_SEP}16\", got {value!r}")
    if not 1 <= len(items) <= MAX_WIDTHS:
        raise ValueError(f"must give 1 to {MAX_WIDTHS} widths, got {len(items)}")
    for w in items:
        if not 1 <= w <= MAX_WIDTH:
            raise ValueError(f"widths must be between 1 and {MAX_WIDTH}, got {w}")
    return tuple(items)


def format_widths(widths):
    """(8, 16, 32) -> "8-16-32"."""
    return WIDTHS_SEP.join(map(str, widths))


def hidden_value(widths):
    """`hidden` as params and records show it: an int for one layer, "8-16-32" for several."""
    return widths[0] if len(widths) == 1 else format_widths(widths)


def widths_problem(arch, widths):
    """Why `widths` cannot build a student of family `arch`, or None."""
    if arch == HEAD and len(widths) != 1:
        return f"a {HEAD} student has one hidden layer, got {len(widths)} widths"
    if arch == SEP and len(widths) != 3:
        return (f"a {SEP} student takes stem-width-repeats (e.g. 8{WIDTHS_SEP}24{WIDTHS_SEP}2), "
                f"got {len(widths)} numbers")
    if arch == TIED and len(widths) != 4:
        return (f"a {TIED} student takes stem-width-repeats-dense (e.g. 8{WIDTHS_SEP}26{WIDTHS_SEP}3{WIDTHS_SEP}16), "
                f"got {len(widths)} numbers")
    if arch == VSEP and not 2 <= len(widths) <= VSEP_MAX_LAYERS + 1:
        return (f"a {VSEP} student takes a stem and 1 to {VSEP_MAX_LAYERS} separable widths "
                f"(e.g. 7{WIDTHS_SEP}10{WIDTHS_SEP}10{WIDTHS_SEP}11{WIDTHS_SEP}12), got {len(widths)} numbers")
    return None


VSEP_MAX_LAYERS = 6  # each valid 3x3 takes 2 pixels off the 13x13 map: six leave 1x1


@dataclass(frozen=True)
class StudentSpec:
    """What a student is: its family, layer widths and loss. Its name is its stage suffix and file stem."""

    arch: str
    widths: tuple
    loss: str

    @property
    def name(self):
        """head-6-kd, cnn-8-16-32-hard."""
        return f"{self.arch}{WIDTHS_SEP}{format_widths(self.widths)}{WIDTHS_SEP}{self.loss}"

    @property
    def network(self):
        """The network without its loss: head-6, cnn-8-16-32."""
        return f"{self.arch}{WIDTHS_SEP}{format_widths(self.widths)}"

    @property
    def hidden(self):
        return hidden_value(self.widths)
