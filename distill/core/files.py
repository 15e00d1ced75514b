"""Reading inputs and writing outputs.

Writes are atomic: every output is written under a temporary name, then renamed into place, so a
stage that dies half-way leaves either the old file or nothing, never a truncated file that DVC or
the next stage would take as finished. Files whose bytes would carry a save date (.npz, .keras)
are written with fixed stamps, so the same arrays or weights give the same bytes and DVC finds
everything downstream up to date.

Reads turn a missing or unreadable input into one `InputError` naming the file.
"""
import contextlib
import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from distill import Error

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can hold: a fixed stamp


class InputError(Error):
    """An input file that is missing or cannot be read; the message names it."""


def missing(path):
    return InputError(f"{path}: not found; run the stage that writes it (dvc repro)")


def unreadable(path, what, e):
    return InputError(f"{path}: not a readable {what} ({type(e).__name__}: {e}); "
                      "rerun the stage that writes it (dvc repro -f -s <stage>)")


# --- writing ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; on success rename it to `path`, else remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_dir(path):
    """Yield a temporary folder beside `path`; on success it replaces `path` whole (no stale files
    of an earlier run stay in it), else it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        if path.is_dir():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def size(path):
    return Path(path).stat().st_size


def write_json(path, obj):
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_bytes(path, blob):
    with atomic_path(path) as tmp:
        tmp.write_bytes(blob)


def save_npy(path, array):
    with atomic_path(path) as tmp:
        np.save(tmp, array, allow_pickle=False)


def save_npz(path, arrays):
    """Write arrays as an uncompressed .npz whose bytes depend only on the arrays.

    np.savez stamps each member with the current time; a fixed stamp keeps the file's hash, and
    so DVC's view of everything downstream, identical across reruns.
    """
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
        for name, array in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_EPOCH), buf.getvalue())


def save_model(model, path):
    """`model.save` to a .keras file whose bytes depend only on the model.

    Keras writes three things that change from run to run: the save date (metadata.json), the
    current time as a zip entry's stamp, and Python object ids as the `shared_object_id` that ties
    layers sharing one dtype policy (config.json). The date is dropped, the stamps fixed and the
    ids renumbered in order of appearance, so retraining to the same weights gives the same file
    and DVC reruns nothing downstream.
    """
    with atomic_path(path) as tmp:
        model.save(tmp)
        with zipfile.ZipFile(tmp) as zf:
            members = [(info, zf.read(info)) for info in zf.infolist()]
        with zipfile.ZipFile(tmp, "w") as zf:
            for info, blob in members:
                if info.filename == "metadata.json":
                    metadata = json.loads(blob)
                    metadata.pop("date_saved", None)
                    blob = json.dumps(metadata).encode()
                elif info.filename == "config.json":
                    blob = json.dumps(_renumbered(json.loads(blob), {})).encode()
                fixed = zipfile.ZipInfo(info.filename, date_time=ZIP_EPOCH)
                fixed.compress_type, fixed.external_attr = info.compress_type, 0o644 << 16
                zf.writestr(fixed, blob)


def _renumbered(config, ids):
    """`config` with each distinct shared_object_id replaced by 1, 2, ... in order of appearance."""
    if isinstance(config, dict):
        return {k: ids.setdefault(v, len(ids) + 1) if k == "shared_object_id" else _renumbered(v, ids)
                for k, v in config.items()}
    if isinstance(config, list):
        return [_renumbered(v, ids) for v in config]
    return config


# --- reading ---------------------------------------------------------------------------------------


def read_json(path):
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise missing(path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise unreadable(path, "JSON file", e) from None


def read_record(path, keys):
    """A stage's JSON record, checked to hold `keys`: a file from another version of the pipeline is
    refused in one line naming it and the first key it lacks."""
    record = read_json(path)
    missing_key = next((k for k in keys if not isinstance(record, dict) or k not in record), None)
    if missing_key is not None:
        raise InputError(f"{path}: not a record of this pipeline (no '{missing_key}'); "
                         "rerun the stage that writes it (dvc repro -f -s <stage>)")
    return record


def read_bytes(path):
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise missing(path) from None


def load_npy(path, mmap=True):
    """Load a .npy array, memory-mapped by default (no copy in RAM until pages are touched)."""
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise missing(path) from None
    except (OSError, ValueError, EOFError) as e:
        raise unreadable(path, ".npy array", e) from None


def load_npz(path):
    path = Path(path)
    if not path.is_file():
        raise missing(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise unreadable(path, ".npz archive", e) from None


def load_model(path, compile=True):
    """A Keras model from a .keras file, compiled with the loss and metrics it was saved with (a student
    needs distill.training.losses imported first: it registers them) and a fresh optimizer: whatever
    fine-tunes a loaded model compiles its own, so the saved optimizer state is never restored."""
    path = Path(path)
    if not path.is_file():
        raise missing(path)
    import keras

    try:
        model = keras.models.load_model(path, compile=False)
        if compile:
            with zipfile.ZipFile(path) as zf:
                config = json.loads(zf.read("config.json")).get("compile_config")
            if config:
                model.compile_from_config(config)
        return model
    except Exception as e:  # Keras raises many types for a damaged file: zip, HDF5, JSON, config errors
        raise unreadable(path, "Keras model", e) from None


# --- recipes: outputs made again where they are missing ---------------------------------------------
# A recipe is a small JSON file beside outputs that numpy or a pinned download can make again, byte
# for byte, on any machine: what made them and the SHA-256 of each. The study tracks the recipe in git
# in place of the outputs (gigabytes of views), so a fresh clone, on any CPU, finds every stage below
# them up to date; whoever reads the outputs first makes them again and checks the bytes.

def file_sha256(path, chunk=1 << 22):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def write_recipe(recipe_path, made_by, outputs):
    """`recipe_path`: `made_by` (what makes `outputs` again, JSON) and the SHA-256 of each output."""
    write_json(recipe_path, {"made_by": made_by,
                             "sha256": {Path(p).name: file_sha256(p) for p in outputs}})


def stale_recipe(recipe_path, outputs):
    """The recipe's `made_by` when one of `outputs` is missing or differs from it; None when they match
    or there is no recipe (then the outputs are a DVC output and DVC keeps them)."""
    if not Path(recipe_path).is_file():
        return None
    recipe = read_json(recipe_path)
    sums = recipe.get("sha256") if isinstance(recipe, dict) else None
    if not isinstance(sums, dict) or "made_by" not in recipe:
        raise InputError(f"{recipe_path}: not a recipe (made_by, sha256): rerun the stage that writes it")
    for p in outputs:
        if sums.get(Path(p).name) is None:
            raise InputError(f"{recipe_path}: lists no SHA-256 of {Path(p).name}: rerun the stage that writes it")
        if not Path(p).is_file() or file_sha256(p) != sums[Path(p).name]:
            return recipe["made_by"]
    return None


def check_recipe(recipe_path, outputs):
    """After making `outputs` again: each must have the recipe's bytes, or InputError says which differs."""
    sums = read_json(recipe_path)["sha256"]
    for p in outputs:
        if file_sha256(p) != sums[Path(p).name]:
            raise InputError(f"{p}: made again from {recipe_path}, but its bytes differ from the recorded ones "
                             "(another numpy or scipy?): rerun the stage that writes the recipe (dvc repro -f -s ...)")
