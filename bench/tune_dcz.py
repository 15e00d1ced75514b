"""Choose a Deep Compression recipe on the validation split, never on test.

    python bench/tune_dcz.py [--study] SUBJECT [--sparsity conv=A,dense=B,output=C ...] [--bits conv=..,... ...]
                             [--prune-epochs 0,2] [--share-epochs 1,2] [--learning-rate 0.0005,0.002]
                             [--seeds 0,1,2,3,4] [--out FILE]

e.g.  python bench/tune_dcz.py --study tied-8-26-3-16-hard-e75 --sparsity conv=0,dense=0,output=0 \\
          --sparsity conv=0.1,dense=0.2,output=0.1 --share-epochs 1,2 --learning-rate 0.0005

SUBJECT is the teacher or a trained student that deep_compress can take. Starting from the
deep_compress section's recipe for it (teacher_recipe or student_recipe), it runs every combination
of the values given (each repeatable or comma-separated option one recipe field) on each seed, as
the deep_compress stage does (distill/compression/deep.py), and prints and appends to --out each
variant's file bytes and validation accuracy after each step. Test images are never scored here.
Seeds that begin the trained ones (0; 0,1; all) repeat the stage's numbers exactly; any other list
loads the models in another order, so their Dropout layers draw other seeds.
Default --out: metrics/deep_compress_tuning.json of the pipeline (with --study, study's), which the
study's report lists whole.
"""
import argparse
import dataclasses
import itertools
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: `python bench/tune_dcz.py`
from bench.tune import STUDY, append, parse_value  # noqa: E402
from distill.compression.config import TUNING, DeepCompressConfig  # noqa: E402
from distill.core import params as P  # noqa: E402
from distill.core.stage import run  # noqa: E402
from distill.dcz import parse_kinds  # noqa: E402

# repeatable options, one value per recipe; then comma-separated ones
GRID = {"sparsity": lambda t: parse_kinds(t, float), "bits": lambda t: parse_kinds(t, int)}
LISTS = ("prune_epochs", "share_epochs", "learning_rate", "batch_size")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", action="store_true", help="a study subject (run in study/, its params)")
    ap.add_argument("subject", help="teacher, or a student deep_compress can take (e.g. tied-8-26-3-16-hard-e75)")
    for key, parse in GRID.items():
        ap.add_argument(f"--{key}", action="append", type=parse, default=[], metavar="conv=A,dense=B,output=C")
    for key in LISTS:
        ap.add_argument(f"--{key.replace('_', '-')}", default="", metavar="V1,V2")
    ap.add_argument("--seeds", default="0", help="comma-separated seeds of the subject (default: 0); the first k "
                                                 "trained ones repeat the stage exactly")
    ap.add_argument("--out", help=f"(default: {TUNING}, under study/ with --study)")
    args = ap.parse_args()
    from distill.compression import anymodel
    from distill.compression.config import subject_problem
    from distill.core import names

    try:
        cfg = P.section("deep_compress", DeepCompressConfig)
        if args.subject != names.TEACHER and (problem := subject_problem(args.subject)):
            raise P.ParamsError(f"subject: {problem}")
        settings = {k: v for k in GRID if (v := getattr(args, k))}
        settings |= {k: [parse_value(v) for v in text.split(",") if v] for k in LISTS if (text := getattr(args, k))}
        recipes = [dataclasses.replace(cfg.recipe(args.subject), **dict(zip(settings, combo)))
                   for combo in itertools.product(*settings.values())]
        for recipe in recipes:  # the recipe's own params schema: one line naming the bad setting
            if problem := anymodel.check_recipe(recipe, cfg.floats):
                raise P.ParamsError(problem)
        seeds = None if args.subject == names.TEACHER else [int(s) for s in args.seeds.split(",")]
    except ValueError as e:
        raise SystemExit(f"tune_dcz: error: {e}") from None

    from distill.compression import deep
    from distill.results.study_report import RECIPE_TRIAL_STEPS  # the report reads what each row holds

    out = Path(args.out or TUNING)
    for recipe in recipes:
        start = time.time()
        records = deep.trial(args.subject, recipe, cfg.floats, cfg.seed, seeds)
        val = [r["val_accuracy"] for r in records]
        row = {"name": args.subject, "recipe": dataclasses.asdict(recipe), "floats": cfg.floats,
               "changed": {k: getattr(recipe, k) for k in settings}, "seeds": [r["seed"] for r in records],
               "bytes": [r["bytes"] for r in records], **{k: [r[k] for r in records] for k in RECIPE_TRIAL_STEPS},
               "val_accuracy": val,
               "val_accuracy_mean": round(sum(val) / len(val), 6), "seconds": round(time.time() - start, 1)}
        print(f"{args.subject} {row['changed']}: {max(row['bytes']):,} bytes (largest), validation decoded "
              f"{row['val_accuracy_mean']:.4f} {val} ({row['seconds']:.0f}s)", flush=True)
        append(out, row)


if __name__ == "__main__":
    if "--study" in sys.argv[1:]:
        os.chdir(STUDY)  # before run(): the study's runtime.tf_threads, its params and files
    run(main)  # TensorFlow's start-up lines dropped, as in the stages
