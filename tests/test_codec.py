import functools
import math
import struct
import time
import tracemalloc
import zlib
from pathlib import Path

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


# --- hostile files: every outcome is a decoded file or FormatError, in bounded time and memory ------------------

# made by the project's version-1 encoder (before issue 31): an mlp-4 pruned to 99% and 50% zeros, 3 and 2 bits, float16
FIXTURE = Path(__file__).parent / "data" / "mlp-4.dcz"
FIXTURE_SHAPES = [(784, 4), (4,), (4, 10), (10,)]
STREAMS = ("gaps", "indices", "floats")


def fields(blob):
    """The header's numeric fields: {name: (offset, struct format)}."""
    h = codec.header(blob)
    n = blob[4]
    out = {"name length": (4, "<B"), "float storage": (5 + n, "<B"), "array count": (6 + n, "<H")}
    at = 8 + n
    for k, bits in enumerate(h.bits):
        out[f"bits {k}"] = (at, "<B")
        if bits:
            out[f"nnz {k}"] = (at + 1, "<I")
        at += 5 if bits else 1
    out.update({f"{s} length": (at + 4 * k, "<I") for k, s in enumerate(STREAMS)})
    return out


def with_streams(blob, **streams):
    """`blob` with some of its coded streams replaced (gaps=..., floats=...), lengths updated."""
    h = codec.header(blob)
    starts = np.cumsum([h.size, *h.streams]).tolist()
    parts = [streams.get(s, blob[a:b]) for s, a, b in zip(STREAMS, starts, starts[1:])]
    return blob[:h.size - 12] + struct.pack("<3I", *map(len, parts)) + b"".join(parts)


@functools.cache
def bomb(megabytes=128):
    """A raw DEFLATE stream of `megabytes` MiB of zeros, a few KiB per MiB."""
    coder, zeros = zlib.compressobj(1, zlib.DEFLATED, -15), bytes(1 << 20)
    return b"".join(coder.compress(zeros) for _ in range(megabytes)) + coder.flush()


def _positions_by_loop(gap_bytes, nnz, start=0):
    """The format's definition of the gap bytes, one byte at a time."""
    positions, pos, i = [], -1, start
    for _ in range(nnz):
        zeros = 0
        while gap_bytes[i] == codec.SKIP:
            zeros, i = zeros + codec.SKIP, i + 1
        pos += zeros + gap_bytes[i] + 1
        positions.append(pos)
        i += 1
    return positions, i


def test_positions_follow_the_gap_bytes_definition():
    rng = np.random.default_rng(4)
    for _ in range(50):
        gap_bytes = bytes(rng.choice([0, 1, 7, 254, codec.SKIP], rng.integers(1, 60)).tolist())
        kept = sum(b != codec.SKIP for b in gap_bytes)
        nnz, start = int(rng.integers(0, kept + 1)), 0
        if nnz and gap_bytes[0] != codec.SKIP:
            start, nnz = 1, nnz - 1
        if kept - (start == 1) < nnz:
            continue
        positions, end = codec.positions_of(gap_bytes, nnz, start)
        assert (positions.tolist(), end) == _positions_by_loop(gap_bytes, nnz, start)
    with pytest.raises(codec.FormatError, match="ends before"):
        codec.positions_of(bytes([3, codec.SKIP, codec.SKIP]), 2)
    with pytest.raises(codec.FormatError, match="ends before"):
        codec.positions_of(bytes([codec.SKIP, 3]), 1, most=1)


def test_the_committed_file_still_decodes_and_reencodes_to_its_bytes():
    """A format change, in the encoder or the decoder, shows up here."""
    blob = FIXTURE.read_bytes()
    h = codec.header(blob)
    assert (h.network, h.floats, h.bits, h.nnz) == ("mlp-4", "float16", [3, 0, 2, 0], [31, 0, 20, 0])
    entries = codec.entries(blob, FIXTURE_SHAPES)
    assert codec.encode(h.network, entries, h.floats) == blob
    assert [d.shape for d in codec.decode(blob, FIXTURE_SHAPES)] == FIXTURE_SHAPES
    assert codec.SKIP in codec.gaps(entries[0].positions)  # a run of 255 zeros or more is in it


@pytest.mark.parametrize("field, value, message", [
    ("nnz 0", 784 * 4 + 1, "kept weights in an array of 3136"),
    ("nnz 2", 41, "kept weights in an array of 40"),
    ("nnz 0", 0xFFFFFFFF, "above the limit"),
    ("array count", 5000, "above the limit of 128"),
    ("bits 2", 9, "bits above 8|damaged header"),
    ("gaps length", 0xFFFFFFFF, "the header announces"),
    ("floats length", 10_000, "the header announces"),
    ("name length", 255, "damaged header|the header announces"),
    ("float storage", 7, "damaged header"),
])
def test_crafted_header_fields_are_refused(field, value, message):
    blob = bytearray(FIXTURE.read_bytes())
    at, fmt = fields(blob)[field]
    struct.pack_into(fmt, blob, at, value)
    with pytest.raises(codec.FormatError, match=message):
        codec.decode(bytes(blob), FIXTURE_SHAPES)


@pytest.mark.parametrize("stream", STREAMS)
def test_a_stream_inflating_past_what_its_arrays_need_is_refused_unread(stream):
    """Hundreds of MB of zeros in a few hundred KB: refused after inflating what the network needs plus one byte."""
    blob = with_streams(FIXTURE.read_bytes(), **{stream: bomb()})
    tracemalloc.start()
    start = time.perf_counter()
    for read in (lambda b: codec.decode(b, FIXTURE_SHAPES), codec.sizes):
        with pytest.raises(codec.FormatError, match=f"{stream} stream longer"):
            read(blob)
    seconds, (_, peak) = time.perf_counter() - start, tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert seconds < 1 and peak < 32 << 20, (seconds, peak)  # sizes() knows no shapes: it bounds by MAX_PARAMS


def test_streams_shorter_or_longer_than_the_arrays_need_are_refused():
    blob = FIXTURE.read_bytes()
    h = codec.header(blob)
    floats = zlib.decompress(blob[h.size + h.streams[0] + h.streams[1]:], -15)
    for damaged, message in [
        (with_streams(blob, floats=codec.huffman(floats[:-2])), "floats stream shorter"),
        (with_streams(blob, floats=codec.huffman(floats + b"\0\0")), "floats stream longer"),
        (with_streams(blob, indices=codec.huffman(b"")), "indices stream shorter"),
        (with_streams(blob, gaps=codec.huffman(b"\1" * 52)), "gaps stream longer than its kernels need"),
        (with_streams(blob, gaps=codec.huffman(b"\1" * 50)), "ends before"),
        (with_streams(blob, gaps=codec.huffman(bytes(64))), "gaps stream longer than the network"),
        (with_streams(blob, gaps=b""), "truncated"),
        (with_streams(blob, floats=codec.huffman(floats) + b"x"), "bytes after its end"),
        (with_streams(blob, floats=b"\xff" * 8), "damaged floats stream"),
    ]:
        with pytest.raises(codec.FormatError, match=message):
            codec.decode(damaged, FIXTURE_SHAPES)


def test_limits_are_checked_before_inflating():
    blob = FIXTURE.read_bytes()
    with pytest.raises(codec.FormatError, match="above the limit of 5,000,000"):
        codec.decode(blob, [(codec.MAX_PARAMS + 1,), (1,), (1,), (1,)])
    with pytest.raises(ValueError, match="at most 128 arrays of 5,000,000 weights"):
        codec.encode("mlp-4", [np.zeros(1, np.float32)] * (codec.MAX_ARRAYS + 1))
