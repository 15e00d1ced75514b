"""The default pipeline's evaluate: every record gathered -> metrics/summary.json, metrics/report.md,
metrics/plots/. Everything is read and checked before anything is written."""
from distill import data
from distill.core import files, names, paths
from distill.results import plots
from distill.results import report as R
from distill.results.config import DEEP_KEYS, TUNING
from distill.training import evaluation

STUDENT_KEYS = ("name", "arch", "hidden", "widths", "loss", "params", "accuracy", "accuracy_std", "accuracy_min",
                "val_accuracy", "compression", "agreement", "seeds", "per_seed")
COMPRESS_KEYS = ("name", "arch", "sparsity", *names.TFLITE_KINDS)


def evaluate(cfg, sweep, compress, deep_cfg):
    """Gather the records the `evaluate` (EvaluateConfig), `sweep`, `compress` and `deep_compress`
    sections name; write the summary, the report and the plots; return the summary."""
    teacher = files.read_record(paths.TEACHER_FULL_RECORD, ("accuracy", "val_accuracy", "params"))
    student = files.read_record(paths.student_full_record(paths.HEADLINE), STUDENT_KEYS)
    records = [files.read_record(paths.student_full_record(spec.name), STUDENT_KEYS) for spec in sweep.specs()]
    compressed = [files.read_record(paths.compress_full_record(name), COMPRESS_KEYS) for name in compress.students]
    teacher_tflite = files.read_record(paths.compress_full_record(names.TEACHER), ("name", *names.TFLITE_KINDS))
    deep = [files.read_record(paths.deep_full_record(name), DEEP_KEYS) for name in deep_cfg.subjects]
    actual, predicted = evaluation.read_predictions(paths.STUDENT_PREDICTIONS)
    curves = {names.TEACHER: plots.read_live(paths.live(names.TEACHER)),
              f"student {student['name']} (seed {student['seeds'][0]})":
                  plots.read_live(paths.seed_dir(paths.live(paths.HEADLINE), student["seeds"][0]))}

    predictions = {r["name"]: evaluation.load_test_predictions(r["name"], r["seeds"]) for r in records}
    labels = data.load()["y_test"]

    gains = R.kd_gain(records, predictions, labels)
    shipped = R.artifacts(compressed, teacher_tflite, deep)
    summary = R.summarize(teacher, student, records, cfg.targets, cfg.file_target, gains, compressed,
                          R.goals(records, gains, cfg.budgets, cfg.kd_goal), shipped,
                          R.deep_goals(deep, shipped, cfg.deep_goals, cfg.file_target))
    trials = R.trials(files.read_json(TUNING), cfg.kd_goal["params"])
    R.write_csv(paths.plot("artifacts.csv"), shipped, list(shipped[0]))
    plots.accuracy_vs_bytes(shipped, cfg.file_target, paths.plot("accuracy_vs_bytes.png"))
    for loss in names.LOSSES:
        heads = sorted((r for r in records if r["arch"] == names.HEAD and r["loss"] == loss), key=lambda r: r["params"])
        R.write_csv(paths.plot(f"head_{loss}.csv"), heads,
                    ["hidden", "params", "compression", "accuracy", "accuracy_std", "val_accuracy", "agreement"])
    R.write_csv(paths.plot("seed.csv"), R.seed_records(), ["hidden", "params", "compression", "accuracy"])
    R.write_csv(paths.plot("frontier.csv"), sorted(records + [student], key=lambda r: r["params"]),
                ["name", "arch", "loss", "params", "accuracy", "accuracy_std", "accuracy_min", "val_accuracy"])
    plots.frontier(records + [student], teacher, cfg.targets, paths.plot("frontier.png"))
    plots.head_sweep(records, teacher, "params", paths.plot("accuracy_vs_params.png"))
    plots.head_sweep(records, teacher, "compression", paths.plot("accuracy_vs_compression.png"))
    plots.confusion_matrix(actual, predicted, f"Headline student {student['name']}", paths.plot("confusion.png"))
    plots.training_curves(curves, paths.plot("training.png"))

    files.write_json(paths.SUMMARY, summary)
    with files.atomic_path(paths.REPORT) as tmp:
        tmp.write_text(R.report(summary, records, compressed, teacher_tflite, trials, shipped, deep))
    best = ", ".join(f"{t}: " + (f"{b['name']} ({b['params']:,} params, {b['accuracy']:.4f})" if b else "none")
                     for t in cfg.targets for b in [summary[f"smallest_at_{R.target_key(t)}"]])
    print(f"evaluate: teacher {teacher['accuracy']:.4f}; student {student['name']} {student['accuracy']:.4f} "
          f"at {student['params']:,} params; smallest at {best}")
    return summary
