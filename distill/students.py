"""Students: the data each family reads from the cached teacher outputs, and how it trains.

No student runs the teacher: `head` students read its cached conv features, standalone students
the images; all read its cached logits, packed with the labels so every loss sees both.
"""
import sys
import time
from typing import NamedTuple

import numpy as np

from . import data, files, losses, models, paths
from .names import ADAM, COSINE, HEAD, format_widths
from .training import Batches, Progress, learning_rate, live_callbacks, optimizer, predict, set_determinism


def fit_student(model, loss, examples, train, label="student", live_dir=None):
    """Train a student on `examples` = (x, packed targets, transform) for `train.epochs` epochs of
    `train.batch_size`, Adam at `train.learning_rate` decayed to 0 on a cosine, batches shuffled
    by `train.seed`; x may be memory-mapped features or images."""
    x, targets, transform = examples
    batches = Batches(x, targets, train.batch_size, seed=train.seed, transform=transform)
    model.compile(
        optimizer=optimizer(ADAM, learning_rate(train.learning_rate, COSINE, len(batches) * train.epochs)),
        loss=loss,
        metrics=[losses.LabelAccuracy()],
        steps_per_execution=16,  # fewer Python round trips: 1.2-2x faster epochs for head and mlp students
    )
    callbacks = [Progress(label, train.epochs)] + live_callbacks(live_dir)
    return model.fit(batches, epochs=train.epochs, verbose=0, callbacks=callbacks)


class StudentData(NamedTuple):
    """One split as a student family reads it."""

    x: object  # conv features (head; memory-mapped) or images (uint8, turned into floats by transform)
    transform: object  # None, or data.images for pixel students
    logits: np.ndarray  # the teacher's cached logits
    labels: np.ndarray


def student_data(arch, split, mnist=None):
    """`head` students read the teacher's cached conv features (memory-mapped); standalone students
    read the images. Both read the teacher's cached logits; neither runs the teacher."""
    mnist = data.load() if mnist is None else mnist
    logits = files.load_npy(paths.teacher_outputs(split, "logits"))
    labels = mnist[f"y_{split}"]
    if arch == HEAD:
        source = paths.teacher_outputs(split, "features")
        x, transform = files.load_npy(source), None
    else:
        source = paths.MNIST
        x, transform = mnist[f"x_{split}"], data.images
    if len(x) != len(labels) or len(logits) != len(labels):
        raise files.InputError(
            f"{paths.teacher_outputs(split, 'logits')} holds {len(logits)} rows, {source} {len(x)} {split} "
            f"inputs, {paths.MNIST} {len(labels)} {split} labels: rerun teacher_outputs (dvc repro)")
    for array, path, width in ((logits, paths.teacher_outputs(split, "logits"), data.NUM_CLASSES),
                               (x, source, models.TEACHER_FEATURES if arch == HEAD else None)):
        if width is not None and (array.ndim != 2 or array.shape[1] != width):
            raise files.InputError(f"{path}: rows of {array.shape[1:]} values, expected ({width},): "
                                   "rerun teacher_outputs (dvc repro)")
    return StudentData(x, transform, logits, labels)


def train_student(spec, train, label="student", live_dir=None):
    """Train the student `spec` (a names.StudentSpec) as `train` (a TrainConfig) says, from the
    cached teacher outputs; return (model, test logits, seconds of training)."""
    set_determinism(train.seed)
    mnist = data.load()
    split, test = student_data(spec.arch, "train", mnist), student_data(spec.arch, "test", mnist)
    model = models.student(spec.arch, spec.widths, train.dropout)
    print(f"{label}: {spec.arch} {format_widths(spec.widths)}, {spec.loss} loss, "
          f"{models.deployed_params(spec.arch, model):,} params, {len(split.x)} training examples", file=sys.stderr)
    start = time.time()
    fit_student(model, losses.get(spec.loss, train),
                (split.x, losses.pack_targets(split.labels, split.logits), split.transform), train, label, live_dir)
    seconds = time.time() - start
    return model, predict(model, test.x, transform=test.transform), seconds
