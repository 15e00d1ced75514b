"""A Keras 3 model's architecture inside a .dcz file: Keras's own serialized config, minified, checked
before it is built, and built without allocating until its size is known.

What the encoder and the decoder accept is one list, LAYERS: the layers Deep Compression acts on
(COMPRESSED: their kernels are pruned and weight-shared), built-in layers whose weights are stored as
floats (FLOAT_LAYERS), and weightless ones (PLAIN). Any other class is refused on both sides: Lambda
and the layers that wrap a Python function or read a file (TFSMLayer, the lookup and text layers)
carry code or paths, not weights, and a config may name any module for Keras to import. Classes the
caller passes in `custom_objects` are accepted as well, as Keras's safe mode accepts them.

The file holds no initializer, regularizer or constraint (its weights are the file's; the others act
only in training), so nothing but layers, models, activations and dtype policies is named in it. The
decoder never trusts the config: it refuses any class, module, registered name, activation or dtype
outside those lists and any top-level key Keras would act on (a compile config), counts the layers
and the calls between them, builds the model inside a keras.StatelessScope that defers every variable
(no memory is allocated), compares the weight shapes with the file's, and only then builds it for real.
"""
import copy
import inspect
import json
import math
import zlib
from pathlib import Path

import keras

from distill.compression.codec import FormatError

COMPRESSED = ("Dense", "Conv2D", "DepthwiseConv2D", "SeparableConv2D")
FLOAT_LAYERS = (  # built-in layers with weights, carried as floats
    "BatchNormalization", "LayerNormalization", "GroupNormalization", "PReLU", "Embedding", "Conv1D", "Conv3D",
    "SeparableConv1D", "DepthwiseConv1D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
    "SimpleRNN", "GRU", "LSTM",
)
PLAIN = (  # no weights: the architecture only
    "InputLayer", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Dropout", "SpatialDropout1D",
    "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "Flatten",
    "Reshape", "Permute", "RepeatVector", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D",
    "AveragePooling2D", "AveragePooling3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
    "GlobalAveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "ZeroPadding1D",
    "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D", "UpSampling1D", "UpSampling2D",
    "UpSampling3D", "UnitNormalization", "Rescaling", "Add", "Subtract", "Multiply", "Average", "Maximum",
    "Minimum", "Concatenate", "Identity",
)
LAYERS = frozenset(COMPRESSED + FLOAT_LAYERS + PLAIN)
MODELS = {"Functional": ("keras.src.models.functional", "keras", "keras.models"),
          "Sequential": ("keras", "keras.src.models.sequential", "keras.models")}
ACTIVATIONS = frozenset({  # keras.activations' own functions, by the names Keras serializes them with
    "celu", "elu", "exponential", "gelu", "glu", "hard_shrink", "hard_sigmoid", "hard_silu", "hard_swish",
    "hard_tanh", "leaky_relu", "linear", "log_sigmoid", "log_softmax", "mish", "relu", "relu6", "selu",
    "sigmoid", "silu", "soft_shrink", "softmax", "softplus", "softsign", "sparse_plus", "sparse_sigmoid",
    "sparsemax", "squareplus", "swish", "tanh", "tanh_shrink", "threshold"})
DTYPES = frozenset({"float16", "bfloat16", "float32", "float64", "mixed_float16", "mixed_bfloat16",  # a layer's
                    "int8", "int16", "int32", "int64", "uint8", "uint16", "bool"})  # or an input's (an Embedding's ids)
POLICIES = frozenset({"DTypePolicy", "FloatDTypePolicy"})  # module "keras"; quantized policies are refused
INTERNAL = frozenset({"__keras_tensor__", "__tuple__"})  # Keras's own markers inside a functional config
TRAINING_ONLY = ("_initializer", "_regularizer", "_constraint")  # layer arguments a file does not carry
TOP_KEYS = frozenset({"module", "class_name", "config", "registered_name", "build_config", "name"})
MAX_CONFIG = 1 << 20  # inflated config bytes: about 40 times a 100-layer functional model's
MAX_LAYERS = 200  # layers, nested models included (a ResNet-50 has 177): a deferred build of 200 takes ~0.4 s
MAX_CALLS = 1024  # inbound nodes: the calls between layers
MAX_NESTED = 48  # layers of a nested Sequential, which Keras rebuilds after each one (quadratic time)
# The config stream's preset DEFLATE dictionary: the minified configs of two small generic models (every
# common layer, keys and Keras's own strings), made once with Keras 3.15 and frozen: its bytes are part of
# the format (docs/deep-compression.md), so a change would make every file written before unreadable.
ZDICT = (Path(__file__).parent / "config.zdict").read_bytes()
MAX_ACTIVATION = 1 << 24  # values one layer outputs per example: 64 MiB of float32 (a ResNet-50's largest: 0.8M)
PROBE_SIZE = 64  # an input dimension the config leaves unknown, taken as this when outputs are measured


def _strip(node):
    """`node` (a parsed config) without any *_initializer, *_regularizer or *_constraint argument."""
    if isinstance(node, list):
        return [_strip(v) for v in node]
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if not k.endswith(TRAINING_ONLY)}
    return node


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
    again or what the file does not carry: each layer's arguments left at their defaults (but its
    data_format and dtype, whose defaults are the machine's settings), its initializers, regularizers
    and constraints, per-layer build configs, the compile config, null registered names. Keras
    deserializes the result into the same architecture."""
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
                           if k in ("name", "data_format", "dtype") or k in required or defaults.get(k, object()) != v}
        policy = entry["config"].get("dtype")
        if isinstance(policy, dict) and policy.get("class_name") in POLICIES:  # its name says it all, and is short
            entry["config"]["dtype"] = policy["config"]["name"]
        return entry

    def model(entry):
        entry = {k: v for k, v in entry.items() if k != "compile_config"}  # inference only: no loss, no optimizer
        entry["config"] = {k: v for k, v in entry["config"].items() if k != "trainable"}
        entry["config"]["layers"] = [layer(e) for e in entry["config"]["layers"]]
        return entry

    return _strip(model(serialized))


def dump(model):
    """The minified config of `model` as compact JSON bytes."""
    return json.dumps(minify(keras.saving.serialize_keras_object(model)), separators=(",", ":")).encode()


def deflate(config):
    """Raw DEFLATE of config bytes, with ZDICT as its preset dictionary."""
    coder = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zdict=ZDICT)
    return coder.compress(config) + coder.flush()


def check(config, custom_objects=None):
    """Refuse (FormatError, one line) a parsed config that Keras would turn into anything but the layers,
    models, activations and dtype policies listed here or the caller's `custom_objects`: another class
    or module, a registered name (Keras looks those up in its global registry), a string naming a
    registered object, a top-level key Keras acts on, more than MAX_LAYERS layers or MAX_CALLS calls.
    Nothing is imported or built."""
    custom = set(custom_objects or ())
    if set(config) - TOP_KEYS:
        raise FormatError(f"config holds the top-level key '{sorted(set(config) - TOP_KEYS)[0]}', which a .dcz "
                          "file may not hold")
    layers = calls = 0
    stack = [(config, None)]
    while stack:
        node, key = stack.pop()
        if isinstance(node, list):
            stack.extend((v, key) for v in node)
            continue
        if isinstance(node, str):
            _check_string(node, key, custom)
            continue
        if not isinstance(node, dict):
            continue
        stack.extend((v, k) for k, v in node.items())
        if isinstance(node.get("inbound_nodes"), list):
            calls += len(node["inbound_nodes"])
        name = node.get("class_name")
        if name is None:
            continue
        module, registered = node.get("module"), node.get("registered_name")
        if not all(isinstance(v, (str, type(None))) for v in (name, module, registered)):
            raise FormatError("config: a class_name, module or registered_name that is not a string")
        lookup = registered if registered is not None else name  # what Keras looks the class up by
        if lookup in custom:
            layers += 1
        elif registered not in (None, name):
            raise FormatError(f"config names the registered class '{registered}', which was not passed in "
                              "custom_objects")
        elif name in INTERNAL and module is None:
            continue
        elif not _builtin(name, module, node):
            where = f" from module '{module}'" if module else ""
            raise FormatError(f"config names the class '{name}'{where}, which a .dcz file may not hold "
                              "(pass it in custom_objects if you trust it)")
        elif name in LAYERS or name in MODELS:
            layers += 1
            inner = node.get("config")
            nested = inner.get("layers") if isinstance(inner, dict) else None
            if name == "Sequential" and node is not config and isinstance(nested, list) and len(nested) > MAX_NESTED:
                raise FormatError(f"config nests a Sequential of more than {MAX_NESTED} layers")
        if layers > MAX_LAYERS or calls > MAX_CALLS:
            break
    if layers > MAX_LAYERS or calls > MAX_CALLS:
        raise FormatError(f"config holds more than {MAX_LAYERS} layers or {MAX_CALLS} calls between them")


def _builtin(name, module, node):
    """A model, layer, activation or dtype policy Keras itself defines, named by the module it serializes."""
    if name in MODELS:
        return module in MODELS[name]
    if name in LAYERS:
        return module == "keras.layers"
    if name in POLICIES:
        return module == "keras" and isinstance(node.get("config"), dict) and node["config"].get("name") in DTYPES
    if module == "keras.activations":
        return name in ACTIVATIONS or node.get("config") in ACTIVATIONS
    return False


def _check_string(value, key, custom):
    """Strings Keras turns into objects: an activation or dtype must be a built-in one; a registered
    name ('package>name', looked up in Keras's global registry) must be the caller's."""
    if key == "activation" or (key or "").endswith("_activation"):
        if value not in ACTIVATIONS and value not in custom:
            raise FormatError(f"config names the activation '{value[:60]}', which is not one of Keras's own")
    elif key == "dtype" and value not in DTYPES:
        raise FormatError(f"config names the dtype '{value[:60]}'")
    elif ">" in value and value not in custom:
        raise FormatError(f"config names '{value[:60]}', a registered object not passed in custom_objects")


def parse(raw, custom_objects=None):
    """The checked config a file's deflated config bytes hold; FormatError for anything else."""
    coder = zlib.decompressobj(-15, zdict=ZDICT)
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
    try:
        config = _strip(config)  # nothing a file holds is initialised, regularised or constrained
    except RecursionError:  # JSON nested almost as deep as the parser takes
        raise FormatError("config is nested too deeply") from None
    check(config, custom_objects)
    return config


def _deserialize(config, custom_objects):
    """The model of a checked config. A Sequential is built from its layers at once: Keras's from_config
    rebuilds it after each layer it adds."""
    config = copy.deepcopy(config)  # Keras pops entries out of the config it reads
    with keras.saving.custom_object_scope(custom_objects or {}):
        if config["class_name"] != "Sequential":
            return keras.saving.deserialize_keras_object(config, safe_mode=True)
        inner = config["config"]
        layers = [keras.saving.deserialize_keras_object(e, safe_mode=True) for e in inner.get("layers", [])]
        model = keras.Sequential(layers, name=inner.get("name"))
        if not model.built and isinstance(config.get("build_config"), dict):  # built without an Input layer
            model.build_from_config(config["build_config"])
        return model


def _largest_output(model):
    """The most values any layer of `model` (nested models included) outputs for one example, at any of
    its calls. The model is called once more on inputs of known shape (an unknown dimension taken as
    PROBE_SIZE), so that every layer records a call whose output shape is known."""
    inputs = [keras.Input(batch_shape=(1, *(d or PROBE_SIZE for d in t.shape[1:])), dtype=t.dtype)
              for t in model.inputs]
    model(inputs[0] if len(inputs) == 1 else inputs)  # symbolic: shapes only
    largest, stack = 0, [model]
    while stack:
        layer = stack.pop()
        stack.extend(getattr(layer, "layers", []))
        for node in layer._inbound_nodes:  # every call of the layer (no public API lists them)
            for t in node.output_tensors:
                largest = max(largest, math.prod(int(d or 1) for d in t.shape[1:]))
    return largest


def probe(config, custom_objects=None):
    """The weight shapes of the model a checked config describes, from a deferred build that allocates
    nothing; FormatError when Keras cannot build it or a layer outputs more than MAX_ACTIVATION values
    per example."""
    from keras.src.backend.common import global_state  # the deferred variables' list (no public API)

    before = list(global_state.get_global_attribute("uninitialized_variables") or [])
    try:
        with keras.StatelessScope(initialize_variables=False):
            lazy_model = _deserialize(config, custom_objects)
            shapes = [tuple(int(d) for d in w.shape) for w in lazy_model.weights]
            largest = _largest_output(lazy_model)
    except Exception as e:  # noqa: BLE001 - whatever a hostile config makes Keras raise
        raise FormatError(f"config does not build: {type(e).__name__}: {str(e)[:200]}") from None
    finally:
        global_state.set_global_attribute("uninitialized_variables", before)  # never allocate ours
    if largest > MAX_ACTIVATION:  # weights of the right shapes, but each prediction would allocate this much
        raise FormatError(f"config has a layer output of {largest:,} values per example, above the limit of "
                          f"{MAX_ACTIVATION:,}")
    return shapes


def build(config, shapes, custom_objects=None, max_params=None):
    """The model a checked config describes, its weights still as Keras initialised them, after its weight
    shapes were compared with `shapes` (the file's) on a deferred build that allocates nothing (probe);
    FormatError when Keras cannot build it or its weights differ from the file's."""
    lazy = probe(config, custom_objects)
    if max_params is not None and sum(map(math.prod, lazy)) > max_params:
        raise FormatError(f"config builds {sum(map(math.prod, lazy)):,} weights, above the limit of {max_params:,}")
    shapes = [tuple(s) for s in shapes]
    if lazy != shapes:
        at = next((i for i, (a, b) in enumerate(zip(lazy, shapes)) if a != b), min(len(lazy), len(shapes)))
        raise FormatError(f"config builds {len(lazy)} weight arrays, the file holds {len(shapes)}; array {at}: "
                          f"{lazy[at] if at < len(lazy) else None} against {shapes[at] if at < len(shapes) else None}")
    try:
        return _deserialize(config, custom_objects)
    except Exception as e:  # noqa: BLE001 - an initializer or shape the deferred build did not run
        raise FormatError(f"config does not build: {type(e).__name__}: {str(e)[:200]}") from None
