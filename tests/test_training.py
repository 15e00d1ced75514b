import numpy as np
import pytest

from distill import models, training
from distill.config import TrainConfig


def train_config(**over):
    return TrainConfig(**{"temperature": 4.0, "alpha": 0.5, "epochs": 1, "batch_size": 16, "learning_rate": 0.01,
                          "dropout": 0.0, "seeds": [0], "target_weight": 1.0,
                          "nontarget_weight": 8.0, "augment": False, **over})


def test_batches_cover_each_row_once_in_a_seeded_order(tmp_path):
    x = np.lib.format.open_memmap(tmp_path / "x.npy", "w+", np.float16, (10, 3))
    x[:] = np.arange(30).reshape(10, 3)
    x.flush()
    x = np.load(tmp_path / "x.npy", mmap_mode="r")
    y = np.arange(10)
    b = training.Batches(x, y, batch_size=4, seed=1)
    assert len(b) == 3
    epoch1 = [b[i] for i in range(len(b))]
    assert sorted(np.concatenate([yb for _, yb in epoch1]).tolist()) == list(range(10))
    xb, yb = epoch1[0]
    assert xb.dtype == np.float16 and np.array_equal(xb[:, 0], yb * 3)  # rows paired with labels, no copy to float32
    again = training.Batches(x, y, batch_size=4, seed=1)
    assert all(np.array_equal(a[1], c[1]) for a, c in zip(epoch1, [again[i] for i in range(3)]))
    b.on_epoch_end()
    assert np.concatenate([b[i][1] for i in range(3)]).tolist() != np.concatenate([yb for _, yb in epoch1]).tolist()


def test_learning_rate_schedules():
    assert training.learning_rate(0.1, "constant", 100) == 0.1
    cos = training.learning_rate(0.1, "cosine", 100)
    assert float(cos(0)) == pytest.approx(0.1) and float(cos(50)) == pytest.approx(0.05, abs=1e-6)
    assert float(cos(100)) == pytest.approx(0.0, abs=1e-7)
    warm = training.learning_rate(0.1, "constant", 100, warmup_steps=10)
    assert float(warm(5)) == pytest.approx(0.05) and float(warm(10)) == pytest.approx(0.1)
    assert float(warm(90)) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="unknown schedule 'step'"):
        training.learning_rate(0.1, "step", 100)


def test_every_optimizer_name_builds_its_optimizer():
    from distill import names

    assert tuple(training.OPTIMIZERS) == names.OPTIMIZERS
    built = {name: type(training.optimizer(name, 0.01)).__name__ for name in names.OPTIMIZERS}
    assert built == {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop", "adadelta": "Adadelta"}
    assert training.optimizer("sgd", 0.1).nesterov and training.optimizer("adam", 0.1, 0.01).weight_decay == 0.01
    with pytest.raises(ValueError, match="unknown optimizer 'lamb'"):
        training.optimizer("lamb", 0.1)


def test_teacher_outputs_are_inference_mode_and_byte_identical(tmp_path):
    training.set_determinism(0)
    teacher = models.teacher()
    x = np.random.default_rng(0).random((30, 28, 28, 1), dtype=np.float32)
    for prefix in ("a", "b"):
        training.dump_teacher_outputs(teacher, x, tmp_path / f"{prefix}_logits.npy",
                                      tmp_path / f"{prefix}_features.npy", batch_size=8)
    for kind in ("logits", "features"):
        assert (tmp_path / f"a_{kind}.npy").read_bytes() == (tmp_path / f"b_{kind}.npy").read_bytes()
    logits = np.load(tmp_path / "a_logits.npy")
    features = np.load(tmp_path / "a_features.npy")
    assert logits.dtype == np.float32 and logits.shape == (30, 10)
    assert features.dtype == np.float16 and features.shape == (30, 9216)
    # dropout off: the same as calling the model in inference mode, not a random draw
    np.testing.assert_allclose(logits, np.asarray(teacher(x, training=False)), rtol=1e-5, atol=1e-5)
    assert not np.allclose(logits, np.asarray(teacher(x, training=True)), rtol=1e-5, atol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_features.npy", "a_logits.npy",
                                                          "b_features.npy", "b_logits.npy"]


def test_view_batches_show_each_image_once_per_epoch_at_a_seeded_view():
    from distill import views

    n, k = 10, 3
    v = np.zeros((k, n, 28, 28), np.uint8)
    for view in range(k):
        v[view, :, 0, 0] = view  # pixel (0, 0) says which view a row came from
        v[view, :, 0, 1] = np.arange(n)  # pixel (0, 1) says which image
    cached = views.Views(v, np.zeros((0, n), np.int32), np.zeros((0, n), np.float32), np.arange(n) % 10)
    seen = []
    b = training.ViewBatches(cached, lambda kk, ii: np.stack([kk, ii], axis=1), batch_size=4, seed=3)
    assert len(b) == 3
    for _ in range(2):
        rows = [b[i] for i in range(len(b))]
        x = np.concatenate([r[0] for r in rows])
        y = np.concatenate([r[1] for r in rows])
        # the targets belong to the very view and image in x
        np.testing.assert_array_equal(np.rint(x[:, 0, 0, 0] * 255), y[:, 0])
        np.testing.assert_array_equal(np.rint(x[:, 0, 1, 0] * 255), y[:, 1])
        assert sorted(y[:, 1]) == list(range(n))
        seen.append(y)
        b.on_epoch_end()
    assert not np.array_equal(seen[0], seen[1])
    again = training.ViewBatches(cached, lambda kk, ii: np.stack([kk, ii], axis=1), batch_size=4, seed=3)
    np.testing.assert_array_equal(np.concatenate([again[i][1] for i in range(3)]), seen[0])
    assert set(np.concatenate(seen)[:, 0]) == {0, 1, 2}
