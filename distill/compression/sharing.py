"""Trained weight sharing (Deep Compression, Han et al. 2016, sec. 3), and networks to and from .dcz files.

After pruning, the kept weights of each kernel are clustered by k-means (scipy) into 2**bits
centroids, initialised linearly between the kernel's smallest and largest kept weight (the paper's
best initialisation: it keeps the rare large weights). Every kept weight becomes its centroid's
value; fine-tuning then moves the centroids, each by the sum of the gradients of the weights that
share it, while pruned weights stay zero. Biases and BatchNorm train as usual.
"""
import warnings

import keras
import numpy as np
import tensorflow as tf
from scipy.cluster.vq import kmeans2

from distill.compression import codec
from distill.compression.config import parse_network
from distill.core.names import COSINE, HEAD, TEACHER, widths_problem
from distill.training import loop, models


def codebook(values, bits):
    """k-means of 1-D `values` into 2**bits centroids, linearly initialised -> (centroids float32,
    index of each value uint8). A centroid left without weights keeps its initial value."""
    init = np.linspace(values.min(), values.max(), 2 ** bits) if len(values) else np.zeros(2 ** bits)
    if len(values) == 0:
        return init.astype(np.float32), np.zeros(0, np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "One of the clusters is empty": expected with linear init
        centroids, labels = kmeans2(values.astype(np.float64), init, minit="matrix", iter=20)
    return centroids.astype(np.float32), labels.astype(np.uint8)


class SharedKernel:
    """One pruned kernel whose kept (nonzero) weights share 2**bits trainable centroids."""

    def __init__(self, kernel, bits):
        w = np.asarray(kernel)
        self.kernel, self.shape = kernel, w.shape
        self.positions = np.flatnonzero(w)
        centroids, self.indices = codebook(w.ravel()[self.positions], bits)
        self.centroids = keras.Variable(centroids, name="centroids")
        full = np.full(w.size, len(centroids), np.int32)  # pruned weights read the zero after the centroids
        full[self.positions] = self.indices
        self.index = tf.constant(full)

    def weights(self):
        return tf.reshape(tf.gather(tf.concat([self.centroids, tf.zeros(1)], 0), self.index), self.shape)

    def centroid_gradient(self, kernel_gradient):
        """Each centroid's gradient: the sum of the gradients of the weights that share it."""
        n = self.centroids.shape[0]
        return tf.math.unsorted_segment_sum(tf.reshape(kernel_gradient, [-1]), self.index, n + 1)[:n]

    def assign(self):
        self.kernel.assign(self.weights())

    def entry(self):
        """This kernel as the file stores it."""
        return codec.Shared(self.shape, self.positions, self.indices, np.asarray(self.centroids))


def share(kernels, bits):
    """Replace each kernel's kept weights by its k-means centroids; `bits` is one int per kernel.
    Returns the SharedKernels, already applied to the model."""
    shared = [SharedKernel(k, b) for k, b in zip(kernels, bits)]
    for s in shared:
        s.assign()
    return shared


def finetune(model, shared, batches, loss, epochs, learning_rate, metric, label="share"):
    """Train the centroids of `shared` and the model's other trainable weights (Adam at
    `learning_rate`, cosine-decayed) on `batches` (loop.Batches of (x, targets)) for `epochs`
    epochs; `loss` and `metric` take (targets, logits). One progress line per epoch."""
    kernels = {id(s.kernel) for s in shared}
    others = [v for v in model.trainable_variables if id(v) not in kernels]
    variables = [s.centroids for s in shared] + others
    optimizer = keras.optimizers.Adam(loop.learning_rate(learning_rate, COSINE, len(batches) * epochs))
    optimizer.build(variables)

    @tf.function(reduce_retracing=True)
    def step(x, y):
        for s in shared:
            s.assign()
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            value = loss(y, logits)
        grads = tape.gradient(value, [s.kernel for s in shared] + others)
        grads = [s.centroid_gradient(g) for s, g in zip(shared, grads)] + grads[len(shared):]
        optimizer.apply_gradients(zip(grads, variables))
        metric.update_state(y, logits)
        return value

    progress = loop.Progress(f"{label} (weight sharing)", epochs)
    progress.on_train_begin()
    for epoch in range(epochs):
        progress.on_epoch_begin(epoch)
        metric.reset_state()
        total = 0.0
        for i in range(len(batches)):
            x, y = batches[i]
            total += float(step(x, y))
        batches.on_epoch_end()
        progress.on_epoch_end(epoch, {"loss": total / len(batches), "accuracy": float(metric.result())})
    for s in shared:
        s.assign()
    return model


def round_floats(model, shared, floats):
    """Round the centroids and every other weight to the file's float storage, so that the network
    scored before writing is bit for bit the one the file decodes into."""
    dtype = codec.FLOATS[floats][0]
    for s in shared:
        s.centroids.assign(np.asarray(s.centroids).astype(dtype).astype(np.float32))
        s.assign()
    kernels = {id(s.kernel) for s in shared}
    for w in model.weights:
        if id(w) not in kernels:
            w.assign(np.asarray(w).astype(dtype).astype(np.float32))


def build(network):
    """A fresh network of that name ('teacher', 'cnn-8-16-16-32', 'head-6': with the teacher's conv
    layers in front, as it ships); ValueError for a name no family builds."""
    arch, widths = parse_network(network)
    if arch == TEACHER:
        return models.teacher()
    student = models.student(arch, widths)
    return models.deployable(arch, student, models.teacher()) if arch == HEAD else student


def network_size(network):
    """(params, weight arrays) of the network `build` makes of that name, counted from the name alone (no
    network built); ValueError for a name no family builds."""
    arch, widths = parse_network(network)
    if arch == TEACHER:
        return models.TEACHER_PARAMS, 8
    if problem := widths_problem(arch, widths):
        raise ValueError(problem)
    return models.size(arch, widths)


def decode(blob):
    """The network a .dcz file holds, rebuilt and filled with its decoded weights; codec.FormatError
    if the bytes are not such a file or do not fit the network they name. The network's params and weight
    arrays are counted from its name and checked against codec.MAX_PARAMS and the header before it is built."""
    h = codec.header(blob)
    try:
        params, arrays = network_size(h.network)
    except ValueError as e:
        raise codec.FormatError(f"names network '{h.network}', which no family builds: {e}") from None
    if params > codec.MAX_PARAMS:
        raise codec.FormatError(f"names network '{h.network}' of {params:,} params, above the limit of "
                                f"{codec.MAX_PARAMS:,} (codec.MAX_PARAMS)")
    if arrays != len(h.bits):
        raise codec.FormatError(f"holds {len(h.bits)} weight arrays, network {h.network} has {arrays}")
    model = build(h.network)
    model.set_weights(codec.decode(blob, [tuple(w.shape) for w in model.weights]))
    return model
