import numpy as np
import pytest

from distill.core import names
from distill.results import plots
from distill.results import report as R
from distill.training import models

TARGETS = [0.95, 0.98, 0.99]


def rec(name, params, accuracy, arch="head", loss="kd", hidden=6, seeds=(0,), std=None):
    widths = names.parse_widths(hidden)
    return {"name": name, "arch": arch, "hidden": hidden, "widths": list(widths), "loss": loss, "params": params,
            "accuracy": accuracy, "accuracy_std": std, "accuracy_min": accuracy, "val_accuracy": accuracy - 0.001,
            "compression": round(models.TEACHER_PARAMS / params, 2), "agreement": 0.9, "seeds": list(seeds),
            "per_seed": [{"seed": s, "accuracy": accuracy, "val_accuracy": accuracy} for s in seeds]}


TEACHER = {"params": 1_199_882, "accuracy": 0.993, "val_accuracy": 0.991}

def test_seed_student_size_and_compression():
    assert R.head_params(6) == 74_188
    assert models.TEACHER_PARAMS / R.head_params(6) == pytest.approx(16.17, abs=0.01)
    h6 = [r for r in R.seed_records() if r["hidden"] == 6][0]
    assert h6["accuracy"] == 0.9626 and h6["compression"] == 16.17


def test_smallest_at_target_and_summary():
    records = [rec("a", 1000, 0.94), rec("b", 5000, 0.96), rec("c", 3000, 0.951), rec("d", 3000, 0.97)]
    assert R.smallest(records, 0.95)["name"] == "d"  # fewest params; on a tie, the more accurate
    assert R.smallest(records, 0.99) is None
    s = R.summarize(TEACHER, rec("s", 74188, 0.975), records, [0.95, 0.995], 0.99, {})
    assert s["teacher"]["compression"] == 1.0 and s["student"]["name"] == "s"
    assert s["targets"] == [0.95, 0.995] and s["smallest_at_95"]["name"] == "d" and s["smallest_at_99_5"] is None
    assert "file_target" not in s  # no compressed files, no file question
    assert [R.target_key(t) for t in (0.95, 0.98, 0.99, 0.995, 1)] == ["95", "98", "99", "99_5", "100"]


def test_head_table_compares_with_the_seed():
    records = [rec("head-6-kd", R.head_params(6), 0.98, loss="kd"), rec("head-6-hard", R.head_params(6), 0.97,
               loss="hard"), rec("head-6-mse", R.head_params(6), 0.975, loss="mse")]
    table = R.head_table(records)
    assert "| hidden | params | compression | seed (mse) | mse | kd | hard | kd - hard | mse - hard |" in table
    assert "| 6 | 74,188 | 16.2x | 0.9626 | 0.9750 | 0.9800 | 0.9700 | +0.0100 | +0.0050 |" in table
    assert R.below_seed(records) == []
    low = [rec("head-3-mse", R.head_params(3), 0.70, loss="mse", hidden=3)]
    assert R.below_seed(low) == [(3, 0.70, pytest.approx(0.699), 0.7185)]
    s = R.summarize(TEACHER, records[0], low, TARGETS, 0.99, {})
    below = "Below the seed with its own loss (mse): h=3: 0.7000 (validation 0.6990) vs the seed's 0.7185"
    assert below in R.report(s, low)
    assert "the budget keeps this grid at one seed" in R.report(s, low)
    three = [rec("head-6-kd", R.head_params(6), 0.98, seeds=(0, 1, 2), std=0.0021)]
    assert "| 6 | 74,188 | 16.2x | 0.9626 | 0.9800 ± 0.0021 |" in R.head_table(three)


def test_kd_gain_pareto_and_frontier_summary(tmp_path):
    seeds = (0, 1)
    records = [rec("cnn-4-8-kd", 1000, 0.975, arch="cnn", hidden="4-8", seeds=seeds, std=0.001),
               rec("cnn-4-8-hard", 1000, 0.970, arch="cnn", hidden="4-8", loss="hard", seeds=seeds, std=0.002),
               rec("mlp-16-kd", 12000, 0.965, arch="mlp", hidden=16, seeds=seeds),
               rec("mlp-16-hard", 12000, 0.968, arch="mlp", hidden=16, loss="hard", seeds=seeds),
               rec("cnn-8-16-kd", 9000, 0.991, arch="cnn", hidden="8-16", seeds=seeds),
               rec("head-6-kd", 74188, 0.985)]
    labels = np.zeros(100, dtype=np.int8)
    right = lambda n: np.stack([np.where(np.arange(100) < n, 0, 1)] * 2)  # noqa: E731  first n right, both seeds
    predictions = {"cnn-4-8-kd": right(95), "cnn-4-8-hard": right(60), "mlp-16-kd": right(90),
                   "mlp-16-hard": right(91), "cnn-8-16-kd": right(99), "head-6-kd": right(98)[:1]}
    gains = R.kd_gain(records, predictions, labels)
    assert list(gains) == ["cnn-4-8", "mlp-16"]  # ordered by size; only networks trained both ways
    g = gains["cnn-4-8"]
    assert (g["kd_only_right"], g["hard_only_right"], g["seed_pairs"]) == (70, 0, 2)
    assert g["verdict"] == "kd better" and 0 < g["p_value"] < 1e-6 and g["mean"] == 0.005
    assert gains["mlp-16"]["verdict"] == "no significant difference"  # 0 vs 2 discordant: p = 0.5
    assert [r["name"] for r in R.pareto(records)] == ["cnn-4-8-kd", "cnn-8-16-kd"]
    s = R.summarize(TEACHER, records[-1], records[:-1], TARGETS, 0.99, gains)
    assert s["smallest_at_98"]["name"] == "cnn-8-16-kd" and s["smallest_at_99"]["name"] == "cnn-8-16-kd"
    assert s["kd_gain"] is gains
    frontier = R.frontier_table(records)
    assert "| cnn-4-8-kd | 1,000 | 1200x | 2 | 0.9740 | 0.9750 ± 0.0010 | 0.9750 | 0.9000 |" in frontier
    table = R.kd_table(records, gains)
    assert ("| cnn-4-8 | kd | 1,000 | 1200x | 2 | 0.9750 ± 0.0010 | 0.9700 ± 0.0020 | +0.0050 ± 0.0000 | 70 / 0 |"
            in table)
    assert "kd better |" in table
    report = R.report(s, records)
    assert "| smallest at 0.98: cnn-8-16-kd | 9,000 |" in report
    assert "| smallest at 0.95: cnn-4-8-kd | 1,000 |" in report
    plots.frontier(records, TEACHER, TARGETS, tmp_path / "f.png")
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"


def test_goals_pick_within_each_budget_on_validation_and_count_distillation_wins():
    seeds = (0, 1)
    records = [rec("sep-4-8-2-kd", 442, 0.960, arch="sep", hidden="4-8-2", seeds=seeds, std=0.001),
               rec("sep-4-8-2-dkd", 442, 0.962, arch="sep", hidden="4-8-2", loss="dkd", seeds=seeds, std=0.001),
               rec("sep-4-8-2-hard", 442, 0.950, arch="sep", hidden="4-8-2", loss="hard", seeds=seeds, std=0.001),
               rec("cnn-2-4-hard", 164, 0.990, arch="cnn", hidden="2-4", loss="hard", seeds=seeds),
               rec("head-2-kd", 40000, 0.999)]
    records[3]["val_accuracy"] = 0.5  # best on test, worst on validation: validation decides
    labels = np.zeros(100, dtype=np.int8)
    right = lambda n: np.stack([np.where(np.arange(100) < n, 0, 1)] * 2)  # noqa: E731
    predictions = {"sep-4-8-2-kd": right(96), "sep-4-8-2-dkd": right(97), "sep-4-8-2-hard": right(70),
                   "cnn-2-4-hard": right(99), "head-2-kd": right(99)}
    gains = R.kd_gain(records, predictions, labels)
    assert list(gains) == ["sep-4-8-2", "sep-4-8-2 dkd"]
    assert gains["sep-4-8-2 dkd"]["verdict"] == "dkd better" and gains["sep-4-8-2 dkd"]["loss"] == "dkd"
    assert gains["sep-4-8-2"]["params"] == 442 and gains["sep-4-8-2"]["network"] == "sep-4-8-2"
    budgets = [{"params": 500, "target": 0.95}, {"params": 100, "target": 0.5}]
    g = R.goals(records, gains, budgets, {"params": 3000, "gain": 0.002, "networks": 2})
    first = g["budgets"][0]
    assert (first["student"], first["met"], first["accuracy"]) == ("sep-4-8-2-dkd", True, 0.962)
    assert g["budgets"][1]["student"] is None and g["budgets"][1]["met"] is False
    assert g["kd"]["winners"] == ["sep-4-8-2", "sep-4-8-2 dkd"] and g["kd"]["met"] is True
    g = R.goals(records, gains, budgets, {"params": 3000, "gain": 0.011, "networks": 1})
    assert g["kd"]["winners"] == ["sep-4-8-2 dkd"]  # +0.012; kd's +0.010 falls short of the gain asked
    table = R.goals_table(g)
    assert "| <= 500 | 0.95 | sep-4-8-2-dkd | 442 | 0.9610 | 0.9620 ± 0.0010 | yes |" in table
    assert "| <= 100 | 0.5 | none within the budget |" in table and "**met** (sep-4-8-2 dkd)" in table


def compressed(name, acc_f, acc_q, bytes_f, bytes_q):
    f = {"accuracy": acc_f, "bytes": bytes_f, "gzip_bytes": bytes_f // 2, "bytes_ratio": 4_800_000 / bytes_f,
         "gzip_ratio": 9_600_000 / bytes_f}
    q = {**f, "accuracy": acc_q, "bytes": bytes_q, "gzip_bytes": bytes_q // 2, "bytes_ratio": 4_800_000 / bytes_q,
         "gzip_ratio": 9_600_000 / bytes_q}
    return {"name": name, "arch": "cnn", "sparsity": 0.5, "float32": f, "int8": q}


def test_smallest_file_at_99_and_compress_table():
    comp = [compressed("cnn-a-kd", 0.992, 0.991, 37_000, 14_000), compressed("cnn-b-kd", 0.985, 0.984, 10_000, 5_000)]
    rows = R.compressed_files(comp)
    assert [r["name"] for r in rows] == ["cnn-a-kd-float32", "cnn-a-kd-int8", "cnn-b-kd-float32", "cnn-b-kd-int8"]
    best = R.smallest(rows, 0.99, size="bytes")
    assert best["name"] == "cnn-a-kd-int8" and best["bytes"] == 14_000 and round(best["ratio"]) == 343
    assert R.smallest(rows, 0.995, size="bytes") is None
    teacher_tflite = {"name": "teacher", "float32": {"accuracy": 0.993, "bytes": 4_800_000, "gzip_bytes": 4_400_000}}
    table = R.compress_table(comp, teacher_tflite)
    assert "| teacher (float32) | 0 | 0.9930 | 4,800,000 |" in table
    assert "| cnn-a-kd (int8) | 0.50 | 0.9910 | 14,000 | 7,000 | 343 | 686 |" in table
    s = R.summarize(TEACHER, rec("s", 74188, 0.975), [], TARGETS, 0.99, {}, comp)
    assert s["file_target"] == 0.99 and s["smallest_bytes_at_99"]["name"] == "cnn-a-kd-int8"
    s = R.summarize(TEACHER, rec("s", 74188, 0.975), [], TARGETS, 0.98, {}, comp)
    assert s["smallest_bytes_at_98"]["name"] == "cnn-b-kd-int8"


def deep_record(name, accuracy, size, before, seeds=(0, 1)):
    run = {"val_accuracy_before": 0.99, "val_accuracy_pruned": 0.989, "val_accuracy_kmeans": 0.985,
           "val_accuracy": 0.988, "sparsity": 0.9, "sizes": {"gaps": 100, "indices": 200, "floats": 50,
                                                              "before_huffman": 500}}
    return {"name": name, "seeds": list(seeds), "accuracy": accuracy, "accuracy_std": 0.001, "accuracy_before": before,
            "bytes": size, "x_smaller": round(4_800_000 / size, 1), "per_seed": [run] * len(seeds),
            "recipe": {"bits": {"conv": 8, "dense": 5, "output": 5}}}


TEACHER_TFLITE = {"name": "teacher",
                  "float32": {"accuracy": 0.993, "bytes": 4_800_000, "gzip_bytes": 4_400_000},
                  "int8": {"accuracy": 0.9931, "bytes": 1_200_000, "gzip_bytes": 1_000_000}}


def test_artifacts_cover_every_file_and_the_deep_goals():
    comp = [compressed("cnn-a-kd", 0.992, 0.991, 37_000, 14_000)]
    deep = [deep_record("teacher", 0.9925, 100_000, 0.993, seeds=[None]), deep_record("cnn-a-kd", 0.9905, 4_000, 0.991)]
    rows = R.artifacts(comp, TEACHER_TFLITE, deep)
    assert [(r["name"], r["kind"], r["teacher"]) for r in rows] == [
        ("teacher.tflite", "float32", True), ("teacher-int8.tflite", "int8", True),
        ("cnn-a-kd.tflite", "pruned float32", False), ("cnn-a-kd-int8.tflite", "pruned int8", False),
        ("teacher.dcz", "deep", True), ("cnn-a-kd.dcz", "deep", False)]
    assert rows[-1]["x_smaller"] == 1200.0 and rows[-1]["seeds"] == 2
    assert not any("ms" in key for r in rows for key in r)  # wall-clock stays out of every tracked output
    goals = R.deep_goals(deep, rows, {"teacher_ratio": 40, "teacher_loss": 0.001, "file_ratio": 1000}, 0.99)
    assert goals[0]["x_smaller"] == 48.0 and goals[0]["loss_points"] == 0.05 and goals[0]["met"] is True
    assert goals[1]["file"] == "cnn-a-kd.dcz" and goals[1]["met"] is True
    strict = R.deep_goals(deep, rows, {"teacher_ratio": 50, "teacher_loss": 0.0004, "file_ratio": 2000}, 0.99)
    assert [g["met"] for g in strict] == [False, False]
    none = R.deep_goals(deep, rows, {"teacher_ratio": 40, "teacher_loss": 0.001, "file_ratio": 1000}, 0.999)
    assert none[1]["file"] is None and none[1]["met"] is False
    s = R.summarize(TEACHER, rec("s", 74188, 0.975), [], TARGETS, 0.99, {}, comp, None, rows, goals)
    assert s["smallest_bytes_at_99"]["name"] == "cnn-a-kd.dcz" and s["deep_goals"] == goals
    page = R.report(s, [], comp, TEACHER_TFLITE, (), rows, deep)
    assert "Smallest file at >= 0.99: **cnn-a-kd.dcz**, 4,000 bytes, 1,200x smaller" in page
    assert "| cnn-a-kd.dcz | cnn-a-kd | deep | 2 | 0.9905 | 4,000 | 1,200.0 |" in page
    assert "| teacher.tflite | teacher | float32 | 1 | 0.9930 | 4,800,000 | 1.0 |" in page
    assert "0.9930 -> 0.9925 (-0.05 points) | yes |" in page
    assert "| cnn-a-kd | 2 | 0.900 | 8/5/5 | 0.9900, 0.9890, 0.9850, 0.9880 |" in page
    assert "| 4,000 | 100 | 200 | 50 | 500 |" in page
    assert "| none reaches the accuracy |" in R.deep_goals_table(none)


def test_trials_list_the_validation_runs_of_small_standalone_networks():
    row = {"name": "sep-8-24-2-kd", "train": {"epochs": 8}, "changed": {"epochs": 8, "views.mixup": 0.4},
           "val_accuracy": [0.9792], "val_accuracy_mean": 0.9792, "seconds": 228.1}
    rows = [row, {**row, "name": "head-6-kd"}, {**row, "name": "cnn-8-16-16-32-kd"}]
    assert R.trials(rows, 3000) == [row]  # head students and networks of 3,000 params or more are left out
    assert "| sep-8-24-2-kd | epochs=8, views.mixup=0.4 | 8 | 1 | 0.9792 | 0.9792 | 228 |" in R.trials_table([row])


def test_tflite_files_name_each_file_as_the_compress_stage_writes_it():
    files = R.tflite_files(compressed("cnn-a-kd", 0.992, 0.991, 37_000, 14_000))
    assert [(kind, name, f["bytes"]) for kind, name, f in files] == [
        ("float32", "cnn-a-kd.tflite", 37_000), ("int8", "cnn-a-kd-int8.tflite", 14_000)]
