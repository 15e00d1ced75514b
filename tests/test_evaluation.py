import numpy as np
import pytest

from distill import evaluation as E
from distill import models


def test_head_student_counts_the_teachers_conv_layers():
    m = models.student("head", (6,))
    assert m.count_params() == 55_372 and models.deployed_params("head", m) == 74_188


def test_accuracy_agreement_confusion():
    logits = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0]], np.float32)
    labels = np.array([1, 0, 1, 1])
    teacher = np.array([[0, 1, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0]], np.float32)
    assert E.accuracy(logits, labels) == 0.75 and E.agreement(logits, teacher) == 0.75
    m = E.confusion(labels, np.argmax(logits, 1), classes=3)
    assert m.tolist() == [[1, 0, 0], [0, 2, 1], [0, 0, 0]]


def test_predictions_round_trip(tmp_path):
    logits = np.eye(10)[[3, 1, 4]]
    E.write_predictions(tmp_path / "p.csv", logits, np.array([3, 1, 5]))
    actual, predicted = E.read_predictions(tmp_path / "p.csv")
    assert actual.tolist() == [3, 1, 5] and predicted.tolist() == [3, 1, 4]

