"""Magnitude pruning with fine-tuning (Han et al. 2015; the gradual schedule of Zhu & Gupta 2017).

The smallest-magnitude weights of each kernel are zeroed, rising along a cubic schedule to the target
sparsity while the network fine-tunes with its own loss; a mask re-applied after every step keeps them
zero. Written with Keras 3 callbacks (tensorflow-model-optimization needs tf_keras). The kernels are
the project's (models.prunable: every Dense and Conv2D) unless a caller names others (anymodel.py).
"""
import math

import keras
import numpy as np

from distill.core.names import COSINE
from distill.training import loop, models


def magnitude_mask(kernel, fraction):
    """A 0/1 mask zeroing the `fraction` smallest-magnitude entries of `kernel`."""
    flat = np.abs(kernel).ravel()
    k = int(round(fraction * flat.size))
    mask = np.ones(flat.size, dtype=kernel.dtype)
    if k:
        mask[np.argsort(flat, kind="stable")[:k]] = 0
    return mask.reshape(kernel.shape)


class MagnitudePruning(keras.callbacks.Callback):
    """Raise each kernel's sparsity to its target over the first `ramp` share of `total_steps` (cubic
    schedule, masks recomputed every `every` steps), then hold the masks; zeros stay zero. `target`
    is one share for every prunable kernel or a list with one share per kernel (prunable order)."""

    def __init__(self, target, total_steps, ramp=0.5, every=20, kernels=None):
        super().__init__()
        self.target, self.total_steps, self.every, self.given = target, total_steps, every, kernels
        self.ramp_steps = max(1, int(ramp * total_steps))
        self.step, self.masks = 0, None

    def scheduled(self, step, target):
        t = min(1.0, step / self.ramp_steps)
        return target * (1 - (1 - t) ** 3)

    def _update_masks(self, step=None):
        self.masks = [magnitude_mask(np.asarray(k), target if step is None else self.scheduled(step, target))
                      for k, target in zip(self.kernels, self.targets)]

    def _apply(self):
        for kernel, mask in zip(self.kernels, self.masks):
            kernel.assign(kernel * mask)

    def on_train_begin(self, logs=None):
        self.kernels = self.given if self.given is not None else models.prunable(self.model)
        self.targets = kernel_targets(self.target, len(self.kernels))
        self._update_masks(0)

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step <= self.ramp_steps and (self.step % self.every == 0 or self.step == self.ramp_steps):
            self._update_masks(self.step)
        self._apply()

    def on_train_end(self, logs=None):
        self._update_masks()  # exact targets, whatever the step count was
        self._apply()


def kernel_targets(target, n):
    """One sparsity per prunable kernel, from one share for all or a list of n."""
    targets = [target] * n if np.isscalar(target) else list(target)
    if len(targets) != n:
        raise ValueError(f"{len(targets)} sparsity targets for {n} prunable kernels")
    return targets


def scale_dropout(model, sparsity, prunable_layers=None):
    """Lower each Dropout's rate for the sparser layer after it (Han et al. 2015, sec. 3.2): a layer
    keeping a share k of its weights has k times the connections, so its dropout rate becomes
    rate * sqrt(k). `sparsity`: one share, or one per prunable kernel (of `prunable_layers`, one per
    kernel, default the project's: models.prunable_layers). Returns {layer name: new rate}."""
    layers = model.layers
    prunable_ = models.prunable_layers(model) if prunable_layers is None else prunable_layers
    kept = {id(layer): 1 - s for layer, s in zip(prunable_, kernel_targets(sparsity, len(prunable_)))}
    rates = {}
    for i, layer in enumerate(layers):
        following = next((nxt for nxt in layers[i + 1:] if id(nxt) in kept), None)
        if isinstance(layer, keras.layers.Dropout) and following is not None:
            layer.rate = float(layer.rate * math.sqrt(kept[id(following)]))
            rates[layer.name] = round(layer.rate, 4)
    return rates


def prune(model, examples, sparsity, epochs, learning_rate, batch_size, seed=0, label="prune", metric=None,
          kernels=None, loss=None):
    """Prune the kernels of `model` to `sparsity` (one share, or one per prunable kernel) while
    fine-tuning on `examples` = (x, targets, transform), or ready loop.Batches of cached views,
    with its own compiled loss for `epochs` epochs of `batch_size` (Adam at `learning_rate`,
    cosine-decayed; batches shuffled by `seed`);
    with 0 epochs, prune in one shot without fine-tuning. `metric` is the accuracy the progress
    lines show (losses.LabelAccuracy for packed student targets, "accuracy" for labels; None: the loss only).
    `kernels` (default models.prunable) are the kernels pruned; `loss` (default the compiled one) the loss."""
    kernels = models.prunable(model) if kernels is None else kernels
    if epochs == 0:
        for kernel, target in zip(kernels, kernel_targets(sparsity, len(kernels))):
            kernel.assign(np.asarray(kernel) * magnitude_mask(np.asarray(kernel), target))
        return model
    batches = loop.batches(examples, batch_size, seed)
    steps = len(batches) * epochs
    model.compile(optimizer=keras.optimizers.Adam(loop.learning_rate(learning_rate, COSINE, steps)),
                  loss=loss or model.loss, metrics=[metric] if metric is not None else [])
    model.fit(batches, epochs=epochs, verbose=0,
              callbacks=[MagnitudePruning(sparsity, steps, kernels=kernels),
                         loop.Progress(f"{label} (pruning)", epochs)])
    return model
