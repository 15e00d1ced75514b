import numpy as np
import pytest
from test_training import train_config

from distill.core import files, paths
from distill.core.names import StudentSpec
from distill.training import loop, losses, models, provenance, students


def _fit(seed):
    loop.set_determinism(seed)
    rng = np.random.default_rng(0)
    x = rng.random((64, 28, 28, 1), dtype=np.float32)
    y = losses.pack_targets(rng.integers(0, 10, 64), rng.normal(size=(64, 10)))
    model = models.student("cnn", (4, 8), dropout=0.1)
    cfg = train_config(epochs=2)
    students.fit_student(model, losses.get("kd", cfg), (x, y, None), cfg, seed)
    return model.get_weights()


def test_same_seed_same_weights():
    a, b, c = _fit(3), _fit(3), _fit(4)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not all(np.array_equal(u, v) for u, v in zip(a, c))


@pytest.mark.parametrize("arch, widths", [("head", (4,)), ("mlp", (8,)), ("cnn", (2, 4))])
@pytest.mark.parametrize("loss", ["mse", "kd", "hard"])
def test_every_family_trains_a_step_with_every_loss(arch, widths, loss):
    loop.set_determinism(0)
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


def _project(tmp_path, n_train=40, n_val=12, n_test=10, logits_rows=None, features=models.TEACHER_FEATURES):
    """A folder with data/mnist.npz and data/teacher_outputs/ as the pipeline lays them out."""
    rng = np.random.default_rng(0)
    sizes = {"train": n_train, "val": n_val, "test": n_test}
    files.save_npz(tmp_path / paths.MNIST, {
        k: v for split, n in sizes.items() for k, v in (
            (f"x_{split}", rng.integers(0, 255, (n, 28, 28), dtype=np.uint8)),
            (f"y_{split}", rng.integers(0, 10, n)))})
    for split, n in sizes.items():
        rows = logits_rows if logits_rows is not None and split == "train" else n
        logits = rng.normal(size=(rows, 10)).astype(np.float32)
        files.save_npy(tmp_path / paths.teacher_outputs(split, "logits"), logits)
        files.save_npy(tmp_path / paths.teacher_outputs(split, "features"),
                       rng.normal(size=(n, features)).astype(np.float16))


def test_train_student_from_cached_outputs_once_per_seed(tmp_path, monkeypatch):
    _project(tmp_path)
    monkeypatch.chdir(tmp_path)
    for spec in (StudentSpec("head", (3,), "kd"), StudentSpec("cnn", (2, 4), "hard")):
        runs = students.train_student(spec, train_config(batch_size=8, seeds=[5, 2]), live_dir="live")
        assert [r.seed for r in runs] == [5, 2]
        for r in runs:
            assert r.val_logits.shape == (12, 10) and r.test_logits.shape == (10, 10) and r.seconds > 0
            assert r.model.name == spec.arch
        assert not np.array_equal(runs[0].model.get_weights()[0], runs[1].model.get_weights()[0])
    # validation accuracy per epoch, one dvclive folder per seed
    assert (tmp_path / "live" / "seed-5" / "plots" / "metrics" / "eval" / "accuracy.tsv").is_file()
    assert (tmp_path / "live" / "seed-2" / "plots" / "metrics" / "train" / "accuracy.tsv").is_file()


def test_a_seed_trains_the_same_model_alone_or_beside_others(tmp_path, monkeypatch):
    _project(tmp_path)
    monkeypatch.chdir(tmp_path)
    spec = StudentSpec("cnn", (2, 4), "kd")
    alone = students.train_student(spec, train_config(batch_size=8, seeds=[1]))[0]
    beside = students.train_student(spec, train_config(batch_size=8, seeds=[0, 1]))[1]
    assert all(np.array_equal(a, b) for a, b in zip(alone.model.get_weights(), beside.model.get_weights()))
    np.testing.assert_array_equal(alone.test_logits, beside.test_logits)


def test_save_writes_a_model_per_seed_and_the_test_predictions(tmp_path, monkeypatch):
    _project(tmp_path)
    monkeypatch.chdir(tmp_path)
    spec = StudentSpec("mlp", (4,), "hard")
    (tmp_path / paths.student_dir(spec.name)).mkdir(parents=True)
    (tmp_path / paths.student_model(spec.name, 9)).write_text("stale: an earlier run's seed")
    runs = students.train_student(spec, train_config(batch_size=8, seeds=[0, 3]))
    train = train_config(batch_size=8, seeds=[0, 3])
    size = students.save(spec.name, spec.arch, runs, train)
    assert paths.student_seeds(spec.name) == [0, 3]  # the stale seed-9 is gone
    assert size == (tmp_path / paths.student_model(spec.name, 0)).stat().st_size
    pred = np.load(tmp_path / paths.test_predictions(spec.name), allow_pickle=False)
    assert pred.shape == (2, 10) and pred.dtype == np.int8
    np.testing.assert_array_equal(pred[1], np.argmax(runs[1].test_logits, axis=1))
    assert students.timing(runs)["per_seed"].keys() == {"0", "3"}
    assert not (tmp_path / paths.student_full_record(spec.name)).exists()  # no record given: none written


def test_train_and_record_keeps_the_full_record_beside_the_models_and_the_headline_in_metrics(tmp_path, monkeypatch):
    import json

    _project(tmp_path)
    monkeypatch.chdir(tmp_path)
    spec, train = StudentSpec("mlp", (4,), "kd"), train_config(batch_size=8, seeds=[0, 3])
    record, runs = students.train_and_record(spec, train, spec.name, "metrics/sweep/x.json")
    full = json.loads((tmp_path / paths.student_full_record(spec.name)).read_text())
    assert full == record and full["size_bytes"] == (tmp_path / paths.student_model(spec.name, 0)).stat().st_size
    assert full["per_seed"][1]["seed"] == 3 and full["augment"] is False and [r.seed for r in runs] == [0, 3]
    headline = json.loads((tmp_path / "metrics/sweep/x.json").read_text())
    assert headline == {k: record[k] for k in ("accuracy", "accuracy_std", "val_accuracy", "params")}
    for seed in (0, 3):
        found = provenance.read(paths.student_model(spec.name, seed))
        assert found == {"model": f"seed-{seed}.keras", "arch": "mlp", "trained_on": provenance.IMAGES, "seed": seed,
                         "recipe": {**train.as_dict(), "seeds": [seed]}}
    assert students.trained_on_views(spec.name) is False
    assert set(json.loads((tmp_path / paths.timing(spec.name)).read_text())["per_seed"]) == {"0", "3"}


def test_provenance_is_read_checked_and_seeds_must_agree(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(files.InputError, match=r"data/students/cnn-2-4-kd: no trained student"):
        students.trained_on_views("cnn-2-4-kd")
    models = [paths.student_model("cnn-2-4-kd", seed) for seed in (0, 1)]
    for seed, model in enumerate(models):
        (tmp_path / model).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / model).write_bytes(b"")
        provenance.write(model, provenance.record(model, "cnn", True, seed, {}))
    assert students.trained_on_views("cnn-2-4-kd") is True
    provenance.write(models[1], provenance.record(models[1], "cnn", False, 1, {}))
    with pytest.raises(files.InputError, match=r"the models disagree on 'trained_on'"):
        students.trained_on_views("cnn-2-4-kd")
    files.write_json(provenance.path(models[1]), {"model": "seed-1.keras", "arch": "cnn", "seed": 1, "recipe": {}})
    with pytest.raises(files.InputError, match=r"seed-1.provenance.json: not a record of this pipeline"):
        students.trained_on_views("cnn-2-4-kd")
    assert provenance.path("data/teacher.keras") == "data/teacher.provenance.json"



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


def _views(tmp_path, n_train=40, count=3, logits_shape=None, mixup=0.0):
    """data/views/ and the teacher's logits on them (and on their blends), as the views and teacher_outputs
    stages write them."""
    from distill.data import views

    x = np.load(tmp_path / paths.MNIST)["x_train"][:n_train]
    images, partner, lam = views.make(x, count, 2.0, 10.0, 0.1, mixup, seed=0, log=False)
    files.save_npy(tmp_path / paths.VIEW_IMAGES, images)
    files.save_npz(tmp_path / paths.VIEW_MIX, {"partner": partner, "lam": lam})
    rng = np.random.default_rng(1)
    logits = rng.normal(size=logits_shape or (count, n_train, 10)).astype(np.float32)
    files.save_npy(tmp_path / paths.VIEW_LOGITS, logits)
    mixed = rng.normal(size=(count if mixup else 0, n_train, 10)).astype(np.float32)
    files.save_npy(tmp_path / paths.VIEW_MIXED_LOGITS, mixed)
    return logits, mixed


def test_augment_trains_on_the_cached_views(tmp_path, monkeypatch):
    _project(tmp_path)
    _views(tmp_path)
    monkeypatch.chdir(tmp_path)
    spec = StudentSpec("sep", (2, 4, 2), "kd")
    plain = students.train_student(spec, train_config(batch_size=8))[0]
    viewed = students.train_student(spec, train_config(batch_size=8, augment=True))[0]
    again = students.train_student(spec, train_config(batch_size=8, augment=True))[0]
    assert not np.array_equal(plain.model.get_weights()[0], viewed.model.get_weights()[0])
    assert all(np.array_equal(a, b) for a, b in zip(viewed.model.get_weights(), again.model.get_weights()))
    assert viewed.val_logits.shape == (12, 10)  # validation stays the plain images


def test_view_logits_of_other_views_are_refused(tmp_path, monkeypatch):
    _project(tmp_path)
    _views(tmp_path, logits_shape=(2, 40, 10))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(files.InputError, match=r"views_logits.npy: holds \(2, 40, 10\), expected \(3, 40, 10\)"):
        students.train_student(StudentSpec("cnn", (2, 4), "hard"), train_config(batch_size=8, augment=True))


def test_mixup_trains_on_the_blends_with_the_teachers_logits_on_each_blend(tmp_path, monkeypatch):
    _project(tmp_path)
    logits, mixed = _views(tmp_path, mixup=0.4)
    monkeypatch.chdir(tmp_path)
    labels = np.load(paths.MNIST)["y_train"]
    cached, plain_logits, is_mixed = students.view_data(labels)
    assert not is_mixed and np.array_equal(plain_logits, logits)
    blends = students.view_data(labels, mixed=True)
    assert blends[2] and np.array_equal(blends[1], mixed)

    batch_plain = students.view_batches(cached, plain_logits, False, 4, 0)
    batch_mixed = students.view_batches(*blends, 4, 0)
    (xp, tp), (xm, tm) = batch_plain[0], batch_mixed[0]
    assert not np.array_equal(xp, xm)  # the same images, as views and as blends
    assert np.allclose(tm[:, :10].sum(axis=1), 1) and not np.array_equal(tp[:, :10], tm[:, :10])  # blended labels
    spec = StudentSpec("vsep", (2, 3), "kd")
    a = students.train_student(spec, train_config(batch_size=8, augment=True))[0]
    b = students.train_student(spec, train_config(batch_size=8, augment=True, mixup=True))[0]
    assert not np.array_equal(a.model.get_weights()[0], b.model.get_weights()[0])



def test_mixup_without_blends_is_refused(tmp_path, monkeypatch):
    _project(tmp_path)
    _views(tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(files.InputError, match=r"the views have no mixup \(views.mixup is 0\)"):
        students.train_student(StudentSpec("vsep", (2, 3), "kd"), train_config(batch_size=8, augment=True, mixup=True))
