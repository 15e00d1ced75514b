"""Evaluation: how good a trained network is, and the record each training stage writes about it.

A record is one trained network's facts (name, arch, hidden, loss, params, compression, and per
seed and over seeds: validation and test accuracy, agreement), written as JSON by the stage that
trained it; `evaluate` gathers them (report.py).
"""
import csv
from typing import NamedTuple

import numpy as np

from distill import data
from distill.core import files, paths
from distill.training import models
from distill.training.scores import accuracy, agreement, spread


class Reference(NamedTuple):
    """What every student is scored against on one split (validation or test)."""

    labels: np.ndarray
    teacher_logits: np.ndarray


def reference(split, mnist=None):
    mnist = data.load() if mnist is None else mnist
    return Reference(mnist[f"y_{split}"], files.load_npy(paths.teacher_outputs(split, "logits"), mmap=False))


def student_record(spec, runs, val, test, train):
    """The facts about one student (a names.StudentSpec) trained as the TrainConfig `train`, once
    per seed (`runs`, students.Trained), scored against the `val` and `test` References.

    `accuracy` is the mean test accuracy over seeds, with `accuracy_std` and `accuracy_min` beside;
    `val_accuracy` the same on validation; `per_seed` keeps each seed's figures."""
    params = models.deployed_params(spec.arch, runs[0].model)
    per_seed = [{"seed": r.seed,
                 "val_accuracy": round(accuracy(r.val_logits, val.labels), 6),
                 "accuracy": round(accuracy(r.test_logits, test.labels), 6),
                 "agreement": round(agreement(r.test_logits, test.teacher_logits), 6)} for r in runs]
    record = {"name": spec.name, "arch": spec.arch, "hidden": spec.hidden, "widths": list(spec.widths),
              "loss": spec.loss, "params": params, "compression": round(models.TEACHER_PARAMS / params, 2)}
    for key in ("accuracy", "val_accuracy", "agreement"):
        mean, std, low = spread([p[key] for p in per_seed])
        record.update({key: mean, f"{key}_std": std, f"{key}_min": low})
    return {**record, "seeds": [r.seed for r in runs], "per_seed": per_seed, **train.as_dict()}


def load_test_predictions(name, seeds):
    """(seeds, test images) predicted classes of the point `name`, checked against its seeds."""
    path = paths.test_predictions(name)
    pred = files.load_npy(path, mmap=False)
    if pred.ndim != 2 or len(pred) != len(seeds):
        raise files.InputError(f"{path}: holds {pred.shape[:1]} rows of predictions, its record lists {len(seeds)} "
                               "seeds; rerun the stage that trains it (dvc repro)")
    return pred


def write_predictions(path, test_logits, labels):
    """actual,predicted per test image: the input of DVC's confusion-matrix plot."""
    with files.atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["actual", "predicted"])
        w.writerows(zip(labels.tolist(), np.argmax(test_logits, axis=1).tolist()))


def read_predictions(path):
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        return np.array([int(r["actual"]) for r in rows]), np.array([int(r["predicted"]) for r in rows])
    except FileNotFoundError:
        raise files.missing(path) from None
    except (OSError, KeyError, TypeError, ValueError) as e:
        raise files.InputError(f"{path}: not a CSV of actual,predicted class numbers "
                               f"({type(e).__name__}: {e})") from None
