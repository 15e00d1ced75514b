"""Stage <family>@<hidden>-<loss>-<epochs>-<seed> of the study (study/dvc.yaml): one seed of one
student at one schedule.

    PYTHONPATH=.. python -m stages.study_seed <arch> <hidden> <loss> <epochs> <seed>   (in study/)
    e.g. sep 8-24-2 kd 36 0

Reads params: study (the point, the schedule and the seed must be on the grid of study.<arch>; it
trains with study.<arch>.train for <epochs> epochs). Trains that one seed from the cached teacher
outputs (students.train_student with seeds [seed]) and writes small files that git tracks:
  data/students/<name>-e<epochs>/seed-<seed>.keras                    the model (what deep_compress reads)
  data/students/<name>-e<epochs>/seed-<seed>.provenance.json          what it trained on, its recipe, its seed
  metrics/seeds/<network>/<loss>-e<epochs>-seed-<seed>.json           its record (one seed)
  metrics/seeds/<network>/<loss>-e<epochs>-seed-<seed>-{val,test}.npy its predicted classes, int8
and, untracked, metrics/timing/<name>-e<epochs>-seed-<seed>.json (wall-clock, read by no stage).
Each seed is its own stage, so adding a seed or a schedule to study.<arch> trains only what is new.
"""
import sys

from distill.core import names, paths
from distill.core import params as P
from distill.core.stage import run
from distill.study import config as S


def main(argv):
    if len(argv) != 5:
        raise P.ParamsError(f"usage: python -m stages.study_seed <arch> <hidden> <loss> <epochs> <seed>, got {argv}")
    arch, hidden, loss, epochs, seed = argv
    cfg = S.load()
    spec = names.StudentSpec(arch, S.point(cfg, arch, hidden, loss), loss)
    family = cfg.family(arch)
    if not seed.isdigit() or int(seed) not in family.seeds:
        raise P.ParamsError(f"{P.PARAMS_FILE}: {S.SECTION}.{arch}.seeds: seed {seed} is not listed "
                            "(study/dvc.yaml's matrix and study/params.yaml disagree)")
    if not epochs.isdigit() or int(epochs) not in family.epochs:
        raise P.ParamsError(f"{P.PARAMS_FILE}: {S.SECTION}.{arch}.epochs: {epochs} is not listed "
                            "(study/dvc.yaml's matrix and study/params.yaml disagree)")
    seed, epochs = int(seed), int(epochs)
    import numpy as np

    from distill import data
    from distill.core import files
    from distill.training import evaluation, provenance, students

    train = S.train_config(family.train, epochs, seed)
    name = S.run_name(spec, epochs)
    (run,) = students.train_student(spec, train, label=f"{name} seed {seed}")
    mnist = data.load()
    record = evaluation.student_record(spec, [run], evaluation.reference(data.VAL, mnist),
                                       evaluation.reference(data.TEST, mnist), train)
    record["name"] = name
    model_path = paths.student_model(name, seed)
    files.save_model(run.model, model_path)
    provenance.write(model_path, provenance.record(model_path, arch, train.augment, seed, train.as_dict()))
    record["per_seed"][0]["size_bytes"] = files.size(paths.student_model(name, seed))
    for split, logits in ((data.VAL, run.val_logits), (data.TEST, run.test_logits)):
        files.save_npy(S.seed_predictions(spec, epochs, seed, split), np.argmax(logits, axis=1).astype(np.int8))
    files.write_json(S.seed_record(spec, epochs, seed), record)
    files.write_json(S.seed_timing(spec, epochs, seed), students.timing([run]))
    print(f"{name} seed {seed}: test accuracy {record['accuracy']:.4f} (validation {record['val_accuracy']:.4f}), "
          f"{record['params']:,} params, agreement with the teacher {record['agreement']:.4f}, "
          f"trained in {run.seconds:.0f}s")


if __name__ == "__main__":
    run(lambda: main(sys.argv[1:]))
