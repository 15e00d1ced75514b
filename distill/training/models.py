"""The networks: the seed's teacher CNN and three student families.

- `teacher`: the classic Keras MNIST CNN, exactly as in the seed (1,199,882 params).
- `head`:    the seed's student, Dense(h) -> Dropout -> Dense(10) on the teacher's frozen conv
             features. It cannot run without the teacher's conv layers, so its size counts them.
- `mlp`:     standalone, raw pixels -> Dense hidden layers -> 10.
- `cnn`:     standalone, a small CNN: per width w, Conv3x3(w) -> BatchNorm -> ReLU; 2x2 max-pooling
             after each of the first two convs (28 -> 14 -> 7), so any further convs run on the cheap
             7x7 maps; then global average pooling -> Dropout -> Dense(10).
- `sep`:     standalone: a conv stem and a separable conv, each pooled (28 -> 14 -> 7), then one shared
             separable conv applied `repeats` times as residual blocks at 7x7.
- `tied`:    standalone, after the 1,936-param public record (ruslangrimov/mnist-minimal-model):
             Conv3x3(stem, valid) pooled once to 13x13, a valid separable conv to 11x11, then one
             separable conv (same padding) applied `repeats` times, each use with its own SampleNorm;
             global average pooling -> Dense(dense) -> Dense(10). ReLU, SampleNorm, Dropout after each.
- `vsep`:    standalone, after the 997-param public record (JoshWarn/Parameter-Efficient-MNIST):
             Conv3x3(stem, valid) pooled once to 13x13, then valid separable convs (13 -> 11 -> 9 ...),
             LeakyReLU(0.2) and Dropout after each; global average pooling -> Dense(10). No normalization.
All output logits (no softmax): the losses apply their own temperature.
"""
import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from distill.core.names import ARCHS, CNN, HEAD, MLP, NUM_CLASSES, SEP, TEACHER, TIED, VSEP, widths_problem

INPUT_SHAPE = (28, 28, 1)
FEATURES_LAYER = "features"  # the teacher's flattened conv output, 9216 values after MaxPool
CONV_LAYERS = ("conv1", "conv2")
TRUNK = (*CONV_LAYERS, "pool", FEATURES_LAYER)  # the teacher's layers a head student runs behind


@keras.saving.register_keras_serializable(package="distill")
class BatchNorm(layers.BatchNormalization):
    """Keras's BatchNormalization, trained with TensorFlow's fused kernel.

    Keras 3 computes a training batch's moments and normalizes with a dozen elementwise ops, each one
    pass over the activations; on this CPU that was about 40% of a sep epoch (TensorFlow's profiler:
    Mul, BroadcastTo, SquaredDifference, Sub, Mean, RealDiv). FusedBatchNormV3 does it in one oneDNN
    kernel, forward and backward. Same weights, same moving-average update, same inference path, so
    saved models, .tflite conversion and Deep Compression see an ordinary BatchNormalization. One
    difference: the fused kernel's batch variance, which the moving variance averages, is the unbiased
    one (n/(n-1), n = batch x height x width, at least 6,272 here).

    Args:
        as keras.layers.BatchNormalization; channels last (axis -1) takes the fused path.
    """

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable) or mask is not None or not (self.center and self.scale) \
                or self.axis not in (-1, len(inputs.shape) - 1) or len(inputs.shape) != 4:
            return super().call(inputs, training=training, mask=mask)
        y, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
            x=tf.cast(inputs, "float32"), scale=self.gamma, offset=self.beta,
            mean=tf.constant([], tf.float32), variance=tf.constant([], tf.float32),
            epsilon=self.epsilon, exponential_avg_factor=1.0, data_format="NHWC", is_training=True)
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return tf.cast(y, self.compute_dtype)


@keras.saving.register_keras_serializable(package="distill")
class SampleNorm(layers.Layer):
    """Each example normalized over all its values (height, width and channels together), then one
    learned scale and one shift for the layer: 2 parameters, and nothing stored for inference
    (keras-contrib's InstanceNormalization(axis=None), which the 1,936-param record uses).

    Args:
        epsilon: added to the variance (keras-contrib's default).
    """

    def __init__(self, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        self.gamma = self.add_weight(shape=(), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(), initializer="zeros", name="beta")

    def call(self, inputs):
        axes = list(range(1, len(inputs.shape)))
        mean, variance = tf.nn.moments(inputs, axes=axes, keepdims=True)
        return (inputs - mean) * tf.math.rsqrt(variance + self.epsilon) * self.gamma + self.beta

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def teacher():
    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE),
            layers.Conv2D(32, 3, activation="relu", name=CONV_LAYERS[0]),
            layers.Conv2D(64, 3, activation="relu", name=CONV_LAYERS[1]),
            layers.MaxPooling2D(2, name=TRUNK[2]),
            layers.Dropout(0.25, name="dropout1"),
            layers.Flatten(name=FEATURES_LAYER),
            layers.Dense(128, activation="relu", name="dense"),
            layers.Dropout(0.5, name="dropout2"),
            layers.Dense(NUM_CLASSES, name="logits"),
        ],
        name=TEACHER,
    )


def teacher_with_features(model):
    """One model giving (features, logits) of a trained teacher, for a single inference pass."""
    return keras.Model(model.inputs[0], [model.get_layer(FEATURES_LAYER).output, model.outputs[0]])


def conv_param_count(model):
    """Parameters of the teacher's conv layers, which a `head` student needs to run."""
    return sum(model.get_layer(n).count_params() for n in CONV_LAYERS)


TEACHER_PARAMS = 1_199_882
TEACHER_CONV_PARAMS = 18_816  # conv1 (320) + conv2 (18,496)
TEACHER_FEATURES = 9216  # 12 x 12 x 64


def student(arch, widths, dropout=0.0, features=TEACHER_FEATURES):
    """Build a student of family `arch` with the given layer `widths` (a tuple of ints)."""
    if problem := widths_problem(arch, widths):
        raise ValueError(problem)
    if arch == HEAD:
        return keras.Sequential(
            [
                keras.Input((features,)),
                layers.Dense(widths[0], activation="relu"),
                layers.Dropout(dropout),
                layers.Dense(NUM_CLASSES),
            ],
            name=HEAD,
        )
    if arch == MLP:
        stack = [keras.Input(INPUT_SHAPE), layers.Flatten()]
        for w in widths:
            stack += [layers.Dense(w, activation="relu"), layers.Dropout(dropout)]
        return keras.Sequential(stack + [layers.Dense(NUM_CLASSES)], name=MLP)
    if arch == CNN:
        stack = [keras.Input(INPUT_SHAPE)]
        for i, w in enumerate(widths):
            stack += [
                layers.Conv2D(w, 3, padding="same", use_bias=False),  # BatchNorm's beta is the bias
                BatchNorm(),
                layers.ReLU(),
            ]
            if i < 2:
                stack.append(layers.MaxPooling2D(2))
        stack += [layers.GlobalAveragePooling2D(), layers.Dropout(dropout), layers.Dense(NUM_CLASSES)]
        return keras.Sequential(stack, name=CNN)
    if arch == SEP:
        return _sep(*widths, dropout)
    if arch == TIED:
        return _tied(*widths, dropout)
    if arch == VSEP:
        return _vsep(widths[0], widths[1:], dropout)
    raise ValueError(f"unknown arch '{arch}' (known: {', '.join(ARCHS)})")


def _separable(width, name):
    """A depthwise 3x3 then a pointwise 1x1 conv, both bias-free (the BatchNorm after them has one)."""
    return [layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"{name}_depthwise"),
            layers.Conv2D(width, 1, use_bias=False, name=f"{name}_pointwise")]


def _sep(stem, width, repeats, dropout):
    inputs = keras.Input(INPUT_SHAPE)
    x = layers.Conv2D(stem, 3, padding="same", use_bias=False, name="stem")(inputs)
    x = layers.MaxPooling2D(2)(layers.ReLU()(BatchNorm()(x)))
    for layer in _separable(width, "sep"):
        x = layer(x)
    x = layers.MaxPooling2D(2)(layers.ReLU()(BatchNorm()(x)))
    shared = _separable(width, "shared")
    for r in range(repeats):
        y = x
        for layer in shared:
            y = layer(y)
        x = layers.ReLU()(layers.Add()([x, BatchNorm(name=f"shared_bn{r + 1}")(y)]))
    x = layers.Dropout(dropout)(layers.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, layers.Dense(NUM_CLASSES)(x), name=SEP)


def _valid_stem(inputs, stem, activation):
    """Conv3x3(stem, valid) 28 -> 26, the activation, then 2x2 max-pooling to 13x13: the one early
    downsampling both public records make."""
    x = layers.Conv2D(stem, 3, name="stem")(inputs)
    return layers.MaxPooling2D(2)(activation()(x))


def _separable_valid(width, name, padding="valid"):
    """A depthwise 3x3 (no bias) then a pointwise 1x1 with a bias: keras's SeparableConv2D in two
    layers, so pruning and weight sharing see the pointwise kernel as a Conv2D."""
    return [layers.DepthwiseConv2D(3, padding=padding, use_bias=False, name=f"{name}_depthwise"),
            layers.Conv2D(width, 1, name=f"{name}_pointwise")]


def _tied(stem, width, repeats, dense, dropout):
    def after(x, name):  # ReLU, SampleNorm, Dropout: the record's order
        return layers.Dropout(dropout)(SampleNorm(name=f"{name}_norm")(layers.ReLU()(x)))

    inputs = keras.Input(INPUT_SHAPE)
    x = layers.Dropout(dropout)(SampleNorm(name="stem_norm")(_valid_stem(inputs, stem, layers.ReLU)))
    for layer in _separable_valid(width, "sep"):
        x = layer(x)
    x = after(x, "sep")
    shared = _separable_valid(width, "shared", padding="same")
    for r in range(repeats):
        for layer in shared:
            x = layer(x)
        x = after(x, f"shared{r + 1}")
    x = layers.GlobalAveragePooling2D()(x)
    x = after(layers.Dense(dense, name="hidden")(x), "hidden")
    return keras.Model(inputs, layers.Dense(NUM_CLASSES, name="logits")(x), name=TIED)


def _vsep(stem, widths, dropout):
    def leaky():
        return layers.LeakyReLU(negative_slope=0.2)

    inputs = keras.Input(INPUT_SHAPE)
    x = _valid_stem(inputs, stem, leaky)
    for i, width in enumerate(widths):
        for layer in _separable_valid(width, f"sep{i + 1}"):
            x = layer(x)
        x = layers.Dropout(dropout)(leaky()(x))
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(NUM_CLASSES, name="logits")(x), name=VSEP)


def deployed_params(arch, model):
    """What the student needs to run: its own params, plus the teacher's conv layers for `head`."""
    return model.count_params() + (TEACHER_CONV_PARAMS if arch == HEAD else 0)


def student_params(arch, widths):
    """deployed_params of a student not built yet (e.g. one the seed reported)."""
    return deployed_params(arch, student(arch, tuple(widths)))


def prunable_layers(model):
    """The layers whose kernels pruning and weight sharing act on: every trainable Dense and Conv2D."""
    return [layer for layer in model.layers
            if isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D)) and layer.trainable]


def prunable(model):
    """The kernels pruning acts on (not biases or BatchNorm)."""
    return [layer.kernel for layer in prunable_layers(model)]


def sparsity(model):
    """Share of exact zeros over the prunable kernels."""
    kernels = [np.asarray(k) for k in prunable(model)]
    return float(sum((k == 0).sum() for k in kernels) / sum(k.size for k in kernels))


def deployable(arch, student, teacher=None):
    """The model a user ships: a `head` student needs the teacher's conv layers in front of it."""
    if arch != HEAD:
        return student
    stack = [keras.Input(INPUT_SHAPE)] + [teacher.get_layer(name) for name in TRUNK]
    stack += [layer for layer in student.layers if not isinstance(layer, keras.layers.InputLayer)]
    return keras.Sequential(stack, name=f"{HEAD}_deployable")


def size(arch, widths):
    """(params, weight arrays) of the network a .dcz file of (arch, widths) holds (a head behind the
    teacher's convs), counted without building it: what a decoder checks a file against first."""
    classes = NUM_CLASSES
    if arch == HEAD:  # the teacher's two convs, then Dense(h) and the logits
        h = widths[0]
        return TEACHER_CONV_PARAMS + TEACHER_FEATURES * h + h + h * classes + classes, 8
    if arch == MLP:
        ins = [math.prod(INPUT_SHAPE), *widths]
        return sum(i * o + o for i, o in zip(ins, [*widths, classes])), 2 * len(widths) + 2
    if arch == CNN:  # bias-free 3x3 convs, each with a BatchNorm (4 arrays of its width)
        ins = [INPUT_SHAPE[-1], *widths[:-1]]
        return sum(9 * i * o + 4 * o for i, o in zip(ins, widths)) + widths[-1] * classes + classes, 5 * len(widths) + 2
    if arch == SEP:  # stem, BatchNorm, separable, BatchNorm, a shared separable, a BatchNorm per repeat
        stem, width, repeats = widths
        params = 9 * stem + 4 * stem + 9 * stem + stem * width + 4 * width + 9 * width + width * width
        return params + 4 * width * repeats + width * classes + classes, 15 + 4 * repeats
    if arch == TIED:  # stem, separable, shared separable, dense, output (biases on each); 2 per SampleNorm
        stem, width, repeats, dense = widths
        convs = 10 * stem + (9 * stem + stem * width + width) + (9 * width + width * width + width)
        norms = 2 * (3 + repeats)
        return convs + norms + (width * dense + dense) + (dense * classes + classes), 10 + 2 * (3 + repeats) + 2
    if arch == VSEP:  # stem, then per separable a depthwise kernel and a pointwise kernel and bias
        stem, seps = widths[0], widths[1:]
        ins = [stem, *seps[:-1]]
        params = 10 * stem + sum(9 * i + i * o + o for i, o in zip(ins, seps))
        return params + seps[-1] * classes + classes, 2 + 3 * len(seps) + 2
    raise ValueError(f"no parameter count for family '{arch}'")
