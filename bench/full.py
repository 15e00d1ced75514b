"""`python bench/run.py [--hidden 8] [--keep] [--inference-only CLONE]`: the full run and what follows it.

In a fresh clone of this repository (empty DVC cache), it measures:
  1. wall time and peak RSS of every stage of the full default `dvc repro`, and the total;
  2. `dvc exp run -S student.hidden=N` right after it, as a share of the full run;
  3. the teacher stage against a bare `model.fit` of the same network, epochs, batch size and data;
  4. inference throughput of the headline student and the frontier students against the teacher,
     at batch 1 and batch 1000 (Keras, raw images in: a head student runs behind the teacher's convs);
  5. one epoch of a reference CNN, to compare this machine with the one the targets were set on;
then writes these figures, with the machine it ran on, to the results, keeping the keys the other modes wrote.
"""
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, env, machine, python_json, timed_dvc, write_results

from distill.core import names, paths

# The targets: the full default run from an empty cache, and a new headline student
# (`dvc exp run -S student.hidden=N`) as a share of it.
FULL_RUN_MAX_MINUTES = 15
FULL_RUN_MOONSHOT_MINUTES = 10
TEACHER_MAX_RATIO = 1.10  # the teacher stage against a bare fit of the same network and data
PEAK_RSS_MAX_GB = 4
INCREMENTAL_MAX_SHARE = 0.05
# One epoch of the reference CNN (probes.reference_epoch) on the machine the targets were set on:
# step 5 times the same epoch here, so a run on a slower or faster host can be read against the targets.
REFERENCE_EPOCH_SECONDS = 7.1


def inference(repo):
    """Throughput of the teacher, the headline student and the frontier students (Keras, raw images in)."""
    summary = json.loads((repo / paths.SUMMARY).read_text())
    frontier = sorted({r["name"] for r in (summary.get("smallest_at_98"), summary.get("smallest_at_99")) if r})
    models = [names.TEACHER, paths.HEADLINE] + [n for n in frontier if n != summary["student"]["name"]]
    print(f"4. inference throughput: {', '.join(models)} ({paths.HEADLINE} = {summary['student']['name']})")
    rows = python_json("inference", models, repo)
    t = rows[names.TEACHER]
    return {name: {**row, **{f"speedup_batch{b}": round(row[f"images_per_second_batch{b}"]
                                                         / t[f"images_per_second_batch{b}"], 2) for b in (1, 1000)}}
            for name, row in rows.items()}


def inference_only(clone, out, kept):
    """Step 4 again, in a clone kept by --keep; updates `out` in place."""
    result = dict(kept)
    result["inference"] = inference(clone)
    write_results(out, result)
    print(json.dumps(result["inference"], indent=2))


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


def measure(hidden, keep, out, kept):
    """Steps 1-5 in a fresh clone (kept with `keep`); writes the figures to `out` over `kept`."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    repo = tmp / "repo"
    log = open(tmp / "dvc.log", "w")  # noqa: SIM115  written by timed_dvc across several steps
    try:
        subprocess.run(["git", "clone", "-q", "--no-local", str(ROOT), str(repo)], check=True)
        print(f"benchmark in a fresh clone: {repo} (log: {tmp / 'dvc.log'})")
        print("1. full default `dvc repro` from an empty cache:")
        total, stages = timed_dvc(["repro"], repo, log)
        # commit the full run in the clone, so the experiment has it as baseline and we can return to it;
        # an empty commit when the run reproduced the committed dvc.lock and metrics byte for byte
        changed = subprocess.run(["git", "status", "--porcelain"], cwd=repo, check=True, capture_output=True,
                                 text=True).stdout.splitlines()
        print(f"   the run changed {len(changed)} tracked or new files" if changed
              else "   the run reproduced every committed file byte for byte")
        subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
        subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-q",
                        "--allow-empty", "-m", "bench: full default run"], cwd=repo, check=True)
        print(f"2. `dvc exp run -S student.hidden={hidden}`:")
        exp_total, exp_stages = timed_dvc(["exp", "run", "-S", f"student.hidden={hidden}"], repo, log)
        subprocess.run(["git", "checkout", "-q", "--", "."], cwd=repo, check=True)  # back to the full run
        # the default pipeline's outputs only: the study's (study/dvc.yaml) were never run here
        r = subprocess.run([sys.executable, "-m", "dvc", "checkout", "dvc.yaml"], cwd=repo, env=env(), text=True,
                           capture_output=True)
        if r.returncode:
            sys.exit(f"dvc checkout of the full run failed:\n{r.stdout}{r.stderr}")
        print("3. bare model.fit of the teacher (same network, epochs, batch size, data):")
        bare = python_json("bare_fit", None, repo)["fit_seconds"]
        inference_rows = inference(repo)
        print("5. one epoch of the reference CNN (cnn-8-16-16-32, batch 128), against the issue's 7.1 s:")
        epoch = python_json("reference_epoch", None, repo)["epoch_seconds"]
        trained = training_seconds(repo)
    finally:
        log.close()
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    result = figures(total, stages, hidden, exp_total, exp_stages, bare, trained, inference_rows, epoch)
    write_results(out, {**kept, **result})  # keeps what this run did not measure (sep_epoch, grid)
    report(result, epoch, out)


def figures(total, stages, hidden, exp_total, exp_stages, bare, trained, inference_rows, epoch):
    """What the full run writes to the results, the targets and whether they are met included."""
    sweep = [s["seconds"] for name, s in stages.items() if name.startswith("sweep")]
    overhead = [stages[stage]["seconds"] - seconds for stage, seconds in trained.items()
                if stage.startswith("sweep") and stage in stages]
    return {
        "machine": machine(),
        "full_run": {"seconds": total, "minutes": round(total / 60, 2), "stages": stages,
                     "max_peak_rss_mb": max(s["peak_rss_mb"] for s in stages.values())},
        "incremental": {"command": f"dvc exp run -S student.hidden={hidden}", "seconds": exp_total,
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


def report(result, epoch, out):
    """Print the figures, the targets and the slowest stages."""
    total, stages = result["full_run"]["seconds"], result["full_run"]["stages"]
    exp_total = result["incremental"]["seconds"]
    print(json.dumps({k: v for k, v in result.items() if k != "full_run"}, indent=2))
    print(f"full run: {total:.0f}s ({total / 60:.1f} min; target <= {FULL_RUN_MAX_MINUTES}); incremental "
          f"{exp_total:.0f}s = {exp_total / total:.1%} of it (target <= {INCREMENTAL_MAX_SHARE:.0%}); slowest stages:")
    print(f"host: the reference CNN epoch took {epoch:.1f}s here against {REFERENCE_EPOCH_SECONDS}s where the "
          f"targets were set; at that speed the full run is {total / 60 * REFERENCE_EPOCH_SECONDS / epoch:.1f} min")
    for name, s in sorted(stages.items(), key=lambda kv: -kv[1]["seconds"])[:8]:
        print(f"  {name:28s} {s['seconds']:7.1f}s  {s['peak_rss_mb']:6.0f} MB")
    print(f"written: {out}")
