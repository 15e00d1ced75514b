"""Stage sweep (and sweep_mlp): one grid point of a student family.

    python -m stages.sweep <arch> <hidden> <loss>      e.g. head 6 kd, cnn 8-16-32 hard

Reads params: sweep. The point must be on the grid of sweep.<arch>; it trains with the settings
in sweep.<arch>.train, once per seed in its `seeds`, and writes data/students/<name>/ (a model
per seed, test predictions, the full record), metrics/sweep/<name>.json (its headline keys) and
per-epoch curves in metrics/live/<name>/.
DVC's matrix makes each point its own stage, so adding a value to a list trains only new points.
"""
import sys

from distill.core import names, paths
from distill.core import params as P
from distill.core.stage import run
from distill.training.config import sweep_spec


def main(argv):
    if len(argv) != 3:
        raise P.ParamsError(f"usage: python -m stages.sweep <arch> <hidden> <loss>, got {argv}")
    sweep = P.section("sweep", sweep_spec())
    arch, loss = argv[0], argv[2]
    if arch not in sweep.families:
        raise P.ParamsError(f"{P.PARAMS_FILE}: sweep.{arch}: no such family (known: {', '.join(sweep.families)})")
    spec = names.StudentSpec(arch, P.widths()(argv[1], f"sweep.{arch}.hidden", P.PARAMS_FILE), loss)
    P.listed(spec, sweep.specs(), f"sweep.{arch}", f"the point {argv[1]} {loss}")
    from distill.training import students

    students.train_and_record(spec, sweep.families[arch].train, spec.name, paths.sweep_record(spec.name))


if __name__ == "__main__":
    run(lambda: main(sys.argv[1:]))
