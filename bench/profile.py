"""Where a sep epoch's time goes: TensorFlow's profiler over training steps, summed by op type.

    python bench/profile.py [--batchnorm keras|fused|both] [--hidden 8-24-2] [--steps 64] [--top 15]

Trains the sep network (kd loss, batch 128, the seed stage's compile: students.fit_student) on
in-memory random batches, so that only the network's own work is left: the input pipeline is out
of the picture. It times the steps, then records them with tf.profiler and prints the time of each
op type (as % of all op time) and the milliseconds per step. `--batchnorm keras` is the network as
issue 24 found it (Keras's BatchNormalization: about a dozen elementwise ops per layer); `fused` is
models.BatchNorm (one FusedBatchNormV3 kernel forward, one backward). Nothing here is written to the
repository; the trace goes to a temporary folder.
"""
import argparse
import collections
import glob
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: `python bench/profile.py`


def profile(batchnorm, hidden, steps, top):
    import keras
    import numpy as np
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    from distill.core import names
    from distill.study import config as study
    from distill.training import loop, losses, models, students

    fused = models.BatchNorm
    models.BatchNorm = fused if batchnorm == "fused" else keras.layers.BatchNormalization
    # the study's own sep settings (study/params.yaml: loss, batch size, optimizer), one epoch, seed 0
    train = study.train_config(study.load(ROOT / "study" / "params.yaml").family(names.SEP).train, 1, 0)
    loop.set_determinism(0)
    model = models.student(names.SEP, names.parse_widths(hidden))
    models.BatchNorm = fused
    rng = np.random.default_rng(0)
    x = rng.random((steps * train.batch_size, 28, 28, 1), np.float32)
    y = losses.pack_targets(rng.integers(10, size=len(x)), rng.normal(size=(len(x), 10)))
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(train.batch_size).cache()
    students.fit_student(model, losses.get(names.KD, train), data, train)  # compile and trace, untimed
    start = time.time()
    model.fit(data, epochs=1, verbose=0)
    ms = (time.time() - start) / steps * 1000
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        model.fit(data, epochs=1, verbose=0)
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        space.ParseFromString(Path(glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)[0]).read_bytes())
    ops = collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            if "tf_Compute" not in line.name and "intra" not in line.name.lower():
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                ops[name.rsplit(":", 1)[-1]] += event.duration_ps / 1e9  # "op_name:OpType" -> OpType, in ms
    ops.pop("Process", None)  # the executor's span around the ops, not an op
    total = sum(ops.values())
    per_epoch = math.ceil(55_000 / train.batch_size)
    print(f"sep-{hidden}, {batchnorm} BatchNorm: {ms:.1f} ms per step of {train.batch_size} "
          f"({ms * per_epoch / 1000:.1f} s per 55,000 images); op time {total / steps:.1f} ms per step, by op type:")
    for op, t in ops.most_common(top):
        print(f"  {100 * t / total:5.1f}%  {t / steps:6.2f} ms/step  {op}")
    return ms


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batchnorm", choices=("keras", "fused", "both"), default="both")
    ap.add_argument("--hidden", default="8-24-2")
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args()
    from distill.core import runtime

    runtime.pin_threads(ROOT / "study" / "params.yaml")  # the study's thread count, before TensorFlow starts
    for batchnorm in ("keras", "fused") if args.batchnorm == "both" else (args.batchnorm,):
        profile(batchnorm, args.hidden, args.steps, args.top)


if __name__ == "__main__":
    main()
