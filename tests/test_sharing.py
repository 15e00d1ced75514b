import collections
import hashlib
import resource
import struct
import time

import keras
import numpy as np
import pytest
import test_codec
from test_codec import FIXTURE, FIXTURE_SHAPES
from test_compression import KD, _copy, _trained

from distill.compression import anymodel, codec, pruning, sharing
from distill.compression.config import CONV, DENSE, OUTPUT
from distill.core import names
from distill.training import evaluation, loop, losses, models


@pytest.fixture(scope="module")
def trained():
    """A small MLP trained on synthetic digits, then pruned in one shot to 60% zeros."""
    model, (x, targets) = _trained("mlp", (32,))
    pruning.prune(model, (x, targets, None), 0.6, epochs=0, learning_rate=0.002, batch_size=64)
    return model, (x, targets)


def test_layer_kinds():
    def kinds(model):
        return [kind for _, _, kind in anymodel.kernels(model)]

    assert kinds(models.teacher()) == [CONV, CONV, DENSE, OUTPUT]
    assert kinds(models.student("cnn", (4, 8))) == [CONV, CONV, OUTPUT]
    assert kinds(models.student("mlp", (16, 8))) == [DENSE, DENSE, OUTPUT]
    assert kinds(models.student("vsep", (3, 4, 5))) == [CONV] * 5 + [OUTPUT]  # depthwise and pointwise halves


def _v1(model, shared, network, floats):
    """A version-1 file of a family network (how the pipeline wrote them before issue 31)."""
    by_kernel = {id(s.kernel): s for s in shared}
    entries = [by_kernel[id(w)].entry() if id(w) in by_kernel else np.asarray(w) for w in model.weights]
    return codec.encode(network, entries, floats)


def test_codebook_is_linear_kmeans():
    values = np.r_[np.full(50, -1.0), np.full(30, 0.2), np.full(20, 2.0)].astype(np.float32)
    centroids, labels = sharing.codebook(values, 2)
    assert len(centroids) == 4 and labels.dtype == np.uint8
    assert sorted(set(centroids[labels].tolist())) == pytest.approx([-1.0, 0.2, 2.0])  # the three clusters, exactly
    assert centroids.min() == -1.0 and centroids.max() == 2.0  # linear init keeps the extremes


def test_centroid_gradient_sums_the_gradients_of_its_weights():
    kernel = keras.Variable(np.array([[0.0, 1.0], [1.1, -2.0]], np.float32))
    s = sharing.SharedKernel(kernel, 1)  # two centroids: about 1.05 and -2.0; the zero stays pruned
    assert np.asarray(s.centroids).tolist() == pytest.approx([-2.0, 1.05])
    g = np.array([[5.0, 1.0], [2.0, 3.0]], np.float32)
    assert np.asarray(s.centroid_gradient(g)).tolist() == [3.0, 3.0]  # the pruned weight's 5.0 goes nowhere


def test_sharing_and_finetuning_keep_zeros_and_codebook_size(trained):
    model = _copy(trained[0])
    model.compile(loss=KD)
    x, targets = trained[1]
    zeros_before = [np.asarray(k) == 0 for k in models.prunable(model)]
    before = evaluation.accuracy(loop.predict(model, x), targets[:, :10].argmax(1))
    shared = sharing.share(models.prunable(model), [3, 2])
    sharing.finetune(model, shared, loop.Batches(x, targets, 64), KD, 2, 0.002, losses.LabelAccuracy())
    for kernel, zeros, bits in zip(models.prunable(model), zeros_before, [3, 2]):
        w = np.asarray(kernel)
        assert ((w == 0) == zeros).all()  # pruned weights stay pruned, kept ones stay nonzero
        assert len(np.unique(w[w != 0])) <= 2 ** bits
    after = evaluation.accuracy(loop.predict(model, x), targets[:, :10].argmax(1))
    assert after > before - 0.05 and after > 0.5  # 8 and 4 values per layer still classify


def test_network_round_trips_bit_for_bit_through_a_file(trained):
    model = _copy(trained[0])
    shared = sharing.share(models.prunable(model), [4, 4])
    sharing.round_floats(model, shared, "float16")
    blob = _v1(model, shared, "mlp-32", "float16")
    decoded = sharing.decode(blob)
    assert decoded.name == "mlp" and len(decoded.weights) == len(model.weights)
    for a, b in zip(model.get_weights(), decoded.get_weights()):
        assert np.array_equal(a, b)
    x = trained[1][0][:200]
    assert np.array_equal(loop.predict(model, x), loop.predict(decoded, x))
    assert len(blob) < sum(w.size for w in model.get_weights()) * 0.6  # well under a byte per weight


def test_cnn_with_batchnorm_and_the_teacher_build_and_decode():
    cnn = models.student("cnn", (4, 8))
    pruning.prune(cnn, None, 0.5, epochs=0, learning_rate=0.001, batch_size=1)
    shared = sharing.share(models.prunable(cnn), [3, 3, 3])
    sharing.round_floats(cnn, shared, "float32")
    decoded = sharing.decode(_v1(cnn, shared, "cnn-4-8", "float32"))
    assert all(np.array_equal(a, b) for a, b in zip(cnn.get_weights(), decoded.get_weights()))
    assert sharing.build("teacher").count_params() == models.TEACHER_PARAMS
    assert sharing.build("head-6").count_params() == models.student_params("head", (6,))


@pytest.mark.parametrize("network, bits", [("tied-4-6-2-4", [3, 3, 3, 3, 3]), ("vsep-3-4-5", [3, 3, 3, 3])])
def test_the_public_shapes_prune_share_and_decode(network, bits):
    """Shared layers (tied applies one separable conv again and again) and SampleNorm's two floats."""
    arch, _, hidden = network.partition("-")
    model = models.student(arch, names.parse_widths(hidden))
    assert len(models.prunable(model)) == len(bits)  # the convs' and dense kernels; depthwise ones stay floats
    pruning.prune(model, None, 0.5, epochs=0, learning_rate=0.001, batch_size=1)
    shared = sharing.share(models.prunable(model), bits)
    sharing.round_floats(model, shared, "float16")
    decoded = sharing.decode(_v1(model, shared, network, "float16"))
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), decoded.get_weights()))
    x = np.random.default_rng(0).random((4, 28, 28, 1), np.float32)
    assert np.array_equal(loop.predict(model, x), loop.predict(decoded, x))


def test_file_naming_an_unknown_network_is_refused():
    blob = codec.encode("resnet-50", [np.zeros(3, np.float32)], "float16")
    with pytest.raises(codec.FormatError, match="resnet-50"):
        sharing.decode(blob)


# --- hostile files: every outcome of decode is a network or codec.FormatError ---------------------------------


def test_the_committed_file_decodes_to_the_same_weights():
    model = sharing.decode(FIXTURE.read_bytes())
    assert model.name == "mlp" and [tuple(w.shape) for w in model.weights] == FIXTURE_SHAPES
    weights = b"".join(w.tobytes() for w in model.get_weights())
    assert hashlib.sha256(weights).hexdigest() == "dc6cb45a8740aa46342f551b67eb66ba29294b868d70ac9f20573dcfe1fad9ad"


@pytest.mark.parametrize("network", ["teacher", "head-6", "mlp-4", "mlp-64-32", "cnn-4-8", "cnn-8-16-16-32",
                                     "tied-8-26-3-16", "vsep-7-10-10-11-12",
                                     "sep-2-4-1", "sep-8-24-2"])
def test_network_size_counts_what_build_makes(network):
    model = sharing.build(network)
    assert sharing.network_size(network) == (model.count_params(), len(model.weights))


@pytest.mark.parametrize("network, message", [
    ("cnn-4096-4096-4096-4096-4096-4096-4096-4096", "1,057,173,514 params, above the limit of 5,000,000"),
    ("mlp-4096-4096", "above the limit"),
    ("head-4096", "above the limit"),
    ("sep-4096-4096-4096", "above the limit"),
    ("sep-1-1-4096", "network sep-1-1-4096 has 16399"),  # few params, but a slow build: refused by its arrays
    ("sep-1-1", "which no family builds"),
])
def test_a_file_naming_a_huge_network_is_refused_before_building_it(network, message, monkeypatch):
    def build(name):
        raise AssertionError(f"built {name}")

    monkeypatch.setattr(sharing, "build", build)
    blob = codec.encode(network, [np.zeros(3, np.float32)], "float16")
    start = time.perf_counter()
    with pytest.raises(codec.FormatError, match=message):
        sharing.decode(blob)
    assert time.perf_counter() - start < 0.1


def test_the_teacher_still_decodes():
    """The largest network here, well inside codec.MAX_PARAMS; sparse kernels make long runs of SKIP bytes."""
    teacher = sharing.build("teacher")
    rng = np.random.default_rng(5)
    entries = []
    for w in teacher.weights:
        size = int(np.prod(w.shape))
        if len(w.shape) > 1:
            positions = np.sort(rng.choice(size, max(1, size // 1000), replace=False))
            codebook = np.sort(rng.normal(size=16)).astype(np.float16).astype(np.float32)
            entries.append(codec.Shared(tuple(w.shape), positions, rng.integers(0, 16, len(positions), np.uint8),
                                        codebook))
        else:
            entries.append(rng.normal(size=w.shape).astype(np.float16).astype(np.float32))
    decoded = sharing.decode(codec.encode("teacher", entries, "float16"))
    assert decoded.count_params() == models.TEACHER_PARAMS
    for d, e in zip(decoded.get_weights(), entries):
        assert np.array_equal(d, e.dense() if isinstance(e, codec.Shared) else e)


def _mutations(blob, rng, count, fields=None):
    """(what, mutated bytes): bit flips, byte replacements, truncations, insertions, deletions, and edits of the
    header's length and count fields ({name: (offset, struct format)}; default a version-1 file's, {}: none)."""
    size, fields = codec.header(blob).size, test_codec.fields(blob) if fields is None else fields
    kinds = ["flip", "byte", "header byte", "bytes", "truncate", "insert", "delete"] + (["field"] if fields else [])
    for _ in range(count):
        b, kind = bytearray(blob), str(rng.choice(kinds))
        at = int(rng.integers(size if kind == "header byte" else len(b)))
        if kind == "flip":
            b[at] ^= 1 << int(rng.integers(8))
        elif kind in ("byte", "header byte"):
            b[at] = int(rng.integers(256))
        elif kind == "bytes":
            for _ in range(int(rng.integers(2, 6))):
                b[int(rng.integers(len(b)))] = int(rng.integers(256))
        elif kind == "truncate":
            del b[at:]
        elif kind == "insert":
            b[at:at] = rng.integers(0, 256, int(rng.integers(1, 9)), np.uint8).tobytes()
        elif kind == "delete":
            del b[at:at + int(rng.integers(1, 9))]
        else:
            kind = str(rng.choice(list(fields)))
            offset, fmt = fields[kind]
            (value,) = struct.unpack_from(fmt, b, offset)
            top = 256 ** struct.calcsize(fmt) - 1
            candidates = [0, 1, value - 1, value + 1, 2 * value, value + 1000, top, int(rng.integers(top + 1))]
            struct.pack_into(fmt, b, offset, min(max(int(rng.choice(candidates)), 0), top))
            at = offset
        yield f"{kind} at {at}", bytes(b)


def test_random_mutations_decode_or_are_refused_quickly():
    """Mutations of the committed file, then the crafted ones: each decodes to a network or raises FormatError,
    within a second, and the process's peak memory grows little."""
    blob = FIXTURE.read_bytes()
    sharing.decode(blob)  # Keras's first build is slower than the others
    crafted = [("gaps bomb", test_codec.with_streams(blob, gaps=test_codec.bomb())),
               ("floats bomb", test_codec.with_streams(blob, floats=test_codec.bomb())),
               ("huge network", blob[:4] + bytes([16]) + b"mlp-4096-4096-10" + blob[10:])]
    outcomes = fuzz(sharing.decode, [*_mutations(blob, np.random.default_rng(0), 600), *crafted])
    assert outcomes["decoded"] and outcomes["FormatError"] > 300, outcomes


def fuzz(decode, cases):
    """Decode each (what, bytes): it must give a network or raise codec.FormatError, within a second, and the
    process's peak memory must grow by less than 256 MiB over all of them. Returns the outcomes' counts."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    outcomes, slowest = collections.Counter(), 0.0
    for what, mutated in cases:
        start = time.perf_counter()
        try:
            decode(mutated)
            outcomes["decoded"] += 1
        except codec.FormatError:
            outcomes["FormatError"] += 1
        except Exception as e:  # noqa: BLE001 - any other exception is the failure this test looks for
            pytest.fail(f"{what}: {type(e).__name__}: {e}")
        seconds = time.perf_counter() - start
        assert seconds < 1, f"{what}: {seconds:.2f} s"
        slowest = max(slowest, seconds)
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024
    print(f"\n{sum(outcomes.values())} files: {dict(outcomes)}; slowest {slowest:.3f} s; "
          f"peak memory grew {grown:.0f} MiB")
    assert grown < 256, f"peak memory grew {grown:.0f} MiB"
    return outcomes
