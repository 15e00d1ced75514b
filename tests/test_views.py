import numpy as np
import pytest

from distill.core import files
from distill.data import views

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (6, 28, 28), dtype=np.uint8)


def test_no_motion_gives_the_images_back():
    v, partner, lam = views.make(IMAGES, 2, shift=0, rotation=0, scale=0, mixup=0, seed=0, log=False)
    assert v.shape == (2, 6, 28, 28) and v.dtype == np.uint8
    np.testing.assert_array_equal(v[0], IMAGES)
    np.testing.assert_array_equal(v[1], IMAGES)
    assert partner.shape == lam.shape == (0, 6)


def test_a_shift_moves_the_ink_by_at_most_the_range():
    dot = np.zeros((1, 28, 28), np.uint8)
    dot[0, 14, 14] = 255
    v, _, _ = views.make(dot, 20, shift=3, rotation=0, scale=0, mixup=0, seed=1, log=False)
    rows, cols = np.indices((28, 28))
    moves = []
    for k in range(20):
        w = v[k, 0].astype(float)
        moves.append(((w * rows).sum() / w.sum() - 14, (w * cols).sum() / w.sum() - 14))
    moves = np.array(moves)
    assert np.abs(moves).max() <= 3.01 and np.abs(moves).max() > 1  # within range, and it does move


def test_views_repeat_from_the_seed_and_differ_across_seeds():
    a = views.make(IMAGES, 3, 2.0, 10.0, 0.1, 0.0, seed=4, log=False)[0]
    b = views.make(IMAGES, 3, 2.0, 10.0, 0.1, 0.0, seed=4, log=False)[0]
    c = views.make(IMAGES, 3, 2.0, 10.0, 0.1, 0.0, seed=5, log=False)[0]
    assert a.tobytes() == b.tobytes() and a.tobytes() != c.tobytes()
    assert not np.array_equal(a[0], a[1])  # each view is its own draw


def test_mixup_blends_images_and_labels_alike():
    v, partner, lam = views.make(IMAGES, 2, 0, 0, 0, mixup=0.4, seed=0, log=False)
    assert partner.shape == lam.shape == (2, 6) and ((lam >= 0) & (lam <= 1)).all()
    labels = np.array([0, 1, 2, 3, 4, 5])
    cached = views.Views(v, partner, lam, labels)
    k, i = np.array([1, 0]), np.array([2, 5])
    x = cached.images(k, i)
    j = partner[k, i]
    want = lam[k, i][:, None, None] * (v[k, i] / 255.0) + (1 - lam[k, i][:, None, None]) * (v[k, j] / 255.0)
    np.testing.assert_allclose(x[..., 0], want, rtol=1e-6)
    np.testing.assert_array_equal(cached.images(k, i, mix=False)[..., 0], (v[k, i] / 255.0).astype(np.float32))
    w = cached.label_weights(k, i)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-6)
    assert w[0, 2] == pytest.approx(lam[1, 2] + (1 - lam[1, 2]) * (j[0] == 2))


def test_load_checks_the_files_against_the_labels(tmp_path):
    v, partner, lam = views.make(IMAGES, 2, 1.0, 0, 0, 0, seed=0, log=False)
    files.save_npy(tmp_path / "images.npy", v)
    files.save_npz(tmp_path / "mix.npz", {"partner": partner, "lam": lam})
    cached = views.load(tmp_path / "images.npy", tmp_path / "mix.npz", np.zeros(6, int))
    assert (cached.count, cached.n, cached.partner) == (2, 6, None)
    with pytest.raises(files.InputError, match=r"images.npy: holds uint8 \(2, 6, 28, 28\), expected uint8 \(K, 7"):
        views.load(tmp_path / "images.npy", tmp_path / "mix.npz", np.zeros(7, int))
    files.save_npz(tmp_path / "mix.npz", {"partner": np.zeros((2, 6), np.int32) + 9, "lam": np.zeros((2, 6))})
    with pytest.raises(files.InputError, match=r"mix.npz: partner indices outside 0..5"):
        views.load(tmp_path / "images.npy", tmp_path / "mix.npz", np.zeros(6, int))
    with pytest.raises(files.InputError, match=r"nothing.npy: not found; run the stage that writes it"):
        views.load(tmp_path / "nothing.npy", tmp_path / "mix.npz", np.zeros(6, int))


def test_views_are_drawn_again_from_their_recipe_where_missing(tmp_path, monkeypatch):
    """The study tracks data/views/recipe.json, not gigabytes of views: the first reader draws them again
    from the recipe's params and the training images, and checks the bytes against it."""
    from distill import data
    from distill.core import paths

    monkeypatch.chdir(tmp_path)
    arrays = {f"{xy}_{s}": (IMAGES if xy == "x" else np.arange(6, dtype=np.uint8)) for s in data.SPLITS for xy in "xy"}
    files.save_npz(paths.MNIST, arrays)
    made_by = {"count": 3, "shift": 1.5, "rotation": 5.0, "scale": 0.1, "mixup": 0.4, "seed": 7}
    assert tuple(made_by) == views.RECIPE_KEYS
    folder = tmp_path / paths.VIEWS
    folder.mkdir(parents=True)
    views.save(paths.VIEW_IMAGES, paths.VIEW_MIX, views.make(IMAGES, *made_by.values(), log=False))
    files.write_recipe(paths.VIEW_RECIPE, {"views": made_by}, [paths.VIEW_IMAGES, paths.VIEW_MIX])
    made = {p: (tmp_path / p).read_bytes() for p in (paths.VIEW_IMAGES, paths.VIEW_MIX)}
    (tmp_path / paths.VIEW_IMAGES).unlink()
    (tmp_path / paths.VIEW_MIX).write_bytes(b"stale")
    cached = views.load(paths.VIEW_IMAGES, paths.VIEW_MIX, arrays["y_train"])
    assert cached.count == 3 and cached.partner is not None
    assert {p: (tmp_path / p).read_bytes() for p in made} == made
    doctored = files.read_json(paths.VIEW_RECIPE)
    doctored["made_by"]["views"]["seed"] = 8  # other draws than the recorded bytes
    files.write_json(paths.VIEW_RECIPE, doctored)
    (tmp_path / paths.VIEW_IMAGES).unlink()
    with pytest.raises(files.InputError, match=r"images.npy: made again from data/views/recipe.json, but its bytes"):
        views.load(paths.VIEW_IMAGES, paths.VIEW_MIX, arrays["y_train"])
