"""Choose a student family's training defaults on the validation split, never on test.

    python bench/tune.py <arch> <hidden> <loss> [--set key=v1,v2 ...] [--seeds 0,1] [--prune S:E ...]
                         [--out bench/tuning.json]
    python bench/tune.py --study <arch> <hidden> <loss> [--epochs N] [--set key=v1,v2 ...] [--seeds 0]
                         (out: study/metrics/tuning.json)

e.g.  python bench/tune.py mlp 64 kd --set temperature=2,4,8 --set alpha=0.5,0.9
      python bench/tune.py head 6 kd --prune 0.3:2 --prune 0.5:2   # sparsity:fine-tuning epochs

Run in the project's root after `dvc repro teacher_outputs` (it reads data/mnist.npz and the cached
teacher outputs, as a grid point does). Starting from sweep.<arch>.train in params.yaml, it trains
every combination of the --set values (each key a TrainConfig field), once per seed, and prints and
appends to --out each variant's validation accuracy per epoch and at the end. With --prune, each trained
model is also pruned as `compress` does (params.yaml's compress section, with that sparsity and number
of fine-tuning epochs) and scored on validation. Test images are never scored here: the test split is
for the final models alone.

With --study it runs inside study/ (its params, its teacher's cached outputs, its views, drawn again
from their recipe if missing) from study.<arch>.train at --epochs (default: the family's first
schedule), and appends to study/metrics/tuning.json, which the study's report lists whole: every
trial behind the study's choices, with its validation accuracy.
"""
import argparse
import dataclasses
import itertools
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: `python bench/tune.py`
from distill.compression.config import CompressConfig  # noqa: E402
from distill.core import names  # noqa: E402
from distill.core import params as P  # noqa: E402
from distill.core.stage import run  # noqa: E402
from distill.results.config import TUNING  # noqa: E402
from distill.training import scores  # noqa: E402
from distill.training.config import augment_problem, sweep_spec  # noqa: E402

STUDY = ROOT / "study"
LOCK = ROOT / ".dvc" / "tmp" / "tune.lock"  # git-ignored: tuners side by side take turns appending


def variants(base, settings):
    """Every combination of `settings` ({field: [values]}) applied to the TrainConfig `base`."""
    fields = {f.name: f for f in dataclasses.fields(base)}
    grid = []
    for key, values in settings.items():
        if key not in fields or key == "seeds":
            known = ", ".join(k for k in fields if k != "seeds")
            raise SystemExit(f"tune: error: --set {key}: not a TrainConfig field (known: {known})")
        check = fields[key].metadata["check"]
        grid.append([(key, check(v, f"--set {key}", "command line")) for v in values])
    return [dataclasses.replace(base, **dict(combo)) for combo in itertools.product(*grid)]


def parse_value(text):
    if text in ("true", "false"):
        return text == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", action="store_true", help="tune a study family (run in study/, its params)")
    ap.add_argument("--epochs", type=int, help="with --study: the schedule (default: the family's first)")
    ap.add_argument("arch", choices=names.ARCHS)
    ap.add_argument("hidden", help="widths, e.g. 6 or 8-16-32")
    ap.add_argument("loss", choices=names.LOSSES)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=V1,V2", help="values to try for one field")
    ap.add_argument("--seeds", default="0", help="comma-separated seeds per variant (default: 0)")
    ap.add_argument("--prune", action="append", default=[], metavar="SPARSITY:EPOCHS",
                    help="also prune each trained model to SPARSITY with EPOCHS of fine-tuning, as compress does")
    ap.add_argument("--out", help=f"(default: {TUNING}; with --study, study/metrics/tuning.json; "
                                  "a relative path is then under study/)")
    args = ap.parse_args()
    try:
        spec = names.StudentSpec(args.arch, P.widths()(args.hidden, "hidden", "command line"), args.loss)
        settings = {}
        for item in args.set:
            key, _, values = item.partition("=")
            settings[key] = [parse_value(v) for v in values.split(",") if v]
        seeds = [int(s) for s in args.seeds.split(",")]
        runs = variants(dataclasses.replace(starting_point(args), seeds=seeds), settings)
        for cfg in runs:  # the checks a params section gets, across fields
            if problem := augment_problem(args.arch, cfg.augment, cfg.mixup):
                raise P.ParamsError(f"--set {problem[0]}: {problem[1]}")
        compress = P.section("compress", CompressConfig)
        check = {f.name: f.metadata["check"] for f in dataclasses.fields(compress)}
        prunes = []
        for item in args.prune:
            sparsity, _, epochs = item.partition(":")
            prunes.append(dataclasses.replace(
                compress, sparsity=check["sparsity"](parse_value(sparsity), "--prune sparsity", "command line"),
                finetune_epochs=check["finetune_epochs"](parse_value(epochs or "0"), "--prune epochs", "command line")))
    except (P.ParamsError, ValueError) as e:
        raise SystemExit(f"tune: error: {e}") from None

    from distill import data
    from distill.compression import pruning
    from distill.training import loop, losses, models, students

    mnist = data.load()
    train, val = (students.student_data(spec.arch, s, mnist) for s in (data.TRAIN, data.VAL))
    cached = {mixed: students.view_data(mnist["y_train"], mixed)
              for mixed in {cfg.mixup for cfg in runs if cfg.augment}}
    if args.study:
        from distill.study import config as S
    out = Path(args.out or (S.TUNING if args.study else ROOT / TUNING))
    for cfg in runs:
        changed = {k: getattr(cfg, k) for k in settings}
        per_seed, curves, pruned, start = [], [], {}, time.time()
        for seed in cfg.seeds:
            loop.set_determinism(seed)
            model = models.student(spec.arch, spec.widths, cfg.dropout)
            examples = (students.view_batches(*cached[cfg.mixup], cfg.batch_size, seed) if cfg.augment
                        else students.examples(train))
            history = students.fit_student(model, losses.get(spec.loss, cfg), examples, cfg, seed,
                                           f"tune {spec.name} {changed} seed {seed}", None, students.examples(val))
            logits = loop.predict(model, val.x, transform=val.transform)
            per_seed.append(round(scores.accuracy(logits, val.labels), 6))
            curves.append([round(v, 4) for v in history.history["val_accuracy"]])
            for prune in prunes:
                copy = models.student(spec.arch, spec.widths, cfg.dropout)
                copy.set_weights(model.get_weights())
                copy.compile(loss=losses.get(spec.loss, cfg))
                pruning.prune(copy, students.examples(train), prune.sparsity, prune.finetune_epochs,
                              prune.learning_rate, prune.batch_size, prune.seed,
                              f"tune {spec.name} prune {prune.sparsity}", losses.LabelAccuracy())
                logits = loop.predict(copy, val.x, transform=val.transform)
                pruned.setdefault((prune.sparsity, prune.finetune_epochs), []).append(
                    round(scores.accuracy(logits, val.labels), 6))
        row = {"name": spec.name, "train": cfg.as_dict(), "changed": changed, "val_accuracy": per_seed,
               "val_accuracy_mean": round(sum(per_seed) / len(per_seed), 6), "val_accuracy_per_epoch": curves,
               "seconds": round(time.time() - start, 1)}
        if pruned:
            row["pruned"] = [{"sparsity": sp, "finetune_epochs": ep, "val_accuracy": accs,
                              "val_accuracy_mean": round(sum(accs) / len(accs), 6)}
                             for (sp, ep), accs in pruned.items()]
        print(f"{spec.name} {changed}: validation accuracy {row['val_accuracy_mean']:.4f} {per_seed} "
              f"({row['seconds']:.0f}s); per epoch {curves[0]}", flush=True)
        for p in row.get("pruned", []):
            print(f"  pruned to {p['sparsity']} with {p['finetune_epochs']} fine-tuning epochs: validation accuracy "
                  f"{p['val_accuracy_mean']:.4f} {p['val_accuracy']}", flush=True)
        append(out, row)


def append(out, row):
    """Add `row` to the JSON list in `out`, read again under a lock: two tuners side by side (one per core)
    each keep every row."""
    import fcntl

    from distill.core import files

    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        rows = json.loads(out.read_text()) if out.is_file() else []
        files.write_json(out, rows + [row])


def starting_point(args):
    """The TrainConfig tuning starts from: sweep.<arch>.train, or with --study study.<arch>.train at
    --epochs (the family's first schedule when not given)."""
    if not args.study:
        sweep = P.section("sweep", sweep_spec())
        if args.arch not in sweep.families:
            raise P.ParamsError(f"params.yaml: sweep.{args.arch}: no such grid (sweep has "
                                f"{', '.join(sweep.families)}); its train settings are where tuning starts")
        return sweep.families[args.arch].train
    from distill.study import config as S

    family = S.load().family(args.arch)
    epochs = args.epochs or family.epochs[0]
    return dataclasses.replace(S.train_config(family.train, epochs, 0), epochs=epochs)


if __name__ == "__main__":
    if "--study" in sys.argv[1:]:
        os.chdir(STUDY)  # before run(): the study's runtime.tf_threads, its params and files
    run(main)  # TensorFlow's start-up lines dropped, as in the stages
