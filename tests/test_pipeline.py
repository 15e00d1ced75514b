"""End-to-end smoke test: the real pipeline, shrunk, in a temporary git + DVC repo.

Runs on real MNIST from ../shared/data/mnist when that folder sits beside the project (as in CI),
else on small IDX files made here. Checks what DVC runs, and that it skips what did not change.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, make_dataset

SHARED = ROOT.parent / "shared" / "data" / "mnist"
COPY = ["dvc.yaml", "params.yaml", "stages", "distill", ".dvcignore", ".gitignore"]


def shrink(params, mirror, files=None):
    """A few thousand images and one epoch: the whole pipeline in a minute or two."""
    f = params["fetch"]
    f.update(sources=["mirror"], mirror=str(mirror), train_images=3000, test_images=1000)
    if files:
        f.update(files=files, train_images=None, test_images=None)
    params["teacher"].update(epochs=1, batch_size=64, warmup_epochs=0)
    tiny = {"epochs": 1, "batch_size": 64}
    params["student"].update(hidden=6, **tiny)
    params["sweep"]["head"].update(hidden=[4], loss=["kd"])
    params["sweep"]["head"]["train"].update(tiny)
    params["sweep"]["mlp"].update(hidden=[8], loss=["kd"])
    params["sweep"]["mlp"]["train"].update(tiny)
    params["sweep"]["cnn"].update(hidden=["2-4"], loss=["hard"])
    params["sweep"]["cnn"]["train"].update(tiny)
    params["compress"].update(students=["cnn-2-4-hard"], finetune_epochs=1, calibration_images=100,
                              repeats_batch1=3, repeats_batch1000=1)
    return params


class Project:
    def __init__(self, path):
        self.path = path
        bin_dir = str(Path(sys.executable).parent)
        self.env = {
            **os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"], "TF_CPP_MIN_LOG_LEVEL": "3",
            "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
        }
        self.env.pop("MNIST_MIRROR", None)

    def run(self, *cmd, check=True, timeout=1200):
        r = subprocess.run(cmd, cwd=self.path, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def dvc(self, *args, **kw):
        return self.run(sys.executable, "-m", "dvc", *args, **kw)

    def params(self):
        return yaml.safe_load((self.path / "params.yaml").read_text())

    def set_params(self, params):
        (self.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    def commit(self, message):
        self.run("git", "add", "-A")
        self.run("git", "commit", "-q", "-m", message)


def ran(output):
    """Names of the stages a dvc repro / exp run actually ran."""
    return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    path = tmp_path_factory.mktemp("pipeline")
    for name in COPY:
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, path / name)
    for cache in path.rglob("__pycache__"):
        shutil.rmtree(cache)
    p = Project(path)
    p.run("git", "init", "-q", "-b", "main")
    p.dvc("init", "-q")
    p.dvc("config", "core.analytics", "false")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    if SHARED.is_dir():
        shrink(params, SHARED)
    else:
        shrink(params, path.parent / "mirror", files=make_dataset(path.parent / "mirror", 3000, 1000))
    p.set_params(params)
    p.commit("pipeline, shrunk")
    return p


def test_repro_runs_every_stage(project):
    r = project.dvc("repro")
    assert ran(r.stdout) == {"fetch", "teacher", "teacher_outputs", "student", "sweep@4-kd", "sweep_mlp@8-kd",
                             "sweep_cnn@2-4-hard", "teacher_tflite", "compress@cnn-2-4-hard", "evaluate"}
    teacher = yaml.safe_load((project.path / "metrics" / "teacher.json").read_text())
    assert teacher["params"] == 1_199_882 and 0 <= teacher["accuracy"] <= 1
    for split, n in (("train", 3000), ("test", 1000)):
        logits = project.path / "data" / "teacher_outputs" / f"{split}_logits.npy"
        import numpy as np

        assert np.load(logits).shape == (n, 10)
        assert np.load(project.path / "data" / "teacher_outputs" / f"{split}_features.npy",
                       mmap_mode="r").shape == (n, 9216)
    if SHARED.is_dir():  # real MNIST: one epoch on 3000 images is already far above chance
        assert teacher["accuracy"] > 0.8
    project.commit("first run")


def test_second_repro_runs_nothing(project):
    r = project.dvc("repro")
    assert ran(r.stdout) == set(), r.stdout
    assert project.dvc("status").stdout.strip().endswith("Data and pipelines are up to date.")


def metrics_diff(project):
    """`dvc metrics diff --json` against HEAD: {file: {metric: {"old", "new", "diff"}}}."""
    import json

    return json.loads(project.dvc("metrics", "diff", "--json").stdout or "{}")


def test_exp_run_reruns_only_the_student_and_evaluate(project):
    before = yaml.safe_load((project.path / "metrics" / "student.json").read_text())
    r = project.dvc("exp", "run", "-S", "student.hidden=2")
    assert ran(r.stdout) == {"student", "evaluate"}, r.stdout
    after = yaml.safe_load((project.path / "metrics" / "student.json").read_text())
    assert after["hidden"] == 2 and after["params"] == 9216 * 2 + 2 + 2 * 10 + 10 + 18816
    diff = metrics_diff(project)["metrics/student.json"]
    assert diff["params"] == {"old": before["params"], "new": after["params"],
                              "diff": after["params"] - before["params"]}
    if SHARED.is_dir():  # on real MNIST a 2-unit head is far worse than a 6-unit one
        assert after["accuracy"] < before["accuracy"]
    if after["accuracy"] != before["accuracy"]:
        assert diff["accuracy"]["old"] == before["accuracy"] and diff["accuracy"]["new"] == after["accuracy"]
    shown = project.dvc("metrics", "diff").stdout
    assert "metrics/student.json" in shown and "params" in shown
    project.commit("hidden 2")


def test_adding_a_sweep_point_trains_only_that_point(project):
    params = project.params()
    params["sweep"]["head"]["hidden"] = [4, 5]
    project.set_params(params)
    r = project.dvc("repro")
    assert ran(r.stdout) == {"sweep@5-kd", "evaluate"}, r.stdout
    summary = yaml.safe_load((project.path / "metrics" / "summary.json").read_text())
    assert set(summary) >= {"teacher", "student", "smallest_at_target", "smallest_at_98", "smallest_at_99", "kd_gain",
                            "smallest_bytes_at_99"}
    compressed = yaml.safe_load((project.path / "metrics" / "compress" / "cnn-2-4-hard.json").read_text())
    assert compressed["sparsity"] == pytest.approx(params["compress"]["sparsity"], abs=0.02)
    assert (project.path / "data" / "compressed" / "cnn-2-4-hard-int8.tflite").stat().st_size == compressed["int8"]["bytes"]
    names = {r["name"] for r in __import__("csv").DictReader(open(project.path / "metrics/plots/frontier.csv"))}
    assert names >= {"head-4-kd", "head-5-kd", "mlp-8-kd", "cnn-2-4-hard"}
    for png in ("accuracy_vs_params", "accuracy_vs_compression", "confusion", "training", "frontier",
                "accuracy_vs_bytes"):
        assert (project.path / "metrics" / "plots" / f"{png}.png").read_bytes()[:4] == b"\x89PNG"
    project.commit("sweep 4, 5")
