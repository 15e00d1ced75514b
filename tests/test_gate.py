"""distill/gate.py: CI's check of a reproduction against the committed headline metrics."""
import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

from distill import gate
from distill.core import paths

ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
       "GIT_COMMITTER_EMAIL": "t@t", "DVC_NO_ANALYTICS": "1"}


def test_the_gated_figures_are_the_default_pipelines_headline_ones():
    got = gate.gated(str(ROOT / "params.yaml"))
    assert got == [("metrics/teacher.json", "accuracy"), ("metrics/student.json", "accuracy"),
                   ("metrics/sweep/mlp-64-kd.json", "accuracy"), ("metrics/sweep/mlp-64-hard.json", "accuracy"),
                   ("metrics/compress/teacher.json", "accuracy"), ("metrics/compress/student.json", "accuracy"),
                   ("metrics/deep_compress/mlp-64-kd.json", "accuracy")]
    assert not [f for f, _ in got if "/head-" in f]  # one-seed head points drift across CPUs: shown, not gated


def test_the_machine_names_what_decides_the_bytes():
    m = gate.machine(str(ROOT / "params.yaml"))
    assert set(m) == {"cpu", "isa", "tf_threads", "tensorflow"} and m["tf_threads"] == 2
    assert set(m["isa"]) <= set(gate.ISA_FLAGS)


@pytest.fixture
def repo(tmp_path):
    """A git repo holding the default params and committed headline metrics at 0.99 each."""
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    for file, key in gate.gated(str(tmp_path / "params.yaml")):
        (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / file).write_text(json.dumps({key: 0.99}))
    for cmd in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"]):
        subprocess.run(cmd, cwd=tmp_path, check=True, env=ENV)
    return tmp_path


def _commit(repo):
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=ENV)
    subprocess.run(["git", "commit", "-qm", "results"], cwd=repo, check=True, env=ENV)


def _gate(repo, *args):
    return subprocess.run([sys.executable, "-m", "distill.gate", *args], cwd=repo, capture_output=True, text=True,
                          env={**ENV, "PYTHONPATH": str(ROOT)})


def _set(repo, file, value):
    (repo / file).write_text(json.dumps({"accuracy": value}))


def test_on_the_committed_runs_machine_any_change_fails(repo):
    assert _gate(repo, "--record").returncode == 0
    _commit(repo)
    ok = _gate(repo)
    assert ok.returncode == 0 and "gate: all 7 headline metrics within the tolerance" in ok.stdout, ok.stderr
    assert "matches the committed run's" in ok.stdout and "`dvc metrics diff`" in ok.stdout
    _set(repo, paths.TEACHER_RECORD, 0.9901)  # one image in 10,000
    bad = _gate(repo)
    assert bad.returncode == 1
    assert bad.stderr.strip() == "gate: 1 headline metric(s) moved beyond the tolerance: metrics/teacher.json accuracy"
    assert "| `metrics/teacher.json` accuracy | 0.9900 | 0.9901 | +0.01 | **no** |" in bad.stdout


def test_elsewhere_the_stated_tolerance_applies(repo, tmp_path):
    (repo / gate.MACHINE).write_text(json.dumps({"cpu": "another CPU", "isa": ["avx2"], "tf_threads": 2,
                                                  "tensorflow": "0"}))
    _commit(repo)
    _set(repo, paths.STUDENT_RECORD, 0.99 - gate.OTHER_MACHINE)  # exactly at the tolerance: still within
    r = _gate(repo)
    assert r.returncode == 0 and "differs from the committed run's (cpu: another CPU vs" in r.stdout, r.stdout
    _set(repo, paths.STUDENT_RECORD, 0.99 - gate.OTHER_MACHINE - 0.0001)
    assert _gate(repo).returncode == 1


def test_a_missing_metric_fails_and_the_summary_is_appended(repo, tmp_path):
    _commit(repo)
    (repo / "metrics/sweep/mlp-64-hard.json").unlink()  # a stage that did not run
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    r = _gate(repo, "--summary", str(summary))
    assert r.returncode == 1 and "metrics/sweep/mlp-64-hard.json accuracy" in r.stderr
    text = summary.read_text()
    assert text.startswith("earlier step\n## Reproduction vs HEAD") and "| missing |" in text


def test_an_unknown_base_is_one_line(repo):
    _commit(repo)
    r = _gate(repo, "--base", "no-such-branch")
    assert r.returncode == 1 and r.stderr.strip() == "gate: no commit 'no-such-branch' to compare against"
