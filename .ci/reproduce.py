"""Reproduce the pipeline on a small config and report what changed against a base branch.

    python .ci/reproduce.py [--base main] [--summary FILE]

Works in a temporary clone of this repository (the working tree is left alone): shrinks params.yaml
(a few thousand images, one epoch, one grid point per family), runs `dvc repro`, then writes as
Markdown, to stdout and appended to FILE (GitHub's $GITHUB_STEP_SUMMARY):
  1. `dvc params diff` and `dvc metrics diff` of the committed results: this commit vs the base;
  2. the small-config reproduction's metrics vs the base's committed ones.
"""
import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MIRROR = ROOT.parent / "shared" / "data" / "mnist"
sys.path.insert(0, str(ROOT))  # run as a script: `python .ci/reproduce.py`
from distill.core import names, paths  # noqa: E402


def small(params):
    """The smoke test's config: every stage runs, in a minute or two."""
    f = params["fetch"]
    f.update(train_images=3000, test_images=1000)
    if "validation_images" in f:  # a base from before the validation split has no such key
        f.update(validation_images=500)
    if MIRROR.is_dir():
        f.update(mirror=str(MIRROR))
    if "views" in params:
        params["views"].update(count=2)
    params["teacher"].update(epochs=1, batch_size=64, warmup_epochs=0)
    tiny = {"epochs": 1, "batch_size": 64}
    params["student"].update(tiny)
    for grid in params["sweep"].values():
        grid.update(hidden=grid["hidden"][-1:], loss=grid["loss"][:1])
        grid["train"].update(tiny)
    if "compress" in params:
        params["compress"].update(students=[paths.HEADLINE], finetune_epochs=1, calibration_images=100,
                                  repeats_batch1=3, repeats_batch1000=1)
    if "deep_compress" in params:
        d = params["deep_compress"]
        d.update(students=deep_points(d.get("students", []), params["sweep"]))
        for how in (d["teacher_recipe"], d["student_recipe"]):  # the teacher's only runs with `teacher: true`
            how.update(prune_epochs=1, share_epochs=1, batch_size=64)
    return params


def deep_points(students, sweep):
    """deep_compress.students on the small grids (`sweep`, already cut to one point per family): each
    listed point's family at its one point (cnn-... in an old params layout, mlp-... in the current
    one); the first standalone family's point when none of the listed families is gridded."""
    def point(arch):
        grid = sweep[arch]
        return f"{arch}-{names.format_widths(names.parse_widths(grid['hidden'][0]))}-{grid['loss'][0]}"

    families = [arch for arch in dict.fromkeys(s.split("-", 1)[0] for s in students) if arch in sweep]
    if not families:
        families = [arch for arch in sweep if arch != names.HEAD][:1]
    return [point(arch) for arch in families]


def run(cmd, cwd, check=True):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                       env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"})
    if check and r.returncode:
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="main", help="branch or commit to compare against (default: main)")
    ap.add_argument("--summary", help="append the Markdown report to this file ($GITHUB_STEP_SUMMARY)")
    args = ap.parse_args()
    dvc = [sys.executable, "-m", "dvc"]
    with tempfile.TemporaryDirectory(prefix="reproduce-") as tmp:
        repo = Path(tmp) / "repo"
        run(["git", "clone", "-q", "--no-local", str(ROOT), str(repo)], cwd=tmp)
        # the base may be a branch here, or (in a CI checkout) only a remote-tracking branch
        run(["git", "fetch", "-q", "origin", "+refs/remotes/origin/*:refs/remotes/upstream/*"], repo, check=False)
        base = next((b for b in (args.base, f"origin/{args.base}", f"upstream/{args.base}")
                     if run(["git", "rev-parse", "-q", "--verify", b], repo, check=False).strip()), None)
        if base is None:
            sys.exit(f"reproduce: no branch or commit '{args.base}' to compare against")
        report = [f"# Pipeline report: {run(['git', 'rev-parse', '--short', 'HEAD'], repo).strip()} vs {args.base}", ""]
        report += ["## Committed params and metrics vs the base", "",
                   run(dvc + ["params", "diff", base, "--md"], repo) or "No params changed.", "",
                   run(dvc + ["metrics", "diff", base, "--md"], repo) or "No metrics changed.", ""]
        params_file = repo / "params.yaml"
        params_file.write_text(yaml.safe_dump(small(yaml.safe_load(params_file.read_text())), sort_keys=False))
        out = run(dvc + ["repro"], repo)
        stages = sorted({line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")})
        report += ["## Small-config reproduction", "",
                   f"`dvc repro` ran {len(stages)} stages: {', '.join(stages)}.", "",
                   "Its metrics against the base's committed (full-size) results:", "",
                   run(dvc + ["metrics", "diff", base, "--md"], repo), "",
                   "The small config's params against the base:", "",
                   run(dvc + ["params", "diff", base, "--md"], repo), ""]
    text = "\n".join(report)
    print(text)
    if args.summary:
        with open(args.summary, "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
