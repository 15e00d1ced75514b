"""The three student losses, chosen by name.

Targets arrive packed as one float32 array of shape (n, 1 + 10): the true label, then the
teacher's logits (see `pack_targets`), so every loss sees both.

- mse:  mean squared error between student and teacher logits (the seed; Ba & Caruana 2014).
- kd:   Hinton et al. 2015: alpha * T^2 * CE(softmax(t/T), softmax(s/T))
        + (1 - alpha) * CE(labels, softmax(s)).
- hard: cross-entropy with the true labels only: the same network without distillation.
"""
import keras
import numpy as np
from keras import ops

LOSSES = ("mse", "kd", "hard")


def pack_targets(labels, teacher_logits):
    """(n,) labels and (n, 10) teacher logits -> (n, 11) float32 targets."""
    labels = np.asarray(labels, dtype=np.float32)[:, None]
    return np.concatenate([labels, np.asarray(teacher_logits, dtype=np.float32)], axis=1)


@keras.saving.register_keras_serializable(package="distill")
class DistillationLoss(keras.losses.Loss):
    def __init__(self, kind="kd", temperature=1.0, alpha=0.5, name=None, **kwargs):
        if kind not in LOSSES:
            raise ValueError(f"unknown loss '{kind}' (known: {', '.join(LOSSES)})")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        super().__init__(name=name or kind, **kwargs)
        self.kind, self.temperature, self.alpha = kind, float(temperature), float(alpha)

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        labels = ops.cast(y_true[:, 0], "int32")
        teacher = y_true[:, 1:]
        if self.kind == "mse":
            return ops.mean(ops.square(y_pred - teacher), axis=-1)
        hard = keras.losses.sparse_categorical_crossentropy(labels, y_pred, from_logits=True)
        if self.kind == "hard":
            return hard
        t = self.temperature
        soft = -ops.sum(ops.softmax(teacher / t) * ops.log_softmax(y_pred / t), axis=-1) * t * t
        return self.alpha * soft + (1.0 - self.alpha) * hard

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "temperature": self.temperature, "alpha": self.alpha}


@keras.saving.register_keras_serializable(package="distill")
class LabelAccuracy(keras.metrics.MeanMetricWrapper):
    """Top-1 accuracy against the true label in column 0 of packed targets."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(_label_accuracy, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


def _label_accuracy(y_true, y_pred):
    labels = ops.cast(y_true[:, 0], "int32")
    return ops.cast(ops.equal(ops.cast(ops.argmax(y_pred, axis=-1), "int32"), labels), "float32")
