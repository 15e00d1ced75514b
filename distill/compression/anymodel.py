"""Deep Compression for any Keras 3 model: prune, share, Huffman-code into a version-2 .dcz file that
carries the model's architecture, and load it back into a runnable Keras model.

    from distill.compression import anymodel
    result = anymodel.compress(model, (x_train, y_train), validation=(x_val, y_val))
    result = anymodel.compress(model, "mnist")             # or a data source: mnist, an .npz, IDX files
    open("model.dcz", "wb").write(result.blob)
    model = anymodel.load("model.dcz")                     # a Keras model, no project code needed to build it

Kernels of Dense, Conv2D, DepthwiseConv2D and SeparableConv2D layers are pruned and weight-shared
(architecture.COMPRESSED); every other weight (biases, BatchNormalization, the float layers) is stored
as floats. The recipe's defaults are the teacher's, chosen on validation (docs/deep-compression.md).
The command line: `python -m distill.dcz` (compress, score, info).
"""
import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field

import keras
import numpy as np

from distill.compression import architecture, codec, pruning, sharing
from distill.compression.config import CONV, DENSE, FLOAT_STORAGE, OUTPUT, PLAIN, Recipe
from distill.training import loop, models, scores

# The teacher's recipe (study/params.yaml deep_compress.teacher_recipe), chosen on validation
DEFAULT = Recipe(sparsity={CONV: 0.6, DENSE: 0.98, OUTPUT: 0.7}, bits={CONV: 6, DENSE: 5, OUTPUT: 5},
                 prune_epochs=5, share_epochs=2, learning_rate=0.0005, batch_size=128, finetune_on=PLAIN)

# The project's own layer classes (registered as distill>Name): a .dcz file of its networks names them
PROJECT_LAYERS = {f"distill>{cls.__name__}": cls for cls in (models.BatchNorm, models.SampleNorm)}


def _layers(model):
    """Every layer of `model`, nested models opened, in the order of model.weights."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _layers(layer)
        else:
            yield layer


def _models(model):
    """`model` and every model nested in it."""
    yield model
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _models(layer)


def kernels(model):
    """(layer, kernel variable, kind) for each kernel Deep Compression acts on, in the model's order;
    the kind is the recipe's: conv, dense (hidden), output (the last Dense)."""
    found = []
    for layer in _layers(model):
        if not layer.trainable:  # frozen: its kernel is not fine-tuned, so it is stored as floats
            continue
        if isinstance(layer, keras.layers.SeparableConv2D):
            found += [(layer, layer.depthwise_kernel, CONV), (layer, layer.pointwise_kernel, CONV)]
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            found.append((layer, layer.kernel, CONV))
        elif isinstance(layer, keras.layers.Dense):
            found.append((layer, layer.kernel, DENSE))
    dense = [i for i, (_, _, kind) in enumerate(found) if kind == DENSE]
    if dense:
        layer, kernel, _ = found[dense[-1]]
        found[dense[-1]] = (layer, kernel, OUTPUT)
    return found


def refusal(model, custom_objects=None):
    """Why a .dcz file cannot carry `model`, as one line naming the layer or limit; None if it can. Checked
    before any training: the decoder's own check of the config, and the format's limits."""
    for m in _models(model):
        if type(m).__name__ not in architecture.MODELS:
            return (f"{type(m).__name__} '{m.name}' is a subclassed model: a .dcz file carries Sequential and "
                    "functional models (their config is the architecture)")
    for layer in _layers(model):
        if problem := architecture.supported(layer, custom_objects):
            return problem
    config = architecture.dump(model)
    try:
        architecture.check(json.loads(config), custom_objects)
        architecture.probe(json.loads(config), custom_objects)  # the decoder's deferred build and its bounds
    except codec.FormatError as e:
        return f"model '{model.name}': {e}"
    weights, arrays = model.count_params(), len(model.weights)
    if weights > codec.MAX_PARAMS or arrays > codec.MAX_ARRAYS2 or len(config) > architecture.MAX_CONFIG:
        return (f"model '{model.name}': {weights:,} weights in {arrays} arrays, a config of {len(config):,} bytes: "
                f"a .dcz file holds at most {codec.MAX_PARAMS:,} weights, {codec.MAX_ARRAYS2} arrays and "
                f"{architecture.MAX_CONFIG:,} config bytes")
    return None


def encode(model, shared, floats="float16"):
    """The version-2 .dcz bytes of `model`, whose kernels in `shared` (sharing.SharedKernel) are stored
    as codebooks and indices, every other weight as `floats`."""
    by_kernel = {id(s.kernel): s for s in shared}
    entries = [by_kernel[id(w)].entry() if id(w) in by_kernel else np.asarray(w) for w in model.weights]
    return codec.encode2(architecture.deflate(architecture.dump(model)), entries, floats)


def decode(blob, custom_objects=None):
    """The Keras model a .dcz file holds, with its decoded weights. A version-2 file builds from its own
    config (checked first, built only after its size is known; Keras's safe mode); a version-1 file from
    the project's families (sharing.decode). codec.FormatError for anything else."""
    h = codec.header(blob)
    if h.version == 1:
        return sharing.decode(blob)
    config = architecture.parse(h.config, custom_objects)  # checked before anything is decoded or built
    weights = codec.decode(blob)  # bounded by the header's shapes
    model = architecture.build(config, h.shapes, custom_objects, codec.MAX_PARAMS)
    model.set_weights(weights)
    return model


def _bounded(path, most, opener=open, what="bytes"):
    """The bytes of the file at `path` (through `opener`), read only up to `most`; ValueError naming the
    file when it holds more."""
    with opener(path, "rb") as f:
        raw = f.read(most + 1)
    if len(raw) > most:
        raise ValueError(f"{path}: larger than {most:,} {what}")
    return raw


def read(path):
    """The bytes of the .dcz file at `path`, read only up to codec.MAX_FILE; codec.FormatError naming the
    file when it is larger or missing."""
    try:
        return _bounded(path, codec.MAX_FILE, what="bytes, more than any .dcz file holds")
    except FileNotFoundError:
        raise codec.FormatError(f"{path}: not found") from None
    except ValueError as e:
        raise codec.FormatError(str(e)) from None


def load(path, custom_objects=None):
    """The Keras model in the .dcz file at `path` (decode); codec.FormatError naming the file otherwise."""
    blob = read(path)
    try:
        return decode(blob, custom_objects)
    except codec.FormatError as e:
        raise codec.FormatError(f"{path}: {e}") from None


@dataclass
class Result:
    """A compressed model: the file's bytes, the decoded model, and what each step measured."""

    blob: bytes
    model: keras.Model
    record: dict = field(default_factory=dict)


def _loss(model, loss):
    """The loss to fine-tune with: the caller's, the model's compiled one, or sparse categorical
    cross-entropy on logits (on probabilities when the model ends in a softmax)."""
    if loss is not None:
        return keras.losses.get(loss)
    if getattr(model, "loss", None) is not None:
        return keras.losses.get(model.loss)
    last = model.layers[-1]
    softmax = getattr(last, "activation", None) is keras.activations.softmax or isinstance(last, keras.layers.Softmax)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=not softmax)


def check_recipe(recipe, floats):
    """One line naming the first bad setting, or None: the params schema of Recipe (config.py), so a
    recipe passed in code is held to what params.yaml's is."""
    from distill.core import params

    try:
        params.config(Recipe)(dataclasses.asdict(recipe), "recipe", "anymodel")
    except params.ParamsError as e:
        return str(e).removeprefix("anymodel: ")
    if floats not in FLOAT_STORAGE:
        return f"floats: {floats!r} is not one of {', '.join(FLOAT_STORAGE)}"
    return None


def compress(model, train, validation=None, test=None, recipe=DEFAULT, floats="float16", seed=0, loss=None,
             custom_objects=None, label="dcz", held_out=5000):
    """Deep-compress a copy of `model` (Sequential or functional, its layers in architecture.LAYERS or
    `custom_objects`) on `train` = (x, y) (y: class indices), with `loss` (default: _loss); `validation`
    and `test` = (x, y) are scored after each step (validation) and once at the end (test). `train` may
    instead name a data source (dataset: 'mnist', an .npz file, a folder of IDX files), read only once
    the model and recipe are checked, its validation split `held_out` training examples when it has
    none. The caller's model stays as it was. Returns a Result (run); ValueError naming the layer,
    setting or file it cannot take."""
    if problem := refusal(model, custom_objects) or check_recipe(recipe, floats):
        raise ValueError(problem)
    if isinstance(train, (str, os.PathLike)):
        if validation is not None or test is not None:
            raise ValueError("validation, test: a data source brings its own; pass (x, y) pairs for all three instead")
        splits = dataset(train, model.inputs[0].shape, held_out)
        train, validation, test = splits["train"], splits["val"], splits["test"]
    classes = model.outputs[0].shape[-1]
    for split, given in (("train", train), ("validation", validation), ("test", test)):
        labels = None if given is None else np.asarray(given[1])
        if labels is not None and len(labels) and (labels.min() < 0 or labels.max() >= classes):
            raise ValueError(f"{split}: labels {labels.min()}..{labels.max()}, the model has {classes} outputs")
    loop.set_determinism(seed)
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    splits = {"val": validation, "test": test}

    def accuracy(network, split):
        if splits[split] is None:
            return None
        x, y = splits[split]
        return round(scores.accuracy(loop.predict(network, x), np.asarray(y)), 6)

    def batches():
        return loop.Batches(train[0], np.asarray(train[1]), recipe.batch_size, seed=seed)

    def metric():
        return keras.metrics.SparseCategoricalAccuracy(name="accuracy")

    return run(copy, batches, _loss(model, loss), metric, recipe, floats, seed, accuracy, custom_objects, label)


def run(model, batches, loss, metric, recipe, floats="float16", seed=0, accuracy=None, custom_objects=None,
        label="dcz"):
    """All of Deep Compression on `model`, in place: each Dropout lowered for the sparser layer after it,
    magnitude pruning while fine-tuning, k-means weight sharing with the centroids fine-tuned, the
    network rounded to the file's floats and Huffman-coded into a version-2 file, which is decoded back
    and checked weight for weight. `batches()` gives fresh loop.Batches of (x, targets), so that each
    fine-tuning starts from the same order; `loss(targets, outputs)` and `metric()` (a new Keras metric)
    train and show progress; `accuracy(network, split)`, split 'val' or 'test', scores (None: not scored).
    Returns a Result: the file's bytes, the decoded model, and the record of each step."""
    start = time.time()
    loop.set_determinism(seed)
    found = kernels(model)
    sparsity = [recipe.sparsity[kind] for _, _, kind in found]

    def score(network, split):
        return None if accuracy is None else accuracy(network, split)

    record = {"params": model.count_params(), "kernels": len(found),
              "val_accuracy_before": score(model, "val"), "accuracy_before": score(model, "test"),
              "dropout": pruning.scale_dropout(model, sparsity, [layer for layer, _, _ in found])}
    pruning.prune(model, batches(), sparsity, recipe.prune_epochs, recipe.learning_rate, recipe.batch_size, seed,
                  label, metric(), kernels=[k for _, k, _ in found], loss=loss)
    record["val_accuracy_pruned"] = score(model, "val")
    shared = sharing.share([k for _, k, _ in found], [recipe.bits[kind] for _, _, kind in found])
    record["val_accuracy_kmeans"] = score(model, "val")
    if recipe.share_epochs:
        sharing.finetune(model, shared, batches(), loss, recipe.share_epochs, recipe.learning_rate, metric(), label)
    sharing.round_floats(model, shared, floats)
    blob = encode(model, shared, floats)
    decoded = decode(blob, custom_objects)
    if not all(np.array_equal(a, b) for a, b in zip(model.get_weights(), decoded.get_weights())):
        raise RuntimeError("the file decodes into other weights than were encoded (a codec bug)")
    kept = [np.asarray(k) for _, k, _ in found]
    record.update({"bytes": len(blob), "sizes": codec.sizes(blob),
                   "sparsity": round(float(sum((k == 0).sum() for k in kept) / max(1, sum(k.size for k in kept))), 4),
                   "val_accuracy": score(decoded, "val"), "accuracy": score(decoded, "test"),
                   "recipe": {"sparsity": recipe.sparsity, "bits": recipe.bits, "prune_epochs": recipe.prune_epochs,
                              "share_epochs": recipe.share_epochs, "learning_rate": recipe.learning_rate,
                              "batch_size": recipe.batch_size, "floats": floats, "seed": seed},
                   "seconds": round(time.time() - start, 1)})
    return Result(blob, decoded, record)


# --- data a user names ------------------------------------------------------------------------------

MNIST = "mnist"  # the project's own MNIST (data/mnist.npz, made again from its recipe if missing)
IDX_NAMES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
MAX_DATA_BYTES = 4 << 30  # what a data file may inflate to, checked before anything is read


def _npz(path):
    """The arrays of a user's .npz, each member's inflated size bounded, and the array its header
    announces checked against that size, before it is read."""
    import zipfile
    try:
        with zipfile.ZipFile(path) as z:
            if sum(i.file_size for i in z.infolist()) > MAX_DATA_BYTES:
                raise ValueError(f"{path}: its arrays inflate past {MAX_DATA_BYTES:,} bytes")
            for info in z.infolist():
                with z.open(info) as f:
                    read = {(1, 0): np.lib.format.read_array_header_1_0,
                            (2, 0): np.lib.format.read_array_header_2_0}.get(np.lib.format.read_magic(f))
                    if read is None:
                        raise ValueError(f"{path}: {info.filename} is not a .npy array of format 1.0 or 2.0")
                    shape, _, dtype = read(f)
                if dtype.hasobject or math.prod(shape) * dtype.itemsize > info.file_size:
                    raise ValueError(f"{path}: {info.filename} announces {shape} {dtype}, more than it holds")
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as e:
        raise ValueError(f"{path}: not a readable .npz file ({e})") from None


def _idx(folder):
    """x_train, y_train, x_test, y_test from the four MNIST-named IDX files in `folder` (plain or .gz).
    Not data.from_folder: that one checks the project's pinned SHA-256, which a user's files lack."""
    import gzip
    from pathlib import Path

    from distill.data import DataError, parse_idx
    out = {}
    for split, names in IDX_NAMES.items():
        for xy, name in zip("xy", names):
            found = next((p for p in (Path(folder) / name, Path(folder) / f"{name}.gz") if p.is_file()), None)
            if found is None:
                if split == "test":
                    continue
                raise ValueError(f"{folder}: holds neither {name} nor {name}.gz")
            try:
                raw = _bounded(found, MAX_DATA_BYTES, gzip.open if found.suffix == ".gz" else open, "bytes inflated")
                out[f"{xy}_{split}"] = parse_idx(raw, str(found))
            except (OSError, EOFError, DataError) as e:
                raise ValueError(str(e) if isinstance(e, DataError) else f"{found}: unreadable ({e})") from None
    return out


def dataset(source, input_shape, validation=5000):
    """{'train': (x, y), 'val': (x, y) or None, 'test': (x, y) or None} from `source`: 'mnist', an .npz
    file (x_train, y_train; optional x_val, y_val, x_test, y_test) or a folder of MNIST-named IDX files.
    Without x_val the last `validation` training examples are held out (0: none). uint8 images become
    float32 in [0, 1], with a channel axis added where the model's input (`input_shape`) has one more.
    ValueError with one line naming the file or array for anything it cannot use."""
    import os
    if source == MNIST:
        from distill import data
        arrays = data.load()
    elif str(source).endswith(".npz"):
        arrays = _npz(source)
    elif os.path.isdir(source):
        arrays = _idx(source)
    else:
        raise ValueError(f"{source}: neither '{MNIST}', an .npz file nor a folder of IDX files")
    if "x_train" not in arrays or "y_train" not in arrays:
        raise ValueError(f"{source}: holds no x_train and y_train")
    if "x_val" not in arrays and validation:
        if not 0 < validation < len(arrays["y_train"]):
            raise ValueError(f"validation: {validation} examples held out of {len(arrays['y_train'])}")
        for xy in "xy":
            arrays[f"{xy}_val"] = arrays[f"{xy}_train"][-validation:]
            arrays[f"{xy}_train"] = arrays[f"{xy}_train"][:-validation]
    out = {}
    for split in ("train", "val", "test"):
        if f"x_{split}" not in arrays:
            out[split] = None
            continue
        x, y = np.asarray(arrays[f"x_{split}"]), np.asarray(arrays.get(f"y_{split}", []))
        if x.dtype == np.uint8:
            x = x.astype(np.float32) / 255.0
        if x.ndim == len(input_shape) - 1:  # no channel axis: one
            x = x[..., None]
        if tuple(x.shape[1:]) != tuple(input_shape[1:]) or y.ndim != 1 or len(y) != len(x) \
                or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"{source}: x_{split} {x.shape} and y_{split} {y.shape} are not inputs of shape "
                             f"{tuple(input_shape[1:])} paired with class indices")
        out[split] = (x.astype(np.float32), y.astype(np.int64))
    return out
