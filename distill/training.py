"""Training: determinism, optimizers and schedules, batches from memory-mapped arrays, progress,
the teacher's compile and its cached outputs.

The teacher trains with a plain `model.fit` on in-memory arrays. Students (students.py) train from
the cached teacher outputs through `Batches`, which reads rows from memory-mapped .npy files, so a
1 GB feature array is never copied whole into RAM.
"""
import math
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from . import Error, data, files, models
from .names import ADADELTA, ADAM, CONSTANT, RMSPROP, SCHEDULES, SGD

OPTIMIZERS = {  # Keras 3 applies `weight_decay` decoupled from the gradient (as AdamW) for each
    ADAM: lambda lr, wd: keras.optimizers.Adam(lr, weight_decay=wd),
    SGD: lambda lr, wd: keras.optimizers.SGD(lr, momentum=0.9, nesterov=True, weight_decay=wd),
    RMSPROP: lambda lr, wd: keras.optimizers.RMSprop(lr, weight_decay=wd),
    ADADELTA: lambda lr, wd: keras.optimizers.Adadelta(lr, weight_decay=wd),
}


def set_determinism(seed):
    """Same seed and params, same bytes: seeds Python, NumPy and TF, and makes TF ops deterministic."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def learning_rate(peak, schedule, total_steps, warmup_steps=0):
    """A constant or cosine-decayed learning rate, with an optional linear warmup."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule '{schedule}' (known: {', '.join(SCHEDULES)})")
    if schedule == CONSTANT and not warmup_steps:
        return peak
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup_steps else peak,
        decay_steps=max(1, total_steps - warmup_steps),
        alpha=1.0 if schedule == CONSTANT else 0.0,
        warmup_target=peak if warmup_steps else None,
        warmup_steps=warmup_steps,
    )


def optimizer(name, lr, weight_decay=0.0):
    """The optimizer registered as `name` (names.OPTIMIZERS); weight decay 0 means none."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer '{name}' (known: {', '.join(OPTIMIZERS)})")
    return OPTIMIZERS[name](lr, weight_decay or None)


def compile_teacher(model, n_images, cfg):
    """Compile the teacher as its config says: optimizer, peak learning rate, schedule over
    `epochs` of `n_images` in `batch_size` batches with `warmup_epochs` of warmup, weight decay."""
    per_epoch = math.ceil(n_images / cfg.batch_size)
    lr = learning_rate(cfg.learning_rate, cfg.schedule, per_epoch * cfg.epochs, per_epoch * cfg.warmup_epochs)
    model.compile(optimizer=optimizer(cfg.optimizer, lr, cfg.weight_decay),
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


class ViewBatches(keras.utils.PyDataset):
    """Shuffled mini-batches from cached augmented views (views.Views): each epoch every training
    image once, at one of its K views; the order and the views depend only on `seed` and the epoch.

    `targets(k, i)` gives the targets of view k[j] of image i[j] (labels for the teacher; packed
    labels and the teacher's logits of that very view for a student). `mix=False` reads the views
    without their mixup blend (the teacher learns the geometric views only)."""

    def __init__(self, views, targets, batch_size, seed=0, mix=True):
        super().__init__()
        self.views, self.targets, self.batch_size, self.seed, self.mix = views, targets, batch_size, seed, mix
        self.epoch = 0
        self._order()

    def _order(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        self.index, self.view = rng.permutation(self.views.n), rng.integers(self.views.count, size=self.views.n)

    def __len__(self):
        return math.ceil(self.views.n / self.batch_size)

    def __getitem__(self, i):
        sl = slice(i * self.batch_size, (i + 1) * self.batch_size)
        order = np.argsort(self.index[sl])  # rows in file order: kinder to memory-mapped reads
        idx, k = self.index[sl][order], self.view[sl][order]
        return self.views.images(k, idx, mix=self.mix), self.targets(k, idx)

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


def dump_view_logits(teacher, views, path, batch_size=1000, label="teacher_outputs: views"):
    """The teacher's logits (float32, (K, n, 10)) on every cached view, blended as students see them."""
    out = np.empty((views.count, views.n, data.NUM_CLASSES), np.float32)
    start_time, shown = time.time(), -1
    for k in range(views.count):
        for start in range(0, views.n, batch_size):
            i = np.arange(start, min(views.n, start + batch_size))
            out[k, i] = np.asarray(teacher(views.images(np.full(len(i), k), i), training=False))
        if int(10 * (k + 1) / views.count) > shown:
            shown = int(10 * (k + 1) / views.count)
            print(f"{label}: {k + 1}/{views.count} views of {views.n} images ({time.time() - start_time:.0f}s)",
                  file=sys.stderr, flush=True)
    files.save_npy(path, out)


def dump_teacher_outputs(teacher, x, logits_path, features_path, batch_size=1000, features_dtype="float16",
                         label="teacher_outputs"):
    """Write the teacher's logits (float32) and conv features for images `x` as two .npy files.

    Inference mode (dropout off), streamed batch by batch into .npy files, each renamed into place
    only when complete.
    """
    both = models.teacher_with_features(teacher)
    n = len(x)
    with files.atomic_path(logits_path) as logits_tmp, files.atomic_path(features_path) as features_tmp, \
            open(logits_tmp, "wb") as logits, open(features_tmp, "wb") as features:
        # plain appends, not a memory map: written pages do not pile up in this process's memory
        for f, shape, dtype in ((logits, (n, data.NUM_CLASSES), np.float32),
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
                print(f"{label}: {done}/{n} images ({time.time() - start_time:.0f}s)",
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
        raise Error(f"dvclive could not start in {live_dir} ({type(e).__name__}: {e}); "
                    "the project must be a git repository with at least one commit") from None
    return [DVCLiveCallback(live=live)]
