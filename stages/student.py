"""Stage student: the headline student -> data/students/student.keras, metrics/student.json.

Reads params: student. Trains from the cached teacher outputs (never the teacher itself).
Try another size with `dvc exp run -S student.hidden=8`: only this stage and evaluate rerun.
"""
import distill
from distill import params as P

NAME = "student"
MODEL, RECORD = f"data/students/{NAME}.keras", f"metrics/{NAME}.json"
PREDICTIONS, LIVE = "metrics/student_predictions.csv", "metrics/live/student"
TRAIN = {
    "temperature": P.number(above=0),
    "alpha": P.number(min=0, max=1),
    "epochs": P.integer(min=1),
    "batch_size": P.integer(min=1),
    "learning_rate": P.number(above=0),
    "dropout": P.number(min=0, max=0.95),
    "seed": P.integer(min=0),
}
SCHEMA = {
    "arch": P.choice("head", "mlp", "cnn"),
    "hidden": P.widths(),
    "loss": P.choice("mse", "kd", "hard"),
    **TRAIN,
}


def check_widths(arch, widths, key):
    if arch == "head" and len(widths) != 1:
        raise P.ParamsError(f"params.yaml: {key}: a head student has one hidden layer, got {len(widths)} widths")


def main():
    p = P.section("student", SCHEMA)
    check_widths(p["arch"], p["hidden"], "student.hidden")
    from distill import evaluation, files, training

    train = {k: p[k] for k in TRAIN}
    model, test_logits, seconds = training.train_student(
        p["arch"], p["hidden"], p["loss"], label=NAME, live_dir=LIVE, **train)
    labels, teacher_logits = evaluation.test_reference()
    record = evaluation.student_record(
        p["arch"], p["hidden"], p["loss"], model, test_logits, labels, teacher_logits, seconds, train)
    with files.atomic_path(MODEL) as tmp:
        model.save(tmp)
    record["size_bytes"] = files.size(MODEL)
    evaluation.write_predictions(PREDICTIONS, test_logits, labels)
    files.write_json(RECORD, record)
    print(f"{NAME}: {record['name']}: accuracy {record['accuracy']:.4f}, {record['params']:,} params "
          f"({record['compression']:.1f}x smaller than the teacher), agreement {record['agreement']:.4f}")


if __name__ == "__main__":
    distill.run(main)
