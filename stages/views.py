"""Stage views: K augmented views of every training image -> data/views/images.npy, mix.npz.

Reads params: views. Random shifts, rotations and scaling (and optionally mixup partners), drawn
from `views.seed`, stored as uint8: the teacher trains on them, teacher_outputs labels each one, and
standalone students train on them with the teacher's logits for exactly the view they see. The
stage's cost (seconds, bytes) goes to metrics/timing/views.json.
"""
import time
from dataclasses import dataclass

import distill
from distill import params as P
from distill import paths


@dataclass(frozen=True)
class ViewsConfig:
    count: int = P.field(P.integer(min=1, max=64))  # K views per training image
    shift: float = P.field(P.number(min=0, max=14))  # pixels, along each axis
    rotation: float = P.field(P.number(min=0, max=180))  # degrees
    scale: float = P.field(P.number(min=0, max=0.9))  # relative: factor within 1 +- scale
    mixup: float = P.field(P.number(min=0))  # Beta(mixup, mixup) blend with another image's view; 0: off
    seed: int = P.field(P.integer(min=0))


def main():
    cfg = P.section("views", ViewsConfig)
    import numpy as np

    from distill import data, files, views

    x = data.load()["x_train"]
    start = time.time()
    images, partner, lam = views.make(x, cfg.count, cfg.shift, cfg.rotation, cfg.scale, cfg.mixup, cfg.seed)
    with files.atomic_dir(paths.VIEWS) as tmp:
        np.save(tmp / "images.npy", images, allow_pickle=False)
        files.save_npz(tmp / "mix.npz", {"partner": partner, "lam": lam})
    seconds, size = time.time() - start, files.size(paths.VIEW_IMAGES) + files.size(paths.VIEW_MIX)
    files.write_json(paths.timing("views"), {"seconds": round(seconds, 1), "bytes": size, "views": cfg.count,
                                             "images": len(x)})
    print(f"views: {cfg.count} views of {len(x)} training images, {size / 1e6:.1f} MB, "
          f"mixup {'off' if not cfg.mixup else f'Beta({cfg.mixup:g}, {cfg.mixup:g})'}, made in {seconds:.1f}s")


if __name__ == "__main__":
    distill.run(main)
