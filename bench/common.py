"""What every benchmark mode shares: the machine, the environment its commands run in, timed DVC
runs, bench/results.json, and the probes (probes.py) run in a process of their own."""
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script (`python bench/run.py`): distill from the project root
PROBES = Path(__file__).with_name("probes.py")


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


def python_json(probe, arg, cwd, pythonpath=None):
    """Run probes.py's `probe` on `arg` in `cwd`, with the `distill` of `pythonpath` (default: `cwd`, the
    repository under test), and return the JSON object it prints last."""
    extra = {"PYTHONPATH": str(Path(pythonpath or cwd).resolve())}
    r = subprocess.run([sys.executable, str(PROBES), probe, json.dumps(arg)], cwd=cwd, env={**env(), **extra},
                       text=True, capture_output=True)
    if r.returncode:
        sys.exit(f"benchmark step failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


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
