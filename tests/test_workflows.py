"""The GitHub workflows: valid against GitHub's schema (check-jsonschema's vendored copy, offline),
clean under zizmor (offline) and actionlint, every action pinned to a commit, ci.yml running .ci/run,
and the grid workflow's matrix and commands come from distill/fanout.py and dvc.yaml."""
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import ROOT

from distill import fanout

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONS = sorted((ROOT / ".github" / "actions").glob("*/action.yml"))
GRID = ROOT / ".github" / "workflows" / "grid.yml"
CI = ROOT / ".github" / "workflows" / "ci.yml"
CHECK = [sys.executable, "-m", "check_jsonschema"]


def check(schema, *files):
    return subprocess.run([*CHECK, "--builtin-schema", schema, *map(str, files)], capture_output=True, text=True)


def test_workflows_and_actions_follow_githubs_schema():
    assert GRID in WORKFLOWS and ACTIONS
    r = check("vendor.github-workflows", *WORKFLOWS)
    assert r.returncode == 0, r.stdout + r.stderr
    r = check("vendor.github-actions", *ACTIONS)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_check_would_catch_a_broken_workflow(tmp_path):
    bad = yaml.safe_load(GRID.read_text())
    bad["jobs"]["share"]["strategy"]["matrix"] = "not a matrix"
    del bad["jobs"]["gather"]["runs-on"]
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(bad))
    assert check("vendor.github-workflows", path).returncode == 1


def tool(name):
    """A linter from requirements-dev.txt: the one beside this interpreter (its venv), else on PATH."""
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    assert found, f"{name} not found: pip install -r requirements-dev.txt"
    return found


def test_zizmor_finds_nothing():
    """zizmor's offline audits (the regular persona): pinned actions, least-privilege permissions,
    no persisted checkout credentials, no template injection."""
    r = subprocess.run([tool("zizmor"), "--offline", "--no-progress", "--color=never",
                        str(ROOT / ".github" / "workflows"), str(ROOT / ".github" / "actions")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and "No findings to report" in r.stdout, r.stdout + r.stderr


def test_actionlint_finds_nothing():
    """actionlint on every workflow (it reads the local action's metadata through them). Its shellcheck and
    pyflakes integrations are off so that the result does not depend on what else the machine has."""
    r = subprocess.run([tool("actionlint"), "-no-color", "-shellcheck=", "-pyflakes=", *map(str, WORKFLOWS)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and not r.stdout.strip(), r.stdout + r.stderr


def uses(path):
    """Every `uses:` line of a workflow or action file: (what, the comment after it)."""
    return re.findall(r"^\s*-?\s*uses:\s*(\S+)[ \t]*(?:#[ \t]*(.*))?$", path.read_text(), re.MULTILINE)


def test_every_action_is_pinned_to_a_commit_with_its_tag_beside_it():
    found = [u for path in (*WORKFLOWS, *ACTIONS) for u in uses(path)]
    remote = [(what, comment) for what, comment in found if not what.startswith("./")]
    assert remote and len(found) == sum(p.read_text().count("uses:") for p in (*WORKFLOWS, *ACTIONS))
    for what, comment in remote:
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", what), what
        assert re.match(r"v\d+\.\d+\.\d+\b", comment), f"{what}: no release tag in its comment"


def test_ci_runs_the_projects_ci_script():
    """ci.yml runs .ci/run, the one place CI's commands live, instead of repeating them."""
    job = yaml.safe_load(CI.read_text())["jobs"]["test-and-reproduce"]
    steps = [s["run"] for s in job["steps"] if "run" in s]
    assert steps == ["bash .ci/run"]
    step = next(s for s in job["steps"] if "run" in s)
    assert step["env"]["CI"] == "true"
    assert job["timeout-minutes"] == 90
    checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0  # the gate and dvc metrics diff read history


def grid():
    return yaml.safe_load(GRID.read_text())


def runs(job):
    return "\n".join(step.get("run", "") for step in grid()["jobs"][job]["steps"])


def test_the_matrix_is_the_plan_of_dvc_yaml():
    jobs = grid()["jobs"]
    assert jobs["share"]["strategy"]["matrix"] == {"include": "${{ fromJSON(needs.plan.outputs.shares) }}"}
    assert jobs["plan"]["outputs"]["shares"] == "${{ steps.split.outputs.shares }}"
    split = next(s for s in jobs["plan"]["steps"] if s.get("id") == "split")
    assert 'python -m distill.fanout plan --shares "$SHARES" --json' in split["run"]
    assert jobs["share"]["needs"] == "plan" and jobs["gather"]["needs"] == "share"
    assert "dvc repro --pull" in runs("gather") and "dvc metrics diff" in runs("gather")
    assert "$GITHUB_STEP_SUMMARY" in runs("gather")
    for job in ("plan", "share", "gather"):  # every job pushes what it ran, with the run-cache
        assert "python -m distill.fanout push" in runs(job)


def test_every_fanout_command_in_the_workflow_parses():
    values = {"$SHARES": "4", '"$SHARE"': "1/4", "$SHARE": "1/4"}
    commands = re.findall(r"python -m distill\.fanout ([^;&|>\n)]+)", "\n".join(runs(j) for j in grid()["jobs"]))
    assert len(commands) >= 5
    for command in commands:
        for k, v in values.items():
            command = command.replace(k, v)
        args = fanout.parser().parse_args(shlex.split(command))  # argparse exits on an unknown flag
        assert args.command in ("run", "plan", "push")


def test_secrets_are_documented():
    text = GRID.read_text() + (ROOT / ".github" / "actions" / "setup" / "action.yml").read_text()
    secrets = set(re.findall(r"secrets\.([A-Z_]+)", text))
    assert secrets == {"DVC_REMOTE_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    readme = (ROOT / "README.md").read_text()
    assert all(s in readme for s in secrets)


def test_the_remote_plugin_is_pinned_and_installed():
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements-remote.txt").read_text().splitlines()]
    pins = [line for line in lines if line and not line.startswith("-r")]
    assert pins and all(re.fullmatch(r"[\w.-]+==[\w.]+", p) for p in pins)
    assert "-r requirements.txt" in lines
    setup = yaml.safe_load((ROOT / ".github" / "actions" / "setup" / "action.yml").read_text())
    assert any("pip install -q -r requirements-remote.txt" in s.get("run", "") for s in setup["runs"]["steps"])
