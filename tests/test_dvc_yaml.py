"""dvc.yaml against the code it runs, so DVC never keeps a stale result.

- Every stage of both pipelines (matrix points included) lists in its `deps` exactly the code its
  command runs: the stage script, distill/__init__.py and every subpackage of distill/ it imports,
  transitively, at the top or inside a function. A missing one means an edit would not rerun the
  stage; an extra one means needless reruns.
- No stage script imports another stage script.
- The files dvc.yaml names are the ones distill/core/paths.py names.
"""
import ast
import os
import re
import shlex
from pathlib import Path

import pytest
from conftest import ROOT

from distill import data
from distill.core import names, paths
from distill.results.config import TUNING
from distill.training import provenance

PROJECT_DIRS = ("distill", "stages")


def _module_file(dotted):
    """The project file that running `import dotted` executes last, or None if it is not ours."""
    parts = dotted.split(".")
    if parts[0] not in PROJECT_DIRS:
        return None
    for candidate in (ROOT.joinpath(*parts).with_suffix(".py"), ROOT.joinpath(*parts, "__init__.py")):
        if candidate.is_file():
            return candidate
    return None


def _package(path):
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name != "__init__" else rel.parts[:-1]
    return list(parts)


def imports(path):
    """The project files `path` imports anywhere in it; `import a.b.c` runs a, a.b and a.b.c."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            dotted = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            package = _package(path)
            base = package[: len(package) - node.level + 1] if node.level else []
            base = ".".join(base + ([node.module] if node.module else []))
            dotted = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in dotted:
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                if (f := _module_file(".".join(parts[:i]))) is not None:
                    found.add(f)
    return found


def runs(module):
    """Every project file that `python -m module` runs."""
    todo = [_module_file(module)]
    assert todo[0] is not None, f"no project module {module}"
    parts = module.split(".")
    todo += [f for i in range(1, len(parts)) if (f := _module_file(".".join(parts[:i]))) is not None]
    seen = set()
    while todo:
        f = todo.pop()
        if f not in seen:
            seen.add(f)
            todo.extend(imports(f) - seen)
    return {str(f.relative_to(ROOT)) for f in seen}


def root_stages(repo):
    """The stages of the root dvc.yaml: DVC's index also holds study/dvc.yaml's (tests/test_study.py)."""
    return [s for s in repo.index.stages if Path(s.dvcfile.path).resolve() == ROOT / "dvc.yaml"]


def _pipelines():
    """{<dvc.yaml path>:<stage>: (cmd, file deps, outs)} for both pipelines as DVC itself reads them, matrix
    points expanded, paths relative to the project's root."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        out = {}
        for s in repo.index.stages:
            wdir = Path(s.dvcfile.path).resolve().parent.relative_to(ROOT)
            out[f"{wdir / 'dvc.yaml'}:{s.addressing.split(':')[-1]}"] = (
                s.cmd, [os.path.normpath(wdir / d.def_path) for d in s.deps if not isinstance(d, ParamsDependency)],
                [os.path.normpath(wdir / o.def_path) for o in s.outs])
        return out


PIPELINES = _pipelines()
STAGES = {k.split(":", 1)[1]: v for k, v in PIPELINES.items() if k.startswith("dvc.yaml:")}  # the root's


def _command(cmd):
    """(module, args) of a `python -m stages.<name> args...` command."""
    words = shlex.split(cmd)
    assert words[:2] == ["python", "-m"] and words[2].startswith("stages."), f"unexpected command: {cmd}"
    return words[2], words[3:]


def test_every_stage_is_checked():
    assert len(STAGES) >= 10 and {"fetch", "teacher", "evaluate"} <= set(STAGES)
    assert any("@" in s for s in STAGES)  # matrix points are expanded


def code_deps(module):
    """The code deps of a stage that runs `python -m module`: every distill/ subpackage it runs as its
    folder, any other project module it runs (its script, distill/__init__.py) as its file."""
    out = set()
    for f in runs(module):
        parts = Path(f).parts
        out.add("/".join(parts[:2]) if parts[0] == "distill" and len(parts) > 2 else f)
    return out


BOTH = {k: (cmd, deps) for k, (cmd, deps, _) in PIPELINES.items()}  # both pipelines: (cmd, deps)


def test_both_pipelines_are_checked():
    assert {k.split(":")[0] for k in BOTH} == {"dvc.yaml", "study/dvc.yaml"}


@pytest.mark.parametrize("stage", sorted(BOTH))
def test_stage_deps_list_exactly_the_code_it_runs(stage):
    """A subpackage is the unit a stage lists: an edit anywhere in it reruns the stage."""
    cmd, deps = BOTH[stage]
    module = next(w for w in shlex.split(cmd) if w.startswith("stages."))
    listed = {d for d in deps if d.split("/")[0] in PROJECT_DIRS}
    expected = code_deps(module)
    missing, extra = sorted(expected - listed), sorted(listed - expected)
    assert not missing, f"{stage}: runs {', '.join(missing)}, missing from its deps"
    assert not extra, f"{stage}: lists {', '.join(extra)} in its deps, but never runs it"


@pytest.mark.parametrize("pipeline", ["dvc.yaml", "study/dvc.yaml"])
def test_the_teacher_goes_through_deep_compress_only_when_listed(tmp_path, pipeline):
    """deep_compress.teacher: [teacher] makes the stage deep_compress_teacher@teacher (its deps complete, its data
    deps what it reads), [] makes none: in both pipelines (with [] no matrix point exists for the test above)."""
    import os
    import shutil
    import subprocess
    from pathlib import Path

    import yaml
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    Repo.init(str(tmp_path)).close()
    folder = Path(pipeline).parent
    (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / pipeline, tmp_path / pipeline)
    params = yaml.safe_load((ROOT / folder / "params.yaml").read_text())
    for teacher in ([], [names.TEACHER]):
        params["deep_compress"]["teacher"] = teacher
        (tmp_path / folder / "params.yaml").write_text(yaml.safe_dump(params))
        with Repo(str(tmp_path)) as repo:
            stages = {s.addressing.split(":")[-1]: s for s in repo.index.stages
                      if s.addressing.split(":")[-1].startswith("deep_compress_teacher")}
            assert list(stages) == [f"deep_compress_teacher@{t}" for t in teacher]
            for stage in stages.values():
                deps = {os.path.normpath(folder / d.def_path) for d in stage.deps
                        if not isinstance(d, ParamsDependency)}
                module = next(w for w in shlex.split(stage.cmd) if w.startswith("stages."))
                assert {d for d in deps if d.split("/")[0] in PROJECT_DIRS} == code_deps(module), stage.addressing
                data_dir = os.path.normpath(folder / paths.DATA)
                views = paths.VIEWS if pipeline == "dvc.yaml" else paths.VIEW_RECIPE  # the study tracks its recipe
                assert {os.path.join(data_dir, os.path.relpath(p, paths.DATA)) for p in
                        (paths.TEACHER_MODEL, provenance.path(paths.TEACHER_MODEL), views)} <= deps


def test_no_stage_imports_another_stage():
    for script in sorted((ROOT / "stages").glob("*.py")):
        others = {str(f.relative_to(ROOT)) for f in imports(script) if f.parent.name == "stages" and f != script}
        assert not others, (f"{script.relative_to(ROOT)} imports {', '.join(sorted(others))}: "
                            "move what they share to distill/")


def test_closure_follows_function_level_imports_and_packages():
    # compress imports distill's modules inside main(); `from distill.training import loop` runs
    # distill/training/__init__.py too
    ran = runs("stages.compress")
    assert {"distill/__init__.py", "distill/compression/tflite.py", "distill/training/__init__.py",
            "distill/training/loop.py", "distill/data/__init__.py", "distill/core/names.py"} <= ran
    assert "stages/student.py" not in ran
    assert code_deps("stages.fetch") == {"stages/fetch.py", "distill/__init__.py", "distill/core", "distill/data"}


def _expected_outs(stage, module, args):
    """What each stage writes, in distill.paths' own terms."""
    kinds = names.TFLITE_KINDS
    if module == "stages.fetch":
        return {paths.MNIST, paths.MNIST_RECIPE}
    if module == "stages.views":
        return {paths.VIEWS}
    if module == "stages.teacher":
        t = names.TEACHER
        return {paths.TEACHER_MODEL, provenance.path(paths.TEACHER_MODEL), paths.TEACHER_FULL_RECORD, paths.live(t),
                paths.TEACHER_RECORD}
    if module == "stages.teacher_outputs":
        return ({paths.teacher_outputs(s, k) for s in data.SPLITS for k in paths.OUTPUT_KINDS}
                | {paths.VIEW_LOGITS, paths.VIEW_MIXED_LOGITS})
    if module == "stages.student":
        h = paths.HEADLINE
        return {paths.student_dir(h), paths.STUDENT_PREDICTIONS, paths.live(h), paths.STUDENT_RECORD}
    if module == "stages.sweep":
        arch, hidden, loss = args
        name = names.StudentSpec(arch, names.parse_widths(hidden), loss).name
        return {paths.student_dir(name), paths.sweep_record(name), paths.live(name)}
    if module == "stages.teacher_tflite":
        return {paths.tflite(names.TEACHER, k) for k in kinds} | {paths.compress_full_record(names.TEACHER),
                                                                   paths.compress_record(names.TEACHER)}
    if module == "stages.compress":
        (name,) = args
        return {paths.tflite(name, k) for k in kinds} | {paths.compress_full_record(name), paths.compress_record(name)}
    if module == "stages.deep_compress":
        (name,) = args
        return {paths.deep_dir(name), paths.deep_record(name)}
    if module == "stages.evaluate":
        return {paths.SUMMARY, paths.REPORT, paths.PLOTS}
    raise AssertionError(f"stage {stage}: {module} is not known to this test; add what it writes")


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_outs_are_the_paths_module_names(stage):
    cmd, _, outs = STAGES[stage]
    module, args = _command(cmd)
    assert set(outs) == _expected_outs(stage, module, args), f"stage {stage}: dvc.yaml and core/paths.py disagree"


def test_every_artifact_is_a_stage_output_a_user_ships():
    """dvc.yaml's `artifacts:` (what `dvc artifacts get` and model registries see): each is a file or folder
    some stage writes, and together they are the teacher, its .tflite files, the headline's and the .dcz."""
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        artifacts = repo.artifacts.read()["dvc.yaml"]
    produced = {o for _, _, outs in STAGES.values() for o in outs}
    for name, artifact in artifacts.items():
        assert artifact.path in produced, f"artifact {name}: {artifact.path} is no stage's output"
        assert artifact.type == "model" and artifact.desc, name
    paths_ = {a.path for a in artifacts.values()}
    assert {paths.TEACHER_MODEL, paths.tflite(names.TEACHER, names.FLOAT32), paths.tflite(names.TEACHER, names.INT8),
            paths.tflite(paths.HEADLINE, names.INT8)} <= paths_
    assert any(p.startswith(paths.DEEP_COMPRESSED + "/") for p in paths_)


def test_no_output_of_either_pipeline_holds_a_clock():
    """Wall-clock figures (metrics/timing/) are written beside the results but hashed by nothing: an output
    that held one would differ on every rerun, so its stage and everything downstream would rerun too."""
    import subprocess

    outs = {o for _, _, outs in PIPELINES.values() for o in outs}
    timing = [o for o in outs if re.search(rf"(^|/){paths.TIMING}/", o)]
    assert not timing, f"outputs that hold wall-clock figures: {timing}"
    for folder in (paths.TIMING, f"study/{paths.TIMING}"):
        probe = f"{folder}/probe.json"
        ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index", probe], cwd=ROOT).returncode == 0
        assert ignored, f"{probe} would be tracked by git: the timing files must stay out of commits"


def test_every_data_dep_is_another_stages_output():
    produced = {o for _, _, outs in STAGES.values() for o in outs}
    for stage, (_, deps, _) in STAGES.items():
        for d in deps:
            if d == TUNING:  # committed to git by bench/tune.py, not written by a stage
                assert (ROOT / d).is_file(), f"stage {stage}: depends on {d}, which is not committed"
            elif d.split("/")[0] not in PROJECT_DIRS:  # a file some stage writes, or a folder of such files
                assert d in produced or any(o.startswith(d + "/") for o in produced), \
                    f"stage {stage}: depends on {d}, which no stage writes"


def test_every_stage_but_evaluate_can_be_restored_from_the_run_cache():
    """DVC saves a stage to the run-cache only if every output is cached or is a metric or plot
    (dvc/stage/__init__.py, Stage.run: `no_cache_outs`). A git-tracked plain out would make every
    runner of the fan-out (distill/fanout.py) train that stage again instead of restoring it."""
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        for s in root_stages(repo):
            plain = [o.def_path for o in s.outs if not o.use_cache and not (o.is_metric or o.is_plot)]
            if s.addressing != "evaluate":  # downstream of everything: the gather step runs it anyway
                assert not plain, f"stage {s.addressing}: uncached outs {plain} keep it out of the run-cache"


def _params():
    """{stage: the params keys it lists} for the root dvc.yaml."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        return {s.addressing: {k for d in s.deps if isinstance(d, ParamsDependency) for k in d.params}
                for s in root_stages(repo)}


def _runs_tensorflow(files):
    return any(re.search(r"^\s*(import|from) (tensorflow|keras)\b", (ROOT / f).read_text(), re.M) for f in files)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_a_stage_that_runs_tensorflow_lists_the_thread_count_that_decides_its_bytes(stage):
    from distill.core import runtime

    module, _ = _command(STAGES[stage][0])
    listed = runtime.SECTION in _params()[stage]
    assert listed == _runs_tensorflow(runs(module)), (
        f"{stage}: {'lists' if listed else 'does not list'} params `{runtime.SECTION}`, but its command "
        f"{'does not run' if listed else 'runs'} TensorFlow")
