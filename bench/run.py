"""Benchmark the pipeline: full run, incremental experiment, overhead over plain Keras, inference.

    python bench/run.py [--out bench/results.json] [--hidden 8] [--keep] [--inference-only CLONE]
    python bench/run.py --grid [POINT ...] [--workers 2]     # the grid phase, serial against workers
    python bench/run.py --sep-epoch [--rounds 6]              # one sep epoch: Keras's BatchNorm vs the fused one

In a fresh clone of this repository (empty DVC cache), it measures and prints:
  1. wall time and peak RSS of every stage of the full default `dvc repro`, and the total;
  2. `dvc exp run -S student.hidden=N` right after it, as a share of the full run;
  3. the teacher stage against a bare `model.fit` of the same network, epochs, batch size and data;
  4. inference throughput of the headline student and the frontier students against the teacher,
     at batch 1 and batch 1000 (Keras, raw images in: a head student runs behind the teacher's convs);
  5. one epoch of a reference CNN, to compare this machine with the one the targets were set on;
then writes these figures, with the machine it ran on, to --out, keeping the keys the other modes wrote.

--grid measures the grid phase alone (issue 15): in a clone of this repository that shares its DVC
cache (so the upstream stages are checked out, not run), the named grid points (stages or stage
groups; default: the mlp and cnn families) are rerun with `dvc repro -s -f` one after another, then
all together with `python -m distill.fanout run --workers N --force`. It checks that both give the
same dvc.lock entries (wall-clock files aside), reports both times and the speed-up, projects the
whole default run with workers from the full run's stage times above, and adds all that to --out
under "grid" (the rest of the file stays).

--sep-epoch measures one epoch of a sep network (sep-8-24-2, kd, batch 128, 55,000 images at one of
their cached views each, validation scored after it: what a study seed stage does each epoch) two ways
side by side: as issue 24 found it (Keras's BatchNormalization) and as now (models.BatchNorm, the fused
kernel). Run it in this repository after `dvc repro study/dvc.yaml:teacher_outputs` (it reads the
study's views and teacher logits). Both networks live in one process and train epoch by epoch in
turn (--rounds epochs each, after one untimed epoch that traces), so whatever else loads the machine
falls on both alike. Adds "sep_epoch" to --out (the rest of the file stays).
"""
import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: `python bench/run.py`
from distill.core import names, paths  # noqa: E402

# The speed targets (issue 23): the full default run from an empty cache, and a new headline student
# (`dvc exp run -S student.hidden=N`) as a share of it.
FULL_RUN_MAX_MINUTES = 15  # issue 23 (moonshot: FULL_RUN_MOONSHOT_MINUTES)
FULL_RUN_MOONSHOT_MINUTES = 10
TEACHER_MAX_RATIO = 1.10  # the teacher stage against a bare fit of the same network and data
PEAK_RSS_MAX_GB = 4
INCREMENTAL_MAX_SHARE = 0.05
# The machine the targets were set on: one epoch of the 8,754-param CNN (cnn-8-16-16-32, batch 128,
# 55,000 images) took 7.1 s there (issue 12). Step 5 times the same epoch here, so a run on a slower
# or faster host can be read against the target.
REFERENCE_EPOCH_SECONDS = 7.1


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cores": os.cpu_count(), "cpu": cpu, "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "platform": platform.platform()}


def env():
    mirror = ROOT.parent / "shared" / "data" / "mnist"  # the clone lives elsewhere: point fetch at the mirror
    extra = {"MNIST_MIRROR": str(mirror)} if mirror.is_dir() and "MNIST_MIRROR" not in os.environ else {}
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "TF_CPP_MIN_LOG_LEVEL": "2", **extra}


def timed_dvc(args, cwd, log):
    """Run `dvc <args>`, timing each stage it runs and sampling its processes' peak RSS."""
    proc = subprocess.Popen([sys.executable, "-m", "dvc", *args], cwd=cwd, env=env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=1)
    stages, current, lock = {}, [None], threading.Lock()
    start = time.time()

    def sample():
        parent = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                rss = sum(c.memory_info().rss for c in parent.children(recursive=True))
            except psutil.Error:
                rss = 0
            with lock:
                if current[0]:
                    stages[current[0]]["peak_rss_mb"] = max(stages[current[0]]["peak_rss_mb"], rss / 2**20)
            time.sleep(0.1)

    threading.Thread(target=sample, daemon=True).start()
    for line in proc.stdout:
        log.write(line)
        m = re.match(r"Running stage '([^']+)'", line)
        if m:
            now = time.time()
            with lock:
                if current[0]:
                    stages[current[0]]["seconds"] = round(now - stages[current[0]]["start"], 1)
                current[0] = m.group(1)
                stages[current[0]] = {"start": now, "peak_rss_mb": 0.0}
            print(f"  [{now - start:7.1f}s] {current[0]}", flush=True)
    proc.wait()
    end = time.time()
    with lock:
        if current[0]:
            stages[current[0]]["seconds"] = round(end - stages[current[0]]["start"], 1)
    if proc.returncode:
        sys.exit(f"dvc {' '.join(args)} failed; see the log")
    for s in stages.values():
        s.pop("start")
        s["peak_rss_mb"] = round(s["peak_rss_mb"])
    return round(end - start, 1), stages


BARE_FIT = """
import json, sys, time
from distill import data, models, paths, training, views
from distill import params as P
from distill.training.config import TeacherConfig
cfg = P.section("teacher", TeacherConfig)
training.set_determinism(cfg.seed)
mnist = data.load()
x, y = data.images(mnist["x_train"]), mnist["y_train"]
val = (data.images(mnist["x_val"]), mnist["y_val"])
model = training.compile_teacher(models.teacher(), len(x), cfg)  # exactly as the teacher stage does
t = time.time()
if cfg.augment:  # the same cached views, in the same batches
    batches = training.Batches.of_views(views.load(paths.VIEW_IMAGES, paths.VIEW_MIX, y), lambda k, i: y[i],
                                            cfg.batch_size, seed=cfg.seed, mix=False)
    model.fit(batches, epochs=cfg.epochs, verbose=0, validation_data=val)
else:
    model.fit(x, y, batch_size=cfg.batch_size, epochs=cfg.epochs, verbose=0, validation_data=val)
print(json.dumps({"fit_seconds": time.time() - t}))
"""

REFERENCE_EPOCH = """
import json, time
import keras
from distill import data, models, names, training
training.set_determinism(0)
mnist = data.load()
x, y = data.images(mnist["x_train"]), mnist["y_train"]
model = models.student(names.CNN, (8, 16, 16, 32))
model.compile(optimizer=keras.optimizers.Adam(0.01), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
model.fit(x[:1280], y[:1280], batch_size=128, epochs=1, verbose=0)  # build and trace outside the timing
t = time.time()
model.fit(x, y, batch_size=128, epochs=1, verbose=0)
print(json.dumps({"epoch_seconds": time.time() - t}))
"""

SEP_EPOCH_MAX_SHARE = 0.5  # issue 24: a sep epoch at <= 50% of the time it took when the issue was filed

SEP_EPOCH = """
import json, sys, time
from distill import runtime
runtime.pin_threads()  # the study's runtime.tf_threads, before TensorFlow starts, as its seed stages do
import keras
from distill import data, losses, models, names, students, study, training
rounds = json.loads(sys.argv[1])
cfg = study.load().family(names.SEP)
spec = names.StudentSpec(names.SEP, (8, 24, 2), names.KD)
train = study.train_config(cfg.train, 1, 0)
mnist = data.load()
val = students.examples(students.student_data(names.SEP, data.VAL, mnist))
val = training.Batches(val[0], val[1], students.VALIDATION_BATCH, shuffle=False, transform=val[2])
cached = students.view_data(mnist["y_train"])
fused = models.BatchNorm
runs = {}
for variant, norm in (("before", keras.layers.BatchNormalization), ("now", fused)):
    models.BatchNorm = norm  # before: the sep network as issue 24 found it, Keras's own BatchNormalization
    training.set_determinism(0)
    model = models.student(spec.arch, spec.widths)
    batches = students.view_batches(*cached, train.batch_size, 0)
    # the seed stage's own compile and first epoch (tracing included, not timed)
    students.fit_student(model, losses.get(spec.loss, train), batches, train, 0, "bench")
    runs[variant] = (model, batches, type(model.layers[2]).__name__)
models.BatchNorm = fused
seconds = {v: [] for v in runs}
for _ in range(rounds):  # alternating epochs in one process: the machine's other load falls on both alike
    for variant, (model, batches, _) in runs.items():
        t = time.time()
        model.fit(batches, epochs=1, verbose=0, validation_data=val)
        seconds[variant].append(time.time() - t)
print(json.dumps({"seconds": seconds, "batchnorm": {v: r[2] for v, r in runs.items()}}))
"""


def read_results(out):
    """`out` as it stands: each mode adds its keys and keeps the others. Read before a long run, so a
    damaged file stops it at once instead of after the measurements."""
    path = Path(out)
    if not path.is_file():
        return {}
    try:
        result = json.loads(path.read_text())
    except ValueError as e:
        sys.exit(f"{out}: not valid JSON ({e}); mend or remove it before benchmarking")
    if not isinstance(result, dict):
        sys.exit(f"{out}: not a JSON object; mend or remove it before benchmarking")
    return result


def write_results(out, result):
    from distill.core import files

    files.write_json(out, result)  # a temporary name, then a rename: never half-written


def sep_epoch(rounds, out, kept):
    """Step --sep-epoch: one sep epoch with Keras's BatchNormalization (before) and with
    models.BatchNorm (now), alternating epoch by epoch in one process, `rounds` epochs each; adds
    the medians and their ratio to `out`."""
    study = ROOT / "study"
    if not (study / paths.VIEW_LOGITS).is_file():
        sys.exit(f"--sep-epoch reads the study's views and teacher logits: run `dvc repro "
                 f"study/dvc.yaml:teacher_outputs` first (no {study / paths.VIEW_LOGITS})")
    got = python_json(SEP_EPOCH, rounds, study, pythonpath=ROOT)
    times = {v: [round(t, 2) for t in ts] for v, ts in got["seconds"].items()}
    for v, ts in times.items():
        print(f"  {v:6s} ({got['batchnorm'][v]}): {', '.join(f'{t:.2f}' for t in ts)} s per epoch")
    before, after = statistics.median(times["before"]), statistics.median(times["now"])
    result = dict(kept)
    result["sep_epoch"] = {
        "network": "sep-8-24-2, kd, batch 128, 55,000 images at one cached view each, validation after",
        "before_seconds": times["before"], "now_seconds": times["now"],
        "before_median": before, "now_median": after, "share": round(after / before, 3),
        "share_of_minimums": round(min(times["now"]) / min(times["before"]), 3),
        "max_share": SEP_EPOCH_MAX_SHARE, "met": after / before <= SEP_EPOCH_MAX_SHARE,
        "machine": machine(),
        "how": (f"`python bench/run.py --sep-epoch --rounds {rounds}` after "
                "`dvc repro study/dvc.yaml:teacher_outputs`: "
                "before = Keras's BatchNormalization, now = models.BatchNorm (TensorFlow's fused kernel), everything "
                "else the seed stage's code (students.fit_student's compile, Batches of the cached views, "
                "validation after each epoch); both networks in one process, compiled and traced by one untimed "
                "epoch each, then timed epochs alternating before/now"),
    }
    write_results(out, result)
    print(f"sep epoch: {before:.2f}s before, {after:.2f}s now (medians): {after / before:.0%} "
          f"(target <= {SEP_EPOCH_MAX_SHARE:.0%}); written: {out}")


INFERENCE = """
import json, statistics, sys, time
import numpy as np
from distill import compression, data, files, names, paths
students = json.loads(sys.argv[1])
mnist = data.load()
x = data.images(mnist["x_test"][:1000])
teacher = files.load_model(paths.TEACHER_MODEL, compile=False)
out = {}
for name in students:
    if name == names.TEACHER:
        model = teacher
    else:  # its first seed's model; a head student runs behind the teacher's conv layers, as it ships
        student = files.load_model(paths.student_model(name, paths.student_seeds(name)[0]), compile=False)
        model = compression.deployable(student.name, student, teacher)
    row = {}
    for batch in (1, 1000):
        xb = np.asarray(x[:batch])
        model.predict_on_batch(xb)
        times = []
        for _ in range(50 if batch == 1 else 5):
            t = time.perf_counter()
            model.predict_on_batch(xb)
            times.append(time.perf_counter() - t)
        row[f"images_per_second_batch{batch}"] = round(batch / statistics.median(times), 1)
    out[name] = row
print(json.dumps(out))
"""


def inference(repo):
    """Throughput of the teacher, the headline student and the frontier students (Keras, raw images in)."""
    summary = json.loads((repo / paths.SUMMARY).read_text())
    frontier = sorted({r["name"] for r in (summary.get("smallest_at_98"), summary.get("smallest_at_99")) if r})
    models = [names.TEACHER, paths.HEADLINE] + [n for n in frontier if n != summary["student"]["name"]]
    print(f"4. inference throughput: {', '.join(models)} ({paths.HEADLINE} = {summary['student']['name']})")
    rows = python_json(INFERENCE, models, repo)
    t = rows[names.TEACHER]
    return {name: {**row, **{f"speedup_batch{b}": round(row[f"images_per_second_batch{b}"]
                                                         / t[f"images_per_second_batch{b}"], 2) for b in (1, 1000)}}
            for name, row in rows.items()}


def training_seconds(repo):
    """{run: seconds of training} from the training stages' wall-clock files in metrics/timing/ (untracked:
    no clock inside what DVC hashes), one per trained run: teacher, student, each grid point."""
    seconds = {f.stem: json.loads(f.read_text()).get("train_seconds")
               for f in sorted((repo / paths.TIMING).glob("*.json"))}
    stage = {"head": "sweep", "mlp": "sweep_mlp"}  # a grid point's run name -> its matrix stage in dvc.yaml

    def stage_of(run):
        arch, _, point = run.partition("-")
        return f"{stage[arch]}@{point}" if arch in stage and point else run

    return {stage_of(run): s for run, s in seconds.items() if s is not None}  # views' file: no training


def python_json(code, arg, cwd, pythonpath=None):
    extra = {"PYTHONPATH": str(pythonpath)} if pythonpath else {}
    r = subprocess.run([sys.executable, "-c", code, json.dumps(arg)], cwd=cwd, env={**env(), **extra}, text=True,
                       capture_output=True)
    if r.returncode:
        sys.exit(f"benchmark step failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# The goals of issue 15: the grid phase with 2 workers against serial on this 2-core machine, and the
# whole default run with workers.
GRID_MIN_SPEEDUP = 1.25
FULL_RUN_WITH_WORKERS_MAX_MINUTES = 30


def grid(points, workers, out, kept):
    """The grid phase: `points` serially, then with `workers` (see the module's docstring)."""
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
        serial_lock = fanout.lock_without_clock((repo / "dvc.lock").read_text(), stages)
        print(f"2. {workers} workers: `python -m distill.fanout run --workers {workers} --force`")
        began = time.time()
        r = subprocess.run([sys.executable, "-m", "distill.fanout", "run", "--workers", str(workers), "--force",
                            *stages], cwd=repo, env=env(), text=True)
        if r.returncode:
            sys.exit("the fan-out failed")
        parallel = round(time.time() - began, 1)
        same = fanout.lock_without_clock((repo / "dvc.lock").read_text(), stages) == serial_lock
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    speedup = round(serial / parallel, 3)
    result = dict(kept)
    full = dict(result.get("full_run", {}).get("stages", {}))  # a copy: full_run stays as measured
    projected = None
    if full:  # upstream and downstream as measured; the units' stages sped up by the measured factor
        for name in plan.deps:  # stages newer than that run: the seconds they record themselves
            if name not in full and name.startswith("deep_compress"):
                record = ROOT / paths.timing("deep_compress-" + name.split("@", 1)[1])
                full[name] = {"seconds": json.loads(record.read_text())["seconds"]}
        unit_seconds = sum(full.get(s, {}).get("seconds", 0) for u in plan.units for s in u)
        other = sum(v["seconds"] for v in full.values()) - unit_seconds
        projected = round((other + unit_seconds / speedup) / 60, 1)
    result["grid"] = {
        "machine": machine(), "points": stages, "workers": workers,
        "serial_seconds": serial, "workers_seconds": parallel, "speedup": speedup,
        "identical_lock_entries": same, "serial_stage_seconds": each,
        "full_run_with_workers_minutes_projected": projected,
        "projection": "full_run's stage times, with the grid units' divided by the measured speed-up (not run)",
        "targets": {"speedup_min": GRID_MIN_SPEEDUP, "speedup_met": speedup >= GRID_MIN_SPEEDUP and same,
                    "full_run_with_workers_max_minutes": FULL_RUN_WITH_WORKERS_MAX_MINUTES},
    }
    write_results(out, result)
    print(f"grid phase: serial {serial:.0f}s, {workers} workers {parallel:.0f}s: {speedup:.2f}x "
          f"(goal >= {GRID_MIN_SPEEDUP}x), identical dvc.lock entries: {same}")
    if projected:
        print(f"whole default run with {workers} workers, projected: {projected} min "
              f"(goal <= {FULL_RUN_WITH_WORKERS_MAX_MINUTES})")
    print(f"written: {out} (grid)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "bench" / "results.json"))
    ap.add_argument("--hidden", type=int, default=8, help="student.hidden for the incremental experiment")
    ap.add_argument("--keep", action="store_true", help="keep the temporary clone")
    ap.add_argument("--inference-only", metavar="CLONE", type=Path,
                    help="re-measure only step 4 in a clone kept by --keep, and update --out in place")
    ap.add_argument("--grid", nargs="*", metavar="POINT",
                    help="measure only the grid phase, for these stages or stage groups (default: sweep_mlp sweep_cnn)")
    ap.add_argument("--workers", type=int, default=2, help="workers for --grid (default 2)")
    ap.add_argument("--sep-epoch", action="store_true", help="measure only one sep epoch, before and now")
    ap.add_argument("--rounds", type=int, default=6, help="timed epochs of each for --sep-epoch (default 6)")
    args = ap.parse_args()
    kept = read_results(args.out)
    if args.sep_epoch:
        sep_epoch(args.rounds, args.out, kept)
        return
    if args.grid is not None:
        grid(args.grid or ["sweep_mlp", "sweep_cnn"], args.workers, args.out, kept)
        return
    if args.inference_only:
        result = dict(kept)
        result["inference"] = inference(args.inference_only)
        write_results(args.out, result)
        print(json.dumps(result["inference"], indent=2))
        return

    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    repo = tmp / "repo"
    log = open(tmp / "dvc.log", "w")  # noqa: SIM115  written by timed_dvc across several steps
    try:
        subprocess.run(["git", "clone", "-q", "--no-local", str(ROOT), str(repo)], check=True)
        print(f"benchmark in a fresh clone: {repo} (log: {tmp / 'dvc.log'})")
        print("1. full default `dvc repro` from an empty cache:")
        total, stages = timed_dvc(["repro"], repo, log)
        # commit the full run in the clone, so the experiment has it as baseline and we can return to it
        subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
        subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-q",
                        "-m", "bench: full default run"], cwd=repo, check=True)
        print(f"2. `dvc exp run -S student.hidden={args.hidden}`:")
        exp_total, exp_stages = timed_dvc(["exp", "run", "-S", f"student.hidden={args.hidden}"], repo, log)
        subprocess.run(["git", "checkout", "-q", "--", "."], cwd=repo, check=True)  # back to the full run
        # the default pipeline's outputs only: the study's (study/dvc.yaml) were never run here
        r = subprocess.run([sys.executable, "-m", "dvc", "checkout", "dvc.yaml"], cwd=repo, env=env(), text=True,
                           capture_output=True)
        if r.returncode:
            sys.exit(f"dvc checkout of the full run failed:\n{r.stdout}{r.stderr}")
        print("3. bare model.fit of the teacher (same network, epochs, batch size, data):")
        bare = python_json(BARE_FIT, None, repo)["fit_seconds"]
        inference_rows = inference(repo)
        print("5. one epoch of the reference CNN (cnn-8-16-16-32, batch 128), against the issue's 7.1 s:")
        epoch = python_json(REFERENCE_EPOCH, None, repo)["epoch_seconds"]
        trained = training_seconds(repo)
    finally:
        log.close()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    sweep = [s["seconds"] for name, s in stages.items() if name.startswith("sweep")]
    overhead = [stages[stage]["seconds"] - seconds for stage, seconds in trained.items()
                if stage.startswith("sweep") and stage in stages]
    result = {
        "machine": machine(),
        "full_run": {"seconds": total, "minutes": round(total / 60, 2), "stages": stages,
                     "max_peak_rss_mb": max(s["peak_rss_mb"] for s in stages.values())},
        "incremental": {"command": f"dvc exp run -S student.hidden={args.hidden}", "seconds": exp_total,
                        "share_of_full_run": round(exp_total / total, 4), "stages": exp_stages},
        "teacher_vs_bare_fit": {"stage_seconds": stages["teacher"]["seconds"],
                                "stage_train_seconds": trained["teacher"], "bare_fit_seconds": round(bare, 1),
                                "ratio_stage": round(stages["teacher"]["seconds"] / bare, 3),
                                "ratio_training": round(trained["teacher"] / bare, 3)},
        "sweep_points": {"count": len(sweep), "median_seconds": statistics.median(sweep) if sweep else None,
                         "median_overhead_seconds": round(statistics.median(overhead), 1) if overhead else None,
                         "overhead_note": "stage wall time minus the training time the point itself records"},
        "inference": inference_rows,
        "host_speed": {"reference_epoch_seconds": round(epoch, 1),
                       "reference_epoch_seconds_where_targets_were_set": REFERENCE_EPOCH_SECONDS,
                       "slowdown": round(epoch / REFERENCE_EPOCH_SECONDS, 2),
                       "full_run_minutes_at_reference_speed": round(total / 60 * REFERENCE_EPOCH_SECONDS / epoch, 2)},
        "targets": {"full_run_max_minutes": FULL_RUN_MAX_MINUTES, "full_run_met": total / 60 <= FULL_RUN_MAX_MINUTES,
                    "full_run_moonshot_minutes": FULL_RUN_MOONSHOT_MINUTES,
                    "full_run_moonshot_met": total / 60 <= FULL_RUN_MOONSHOT_MINUTES,
                    "incremental_max_share": INCREMENTAL_MAX_SHARE,
                    "incremental_met": exp_total / total <= INCREMENTAL_MAX_SHARE,
                    "teacher_max_ratio": TEACHER_MAX_RATIO,
                    "teacher_met": stages["teacher"]["seconds"] / bare <= TEACHER_MAX_RATIO,
                    "peak_rss_max_gb": PEAK_RSS_MAX_GB,
                    "peak_rss_met": max(s["peak_rss_mb"] for s in stages.values()) / 1024 <= PEAK_RSS_MAX_GB},
        "how": ("`python bench/run.py` in a fresh clone (empty DVC cache), one segment, machine otherwise idle: "
                "1. `dvc repro` timed per stage from DVC's 'Running stage' lines, peak RSS sampled every 0.1 s "
                "over the stage's processes; 2. `dvc exp run -S student.hidden=N` right after; 3. a bare "
                "model.fit of the teacher (same network, epochs, batches, data) in its own process"),
    }
    write_results(args.out, {**kept, **result})  # keeps what this run did not measure (sep_epoch, grid)
    print(json.dumps({k: v for k, v in result.items() if k != "full_run"}, indent=2))
    print(f"full run: {total:.0f}s ({total / 60:.1f} min; target <= {FULL_RUN_MAX_MINUTES}); incremental "
          f"{exp_total:.0f}s = {exp_total / total:.1%} of it (target <= {INCREMENTAL_MAX_SHARE:.0%}); slowest stages:")
    print(f"host: the reference CNN epoch took {epoch:.1f}s here against {REFERENCE_EPOCH_SECONDS}s where the "
          f"targets were set; at that speed the full run is {total / 60 * REFERENCE_EPOCH_SECONDS / epoch:.1f} min")
    for name, s in sorted(stages.items(), key=lambda kv: -kv[1]["seconds"])[:8]:
        print(f"  {name:28s} {s['seconds']:7.1f}s  {s['peak_rss_mb']:6.0f} MB")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
