import numpy as np
import pytest
from test_report import TEACHER_TFLITE, compressed, deep_record, rec

from distill.results import plots
from distill.results import report as R


def test_plots_are_png(tmp_path):
    records = [rec(f"head-{h}-{loss}", R.head_params(h), 0.9 + h / 100, loss=loss, hidden=h)
               for h in (2, 6) for loss in ("kd", "hard")]
    plots.head_sweep(records, {"accuracy": 0.992}, "params", tmp_path / "a.png")
    plots.confusion_matrix(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2]), "t", tmp_path / "c.png")
    for p in ("a.png", "c.png"):
        assert (tmp_path / p).read_bytes()[:4] == b"\x89PNG"


def test_training_curves_from_dvclive_tables(tmp_path):
    tables = tmp_path / "live" / "plots" / "metrics" / "train"
    tables.mkdir(parents=True)
    (tables / "loss.tsv").write_text("step\tloss\n0\t0.5\n1\t0.25\n")
    curves = plots.read_live(tmp_path / "live")
    assert curves == {"train/loss": ([1, 2], [0.5, 0.25])}
    plots.training_curves({"teacher": curves}, tmp_path / "t.png")
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"


def test_missing_or_damaged_curves_name_the_file(tmp_path):
    from distill.core.files import InputError

    with pytest.raises(InputError, match="plots/metrics: not found"):
        plots.read_live(tmp_path / "nowhere")
    tables = tmp_path / "live" / "plots" / "metrics"
    tables.mkdir(parents=True)
    (tables / "loss.tsv").write_text("step\tloss\n0\tlots\n")
    with pytest.raises(InputError, match="loss.tsv: not a dvclive table"):
        plots.read_live(tmp_path / "live")


def test_accuracy_vs_bytes_is_png(tmp_path):
    deep = [deep_record("teacher", 0.9925, 100_000, 0.993, seeds=[None]), deep_record("cnn-a-kd", 0.9905, 4_000, 0.991)]
    rows = R.artifacts([compressed("cnn-a-kd", 0.992, 0.991, 37_000, 14_000)], TEACHER_TFLITE, deep)
    plots.accuracy_vs_bytes(rows, 0.99, tmp_path / "b.png")
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"
