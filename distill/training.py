"""Training: determinism, optimizers and schedules, batches from memory-mapped arrays, progress.

The teacher trains with a plain `model.fit` on in-memory arrays. Students train from the cached
teacher outputs through `Batches`, which reads rows from memory-mapped .npy files, so a 1 GB
feature array is never copied whole into RAM.
"""
import math
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from . import files, losses, models

OPTIMIZERS = ("adam", "sgd", "rmsprop", "adadelta")
SCHEDULES = ("constant", "cosine")


def set_determinism(seed):
    """Same seed and params, same bytes: seeds Python, NumPy and TF, and makes TF ops deterministic."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def learning_rate(peak, schedule, total_steps, warmup_steps=0):
    """A constant or cosine-decayed learning rate, with an optional linear warmup."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule '{schedule}' (known: {', '.join(SCHEDULES)})")
    if schedule == "constant" and not warmup_steps:
        return peak
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup_steps else peak,
        decay_steps=max(1, total_steps - warmup_steps),
        alpha=1.0 if schedule == "constant" else 0.0,
        warmup_target=peak if warmup_steps else None,
        warmup_steps=warmup_steps,
    )


def optimizer(name, lr, weight_decay=0.0):
    """Keras 3 applies `weight_decay` decoupled from the gradient (as AdamW) for every optimizer."""
    wd = weight_decay or None
    if name == "adam":
        return keras.optimizers.Adam(lr, weight_decay=wd)
    if name == "sgd":
        return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True, weight_decay=wd)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(lr, weight_decay=wd)
    if name == "adadelta":
        return keras.optimizers.Adadelta(lr, weight_decay=wd)
    raise ValueError(f"unknown optimizer '{name}' (known: {', '.join(OPTIMIZERS)})")


def compile_teacher(model, n_images, p):
    """Compile the teacher as the `teacher` params say: optimizer, peak learning rate, schedule over
    `epochs` of `n_images` in `batch_size` batches with `warmup_epochs` of warmup, weight decay."""
    per_epoch = math.ceil(n_images / p["batch_size"])
    lr = learning_rate(p["learning_rate"], p["schedule"], per_epoch * p["epochs"], per_epoch * p["warmup_epochs"])
    model.compile(optimizer=optimizer(p["optimizer"], lr, p["weight_decay"]),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


class Batches(keras.utils.PyDataset):
    """Shuffled mini-batches (x, y) gathered from arrays that may be memory-mapped.

    float16 features stay float16 until the model's first layer casts them (half the copying).

    The order depends only on `seed` and the epoch, so runs repeat exactly.
    """

    def __init__(self, x, y, batch_size, seed=0, shuffle=True, transform=None):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size
        self.seed, self.shuffle, self.transform = seed, shuffle, transform
        self.epoch = 0
        self._order()

    def _order(self):
        n = len(self.x)
        self.index = np.random.default_rng([self.seed, self.epoch]).permutation(n) if self.shuffle else None

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, i):
        sl = slice(i * self.batch_size, (i + 1) * self.batch_size)
        idx = np.sort(self.index[sl]) if self.shuffle else sl
        x = self.x[idx]
        return (self.transform(x) if self.transform else x), self.y[idx]

    def on_epoch_end(self):
        self.epoch += 1
        self._order()


def predict(model, x, batch_size=1000, transform=None):
    """Logits for `x` (possibly memory-mapped), in chunks, in inference mode."""
    out = []
    for start in range(0, len(x), batch_size):
        chunk = x[start:start + batch_size]
        chunk = transform(chunk) if transform else np.asarray(chunk, dtype=np.float32)
        out.append(np.asarray(model(chunk, training=False)))
    return np.concatenate(out) if out else np.zeros((0, model.outputs[0].shape[-1]), np.float32)


def dump_teacher_outputs(teacher, x, prefix, batch_size=1000, features_dtype="float16"):
    """Write `prefix`_logits.npy (float32) and `prefix`_features.npy for images `x`.

    Inference mode (dropout off), streamed batch by batch into .npy files, each renamed into place
    only when complete.
    """
    both = models.teacher_with_features(teacher)
    n = len(x)
    with files.atomic_path(f"{prefix}_logits.npy") as logits_tmp, \
            files.atomic_path(f"{prefix}_features.npy") as features_tmp, \
            open(logits_tmp, "wb") as logits, open(features_tmp, "wb") as features:
        # plain appends, not a memory map: written pages do not pile up in this process's memory
        for f, shape, dtype in ((logits, (n, models.NUM_CLASSES), np.float32),
                                (features, (n, models.TEACHER_FEATURES), np.dtype(features_dtype))):
            np.lib.format.write_array_header_1_0(f, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                     "fortran_order": False, "shape": shape})
        shown, start_time = -1, time.time()
        for start in range(0, n, batch_size):
            f, z = both(x[start:start + batch_size], training=False)
            features.write(np.ascontiguousarray(f, dtype=features_dtype).tobytes())
            logits.write(np.ascontiguousarray(z, dtype=np.float32).tobytes())
            done = min(n, start + batch_size)
            if int(10 * done / n) > shown:
                shown = int(10 * done / n)
                print(f"teacher_outputs: {prefix}: {done}/{n} images ({time.time() - start_time:.0f}s)",
                      file=sys.stderr, flush=True)


class Progress(keras.callbacks.Callback):
    """One line per epoch: metrics and time, for logs that show where a long run stands."""

    def __init__(self, label, epochs):
        super().__init__()
        self.label, self.epochs = label, epochs

    def on_train_begin(self, logs=None):
        self.start = time.time()

    def on_epoch_begin(self, epoch, logs=None):
        self.t = time.time()

    def on_epoch_end(self, epoch, logs=None):
        shown = "  ".join(f"{k} {v:.4f}" for k, v in (logs or {}).items() if k != "learning_rate")
        print(
            f"{self.label}: epoch {epoch + 1}/{self.epochs}  {shown}  "
            f"{time.time() - self.t:.1f}s (total {time.time() - self.start:.0f}s)",
            file=sys.stderr, flush=True,
        )


def live_callbacks(live_dir):
    """dvclive logging of per-epoch metrics under `live_dir` (dvcyaml=False: dvc.yaml is ours)."""
    if live_dir is None:
        return []
    from dvclive import Live
    from dvclive.keras import DVCLiveCallback

    try:
        live = Live(live_dir, dvcyaml=False, save_dvc_exp=False, report=None)
    except Exception as e:  # dvclive opens the git repo; with no commit yet it cannot
        from . import Error

        raise Error(f"dvclive could not start in {live_dir} ({type(e).__name__}: {e}); "
                    "the project must be a git repository with at least one commit") from None
    return [DVCLiveCallback(live=live)]


def fit_student(model, loss, train, epochs, batch_size, lr, schedule="cosine", warmup_epochs=0,
                seed=0, label="student", live_dir=None):
    """Train a student on `train` = (x, packed targets); x may be memory-mapped features or images."""
    x, targets, transform = train
    batches = Batches(x, targets, batch_size, seed=seed, transform=transform)
    steps = len(batches) * epochs
    model.compile(
        optimizer=optimizer("adam", learning_rate(lr, schedule, steps, len(batches) * warmup_epochs)),
        loss=loss,
        metrics=[losses.LabelAccuracy()],
        steps_per_execution=16,  # fewer Python round trips: 1.2-2x faster epochs for head and mlp students
    )
    callbacks = [Progress(label, epochs)] + live_callbacks(live_dir)
    return model.fit(batches, epochs=epochs, verbose=0, callbacks=callbacks)


def student_data(arch, split, mnist=None, outputs="data/teacher_outputs"):
    """(inputs, transform, teacher logits, labels) for one split, as the student family reads them.

    `head` students read the teacher's cached conv features (memory-mapped); standalone students
    read the images. Both read the teacher's cached logits; neither runs the teacher.
    """
    mnist = files.load_npz("data/mnist.npz") if mnist is None else mnist
    logits = files.load_npy(f"{outputs}/{split}_logits.npy")
    labels = mnist[f"y_{split}"]
    if arch == "head":
        x, transform = files.load_npy(f"{outputs}/{split}_features.npy"), None
    else:
        from . import data

        x, transform = mnist[f"x_{split}"], data.images
    if len(x) != len(labels) or len(logits) != len(labels):
        raise ValueError(f"{outputs}/{split}_*.npy hold {len(logits)} rows, data/mnist.npz {len(labels)} "
                         f"{split} labels: rerun teacher_outputs (dvc repro)")
    return x, transform, logits, labels


def train_student(arch, widths, loss, temperature, alpha, epochs, batch_size, learning_rate, dropout,
                  seed, label="student", live_dir=None):
    """Train one student from the cached teacher outputs; return (model, test logits, seconds)."""
    set_determinism(seed)
    mnist = files.load_npz("data/mnist.npz")
    x, transform, logits, labels = student_data(arch, "train", mnist)
    x_test, transform_test, _, _ = student_data(arch, "test", mnist)
    model = models.student(arch, widths, dropout)
    print(f"{label}: {arch} {'-'.join(map(str, widths))}, {loss} loss, "
          f"{models.deployed_params(arch, model):,} params, {len(x)} training examples", file=sys.stderr)
    start = time.time()
    fit_student(
        model, losses.DistillationLoss(loss, temperature, alpha),
        (x, losses.pack_targets(labels, logits), transform),
        epochs=epochs, batch_size=batch_size, lr=learning_rate, seed=seed, label=label, live_dir=live_dir,
    )
    seconds = time.time() - start
    return model, predict(model, x_test, transform=transform_test), seconds
