"""Stage fetch: MNIST from the first source that delivers it verified -> data/mnist.npz, and its recipe
data/mnist.recipe.json (the params that make it again and its SHA-256: the study tracks only that).

Reads params: fetch. The environment variable MNIST_MIRROR, when set, overrides fetch.mirror.
"""
import dataclasses
import os

from distill import data
from distill.core import params as P
from distill.core import paths
from distill.core.stage import run
from distill.data.config import FetchConfig


def main():
    cfg = P.section("fetch", FetchConfig)
    from distill.core import files

    args = dataclasses.asdict(cfg)
    try:
        arrays, source = data.make(args, os.environ.get(data.MIRROR_ENV))
    except data.SplitError as e:
        P.fail(P.PARAMS_FILE, "fetch.validation_images", str(e))
    files.save_npz(paths.MNIST, arrays)
    files.write_recipe(paths.MNIST_RECIPE, data.recipe(args), [paths.MNIST])
    print(f"fetch: {paths.MNIST} from {source}: " + ", ".join(f"{s} {arrays[f'x_{s}'].shape}" for s in data.SPLITS))


if __name__ == "__main__":
    run(main)
