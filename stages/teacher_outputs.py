"""Stage teacher_outputs: the trained teacher, in inference mode (dropout off), over every image.

Writes, under data/teacher_outputs/, the artifact the students train from:
  {train,val,test}_logits.npy    float32 (n, 10)
  {train,val,test}_features.npy  the 9,216 flattened conv features after MaxPool (n, 9216)
  views_logits.npy           float32 (K, n, 10): the teacher on each cached view of each training image
Reads params: teacher_outputs. Same teacher weights, same bytes: students then stay up to date.
"""
from dataclasses import dataclass

import distill
from distill import names, paths
from distill import params as P


@dataclass(frozen=True)
class TeacherOutputsConfig:
    batch_size: int = P.field(P.integer(min=1))  # inference batch; changing it may change low bits
    features_dtype: str = P.field(P.choice(*names.FEATURE_DTYPES))


def main():
    cfg = P.section("teacher_outputs", TeacherOutputsConfig)
    from distill import data, files, training, views

    training.set_determinism(0)
    mnist = data.load()
    teacher = files.load_model(paths.TEACHER_MODEL)
    for split in data.SPLITS:
        training.dump_teacher_outputs(
            teacher, data.images(mnist[f"x_{split}"]), paths.teacher_outputs(split, "logits"),
            paths.teacher_outputs(split, "features"), cfg.batch_size, cfg.features_dtype, f"teacher_outputs: {split}")
    cached = views.load(paths.VIEW_IMAGES, paths.VIEW_MIX, mnist["y_train"])
    training.dump_view_logits(teacher, cached, paths.VIEW_LOGITS, cfg.batch_size)


if __name__ == "__main__":
    distill.run(main)
