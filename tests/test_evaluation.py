import numpy as np
import pytest

from distill import evaluation as E
from distill import models
from distill.config import TrainConfig
from distill.files import InputError
from distill.names import StudentSpec


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



def test_student_record():
    spec = StudentSpec("cnn", (2, 4), "kd")
    model = models.student(spec.arch, spec.widths)
    train = TrainConfig(temperature=4.0, alpha=0.9, epochs=1, batch_size=8, learning_rate=0.01, dropout=0.0, seed=0)
    reference = E.Reference(np.array([1, 2]), np.eye(10)[[1, 1]])
    r = E.student_record(spec, model, np.eye(10)[[1, 2]], reference, train)
    assert (r["name"], r["hidden"], r["widths"]) == ("cnn-2-4-kd", "2-4", [2, 4])
    assert (r["accuracy"], r["agreement"]) == (1.0, 0.5)
    assert r["params"] == model.count_params() and r["epochs"] == 1 and "train_seconds" not in r


def test_damaged_predictions_name_the_file(tmp_path):
    with pytest.raises(InputError, match="p.csv: not found"):
        E.read_predictions(tmp_path / "p.csv")
    (tmp_path / "p.csv").write_text("actual,predicted\n3,x\n")
    with pytest.raises(InputError, match="p.csv: not a CSV of actual,predicted"):
        E.read_predictions(tmp_path / "p.csv")
