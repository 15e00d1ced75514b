"""Evaluation: how good a trained network is, and the record each training stage writes about it.

A record is one trained network's facts (name, arch, hidden, loss, params, accuracy, compression,
agreement, ...), written as JSON by the stage that trained it; `evaluate` gathers them (report.py).
"""
import csv
from typing import NamedTuple

import numpy as np

from . import data, files, models, paths


def accuracy(logits, labels):
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def agreement(logits, teacher_logits):
    """Share of images where the student's top-1 class equals the teacher's."""
    return float(np.mean(np.argmax(logits, axis=1) == np.argmax(teacher_logits, axis=1)))


class Reference(NamedTuple):
    """What every student is scored against on the test set."""

    labels: np.ndarray
    teacher_logits: np.ndarray


def test_reference():
    return Reference(data.load()["y_test"],
                     files.load_npy(paths.teacher_outputs("test", "logits"), mmap=False))


def student_record(spec, model, test_logits, reference, train):
    """The facts about one trained student (a names.StudentSpec trained as the TrainConfig `train`)."""
    params = models.deployed_params(spec.arch, model)
    return {
        "name": spec.name,
        "arch": spec.arch,
        "hidden": spec.hidden,
        "widths": list(spec.widths),
        "loss": spec.loss,
        "params": params,
        "accuracy": round(accuracy(test_logits, reference.labels), 6),
        "compression": round(models.TEACHER_PARAMS / params, 2),
        "agreement": round(agreement(test_logits, reference.teacher_logits), 6),
        **train.as_dict(),
    }


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


def confusion(actual, predicted, classes=10):
    m = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(m, (actual, predicted), 1)
    return m


