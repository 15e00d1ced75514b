"""The package's shape: no import cycle (deferred imports included), a shallow import stack,
thin stage scripts, and no module that imports a stage script."""
import ast

import pytest
from conftest import ROOT
from test_dvc_yaml import imports

MAX_LEVELS = 6  # a module that imports nothing of ours is level 1; any other, one above its deepest import
MAX_STAGE_LINES = 80


def _modules():
    found = {}
    for path in sorted((ROOT / "distill").rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        found[".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)] = path
    return found


MODULES = _modules()


NAMES = {path: module for module, path in MODULES.items()}
# what each module imports, by the walk that proves the stages' deps (a package's __init__ counts too)
GRAPH = {m: {NAMES[f] for f in imports(p) if f in NAMES} - {m} for m, p in MODULES.items()}


def test_the_package_imports_absolutely():
    for path in MODULES.values():
        relative = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ImportFrom) and n.level]
        assert not relative, f"{path.relative_to(ROOT)}: a relative import; the package imports absolutely"


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
    for path in [*MODULES.values(), *sorted((ROOT / "bench").glob("*.py"))]:
        found = sorted(str(f.relative_to(ROOT)) for f in imports(path) if f.parent == ROOT / "stages")
        assert not found, f"{path.relative_to(ROOT)} imports {found}: what they share belongs in distill/"


def test_the_study_only_code_is_named_so():
    """Only the study's stages run distill/study; its stage scripts are stages/study_*.py."""
    from test_dvc_yaml import BOTH, code_deps

    for stage, (cmd, _) in BOTH.items():
        module = next(w for w in cmd.split() if w.startswith("stages."))
        if "distill/study" in code_deps(module) or module.startswith("stages.study_"):
            assert stage.startswith("study/"), f"{stage} runs the study's code but is not in study/dvc.yaml"
