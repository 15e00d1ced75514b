"""Stage teacher_outputs: the trained teacher, in inference mode (dropout off), over every image.

Writes, under data/teacher_outputs/, the artifact the students train from:
  {train,val,test}_logits.npy    float32 (n, 10)
  {train,val,test}_features.npy  the 9,216 flattened conv features after MaxPool (n, 9216); none
                                 with features_dtype none (the study: no head student reads them)
  views_logits.npy           float32 (K, n, 10): the teacher on each cached view of each training image
  views_mixed_logits.npy     float32 (K, n, 10): on each view's mixup blend; (0, n, 10) when views.mixup is 0
Reads params: teacher_outputs. Same teacher weights, same bytes: students then stay up to date.
"""

from distill.core import params as P
from distill.core import paths
from distill.core.names import NO_FEATURES
from distill.core.stage import run
from distill.training.config import TeacherOutputsConfig


def main():
    cfg = P.section("teacher_outputs", TeacherOutputsConfig)
    from distill import data
    from distill.core import files
    from distill.data import views
    from distill.training import loop

    loop.set_determinism(0)
    mnist = data.load()
    teacher = files.load_model(paths.TEACHER_MODEL)
    for split in data.SPLITS:
        loop.dump_teacher_outputs(
            teacher, data.images(mnist[f"x_{split}"]), paths.teacher_outputs(split, "logits"),
            None if cfg.features_dtype == NO_FEATURES else paths.teacher_outputs(split, "features"), cfg.batch_size,
            cfg.features_dtype, f"teacher_outputs: {split}")
    cached = views.load(paths.VIEW_IMAGES, paths.VIEW_MIX, mnist["y_train"])
    loop.dump_view_logits(teacher, cached, paths.VIEW_LOGITS, cfg.batch_size)
    loop.dump_view_logits(teacher, cached, paths.VIEW_MIXED_LOGITS, cfg.batch_size, "teacher_outputs: mixed views",
                          mix=True)


if __name__ == "__main__":
    run(main)
