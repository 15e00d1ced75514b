"""Scores of predictions, numpy only: accuracy, agreement with the teacher, the confusion matrix,
and mean/std/min over seeds. Kept apart from evaluation.py so the results code can use them
without loading data or building networks."""
import numpy as np


def accuracy(logits, labels):
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def agreement(logits, teacher_logits):
    """Share of images where the student's top-1 class equals the teacher's."""
    return float(np.mean(np.argmax(logits, axis=1) == np.argmax(teacher_logits, axis=1)))


def spread(values):
    """Mean, sample standard deviation (None for one value) and min of per-seed figures."""
    values = np.asarray(values, dtype=np.float64)
    return (round(float(values.mean()), 6), round(float(values.std(ddof=1)), 6) if len(values) > 1 else None,
            round(float(values.min()), 6))


def confusion(actual, predicted, classes=10):
    m = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(m, (actual, predicted), 1)
    return m
