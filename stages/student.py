"""Stage student: the headline student -> data/students/student/ (its full record.json inside),
metrics/student.json (the record's headline keys).

Reads params: student. Trains from the cached teacher outputs (never the teacher itself), once per
seed in student.seeds; the confusion matrix shows the first seed's test predictions.
Try another size with `dvc exp run -S student.hidden=8`: only this stage, compress@student and
evaluate rerun.
"""

from distill.core import params as P
from distill.core import paths
from distill.core.stage import run
from distill.training.config import StudentConfig

NAME = paths.HEADLINE


def main():
    cfg = P.section("student", StudentConfig)
    from distill import data
    from distill.training import evaluation, students

    _, runs = students.train_and_record(cfg.spec, cfg.train, NAME, paths.STUDENT_RECORD)
    evaluation.write_predictions(paths.STUDENT_PREDICTIONS, runs[0].test_logits, data.load()["y_test"])


if __name__ == "__main__":
    run(main)
