"""Each loss against values worked out by hand on tiny arrays (3 classes, so the sums are short)."""
import math

import numpy as np
import pytest
from test_training import train_config

from distill.core import names
from distill.training import losses
from distill.training.losses import LabelAccuracy, pack_targets

S = np.array([[1.0, 2.0, 0.0]], np.float32)  # student logits
T_LOGITS = np.array([[2.0, 0.0, 0.0]])  # teacher logits
LABEL = np.array([1])
Y = pack_targets(LABEL, T_LOGITS)


def loss(kind, **kw):
    return losses.get(kind, train_config(**kw))


def value(kind, **kw):
    return float(loss(kind, **kw)(Y, S))


def test_pack_targets():
    y = pack_targets([3, 7], [[0.5] * 10, [1.5] * 10])
    assert y.shape == (2, 20) and y.dtype == np.float32 and y[1, 11] == 1.5
    assert list(y[:, :10].argmax(axis=1)) == [3, 7] and list(y[:, :10].sum(axis=1)) == [1, 1]
    mixed = pack_targets([[0.75, 0.25, 0]], [[1, 2, 3]])  # a mixup view's blended label passes as is
    assert mixed.tolist() == [[0.75, 0.25, 0, 1, 2, 3]]


def test_mse_is_the_mean_square_logit_gap():
    # ((1-2)^2 + (2-0)^2 + (0-0)^2) / 3
    assert value("mse") == pytest.approx(5 / 3, rel=1e-6)


def test_hard_is_cross_entropy_with_the_label():
    # -log softmax(s)[1] = log(e^1 + e^2 + e^0) - 2
    assert value("hard") == pytest.approx(math.log(math.e + math.e**2 + 1) - 2, rel=1e-6)
    assert value("hard") == pytest.approx(0.407606, abs=1e-6)


def test_kd_with_temperature_and_alpha():
    t, alpha = 2.0, 0.7
    # teacher soft targets: softmax([2, 0, 0] / 2) = softmax([1, 0, 0])
    z = math.e + 2
    p = [math.e / z, 1 / z, 1 / z]
    # student log-probabilities at T: log_softmax([0.5, 1, 0])
    lse = math.log(math.exp(0.5) + math.exp(1.0) + 1.0)
    logq = [0.5 - lse, 1.0 - lse, 0.0 - lse]
    soft = -sum(pi * lq for pi, lq in zip(p, logq)) * t * t
    hard = math.log(math.e + math.e**2 + 1) - 2
    expected = alpha * soft + (1 - alpha) * hard
    assert expected == pytest.approx(3.427037, abs=1e-6)
    assert value("kd", temperature=t, alpha=alpha) == pytest.approx(expected, rel=1e-6)


def test_kd_limits():
    assert value("kd", temperature=3.0, alpha=0.0) == pytest.approx(value("hard"), rel=1e-6)
    # alpha = 1, T = 1 and a student equal to its teacher: the loss is the teacher's entropy
    same = loss("kd", temperature=1.0, alpha=1.0)(Y, T_LOGITS.astype(np.float32))
    p = np.exp(T_LOGITS[0]) / np.exp(T_LOGITS[0]).sum()
    assert float(same) == pytest.approx(-(p * np.log(p)).sum(), rel=1e-6)


def test_batch_mean_and_label_accuracy():
    y = pack_targets([1, 0], [[2, 0, 0], [0, 0, 3]])
    s = np.array([[1, 2, 0], [0, 0, 0]], np.float32)
    # row 2: ((0)^2 + 0 + 3^2) / 3 = 3
    assert float(loss("mse")(y, s)) == pytest.approx((5 / 3 + 3) / 2, rel=1e-6)
    acc = LabelAccuracy()
    acc.update_state(y, s)  # row 1 predicts 1 (right), row 2 ties -> argmax 0 (right)
    assert float(acc.result()) == 1.0


def test_every_loss_name_has_one_class_and_unknown_names_are_refused():
    assert tuple(losses.REGISTRY) == names.LOSSES
    assert {n: type(losses.get(n)).__name__ for n in names.LOSSES} == {"mse": "LogitMSE", "kd": "HintonKD",
                                                                        "hard": "HardLabels", "dkd": "DecoupledKD"}
    kd = loss("kd", temperature=3.0, alpha=0.25)
    assert (kd.temperature, kd.alpha, kd.name) == (3.0, 0.25, "kd")
    with pytest.raises(ValueError, match="unknown loss 'kl'"):
        losses.get("kl")


def test_losses_survive_a_save_and_load(tmp_path):
    from distill.core import files
    from distill.training import models

    model = models.student("mlp", (4,))
    model.compile(loss=loss("kd", temperature=3.0, alpha=0.25))
    files.save_model(model, tmp_path / "m.keras")
    restored = files.load_model(tmp_path / "m.keras").loss
    assert isinstance(restored, losses.HintonKD) and (restored.temperature, restored.alpha) == (3.0, 0.25)


def _dkd_by_hand(t, target_weight, nontarget_weight):
    """DKD for S, T_LOGITS, label 1, written out with math."""
    ps = np.exp(S[0] / t) / np.exp(S[0] / t).sum()
    pt = np.exp(T_LOGITS[0] / t) / np.exp(T_LOGITS[0] / t).sum()
    bs, bt = np.array([ps[1], 1 - ps[1]]), np.array([pt[1], 1 - pt[1]])
    tckd = (bt * np.log(bt / bs)).sum()
    qs, qt = ps[[0, 2]] / ps[[0, 2]].sum(), pt[[0, 2]] / pt[[0, 2]].sum()  # the non-target classes alone
    nckd = (qt * np.log(qt / qs)).sum()
    hard = math.log(math.e + math.e**2 + 1) - 2
    return hard + t * t * (target_weight * tckd + nontarget_weight * nckd), pt


def test_dkd_weights_the_target_and_non_target_terms_apart():
    expected, _ = _dkd_by_hand(2.0, 1.0, 8.0)
    assert value("dkd", temperature=2.0, target_weight=1.0, nontarget_weight=8.0) == pytest.approx(expected, rel=1e-5)
    assert value("dkd", temperature=3.0, target_weight=0.0, nontarget_weight=0.0) == pytest.approx(value("hard"))
    dkd = loss("dkd", temperature=2.0, target_weight=0.5, nontarget_weight=2.0)
    assert (dkd.temperature, dkd.target_weight, dkd.nontarget_weight, dkd.name) == (2.0, 0.5, 2.0, "dkd")


def test_dkd_with_hintons_weights_is_hintons_kl():
    # Zhao et al. 2022, eq. 1: KL(teacher || student) = TCKD + (1 - p_t) * NCKD
    t = 2.0
    _, pt = _dkd_by_hand(t, 1.0, 1.0)
    dkd = value("dkd", temperature=t, target_weight=1.0, nontarget_weight=1 - pt[1]) - value("hard")
    kl = (value("kd", temperature=t, alpha=1.0) + t * t * (pt * np.log(pt)).sum())  # cross-entropy - entropy
    assert dkd == pytest.approx(kl, rel=1e-5)


def test_losses_take_blended_labels():
    mixed = pack_targets([[0.25, 0.75, 0.0]], T_LOGITS)
    # cross-entropy against the blend: 0.25 * -log p0 + 0.75 * -log p1
    logp = S[0] - math.log(math.e + math.e**2 + 1)
    assert float(loss("hard")(mixed, S)) == pytest.approx(-(0.25 * logp[0] + 0.75 * logp[1]), rel=1e-6)
    acc = LabelAccuracy()
    acc.update_state(mixed, S)  # the larger share, class 1, is what the student must name
    assert float(acc.result()) == 1.0


def test_a_mixup_label_counts_as_its_larger_share():
    blended = pack_targets([[0.3, 0.7, 0.0]], T_LOGITS)  # mostly class 1, as LABEL
    soft = float(loss("dkd")(blended, S)) - float(loss("hard")(blended, S))  # DKD = CE(blend) + soft term
    assert soft == pytest.approx(value("dkd") - value("hard"), rel=1e-6)  # the soft term's target: class 1
    acc = LabelAccuracy()
    acc.update_state(blended, S)  # the student's top class, 1, is the label's larger share
    assert float(acc.result()) == 1.0
