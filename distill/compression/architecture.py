"""A Keras 3 model's architecture inside a .dcz file: Keras's own serialized config, minified, checked
before it is built, and built without allocating until its size is known.

What the encoder and the decoder accept is one list, LAYERS: the layers Deep Compression acts on
(COMPRESSED: their kernels are pruned and weight-shared) and layers that either hold no weights or
hold a few that are stored as floats. Any other class is refused on both sides: Lambda and the
layers that wrap a Python function or read a file (TFSMLayer, the lookup and text layers) carry code
or paths, not weights, and a config may name any module for Keras to import. Classes the caller
passes in `custom_objects` are accepted as well, as Keras's safe mode accepts them.

The decoder never trusts the config: it checks every class and module named in it, counts its
layers, builds the model inside a keras.StatelessScope that defers every variable (no memory is
allocated), compares the weight shapes with the file's, and only then builds it for real.
"""
import copy
import inspect
import json
import math
import zlib

import keras

from distill.compression.codec import FormatError

COMPRESSED = ("Dense", "Conv2D", "DepthwiseConv2D", "SeparableConv2D")
FLOAT_LAYERS = ("BatchNormalization", "LayerNormalization", "PReLU", "Embedding")  # carried as floats
PLAIN = (  # no weights: the architecture only
    "InputLayer", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Dropout", "SpatialDropout2D",
    "GaussianNoise", "GaussianDropout", "AlphaDropout", "Flatten", "Reshape", "Permute", "RepeatVector",
    "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "ZeroPadding2D",
    "Cropping2D", "UpSampling2D", "Rescaling", "Add", "Subtract", "Multiply", "Average", "Maximum",
    "Minimum", "Concatenate", "Identity",
)
LAYERS = frozenset(COMPRESSED + FLOAT_LAYERS + PLAIN)
MODELS = {"Functional": ("keras.src.models.functional", "keras", "keras.models"),
          "Sequential": ("keras", "keras.src.models.sequential", "keras.models")}
# Modules whose classes a layer's config may name for its parts (initializers, regularizers, dtype policies)
PARTS = ("keras.initializers", "keras.regularizers", "keras.constraints", "keras.activations", "keras")
PART_CLASSES = frozenset({"DTypePolicy", "FloatDTypePolicy"})
INTERNAL = frozenset({"__keras_tensor__", "__tuple__"})  # Keras's own markers inside a functional config
MAX_CONFIG = 1 << 20  # inflated config bytes: about 40 times a 100-layer functional model's
MAX_LAYERS = 1000


def supported(layer, custom_objects=None):
    """None if the encoder can carry `layer` (its weights, if any, as floats unless COMPRESSED), else a
    one-line reason naming it. Classes in `custom_objects` are carried; the decoder needs them too."""
    kind = type(layer).__name__
    if type(layer) in (custom_objects or {}).values():
        return None
    if isinstance(layer, (keras.Sequential, keras.Model)) and kind in MODELS:
        return None
    if kind in LAYERS and type(layer).__module__.startswith("keras."):
        return None
    if kind == "Lambda":
        return f"layer '{layer.name}' is a Lambda: its function is code, which a .dcz file does not carry"
    return (f"layer '{layer.name}' ({kind}) cannot be carried: a .dcz file holds the layers "
            f"{', '.join(COMPRESSED)} (compressed) and {', '.join(sorted(FLOAT_LAYERS + PLAIN))}")


def _defaults(cls, config):
    """The config a layer of class `cls` has with only its required arguments (taken from `config`),
    and the names of those arguments."""
    required = {k: config[k] for k, p in inspect.signature(cls.__init__).parameters.items()
                if k != "self" and p.default is inspect.Parameter.empty
                and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and k in config}
    return cls(**required).get_config(), set(required)


def minify(serialized):
    """A model's serialized config (keras.saving.serialize_keras_object) without what Keras fills in
    again: each layer's arguments left at their defaults, per-layer build configs, null registered
    names. Keras deserializes the result into the same architecture."""
    def layer(entry):
        entry = {k: v for k, v in entry.items() if not (k == "registered_name" and v is None)}
        name = entry["class_name"]
        if name in MODELS:
            return model(entry)
        if name == "InputLayer":
            return entry
        cls = getattr(keras.layers, name, None) if entry.get("module") == "keras.layers" else None
        if cls is None:  # a caller's own class: kept whole
            return entry
        entry.pop("build_config", None)
        defaults, required = _defaults(cls, entry["config"])
        entry["config"] = {k: v for k, v in entry["config"].items()
                           if k in ("name",) or k in required or defaults.get(k, object()) != v}
        return entry

    def model(entry):
        entry = {k: v for k, v in entry.items() if k != "compile_config"}  # inference only: no loss, no optimizer
        entry["config"] = {**entry["config"], "layers": [layer(e) for e in entry["config"]["layers"]]}
        entry["config"] = {k: v for k, v in entry["config"].items() if k not in ("trainable", "dtype")}
        return entry

    return model(serialized)


def dump(model):
    """The minified config of `model` as compact JSON bytes."""
    return json.dumps(minify(keras.saving.serialize_keras_object(model)), separators=(",", ":")).encode()


def deflate(config):
    coder = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    return coder.compress(config) + coder.flush()


def check(config, custom_objects=None):
    """Refuse (FormatError) a parsed config that names a class outside LAYERS, MODELS and the Keras
    parts, or in a module other than Keras's (unless the caller passed it in `custom_objects`), or
    that holds more than MAX_LAYERS layers. Nothing is imported or built."""
    custom = set(custom_objects or ())
    layers = 0
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        stack.extend(node.values())
        name = node.get("class_name")
        if name is None:
            continue
        module, registered = node.get("module"), node.get("registered_name")
        if not isinstance(name, str) or not isinstance(module, (str, type(None))):
            raise FormatError("config: a class_name or module that is not a string")
        if name in custom or registered in custom:
            layers += 1
            continue
        if registered not in (None, name):
            raise FormatError(f"config names the registered class '{registered}', which was not passed in "
                              "custom_objects")
        if name in INTERNAL and module is None:
            continue
        if name in MODELS:
            ok = module in MODELS[name]
        elif name in LAYERS:
            ok, layers = module == "keras.layers", layers + 1
        else:
            ok = module in PARTS and (name in PART_CLASSES or module != "keras") and _is_keras_part(module, name)
        if not ok:
            where = f" from module '{module}'" if module else ""
            raise FormatError(f"config names the class '{name}'{where}, which a .dcz file may not hold "
                              "(pass it in custom_objects if you trust it)")
        if layers > MAX_LAYERS:
            raise FormatError(f"config holds more than {MAX_LAYERS} layers")


def _is_keras_part(module, name):
    """An initializer, regularizer, constraint or activation Keras itself defines under that module."""
    if module == "keras":
        return name in PART_CLASSES
    namespace = getattr(keras, module.split(".")[1], None)
    return inspect.isclass(getattr(namespace, name, None)) or callable(getattr(namespace, name, None))


def parse(raw, custom_objects=None):
    """The checked config a file's deflated config bytes hold; FormatError for anything else."""
    coder = zlib.decompressobj(-15)
    try:
        text = coder.decompress(raw, MAX_CONFIG + 1)
    except zlib.error as e:
        raise FormatError(f"damaged config stream: {e}") from None
    if len(text) > MAX_CONFIG:
        raise FormatError(f"config inflates past {MAX_CONFIG:,} bytes")
    if not coder.eof or coder.unused_data:
        raise FormatError("config stream truncated, or bytes after its end")
    try:
        config = json.loads(text.decode())
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise FormatError(f"config is not JSON ({type(e).__name__})") from None
    if not isinstance(config, dict) or config.get("class_name") not in MODELS:
        raise FormatError("config is not a Keras Sequential or functional model")
    check(config, custom_objects)
    return config


def build(config, shapes, custom_objects=None, max_params=None):
    """The model a checked config describes, its weights still as Keras initialised them, after its weight
    shapes were compared with `shapes` (the file's) on a deferred build that allocates nothing; FormatError
    when Keras cannot build it or its weights differ from the file's."""
    from keras.src.backend.common import global_state  # the deferred variables' list (no public API)

    def deserialize():
        # a copy each time: Keras pops entries out of the config it reads
        return keras.saving.deserialize_keras_object(copy.deepcopy(config), custom_objects=custom_objects,
                                                     safe_mode=True)

    try:
        with keras.StatelessScope(initialize_variables=False):
            try:
                lazy = [tuple(int(d) for d in w.shape) for w in deserialize().weights]
            except Exception as e:  # noqa: BLE001 - whatever a hostile config makes Keras raise
                raise FormatError(f"config does not build: {type(e).__name__}: {str(e)[:200]}") from None
    finally:
        global_state.set_global_attribute("uninitialized_variables", [])  # never allocate them
    if max_params is not None and sum(map(math.prod, lazy)) > max_params:
        raise FormatError(f"config builds {sum(map(math.prod, lazy)):,} weights, above the limit of {max_params:,}")
    if lazy != [tuple(s) for s in shapes]:
        raise FormatError(f"config builds weights of shapes {lazy[:4]}..., the file holds {list(shapes)[:4]}...")
    return deserialize()
