"""The research study (study/dvc.yaml, study/params.yaml; docs/study.md): its params, its stages
against the code they run, its git-tracked outputs, the gather arithmetic, and one shrunk run.

The end-to-end test copies the project into a temporary git repo, shrinks the study to a few hundred
images, one epoch and one network over two seeds, runs `dvc repro study/dvc.yaml`, then checks that a
third seed trains only that seed (and re-gathers), and that a clone which pulls the upstream from a
remote finds every trained seed up to date.
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT, make_dataset, shrink_upstream
from scipy.stats import binomtest
from test_dvc_yaml import _expected_outs as root_expected_outs

from distill import data
from distill.compression import config as recipe
from distill.core import names, paths
from distill.core import params as P
from distill.results import study_gather as G
from distill.study import config as S
from distill.training import provenance

STUDY = ROOT / "study"
PARAMS = STUDY / "params.yaml"
SHARED = ROOT.parent / "shared" / "data" / "mnist"
UPSTREAM = ("fetch", "views", "teacher", "teacher_outputs", "teacher_tflite")


# --- params ------------------------------------------------------------------------------------------


def test_study_params_validate():
    from distill.compression.config import CompressConfig
    from distill.core import runtime
    from distill.data.config import FetchConfig, ViewsConfig
    from distill.results.config import StudyEvaluateConfig
    from distill.training.config import TeacherConfig, TeacherOutputsConfig

    study = S.load(PARAMS)
    for section, spec in (("fetch", FetchConfig), ("views", ViewsConfig), ("teacher", TeacherConfig),
                          ("teacher_outputs", TeacherOutputsConfig), ("compress", CompressConfig),
                          ("deep_compress", recipe.DeepCompressConfig), ("evaluate", StudyEvaluateConfig),
                          ("runtime", runtime.RuntimeConfig)):
        P.section(section, spec, PARAMS)
    assert set(study.families) == set(names.STANDALONE)
    for family in study.families.values():
        assert names.KD in family.loss and names.HARD in family.loss  # distillation against labels alone
        assert family.train.augment and family.epochs == sorted(family.epochs)
    assert {arch for arch, _ in study.networks()} >= {names.TIED, names.VSEP}  # the public records' shapes
    teacher = P.section("teacher", TeacherConfig, PARAMS)
    assert teacher.epochs >= 10 and teacher.augment  # the study's own teacher, not the short default's
    views = P.section("views", ViewsConfig, PARAMS)
    assert views.count >= 16 and views.mixup > 0  # students rarely see one input twice
    assert P.section("teacher_outputs", TeacherOutputsConfig, PARAMS).features_dtype == names.NO_FEATURES
    assert runtime.config(PARAMS).tf_threads == 1  # two one-thread workers side by side (fanout -w 2)
    fetch = P.section("fetch", FetchConfig, PARAMS)
    assert fetch.mirror == "../../shared/data/mnist" and (STUDY / fetch.mirror).resolve() == SHARED.resolve()
    root = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert yaml.safe_load(PARAMS.read_text())["fetch"]["files"] == root["fetch"]["files"]  # the same bytes
    deep = P.section("deep_compress", recipe.DeepCompressConfig, PARAMS)
    on_grid = {S.run_name(s, e) for s in study.specs() for e in study.families[s.arch].epochs}
    assert set(deep.students) <= on_grid, "study deep_compress.students must be students of the study"


def test_the_committed_study_compresses_what_validation_chose():
    """deep_compress.students names runs with their schedule: each must be the schedule validation chose
    for that network and loss in the committed gathered records (when the study has been run)."""
    deep = P.section("deep_compress", recipe.DeepCompressConfig, PARAMS)
    for name in deep.students:
        stem, epochs = names.split_schedule(name)
        spec = recipe.parse_subject(stem)
        path = STUDY / S.network_record(spec.network)
        if not path.is_file():
            continue
        record = json.loads(path.read_text())
        assert record["chosen"][spec.loss] == epochs, (
            f"study/params.yaml deep_compress.students lists {name}, but validation chose "
            f"{record['chosen'][spec.loss]} epochs for {spec.network} {spec.loss} ({path})")


def test_seeds_sit_beside_train_so_adding_one_changes_nothing_a_seed_reads(tmp_path):
    params = yaml.safe_load(PARAMS.read_text())
    params["study"]["sep"]["seeds"] = [0, 0]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    with pytest.raises(P.ParamsError, match=r"study\.sep\.seeds: lists 0 twice"):
        S.load(path)
    params["study"]["sep"].update(seeds=[0], hidden=[])  # an empty grid leaves the family out
    params["study"]["sep"]["train"]["seeds"] = [0]
    path.write_text(yaml.safe_dump(params))
    with pytest.raises(P.ParamsError, match=r"study\.sep\.train\.seeds: unknown key"):
        S.load(path)
    del params["study"]["sep"]["train"]["seeds"]
    params["study"]["sep"]["train"]["epochs"] = 3  # schedules are an axis too, beside train
    path.write_text(yaml.safe_dump(params))
    with pytest.raises(P.ParamsError, match=r"study\.sep\.train\.epochs: unknown key"):
        S.load(path)
    del params["study"]["sep"]["train"]["epochs"]
    params["study"]["sep"]["epochs"] = [12, 0]
    path.write_text(yaml.safe_dump(params))
    with pytest.raises(P.ParamsError, match=r"study\.sep\.epochs"):
        S.load(path)
    params["study"]["sep"]["epochs"] = [12]
    path.write_text(yaml.safe_dump(params))
    assert S.load(path).families[names.SEP].hidden == []
    train = S.train_config(S.load(path).families[names.CNN].train, 12, 7)
    assert train.seeds == [7] and train.epochs == 12


# --- study/dvc.yaml against the code ------------------------------------------------------------------


def _study_stages(root=ROOT):
    """{stage name in study/dvc.yaml: (cmd, file deps relative to the project root, outs relative to
    study/, params keys, the DVC outs)}, as DVC reads it, matrix points expanded."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    out = {}
    with Repo(str(root)) as repo:
        for s in repo.index.stages:
            if Path(s.dvcfile.path).resolve() != (root / "study" / "dvc.yaml").resolve():
                continue
            files = [os.path.normpath(os.path.join("study", d.def_path)) for d in s.deps
                     if not isinstance(d, ParamsDependency)]
            keys = [k for d in s.deps if isinstance(d, ParamsDependency) for k in d.params]
            out[s.addressing.split(":", 1)[1]] = (s.cmd, files, [o.def_path for o in s.outs], keys,
                                                  [(o.def_path, o.use_cache, o.is_metric, o.is_plot) for o in s.outs])
    return out


STAGES = _study_stages()


def _command(cmd):
    words = shlex.split(cmd)
    assert words[:3] == ["PYTHONPATH=..", "python", "-m"] and words[3].startswith("stages."), cmd
    return words[3], words[4:]


def test_the_study_has_every_stage_the_params_ask_for():
    study = S.load(PARAMS)
    deep = P.section("deep_compress", recipe.DeepCompressConfig, PARAMS)
    seeds = {f"{s.arch}@{names.format_widths(s.widths)}-{s.loss}-{epochs}-{seed}" for s in study.specs()
             for epochs in study.families[s.arch].epochs for seed in study.families[s.arch].seeds}
    gathers = {f"gather_{arch}@{names.format_widths(w)}" for arch, w in study.networks()}
    expected = set(UPSTREAM) | seeds | gathers | {f"deep_compress@{n}" for n in deep.students} | {"study_report"}
    assert deep.teacher == [names.TEACHER]  # the teacher's .dcz is the study's (the default pipeline leaves it out)
    expected.add("deep_compress_teacher@teacher")
    assert set(STAGES) == expected
    assert "tied@8-26-3-16-kd-25-0" in STAGES and "gather_vsep@7-10-10-11-12" in STAGES


def test_dvc_lists_the_study_stages():
    r = subprocess.run([sys.executable, "-m", "dvc", "stage", "list", "study/dvc.yaml"], cwd=ROOT,
                       capture_output=True, text=True, env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    assert r.returncode == 0, r.stderr
    listed = {line.split()[0].split(":", 1)[1] for line in r.stdout.splitlines() if line.strip()}
    assert listed == set(STAGES)


def _expected_outs(module, args):
    """What each study stage writes, relative to study/, in distill's own terms: the stage scripts the
    root pipeline also runs write what tests/test_dvc_yaml.py says they write."""
    # the study tracks recipes in place of what numpy makes again, and writes no conv features
    if module == "stages.fetch":
        return {paths.MNIST_RECIPE}
    if module == "stages.views":
        return {paths.VIEW_RECIPE}
    if module == "stages.teacher_outputs":
        return {paths.teacher_outputs(s, "logits") for s in data.SPLITS} | {paths.VIEW_LOGITS, paths.VIEW_MIXED_LOGITS}
    if module in ("stages.teacher", "stages.teacher_tflite", "stages.deep_compress"):
        return root_expected_outs(module, module, args)
    if module == "stages.study_seed":
        arch, hidden, loss, epochs, seed = args
        spec, epochs, seed = names.StudentSpec(arch, names.parse_widths(hidden), loss), int(epochs), int(seed)
        model = paths.student_model(S.run_name(spec, epochs), seed)
        return {model, provenance.path(model), S.seed_record(spec, epochs, seed),
                S.seed_predictions(spec, epochs, seed, "val"), S.seed_predictions(spec, epochs, seed, "test")}
    if module == "stages.study_gather":
        arch, hidden = args
        return {S.network_record(S.network_name(arch, names.parse_widths(hidden)))}
    if module == "stages.study_report":
        return {paths.SUMMARY, paths.REPORT, paths.PLOTS}
    raise AssertionError(f"{module} is not known to this test; add what it writes")


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_study_stage_outs_are_the_paths_its_module_names(stage):
    cmd, _, outs, *_ = STAGES[stage]
    assert set(outs) == _expected_outs(*_command(cmd)), f"study stage {stage}: study/dvc.yaml and distill disagree"


def test_every_study_data_dep_is_another_study_stages_output():
    """...or the exploration trials, which bench/tune.py --study appends to (git-tracked, read by the report)."""
    produced = {os.path.normpath(f"study/{o}") for _, _, outs, *_ in STAGES.values() for o in outs}
    produced |= {f"study/{S.TUNING}", f"study/{recipe.TUNING}"}
    for trials in (S.TUNING, recipe.TUNING):
        assert isinstance(json.loads((STUDY / trials).read_text()), list)
    for stage, (_, deps, *_) in STAGES.items():
        for d in deps:
            if d.split("/")[0] not in ("distill", "stages"):
                assert d in produced or any(o.startswith(d + "/") for o in produced), \
                    f"study stage {stage}: depends on {d}, which no study stage writes"


def test_every_study_output_is_git_tracked_and_not_a_metric():
    """A fresh clone on any CPU type finds every committed stage up to date: nothing is in a DVC cache it
    lacks, and what numpy makes again travels as its recipe (fetch and views)."""
    for stage, (_, _, _, _, outs) in STAGES.items():
        for path, cached, metric, plot in outs:
            assert not metric and not plot, (f"study stage {stage}: {path} is a metric/plot: the root's "
                                              "`dvc metrics show` and `dvc plots show` would list it")
            assert not cached, f"study stage {stage}: {path} must be tracked by git (cache: false)"
    tracked = ["study/" + p for p in ("data/students/sep-8-24-2-kd-e24/seed-0.keras",
                                      "metrics/seeds/sep-8-24-2/kd-e24-seed-0.json")]
    tracked += ["study/" + p for p in (paths.TEACHER_MODEL, paths.VIEW_LOGITS, paths.MNIST_RECIPE, paths.VIEW_RECIPE)]
    ignored = subprocess.run(["git", "check-ignore", "--no-index", *tracked], cwd=ROOT, capture_output=True, text=True)
    assert ignored.stdout.strip() == "", f"git would ignore the study's outputs: {ignored.stdout}"
    made_again = ["study/" + p for p in (paths.MNIST, paths.VIEW_IMAGES, paths.VIEW_MIX)]
    ignored = subprocess.run(["git", "check-ignore", "--no-index", *made_again], cwd=ROOT, capture_output=True,
                             text=True)
    assert ignored.stdout.split() == made_again, "git must ignore what the recipes make again"


def test_a_seed_stage_depends_on_its_train_params_not_on_the_lists():
    for stage, (cmd, _, _, keys, _) in STAGES.items():
        module, args = _command(cmd)
        if module == "stages.study_seed":
            assert sorted(keys) == ["runtime", f"study.{args[0]}.train"], stage
        if module == "stages.study_gather":
            assert sorted(keys) == ["runtime", f"study.{args[0]}.epochs", f"study.{args[0]}.loss",
                                    f"study.{args[0]}.seeds"], stage


# --- the gather arithmetic ----------------------------------------------------------------------------


def _seed_record(loss, seed, val, test, agreement=0.9):
    spec = names.StudentSpec(names.SEP, (2, 4, 1), loss)
    return {"name": spec.name, "arch": spec.arch, "hidden": spec.hidden, "widths": list(spec.widths), "loss": loss,
            "params": 123, "compression": 9754.33, "accuracy": test, "accuracy_std": None, "accuracy_min": test,
            "val_accuracy": val, "val_accuracy_std": None, "val_accuracy_min": val, "agreement": agreement,
            "agreement_std": None, "agreement_min": agreement, "seeds": [seed],
            "per_seed": [{"seed": seed, "val_accuracy": val, "accuracy": test, "agreement": agreement}],
            "temperature": 4.0, "epochs": 1}


def test_merge_gives_mean_sample_std_and_min_over_seeds():
    merged = G.merge([_seed_record("kd", 0, 0.90, 0.80), _seed_record("kd", 1, 0.92, 0.84),
                      _seed_record("kd", 2, 0.94, 0.86)])
    assert merged["seeds"] == [0, 1, 2] and [p["seed"] for p in merged["per_seed"]] == [0, 1, 2]
    assert merged["accuracy"] == pytest.approx(0.833333, abs=1e-6)
    assert merged["accuracy_std"] == pytest.approx(np.std([0.80, 0.84, 0.86], ddof=1), abs=1e-6)  # sample std
    assert merged["accuracy_min"] == 0.80
    assert merged["val_accuracy"] == pytest.approx(0.92) and merged["val_accuracy_min"] == 0.90
    assert merged["val_accuracy_std"] == pytest.approx(0.02, abs=1e-6)
    assert merged["params"] == 123 and merged["epochs"] == 1 and merged["name"] == "sep-2-4-1-kd"
    one = G.merge([_seed_record("kd", 5, 0.9, 0.8)])
    assert one["accuracy_std"] is None and one["seeds"] == [5]


def test_merge_refuses_seeds_trained_otherwise():
    other = _seed_record("kd", 1, 0.9, 0.8)
    other["epochs"] = 2
    with pytest.raises(ValueError, match="epochs"):
        G.merge([_seed_record("kd", 0, 0.9, 0.8), other])
    with pytest.raises(ValueError, match="twice"):
        G.merge([_seed_record("kd", 0, 0.9, 0.8), _seed_record("kd", 0, 0.9, 0.8)])


def test_gains_are_the_exact_paired_test_over_common_seeds():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 400)
    correct = {"kd": rng.random((3, 400)) < 0.9, "hard": rng.random((2, 400)) < 0.8,
               "dkd": rng.random((3, 400)) < 0.8}
    pred = {loss: np.where(c, labels, (labels + 1) % 10) for loss, c in correct.items()}
    students = {loss: G.merge([_seed_record(loss, s, 0.9, float(np.mean(c[i]))) for i, s in enumerate(
        [0, 1, 2][:len(c)])]) for loss, c in correct.items()}
    gains = G.gains("sep-2-4-1", students, pred, labels)
    assert set(gains) == {"sep-2-4-1", "sep-2-4-1 dkd"}  # report.kd_gain's keys
    g = gains["sep-2-4-1"]
    assert g["seed_pairs"] == 2 and g["loss"] == "kd" and g["params"] == 123  # hard has seeds 0 and 1 only
    kd_right, hard_right = correct["kd"][:2], correct["hard"]
    b, c = int(np.sum(kd_right & ~hard_right)), int(np.sum(~kd_right & hard_right))
    assert (g["kd_only_right"], g["hard_only_right"]) == (b, c)
    assert g["p_value"] == pytest.approx(binomtest(b, b + c, 0.5).pvalue, rel=1e-3)
    diffs = [float(np.mean(kd_right[i]) - np.mean(hard_right[i])) for i in range(2)]
    assert g["mean"] == pytest.approx(np.mean(diffs), abs=1e-6)
    assert g["std"] == pytest.approx(np.std(diffs, ddof=1), abs=1e-6)
    assert g["verdict"] == "kd better"
    assert G.gains("n", {"kd": students["kd"]}, pred, labels) == {}  # no hard: nothing to test against


def test_the_report_takes_gathered_networks(tmp_path):
    from distill.results import study_report as SR

    labels = np.zeros(100, dtype=np.int64)
    nets = []
    for widths, params, acc in (((2, 4, 1), 300, 0.96), ((4, 8, 2), 900, 0.985)):
        runs, pred = {}, {}
        for loss, shift in (("kd", 0.005), ("hard", 0.0)):
            for epochs, longer in ((1, 0.0), (3, 0.002)):  # validation prefers the longer schedule
                recs = []
                for s in (0, 1):
                    r = _seed_record(loss, s, acc + shift + longer, acc + shift + longer + 0.001 * s)
                    spec = names.StudentSpec(names.SEP, widths, loss)
                    r.update(name=S.run_name(spec, epochs), widths=list(widths), hidden=spec.hidden, params=params,
                             epochs=epochs)
                    recs.append(r)
                runs[(loss, epochs)] = G.merge(recs)
                pred[(loss, epochs)] = np.zeros((2, 100), np.int64) if loss == "kd" else np.ones((2, 100), np.int64)
        net = S.network_name(names.SEP, widths)
        nets.append(G.network_record(names.SEP, widths, net, runs, pred, labels))
    assert nets[0]["chosen"] == {"kd": 3, "hard": 3} and [r["epochs"] for r in nets[0]["students"]] == [3, 3]
    assert [(g["loss"], g["epochs"]) for g in nets[0]["gain_curve"]] == [("kd", 1), ("kd", 3)]
    assert len(nets[0]["trials"]) == 4
    teacher = {"accuracy": 0.99, "val_accuracy": 0.99, "params": 1_199_882}
    budgets = [{"params": 2000, "target": 0.99}, {"params": 500, "target": 0.95}]
    goal = {"params": 3000, "gain": 0.002, "networks": 2}
    summary = SR.summarize(teacher, nets, [0.95, 0.98], budgets, goal)
    assert summary["smallest_at_95"]["name"] == "sep-2-4-1-kd-e3"
    assert summary["smallest_at_98"]["name"] == "sep-4-8-2-kd-e3"
    assert [b["student"] for b in summary["goals"]["budgets"]] == ["sep-4-8-2-kd-e3", "sep-2-4-1-kd-e3"]
    assert summary["chosen"]["sep-2-4-1"] == {"kd": 3, "hard": 3} and len(summary["gain_curve"]) == 4
    assert summary["goals"]["kd"]["met"] and summary["goals"]["kd"]["winners"] == ["sep-2-4-1", "sep-4-8-2"]
    text = SR.report(summary, nets)
    assert "## Every seed" in text and "| sep-2-4-1-kd-e3 | 300 | 1 |" in text and "**met**" in text
    assert "| sep-2-4-1 | 300 | kd | 1 | +0.50 |" in text and "| sep-4-8-2 | 900 | hard | 3 |" in text
    trial = {"name": "sep-2-4-1-hard-e3", "changed": {"share_epochs": 2}, "seeds": [0, 1], "bytes": [1400, 1450],
             "val_accuracy_before": [0.96, 0.97], "val_accuracy_pruned": [0.95, 0.96],
             "val_accuracy_kmeans": [0.94, 0.95], "val_accuracy": [0.955, 0.965], "val_accuracy_mean": 0.96,
             "seconds": 61.0}
    text = SR.report(summary, nets, recipe_trials=[trial])
    row = "| sep-2-4-1-hard-e3 | share_epochs=2 | 2 | 1,450 | 0.9650 | 0.9550 | 0.9450 | 0.9600 | 0.9550, 0.9650 | 61 |"
    assert "## Every Deep Compression recipe trial" in text and row in text
    SR.kd_gain_plot(summary["kd_gain"], goal, tmp_path / "kd_gain.png")
    SR.gain_curve_plot(summary["gain_curve"], goal, tmp_path / "gain_curve.png")
    for name in ("kd_gain.png", "gain_curve.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_validation_chooses_the_schedule_and_ties_go_short():
    assert G.choose({4: {"val_accuracy": 0.95}, 12: {"val_accuracy": 0.97}, 36: {"val_accuracy": 0.96}}) == 12
    assert G.choose({36: {"val_accuracy": 0.97}, 12: {"val_accuracy": 0.97}}) == 12


def test_the_gain_intervals():
    from scipy.stats import binomtest, t

    from distill.results import stats

    gain = {"seed_pairs": 3, "mean": 0.002, "std": 0.001, "kd_only_right": 60, "hard_only_right": 0}
    ci = stats.intervals(gain, 10_000)
    half = t.ppf(0.975, 2) * 0.001 / np.sqrt(3)
    assert ci["ci_seeds"] == pytest.approx([0.002 - half, 0.002 + half], abs=1e-6)
    exact = binomtest(60, 60, 0.5).proportion_ci(method="exact")
    assert ci["ci_images"] == pytest.approx([(2 * exact.low - 1) * 60 / 30_000, 60 / 30_000], abs=1e-6)
    assert ci["ci_images"][0] > 0  # 60 to 0 discordant images: the interval excludes no difference
    one = stats.intervals({**gain, "seed_pairs": 1, "std": None}, 10_000)
    assert one["ci_seeds"] is None


# --- one shrunk study, end to end ---------------------------------------------------------------------


class Repo:
    def __init__(self, path):
        self.path = Path(path)
        self.env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"],
                    "TF_CPP_MIN_LOG_LEVEL": "3", "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t",
                    "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
        self.env.pop("MNIST_MIRROR", None)

    def run(self, *cmd, timeout=900):
        r = subprocess.run(cmd, cwd=self.path, env=self.env, capture_output=True, text=True, timeout=timeout)
        assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
        return r

    def dvc(self, *args):
        return self.run(sys.executable, "-m", "dvc", *args)

    def commit(self, message):
        self.run("git", "add", "-A")
        self.run("git", "commit", "-q", "--allow-empty", "-m", message)

    def params(self):
        return yaml.safe_load((self.path / "study" / "params.yaml").read_text())

    def set_params(self, params):
        (self.path / "study" / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    def json(self, rel):
        return json.loads((self.path / "study" / rel).read_text())


def ran(output):
    """The study stages a dvc repro ran, without the `study/dvc.yaml:` prefix; root stages as they are."""
    return {s.removeprefix("study/dvc.yaml:") for s in re.findall(r"Running stage '([^']+)'", output)}


def shrink(params, mirror, files=None):
    shrink_upstream(params, mirror, files, train=700, test=300, val=200)
    s = params["study"]
    s["sep"].update(hidden=["2-4-1"], loss=["kd", "hard"], epochs=[1], seeds=[0, 1])
    s["sep"]["train"].update(batch_size=64)
    for arch in ("cnn", "mlp", "tied", "vsep"):
        s[arch]["hidden"] = []  # one network in all
    params["compress"].update(calibration_images=50, repeats_batch1=2, repeats_batch1000=1)
    d = params["deep_compress"]
    d.update(students=["sep-2-4-1-kd-e1"], teacher=["teacher"])
    for how in (d["teacher_recipe"], d["student_recipe"]):
        # fine-tuning on the views the seeds trained on, whatever the committed study chose
        how.update(prune_epochs=1, share_epochs=1, batch_size=64, finetune_on="trained")
    return params


@pytest.fixture(scope="module")
def shrunk(tmp_path_factory):
    """The project as a clone would hold it (git's tracked files and the new untracked ones), shrunk."""
    path = tmp_path_factory.mktemp("study") / "project"
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        results = rel.startswith(("study/data/", "study/metrics/")) and not rel.endswith(".gitignore")
        inputs = rel in (f"study/{S.TUNING}", f"study/{recipe.TUNING}")  # trials: inputs the report lists, not outputs
        if src.is_file() and (inputs or not results) and rel != "study/dvc.lock":
            (path / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, path / rel)
    repo = Repo(path)
    repo.run("git", "init", "-q", "-b", "main")
    params = repo.params()
    if SHARED.is_dir():
        shrink(params, SHARED)
    else:
        shrink(params, path.parent / "mirror", files=make_dataset(path.parent / "mirror", 900, 300))
    repo.set_params(params)
    repo.commit("the study, shrunk")
    return repo


def test_shrunk_study_end_to_end(shrunk, tmp_path):
    repo = shrunk
    points = {f"sep@2-4-1-{loss}-1-{seed}" for loss in ("kd", "hard") for seed in (0, 1)}
    r = repo.dvc("repro", "study/dvc.yaml")
    assert ran(r.stdout) == set(UPSTREAM) | points | {"gather_sep@2-4-1", "deep_compress@sep-2-4-1-kd-e1",
                                                      "deep_compress_teacher@teacher", "study_report"}, r.stdout
    net = repo.json("metrics/networks/sep-2-4-1.json")
    assert [s["loss"] for s in net["students"]] == ["kd", "hard"]
    for s in net["students"]:
        assert s["seeds"] == [0, 1] and s["accuracy_min"] == min(p["accuracy"] for p in s["per_seed"])
        assert s["accuracy"] == pytest.approx(np.mean([p["accuracy"] for p in s["per_seed"]]), abs=1e-6)
    gain = net["kd_gain"]["sep-2-4-1"]
    assert gain["seed_pairs"] == 2 and 0 <= gain["p_value"] <= 1
    summary = repo.json("metrics/summary.json")
    assert summary["networks"] == 1 and summary["students"] == 2 and "sep-2-4-1" in summary["kd_gain"]
    assert [b["params"] for b in summary["goals"]["budgets"]] == [2000, 1000, 500]
    assert [d["name"] for d in summary["deep_compressed"]] == ["teacher", "sep-2-4-1-kd-e1"]
    assert summary["chosen"] == {"sep-2-4-1": {"kd": 1, "hard": 1}} and len(summary["gain_curve"]) == 1
    dcz = repo.path / "study" / paths.deep_dir("sep-2-4-1-kd-e1")
    assert {"seed-0.dcz", "seed-1.dcz"} <= {p.name for p in dcz.iterdir()}
    for name in ("frontier.png", "kd_gain.png", "gain_curve.png", "accuracy_vs_bytes.png"):
        assert (repo.path / "study" / "metrics" / "plots" / name).read_bytes()[:4] == b"\x89PNG"
    assert "## Every seed" in (repo.path / "study" / "metrics" / "report.md").read_text()
    assert "study/metrics/summary.json" not in repo.dvc("metrics", "show").stdout  # the root's view stays its own
    # what git tracks: every output, the teacher and its logits too; what it leaves out: what recipes make again
    status = repo.run("git", "status", "--porcelain", "--untracked-files=all").stdout
    for rel in ("study/data/students/sep-2-4-1-kd-e1/seed-1.keras", "study/metrics/seeds/sep-2-4-1/hard-e1-seed-0.json",
                "study/metrics/seeds/sep-2-4-1/kd-e1-seed-1-test.npy", "study/metrics/networks/sep-2-4-1.json",
                "study/dvc.lock", "study/data/teacher.keras", "study/data/teacher_outputs/views_logits.npy",
                "study/data/mnist.recipe.json", "study/data/views/recipe.json"):
        assert rel in status, f"{rel} is not a file git would track:\n{status}"
    for rel in ("study/data/views/images.npy", "study/data/views/mix.npz", "study/data/mnist.npz"):
        assert rel not in status, f"{rel}: git would track it; its recipe makes it again"
    assert not (repo.path / "study" / "data" / "teacher_outputs" / "train_features.npy").exists()
    repo.commit("first run")
    before = {p: p.read_bytes() for p in (repo.path / "study" / "metrics" / "seeds").rglob("*")
              if p.is_file()}

    r = repo.dvc("repro", "study/dvc.yaml")
    assert ran(r.stdout) == set(), r.stdout

    params = repo.params()
    params["study"]["sep"]["seeds"] = [0, 1, 2]
    repo.set_params(params)
    r = repo.dvc("repro", "study/dvc.yaml")
    assert ran(r.stdout) == {"sep@2-4-1-kd-1-2", "sep@2-4-1-hard-1-2", "gather_sep@2-4-1",
                             "deep_compress@sep-2-4-1-kd-e1", "study_report"}, r.stdout
    assert all(p.read_bytes() == blob for p, blob in before.items())  # seeds 0 and 1 untouched
    net = repo.json("metrics/networks/sep-2-4-1.json")
    assert all(s["seeds"] == [0, 1, 2] for s in net["students"]) and net["kd_gain"]["sep-2-4-1"]["seed_pairs"] == 3
    repo.commit("third seed")

    # another machine, of any CPU type: a fresh clone, with no DVC cache or remote, finds every stage up to
    # date before anything runs; a new seed then draws the views again from their recipe and trains alone
    clone = Repo(tmp_path / "clone")
    clone.path.parent.mkdir(parents=True, exist_ok=True)
    Repo(tmp_path).run("git", "clone", "-q", str(repo.path), str(clone.path))
    assert "up to date" in clone.dvc("status", "study/dvc.yaml").stdout
    assert not (clone.path / "study" / paths.VIEW_IMAGES).exists()
    params = clone.params()
    params["study"]["sep"]["seeds"] = [0, 1, 2, 3]
    clone.set_params(params)
    r = clone.dvc("repro", "study/dvc.yaml")
    assert ran(r.stdout) == {"sep@2-4-1-kd-1-3", "sep@2-4-1-hard-1-3", "gather_sep@2-4-1",
                             "deep_compress@sep-2-4-1-kd-e1", "study_report"}, r.stdout
    said = r.stdout + r.stderr
    assert "drawing 2 views again" in said and "making it again" in said, said
    views = "study/" + paths.VIEW_IMAGES
    assert (clone.path / views).read_bytes() == (repo.path / views).read_bytes()


def test_a_study_deep_compress_stage_depends_on_the_provenance_it_reads(shrunk):
    """With finetune_on: trained it reads each seed's provenance, which sits in the student's folder (a dep)."""
    stages = _study_stages(shrunk.path)
    deep = [name for name in stages if name.startswith("deep_compress@")]
    assert deep == ["deep_compress@sep-2-4-1-kd-e1"]
    for name in deep:
        student = name.split("@", 1)[1]
        assert os.path.normpath(os.path.join("study", paths.student_dir(student))) in stages[name][1], name


def test_shares_run_on_clones_gather_into_one_clean_commit(shrunk, tmp_path):
    """Machines of a CI matrix or a Slurm array: each clones, runs the share `fanout plan` gives it and commits
    to a branch of its own; one gather takes every branch's stages into one commit, and only the report,
    which reads every share, runs after it."""
    origin = Repo(tmp_path / "origin")
    Repo(tmp_path).run("git", "clone", "-q", str(shrunk.path), str(origin.path))
    first = origin.run("git", "rev-list", "--max-parents=0", "HEAD").stdout.strip()
    origin.run("git", "reset", "-q", "--hard", first)  # the shrunk study before any other test ran it
    fanout = (sys.executable, "-m", "distill.fanout")
    origin.run(*fanout, "run", "-p", "study/dvc.yaml", "--upstream", "-w", "1")  # what every share reads, once
    params = origin.params()
    params["study"]["vsep"].update(hidden=["2-3"], loss=["kd", "hard"], epochs=[1], seeds=[0])
    params["study"]["vsep"]["train"].update(batch_size=64)
    params["deep_compress"].update(teacher=[], students=[])  # two networks, one unit each: two shares
    origin.set_params(params)
    origin.commit("two networks")
    plan = json.loads(origin.run(*fanout, "plan", "-p", "study/dvc.yaml", "--shares", "2", "--json").stdout)
    assert [m["share"] for m in plan] == ["1/2", "2/2"]
    files = {}
    for k in (1, 2):  # each clone stands in for a machine
        clone = Repo(tmp_path / f"machine-{k}")
        Repo(tmp_path).run("git", "clone", "-q", str(origin.path), str(clone.path))
        clone.run("git", "checkout", "-q", "-b", f"share-{k}")
        clone.run(*fanout, "run", "-p", "study/dvc.yaml", "--share", f"{k}/2", "-w", "1")
        clone.commit(f"share {k}/2")
        clone.run("git", "push", "-q", "origin", f"share-{k}")
        seeds = clone.path / "study" / "metrics" / "seeds"
        files[k] = {p.relative_to(clone.path): p.read_bytes() for p in seeds.rglob("*") if p.is_file()}
    assert {p.parts[3] for p in files[1]} ^ {p.parts[3] for p in files[2]} == {"sep-2-4-1", "vsep-2-3"}
    r = origin.run(*fanout, "gather", "-p", "study/dvc.yaml", "share-1", "share-2")
    counts = dict(re.findall(r"^(share-\d): (\d+) stages? gathered", r.stdout, re.M))
    assert set(counts) == {"share-1", "share-2"} and all(int(n) > 0 for n in counts.values()), r.stdout
    for k in (1, 2):
        assert all((origin.path / rel).read_bytes() == blob for rel, blob in files[k].items())
    r = origin.dvc("repro", "study/dvc.yaml")
    assert ran(r.stdout) == {"study_report"}, r.stdout  # only what reads every share
    origin.commit("the shares gathered")
    assert "up to date" in origin.dvc("status", "study/dvc.yaml").stdout
    assert origin.run("git", "status", "--porcelain").stdout == ""
    # one stage recorded two ways is refused before anything is written; a share run on other params, after
    lock_path = origin.path / "study" / "dvc.lock"
    lock = lock_path.read_bytes()
    clone = Repo(tmp_path / "machine-1")
    params = clone.params()
    params["study"]["sep"]["train"]["learning_rate"] = 0.02
    clone.set_params(params)
    clone.run(*fanout, "run", "-p", "study/dvc.yaml", "--share", "1/2", "-w", "1")
    clone.commit("share 1/2 again, other params")
    clone.run("git", "push", "-q", "-f", "origin", "share-1")
    origin.run("git", "checkout", "-q", "-b", "doctored")
    doctored = yaml.safe_load(lock)
    doctored["stages"]["sep@2-4-1-kd-1-0"]["outs"][0]["md5"] = "0" * 32
    lock_path.write_text(yaml.safe_dump(doctored))
    origin.commit("one stage recorded otherwise")
    origin.run("git", "checkout", "-q", "-")

    def gather(*refs):
        return subprocess.run([*fanout, "gather", "-p", "study/dvc.yaml", *refs], cwd=origin.path, env=origin.env,
                              capture_output=True, text=True)

    r = gather("share-1", "doctored")
    assert r.returncode == 1 and "'sep@2-4-1-kd-1-0' was recorded differently by share-1 and doctored" in r.stderr, \
        r.stderr
    assert origin.run("git", "status", "--porcelain").stdout == ""
    r = gather("share-1")
    assert r.returncode == 1 and "not up to date here" in r.stderr, r.stderr
    origin.run("git", "checkout", "-q", "--", ".")
    assert lock_path.read_bytes() == lock
