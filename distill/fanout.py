"""Run the pipeline's independent stages side by side: N workers on one machine, or shares across many.

    python -m distill.fanout run [-p PIPELINE] [-w N] [--cores-per-worker C] [--pull] [--force]
                                 [--share K/M | --upstream] [STAGE ...]
    python -m distill.fanout plan [-p PIPELINE] [--shares M] [--json]
    python -m distill.fanout push [-r REMOTE]
    python -m distill.fanout gather [-p PIPELINE] REF [REF ...]

DVC has no `repro --jobs`, but each stage can be reproduced on its own: `dvc --wait-for-lock repro -s
STAGE` takes the repo lock only to check and record the stage, not while its command runs. `run` starts
one such process per stage, at most N at once, each as soon as every stage it depends on has finished.
DVC still decides whether a stage runs, is skipped as up to date, or is restored from the run-cache,
and writes its dvc.lock entry itself, so the outcome is that of a serial `dvc repro`.

PIPELINE is the dvc.yaml whose stages are run (default: the root's, the default pipeline;
`study/dvc.yaml` the study, whose stages are then named `study/dvc.yaml:STAGE`, as `dvc repro` takes them).

Every stage sets TensorFlow's thread count from its params (`runtime.tf_threads`), whatever runs it:
TensorFlow's CPU results depend on how many threads split each op, not on how many cores run them,
so the bytes equal a serial run's. A worker is pinned to its own cores when they are at least those
threads (`--cores-per-worker`).

The DAG in parts, the same for every run of the same dvc.yaml:
  upstream    what the grid needs (fetch ... teacher_outputs): the stages grid points depend on;
  units       the grid's points (stages made by `matrix`/`foreach`), each with the grid stages that read
              it (sweep_mlp@X, compress@X, deep_compress@X are one unit), and every other stage that
              neither feeds nor reads the grid (deep_compress_teacher@teacher);
  downstream  what reads the grid (evaluate).
Shares balance the units by the stage times of the last benchmarked full run (bench/results.json;
a stage it lacks counts as the mean of those it has): the longest unit goes to the least loaded share.
`run` starts ready stages longest first by the same times. A runner runs its share with the stages
it depends on (restored with --pull when another runner pushed them to the remote's run-cache) and
pushes its run-cache with `push` (which adds what `dvc push --run-cache` leaves out); a gather step's
`dvc repro --pull` then restores everything and runs only downstream.

Through git instead (the study, whose outputs git tracks): each machine commits its share to a branch of
its own, and `gather` takes, from each branch, the dvc.lock entries of the stages it ran and their
output files, into one working tree; a conflict (one stage recorded two ways) or an output missing
from its branch is refused before anything is written, and an entry that is not up to date here is
reported after. docs/study.md has a CI matrix and a Slurm array.
"""
import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

PIPELINE = "dvc.yaml"  # the default pipeline; the study is study/dvc.yaml
LOG_DIR = Path(".dvc") / "tmp" / "fanout"  # one log per stage (.dvc/tmp is git-ignored)
COSTS = Path("bench") / "results.json"  # its full_run.stages.<stage>.seconds: how long each stage took
OUTCOMES = (  # DVC's own words for what it did with a stage, most telling first
    ("ran", "Running stage '"),
    ("restored", "is cached - skipping run"),
    ("pulled", "Pulling data for"),
    ("up to date", "didn't change, skipping"),
)


class FanoutError(Exception):
    """What the fan-out reports in one line: a bad flag or stage name (before any stage starts), or
    the stage that failed."""


@dataclass(frozen=True)
class Plan:
    """The stage graph (stage name -> the names it depends on) in dvc.yaml's order, split in parts."""
    deps: dict
    upstream: list
    units: list  # lists of stage names, in dvc.yaml's order
    downstream: list
    seconds: dict  # stage name -> expected seconds
    readers: dict = None  # the graph inverted: stage name -> the names that depend on it (from deps if not given)

    def __post_init__(self):
        if self.readers is None:
            object.__setattr__(self, "readers", _invert(self.deps))

    def closure(self, names):
        """`names` and every stage they depend on, in an order that runs dependencies first."""
        needed = set(names).union(*(_reach(self.deps, n) for n in names))
        return [n for n in self.deps if n in needed]

    def shares(self, count):
        """Units split into at most `count` non-empty shares of about equal expected time."""
        count = min(count, len(self.units)) or 1
        loads, picks = [0.0] * count, [[] for _ in range(count)]
        for i in sorted(range(len(self.units)), key=lambda i: -sum(map(self.seconds.get, self.units[i]))):
            k = loads.index(min(loads))
            loads[k] += sum(map(self.seconds.get, self.units[i]))
            picks[k].append(i)
        return [[s for i in sorted(p) for s in self.units[i]] for p in picks]

    def select(self, targets):
        """The stages `run`'s targets name: a stage's name, or a matrix/foreach group's (every point)."""
        chosen = []
        for target in targets:
            match = [n for n in self.deps
                     if target in {n, n.split("@", 1)[0], _bare(n), _bare(n).split("@", 1)[0]}]
            if not match:
                raise FanoutError(f"no stage or stage group named '{target}' in dvc.yaml")
            chosen += [m for m in match if m not in chosen]
        return chosen


def load_plan(root=".", pipeline=PIPELINE):
    """Read the stages of `pipeline` (a dvc.yaml) through DVC (so matrix/foreach expand exactly as
    `dvc repro` sees them), and each stage's expected time from COSTS when there is one."""
    from dvc.repo import Repo

    if not (Path(root) / pipeline).is_file():
        raise FanoutError(f"{pipeline}: no such pipeline file (run from the project's root)")
    with contextlib.chdir(root), Repo(".") as repo:  # stage names as `dvc repro` run from root takes them
        graph = repo.index.graph  # edges run from a stage to each stage it depends on
        ours = [s for s in repo.index.stages if Path(s.dvcfile.relpath) == Path(pipeline)]
        order = [s.addressing for s in ours]
        deps = {s.addressing: sorted((d.addressing for d in graph.successors(s) if d.addressing in order),
                                     key=order.index) for s in ours}
    deps = {name: deps[name] for name in order}
    grid = {n for n in order if "@" in n}
    up = {d for g in grid for d in _reach(deps, g)} - grid
    readers = _invert(deps)
    down = {r for g in grid for r in _reach(readers, g)} - grid
    up -= down
    rest = {n for n in order if n not in up and n not in down}
    # Units: the connected pieces of the graph on the remaining stages.
    linked = {n: [m for m in deps[n] + readers[n] if m in rest] for n in rest}
    units, placed = [], set()
    for n in order:
        if n in rest and n not in placed:
            piece = {n} | _reach(linked, n)
            placed |= piece
            units.append([m for m in order if m in piece])
    known = _costs(Path(root) / COSTS)
    mean = sum(known.values()) / len(known) if known else 1.0
    seconds = {n: known.get(n, mean) for n in order}
    return Plan(deps, [n for n in order if n in up], units, [n for n in order if n in down], seconds, readers)


def _costs(path):
    try:
        stages = json.loads(path.read_text())["full_run"]["stages"]
        return {k: float(v["seconds"]) for k, v in stages.items()}
    except (OSError, ValueError, KeyError, TypeError):
        return {}  # no benchmark yet: every stage counts the same


def _reach(edges, start):
    seen, stack = set(), list(edges[start])
    while stack:
        n = stack.pop()
        if n not in seen:
            seen.add(n)
            stack.extend(edges[n])
    return seen


def _invert(edges):
    out = {n: [] for n in edges}
    for a, bs in edges.items():
        for b in bs:
            out[b].append(a)
    return out


def lock_entries(text, stages=None):
    """dvc.lock's entries (of `stages`, or all): what two runs that made the same files agree on, since
    no output DVC hashes holds a wall-clock figure."""
    import yaml

    lock = yaml.safe_load(text)["stages"]
    return {s: lock[s] for s in (lock if stages is None else stages)}


def _bare(name):
    """study/dvc.yaml:sep@8-24-2-kd-0 -> sep@8-24-2-kd-0: a stage's name inside its pipeline."""
    return name.rsplit(":", 1)[-1]


def _log(log_dir, stage):
    """A stage's log file: its name with the pipeline's path folded into it (no '/' or ':')."""
    return log_dir / (stage.replace("/", "_").replace(":", "_") + ".log")


def _threads(pipeline):
    """runtime.tf_threads of the params file beside `pipeline`: what each of its stages will use."""
    from distill import Error
    from distill.core import params as P
    from distill.core import runtime

    path = Path(pipeline).parent / P.PARAMS_FILE
    try:
        if not path.is_file() or runtime.SECTION not in (P.load(path) or {}):
            return 1  # a pipeline without TensorFlow stages: nothing to keep together
        return runtime.config(str(path)).tf_threads
    except Error as e:
        raise FanoutError(str(e)) from None


def parse_share(text):
    m = re.fullmatch(r"(\d+)/(\d+)", text or "")
    if not m or not 1 <= int(m[1]) <= int(m[2]):
        raise FanoutError(f"--share must be K/M with 1 <= K <= M (e.g. 2/4), got '{text}'")
    return int(m[1]), int(m[2])


def outcome(log):
    return next((word for word, sign in OUTCOMES if sign in log), "done")


def run(plan, stages, workers, cores_per_worker=1, threads=1, pull=False, force=(),
        keep_going=False, root=".", echo=print):
    """Reproduce `stages` (closed under dependencies) with at most `workers` `dvc repro -s` at once;
    those in `force` even when up to date.

    Returns {stage: outcome}. After a failure no stage starts (with `keep_going`, only those that
    depend on a failed one are left out), the running ones finish, and FanoutError names the first
    failed stage: DVC recorded every finished one, so running again picks up where this run stopped.
    """
    root = Path(root)
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}  # each stage sets its TensorFlow threads (runtime.py)
    log_dir = root / LOG_DIR
    log_dir.mkdir(parents=True, exist_ok=True)
    waiting = {s: {d for d in plan.deps[s] if d in stages} for s in stages}
    free, running, done, left_out = list(range(workers)), {}, {}, set()
    start, width = time.monotonic(), max(map(len, stages), default=0)

    # Pin a worker only when its cores can run all its TensorFlow threads: two threads pinned to one
    # core wait on each other (a cnn epoch took 21.7 s so, against 11.7 s for two unpinned 2-thread
    # processes side by side and 11.6 s for one alone).
    pin = bool(cpus) and cores_per_worker >= threads

    def launch(stage, slot):
        cores = [cpus[(slot * cores_per_worker + i) % len(cpus)] for i in range(cores_per_worker)] if pin else []
        cmd = [sys.executable, "-m", "dvc", "--wait-for-lock", "repro", "-s",
               *(["--pull"] if pull else []), *(["--force"] if stage in force else []), stage]
        with open(_log(log_dir, stage), "w") as log:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None)
        running[proc] = (stage, slot, time.monotonic())
        echo(f"{'':9}start      {stage:<{width}}  worker {slot + 1}, "
             + (f"cores {','.join(map(str, cores))}" if cores else f"{threads} TF threads, not pinned"))

    def finish(proc):
        stage, slot, began = running.pop(proc)
        free.append(slot)
        text = (_log(log_dir, stage)).read_text(errors="replace")
        if proc.returncode:
            done[stage] = "failed"
            left_out.update(r for r in _reach(plan.readers, stage) if waiting.pop(r, None) is not None)
            tail = "\n".join("    " + line for line in text.strip().splitlines()[-15:])
            echo(f"stage '{stage}' failed (exit {proc.returncode}); log {_log(log_dir, stage)}:\n{tail}")
            return
        done[stage] = outcome(text)
        for deps in waiting.values():
            deps.discard(stage)
        echo(f"[{len(done):>3}/{len(stages)}] {done[stage]:<10} {stage:<{width}}  {time.monotonic() - began:6.0f} s")

    while waiting or running:
        failed = [s for s, v in done.items() if v == "failed"]
        while free and (keep_going or not failed):
            ready = [s for s in waiting if not waiting[s]]
            if not ready:
                break
            stage = max(ready, key=lambda s: plan.seconds[s])  # the longest first: the others fill in
            del waiting[stage]
            launch(stage, free.pop(0))
        if not running:
            break
        time.sleep(0.2)
        for proc in [p for p in running if p.poll() is not None]:
            finish(proc)
    failed = [s for s, v in done.items() if v == "failed"]
    if failed:
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        raise FanoutError(f"stage '{failed[0]}' failed{more}; {len(done) - len(failed)} finished, "
                          f"{len(waiting) + len(left_out)} not started (rerun the same command to go on)")
    counts = {word: sum(v == word for v in done.values()) for word in [w for w, _ in OUTCOMES] + ["done"]}
    echo(f"{len(done)} stages in {time.monotonic() - start:.0f} s with {workers} workers: "
         + ", ".join(f"{n} {word}" for word, n in counts.items() if n))
    return done


def push(remote=None, root="."):
    """`dvc push --run-cache`, plus what it leaves out: the git-tracked outputs (metrics, plots).

    DVC commits those to the local cache when it saves a run (so the run-cache can restore them), and
    `dvc repro --pull` pulls them with the run's other outputs, but `dvc push --run-cache` sends only
    the run entries and the cached outputs (DVC 3.67). Without them a restore finds a file missing and
    the stage runs again, so they go up here, through DVC's own transfer.
    """
    r = subprocess.run([sys.executable, "-m", "dvc", "push", "--run-cache", *(["-r", remote] if remote else [])],
                       cwd=root, capture_output=True, text=True)
    if r.returncode:
        raise FanoutError(f"dvc push --run-cache failed: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")
    from dvc.repo import Repo

    with contextlib.chdir(root), Repo(".") as repo:
        local = repo.cache.local
        objs = {o.hash_info for s in repo.index.stages for o in s.outs
                if not o.use_cache and o.hash_info and o.hash_info.name == "md5" and not o.hash_info.isdir
                and local.exists(o.hash_info.value)}
        result = repo.cloud.push(objs, remote=remote)
    if result.failed:
        raise FanoutError(f"{len(result.failed)} git-tracked outputs could not be pushed")
    return len(objs)


def _git(root, *args):
    r = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if r.returncode:
        raise FanoutError(f"git {' '.join(args)}: {(r.stderr or r.stdout).strip()}")
    return r.stdout


def gather(refs, pipeline=PIPELINE, root=".", echo=print):
    """Bring into this working tree, from each git ref (a branch a share was committed to), the dvc.lock
    entries it has and this tree's dvc.lock lacks or holds otherwise, with those stages' output files.

    Refused, with nothing written: a ref without the pipeline's dvc.lock, a stage that two refs recorded
    two ways (two shares that ran one stage apart, e.g. upstream not committed first), and an output a
    ref's entry lists but its commit lacks. Returns {stage: ref}. After writing, every gathered stage
    must be up to date (`dvc status`), or FanoutError says which are not (a share run on other code,
    params or upstream than this tree's): `git checkout -- .` then undoes the gather.
    """
    import yaml
    from dvc.utils.serialize import dump_yaml

    root = Path(root)
    lock_rel = (Path(pipeline).parent / "dvc.lock").as_posix()
    lock_path = root / lock_rel
    ours = yaml.safe_load(lock_path.read_text()) if lock_path.is_file() else {"schema": "2.0", "stages": {}}
    merged, taken = dict(ours["stages"]), {}
    for ref in refs:
        try:
            theirs = yaml.safe_load(_git(root, "show", f"{ref}:{lock_rel}"))["stages"]
        except FanoutError as e:
            raise FanoutError(f"{ref}: no {lock_rel} to gather ({e})") from None
        for stage, entry in theirs.items():
            if ours["stages"].get(stage) == entry:
                continue
            if stage in taken and merged[stage] != entry:
                raise FanoutError(f"stage '{stage}' was recorded differently by {taken[stage]} and {ref}: the shares "
                                  "did not start from one commit (commit the upstream first: fanout run --upstream)")
            merged[stage], taken[stage] = entry, ref
    folder = Path(pipeline).parent
    outs = {ref: [(folder / o["path"]).as_posix() for stage, r in taken.items() if r == ref
                  for o in merged[stage].get("outs", [])] for ref in refs}
    for ref, paths in outs.items():  # every output in git on its branch (DVC-cached ones travel by remote)
        missing = [p for p in paths if subprocess.run(["git", "cat-file", "-e", f"{ref}:{p}"], cwd=root,
                                                      capture_output=True).returncode]
        if missing:
            raise FanoutError(f"{ref}: {missing[0]} is not committed there{' (and more)' if len(missing) > 1 else ''}; "
                              "commit every output of the share (git add -A study), or move DVC-cached ones "
                              "through a remote (fanout push, dvc repro --pull)")
    for ref, paths in outs.items():
        if paths:
            _git(root, "checkout", ref, "--", *paths)
    dump_yaml(str(lock_path), {**ours, "stages": merged})
    if taken:
        stale = _not_up_to_date(root, [f"{pipeline}:{s}" if pipeline != PIPELINE else s for s in taken])
        if stale:
            raise FanoutError(f"gathered, but {len(stale)} stage(s) are not up to date here: {', '.join(stale[:3])}"
                              f"{' ...' if len(stale) > 3 else ''} (a share ran on other code, params or upstream)")
    for ref in refs:
        n = sum(r == ref for r in taken.values())
        echo(f"{ref}: {n} stage{'s' if n != 1 else ''} gathered")
    return taken


def _not_up_to_date(root, stages):
    """Those of `stages` whose dvc.lock entry does not match the working tree (`dvc status`)."""
    r = subprocess.run([sys.executable, "-m", "dvc", "status", "--json", *stages], cwd=root,
                       capture_output=True, text=True, env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    if r.returncode:
        raise FanoutError(f"dvc status failed: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")
    return sorted(json.loads(r.stdout or "{}"))


def parser():
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    ap = argparse.ArgumentParser(prog="python -m distill.fanout", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="reproduce stages with N workers (`dvc repro -s` each)")
    r.add_argument("stages", nargs="*", metavar="STAGE",
                   help="stages or stage groups (e.g. sweep_mlp) with what they depend on (default: all)")
    r.add_argument("-p", "--pipeline", default=PIPELINE, help=f"the dvc.yaml to run (default: {PIPELINE})")
    r.add_argument("-w", "--workers", type=int, help="stages at once (default: cores / cores per worker)")
    r.add_argument("--cores-per-worker", type=int, default=1,
                   help="cores each worker gets; it is pinned to them if they are at least the params' "
                        "runtime.tf_threads (default 1)")
    part = r.add_mutually_exclusive_group()
    part.add_argument("--share", help="K/M: only share K of M (see `plan`) and what it depends on")
    part.add_argument("--upstream", action="store_true", help="only the stages the grid depends on")
    r.add_argument("--pull", action="store_true", help="pass --pull: restore from the remote's run-cache")
    r.add_argument("--keep-going", action="store_true",
                   help="after a failure, go on with every stage that does not depend on the failed one")
    r.add_argument("--force", action="store_true",
                   help="rerun the named stages (or the share) even when up to date; not what they depend on")
    u = sub.add_parser("push", help="`dvc push --run-cache` and the run-cache's git-tracked outputs")
    u.add_argument("-r", "--remote", help="remote name (default: the default remote)")
    g = sub.add_parser("gather", help="take the stages each git ref (a share's branch) ran into this tree")
    g.add_argument("refs", nargs="+", metavar="REF", help="branches or commits the shares were committed to")
    g.add_argument("-p", "--pipeline", default=PIPELINE,
                   help=f"the dvc.yaml whose lock is merged (default: {PIPELINE})")
    p = sub.add_parser("plan", help="print the parts and the shares")
    p.add_argument("-p", "--pipeline", default=PIPELINE, help=f"the dvc.yaml to plan (default: {PIPELINE})")
    p.add_argument("--shares", type=int, default=1, help="split the units into M shares (default 1)")
    p.add_argument("--json", action="store_true", help="one line of JSON: a GitHub Actions matrix `include`")
    ap.set_defaults(cores=cores)
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        for flag in ("workers", "cores_per_worker", "shares"):
            value = getattr(args, flag, None)
            if value is not None and value < 1:
                raise FanoutError(f"--{flag.replace('_', '-')} must be at least 1, got {value}")
        if not Path("dvc.yaml").is_file():
            raise FanoutError("no dvc.yaml here: run from the project's root")
        share = parse_share(args.share) if getattr(args, "share", None) else None
        if args.command == "push":
            print(f"pushed the run-cache, the cached outputs and {push(args.remote)} git-tracked outputs")
            return 0
        if args.command == "gather":
            taken = gather(args.refs, args.pipeline)
            print(f"{len(taken)} stages gathered into {Path(args.pipeline).parent / 'dvc.lock'}; "
                  f"run `dvc repro {args.pipeline}` for what reads them, then commit")
            return 0
        plan = load_plan(pipeline=args.pipeline)
        if args.command == "plan":
            shares = plan.shares(args.shares)
            if args.json:
                print(json.dumps([{"share": f"{k + 1}/{len(shares)}", "stages": " ".join(s)}
                                  for k, s in enumerate(shares)]))
                return 0
            print(f"upstream ({len(plan.upstream)}): {' '.join(plan.upstream)}")
            for k, s in enumerate(shares):
                print(f"share {k + 1}/{len(shares)} ({len(s)}): {' '.join(s)}")
            print(f"downstream ({len(plan.downstream)}): {' '.join(plan.downstream)}")
            return 0
        if share:
            shares = plan.shares(share[1])
            if share[1] != len(shares):
                raise FanoutError(f"--share {args.share}: the grid has only {len(shares)} units, "
                                  f"so use M <= {len(shares)}")
            named = shares[share[0] - 1]
        elif args.upstream:
            named = plan.upstream
        else:
            named = plan.select(args.stages) if args.stages else list(plan.deps)
        workers = args.workers or max(1, args.cores // args.cores_per_worker)
        threads = _threads(args.pipeline)
        run(plan, plan.closure(named), workers, args.cores_per_worker, threads, args.pull,
            set(named) if args.force else (), args.keep_going)
    except FanoutError as e:
        print(f"fanout: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
