"""`python bench/run.py --sep-epoch [--rounds 6]`: one epoch of a sep network, Keras's BatchNorm
against the fused one (models.BatchNorm).

The network is sep-8-24-2, kd, batch 128, 55,000 images at one of their cached views each,
validation scored after it: what a study seed stage does each epoch. Run it in this repository after
`dvc repro study/dvc.yaml:teacher_outputs` (it reads the study's views and teacher logits). Both
networks live in one process (probes.sep_epoch) and train epoch by epoch in turn, after one untimed
epoch each that traces, so whatever else loads the machine falls on both alike. Adds "sep_epoch" to
the results (the rest of the file stays).
"""
import statistics
import sys

from common import ROOT, machine, python_json, write_results

from distill.core import paths

MAX_SHARE = 0.5  # the target: a sep epoch with the fused BatchNorm at <= 50% of one with Keras's


def measure(rounds, out, kept):
    """`rounds` timed epochs of each, alternating; adds the medians and their ratio to `out`."""
    study = ROOT / "study"
    if not (study / paths.VIEW_LOGITS).is_file():
        sys.exit(f"--sep-epoch reads the study's views and teacher logits: run `dvc repro "
                 f"study/dvc.yaml:teacher_outputs` first (no {study / paths.VIEW_LOGITS})")
    got = python_json("sep_epoch", rounds, study, pythonpath=ROOT)
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
        "max_share": MAX_SHARE, "met": after / before <= MAX_SHARE,
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
          f"(target <= {MAX_SHARE:.0%}); written: {out}")
