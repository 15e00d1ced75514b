"""Stage gather_<family>@<hidden> of the study (study/dvc.yaml): one network's seeds, gathered.

    PYTHONPATH=.. python -m stages.gather <arch> <hidden>      e.g. sep 8-24-2  (in study/)

Reads params: study.<arch>.loss and study.<arch>.seeds, and metrics/seeds/<network>/ (what each seed
stage wrote). For each loss: mean, sample std and min over the seeds of validation and test accuracy
(one record, the shape of evaluation.student_record); for kd and dkd, the exact paired test against
hard over the seeds both trained (stats.kd_vs_hard). Writes metrics/networks/<network>.json (git-tracked).
Cheap: it reruns whenever a seed is added, and only it, the report and that network's deep_compress follow.
"""
import sys

import distill
from distill import names
from distill import params as P
from distill import study as S


def main(argv):
    if len(argv) != 2:
        raise P.ParamsError(f"usage: python -m stages.gather <arch> <hidden>, got {argv}")
    arch, hidden = argv
    cfg = S.load()
    widths = S.point(cfg, arch, hidden)
    family = cfg.family(arch)
    import numpy as np

    from distill import data, files
    from distill import gather as G

    network = S.network_name(arch, widths)
    students, predictions = {}, {}
    for loss in family.loss:
        spec = names.StudentSpec(arch, widths, loss)
        seed_records = [files.read_json(S.seed_record(spec, seed)) for seed in family.seeds]
        try:
            students[loss] = G.merge(seed_records)
        except ValueError as e:
            raise files.InputError(f"{S.network_dir(network)}: {e}") from None
        pred = []
        for seed in family.seeds:
            path = S.seed_predictions(spec, seed, data.TEST)
            p = files.load_npy(path, mmap=False)
            if p.ndim != 1:
                raise files.InputError(f"{path}: holds {p.shape}, expected one predicted class per test image; "
                                       f"rerun its stage (dvc repro -f -s {arch}@{hidden}-{loss}-{seed})")
            pred.append(p)
        predictions[loss] = np.stack(pred)
    labels = data.load()["y_test"]
    for loss, p in predictions.items():
        if p.shape[1] != len(labels):
            raise files.InputError(f"{S.network_dir(network)}: {loss} predictions for {p.shape[1]} test images, "
                                   f"data/mnist.npz holds {len(labels)}: rerun the seed stages (dvc repro)")
    record = G.network_record(arch, widths, network, students, predictions, labels)
    files.write_json(S.network_record(network), record)
    tests = "; ".join(f"{k}: {g['mean']:+.4f} ({g['verdict']}, p {g['p_value']:.3g})"
                      for k, g in record["kd_gain"].items())
    print(f"gather {network}: {len(family.seeds)} seeds; " + ", ".join(
        f"{r['loss']} {r['accuracy']:.4f}" for r in record["students"]) + (f"; {tests}" if tests else ""))


if __name__ == "__main__":
    distill.run(lambda: main(sys.argv[1:]))
