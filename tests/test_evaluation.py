import numpy as np
import pytest

from distill.core import files, paths
from distill.core.files import InputError
from distill.core.names import StudentSpec
from distill.training import evaluation as E
from distill.training import models, scores
from distill.training.config import TrainConfig


def test_head_student_counts_the_teachers_conv_layers():
    m = models.student("head", (6,))
    assert m.count_params() == 55_372 and models.deployed_params("head", m) == 74_188


def test_accuracy_agreement_confusion():
    logits = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0]], np.float32)
    labels = np.array([1, 0, 1, 1])
    teacher = np.array([[0, 1, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0]], np.float32)
    assert scores.accuracy(logits, labels) == 0.75 and scores.agreement(logits, teacher) == 0.75
    m = scores.confusion(labels, np.argmax(logits, 1), classes=3)
    assert m.tolist() == [[1, 0, 0], [0, 2, 1], [0, 0, 0]]


def test_predictions_round_trip(tmp_path):
    logits = np.eye(10)[[3, 1, 4]]
    E.write_predictions(tmp_path / "p.csv", logits, np.array([3, 1, 5]))
    actual, predicted = E.read_predictions(tmp_path / "p.csv")
    assert actual.tolist() == [3, 1, 5] and predicted.tolist() == [3, 1, 4]



def test_student_record_over_seeds():
    from distill.training.students import Trained

    spec = StudentSpec("cnn", (2, 4), "kd")
    model = models.student(spec.arch, spec.widths)
    train = TrainConfig(temperature=4.0, alpha=0.9, epochs=1, batch_size=8, learning_rate=0.01, optimizer="adam",
                        weight_decay=0.0, dropout=0.0, seeds=[0, 1, 2], target_weight=1.0, nontarget_weight=8.0,
                        augment=True, mixup=False)
    labels = np.array([1, 2, 3, 4])
    test = E.Reference(labels, np.eye(10)[[1, 1, 3, 4]])
    val = E.Reference(np.array([5, 6]), np.eye(10)[[5, 6]])
    right = np.eye(10)[labels]  # all four right
    three = np.eye(10)[[1, 2, 3, 0]]  # three of four right
    runs = [Trained(0, model, np.eye(10)[[5, 6]], right, 1.0), Trained(1, model, np.eye(10)[[5, 0]], three, 1.0),
            Trained(2, model, np.eye(10)[[0, 0]], three, 1.0)]
    r = E.student_record(spec, runs, val, test, train)
    assert (r["name"], r["hidden"], r["widths"]) == ("cnn-2-4-kd", "2-4", [2, 4])
    assert [p["accuracy"] for p in r["per_seed"]] == [1.0, 0.75, 0.75]
    assert [p["val_accuracy"] for p in r["per_seed"]] == [1.0, 0.5, 0.0]
    assert r["accuracy"] == round(2.5 / 3, 6) and r["accuracy_min"] == 0.75
    assert r["accuracy_std"] == round(float(np.std([1.0, 0.75, 0.75], ddof=1)), 6)  # sample std
    assert r["val_accuracy"] == 0.5 and r["val_accuracy_std"] == 0.5
    assert r["per_seed"][0]["agreement"] == 0.75 and r["seeds"] == [0, 1, 2]
    assert r["params"] == model.count_params() and r["epochs"] == 1 and "train_seconds" not in r
    one = E.student_record(spec, runs[:1], val, test, train)
    assert one["accuracy_std"] is None and one["accuracy"] == one["accuracy_min"] == 1.0


def test_test_predictions_must_match_the_records_seeds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files.save_npy(paths.test_predictions("mlp-4-kd"), np.zeros((2, 5), np.int8))
    assert E.load_test_predictions("mlp-4-kd", [0, 1]).shape == (2, 5)
    with pytest.raises(InputError, match=r"test_predictions.npy: holds \(2,\) rows of predictions, its record lists 3"):
        E.load_test_predictions("mlp-4-kd", [0, 1, 2])
    with pytest.raises(InputError, match="mlp-4-hard/test_predictions.npy: not found"):
        E.load_test_predictions("mlp-4-hard", [0])


def test_damaged_predictions_name_the_file(tmp_path):
    with pytest.raises(InputError, match="p.csv: not found"):
        E.read_predictions(tmp_path / "p.csv")
    (tmp_path / "p.csv").write_text("actual,predicted\n3,x\n")
    with pytest.raises(InputError, match="p.csv: not a CSV of actual,predicted"):
        E.read_predictions(tmp_path / "p.csv")
