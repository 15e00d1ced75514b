"""Stage sweep (and sweep_mlp, sweep_cnn): one grid point of a student family.

    python -m stages.sweep <arch> <hidden> <loss>      e.g. head 6 kd, cnn 8-16-32 hard

Reads params: sweep. The point must be on the grid of sweep.<arch>; it trains with the settings
in sweep.<arch>.train and writes data/students/<name>.keras and metrics/sweep/<name>.json.
DVC's matrix makes each point its own stage, so adding a value to a list trains only new points.
"""
import sys

import distill
from distill import params as P
from stages.student import TRAIN, check_widths

FAMILY = P.mapping({
    "hidden": P.list_of(P.widths()),
    "loss": P.list_of(P.choice("mse", "kd", "hard")),
    "train": P.mapping(TRAIN),
})
SCHEMA = {"head": FAMILY, "mlp": FAMILY, "cnn": FAMILY}


def main(argv):
    if len(argv) != 3:
        raise P.ParamsError(f"usage: python -m stages.sweep <arch> <hidden> <loss>, got {argv}")
    p = P.section("sweep", SCHEMA)
    arch, loss = argv[0], argv[2]
    if arch not in p:
        raise P.ParamsError(f"params.yaml: sweep.{arch}: no such family (known: {', '.join(p)})")
    widths = P.widths()(argv[1], f"sweep.{arch}.hidden", P.PARAMS_FILE)
    for i, w in enumerate(p[arch]["hidden"]):
        check_widths(arch, w, f"sweep.{arch}.hidden[{i}]")
    if widths not in p[arch]["hidden"] or loss not in p[arch]["loss"]:
        raise P.ParamsError(f"params.yaml: sweep.{arch}: the point {argv[1]} {loss} is not on the grid "
                            "(dvc.yaml's matrix and params.yaml disagree)")
    from distill import evaluation, files, models, training

    name = models.spec_name(arch, widths, loss)
    train = p[arch]["train"]
    model, test_logits, seconds = training.train_student(arch, widths, loss, label=name, **train)
    labels, teacher_logits = evaluation.test_reference()
    record = evaluation.student_record(arch, widths, loss, model, test_logits, labels, teacher_logits, seconds, train)
    path = f"data/students/{name}.keras"
    with files.atomic_path(path) as tmp:
        model.save(tmp)
    record["size_bytes"] = files.size(path)
    files.write_json(f"metrics/sweep/{name}.json", record)
    print(f"{name}: accuracy {record['accuracy']:.4f}, {record['params']:,} params, "
          f"agreement with the teacher {record['agreement']:.4f}")


if __name__ == "__main__":
    distill.run(lambda: main(sys.argv[1:]))
