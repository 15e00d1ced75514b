"""Students: the data each family reads from the cached teacher outputs, and how it trains.

No student runs the teacher: `head` students read its cached conv features, standalone students
the images; all read its cached logits, packed with the labels so every loss sees both. A standalone
student with `augment` trains on the cached views instead (views.py): in each epoch, each image at
one of its K views, with the teacher's logits for that very view; every loss, `hard` included,
sees the same views, so the kd-vs-hard comparison stays fair. Validation and test are the plain images.
"""
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from distill import data
from distill.core import files, paths
from distill.core.names import COSINE, HEAD, format_widths, headline
from distill.data import views
from distill.training import evaluation, loop, losses, models, provenance
from distill.training.loop import Batches, Progress, learning_rate, live_callbacks, optimizer, predict, set_determinism


def fit_student(model, loss, examples, train, seed=0, label="student", live_dir=None, validation=None):
    """Train a student on `examples` for `train.epochs` epochs of `train.batch_size`, `train.optimizer`
    (with `train.weight_decay`) at `train.learning_rate` decayed to 0 on a cosine, batches shuffled by
    `seed`. `examples` is (x, packed targets, transform), x memory-mapped features or images, or ready batches (a
    loop.Batches.of_views of cached views). `validation`, (x, packed targets, transform), is scored
    after every epoch (val_accuracy in the logs and dvclive's curves); nothing trains on it."""
    batches = loop.batches(examples, train.batch_size, seed)
    model.compile(
        optimizer=optimizer(train.optimizer, learning_rate(train.learning_rate, COSINE, len(batches) * train.epochs),
                            train.weight_decay),
        loss=loss,
        metrics=[losses.LabelAccuracy()],
        steps_per_execution=16,  # fewer Python round trips: 1.2-2x faster epochs for head and mlp students
    )
    if validation is not None:
        vx, vtargets, vtransform = validation
        validation = Batches(vx, vtargets, VALIDATION_BATCH, shuffle=False, transform=vtransform)
    callbacks = [Progress(label, train.epochs)] + live_callbacks(live_dir)
    return model.fit(batches, epochs=train.epochs, verbose=0, callbacks=callbacks, validation_data=validation)


VALIDATION_BATCH = 1000  # inference only: large batches, fewer steps


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


class Trained(NamedTuple):
    """One seed's trained student and its logits on the validation and test images."""

    seed: int
    model: object
    val_logits: np.ndarray
    test_logits: np.ndarray
    seconds: float  # of training


def examples(split):
    """A StudentData as (x, packed targets, transform), the form fit_student takes."""
    return split.x, losses.pack_targets(split.labels, split.logits), split.transform


def view_data(labels, mixed=False):
    """The cached views of the training images and the teacher's logits on each (on its mixup blend
    with `mixed`), checked to match."""
    cached = views.load(paths.VIEW_IMAGES, paths.VIEW_MIX, labels)
    path = paths.VIEW_MIXED_LOGITS if mixed else paths.VIEW_LOGITS
    if mixed and cached.partner is None:
        raise files.InputError(f"{paths.VIEW_MIX}: the views have no mixup (views.mixup is 0), so a student cannot "
                               "train on their blends: set views.mixup > 0 or the student's mixup to false")
    logits = files.load_npy(path)
    if logits.shape != (cached.count, cached.n, data.NUM_CLASSES):
        raise files.InputError(f"{path}: holds {logits.shape}, expected ({cached.count}, {cached.n}, "
                               f"{data.NUM_CLASSES}) for the views in {paths.VIEW_IMAGES}: rerun teacher_outputs "
                               "(dvc repro)")
    return cached, logits, mixed


def view_batches(cached, logits, mixed, batch_size, seed):
    """Batches of views (their mixup blends with `mixed`), each with its packed targets: its label
    (blended as the view is) and the teacher's logits for that very input."""
    return Batches.of_views(cached, lambda k, i: losses.pack_targets(cached.label_weights(k, i, mix=mixed),
                                                                     logits[k, i]),
                            batch_size, seed=seed, mix=mixed)


def train_student(spec, train, label="student", live_dir=None):
    """Train the student `spec` (a names.StudentSpec) as `train` (a TrainConfig) says, once per seed
    in `train.seeds`, from the cached teacher outputs (the cached views with `train.augment`);
    return a Trained per seed. Each seed's curves go to <live_dir>/seed-<seed>."""
    mnist = data.load()
    split = {s: student_data(spec.arch, s, mnist) for s in data.SPLITS}
    cached = view_data(mnist["y_train"], train.mixup) if train.augment else None
    runs = []
    for seed in train.seeds:
        set_determinism(seed)
        model = models.student(spec.arch, spec.widths, train.dropout)
        print(f"{label}: {spec.arch} {format_widths(spec.widths)}, {spec.loss} loss, seed {seed}, "
              f"{models.deployed_params(spec.arch, model):,} params, {len(split[data.TRAIN].x)} training examples"
              f"{f' at {cached[0].count} cached views each' if cached else ''}", file=sys.stderr)
        train_examples = view_batches(*cached, train.batch_size, seed) if cached else examples(split[data.TRAIN])
        start = time.time()
        fit_student(model, losses.get(spec.loss, train), train_examples, train, seed,
                    f"{label} seed {seed}", live_dir and paths.seed_dir(live_dir, seed), examples(split[data.VAL]))
        seconds = time.time() - start
        val, test = split[data.VAL], split[data.TEST]
        runs.append(Trained(seed, model, predict(model, val.x, transform=val.transform),
                            predict(model, test.x, transform=test.transform), seconds))
    return runs


def save(name, arch, runs, train, record=None):
    """data/students/<name>/: each seed's model as seed-<seed>.keras with its provenance record (what
    it trained on and how: `train`, a TrainConfig), every seed's test predictions (the significance
    tests' input) and `record`, its full record (record.json, its size_bytes filled in); written as one
    folder that replaces the old one. Returns the first seed's model's bytes."""
    folder = paths.student_dir(name)
    with files.atomic_dir(folder) as tmp:
        for r in runs:
            model_path = paths.student_model(name, r.seed)
            files.save_model(r.model, tmp / Path(model_path).name)
            recipe = {**train.as_dict(), "seeds": [r.seed]}
            provenance.write(model_path, provenance.record(model_path, arch, train.augment, r.seed, recipe), tmp)
        files.save_npy(tmp / Path(paths.test_predictions(name)).name,
                       np.stack([np.argmax(r.test_logits, axis=1) for r in runs]).astype(np.int8))
        size = files.size(tmp / Path(paths.student_model(name, runs[0].seed)).name)
        if record is not None:
            record["size_bytes"] = size
            files.write_json(tmp / Path(paths.student_full_record(name)).name, record)
    return size


def train_and_record(spec, train, name, metrics_path):
    """Train `spec` as `train` says (train_student), save it with its full record and settings
    (save), its record's headline at `metrics_path` and its timing; print one line. Returns the record
    and the runs (students.Trained per seed)."""
    runs = train_student(spec, train, label=name, live_dir=paths.live(name))
    mnist = data.load()
    record = evaluation.student_record(spec, runs, evaluation.reference(data.VAL, mnist),
                                       evaluation.reference(data.TEST, mnist), train)
    save(name, spec.arch, runs, train, record)
    files.write_json(metrics_path, headline(record))
    files.write_json(paths.timing(name), timing(runs))
    shown = name if name == spec.name else f"{name}: {spec.name}"
    print(f"{shown}: {len(runs)} seed(s): test accuracy {record['accuracy']:.4f} mean, "
          f"{record['accuracy_min']:.4f} min (validation {record['val_accuracy']:.4f}), {record['params']:,} params "
          f"({record['compression']:.1f}x smaller than the teacher), agreement {record['agreement']:.4f}")
    return record, runs


def trained_on_views(name):
    """Whether the student `name` (every seed of it) trained on the cached views, from its provenance."""
    seeds = paths.student_seeds(name)
    if not seeds:
        raise files.InputError(f"{paths.student_dir(name)}: no trained student '{name}'; rerun the stage that "
                               "trains it (dvc repro)")
    return provenance.trained_on_views([paths.student_model(name, s) for s in seeds])


def timing(runs):
    """metrics/timing/<name>.json's content: seconds of training, in all and per seed."""
    return {"train_seconds": round(sum(r.seconds for r in runs), 1),
            "per_seed": {str(r.seed): round(r.seconds, 1) for r in runs}}

