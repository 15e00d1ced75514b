"""Stage gather_<family>@<hidden> of the study (study/dvc.yaml): one network's seeds, gathered.

    PYTHONPATH=.. python -m stages.study_gather <arch> <hidden>      e.g. sep 8-24-2  (in study/)

Reads params: study.<arch>.loss, .epochs and .seeds, and metrics/seeds/<network>/ (what each seed
stage wrote). For each loss and schedule: mean, sample std and min over the seeds of validation and
test accuracy (one record, the shape of evaluation.student_record); per loss, the schedule of the best
mean validation accuracy; for kd and dkd, the exact paired test against hard over the seeds both
trained (stats.kd_vs_hard) at the chosen schedules, and at each schedule with its 95% intervals (the
gain curve). Writes metrics/networks/<network>.json (git-tracked).
Cheap: it reruns whenever a seed is added, and only it, the report and that network's deep_compress follow.
"""
import sys

from distill.core import names
from distill.core import params as P
from distill.core.stage import run
from distill.study import config as S


def main(argv):
    if len(argv) != 2:
        raise P.ParamsError(f"usage: python -m stages.study_gather <arch> <hidden>, got {argv}")
    arch, hidden = argv
    cfg = S.load()
    widths = S.point(cfg, arch, hidden)
    family = cfg.family(arch)
    import numpy as np

    from distill import data
    from distill.core import files
    from distill.results import study_gather as G

    network = S.network_name(arch, widths)
    runs, predictions = {}, {}
    for loss in family.loss:
        spec = names.StudentSpec(arch, widths, loss)
        for epochs in family.epochs:
            seed_records = [files.read_json(S.seed_record(spec, epochs, seed)) for seed in family.seeds]
            try:
                runs[(loss, epochs)] = G.merge(seed_records)
            except ValueError as e:
                raise files.InputError(f"{S.network_dir(network)}: {e}") from None
            pred = []
            for seed in family.seeds:
                path = S.seed_predictions(spec, epochs, seed, data.TEST)
                p = files.load_npy(path, mmap=False)
                if p.ndim != 1:
                    raise files.InputError(f"{path}: holds {p.shape}, expected one predicted class per test image; "
                                           f"rerun its stage (dvc repro -f -s {arch}@{hidden}-{loss}-{epochs}-{seed})")
                pred.append(p)
            predictions[(loss, epochs)] = np.stack(pred)
    labels = data.load()["y_test"]
    for loss, p in predictions.items():
        if p.shape[1] != len(labels):
            raise files.InputError(f"{S.network_dir(network)}: {loss} predictions for {p.shape[1]} test images, "
                                   f"data/mnist.npz holds {len(labels)}: rerun the seed stages (dvc repro)")
    record = G.network_record(arch, widths, network, runs, predictions, labels)
    files.write_json(S.network_record(network), record)
    tests = "; ".join(f"{k}: {g['mean']:+.4f} ({g['verdict']}, p {g['p_value']:.3g})"
                      for k, g in record["kd_gain"].items())
    chose = ", ".join(f"{r['loss']} {r['epochs']} epochs (test {r['accuracy']:.4f})" for r in record["students"])
    print(f"gather {network}: {len(family.seeds)} seeds x {len(family.epochs)} schedules; validation chose {chose}"
          + (f"; {tests}" if tests else ""))


if __name__ == "__main__":
    run(lambda: main(sys.argv[1:]))
