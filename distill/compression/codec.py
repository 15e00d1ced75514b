"""The deep-compressed file (.dcz): a pruned, weight-shared network, Huffman coded (Han et al. 2016, sec. 4).

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

numpy and the standard library only: the format does not need TensorFlow.
"""
import math
import struct
import zlib
from dataclasses import dataclass

import numpy as np

MAGIC = b"DCZ1"
FLOATS = {"float16": ("<f2", 0), "float32": ("<f4", 1)}  # storage name -> (dtype, code)
SKIP = 255  # a gap byte that means "255 zeros, no weight yet"


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


def positions_of(gap_bytes, nnz, start=0):
    """Read `nnz` positions from gap bytes at `start`; returns (positions, next start)."""
    positions, pos, i = np.empty(nnz, np.int64), -1, start
    for j in range(nnz):
        zeros = 0
        while gap_bytes[i] == SKIP:
            zeros, i = zeros + SKIP, i + 1
        pos += zeros + gap_bytes[i] + 1
        positions[j], i = pos, i + 1
    return positions, i


def huffman(data):
    """Huffman coding only (no LZ77), raw DEFLATE: no zlib header or checksum."""
    coder = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_HUFFMAN_ONLY)
    return coder.compress(data) + coder.flush()


def encode(network, entries, floats="float16"):
    """Bytes of the file for `network` (its name) whose weight arrays are `entries`, in order: a
    Shared for each shared kernel, a float array for every other weight (stored as `floats`)."""
    dtype, code = FLOATS[floats]
    name = network.encode()
    if not 0 < len(name) < 256:
        raise ValueError(f"network name must be 1 to 255 bytes, got {len(name)}")
    header = [MAGIC, struct.pack("<B", len(name)), name, struct.pack("<BH", code, len(entries))]
    gap_bytes, index_bytes, float_bytes = bytearray(), bytearray(), bytearray()
    for e in entries:
        if isinstance(e, Shared):
            if len(e.codebook) not in [2 ** b for b in range(1, 9)]:
                raise ValueError(f"a codebook holds 2 to 256 centroids (a power of 2), got {len(e.codebook)}")
            if len(e.indices) != len(e.positions) or (len(e.indices) and int(np.max(e.indices)) >= len(e.codebook)):
                raise ValueError("every kept weight needs one index into its codebook")
            if len(e.positions) and (np.any(np.diff(e.positions) <= 0) or e.positions[0] < 0
                                     or e.positions[-1] >= math.prod(e.shape)):
                raise ValueError("kept positions must increase and lie inside the kernel")
            header.append(struct.pack("<BI", e.bits, len(e.positions)))
            gap_bytes += gaps(e.positions)
            index_bytes += np.asarray(e.indices, np.uint8).tobytes()
            float_bytes += np.asarray(e.codebook).astype(dtype).tobytes()
        else:
            header.append(struct.pack("<B", 0))
            float_bytes += np.asarray(e).astype(dtype).tobytes()
    streams = [huffman(bytes(s)) for s in (gap_bytes, index_bytes, float_bytes)]
    return b"".join(header) + struct.pack("<3I", *map(len, streams)) + b"".join(streams)


@dataclass(frozen=True)
class Header:
    network: str
    floats: str
    bits: list  # per weight array: 0 (floats) or the codebook bits
    nnz: list  # per weight array: kept weights of a shared kernel, else 0
    streams: list  # the three coded streams' lengths
    size: int  # bytes before the streams


def header(blob):
    """The file's header; FormatError if `blob` is not a file of this format."""
    try:
        if blob[:4] != MAGIC:
            raise FormatError(f"not a deep-compressed file (starts {bytes(blob[:4])!r}, expected {MAGIC!r})")
        n = blob[4]
        at = 5 + n
        network = bytes(blob[5:at]).decode()
        code, count = struct.unpack_from("<BH", blob, at)
        at += 3
        floats = {c: name for name, (_, c) in FLOATS.items()}[code]
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
    if any(b > 8 for b in bits):
        raise FormatError("codebook bits above 8")
    return Header(network, floats, bits, nnz, streams, at)


def decode(blob, shapes):
    """The weight arrays of a file, as float32 arrays of `shapes` (the rebuilt network's, in order)."""
    h = header(blob)
    if len(shapes) != len(h.bits):
        raise FormatError(f"holds {len(h.bits)} weight arrays, network {h.network} has {len(shapes)}")
    streams, at = [], h.size
    for length in h.streams:
        try:
            streams.append(zlib.decompress(blob[at:at + length], -15))
        except zlib.error as e:
            raise FormatError(f"damaged stream: {e}") from None
        at += length
    gap_bytes, index_bytes, float_bytes = streams
    dtype = np.dtype(FLOATS[h.floats][0])
    g = i = f = 0
    out = []
    try:
        for shape, bits, nnz in zip(shapes, h.bits, h.nnz):
            count = 2 ** bits if bits else math.prod(shape)
            values = np.frombuffer(float_bytes, dtype, count, f).astype(np.float32)
            f += count * dtype.itemsize
            if not bits:
                out.append(values.reshape(shape))
                continue
            positions, g = positions_of(gap_bytes, nnz, g)
            indices = np.frombuffer(index_bytes, np.uint8, nnz, i)
            i += nnz
            if nnz and (positions[-1] >= math.prod(shape) or indices.max() >= count):
                raise FormatError("a kept weight lies outside its kernel or codebook")
            out.append(Shared(tuple(shape), positions, indices, values).dense())
    except (IndexError, ValueError) as e:
        if isinstance(e, FormatError):
            raise
        raise FormatError(f"streams shorter than the header announces ({e})") from None
    if (g, i, f) != tuple(map(len, streams)):
        raise FormatError("streams longer than the header announces")
    return out


def sizes(blob):
    """Bytes of each part of a file, and what the same content takes before Huffman coding (indices
    packed at their bit width, gaps a byte each, floats as stored)."""
    h = header(blob)
    raw = [len(zlib.decompress(blob[a:a + n], -15)) for a, n in zip(np.cumsum([h.size, *h.streams[:-1]]), h.streams)]
    packed = math.ceil(sum(b * k for b, k in zip(h.bits, h.nnz)) / 8)
    return {"header": h.size, "gaps": h.streams[0], "indices": h.streams[1], "floats": h.streams[2],
            "total": len(blob), "before_huffman": h.size + raw[0] + packed + raw[2],
            "kept_weights": sum(h.nnz)}
