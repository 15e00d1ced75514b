import numpy as np
import pytest
from test_training import train_config

from distill import files, losses, models, paths, students, training
from distill.names import StudentSpec


def _fit(seed):
    training.set_determinism(seed)
    rng = np.random.default_rng(0)
    x = rng.random((64, 28, 28, 1), dtype=np.float32)
    y = losses.pack_targets(rng.integers(0, 10, 64), rng.normal(size=(64, 10)))
    model = models.student("cnn", (4, 8), dropout=0.1)
    cfg = train_config(epochs=2, seed=seed)
    students.fit_student(model, losses.get("kd", cfg), (x, y, None), cfg)
    return model.get_weights()


def test_same_seed_same_weights():
    a, b, c = _fit(3), _fit(3), _fit(4)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not all(np.array_equal(u, v) for u, v in zip(a, c))


@pytest.mark.parametrize("arch, widths", [("head", (4,)), ("mlp", (8,)), ("cnn", (2, 4))])
@pytest.mark.parametrize("loss", ["mse", "kd", "hard"])
def test_every_family_trains_a_step_with_every_loss(arch, widths, loss):
    training.set_determinism(0)
    rng = np.random.default_rng(0)
    n = 32
    x = rng.random((n, 9216) if arch == "head" else (n, 28, 28, 1), dtype=np.float32)
    y = losses.pack_targets(rng.integers(0, 10, n), rng.normal(size=(n, 10)) * 5)
    model = models.student(arch, widths)
    before = [w.copy() for w in model.get_weights()]
    cfg = train_config(temperature=2.0, batch_size=n)
    history = students.fit_student(model, losses.get(loss, cfg), (x, y, None), cfg)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def _project(tmp_path, n_train=40, n_test=10, logits_rows=None, features=models.TEACHER_FEATURES):
    """A folder with data/mnist.npz and data/teacher_outputs/ as the pipeline lays them out."""
    rng = np.random.default_rng(0)
    files.save_npz(tmp_path / paths.MNIST, {
        "x_train": rng.integers(0, 255, (n_train, 28, 28), dtype=np.uint8), "y_train": rng.integers(0, 10, n_train),
        "x_test": rng.integers(0, 255, (n_test, 28, 28), dtype=np.uint8), "y_test": rng.integers(0, 10, n_test)})
    for split, n in (("train", n_train), ("test", n_test)):
        rows = logits_rows if logits_rows is not None and split == "train" else n
        logits = rng.normal(size=(rows, 10)).astype(np.float32)
        files.save_npy(tmp_path / paths.teacher_outputs(split, "logits"), logits)
        files.save_npy(tmp_path / paths.teacher_outputs(split, "features"),
                       rng.normal(size=(n, features)).astype(np.float16))


def test_train_student_from_cached_outputs(tmp_path, monkeypatch):
    _project(tmp_path)
    monkeypatch.chdir(tmp_path)
    for spec in (StudentSpec("head", (3,), "kd"), StudentSpec("cnn", (2, 4), "hard")):
        model, test_logits, seconds = students.train_student(spec, train_config(batch_size=8))
        assert test_logits.shape == (10, 10) and seconds > 0
        assert model.name == spec.arch


def test_row_count_mismatch_names_the_files(tmp_path, monkeypatch):
    _project(tmp_path, logits_rows=39)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(files.InputError, match=r"data/teacher_outputs/train_logits.npy holds 39 rows, "
                                               r"data/mnist.npz 40 train inputs, .* rerun teacher_outputs"):
        students.student_data("cnn", "train")


def test_outputs_of_another_teacher_are_refused(tmp_path, monkeypatch):
    _project(tmp_path, features=100)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(files.InputError, match=r"train_features.npy: rows of \(100,\) values, expected \(9216,\)"):
        students.student_data("head", "train")
    assert students.student_data("cnn", "train").x.shape == (40, 28, 28)  # pixel students never read features
