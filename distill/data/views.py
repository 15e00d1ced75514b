"""Augmented views of the training images: made once, cached, and read by the teacher and students.

Consistent teaching (Beyer et al. 2022): a student learns most from the teacher's output on exactly
the image it sees. The `views` stage draws K random affine views of every training image (shift,
rotation, scale; scipy.ndimage, bilinear) and stores them as uint8, so they are bytes, not a recipe
that a library upgrade could change. `teacher_outputs` labels each view; a student trained on views
reads, for each image in each epoch, one of its K views and the teacher's logits for that view.

With mixup on, view k of image i is blended with view k of a partner image:
    lam * view(i) + (1 - lam) * view(partner),  lam ~ Beta(mixup, mixup)
The partner and lam are stored, not the blend: the blend is computed the same way (float32) for the
teacher's logits and for the student, and its label is the same blend of the two one-hot labels.
"""
import sys
import time
from pathlib import Path

import numpy as np

from distill.core import files, paths
from distill.data import one_hot

RECIPE_KEYS = ("count", "shift", "rotation", "scale", "mixup", "seed")  # make()'s draws: the views params


def save(images_path, mix_path, views):
    """The views (make's three arrays) as images.npy and mix.npz, each renamed into place when complete."""
    images, partner, lam = views
    with files.atomic_path(images_path) as tmp:
        np.save(tmp, images, allow_pickle=False)
    files.save_npz(mix_path, {"partner": partner, "lam": lam})


def ensure(images_path=paths.VIEW_IMAGES, mix_path=paths.VIEW_MIX, mnist_path=paths.MNIST):
    """Draw the views again from their recipe (recipe.json beside them) when they are missing or differ:
    the study tracks only the recipe, so a fresh clone makes them here, from numpy and the seed, and
    checks the bytes. Nothing when they match or there is no recipe."""
    from distill import data

    recipe_path = Path(images_path).parent / RECIPE
    made_by = files.stale_recipe(recipe_path, [images_path, mix_path])
    if made_by is None:
        return
    args = made_by["views"]
    print(f"views: {images_path} missing or not the recorded bytes; drawing {args['count']} views again from "
          f"{recipe_path}", file=sys.stderr, flush=True)
    save(images_path, mix_path, make(data.load(mnist_path)["x_train"], *(args[k] for k in RECIPE_KEYS)))
    files.check_recipe(recipe_path, [images_path, mix_path])


RECIPE = Path(paths.VIEW_RECIPE).name


def make(images, count, shift, rotation, scale, mixup, seed, log=True):
    """`count` views of each of `images` (uint8, (n, 28, 28)) -> (views uint8 (count, n, 28, 28),
    partner int32 (count, n), lam float32 (count, n)); partner and lam are empty when mixup is 0.

    Each view moves its image by up to `shift` pixels along each axis, turns it by up to `rotation`
    degrees and scales it by a factor within 1 +- `scale`, about the image centre; the draws
    depend only on `seed`, the view and the image's index."""
    from scipy import ndimage

    images = np.asarray(images, dtype=np.uint8)
    n, h, w = images.shape
    rng = np.random.default_rng(seed)
    angle = np.deg2rad(rng.uniform(-rotation, rotation, (count, n)))
    factor = rng.uniform(1 - scale, 1 + scale, (count, n))
    move = rng.uniform(-shift, shift, (count, n, 2))
    views = np.empty((count, n, h, w), np.uint8)
    centre = np.array([(h - 1) / 2, (w - 1) / 2])
    start, shown, out = time.time(), -1, np.empty((h, w), np.float32)
    for k in range(count):
        for i in range(n):
            c, s = np.cos(angle[k, i]), np.sin(angle[k, i])
            # affine_transform maps output coordinates to input ones: the inverse of the view's motion
            inverse = np.array([[c, s], [-s, c]]) / factor[k, i]
            offset = centre - inverse @ (centre + move[k, i])
            ndimage.affine_transform(images[i].astype(np.float32), inverse, offset, output=out, order=1,
                                     mode="constant", cval=0.0)
            views[k, i] = np.clip(np.rint(out), 0, 255)
        if log and int(10 * (k + 1) / count) > shown:
            shown = int(10 * (k + 1) / count)
            print(f"views: {k + 1}/{count} views of {n} images ({time.time() - start:.0f}s)", file=sys.stderr,
                  flush=True)
    if mixup > 0:
        partner = np.stack([rng.permutation(n) for _ in range(count)]).astype(np.int32)
        lam = rng.beta(mixup, mixup, (count, n)).astype(np.float32)
    else:
        partner, lam = np.zeros((0, n), np.int32), np.zeros((0, n), np.float32)
    return views, partner, lam


class Views:
    """The cached views of the training images, as the teacher and the students read them."""

    def __init__(self, views, partner, lam, labels):
        self.views, self.labels = views, np.asarray(labels)
        self.partner = partner if len(partner) else None
        self.lam = lam if len(lam) else None
        self.count, self.n = views.shape[:2]

    def images(self, k, i, mix=True):
        """float32 (b, 28, 28, 1) in [0, 1]: view k[j] of image i[j], blended with its partner's
        when mixup is on and `mix` is true."""
        x = self.views[k, i].astype(np.float32) / 255.0
        if mix and self.partner is not None:
            lam = self.lam[k, i][:, None, None]
            x = lam * x + (1 - lam) * (self.views[k, self.partner[k, i]].astype(np.float32) / 255.0)
        return x[..., None]

    def label_weights(self, k, i, mix=True):
        """float32 (b, 10): the one-hot label of each view, or the blend of two with mixup on and `mix`."""
        weights = one_hot(self.labels[i])
        if mix and self.partner is not None:
            lam = self.lam[k, i][:, None]
            weights = lam * weights + (1 - lam) * one_hot(self.labels[self.partner[k, i]])
        return weights


def load(images_path, mix_path, labels):
    """The views stage's files, memory-mapped, checked against the `labels` of the training images
    (drawn again first where their recipe says they are missing: ensure)."""
    ensure(images_path, mix_path)
    views = files.load_npy(images_path)
    mix = files.load_npz(mix_path)
    if views.ndim != 4 or views.dtype != np.uint8 or views.shape[1] != len(labels):
        raise files.InputError(f"{images_path}: holds {views.dtype} {views.shape}, expected uint8 "
                               f"(K, {len(labels)}, 28, 28) views of the training images: rerun views (dvc repro)")
    partner, lam = mix.get("partner"), mix.get("lam")
    if partner is None or lam is None or partner.shape != lam.shape or (
            len(partner) and partner.shape != views.shape[:2]):
        raise files.InputError(f"{mix_path}: expected 'partner' and 'lam' arrays of shape (0 or {views.shape[0]}, "
                               f"{views.shape[1]}): rerun views (dvc repro)")
    if len(partner) and (partner.min() < 0 or partner.max() >= len(labels)):
        raise files.InputError(f"{mix_path}: partner indices outside 0..{len(labels) - 1}: rerun views (dvc repro)")
    return Views(views, partner, lam, labels)
