"""Deep Compression for any Keras 3 model: version-2 .dcz files that carry the architecture."""
import hashlib
import json
import os
import subprocess
import sys
import zlib

import keras
import numpy as np
import pytest
import test_codec
from conftest import ROOT
from test_codec import FIXTURE
from test_sharing import _mutations, fuzz

from distill import dcz
from distill.compression import anymodel, architecture, codec
from distill.compression.config import CONV, DENSE, OUTPUT, PLAIN, Recipe

RECIPE = Recipe(sparsity={CONV: 0.5, DENSE: 0.8, OUTPUT: 0.5}, bits={CONV: 4, DENSE: 4, OUTPUT: 3},
                prune_epochs=1, share_epochs=1, learning_rate=0.002, batch_size=64, finetune_on=PLAIN)


def _data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    x = rng.random((n, 12, 12, 1), dtype=np.float32) * 0.3
    x[np.arange(n), y, y] += 1.0  # a class is a bright pixel on the diagonal: learnable in one epoch
    return x, y


def _resnet():
    """A small ResNet-style functional model: skip connections, BatchNorm, separable and depthwise convs."""
    i = keras.Input((12, 12, 1))
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(i)
    r = keras.layers.BatchNormalization()(keras.layers.Conv2D(8, 3, padding="same")(h))
    h = keras.layers.ReLU()(keras.layers.Add()([h, r]))
    h = keras.layers.SeparableConv2D(12, 3, strides=2)(h)
    h = keras.layers.DepthwiseConv2D(3)(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    h = keras.layers.Dropout(0.2)(keras.layers.Dense(16, activation="relu")(h))
    return keras.Model(i, keras.layers.Dense(10)(h), name="resnet")


def _mlp():
    """Sequential, ending in a softmax (the loss is then taken on probabilities)."""
    return keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(24, activation="relu"), keras.layers.Dense(10, activation="softmax")],
                            name="mlp")


def _users():
    """The model a user defines here: two branches concatenated, float-only layers, a nested Sequential."""
    i = keras.Input((12, 12, 1))
    a = keras.layers.PReLU()(keras.layers.Conv2D(6, 3)(i))
    b = keras.layers.LeakyReLU(0.2)(keras.layers.SeparableConv2D(6, 3, depth_multiplier=2)(i))
    h = keras.layers.Concatenate()([a, b])
    h = keras.layers.LayerNormalization()(keras.layers.MaxPooling2D()(h))
    inner = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(20, activation="relu")], name="inner")
    return keras.Model(i, keras.layers.Dense(10)(inner(h)), name="users")


ARCHITECTURES = {"mlp": _mlp, "resnet": _resnet, "users": _users}


@pytest.fixture(scope="module", params=sorted(ARCHITECTURES))
def compressed(request):
    x, y = _data()
    model = ARCHITECTURES[request.param]()
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(
        from_logits=request.param != "mlp"))
    model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    before = [np.array(w) for w in model.get_weights()]
    result = anymodel.compress(model, (x, y), validation=_data(64, 1), test=_data(64, 2), recipe=RECIPE)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # the caller's model untouched
    return model, result


def test_any_model_round_trips_to_the_same_predictions(compressed):
    """load(compress(model)) predicts as the compressed weights do in the original architecture."""
    model, result = compressed
    decoded = anymodel.decode(result.blob)
    assert [type(layer).__name__ for layer in decoded.layers] == [type(layer).__name__ for layer in model.layers]
    original = keras.models.clone_model(model)
    original.set_weights(result.model.get_weights())
    x, _ = _data(32, 3)
    assert np.array_equal(decoded.predict(x, verbose=0), original.predict(x, verbose=0))
    assert result.record["bytes"] == len(result.blob) and result.record["sizes"]["config"] > 0
    for key in ("val_accuracy_before", "val_accuracy_pruned", "val_accuracy_kmeans", "val_accuracy", "accuracy"):
        assert 0 <= result.record[key] <= 1


def test_compressed_kernels_are_pruned_and_shared_the_rest_floats(compressed):
    model, result = compressed
    h = codec.header(result.blob)
    found = anymodel.kernels(result.model)
    assert sum(1 for b in h.bits if b) == len(found)  # one codebook per kernel, every other array floats
    for _, kernel, kind in found:
        w = np.asarray(kernel)
        assert np.mean(w == 0) >= RECIPE.sparsity[kind] - 0.01
        assert len(np.unique(w[w != 0])) <= 2 ** RECIPE.bits[kind]
    assert [kind for *_, kind in found].count(OUTPUT) == 1


def test_a_layer_a_file_cannot_carry_is_refused_naming_it():
    x, y = _data(64)
    i = keras.Input((12, 12, 1))
    lam = keras.Model(i, keras.layers.Dense(10)(keras.layers.Flatten()(keras.layers.Lambda(lambda t: 2 * t,
                                                                                            name="double")(i))))
    with pytest.raises(ValueError, match="layer 'double' is a Lambda"):
        anymodel.compress(lam, (x, y), recipe=RECIPE)

    class Odd(keras.layers.Layer):
        def call(self, t):
            return t

    odd = keras.Sequential([keras.Input((12, 12, 1)), Odd(name="odd"), keras.layers.Flatten(), keras.layers.Dense(10)])
    with pytest.raises(ValueError, match=r"layer 'odd' \(Odd\) cannot be carried"):
        anymodel.compress(odd, (x, y), recipe=RECIPE)


@keras.saving.register_keras_serializable(package="test_anymodel")
class Scale(keras.layers.Layer):
    """A user's own layer with one weight."""

    def build(self, shape):
        self.s = self.add_weight(shape=(), initializer="ones")

    def call(self, t):
        return t * self.s


def test_a_callers_own_layer_travels_only_with_custom_objects():
    x, y = _data(64)
    model = keras.Sequential([keras.Input((12, 12, 1)), Scale(), keras.layers.Flatten(), keras.layers.Dense(10)])
    custom = {"test_anymodel>Scale": Scale}
    result = anymodel.compress(model, (x, y), recipe=RECIPE, custom_objects=custom)
    with pytest.raises(codec.FormatError, match="registered class 'test_anymodel>Scale'"):
        anymodel.decode(result.blob)
    decoded = anymodel.decode(result.blob, custom)
    assert np.array_equal(decoded.predict(x, verbose=0), result.model.predict(x, verbose=0))


def test_recipe_and_model_problems_are_one_line_naming_the_setting():
    x, y = _data(64)
    bad = RECIPE.__class__(**{**RECIPE.__dict__, "sparsity": {CONV: 1.0, DENSE: 0.5, OUTPUT: 0.5}})
    with pytest.raises(ValueError, match=r"^recipe\.sparsity\.conv: must be <= 0\.999, got 1\.0$"):
        anymodel.compress(_mlp(), (x, y), recipe=bad)
    bad = RECIPE.__class__(**{**RECIPE.__dict__, "learning_rate": float("nan")})
    with pytest.raises(ValueError, match="^recipe.learning_rate: must be a finite number, got nan"):
        anymodel.compress(_mlp(), (x, y), recipe=bad)
    with pytest.raises(ValueError, match="^floats: 'float8'"):
        anymodel.compress(_mlp(), (x, y), recipe=RECIPE, floats="float8")

    class Sub(keras.Model):
        def call(self, t):
            return t

    with pytest.raises(ValueError, match="subclassed model"):
        anymodel.compress(Sub(), (x, y), recipe=RECIPE)


# --- the file from elsewhere ------------------------------------------------------------------------

def _small_file():
    model = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Conv2D(4, 3), keras.layers.BatchNormalization(),
                              keras.layers.ReLU(), keras.layers.Flatten(), keras.layers.Dense(10)])
    return model, anymodel.encode(model, [], "float16")  # every array as floats: no fine-tuning needed


def _probe_files():
    """Files of two models an edit of their config makes huge at prediction only: a shared UpSampling2D
    (called twice), and one inside a nested model whose input size is unknown. Sizes of 1 here."""
    i = keras.Input((12, 12, 1))
    up, pool = keras.layers.UpSampling2D(1, name="up"), keras.layers.MaxPooling2D(1, name="pool")
    h = pool(up(up(keras.layers.Conv2D(4, 3)(i))))
    shared = keras.Model(i, keras.layers.Dense(10)(keras.layers.Flatten()(h)))
    j = keras.Input((None, None, 4))
    inner = keras.Model(j, keras.layers.MaxPooling2D(1, name="pool")(keras.layers.UpSampling2D(1, name="up")(j)))
    h = inner(keras.layers.Conv2D(4, 3)(i))
    nested = keras.Model(i, keras.layers.Dense(10)(keras.layers.Flatten()(h)))
    return {"shared": anymodel.encode(shared, [], "float16"), "nested": anymodel.encode(nested, [], "float16")}


def _with_config(blob, config):
    """`blob` with its config replaced by `config` (a dict, or raw bytes to deflate)."""
    h = codec.header(blob)
    raw = config if isinstance(config, bytes) else json.dumps(config).encode()
    return codec.encode2(architecture.deflate(raw), codec.entries(blob), h.floats)


def _config(blob):
    h = codec.header(blob)
    return json.loads(zlib.decompressobj(-15, zdict=architecture.ZDICT).decompress(h.config))


def _hostile(blob):
    """(what, the refusal it must give, bytes) of crafted files: classes from elsewhere, code, a huge model,
    a huge activation, bombs."""
    base = _config(blob)

    def edit(fn):
        c = json.loads(json.dumps(base))
        fn(c)
        return _with_config(blob, c)

    def layer(c, k=1):
        return c["config"]["layers"][k]

    def resized(blob, sizes):
        """`blob` with the size of each UpSampling2D and MaxPooling2D set, by layer name."""
        c = json.loads(json.dumps(_config(blob)))
        stack = [c]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                if node.get("config", {}).get("name") in sizes if isinstance(node.get("config"), dict) else False:
                    key = "size" if node["class_name"] == "UpSampling2D" else "pool_size"
                    node["config"][key] = [sizes[node["config"]["name"]]] * 2
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
        return _with_config(blob, c)

    deep = {"class_name": "Sequential", "config": {"layers": [], "x": json.loads("[" * 600 + "]" * 600)}}
    out = [
        ("a class from another module", "class 'system' from module 'os'",
         edit(lambda c: layer(c).update(module="os", class_name="system"))),
        ("a Lambda layer", "class 'Lambda'", edit(lambda c: layer(c).update(class_name="Lambda", config={
            "function": {"class_name": "__lambda__", "config": {"code": "print(1)"}}}))),
        ("a file-reading layer", "class 'TFSMLayer'", edit(lambda c: layer(c).update(class_name="TFSMLayer"))),
        ("an activation from elsewhere", "class 'Popen' from module 'subprocess'",
         edit(lambda c: layer(c)["config"].update(activation={"module": "subprocess", "class_name": "Popen",
                                                              "config": {}}))),
        ("an activation registered elsewhere", "activation 'lib>fn'",
         edit(lambda c: layer(c)["config"].update(activation="lib>fn"))),
        ("any registered name", "names 'lib>thing'", edit(lambda c: layer(c)["config"].update(padding="lib>thing"))),
        ("a registered class not passed", "registered class 'evil>Layer'",
         edit(lambda c: layer(c).update(registered_name="evil>Layer"))),
        ("a quantized dtype", "dtype 'int8_from_float32'",
         edit(lambda c: layer(c)["config"].update(dtype="int8_from_float32"))),
        ("a compile config", "top-level key 'compile_config'",
         edit(lambda c: c.update(compile_config={"optimizer": "adam", "loss": "mse"}))),
        ("too many layers", "more than 200 layers", edit(lambda c: c["config"]["layers"].extend(
            [{"module": "keras.layers", "class_name": "ReLU", "config": {}}] * architecture.MAX_LAYERS))),
        ("a huge layer", "values per example", edit(lambda c: layer(c)["config"].update(filters=200_000,
                                                                                           padding="same"))),
        ("a huge dense layer", "weights, above the limit of 5,000,000",
         edit(lambda c: layer(c, -1)["config"].update(units=10_000_000))),
        ("a huge activation, weights unchanged", "layer output of 3,600,000,000 values",
         edit(lambda c: c["config"]["layers"].__setitem__(slice(4, 4), [
             {"module": "keras.layers", "class_name": "UpSampling2D", "config": {"size": [3000, 3000]}},
             {"module": "keras.layers", "class_name": "MaxPooling2D", "config": {"pool_size": [3000, 3000]}}]))),
        ("a huge activation at a shared layer's second call", "layer output of 40,000,000,000 values",
         resized(_probe_files()["shared"], {"up": 100, "pool": 10_000})),
        ("a huge activation inside a nested model of unknown input size", "values per example",
         resized(_probe_files()["nested"], {"up": 3000, "pool": 3000})),
        ("not a model", "not a Keras Sequential or functional model",
         _with_config(blob, {"class_name": "Dense", "module": "keras.layers", "config": {}})),
        ("deep nesting", "not JSON (RecursionError)", _with_config(blob, b"[" * 100_000 + b"]" * 100_000)),
        ("nesting JSON takes, too deep to check", "nested too deeply", _with_config(blob, deep)),
        ("not JSON", "not JSON", _with_config(blob, b"\xff\xfe not json")),
        ("a config past the limit", "inflates past", _with_config(blob, bytes(architecture.MAX_CONFIG + 10))),
    ]
    h, coder = codec.header(blob), zlib.compressobj(1, zlib.DEFLATED, -15)
    bomb = coder.compress(b" " * (64 << 20)) + coder.flush()  # 64 MiB of spaces in about 64 KiB
    rest = blob[5 + len(codec.varint(len(h.config))) + len(h.config):]
    out.append(("a config stream inflating past the limit", "inflates past",
                blob[:5] + codec.varint(len(bomb)) + bomb + rest))
    out.append(("a floats stream inflating past its arrays", "floats", _with_streams2(blob, 2, test_codec.bomb())))
    return out


def _with_streams2(blob, k, stream):
    """A version-2 `blob` with its k-th coded stream replaced."""
    h = codec.header(blob)
    starts = np.cumsum([h.size, *h.streams]).tolist()
    parts = [blob[a:b] for a, b in zip(starts, starts[1:])]
    parts[k] = stream
    lengths = b"".join(codec.varint(n) for n in h.streams)
    head = blob[:h.size]
    assert head.endswith(lengths)
    return head[:-len(lengths)] + b"".join(codec.varint(len(p)) for p in parts) + b"".join(parts)


HOSTILE = """
import json, resource, sys, time
from distill.compression import anymodel, codec
folder = sys.argv[1]
anymodel.decode(open(f"{folder}/good.dcz", "rb").read())  # Keras's first build is slower than the others
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = []
for what in json.load(open(f"{folder}/cases.json")):
    blob = open(f"{folder}/{len(out)}.dcz", "rb").read()
    start = time.perf_counter()
    try:
        anymodel.decode(blob)
        outcome = "decoded"
    except codec.FormatError as e:
        outcome = "FormatError: " + str(e)
    out.append([what, outcome, time.perf_counter() - start])
print(json.dumps({"cases": out, "grown_mib": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024}))
"""


def test_hostile_configs_are_refused_quickly_with_little_memory(tmp_path):
    """In a fresh process (its peak memory not raised by training first): each crafted file raises FormatError
    within a second, and the peak memory grows by less than 64 MiB over all of them."""
    _, blob = _small_file()
    (tmp_path / "good.dcz").write_bytes(blob)
    cases = _hostile(blob)
    for k, (_, _, crafted) in enumerate(cases):
        (tmp_path / f"{k}.dcz").write_bytes(crafted)
    (tmp_path / "cases.json").write_text(json.dumps([what for what, _, _ in cases]))
    r = subprocess.run([sys.executable, "-c", HOSTILE, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads(r.stdout.strip().splitlines()[-1])
    for (what, outcome, seconds), (_, why, _) in zip(report["cases"], cases):
        assert outcome.startswith("FormatError") and why in outcome, f"{what}: {outcome}"
        assert seconds < 1, f"{what}: {seconds:.2f} s"
    assert report["grown_mib"] < 64, report


def test_a_config_naming_another_module_is_refused_before_keras_imports_it():
    _, blob = _small_file()
    c = _config(blob)
    c["config"]["layers"][1].update(module="antigravity", class_name="Anything")
    assert "antigravity" not in sys.modules
    with pytest.raises(codec.FormatError, match="class 'Anything' from module 'antigravity'"):
        anymodel.decode(_with_config(blob, c))
    assert "antigravity" not in sys.modules


def test_initializers_and_the_like_are_dropped_so_a_file_names_none():
    """Weights come from the file: an initializer, regularizer or constraint a file names is never built."""
    model, blob = _small_file()
    assert "initializer" not in json.dumps(_config(blob))
    c = _config(blob)
    c["config"]["layers"][1]["config"].update(kernel_initializer={"module": "subprocess", "class_name": "Popen"},
                                              bias_regularizer="lib>Reg", kernel_constraint={"class_name": "Evil"})
    decoded = anymodel.decode(_with_config(blob, c))
    x, _ = _data(8)
    assert np.array_equal(decoded.predict(x, verbose=0), anymodel.decode(blob).predict(x, verbose=0))


def test_a_registered_name_behind_a_passed_class_is_refused():
    """Keras looks a class up by its registered name: passing 'Scale' must not let a file build another."""
    x, y = _data(64)
    model = keras.Sequential([keras.Input((12, 12, 1)), Scale(), keras.layers.Flatten(), keras.layers.Dense(10)])
    blob = anymodel.compress(model, (x, y), recipe=RECIPE, custom_objects={"test_anymodel>Scale": Scale}).blob
    c = _config(blob)
    c["config"]["layers"][1].update(class_name="Scale", registered_name="keras_hub>Anything")
    with pytest.raises(codec.FormatError, match="registered class 'keras_hub>Anything'"):
        anymodel.decode(_with_config(blob, c), {"Scale": Scale})


def test_frozen_kernels_are_stored_as_floats():
    x, y = _data(128)
    model = _mlp()
    model.layers[1].trainable = False  # a frozen hidden layer, as a fine-tuned backbone's
    result = anymodel.compress(model, (x, y), recipe=RECIPE)
    assert codec.header(result.blob).bits == [0, 0, 3, 0]  # the frozen kernel and the biases as floats
    assert np.array_equal(result.model.layers[1].get_weights()[0],
                          model.layers[1].get_weights()[0].astype(np.float16).astype(np.float32))


def test_a_nested_subclassed_model_is_refused_before_training():
    class Sub(keras.Model):
        def call(self, t):
            return t

    i = keras.Input((12, 12, 1))
    model = keras.Model(i, keras.layers.Dense(10)(keras.layers.Flatten()(Sub(name="inner")(i))))
    with pytest.raises(ValueError, match="Sub 'inner' is a subclassed model"):
        anymodel.compress(model, _data(64), recipe=RECIPE)


def test_labels_outside_the_models_outputs_are_refused():
    x, y = _data(64)
    with pytest.raises(ValueError, match="^train: labels 0..10, the model has 10 outputs"):
        anymodel.compress(_mlp(), (x, np.where(y == 9, 10, y)), recipe=RECIPE)


def test_random_mutations_decode_or_are_refused_quickly():
    _, blob = _small_file()
    anymodel.decode(blob)  # Keras's first build is slower than the others
    outcomes = fuzz(anymodel.decode, [*_mutations(blob, np.random.default_rng(0), 300, fields={}),
                                      *((what, crafted) for what, _, crafted in _hostile(blob))])
    assert outcomes["decoded"] and outcomes["FormatError"] > 150, outcomes


def test_version_1_files_still_decode():
    blob = FIXTURE.read_bytes()
    assert codec.header(blob).version == 1
    model = anymodel.decode(blob)
    want = codec.decode(blob, test_codec.FIXTURE_SHAPES)
    assert len(model.get_weights()) == len(want)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), want))


def test_an_embedding_model_with_integer_inputs_round_trips():
    """An int32 input (token ids) and float layers that are not the image kind: carried as any other."""
    i = keras.Input((6,), dtype="int32")
    h = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(50, 8)(i))
    model = keras.Model(i, keras.layers.Dense(3)(keras.layers.Dense(12, activation="relu")(h)))
    assert anymodel.refusal(model) is None
    blob = anymodel.encode(model, [], "float32")
    x = np.random.default_rng(0).integers(0, 50, (16, 6)).astype(np.int32)
    assert np.array_equal(anymodel.decode(blob).predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_model_the_decoder_would_refuse_is_refused_before_training():
    """The decoder's deferred build runs first: a layer output past MAX_ACTIVATION stops compress at once."""
    big = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.UpSampling2D(400, name="big"),
                            keras.layers.MaxPooling2D(400), keras.layers.Flatten(), keras.layers.Dense(10)],
                           name="wide")
    with pytest.raises(ValueError, match=r"^model 'wide': config has a layer output of 23,040,000 values"):
        anymodel.compress(big, _data(64), recipe=RECIPE)


def test_the_weights_read_without_keras(tmp_path):
    """The version-2 header holds every array's shape: numpy and the standard library decode the weights, in a
    process that never imports Keras or TensorFlow."""
    model, blob = _small_file()
    (tmp_path / "m.dcz").write_bytes(blob)
    np.save(tmp_path / "expected.npy", np.concatenate([np.ravel(w) for w in model.get_weights()]))
    script = ("import sys, numpy as np\n"
              "from distill.compression import codec\n"
              f"got = codec.decode(open({str(tmp_path / 'm.dcz')!r}, 'rb').read())\n"
              f"want = np.load({str(tmp_path / 'expected.npy')!r})\n"
              "flat = np.concatenate([g.ravel() for g in got])\n"
              "assert np.array_equal(flat, want.astype(np.float16).astype(np.float32))\n"
              "assert not {'keras', 'tensorflow'} & set(sys.modules), sorted(sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    assert codec.header(blob).shapes == [tuple(w.shape) for w in model.weights]


def test_the_config_dictionary_is_frozen_and_pays():
    """Its bytes are part of the format: a change would make every file written before unreadable."""
    assert hashlib.sha256(architecture.ZDICT).hexdigest() == (
        "36edeb3c5cfd299f08b88d025b4499e617667c95a09a3fa946a6b4b47d17da4c")
    config = architecture.dump(_users())
    plain = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    assert len(architecture.deflate(config)) < 0.7 * len(plain.compress(config) + plain.flush())
    assert architecture.parse(architecture.deflate(config)) == json.loads(config)  # inflated with it too


def test_varints_round_trip():
    for n in (0, 1, 127, 128, 300, 2 ** 21, 2 ** 32 - 1):
        assert codec.read_varint(codec.varint(n) + b"\x00", 0) == (n, len(codec.varint(n)))
    for bad in (b"\xff" * 6, b"\x80\x00", b"\x80\x80\x80\x80\x10", b"\x80"):  # long, not shortest, >= 2**32, cut
        with pytest.raises(codec.FormatError):
            codec.read_varint(bad, 0)


# --- the command line -------------------------------------------------------------------------------

def test_the_command_line_compresses_scores_and_describes(tmp_path, capsys):
    x, y = _data(300)
    np.savez(tmp_path / "d.npz", x_train=(x[..., 0] * 200).astype(np.uint8), y_train=y,
             x_test=(x[:50, ..., 0] * 200).astype(np.uint8), y_test=y[:50])
    model = _mlp()
    model.save(tmp_path / "m.keras")
    out = tmp_path / "m.dcz"
    args = ["--data", str(tmp_path / "d.npz"), "--validation", "60"]
    assert dcz.main(["compress", str(tmp_path / "m.keras"), str(out), *args, "--prune-epochs", "1", "--share-epochs",
                     "0", "--bits", "conv=4,dense=4,output=4", "--record", str(tmp_path / "r.json")]) == 0
    record = json.loads((tmp_path / "r.json").read_text())
    assert record["bytes"] == out.stat().st_size and record["recipe"]["bits"]["dense"] == 4
    assert dcz.main(["score", str(out), *args]) == 0
    assert "test accuracy" in capsys.readouterr().out
    assert dcz.main(["info", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == 2
    (tmp_path / "bad.dcz").write_bytes(out.read_bytes()[:-3])
    for command, path in (("info", tmp_path / "none.dcz"), ("score", tmp_path / "bad.dcz")):
        assert dcz.main([command, str(path), *args][:2 if command == "info" else None]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"dcz: {path}: ") and len(err.strip().splitlines()) == 1, err
    missing = str(tmp_path / "x.npz")
    assert dcz.main(["compress", str(tmp_path / "m.keras"), str(tmp_path / "n.dcz"), "--data", missing]) == 1
    assert "x.npz: not a readable .npz file" in capsys.readouterr().err
    assert not (tmp_path / "n.dcz").exists()
    with pytest.raises(SystemExit):
        dcz.main(["compress", "m.keras", "o.dcz", "--data", "mnist", "--sparsity", "conv=0.5"])


def test_files_past_their_bounds_are_refused_naming_them(tmp_path, monkeypatch):
    monkeypatch.setattr(codec, "MAX_FILE", 100)
    (tmp_path / "big.dcz").write_bytes(b"DCZ2" + bytes(200))
    with pytest.raises(codec.FormatError, match=r"big\.dcz: larger than 100 bytes"):
        anymodel.read(tmp_path / "big.dcz")
    with pytest.raises(codec.FormatError, match=r"none\.dcz: not found"):
        anymodel.read(tmp_path / "none.dcz")
    import gzip
    monkeypatch.setattr(anymodel, "MAX_DATA_BYTES", 1000)
    for name in anymodel.IDX_NAMES["train"]:  # 2,000 zero bytes that gzip to a few dozen
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress(bytes(2000)))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz: larger than 1,000 bytes inflated"):
        anymodel.dataset(str(tmp_path), (None, 28, 28, 1))


def test_a_data_source_is_read_only_after_the_model_and_recipe_are_checked(tmp_path):
    x, y = _data(200)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y)
    with pytest.raises(ValueError, match="bits.conv"):  # the recipe first: the missing file is never opened
        anymodel.compress(_mlp(), str(tmp_path / "none.npz"),
                          recipe=Recipe(**{**RECIPE.__dict__, "bits": {CONV: 0, DENSE: 4, OUTPUT: 3}}))
    with pytest.raises(ValueError, match="a data source brings its own"):
        anymodel.compress(_mlp(), str(tmp_path / "d.npz"), validation=(x, y), recipe=RECIPE)
    result = anymodel.compress(_mlp(), tmp_path / "d.npz", recipe=RECIPE, held_out=40)
    assert result.record["val_accuracy"] is not None and result.record["accuracy"] is None
