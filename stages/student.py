"""Stage student: the headline student -> data/students/student.keras, metrics/student.json.

Reads params: student. Trains from the cached teacher outputs (never the teacher itself).
Try another size with `dvc exp run -S student.hidden=8`: only this stage, compress@student and
evaluate rerun.
"""
from dataclasses import dataclass

import distill
from distill import names, paths
from distill import params as P
from distill.config import TrainConfig

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

    @property
    def spec(self):
        return names.StudentSpec(self.arch, self.hidden, self.loss)

    @property
    def train(self):
        return TrainConfig.part_of(self)


def main():
    cfg = P.section("student", StudentConfig)
    from distill import evaluation, files, students

    model, test_logits, seconds = students.train_student(cfg.spec, cfg.train, label=NAME, live_dir=paths.live(NAME))
    reference = evaluation.test_reference()
    record = evaluation.student_record(cfg.spec, model, test_logits, reference, cfg.train)
    files.save_model(model, paths.student_model(NAME))
    record["size_bytes"] = files.size(paths.student_model(NAME))
    evaluation.write_predictions(paths.STUDENT_PREDICTIONS, test_logits, reference.labels)
    files.write_json(paths.STUDENT_RECORD, record)
    files.write_json(paths.timing(NAME), {"train_seconds": round(seconds, 1)})
    print(f"{NAME}: {record['name']}: accuracy {record['accuracy']:.4f}, {record['params']:,} params "
          f"({record['compression']:.1f}x smaller than the teacher), agreement {record['agreement']:.4f}")


if __name__ == "__main__":
    distill.run(main)
