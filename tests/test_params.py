import math

import pytest
import yaml
from conftest import default_params, files_under, run_stage

from distill.core import names
from distill.core import params as P
from distill.core.params import ParamsError

SCHEMA = {
    "epochs": P.integer(min=1),
    "rate": P.number(above=0),
    "alpha": P.number(min=0, max=1),
    "loss": P.choice(*names.LOSSES),
    "sizes": P.list_of(P.integer(min=1)),
    "widths": P.widths(),
    "note": P.optional(P.string()),
}
GOOD = {"epochs": 3, "rate": 0.5, "alpha": 1, "loss": "kd", "sizes": [2, 3], "widths": "8-16", "note": None}


def check(**over):
    return P.section("s", SCHEMA, params={"s": {**GOOD, **over}})


def test_valid_section_is_normalised():
    p = check()
    assert p["alpha"] == 1.0 and isinstance(p["alpha"], float) and p["widths"] == (8, 16)
    assert check(widths=6)["widths"] == (6,) and check(widths=[4, 8])["widths"] == (4, 8)


@pytest.mark.parametrize("over, message", [
    ({"epochs": 0}, "s.epochs: must be >= 1, got 0"),
    ({"epochs": -2}, "s.epochs: must be >= 1, got -2"),
    ({"epochs": 2.5}, "s.epochs: must be an integer, got 2.5 (float)"),
    ({"epochs": "3"}, "s.epochs: must be an integer, got '3'"),
    ({"epochs": True}, "s.epochs: must be an integer, got True (bool)"),
    ({"rate": 0}, "s.rate: must be > 0, got 0"),
    ({"alpha": 1.5}, "s.alpha: must be <= 1, got 1.5"),
    ({"alpha": -0.1}, "s.alpha: must be >= 0, got -0.1"),
    ({"loss": "kl"}, "s.loss: must be one of mse, kd, hard, dkd; got 'kl'"),
    ({"sizes": []}, "s.sizes: must not be empty"),
    ({"sizes": 4}, "s.sizes: must be a list, got 4 (int)"),
    ({"sizes": [2, 0]}, "s.sizes[1]: must be >= 1, got 0"),
    ({"sizes": [2, 2]}, "s.sizes: lists 2 twice"),
    ({"widths": "8-x"}, "s.widths: must be widths like"),
    ({"widths": 0}, "s.widths: widths must be between 1 and 4096, got 0"),
    ({"note": 5}, "s.note: must be a non-empty string, got 5 (int)"),
    ({"rate": math.nan}, "s.rate: must be a finite number, got nan"),
    ({"rate": math.inf}, "s.rate: must be a finite number, got inf"),
    ({"alpha": math.nan}, "s.alpha: must be a finite number, got nan"),
    ({"alpha": -math.inf}, "s.alpha: must be a finite number, got -inf"),
])
def test_bad_values_name_the_key(over, message):
    with pytest.raises(ParamsError) as e:
        check(**over)
    assert f"params.yaml: {message}" in str(e.value)


def test_unknown_key_is_refused_with_a_hint():
    with pytest.raises(ParamsError, match=r"s.epoch: unknown key .*did you mean 'epochs'\?"):
        P.section("s", SCHEMA, params={"s": {**GOOD, "epoch": 3}})


def test_missing_key_and_section():
    bad = dict(GOOD)
    del bad["rate"]
    with pytest.raises(ParamsError, match="params.yaml: s.rate: missing"):
        P.section("s", SCHEMA, params={"s": bad})
    with pytest.raises(ParamsError, match="params.yaml: missing section 'student'; found 'studnet', a typo?"):
        P.section("student", SCHEMA, params={"studnet": GOOD})
    with pytest.raises(ParamsError, match="params.yaml: s: must be a mapping, got 'oops'"):
        P.section("s", SCHEMA, params={"s": "oops"})


def test_missing_or_malformed_file(tmp_path):
    with pytest.raises(ParamsError, match="params.yaml: file not found"):
        P.load(tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text("teacher: [1, 2\n")
    with pytest.raises(ParamsError, match="params.yaml: not valid YAML"):
        P.load(tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ParamsError, match="params.yaml: must be a mapping of sections, got list"):
        P.load(tmp_path / "params.yaml")


def test_default_params_pass_every_stage_config():
    import importlib

    from distill.compression.config import CompressConfig
    from distill.training.config import sweep_spec

    params = default_params()
    for stage, section, spec in [("fetch", "fetch", "FetchConfig"), ("teacher", "teacher", "TeacherConfig"),
                                 ("teacher_outputs", "teacher_outputs", "TeacherOutputsConfig"),
                                 ("student", "student", "StudentConfig"), ("evaluate", "evaluate", "EvaluateConfig")]:
        cfg = P.section(section, getattr(importlib.import_module(f"stages.{stage}"), spec), params=params)
        assert type(cfg).__name__ == spec
    sweep = P.section("sweep", sweep_spec(), params=params)
    assert set(sweep.families) == {names.HEAD, names.MLP} and len(sweep.specs()) == 6 * 3 + 2
    assert 0 < P.section("compress", CompressConfig, params=params).sparsity < 1
    from distill.compression.config import DeepCompressConfig

    deep = P.section("deep_compress", DeepCompressConfig, params=params)
    # the teacher's .dcz is the study's
    assert deep.subjects == ["mlp-64-kd"] and deep.recipe(names.TEACHER) == deep.teacher_recipe
    import dataclasses

    assert dataclasses.replace(deep, teacher=[names.TEACHER]).subjects == [names.TEACHER, "mlp-64-kd"]


def test_a_config_is_a_frozen_dataclass_of_checked_values():
    from distill.training.config import StudentConfig

    cfg = P.section("student", StudentConfig, params=default_params())
    assert cfg.spec == names.StudentSpec("head", (6,), "kd") and cfg.spec.name == "head-6-kd"
    assert cfg.train.epochs == default_params()["student"]["epochs"] and isinstance(cfg.train.alpha, float)
    with pytest.raises(AttributeError):
        cfg.epochs = 3


def _stage_error(r, stage, message):
    """The stage failed as a user error must: exit 1, one line `stage: error: ...`, no traceback."""
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1, r.stderr
    assert lines[0].startswith(f"{stage}: error: ") and message in lines[0], r.stderr


@pytest.mark.parametrize("stage, section, key, value, message", [
    ("teacher", "teacher", "epochs", 0, "teacher.epochs: must be >= 1, got 0"),
    ("teacher", "teacher", "optimizer", "lion",
     "teacher.optimizer: must be one of adam, adamw, sgd, rmsprop, adadelta"),
    ("teacher", "teacher", "warmup_epochs", 99, "teacher.warmup_epochs: must be < teacher.epochs"),
    ("teacher", "teacher", "learning_rate", math.inf, "teacher.learning_rate: must be a finite number, got inf"),
    ("fetch", "fetch", "sources", [], "fetch.sources: must not be empty"),
    ("fetch", "fetch", "timeout_seconds", math.nan, "fetch.timeout_seconds: must be a finite number, got nan"),
    ("teacher_outputs", "teacher_outputs", "features_dtype", "int8", "teacher_outputs.features_dtype: must be one of"),
    ("student", "student", "loss", "kl", "student.loss: must be one of mse, kd, hard, dkd; got 'kl'"),
    ("student", "student", "temperature", 0, "student.temperature: must be > 0, got 0"),
    ("student", "student", "alpha", 1.5, "student.alpha: must be <= 1, got 1.5"),
    ("student", "student", "alpha", math.nan, "student.alpha: must be a finite number, got nan"),
    ("student", "student", "dropout", math.nan, "student.dropout: must be a finite number, got nan"),
    ("student", "student", "learning_rate", math.inf, "student.learning_rate: must be a finite number, got inf"),
    ("student", "student", "temperature", -math.inf, "student.temperature: must be a finite number, got -inf"),
    ("student", "student", "hidden", "8-16", "student.hidden: a head student has one hidden layer, got 2 widths"),
    ("student", "student", "hidden", -3, "student.hidden: widths must be between 1 and 4096, got -3"),
    ("student", "student", "seeds", [], "student.seeds: must not be empty"),
    ("student", "student", "seeds", [0, 1, 0], "student.seeds: lists 0 twice"),
    ("student", "student", "seeds", [0, -1], "student.seeds[1]: must be >= 0, got -1"),
    ("student", "student", "seeds", 3, "student.seeds: must be a list, got 3 (int)"),
    ("fetch", "fetch", "validation_images", 0, "fetch.validation_images: must be >= 1, got 0"),
    ("fetch", "fetch", "validation_images", None, "fetch.validation_images: must be an integer, got null"),
    ("evaluate", "evaluate", "targets", [0.9, 2], "evaluate.targets[1]: must be <= 1, got 2"),
    ("evaluate", "evaluate", "file_target", math.nan, "evaluate.file_target: must be a finite number, got nan"),
])
def test_stage_refuses_bad_params_before_work(tmp_path, stage, section, key, value, message):
    params = default_params()
    params[section][key] = value
    r = run_stage(stage, tmp_path, params)
    _stage_error(r, stage, f"params.yaml: {message}")
    assert files_under(tmp_path) == ["params.yaml"]


def test_nan_and_inf_written_in_yaml_are_refused(tmp_path):
    params = default_params()
    text = yaml.safe_dump(params, sort_keys=False)
    text = text.replace("alpha: 0.9\n  target_weight", "alpha: .nan\n  target_weight")
    assert ".nan" in text
    (tmp_path / "params.yaml").write_text(text)
    _stage_error(run_stage("student", tmp_path), "student", "student.alpha: must be a finite number, got nan")
    compress = params["compress"]
    for value in (".inf", "-.inf", ".NaN"):
        text = yaml.safe_dump(params, sort_keys=False)
        text = text.replace(f"sparsity: {compress['sparsity']}", f"sparsity: {value}")
        (tmp_path / "params.yaml").write_text(text)
        r = run_stage("compress", tmp_path, args=["student"])
        _stage_error(r, "compress", "compress.sparsity: must be a finite number")
    assert files_under(tmp_path) == ["params.yaml"]


@pytest.mark.parametrize("args, change, message", [
    (["head", "6", "kd"], {"hidden": []}, "sweep.head.hidden: must not be empty"),
    (["head", "6", "kd"], {"loss": ["kd", "kl"]}, "sweep.head.loss[1]: must be one of mse, kd, hard"),
    (["head", "9", "kd"], {}, "sweep.head: the point 9 kd is not listed (dvc.yaml's matrix and params.yaml disagree)"),
    (["head", "6", "kd"], {"hidden": [6, "4-4"]}, "sweep.head.hidden[1]: a head student has one hidden layer"),
    (["head", "6", "kd"], {"epochs": 3}, "sweep.head.epochs: unknown key"),
    (["head", "6", "kd"], {"train": {**default_params()["sweep"]["head"]["train"], "alpha": float("nan")}},
     "sweep.head.train.alpha: must be a finite number, got nan"),
    (["rnn", "6", "kd"], {}, "sweep.rnn: no such family (known: head, mlp)"),
    (["head", "6", "kd"], {"train": {**default_params()["sweep"]["head"]["train"], "augment": True}},
     "sweep.head.train.augment: a head student reads the teacher's conv features of the plain images"),
    (["head", "6", "kd"], {"train": {**default_params()["sweep"]["head"]["train"], "mixup": True}},
     "sweep.head.train.mixup: the blends are of the cached views: needs augment true"),
    (["head", "6", "kd"], {"train": {**default_params()["sweep"]["head"]["train"], "weight_decay": 2}},
     "sweep.head.train.weight_decay: must be <= 1, got 2"),
    (["head", "6", "kd"], {"train": {**default_params()["sweep"]["head"]["train"], "optimizer": "lion"}},
     "sweep.head.train.optimizer: must be one of adam, adamw, sgd, rmsprop, adadelta"),
    (["head", "6", "kd"], {"train": {**default_params()["sweep"]["head"]["train"], "target_weight": -1}},
     "sweep.head.train.target_weight: must be >= 0, got -1"),
    (["head", "6"], {}, "usage: python -m stages.sweep <arch> <hidden> <loss>"),
])
def test_sweep_point_refuses_bad_grid(tmp_path, args, change, message):
    params = default_params()
    params["sweep"]["head"].update(change)
    _stage_error(run_stage("sweep", tmp_path, params, args=args), "sweep", message)
    assert files_under(tmp_path) == ["params.yaml"]


@pytest.mark.parametrize("stage, change, message", [
    ("student", lambda p: p.pop("student"), "params.yaml: missing section 'student'"),
    ("student", lambda p: p["student"].update(arch="rnn"),
     "student.arch: must be one of head, mlp, cnn, sep, tied, vsep; got 'rnn'"),
    ("teacher", lambda p: p["teacher"].update(batch_size="64"), "teacher.batch_size: must be an integer, got '64'"),
    ("teacher", lambda p: p["teacher"].update(epoch=3), "teacher.epoch: unknown key"),
    ("compress", lambda p: p["compress"].update(sparsity=1.5), "compress.sparsity: must be <= 0.99, got 1.5"),
    ("evaluate", lambda p: p.update(evaluate=None), "evaluate: must be a mapping, got null"),
    ("evaluate", lambda p: p["sweep"]["mlp"].update(hidden=["4-x"]), "sweep.mlp.hidden[0]: must be widths like"),
    ("evaluate", lambda p: p["sweep"].update(rnn=p["sweep"]["mlp"]), "sweep.rnn: unknown family (known: head, mlp"),
    ("evaluate", lambda p: p.update(sweep={}),
     "sweep: must map one or more of head, mlp, cnn, sep, tied, vsep to a grid"),
    ("evaluate", lambda p: p["deep_compress"].update(teacher=True), "deep_compress.teacher: must be a list, got True"),
    ("evaluate", lambda p: p["deep_compress"].update(teacher=["cnn-8-kd"]),
     "deep_compress.teacher[0]: must be one of teacher; got 'cnn-8-kd'"),
    ("evaluate", lambda p: p["deep_compress"].update(teacher=["teacher", "teacher"]),
     "deep_compress.teacher: lists teacher twice"),
])
def test_stage_refuses_bad_sections_before_work(tmp_path, stage, change, message):
    params = default_params()
    change(params)
    args = ["student"] if stage == "compress" else []
    _stage_error(run_stage(stage, tmp_path, params, args=args), stage, message)
    assert files_under(tmp_path) == ["params.yaml"]


@pytest.mark.parametrize("change, args, message", [
    (lambda d: d["student_recipe"]["bits"].update(conv=9), ["teacher"],
     "deep_compress.student_recipe.bits.conv: must be <= 8, got 9"),
    (lambda d: d["teacher_recipe"]["sparsity"].update(dense=1.0), ["teacher"],
     "deep_compress.teacher_recipe.sparsity.dense: must be <= 0.999, got 1.0"),
    (lambda d: d["teacher_recipe"]["sparsity"].update(conv=float("nan")), ["teacher"],
     "deep_compress.teacher_recipe.sparsity.conv: must be a finite number, got nan"),
    (lambda d: d["teacher_recipe"]["sparsity"].update(fc=0.9), ["teacher"],
     "deep_compress.teacher_recipe.sparsity.fc: unknown key (known: conv, dense, output)"),
    (lambda d: d["student_recipe"].pop("share_epochs"), ["teacher"],
     "deep_compress.student_recipe.share_epochs: missing"),
    (lambda d: d["student_recipe"].update(learning_rate=float("inf")), ["teacher"],
     "deep_compress.student_recipe.learning_rate: must be a finite number, got inf"),
    (lambda d: d.update(floats="float8"), ["teacher"], "deep_compress.floats: must be one of float16, float32"),
    (lambda d: d["teacher_recipe"].update(finetune_on="views"), ["teacher"],
     "deep_compress.teacher_recipe.finetune_on: must be one of plain, trained; got 'views'"),
    (lambda d: d.update(students=["cnn-8-16-kl"]), ["teacher"],
     "deep_compress.students[0]: must be a grid point named <arch>-<widths>-<loss>"),
    (lambda d: d.update(students=["head-4-4-kd"]), ["teacher"],
     "deep_compress.students[0]: a head student has one hidden layer, got 2 widths"),
    (lambda d: d.update(students=["teacher"]), ["teacher"],
     "deep_compress.students[0]: the teacher goes through with `teacher: [teacher]`"),
    (lambda d: None, ["cnn-9-kd"], "deep_compress.students: cnn-9-kd is not listed"),
    (lambda d: d.update(teacher=[]), ["teacher"], "deep_compress.teacher: teacher is not listed"),
    (lambda d: None, [], "usage: python -m stages.deep_compress <teacher or student name>"),
])
def test_deep_compress_refuses_bad_params_before_work(tmp_path, change, args, message):
    params = default_params()
    change(params["deep_compress"])
    _stage_error(run_stage("deep_compress", tmp_path, params, args=args), "deep_compress", message)
    assert files_under(tmp_path) == ["params.yaml"]


def test_stage_refuses_malformed_params_file(tmp_path):
    (tmp_path / "params.yaml").write_text("teacher: {epochs: 3\n")
    _stage_error(run_stage("teacher", tmp_path), "teacher", "params.yaml: not valid YAML")
    assert files_under(tmp_path) == ["params.yaml"]


def test_listed_refuses_a_command_line_argument_off_the_grid():
    P.listed("b", ["a", "b"], "compress.students")  # on the grid: nothing to say
    with pytest.raises(ParamsError, match=r"^params.yaml: compress.students: c is not listed "
                                          r"\(dvc.yaml's matrix and params.yaml disagree\)$"):
        P.listed("c", ["a", "b"], "compress.students")
    with pytest.raises(ParamsError, match=r"^params.yaml: sweep.head: the point 9 kd is not listed"):
        P.listed(9, [6], "sweep.head", "the point 9 kd")
