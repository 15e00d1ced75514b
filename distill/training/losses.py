"""The student losses, one small class each, chosen by name from `REGISTRY` (names.LOSSES).

Targets arrive packed as one float32 array of shape (n, 2c) for c classes: the label as weights
over the classes (one-hot, or the blend of two labels for a mixup view), then the teacher's c
logits (see `pack_targets`), so every loss sees both.
"""
import keras
import numpy as np
from keras import ops

from distill.core.names import DKD, HARD, KD, LOSSES, MSE
from distill.data import one_hot


def pack_targets(labels, teacher_logits):
    """Labels, as (n,) class indices or (n, c) weights over the classes, and (n, c) teacher
    logits -> (n, 2c) float32 targets."""
    labels, teacher_logits = np.asarray(labels), np.asarray(teacher_logits, dtype=np.float32)
    if labels.ndim == 1:
        labels = one_hot(labels, teacher_logits.shape[1])
    return np.concatenate([labels.astype(np.float32), teacher_logits], axis=1)


def _split(y_true):
    """(label weights, teacher logits) of packed targets."""
    c = y_true.shape[-1] // 2
    return y_true[:, :c], y_true[:, c:]


def _unpack(y_true, y_pred):
    """(student logits as float32, label weights (n, c), teacher logits) from packed targets."""
    return ops.cast(y_pred, "float32"), *_split(y_true)


def _label_class(weights):
    """The class of each label's larger share (a mixup view's): its index, and as a one-hot mask."""
    index = ops.argmax(weights, axis=-1)
    return index, ops.one_hot(index, weights.shape[-1])


def _cross_entropy(weights, logits):
    """Cross-entropy of softmax(logits) against label weights (one-hot or a mixup blend)."""
    return -ops.sum(weights * ops.log_softmax(logits), axis=-1)


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
        return _cross_entropy(labels, student)


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
        hard = _cross_entropy(labels, student)
        t = self.temperature
        soft = -ops.sum(ops.softmax(teacher / t) * ops.log_softmax(student / t), axis=-1) * t * t
        return self.alpha * soft + (1.0 - self.alpha) * hard

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature, "alpha": self.alpha}


@keras.saving.register_keras_serializable(package="distill")
class DecoupledKD(keras.losses.Loss):
    """Decoupled KD (Zhao et al. 2022): CE(labels) + T^2 * (target_weight * TCKD + nontarget_weight * NCKD).

    Hinton's soft term is TCKD + (1 - p_t) * NCKD: the teacher's confidence p_t in the true class
    scales down the non-target term exactly where the teacher is surest. DKD weights the two apart:
    TCKD, the KL divergence of the binary (target, rest) probabilities at temperature T; NCKD, the
    KL divergence of the distributions over the non-target classes only.

    Args:
        temperature: T > 0, applied to both terms.
        target_weight: weight of TCKD (DKD's alpha).
        nontarget_weight: weight of NCKD (DKD's beta).
        name: the loss's name in logs and saved models.
    """

    PARAMS = ("temperature", "target_weight", "nontarget_weight")
    MASK = 1000.0  # subtracted from the target class's logit: it drops out of the non-target softmax

    def __init__(self, temperature=4.0, target_weight=1.0, nontarget_weight=8.0, name=DKD, **kwargs):
        super().__init__(name=name, **kwargs)
        self.temperature = float(temperature)
        self.target_weight, self.nontarget_weight = float(target_weight), float(nontarget_weight)

    def call(self, y_true, y_pred):
        student, labels, teacher = _unpack(y_true, y_pred)
        _, target = _label_class(labels)
        t, eps = self.temperature, 1e-7
        p_s = ops.sum(ops.softmax(student / t) * target, axis=-1)
        p_t = ops.sum(ops.softmax(teacher / t) * target, axis=-1)
        p_s, p_t = ops.clip(p_s, eps, 1 - eps), ops.clip(p_t, eps, 1 - eps)
        tckd = p_t * (ops.log(p_t) - ops.log(p_s)) + (1 - p_t) * (ops.log(1 - p_t) - ops.log(1 - p_s))
        log_q_t = ops.log_softmax(teacher / t - self.MASK * target)
        log_q_s = ops.log_softmax(student / t - self.MASK * target)
        nckd = ops.sum(ops.exp(log_q_t) * (log_q_t - log_q_s), axis=-1)
        soft = (self.target_weight * tckd + self.nontarget_weight * nckd) * t * t
        return _cross_entropy(labels, student) + soft

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature, "target_weight": self.target_weight,
                "nontarget_weight": self.nontarget_weight}


REGISTRY = {MSE: LogitMSE, KD: HintonKD, HARD: HardLabels, DKD: DecoupledKD}
assert tuple(REGISTRY) == LOSSES, "every loss name in names.LOSSES needs a class here"


def get(name, train=None):
    """The loss registered as `name`, given the fields of `train` (a TrainConfig) it takes."""
    if name not in REGISTRY:
        raise ValueError(f"unknown loss '{name}' (known: {', '.join(REGISTRY)})")
    cls = REGISTRY[name]
    return cls(**{k: getattr(train, k) for k in cls.PARAMS}) if train is not None else cls()


@keras.saving.register_keras_serializable(package="distill")
class LabelAccuracy(keras.metrics.MeanMetricWrapper):
    """Top-1 accuracy against the label of packed targets (a mixup view's larger share)."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(_label_accuracy, name=name, dtype=dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


def _label_accuracy(y_true, y_pred):
    labels = ops.cast(_label_class(_split(y_true)[0])[0], "int32")
    return ops.cast(ops.equal(ops.cast(ops.argmax(y_pred, axis=-1), "int32"), labels), "float32")
