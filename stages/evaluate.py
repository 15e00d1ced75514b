"""Stage evaluate: gather every record -> metrics/summary.json, metrics/report.md, metrics/plots/.

Reads params: evaluate, and sweep and compress.students (to know which records to expect; a missing
one is an error, a stale record of a point no longer on the grid is left out).
"""
import distill
from distill import params as P
from stages.compress import SCHEMA as COMPRESS_SCHEMA
from stages.sweep import SCHEMA as SWEEP_SCHEMA

SUMMARY, REPORT, PLOTS = "metrics/summary.json", "metrics/report.md", "metrics/plots"
SCHEMA = {"target_accuracy": P.number(min=0, max=1)}


def grid_names(sweep):
    from distill import models

    return [models.spec_name(arch, w, loss) for arch, fam in sweep.items() for w in fam["hidden"] for loss in fam["loss"]]


def main():
    p = P.section("evaluate", SCHEMA)
    sweep = P.section("sweep", SWEEP_SCHEMA)
    compress = P.section("compress", COMPRESS_SCHEMA)
    from distill import evaluation, files, plots
    from distill import report as E

    teacher = files.read_json("metrics/teacher.json")
    student = files.read_json("metrics/student.json")
    records = [files.read_json(f"metrics/sweep/{name}.json") for name in grid_names(sweep)]
    compressed = [files.read_json(f"metrics/compress/{name}.json") for name in compress["students"]]
    teacher_tflite = files.read_json("metrics/compress/teacher.json")
    summary = E.summarize(teacher, student, records, p["target_accuracy"], compressed)
    rows = E.compressed_files(compressed)
    E.write_csv(f"{PLOTS}/compressed.csv", rows, list(rows[0]))
    plots.accuracy_vs_bytes(rows, teacher_tflite, f"{PLOTS}/accuracy_vs_bytes.png")

    for loss in ("mse", "kd", "hard"):
        rows = sorted((r for r in records if r["arch"] == "head" and r["loss"] == loss), key=lambda r: r["params"])
        E.write_csv(f"{PLOTS}/head_{loss}.csv", rows, ["hidden", "params", "compression", "accuracy", "agreement"])
    E.write_csv(f"{PLOTS}/seed.csv", E.seed_records(), ["hidden", "params", "compression", "accuracy"])
    E.write_csv(f"{PLOTS}/frontier.csv", sorted(records + [student], key=lambda r: r["params"]),
                ["name", "arch", "loss", "params", "accuracy"])
    plots.frontier(records + [student], teacher, f"{PLOTS}/frontier.png")
    plots.head_sweep(records, teacher, "params", f"{PLOTS}/accuracy_vs_params.png")
    plots.head_sweep(records, teacher, "compression", f"{PLOTS}/accuracy_vs_compression.png")
    actual, predicted = evaluation.read_predictions("metrics/student_predictions.csv")
    plots.confusion_matrix(actual, predicted, f"Headline student {student['name']}", f"{PLOTS}/confusion.png")
    plots.training_curves({"teacher": plots.read_live("metrics/live/teacher"), f"student {student['name']}":
                           plots.read_live("metrics/live/student")}, f"{PLOTS}/training.png")

    files.write_json(SUMMARY, summary)
    with files.atomic_path(REPORT) as tmp:
        tmp.write_text(E.report(summary, records, compressed, teacher_tflite))
    best = summary["smallest_at_target"]
    print(f"evaluate: teacher {teacher['accuracy']:.4f}; student {student['name']} {student['accuracy']:.4f} "
          f"at {student['params']:,} params; smallest at {p['target_accuracy']}: "
          + (f"{best['name']} ({best['params']:,} params, {best['accuracy']:.4f})" if best else "none"))


if __name__ == "__main__":
    distill.run(main)
