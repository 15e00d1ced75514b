"""Stage student: the headline student -> data/students/student/ (its full record.json inside),
metrics/student.json (the record's headline keys).

Reads params: student. Trains from the cached teacher outputs (never the teacher itself), once per
seed in student.seeds; the confusion matrix shows the first seed's test predictions.
Try another size with `dvc exp run -S student.hidden=8`: only this stage, compress@student and
evaluate rerun.
"""
from dataclasses import dataclass

import distill
from distill import names, paths
from distill import params as P
from distill.config import TrainConfig, augment_problem

NAME = paths.HEADLINE


@dataclass(frozen=True)
class StudentConfig(TrainConfig):
    """The headline student: what it is (arch, hidden, loss) and how it trains (TrainConfig)."""

    arch: str = P.field(P.choice(*names.ARCHS))
    hidden: tuple = P.field(P.widths())
    loss: str = P.field(P.choice(*names.LOSSES))

    def problems(self):
        if problem := names.widths_problem(self.arch, self.hidden):
            yield "hidden", problem
        if problem := augment_problem(self.arch, self.augment):
            yield "augment", problem

    @property
    def spec(self):
        return names.StudentSpec(self.arch, self.hidden, self.loss)

    @property
    def train(self):
        return TrainConfig.part_of(self)


def main():
    cfg = P.section("student", StudentConfig)
    from distill import data, evaluation, students

    _, runs = students.train_and_record(cfg.spec, cfg.train, NAME, paths.STUDENT_RECORD)
    evaluation.write_predictions(paths.STUDENT_PREDICTIONS, runs[0].test_logits, data.load()["y_test"])


if __name__ == "__main__":
    distill.run(main)
