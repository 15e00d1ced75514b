import numpy as np
import pytest

from distill.training import loop, models
from distill.training.config import TrainConfig


def train_config(**over):
    return TrainConfig(**{"temperature": 4.0, "alpha": 0.5, "epochs": 1, "batch_size": 16, "learning_rate": 0.01,
                          "optimizer": "adam", "weight_decay": 0.0, "dropout": 0.0, "seeds": [0], "target_weight": 1.0,
                          "nontarget_weight": 8.0, "augment": False, "mixup": False, **over})


def test_batches_cover_each_row_once_in_a_seeded_order(tmp_path):
    x = np.lib.format.open_memmap(tmp_path / "x.npy", "w+", np.float16, (10, 3))
    x[:] = np.arange(30).reshape(10, 3)
    x.flush()
    x = np.load(tmp_path / "x.npy", mmap_mode="r")
    y = np.arange(10)
    b = loop.Batches(x, y, batch_size=4, seed=1)
    assert len(b) == 3
    epoch1 = [b[i] for i in range(len(b))]
    assert sorted(np.concatenate([yb for _, yb in epoch1]).tolist()) == list(range(10))
    xb, yb = epoch1[0]
    assert xb.dtype == np.float16 and np.array_equal(xb[:, 0], yb * 3)  # rows paired with labels, no copy to float32
    again = loop.Batches(x, y, batch_size=4, seed=1)
    assert all(np.array_equal(a[1], c[1]) for a, c in zip(epoch1, [again[i] for i in range(3)]))
    b.on_epoch_end()
    assert np.concatenate([b[i][1] for i in range(3)]).tolist() != np.concatenate([yb for _, yb in epoch1]).tolist()


def test_learning_rate_schedules():
    assert loop.learning_rate(0.1, "constant", 100) == 0.1
    cos = loop.learning_rate(0.1, "cosine", 100)
    assert float(cos(0)) == pytest.approx(0.1) and float(cos(50)) == pytest.approx(0.05, abs=1e-6)
    assert float(cos(100)) == pytest.approx(0.0, abs=1e-7)
    warm = loop.learning_rate(0.1, "constant", 100, warmup_steps=10)
    assert float(warm(5)) == pytest.approx(0.05) and float(warm(10)) == pytest.approx(0.1)
    assert float(warm(90)) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="unknown schedule 'step'"):
        loop.learning_rate(0.1, "step", 100)


def test_every_optimizer_name_builds_its_optimizer():
    from distill.core import names

    assert tuple(loop.OPTIMIZERS) == names.OPTIMIZERS
    built = {name: type(loop.optimizer(name, 0.01)).__name__ for name in names.OPTIMIZERS}
    assert built == {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop", "adadelta": "Adadelta"}
    assert loop.optimizer("adamw", 0.01, 1e-4).weight_decay == pytest.approx(1e-4)
    assert not loop.optimizer("adamw", 0.01).weight_decay  # 0: no decay, not Keras's default 0.004
    assert loop.optimizer("sgd", 0.1).nesterov and loop.optimizer("adam", 0.1, 0.01).weight_decay == 0.01
    with pytest.raises(ValueError, match="unknown optimizer 'lamb'"):
        loop.optimizer("lamb", 0.1)


def test_teacher_outputs_are_inference_mode_and_byte_identical(tmp_path):
    loop.set_determinism(0)
    teacher = models.teacher()
    x = np.random.default_rng(0).random((30, 28, 28, 1), dtype=np.float32)
    for prefix in ("a", "b"):
        loop.dump_teacher_outputs(teacher, x, tmp_path / f"{prefix}_logits.npy",
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
    from distill.data import views

    n, k = 10, 3
    v = np.zeros((k, n, 28, 28), np.uint8)
    for view in range(k):
        v[view, :, 0, 0] = view  # pixel (0, 0) says which view a row came from
        v[view, :, 0, 1] = np.arange(n)  # pixel (0, 1) says which image
    cached = views.Views(v, np.zeros((0, n), np.int32), np.zeros((0, n), np.float32), np.arange(n) % 10)
    seen = []
    b = loop.Batches.of_views(cached, lambda kk, ii: np.stack([kk, ii], axis=1), batch_size=4, seed=3)
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
    again = loop.Batches.of_views(cached, lambda kk, ii: np.stack([kk, ii], axis=1), batch_size=4, seed=3)
    np.testing.assert_array_equal(np.concatenate([again[i][1] for i in range(3)]), seen[0])
    assert set(np.concatenate(seen)[:, 0]) == {0, 1, 2}


class OldBatches:
    """loop.Batches and training.ViewBatches as they were before they became one class: the
    reference the merged class must match batch for batch (same batches, same trained weights)."""

    def __init__(self, x, y, batch_size, seed=0, shuffle=True, transform=None):
        self.x, self.y, self.batch_size, self.seed = x, y, batch_size, seed
        self.shuffle, self.transform = shuffle, transform
        self.epoch = 0
        self._order()

    def _order(self):
        n = len(self.x)
        self.index = np.random.default_rng([self.seed, self.epoch]).permutation(n) if self.shuffle else None

    def __getitem__(self, i):
        sl = slice(i * self.batch_size, (i + 1) * self.batch_size)
        idx = np.sort(self.index[sl]) if self.shuffle else sl
        x = self.x[idx]
        return (self.transform(x) if self.transform else x), self.y[idx]

    def on_epoch_end(self):
        self.epoch += 1
        self._order()


class OldViewBatches(OldBatches):
    def __init__(self, views, targets, batch_size, seed=0, mix=True):
        self.views, self.targets, self.batch_size, self.seed, self.mix = views, targets, batch_size, seed, mix
        self.epoch = 0
        self._order()

    def _order(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        self.index, self.view = rng.permutation(self.views.n), rng.integers(self.views.count, size=self.views.n)

    def __getitem__(self, i):
        sl = slice(i * self.batch_size, (i + 1) * self.batch_size)
        order = np.argsort(self.index[sl])
        idx, k = self.index[sl][order], self.view[sl][order]
        return self.views.images(k, idx, mix=self.mix), self.targets(k, idx)


def _same_batches(new, old, epochs=3):
    for _ in range(epochs):
        for i in range(len(new)):
            (xa, ya), (xb, yb) = new[i], old[i]
            assert xa.dtype == xb.dtype and ya.dtype == yb.dtype
            np.testing.assert_array_equal(xa, xb)
            np.testing.assert_array_equal(ya, yb)
        new.on_epoch_end()
        old.on_epoch_end()


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("transform", [None, lambda x: x.astype(np.float32) / 255.0])
def test_batches_over_arrays_match_the_old_class_bit_for_bit(tmp_path, shuffle, transform):
    rng = np.random.default_rng(7)
    np.save(tmp_path / "x.npy", rng.integers(0, 255, (23, 28, 28), dtype=np.uint8))
    x = np.load(tmp_path / "x.npy", mmap_mode="r")
    y = rng.normal(size=(23, 20)).astype(np.float32)
    _same_batches(loop.Batches(x, y, 5, seed=4, shuffle=shuffle, transform=transform),
                  OldBatches(x, y, 5, seed=4, shuffle=shuffle, transform=transform))


@pytest.mark.parametrize("mixup", [False, True])
@pytest.mark.parametrize("mix", [False, True])
def test_batches_over_views_match_the_old_class_bit_for_bit(mixup, mix):
    from distill.data import views

    rng = np.random.default_rng(8)
    n, k = 23, 3
    images = rng.integers(0, 255, (k, n, 28, 28), dtype=np.uint8)
    partner = rng.integers(0, n, (k, n)) if mixup else np.zeros((0, n), np.int64)
    lam = rng.random((k, n), dtype=np.float32) if mixup else np.zeros((0, n), np.float32)
    cached = views.Views(images, partner, lam, rng.integers(0, 10, n))
    logits = rng.normal(size=(k, n, 10)).astype(np.float32)

    def targets(kk, ii):
        return np.concatenate([cached.label_weights(kk, ii), logits[kk, ii]], axis=1)

    _same_batches(loop.Batches.of_views(cached, targets, 5, seed=2, mix=mix),
                  OldViewBatches(cached, targets, 5, seed=2, mix=mix))
