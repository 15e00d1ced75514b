"""The package's shape: no import cycle (deferred imports included), a shallow import stack,
thin stage scripts, and no module that imports a stage script."""
import ast

import pytest
from conftest import ROOT

MAX_LEVELS = 6  # a module that imports nothing of ours is level 1; any other, one above its deepest import
MAX_STAGE_LINES = 80


def _modules():
    found = {}
    for path in sorted((ROOT / "distill").rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        found[".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)] = path
    return found


MODULES = _modules()


def imports_of(path, known):
    """The modules of `known` that `path` imports anywhere in it, at the top or inside a function."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                    for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path.relative_to(ROOT)}: a relative import; the package imports absolutely")
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return {m for m in out if m in known}


GRAPH = {m: imports_of(p, MODULES) - {m} for m, p in MODULES.items()}


def levels():
    level = {}

    def of(module, stack):
        if module in stack:
            cycle = " -> ".join(stack[stack.index(module):] + (module,))
            raise AssertionError(f"import cycle: {cycle}")
        if module not in level:
            level[module] = 1 + max((of(d, stack + (module,)) for d in GRAPH[module]), default=0)
        return level[module]

    for module in GRAPH:
        of(module, ())
    return level


def test_no_import_cycle_and_at_most_six_levels():
    level = levels()
    deepest = max(level.values())
    too_deep = sorted(m for m, n in level.items() if n > MAX_LEVELS)
    assert not too_deep, f"{too_deep} sit above level {MAX_LEVELS} (the deepest: {deepest})"


def test_a_cycle_is_found_through_a_deferred_import(monkeypatch):
    monkeypatch.setitem(GRAPH, "distill", GRAPH["distill"] | {"distill.core.params"})  # what run() once did
    with pytest.raises(AssertionError, match="import cycle: distill -> distill.core.params -> distill"):
        levels()


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "stages").glob("*.py")))
def test_stage_scripts_are_thin(script):
    lines = len((ROOT / "stages" / script).read_text().splitlines())
    assert lines < MAX_STAGE_LINES, f"stages/{script}: {lines} lines; move its logic into distill/"


def test_no_module_imports_a_stage_script():
    stages = {f"stages.{p.stem}" for p in (ROOT / "stages").glob("*.py")} | {"stages"}
    for path in [*MODULES.values(), *sorted((ROOT / "bench").glob("*.py"))]:
        found = imports_of(path, stages)
        assert not found, f"{path.relative_to(ROOT)} imports {sorted(found)}: what they share belongs in distill/"


def test_the_study_only_code_is_named_so():
    """Only the study's stages run distill/study; its stage scripts are stages/study_*.py."""
    from test_dvc_yaml import BOTH, code_deps

    for stage, (cmd, _) in BOTH.items():
        module = next(w for w in cmd.split() if w.startswith("stages."))
        if "distill/study" in code_deps(module) or module.startswith("stages.study_"):
            assert stage.startswith("study/"), f"{stage} runs the study's code but is not in study/dvc.yaml"
