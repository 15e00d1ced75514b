import numpy as np

from distill import plots
from distill import report as R
from test_report import compressed, rec


def test_plots_are_png(tmp_path):
    records = [rec(f"head-{h}-{l}", R.head_params(h), 0.9 + h / 100, loss=l, hidden=h)
               for h in (2, 6) for l in ("kd", "hard")]
    plots.head_sweep(records, {"accuracy": 0.992}, "params", tmp_path / "a.png")
    plots.confusion_matrix(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2]), "t", tmp_path / "c.png")
    for p in ("a.png", "c.png"):
        assert (tmp_path / p).read_bytes()[:4] == b"\x89PNG"




def test_accuracy_vs_bytes_is_png(tmp_path):
    rows = R.compressed_files([compressed("cnn-a-kd", 0.992, 0.991, 37_000, 14_000)])
    teacher = {k: {"accuracy": 0.993, "bytes": b} for k, b in (("float32", 4_800_000), ("int8", 1_200_000))}
    plots.accuracy_vs_bytes(rows, teacher, tmp_path / "b.png")
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"
