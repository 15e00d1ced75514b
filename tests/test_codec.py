import math
import zlib

import numpy as np
import pytest

from distill.compression import codec


def _shared(rng, shape, keep, bits):
    size = math.prod(shape)
    positions = np.sort(rng.choice(size, int(keep * size), replace=False))
    return codec.Shared(shape, positions, rng.integers(0, 2 ** bits, len(positions)).astype(np.uint8),
                        np.sort(rng.normal(size=2 ** bits)).astype(np.float16).astype(np.float32))


def test_gaps_round_trip_with_long_runs():
    positions = np.array([0, 1, 5, 300, 301, 1000, 1255])  # runs of 298 and 698 zeros need SKIP bytes
    gap_bytes = codec.gaps(positions)
    assert list(gap_bytes[:3]) == [0, 0, 3]
    assert gap_bytes.count(codec.SKIP) == 298 // 255 + 698 // 255
    decoded, end = codec.positions_of(gap_bytes, len(positions))
    assert decoded.tolist() == positions.tolist() and end == len(gap_bytes)


def test_file_round_trips_bit_for_bit():
    rng = np.random.default_rng(0)
    entries = [_shared(rng, (3, 3, 1, 8), 0.7, 4), rng.normal(size=8).astype(np.float16).astype(np.float32),
               _shared(rng, (600, 10), 0.05, 5), np.zeros(10, np.float32), _shared(rng, (4, 4), 0.0, 2)]
    blob = codec.encode("cnn-8", entries, "float16")
    h = codec.header(blob)
    assert (h.network, h.floats, h.bits) == ("cnn-8", "float16", [4, 0, 5, 0, 2])
    assert h.nnz == [len(entries[0].positions), 0, len(entries[2].positions), 0, 0]
    decoded = codec.decode(blob, [e.shape for e in entries])
    expected = [e.dense() if isinstance(e, codec.Shared) else e for e in entries]
    for d, e in zip(decoded, expected):
        assert d.dtype == np.float32 and d.shape == e.shape
        assert np.array_equal(d, e)  # bit for bit: the values were float16-representable
    assert codec.encode("cnn-8", entries, "float16") == blob  # deterministic bytes


def test_float32_storage_is_exact_and_float16_rounds():
    values = np.array([0.1, -3.3, 1e-3], np.float32)
    exact = codec.decode(codec.encode("mlp-3", [values], "float32"), [(3,)])[0]
    assert np.array_equal(exact, values)
    rounded = codec.decode(codec.encode("mlp-3", [values], "float16"), [(3,)])[0]
    assert np.array_equal(rounded, values.astype(np.float16).astype(np.float32))


def test_streams_are_huffman_coded_and_smaller_than_fixed_width():
    rng = np.random.default_rng(1)
    big = _shared(rng, (2000, 50), 0.04, 5)  # sparse: gap bytes have a skewed distribution
    indices = rng.choice(32, len(big.positions), p=np.r_[[0.3, 0.3], np.full(30, 0.4 / 30)]).astype(np.uint8)
    big = codec.Shared(big.shape, big.positions, indices, big.codebook)
    blob = codec.encode("mlp-2000", [big], "float16")
    sizes = codec.sizes(blob)
    assert sizes["total"] == len(blob) == sizes["header"] + sizes["gaps"] + sizes["indices"] + sizes["floats"]
    assert sizes["kept_weights"] == len(big.positions)
    assert sizes["total"] < sizes["before_huffman"]
    start = sizes["header"] + sizes["gaps"]
    stream = blob[start:start + sizes["indices"]]
    assert zlib.decompress(stream, -15) == indices.tobytes()
    assert sizes["indices"] < len(indices) * 5 / 8  # below the packed 5 bits per index: entropy coded


@pytest.mark.parametrize("damage, message", [
    (lambda b: b"XXXX" + b[4:], "not a deep-compressed file"),
    (lambda b: b[:-3], "bytes, the header announces"),
    (lambda b: b[:9], "truncated or damaged header"),
])
def test_damaged_files_are_refused(damage, message):
    rng = np.random.default_rng(2)
    blob = codec.encode("cnn-8", [_shared(rng, (3, 3, 1, 8), 0.5, 3)], "float16")
    with pytest.raises(codec.FormatError, match=message):
        codec.decode(damage(blob), [(3, 3, 1, 8)])


def test_wrong_network_shapes_are_refused():
    rng = np.random.default_rng(3)
    blob = codec.encode("cnn-8", [_shared(rng, (3, 3, 1, 8), 0.5, 3), np.ones(8, np.float32)], "float16")
    with pytest.raises(codec.FormatError, match="holds 2 weight arrays"):
        codec.decode(blob, [(3, 3, 1, 8)])
    with pytest.raises(codec.FormatError, match="shorter|longer|outside"):
        codec.decode(blob, [(3, 3, 1, 8), (9,)])


@pytest.mark.parametrize("entry, message", [
    (codec.Shared((4,), np.array([0, 1]), np.array([0, 3], np.uint8), np.zeros(3, np.float32)), "power of 2"),
    (codec.Shared((4,), np.array([0, 1]), np.array([0, 4], np.uint8), np.zeros(4, np.float32)), "one index"),
    (codec.Shared((4,), np.array([1, 1]), np.array([0, 1], np.uint8), np.zeros(4, np.float32)), "increase"),
    (codec.Shared((4,), np.array([1, 4]), np.array([0, 1], np.uint8), np.zeros(4, np.float32)), "inside"),
])
def test_encode_refuses_inconsistent_kernels(entry, message):
    with pytest.raises(ValueError, match=message):
        codec.encode("cnn-8", [entry])
