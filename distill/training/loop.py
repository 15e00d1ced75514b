"""Training: determinism, optimizers and schedules, batches from memory-mapped arrays, progress,
the teacher's compile and its cached outputs.

The teacher trains with a plain `model.fit` on in-memory arrays, or on `Batches` of the cached views.
Students (students.py) train from the cached teacher outputs through `Batches`, which reads rows
from memory-mapped .npy files, so a 1 GB feature array is never copied whole into RAM.
"""
import contextlib
import math
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from distill import Error
from distill.core import files
from distill.core.names import ADADELTA, ADAM, ADAMW, CONSTANT, NUM_CLASSES, RMSPROP, SCHEDULES, SGD
from distill.training import models

OPTIMIZERS = {  # Keras 3 applies `weight_decay` decoupled from the gradient (as AdamW) for each
    ADAM: lambda lr, wd: keras.optimizers.Adam(lr, weight_decay=wd),
    ADAMW: lambda lr, wd: keras.optimizers.AdamW(lr, weight_decay=wd or 0.0),  # Adam with decay by name
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
    """Shuffled mini-batches (x, y) over n examples, in an order that depends only on `seed` and the
    epoch (numpy's default_rng([seed, epoch])), so runs repeat exactly. Each batch reads its rows in
    increasing order: kinder to memory-mapped files.

    `Batches(x, y, ...)` reads rows of arrays that may be memory-mapped (float16 features stay
    float16 until the model's first layer casts them: half the copying), through `transform`.
    `Batches.of_views(views, targets, ...)` reads cached augmented views (views.Views): each epoch
    every training image once, at one of its K views drawn after the order from the same generator.
    """

    def __init__(self, x, y, batch_size, seed=0, shuffle=True, transform=None):
        def read(k, i):
            return (transform(x[i]) if transform else x[i]), y[i]

        self._start(read, len(x), None, batch_size, seed, shuffle)

    @classmethod
    def of_views(cls, views, targets, batch_size, seed=0, mix=True):
        """`targets(k, i)` gives the targets of view k[j] of image i[j] (labels for the teacher; packed
        labels and the teacher's logits of that very view for a student). `mix=False` reads the views
        without their mixup blend (the teacher learns the geometric views only)."""
        batches = cls.__new__(cls)
        batches._start(lambda k, i: (views.images(k, i, mix=mix), targets(k, i)), views.n, views.count,
                       batch_size, seed, True)
        return batches

    def _start(self, read, n, views, batch_size, seed, shuffle):
        super().__init__()
        self.read, self.n, self.views = read, n, views  # views: K, or None for arrays
        self.batch_size, self.seed, self.shuffle = batch_size, seed, shuffle
        self.epoch = 0
        self._order()

    def _order(self):
        self.index = self.view = None
        if self.shuffle:
            rng = np.random.default_rng([self.seed, self.epoch])
            self.index = rng.permutation(self.n)
            if self.views is not None:
                self.view = rng.integers(self.views, size=self.n)

    def __len__(self):
        return math.ceil(self.n / self.batch_size)

    def __getitem__(self, i):
        sl = slice(i * self.batch_size, (i + 1) * self.batch_size)
        if not self.shuffle:
            return self.read(None, sl)
        order = np.argsort(self.index[sl])
        return self.read(None if self.view is None else self.view[sl][order], self.index[sl][order])

    def on_epoch_end(self):
        self.epoch += 1
        self._order()


def batches(examples, batch_size, seed):
    """Training batches from `examples`: (x, targets, transform), shuffled by `seed`, or ready Batches
    (of cached views) as they are."""
    if isinstance(examples, tuple):
        x, targets, transform = examples
        return Batches(x, targets, batch_size, seed=seed, transform=transform)
    return examples


def predict(model, x, batch_size=1000, transform=None):
    """Logits for `x` (possibly memory-mapped), in chunks, in inference mode."""
    out = []
    for start in range(0, len(x), batch_size):
        chunk = x[start:start + batch_size]
        chunk = transform(chunk) if transform else np.asarray(chunk, dtype=np.float32)
        out.append(np.asarray(model(chunk, training=False)))
    return np.concatenate(out) if out else np.zeros((0, model.outputs[0].shape[-1]), np.float32)


def dump_view_logits(teacher, views, path, batch_size=1000, label="teacher_outputs: views", mix=False):
    """The teacher's logits (float32, (K, n, 10)) on every cached view: on its mixup blend with `mix`
    (an empty (0, n, 10) array when the views have no mixup), else on the view itself."""
    if mix and views.partner is None:
        files.save_npy(path, np.zeros((0, views.n, NUM_CLASSES), np.float32))
        return
    out = np.empty((views.count, views.n, NUM_CLASSES), np.float32)
    start_time, shown = time.time(), -1
    for k in range(views.count):
        for start in range(0, views.n, batch_size):
            i = np.arange(start, min(views.n, start + batch_size))
            out[k, i] = np.asarray(teacher(views.images(np.full(len(i), k), i, mix=mix), training=False))
        if int(10 * (k + 1) / views.count) > shown:
            shown = int(10 * (k + 1) / views.count)
            print(f"{label}: {k + 1}/{views.count} views of {views.n} images ({time.time() - start_time:.0f}s)",
                  file=sys.stderr, flush=True)
    files.save_npy(path, out)


def dump_teacher_outputs(teacher, x, logits_path, features_path, batch_size=1000, features_dtype="float16",
                         label="teacher_outputs"):
    """Write the teacher's logits (float32) and conv features for images `x` as two .npy files (only
    the logits when `features_path` is None).

    Inference mode (dropout off), streamed batch by batch into .npy files, each renamed into place
    only when complete.
    """
    both = models.teacher_with_features(teacher)
    n = len(x)
    arrays = [(logits_path, (n, NUM_CLASSES), np.float32)]
    if features_path is not None:
        arrays.append((features_path, (n, models.TEACHER_FEATURES), np.dtype(features_dtype)))
    with contextlib.ExitStack() as stack:
        # plain appends, not a memory map: written pages do not pile up in this process's memory
        out = [stack.enter_context(open(stack.enter_context(files.atomic_path(path)), "wb")) for path, _, _ in arrays]
        for f, (_, shape, dtype) in zip(out, arrays):
            np.lib.format.write_array_header_1_0(f, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                     "fortran_order": False, "shape": shape})
        shown, start_time = -1, time.time()
        for start in range(0, n, batch_size):
            f, z = both(x[start:start + batch_size], training=False)
            out[0].write(np.ascontiguousarray(z, dtype=np.float32).tobytes())
            if features_path is not None:
                out[1].write(np.ascontiguousarray(f, dtype=features_dtype).tobytes())
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
