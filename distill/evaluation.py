"""Evaluation: how good a trained network is, and the record each training stage writes about it.

A record is one trained network's facts (name, arch, hidden, loss, params, accuracy, compression,
agreement, ...), written as JSON by the stage that trained it; `evaluate` gathers them (report.py).
"""
import csv

import numpy as np

from . import files, models


def accuracy(logits, labels):
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def agreement(logits, teacher_logits):
    """Share of images where the student's top-1 class equals the teacher's."""
    return float(np.mean(np.argmax(logits, axis=1) == np.argmax(teacher_logits, axis=1)))


def test_reference(outputs="data/teacher_outputs"):
    """(test labels, teacher test logits): what every student is scored against."""
    return files.load_npz("data/mnist.npz")["y_test"], files.load_npy(f"{outputs}/test_logits.npy", mmap=False)


def hidden_value(widths):
    """`hidden` as records show it: an int for one layer, "8-16-32" for several."""
    return widths[0] if len(widths) == 1 else "-".join(map(str, widths))


def student_record(arch, widths, loss, model, test_logits, labels, teacher_logits, seconds, train):
    params = models.deployed_params(arch, model)
    return {
        "name": models.spec_name(arch, widths, loss),
        "arch": arch,
        "hidden": hidden_value(widths),
        "widths": list(widths),
        "loss": loss,
        "params": params,
        "accuracy": round(accuracy(test_logits, labels), 6),
        "compression": round(models.TEACHER_PARAMS / params, 2),
        "agreement": round(agreement(test_logits, teacher_logits), 6),
        "train_seconds": round(seconds, 1),
        **train,
    }


def write_predictions(path, test_logits, labels):
    """actual,predicted per test image: the input of DVC's confusion-matrix plot."""
    with files.atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["actual", "predicted"])
        w.writerows(zip(labels.tolist(), np.argmax(test_logits, axis=1).tolist()))


def read_predictions(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return np.array([int(r["actual"]) for r in rows]), np.array([int(r["predicted"]) for r in rows])


def confusion(actual, predicted, classes=10):
    m = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(m, (actual, predicted), 1)
    return m


