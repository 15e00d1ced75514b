"""distill/fanout.py: the DAG's parts and shares on the real dvc.yaml, and workers on a toy DVC repo."""
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
import yaml
from conftest import ROOT

from distill import fanout


@pytest.fixture(scope="module")
def plan():
    return fanout.load_plan(ROOT)


def test_parts_of_the_real_pipeline(plan):
    assert plan.upstream == ["fetch", "views", "teacher", "teacher_outputs", "student", "teacher_tflite"]
    assert plan.downstream == ["evaluate"]
    unit_of = {s: i for i, unit in enumerate(plan.units) for s in unit}
    parts = plan.upstream + plan.downstream + list(unit_of)
    assert sorted(parts) == sorted(plan.deps) and len(parts) == len(set(parts))  # every stage in one part
    grid = [s for s in plan.deps if "@" in s]
    assert set(grid) <= set(unit_of)
    assert not [s for s in plan.deps if ":" in s]  # the default pipeline only: the study is study/dvc.yaml's
    # a point and the grid stages that read it travel together; distinct points do not
    assert unit_of["sweep_mlp@64-kd"] == unit_of["deep_compress@mlp-64-kd"]
    assert unit_of["sweep@2-kd"] != unit_of["sweep@2-hard"]
    for unit in plan.units:  # units depend only on upstream stages and their own members
        assert {d for s in unit for d in plan.deps[s]} <= set(plan.upstream) | set(unit)


@pytest.mark.parametrize("count", [1, 2, 3, 7, 1000])
def test_shares_partition_the_units(plan, count):
    shares = plan.shares(count)
    assert len(shares) == min(count, len(plan.units))
    flat = [s for share in shares for s in share]
    assert sorted(flat) == sorted(s for unit in plan.units for s in unit)  # each unit once, in one share
    for unit in plan.units:
        assert sum(set(unit) <= set(share) for share in shares) == 1


def test_shares_balance_expected_time():
    units = [["a"], ["b"], ["c"], ["d"], ["e"]]
    seconds = {"a": 10, "b": 9, "c": 5, "d": 4, "e": 1}
    p = fanout.Plan({u[0]: [] for u in units}, [], units, [], seconds)
    shares = p.shares(2)
    assert sorted(sum(seconds[s] for s in share) for share in shares) == [14, 15]  # LPT: 10+4+1 | 9+5
    assert all(share == sorted(share) for share in shares)  # dvc.yaml's order within a share


def test_closure_runs_dependencies_first(plan):
    chain = plan.closure(["deep_compress@mlp-64-kd"])
    assert set(chain) == {"fetch", "views", "teacher", "teacher_outputs", "teacher_tflite",
                          "sweep_mlp@64-kd", "deep_compress@mlp-64-kd"}
    assert all(chain.index(d) < chain.index(s) for s in chain for d in plan.deps[s])
    assert plan.select(["sweep_mlp"]) == [s for s in plan.deps if s.startswith("sweep_mlp@")]


def test_costs_come_from_the_benchmark(plan):
    bench = json.loads((ROOT / "bench" / "results.json").read_text())["full_run"]["stages"]
    assert plan.seconds["teacher"] == bench["teacher"]["seconds"]
    missing = [s for s in plan.deps if s not in bench]
    for s in missing:  # a stage the benchmark lacks counts as the mean of the others
        assert plan.seconds[s] == pytest.approx(sum(v["seconds"] for v in bench.values()) / len(bench))


def cli(*args, cwd=ROOT):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DVC_NO_ANALYTICS": "1"}
    return subprocess.run([sys.executable, "-m", "distill.fanout", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_plan_json_is_a_matrix_of_every_unit(plan):
    r = cli("plan", "--shares", "3", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [row["share"] for row in rows] == ["1/3", "2/3", "3/3"]
    assert sorted(s for row in rows for s in row["stages"].split()) == sorted(s for u in plan.units for s in u)


@pytest.mark.parametrize("args, message", [
    (["run", "-w", "0"], "fanout: --workers must be at least 1, got 0"),
    (["run", "--cores-per-worker", "0"], "fanout: --cores-per-worker must be at least 1, got 0"),
    (["run", "--share", "4/3"], "fanout: --share must be K/M with 1 <= K <= M (e.g. 2/4), got '4/3'"),
    (["run", "--share", "x"], "fanout: --share must be K/M with 1 <= K <= M (e.g. 2/4), got 'x'"),
    (["run", "--share", "1/999"], "fanout: --share 1/999: the grid has only"),
    (["run", "nosuch"], "fanout: no stage or stage group named 'nosuch' in dvc.yaml"),
    (["plan", "--shares", "0"], "fanout: --shares must be at least 1, got 0"),
])
def test_bad_flags_are_refused_in_one_line(args, message):
    r = cli(*args)
    assert r.returncode == 1 and r.stderr.startswith(message) and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not r.stdout


def test_outside_a_project_is_refused(tmp_path):
    r = cli("plan", cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.strip() == "fanout: no dvc.yaml here: run from the project's root"


# A toy pipeline: make -> 4 points (a matrix) -> gather, plus a stage that fails when asked to.
STAGE = textwrap.dedent("""\
    import json, os, sys, time
    name, out = sys.argv[1], sys.argv[2]
    if os.path.exists("fail-" + name):
        sys.exit("told to fail")
    began = time.time()
    time.sleep(float(os.environ.get("TOY_SLEEP", "1.5")))
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "w") as f:
        json.dump({"name": name, "began": began, "ended": time.time(), "cores": sorted(os.sched_getaffinity(0))}, f)
""")
TOY = {
    "stages": {
        "make": {"cmd": "python toy.py make out/make.json", "deps": ["toy.py"], "outs": ["out/make.json"]},
        "point": {"matrix": {"x": [1, 2, 3, 4]}, "cmd": "python toy.py p${item.x} out/p${item.x}.json",
                  "deps": ["toy.py", "out/make.json"], "outs": ["out/p${item.x}.json"]},
        "gather": {"cmd": "python toy.py gather out/gather.json",
                   "deps": ["toy.py", "out/p1.json", "out/p2.json", "out/p3.json", "out/p4.json"],
                   "outs": ["out/gather.json"]},
    }
}


@pytest.fixture
def toy(tmp_path):
    (tmp_path / "toy.py").write_text(STAGE)
    (tmp_path / "params.yaml").write_text("runtime: {tf_threads: 1}\n")  # what fanout pins workers by
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(TOY, sort_keys=False))
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    for cmd in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"]):
        subprocess.run(cmd, cwd=tmp_path, check=True, env=env)
    return tmp_path


def records(path):
    return {p.stem: json.loads(p.read_text()) for p in (path / "out").glob("*.json")}


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="pinning needs Linux")
def test_workers_run_points_side_by_side_and_record_every_stage(toy):
    r = cli("run", "-w", "2", cwd=toy)
    assert r.returncode == 0, r.stdout + r.stderr
    got = records(toy)
    assert sorted(got) == ["gather", "make", "p1", "p2", "p3", "p4"]
    points = [got[f"p{i}"] for i in range(1, 5)]
    assert all(got["make"]["ended"] <= p["began"] and p["ended"] <= got["gather"]["began"] for p in points)
    overlaps = sum(a["began"] < b["ended"] and b["began"] < a["ended"] for a in points for b in points if a is not b)
    assert overlaps >= 2  # two at a time...
    for p in points:  # ...but never three
        assert sum(q["began"] <= p["began"] < q["ended"] for q in points) <= 2
    cores = sorted(os.sched_getaffinity(0))
    assert all(len(p["cores"]) == 1 and p["cores"][0] in cores for p in points)  # each pinned to one core
    if len(cores) > 1:
        assert len({p["cores"][0] for p in points}) == 2  # the two workers on different cores
    lock = yaml.safe_load((toy / "dvc.lock").read_text())["stages"]
    assert sorted(lock) == ["gather", "make", "point@1", "point@2", "point@3", "point@4"]
    status = subprocess.run([sys.executable, "-m", "dvc", "status", "--json"], cwd=toy, capture_output=True, text=True)
    assert json.loads(status.stdout) == {}
    assert "6 stages in" in r.stdout and "6 ran" in r.stdout
    again = cli("run", "-w", "2", cwd=toy)  # DVC, not the fan-out, decides: nothing changed, nothing runs
    assert again.returncode == 0 and "6 up to date" in again.stdout, again.stdout
    assert records(toy) == got


def test_a_failed_stage_stops_what_depends_on_it(toy):
    (toy / "fail-p2").write_text("")
    r = cli("run", "-w", "2", cwd=toy)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [  # like dvc repro: nothing new starts, the running point finishes
        "fanout: stage 'point@2' failed; 2 finished, 3 not started (rerun the same command to go on)"]
    assert re.search(r"stage 'point@2' failed \(exit \d+\); log \.dvc/tmp/fanout/point@2\.log", r.stdout), r.stdout
    assert "told to fail" in r.stdout  # the log's tail, shown
    assert sorted(records(toy)) == ["make", "p1"]
    r = cli("run", "-w", "2", "--keep-going", cwd=toy)
    assert r.returncode == 1 and r.stderr.strip().splitlines() == [
        "fanout: stage 'point@2' failed; 4 finished, 1 not started (rerun the same command to go on)"]
    assert sorted(records(toy)) == ["make", "p1", "p3", "p4"]  # the other points ran; gather never started
    assert sorted(yaml.safe_load((toy / "dvc.lock").read_text())["stages"]) == ["make", "point@1", "point@3", "point@4"]
    (toy / "fail-p2").unlink()
    r = cli("run", "-w", "2", cwd=toy)  # the same command goes on from where it stopped
    assert r.returncode == 0 and "2 ran, 4 up to date" in r.stdout, r.stdout
    assert re.search(r"ran +point@2 ", r.stdout) and re.search(r"ran +gather ", r.stdout)


def test_force_reruns_the_named_stages_only(toy):
    assert cli("run", cwd=toy).returncode == 0
    (toy / "params.yaml").write_text("runtime: {tf_threads: 2}\n")  # not a dep of the toy: reruns nothing
    r = cli("run", "-w", "2", "--force", "point@3", cwd=toy)
    assert r.returncode == 0 and "1 ran, 1 up to date" in r.stdout, r.stdout  # make checked, not rerun
    rerun = records(toy)["p3"]  # two TF threads on a one-core share: left to the OS, not pinned
    assert rerun["cores"] == sorted(os.sched_getaffinity(0))
    assert "2 TF threads, not pinned" in r.stdout


def test_readers_invert_the_graph_once(plan):
    readers = plan.readers["teacher_tflite"]
    assert readers and all("teacher_tflite" in plan.deps[r] for r in readers)
    assert plan.readers["evaluate"] == []
    p = fanout.Plan({"a": [], "b": ["a"], "c": ["a", "b"]}, [], [], [], {})
    assert p.readers == {"a": ["b", "c"], "b": ["c"], "c": []}


def test_lock_entries_are_the_lock_s_stages():
    text = yaml.safe_dump({"schema": "2.0", "stages": {"student": {"cmd": "s", "outs": [{"path": "a", "md5": "x"}]},
                                                       "fetch": {"cmd": "f"}}})
    assert fanout.lock_entries(text) == {"student": {"cmd": "s", "outs": [{"path": "a", "md5": "x"}]},
                                         "fetch": {"cmd": "f"}}
    assert list(fanout.lock_entries(text, ["student"])) == ["student"]


def test_gather_refuses_a_ref_without_the_lock_and_writes_nothing(toy):
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    for cmd in (["git", "add", "-A"], ["git", "commit", "-qm", "no run yet"]):
        subprocess.run(cmd, cwd=toy, check=True, env=env)
    with pytest.raises(fanout.FanoutError, match=r"HEAD: no dvc.lock to gather"):
        fanout.gather(["HEAD"], root=toy)
    assert not (toy / "dvc.lock").exists()
    r = subprocess.run([sys.executable, "-m", "distill.fanout", "gather", "nosuchbranch"], cwd=toy,
                       capture_output=True, text=True, env={**env, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 1 and r.stderr.startswith("fanout: nosuchbranch: no dvc.lock to gather"), r.stderr
