"""Stage views: K augmented views of every training image -> data/views/images.npy, mix.npz, and
their recipe data/views/recipe.json (the params that draw them again and their SHA-256: the study
tracks only that, and whoever reads the views first draws them again: distill/data/views.py).

Reads params: views. Random shifts, rotations and scaling (and optionally mixup partners), drawn
from `views.seed`, stored as uint8: the teacher trains on them, teacher_outputs labels each one, and
standalone students train on them with the teacher's logits for exactly the view they see. The
stage's cost (seconds, bytes) goes to metrics/timing/views.json.
"""
import time

from distill.core import params as P
from distill.core import paths
from distill.core.stage import run
from distill.data.config import ViewsConfig


def main():
    cfg = P.section("views", ViewsConfig)
    from distill import data
    from distill.core import files
    from distill.data import views

    x = data.load()["x_train"]
    start = time.time()
    made_by = {k: getattr(cfg, k) for k in views.RECIPE_KEYS}
    with files.atomic_dir(paths.VIEWS) as tmp:
        views.save(tmp / "images.npy", tmp / "mix.npz", views.make(x, *made_by.values()))
        files.write_recipe(tmp / views.RECIPE, {"views": made_by}, [tmp / "images.npy", tmp / "mix.npz"])
    seconds, size = time.time() - start, files.size(paths.VIEW_IMAGES) + files.size(paths.VIEW_MIX)
    files.write_json(paths.timing("views"), {"seconds": round(seconds, 1), "bytes": size, "views": cfg.count,
                                             "images": len(x)})
    print(f"views: {cfg.count} views of {len(x)} training images, {size / 1e6:.1f} MB, "
          f"mixup {'off' if not cfg.mixup else f'Beta({cfg.mixup:g}, {cfg.mixup:g})'}, made in {seconds:.1f}s")


if __name__ == "__main__":
    run(main)
