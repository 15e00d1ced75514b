"""`python bench/run.py --grid [POINT ...] [--workers 2]`: the grid phase, serial against workers.

In a clone of this repository that shares its DVC cache (so the upstream stages are checked out,
not run), the named grid points (stages or stage groups; default: sweep and sweep_mlp) are rerun
with `dvc repro -s -f` one after another, then all together with `python -m distill.fanout run
--workers N --force`. It checks that both give the same dvc.lock entries,
reports both times and the speed-up, projects the whole default run with workers from the full
run's stage times in the results, and adds all that under "grid" (the rest of the file stays).
"""
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, env, machine, write_results

from distill.core import paths

MIN_SPEEDUP = 1.25  # the target: the grid phase with 2 workers against serial on a 2-core machine
FULL_RUN_WITH_WORKERS_MAX_MINUTES = 30  # the target for the whole default run with workers


def measure(points, workers, out, kept):
    """The grid phase: `points` serially, then with `workers`; adds "grid" to `out`."""
    from distill import fanout

    tmp = Path(tempfile.mkdtemp(prefix="bench-grid-"))
    repo = tmp / "repo"
    try:
        subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
        # share the project's cache (hard links: nothing copied) so upstream stages are checked out
        subprocess.run(["cp", "-al", str(ROOT / ".dvc" / "cache"), str(repo / ".dvc" / "cache")], check=True)
        subprocess.run([sys.executable, "-m", "dvc", "checkout", "-q"], cwd=repo, env=env(), check=True)
        plan = fanout.load_plan(repo)
        stages = [s for s in plan.select(points) if s in {u for unit in plan.units for u in unit}]
        print(f"grid phase: {len(stages)} points in {repo}")
        print("1. serial: `dvc repro -s -f` one after another")
        serial, each = time.time(), {}
        for stage in stages:
            began = time.time()
            r = subprocess.run([sys.executable, "-m", "dvc", "repro", "-s", "-f", stage], cwd=repo, env=env(),
                               capture_output=True, text=True)
            if r.returncode:
                sys.exit(f"dvc repro -s -f {stage} failed:\n{r.stdout}{r.stderr}")
            each[stage] = round(time.time() - began, 1)
            print(f"  {stage:32s} {each[stage]:7.1f}s", flush=True)
        serial = round(time.time() - serial, 1)
        serial_lock = fanout.lock_entries((repo / "dvc.lock").read_text(), stages)
        print(f"2. {workers} workers: `python -m distill.fanout run --workers {workers} --force`")
        began = time.time()
        r = subprocess.run([sys.executable, "-m", "distill.fanout", "run", "--workers", str(workers), "--force",
                            *stages], cwd=repo, env=env(), text=True)
        if r.returncode:
            sys.exit("the fan-out failed")
        parallel = round(time.time() - began, 1)
        same = fanout.lock_entries((repo / "dvc.lock").read_text(), stages) == serial_lock
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    speedup = round(serial / parallel, 3)
    projected = project(kept, plan, speedup)
    result = dict(kept)
    result["grid"] = {
        "machine": machine(), "points": stages, "workers": workers,
        "serial_seconds": serial, "workers_seconds": parallel, "speedup": speedup,
        "identical_lock_entries": same, "serial_stage_seconds": each,
        "full_run_with_workers_minutes_projected": projected,
        "projection": "full_run's stage times, with the grid units' divided by the measured speed-up (not run)",
        "targets": {"speedup_min": MIN_SPEEDUP, "speedup_met": speedup >= MIN_SPEEDUP and same,
                    "full_run_with_workers_max_minutes": FULL_RUN_WITH_WORKERS_MAX_MINUTES},
    }
    write_results(out, result)
    print(f"grid phase: serial {serial:.0f}s, {workers} workers {parallel:.0f}s: {speedup:.2f}x "
          f"(goal >= {MIN_SPEEDUP}x), identical dvc.lock entries: {same}")
    if projected:
        print(f"whole default run with {workers} workers, projected: {projected} min "
              f"(goal <= {FULL_RUN_WITH_WORKERS_MAX_MINUTES})")
    print(f"written: {out} (grid)")


def project(kept, plan, speedup):
    """Minutes of the whole default run with workers: the full run's stage times as measured, the grid
    units' divided by `speedup`; None before any full run."""
    full = dict(kept.get("full_run", {}).get("stages", {}))  # a copy: full_run stays as measured
    if not full:
        return None
    for name in plan.deps:  # deep stages newer than that run: the seconds they record themselves
        if name not in full and name.startswith("deep_compress"):
            record = ROOT / paths.timing("deep_compress-" + name.split("@", 1)[1])
            if record.is_file():  # untracked wall-clock: there only where the stage ran in this checkout
                full[name] = {"seconds": json.loads(record.read_text())["seconds"]}
    unit_seconds = sum(full.get(s, {}).get("seconds", 0) for u in plan.units for s in u)
    other = sum(v["seconds"] for v in full.values()) - unit_seconds
    return round((other + unit_seconds / speedup) / 60, 1)
