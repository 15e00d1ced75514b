"""Shared fixtures: tiny IDX datasets made on the spot, so no test needs the web or ../shared."""
import gzip
import hashlib
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def idx_bytes(array):
    """Encode a uint8 array as an IDX file."""
    array = np.asarray(array, dtype=np.uint8)
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def digit_images(labels, seed=0):
    """28x28 images a small network can tell apart: a bright bar whose place encodes the label."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 40, size=(len(labels), 28, 28), dtype=np.uint8)
    for i, label in enumerate(labels):
        r, c = 3 + 2 * label, 4 + int(rng.integers(0, 6))
        x[i, r:r + 3, c:c + 14] = 255
    return x


def make_dataset(folder, n_train=200, n_test=50, gz=False, seed=0):
    """Write four IDX files into `folder`; return the `files` param ({role: {name, sha256}})."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    y_train, y_test = rng.integers(0, 10, n_train), rng.integers(0, 10, n_test)
    arrays = {
        "train_images": digit_images(y_train, seed), "train_labels": y_train,
        "test_images": digit_images(y_test, seed + 1), "test_labels": y_test,
    }
    files = {}
    for role, array in arrays.items():
        raw = idx_bytes(array)
        name = NAMES[role]
        (folder / (name + ".gz" if gz else name)).write_bytes(gzip.compress(raw) if gz else raw)
        files[role] = {"name": name, "sha256": hashlib.sha256(raw).hexdigest()}
    return files


@pytest.fixture
def dataset(tmp_path):
    folder = tmp_path / "mirror"
    return folder, make_dataset(folder)


def run_stage(stage, cwd, params=None, args=(), env=None, timeout=600):
    """Run `python -m stages.<stage> args` in `cwd`, with `params` (if given) written as its params.yaml."""
    cwd = Path(cwd)
    cwd.mkdir(parents=True, exist_ok=True)
    if params is not None:
        (cwd / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    if "MNIST_MIRROR" not in (env or {}):
        full_env.pop("MNIST_MIRROR", None)
    return subprocess.run([sys.executable, "-m", f"stages.{stage}", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def default_params():
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def files_under(folder):
    """Every file below `folder`, relative: to check a failed stage wrote nothing."""
    folder = Path(folder)
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def shrink_upstream(params, mirror, files, train, test, val):
    """The shrunk pipelines' upstream (both share it): MNIST from `mirror` (the first `train`/`test`
    images, `val` of them held out; all of them when `files` pins a made-up dataset), 2 views, a
    one-epoch teacher."""
    f = params["fetch"]
    f.update(sources=["mirror"], mirror=str(mirror), train_images=train, test_images=test, validation_images=val)
    if files:
        f.update(files=files, train_images=None, test_images=None)
    params["views"].update(count=2)
    params["teacher"].update(epochs=1, batch_size=64, warmup_epochs=0)
