import numpy as np
import pytest

from distill import evaluation as E
from distill import models, plots


def rec(name, params, accuracy, arch="head", loss="kd", hidden=6):
    return {"name": name, "arch": arch, "hidden": hidden, "loss": loss, "params": params, "accuracy": accuracy,
            "compression": round(models.TEACHER_PARAMS / params, 2), "agreement": 0.9}


def test_seed_student_size_and_compression():
    assert E.head_params(6) == 74_188
    assert models.TEACHER_PARAMS / E.head_params(6) == pytest.approx(16.17, abs=0.01)
    h6 = [r for r in E.seed_records() if r["hidden"] == 6][0]
    assert h6["accuracy"] == 0.9626 and h6["compression"] == 16.17


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


def test_smallest_at_target_and_summary():
    records = [rec("a", 1000, 0.94), rec("b", 5000, 0.96), rec("c", 3000, 0.951), rec("d", 3000, 0.97)]
    assert E.smallest(records, 0.95)["name"] == "d"  # fewest params; on a tie, the more accurate
    assert E.smallest(records, 0.99) is None
    s = E.summarize({"params": 1_199_882, "accuracy": 0.992}, rec("s", 74188, 0.975), records, 0.95)
    assert s["teacher"]["compression"] == 1.0 and s["student"]["name"] == "s"
    assert s["smallest_at_target"]["name"] == "d"


def test_head_table_compares_with_the_seed():
    records = [rec("head-6-kd", E.head_params(6), 0.98, loss="kd"), rec("head-6-hard", E.head_params(6), 0.97,
               loss="hard"), rec("head-6-mse", E.head_params(6), 0.975, loss="mse")]
    table = E.head_table(records)
    assert "| hidden | params | compression | seed (mse) | mse | kd | hard | kd - hard | mse - hard |" in table
    assert "| 6 | 74,188 | 16.2x | 0.9626 | 0.9750 | 0.9800 | 0.9700 | +0.0100 | +0.0050 |" in table


def test_plots_are_png(tmp_path):
    records = [rec(f"head-{h}-{l}", E.head_params(h), 0.9 + h / 100, loss=l, hidden=h)
               for h in (2, 6) for l in ("kd", "hard")]
    plots.head_sweep(records, {"accuracy": 0.992}, "params", tmp_path / "a.png")
    plots.confusion_matrix(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2]), "t", tmp_path / "c.png")
    for p in ("a.png", "c.png"):
        assert (tmp_path / p).read_bytes()[:4] == b"\x89PNG"


def test_predictions_round_trip(tmp_path):
    logits = np.eye(10)[[3, 1, 4]]
    E.write_predictions(tmp_path / "p.csv", logits, np.array([3, 1, 5]))
    actual, predicted = E.read_predictions(tmp_path / "p.csv")
    assert actual.tolist() == [3, 1, 5] and predicted.tolist() == [3, 1, 4]


def test_kd_gain_pareto_and_frontier_summary(tmp_path):
    records = [rec("cnn-4-8-kd", 1000, 0.975, arch="cnn", hidden="4-8"),
               rec("cnn-4-8-hard", 1000, 0.970, arch="cnn", hidden="4-8", loss="hard"),
               rec("mlp-16-kd", 12000, 0.965, arch="mlp", hidden=16),
               rec("mlp-16-hard", 12000, 0.968, arch="mlp", hidden=16, loss="hard"),
               rec("cnn-8-16-kd", 9000, 0.991, arch="cnn", hidden="8-16"),
               rec("head-6-kd", 74188, 0.985)]
    assert E.kd_gain(records) == {"cnn-4-8": 0.005, "mlp-16": -0.003}  # ordered by size; heads left out
    assert [r["name"] for r in E.pareto(records)] == ["cnn-4-8-kd", "cnn-8-16-kd"]
    s = E.summarize({"params": 1_199_882, "accuracy": 0.993}, records[-1], records[:-1], 0.95)
    assert s["smallest_at_98"]["name"] == "cnn-8-16-kd" and s["smallest_at_99"]["name"] == "cnn-8-16-kd"
    table = E.frontier_table(records)
    assert "| cnn-4-8 | 1,000 | 1200x | 0.9750 | 0.9700 | +0.0050 |" in table
    plots.frontier(records, {"params": 1_199_882, "accuracy": 0.993}, tmp_path / "f.png")
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
