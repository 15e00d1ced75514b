"""Stage compress: Deep Compression of one trained student -> deployable .tflite files, measured.

    python -m stages.compress <name>        e.g. student, cnn-8-16-16-32-kd

1. magnitude pruning to compress.sparsity while fine-tuning on the cached teacher logits with the
   student's own loss (restored from the .keras file of its first seed), on the data it trained on:
   the cached views when its provenance says so, else the plain training images; validation
   accuracy of the pruned model is what sparsity and fine-tuning are chosen on;
2. float32 and full-integer int8 TFLite files (int8 calibrated on compress.calibration_images
   training images); a `head` student ships with the teacher's conv layers in front;
3. accuracy of each file run in LiteRT's interpreter on the test set, bytes and gzip bytes; ms per
   image at batch 1 and 1000 for the teacher and the student, in this one process, go to the untracked
   metrics/timing/compress-<name>.json (wall-clock in a tracked output would differ on every rerun).
Reads params: compress. Writes data/compressed/<name>{,-int8}.tflite, data/compressed/<name>.json (the
record) and metrics/compress/<name>.json (its headline: the int8 file's accuracy and bytes, the params).
"""
import sys

from distill.compression.config import CompressConfig
from distill.core import params as P
from distill.core.stage import run


def main(argv):
    cfg = P.section("compress", CompressConfig)
    if len(argv) != 1:
        raise P.ParamsError(f"usage: python -m stages.compress <student name>, got {argv}")
    name = argv[0]
    P.listed(name, cfg.students, "compress.students")
    from distill.compression import ship

    ship.ship(name, cfg)


if __name__ == "__main__":
    run(lambda: main(sys.argv[1:]))
