"""Stage sweep (and sweep_mlp, sweep_cnn): one grid point of a student family.

    python -m stages.sweep <arch> <hidden> <loss>      e.g. head 6 kd, cnn 8-16-32 hard

Reads params: sweep. The point must be on the grid of sweep.<arch>; it trains with the settings
in sweep.<arch>.train, once per seed in its `seeds`, and writes data/students/<name>/ (a model
per seed, test predictions), metrics/sweep/<name>.json and per-epoch curves in metrics/live/<name>/.
DVC's matrix makes each point its own stage, so adding a value to a list trains only new points.
"""
import sys

import distill
from distill import config, names, paths
from distill import params as P


def main(argv):
    if len(argv) != 3:
        raise P.ParamsError(f"usage: python -m stages.sweep <arch> <hidden> <loss>, got {argv}")
    sweep = P.section("sweep", config.sweep_spec())
    arch, loss = argv[0], argv[2]
    if arch not in sweep.families:
        raise P.ParamsError(f"{P.PARAMS_FILE}: sweep.{arch}: no such family (known: {', '.join(sweep.families)})")
    spec = names.StudentSpec(arch, P.widths()(argv[1], f"sweep.{arch}.hidden", P.PARAMS_FILE), loss)
    if spec not in sweep.specs():
        raise P.ParamsError(f"{P.PARAMS_FILE}: sweep.{arch}: the point {argv[1]} {loss} is not on the grid "
                            "(dvc.yaml's matrix and params.yaml disagree)")
    from distill import data, evaluation, files, students

    train = sweep.families[arch].train
    runs = students.train_student(spec, train, label=spec.name, live_dir=paths.live(spec.name))
    mnist = data.load()
    record = evaluation.student_record(spec, runs, evaluation.reference(data.VAL, mnist),
                                       evaluation.reference(data.TEST, mnist), train)
    record["size_bytes"] = students.save(spec.name, runs)
    files.write_json(paths.sweep_record(spec.name), record)
    files.write_json(paths.timing(spec.name), students.timing(runs))
    print(f"{spec.name}: {len(runs)} seed(s): test accuracy {record['accuracy']:.4f} mean, "
          f"{record['accuracy_min']:.4f} min (validation {record['val_accuracy']:.4f}), {record['params']:,} params, "
          f"agreement with the teacher {record['agreement']:.4f}")

if __name__ == "__main__":
    distill.run(lambda: main(sys.argv[1:]))
