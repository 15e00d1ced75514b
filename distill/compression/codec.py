"""The deep-compressed file (.dcz): a pruned, weight-shared network, Huffman coded (Han et al. 2016, sec. 4).

Two versions. Version 2 (DCZ2, encode2; docs/deep-compression.md) carries any Keras 3 model: its config
(architecture.py) and every array's shape, then the three streams below. Version 1 (DCZ1, still read):

Layout, little-endian:
    b"DCZ1"
    u8 n + n bytes    the network's name (e.g. cnn-8-16-16-32): the decoder rebuilds that network
                      and fills its weights, so shapes are not stored
    u8                float storage: 0 float16, 1 float32
    u16               number of weight arrays; then per array, in the network's order:
    u8 bits [u32 nnz] bits = 0: stored as floats; else a shared kernel, 2**bits centroids, nnz weights
    3 x u32           lengths of the three streams that follow, each raw DEFLATE with Huffman coding
                      only (zlib's Z_HUFFMAN_ONLY: one Huffman code per block, no LZ77 matching):
      gaps            per shared kernel, the zeros before each kept weight (flattened C order), a byte
                      each; 255 means 255 zeros and no weight yet (the paper's filler, without a weight)
      indices         per shared kernel, each kept weight's codebook index, a byte each
      floats          per shared kernel its codebook, per other array its values

The decoder takes files from elsewhere: before it allocates anything it bounds what the header asks
for by MAX_PARAMS and MAX_ARRAYS (version 2: MAX_ARRAYS2), and each stream's inflated length by what
the network's arrays need, so that any bytes decode or raise FormatError, in time and memory
proportional to those limits.

numpy and the standard library only: the format does not need TensorFlow.
"""
import math
import struct
import zlib
from dataclasses import dataclass

import numpy as np

MAGIC = b"DCZ1"  # version 1: the network's name; the decoder builds it from the project's families
MAGIC2 = b"DCZ2"  # version 2: the network's Keras config and every array's shape (any Keras 3 model)
VERSIONS = {MAGIC: 1, MAGIC2: 2}
FLOATS = {"float16": ("<f2", 0), "float32": ("<f4", 1)}  # storage name -> (dtype, code)
SKIP = 255  # a gap byte that means "255 zeros, no weight yet"
MAX_BITS = 8  # codebook indices are coded as bytes: at most 2**8 centroids
# What a file may hold, so that a decoder never allocates more than a few times this many floats: weights in
# all (over four times the teacher's 1,199,882, the largest network here), and weight arrays (the families
# here have at most 42, a cnn of eight widths; 128 leaves a sep up to 28 repeats)
MAX_PARAMS = 5_000_000
MAX_ARRAYS = 128
MAX_ARRAYS2 = 2048  # version 2 holds any model: a ResNet-50 has 320 weight arrays
MAX_RANK = 8
MAX_FILE = 64 << 20  # bytes a reader takes from a file: far above what MAX_PARAMS weights code into


class FormatError(ValueError):
    """Bytes that are not a deep-compressed file of this format."""


@dataclass(frozen=True)
class Shared:
    """A pruned kernel whose kept weights share a codebook: weight = codebook[index] at each position."""

    shape: tuple
    positions: np.ndarray  # flat (C order) positions of the kept weights, increasing
    indices: np.ndarray  # uint8, one codebook index per kept weight
    codebook: np.ndarray  # float32, 2**bits centroids

    @property
    def bits(self):
        return int(math.log2(len(self.codebook)))

    def dense(self):
        w = np.zeros(math.prod(self.shape), np.float32)
        w[self.positions] = self.codebook[self.indices]
        return w.reshape(self.shape)


def gaps(positions):
    """Flat positions -> gap bytes (zeros before each position; SKIP bytes for long runs)."""
    runs = np.diff(np.asarray(positions, np.int64), prepend=-1) - 1
    out = []
    for run in runs.tolist():
        out += [SKIP] * (run // SKIP) + [run % SKIP]
    return bytes(out)


def positions_of(gap_bytes, nnz, start=0, most=None):
    """Read `nnz` positions from gap bytes at `start`, within `most` bytes if given; returns (positions,
    next start). FormatError if the bytes end first."""
    if nnz == 0:
        return np.empty(0, np.int64), start
    window = np.frombuffer(gap_bytes, np.uint8)[start:None if most is None else start + most]
    kept = np.flatnonzero(window != SKIP)[:nnz]  # the byte that places each weight
    if len(kept) < nnz:
        raise FormatError(f"gaps stream ends before its {nnz} kept weights")
    window = window[:kept[-1] + 1]
    steps = window.astype(np.int64) + (window != SKIP)  # a SKIP moves 255, a gap byte b moves b + 1
    return np.cumsum(steps)[kept] - 1, start + len(window)


def huffman(data):
    """Huffman coding only (no LZ77), raw DEFLATE: no zlib header or checksum."""
    coder = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_HUFFMAN_ONLY)
    return coder.compress(data) + coder.flush()


def inflate(data, most, name, exact=False):
    """The bytes a raw DEFLATE stream holds, at most `most` (exactly, if `exact`); FormatError otherwise,
    without inflating past `most` + 1 bytes."""
    coder = zlib.decompressobj(-15)
    try:
        out = coder.decompress(data, most + 1)  # one byte over tells a longer stream; 0 would mean no limit
    except zlib.error as e:
        raise FormatError(f"damaged {name} stream: {e}") from None
    if len(out) > most:
        raise FormatError(f"{name} stream longer than the network needs ({most} bytes at most)")
    if not coder.eof or coder.unused_data:
        raise FormatError(f"{name} stream truncated, or bytes after its end")
    if exact and len(out) != most:
        raise FormatError(f"{name} stream shorter than the network needs ({len(out)} bytes, not {most})")
    return out


def encode(network, entries, floats="float16"):
    """Bytes of the file for `network` (its name) whose weight arrays are `entries`, in order: a
    Shared for each shared kernel, a float array for every other weight (stored as `floats`)."""
    dtype, code = FLOATS[floats]
    name = network.encode()
    if not 0 < len(name) < 256:
        raise ValueError(f"network name must be 1 to 255 bytes, got {len(name)}")
    weights = sum(math.prod(e.shape) if isinstance(e, Shared) else np.size(e) for e in entries)
    if len(entries) > MAX_ARRAYS or weights > MAX_PARAMS:  # no decoder would take it
        raise ValueError(f"{len(entries)} arrays of {weights:,} weights: the format holds at most "
                         f"{MAX_ARRAYS} arrays of {MAX_PARAMS:,} weights in all")
    header = [MAGIC, struct.pack("<B", len(name)), name, struct.pack("<BH", code, len(entries))]
    streams = _streams(entries, dtype)
    header += [struct.pack("<BI", e.bits, len(e.positions)) if isinstance(e, Shared) else struct.pack("<B", 0)
               for e in entries]
    return b"".join(header) + struct.pack("<3I", *map(len, streams)) + b"".join(streams)


def _streams(entries, dtype):
    """The three Huffman-coded streams of `entries`, after checking each shared kernel."""
    gap_bytes, index_bytes, float_bytes = bytearray(), bytearray(), bytearray()
    for e in entries:
        if isinstance(e, Shared):
            if len(e.codebook) not in [2 ** b for b in range(1, MAX_BITS + 1)]:
                raise ValueError(f"a codebook holds 2 to 256 centroids (a power of 2), got {len(e.codebook)}")
            if len(e.indices) != len(e.positions) or (len(e.indices) and int(np.max(e.indices)) >= len(e.codebook)):
                raise ValueError("every kept weight needs one index into its codebook")
            if len(e.positions) and (np.any(np.diff(e.positions) <= 0) or e.positions[0] < 0
                                     or e.positions[-1] >= math.prod(e.shape)):
                raise ValueError("kept positions must increase and lie inside the kernel")
            gap_bytes += gaps(e.positions)
            index_bytes += np.asarray(e.indices, np.uint8).tobytes()
            float_bytes += np.asarray(e.codebook).astype(dtype).tobytes()
        else:
            float_bytes += np.asarray(e).astype(dtype).tobytes()
    return [huffman(bytes(s)) for s in (gap_bytes, index_bytes, float_bytes)]


def varint(n):
    """LEB128: seven bits a byte, low first, the top bit set on every byte but the last."""
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def read_varint(blob, at):
    """(value, next offset) of the LEB128 number at `at`: below 2**32, in its shortest encoding (at most
    5 bytes, the fifth at most 0x0F, no last byte 0 after the first)."""
    n = 0
    for i in range(5):
        if at + i >= len(blob):
            raise FormatError("file ends inside a varint")
        b = blob[at + i]
        n |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            if (i and not b) or (i == 4 and b > 0x0F):
                raise FormatError("a length field not in its shortest encoding, or of 2**32 or more")
            return n, at + i + 1
    raise FormatError("a length field longer than 5 bytes")


def encode2(config, entries, floats="float16"):
    """Bytes of a version-2 file: `config` (the model's deflated Keras config, architecture.py) and
    its weight arrays `entries` in the model's order, each with its shape."""
    dtype, code = FLOATS[floats]
    shapes = [tuple(e.shape) if isinstance(e, Shared) else np.shape(e) for e in entries]
    weights = sum(map(math.prod, shapes))
    if len(entries) > MAX_ARRAYS2 or weights > MAX_PARAMS or any(len(s) > MAX_RANK for s in shapes):
        raise ValueError(f"{len(entries)} arrays of {weights:,} weights: the format holds at most "
                         f"{MAX_ARRAYS2} arrays of rank {MAX_RANK} or less, {MAX_PARAMS:,} weights in all")
    streams = _streams(entries, dtype)
    header = [MAGIC2, struct.pack("<B", code), varint(len(config)), config, varint(len(entries))]
    for e, shape in zip(entries, shapes):
        header += [struct.pack("<B", len(shape)), *map(varint, shape)]
        header.append(struct.pack("<B", e.bits) + varint(len(e.positions)) if isinstance(e, Shared)
                      else struct.pack("<B", 0))
    return b"".join(header) + b"".join(map(varint, map(len, streams))) + b"".join(streams)


@dataclass(frozen=True)
class Header:
    network: str  # version 1: the family network's name; version 2: None
    floats: str
    bits: list  # per weight array: 0 (floats) or the codebook bits
    nnz: list  # per weight array: kept weights of a shared kernel, else 0
    streams: list  # the three coded streams' lengths
    size: int  # bytes before the streams
    version: int = 1
    config: bytes = b""  # version 2: the deflated Keras config (architecture.py)
    shapes: list = None  # version 2: every weight array's shape


def header(blob):
    """The file's header, of either version; FormatError if `blob` is not a file of this format."""
    if bytes(blob[:4]) == MAGIC2:
        return _header2(blob)
    try:
        if blob[:4] != MAGIC:
            raise FormatError(f"not a deep-compressed file (starts {bytes(blob[:4])!r}, expected {MAGIC!r} "
                              f"or {MAGIC2!r})")
        n = blob[4]
        at = 5 + n
        network = bytes(blob[5:at]).decode()
        code, count = struct.unpack_from("<BH", blob, at)
        at += 3
        floats = {c: name for name, (_, c) in FLOATS.items()}[code]
        if count > MAX_ARRAYS:
            raise FormatError(f"{count} weight arrays, above the limit of {MAX_ARRAYS}")
        bits, nnz = [], []
        for _ in range(count):
            (b,) = struct.unpack_from("<B", blob, at)
            at += 1
            k = 0
            if b:
                (k,) = struct.unpack_from("<I", blob, at)
                at += 4
            bits.append(b)
            nnz.append(k)
        streams = list(struct.unpack_from("<3I", blob, at))
    except (IndexError, KeyError, struct.error, UnicodeDecodeError) as e:
        raise FormatError(f"truncated or damaged header ({type(e).__name__})") from None
    at += 12
    if at + sum(streams) != len(blob):
        raise FormatError(f"{len(blob)} bytes, the header announces {at + sum(streams)}")
    if any(b > MAX_BITS for b in bits):
        raise FormatError(f"codebook bits above {MAX_BITS}")
    if sum(nnz) > MAX_PARAMS:
        raise FormatError(f"{sum(nnz):,} kept weights, above the limit of {MAX_PARAMS:,} weights")
    return Header(network, floats, bits, nnz, streams, at)


def _header2(blob):
    try:
        floats = {c: name for name, (_, c) in FLOATS.items()}[blob[4]]
        length, at = read_varint(blob, 5)
        if at + length > len(blob):
            raise FormatError(f"config of {length:,} bytes in a file of {len(blob):,}")
        config = bytes(blob[at:at + length])
        count, at = read_varint(blob, at + length)
        if count > MAX_ARRAYS2:
            raise FormatError(f"{count} weight arrays, above the limit of {MAX_ARRAYS2}")
        shapes, bits, nnz, weights = [], [], [], 0
        for _ in range(count):
            rank, at = blob[at], at + 1
            if rank > MAX_RANK:
                raise FormatError(f"an array of rank {rank}, above the limit of {MAX_RANK}")
            shape = []
            for _ in range(rank):
                d, at = read_varint(blob, at)
                shape.append(d)
            weights += math.prod(shape)
            if weights > MAX_PARAMS:
                raise FormatError(f"arrays of more than {MAX_PARAMS:,} weights in all")
            b, at, k = blob[at], at + 1, 0
            if b:
                k, at = read_varint(blob, at)
                if b > MAX_BITS or k > math.prod(shape):
                    raise FormatError(f"an array of {math.prod(shape)} weights with {k} kept at {b} bits")
            shapes.append(tuple(shape))
            bits.append(b)
            nnz.append(k)
        streams = []
        for _ in range(3):
            n, at = read_varint(blob, at)
            streams.append(n)
    except (IndexError, KeyError) as e:
        raise FormatError(f"truncated or damaged header ({type(e).__name__})") from None
    if at + sum(streams) != len(blob):
        raise FormatError(f"{len(blob)} bytes, the header announces {at + sum(streams)}")
    return Header(None, floats, bits, nnz, streams, at, 2, config, shapes)


def entries(blob, shapes=None):
    """The weight arrays of a file as `encode` took them: a Shared for each shared kernel, a float32
    array for every other; `shapes` are the rebuilt network's, in order (a version-2 file holds them)."""
    h = header(blob)
    if shapes is None:
        if h.version == 1:
            raise ValueError("a version-1 file holds no shapes: pass the rebuilt network's")
        shapes = h.shapes
    if h.version == 2 and [tuple(s) for s in shapes] != h.shapes:
        raise FormatError("the network's weight shapes differ from the file's")
    if len(shapes) != len(h.bits):
        raise FormatError(f"holds {len(h.bits)} weight arrays, network {h.network} has {len(shapes)}")
    numel = [math.prod(shape) for shape in shapes]
    if sum(numel) > MAX_PARAMS:
        raise FormatError(f"network {h.network} has {sum(numel):,} weights, above the limit of {MAX_PARAMS:,}")
    for size, bits, nnz in zip(numel, h.bits, h.nnz):
        if bits and nnz > size:
            raise FormatError(f"{nnz} kept weights in an array of {size}")
    dtype = np.dtype(FLOATS[h.floats][0])
    # what the arrays need: a shared kernel's gap bytes are its kept weights and at most one SKIP per 255 zeros
    most = [sum(k + (n - k) // SKIP for n, b, k in zip(numel, h.bits, h.nnz) if b), sum(h.nnz),
            dtype.itemsize * sum(2 ** b if b else n for n, b in zip(numel, h.bits))]
    streams, at = [], h.size
    for name, length, limit in zip(("gaps", "indices", "floats"), h.streams, most):
        streams.append(inflate(blob[at:at + length], limit, name, exact=name != "gaps"))
        at += length
    gap_bytes, index_bytes, float_bytes = streams
    g = i = f = 0
    out = []
    try:
        for shape, size, bits, nnz in zip(shapes, numel, h.bits, h.nnz):
            count = 2 ** bits if bits else size
            values = np.frombuffer(float_bytes, dtype, count, f).astype(np.float32)
            f += count * dtype.itemsize
            if not bits:
                out.append(values.reshape(shape))
                continue
            positions, g = positions_of(gap_bytes, nnz, g, nnz + (size - nnz) // SKIP)
            indices = np.frombuffer(index_bytes, np.uint8, nnz, i)
            i += nnz
            if nnz and (positions[-1] >= size or indices.max() >= count):
                raise FormatError("a kept weight lies outside its kernel or codebook")
            out.append(Shared(tuple(shape), positions, indices, values))
    except (IndexError, ValueError) as e:  # a damaged stream the bounds above let through
        if isinstance(e, FormatError):
            raise
        raise FormatError(f"damaged streams ({e})") from None
    if g != len(gap_bytes):
        raise FormatError("gaps stream longer than its kernels need")
    return out


def decode(blob, shapes=None):
    """The weight arrays of a file, as float32 arrays of `shapes` (the rebuilt network's, in order; a
    version-2 file holds them)."""
    return [e.dense() if isinstance(e, Shared) else e for e in entries(blob, shapes)]


def sizes(blob):
    """Bytes of each part of a file, and what the same content takes before Huffman coding (indices
    packed at their bit width, gaps a byte each, floats as stored)."""
    h = header(blob)
    shared = sum(2 ** b for b in h.bits if b)
    most = [sum(h.nnz) + MAX_PARAMS // SKIP, sum(h.nnz), np.dtype(FLOATS[h.floats][0]).itemsize * (MAX_PARAMS + shared)]
    starts = np.cumsum([h.size, *h.streams[:-1]]).tolist()
    raw = [len(inflate(blob[a:a + n], m, name))
           for a, n, m, name in zip(starts, h.streams, most, ("gaps", "indices", "floats"))]
    packed = math.ceil(sum(b * k for b, k in zip(h.bits, h.nnz)) / 8)
    return {"header": h.size, "config": len(h.config), "gaps": h.streams[0], "indices": h.streams[1],
            "floats": h.streams[2],
            "total": len(blob), "before_huffman": h.size + raw[0] + packed + raw[2],
            "kept_weights": sum(h.nnz)}
