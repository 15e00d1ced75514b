"""The GitHub workflows: valid against GitHub's schema (check-jsonschema's vendored copy, offline),
and the grid workflow's matrix and commands come from distill/fanout.py and dvc.yaml."""
import re
import shlex
import subprocess
import sys

import yaml
from conftest import ROOT

from distill import fanout

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONS = sorted((ROOT / ".github" / "actions").glob("*/action.yml"))
GRID = ROOT / ".github" / "workflows" / "grid.yml"
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
