"""The student losses, one small class each, chosen by name from `REGISTRY` (names.LOSSES).

Targets arrive packed as one float32 array of shape (n, 1 + 10): the true label, then the
teacher's logits (see `pack_targets`), so every loss sees both.
"""
import keras
import numpy as np
from keras import ops

from .names import HARD, KD, LOSSES, MSE


def pack_targets(labels, teacher_logits):
    """(n,) labels and (n, 10) teacher logits -> (n, 11) float32 targets."""
    labels = np.asarray(labels, dtype=np.float32)[:, None]
    return np.concatenate([labels, np.asarray(teacher_logits, dtype=np.float32)], axis=1)


def _unpack(y_true, y_pred):
    """(student logits as float32, integer labels, teacher logits) from packed targets."""
    return ops.cast(y_pred, "float32"), ops.cast(y_true[:, 0], "int32"), y_true[:, 1:]


@keras.saving.register_keras_serializable(package="distill")
class LogitMSE(keras.losses.Loss):
    """Mean squared error between student and teacher logits: the seed's loss (Ba & Caruana 2014).

    Args:
        name: the loss's name in logs and saved models.
    """

    PARAMS = ()  # the TrainConfig fields this loss takes

    def __init__(self, name=MSE, **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        student, _, teacher = _unpack(y_true, y_pred)
        return ops.mean(ops.square(student - teacher), axis=-1)


@keras.saving.register_keras_serializable(package="distill")
class HardLabels(keras.losses.Loss):
    """Cross-entropy with the true labels only: the same network trained without distillation.

    Args:
        name: the loss's name in logs and saved models.
    """

    PARAMS = ()

    def __init__(self, name=HARD, **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        student, labels, _ = _unpack(y_true, y_pred)
        return keras.losses.sparse_categorical_crossentropy(labels, student, from_logits=True)


@keras.saving.register_keras_serializable(package="distill")
class HintonKD(keras.losses.Loss):
    """Hinton et al. 2015: alpha * T^2 * CE(softmax(t/T), softmax(s/T)) + (1 - alpha) * CE(labels, softmax(s)).

    Args:
        temperature: T > 0; softens both distributions so the non-target classes carry signal.
            The T^2 factor keeps the soft term's gradients on the scale of the hard term's.
        alpha: weight in [0, 1] of the soft (teacher) term; 1 - alpha goes to the labels.
        name: the loss's name in logs and saved models.
    """

    PARAMS = ("temperature", "alpha")

    def __init__(self, temperature=4.0, alpha=0.9, name=KD, **kwargs):
        super().__init__(name=name, **kwargs)
        self.temperature, self.alpha = float(temperature), float(alpha)

    def call(self, y_true, y_pred):
        student, labels, teacher = _unpack(y_true, y_pred)
        hard = keras.losses.sparse_categorical_crossentropy(labels, student, from_logits=True)
        t = self.temperature
        soft = -ops.sum(ops.softmax(teacher / t) * ops.log_softmax(student / t), axis=-1) * t * t
        return self.alpha * soft + (1.0 - self.alpha) * hard

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature, "alpha": self.alpha}


REGISTRY = {MSE: LogitMSE, KD: HintonKD, HARD: HardLabels}
assert tuple(REGISTRY) == LOSSES, "every loss name in names.LOSSES needs a class here"


def get(name, train=None):
    """The loss registered as `name`, given the fields of `train` (a TrainConfig) it takes."""
    if name not in REGISTRY:
        raise ValueError(f"unknown loss '{name}' (known: {', '.join(REGISTRY)})")
    cls = REGISTRY[name]
    return cls(**{k: getattr(train, k) for k in cls.PARAMS}) if train is not None else cls()


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
