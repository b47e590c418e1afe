# SPDX-License-Identifier: LGPL-2.1-or-later
"""A small streaming GGUF v3 writer and the float/quant conversions it writes with.

Layout (shared/reference vulkan-compute.md §3.1, ggml docs/gguf.md): header, keys,
tensor infos (ne = numpy shape reversed), zero padding to the alignment, then the
tensor data, each tensor at an offset that is a multiple of the alignment. All
numbers little-endian. The output is deterministic: the same calls give the same
bytes.

Tensors are added as descriptions (name, numpy shape, type, a function that yields
their float32 values in chunks) and only read when write() streams them to disk,
so a checkpoint larger than memory converts with one tensor chunk in memory at a
time. write() goes to PATH.tmp and renames it at the end: a failed conversion
leaves no partial file under the final name.
"""

import os
import struct

import numpy as np

GGUF_MAGIC = 0x46554747  # "GGUF"
GGUF_VERSION = 3
ALIGNMENT = 32

# Value types, as numbered in the file.
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)

_SCALAR_FORMATS = {
    UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h", UINT32: "<I", INT32: "<i",
    FLOAT32: "<f", BOOL: "<?", UINT64: "<Q", INT64: "<q", FLOAT64: "<d",
}

# ggml tensor types written by the converter (ggml.h ids).
F32, F16, Q8_0, BF16 = 0, 1, 8, 30
TYPE_NAMES = {F32: "f32", F16: "f16", Q8_0: "q8_0", BF16: "bf16"}
QK8_0 = 32                  # elements per Q8_0 block
Q8_0_BLOCK_BYTES = 2 + QK8_0  # f16 d, int8 qs[32]

MAX_NAME = 63               # tensor names are 1..63 bytes (ggml's GGML_MAX_NAME - 1)
CHUNK_ELEMENTS = 1 << 22    # floats converted at a time (16 MiB of float32)


class GGUFError(Exception):
    """A description the writer cannot write (a programmer error in the caller)."""


def tensor_nbytes(ggml_type, shape):
    n = 1
    for d in shape:
        n *= int(d)
    if ggml_type == F32:
        return 4 * n
    if ggml_type in (F16, BF16):
        return 2 * n
    if ggml_type == Q8_0:
        if not shape or shape[-1] % QK8_0:
            raise GGUFError(f"q8_0 needs the innermost dimension to be a multiple of {QK8_0}, got {list(shape)}")
        return n // QK8_0 * Q8_0_BLOCK_BYTES
    raise GGUFError(f"unknown tensor type {ggml_type}")


# ---- conversions (each takes and returns flat numpy arrays) ----

def bf16_bits_to_f32(bits):
    """bfloat16 bit patterns (uint16) to float32, exactly."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16_bits(x):
    """float32 to bfloat16 bits, round to nearest even; NaN stays a quiet NaN
    (ggml_compute_fp32_to_bf16)."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = ((u + (np.uint32(0x7FFF) + ((u >> 16) & np.uint32(1)))) >> 16).astype(np.uint16)
    nan = (u & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000)
    if nan.any():
        rounded[nan] = ((u[nan] >> 16) | np.uint32(64)).astype(np.uint16)
    return rounded


def f32_to_f16(x):
    """float32 to IEEE half, round to nearest even (numpy's cast does exactly that)."""
    with np.errstate(over="ignore"):
        return np.asarray(x, dtype=np.float32).astype(np.float16)


def _roundf(x):
    """C roundf (half away from zero) of float32 values below 2^22 in magnitude,
    exactly: trunc(x + copysign(0.5, x)) is exact there except for
    |x| = 0.5 - 2^-25, whose sum rounds up to 1 (a tie, to even)."""
    r = np.trunc(x + np.copysign(np.float32(0.5), x))
    r[np.abs(x) == np.float32(0.49999997)] = 0
    return r


def quantize_q8_0(x):
    """float32 (a multiple of 32 values) to Q8_0 blocks, the bytes ggml's
    quantize_row_q8_0_ref writes: per block of 32, d = amax / 127 (float32,
    stored as f16), id = 1/d (0 when d is 0), q = roundf(x * id), all in float32."""
    blocks = np.asarray(x, dtype=np.float32).reshape(-1, QK8_0)
    d = np.max(np.abs(blocks), axis=1, keepdims=True) / np.float32(127.0)
    with np.errstate(divide="ignore"):
        inv = np.where(d != 0, np.float32(1.0) / d, np.float32(0.0)).astype(np.float32)
    q = _roundf(blocks * inv).astype(np.int8)
    out = np.empty((blocks.shape[0], Q8_0_BLOCK_BYTES), dtype=np.uint8)
    out[:, :2] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out.reshape(-1)


def encode(ggml_type, values):
    """Flat float32 values to the bytes of @ggml_type."""
    if ggml_type == F32:
        return np.ascontiguousarray(values, dtype=np.float32)
    if ggml_type == F16:
        return f32_to_f16(values)
    if ggml_type == BF16:
        return f32_to_bf16_bits(values)
    if ggml_type == Q8_0:
        return quantize_q8_0(values)
    raise GGUFError(f"unknown tensor type {ggml_type}")


class Tensor:
    """One tensor to write: @shape in numpy order (slowest first), @ggml_type,
    and @chunks, a function returning an iterator over flat float32 arrays (or,
    with @raw, arrays already in the target encoding) that together hold the
    tensor's values in C order. For Q8_0 every chunk but the last must hold a
    multiple of 32 values."""

    def __init__(self, name, shape, ggml_type, chunks, raw=False):
        self.name = name
        self.shape = tuple(int(d) for d in shape)
        self.ggml_type = ggml_type
        self.chunks = chunks
        self.raw = raw
        self.nbytes = tensor_nbytes(ggml_type, self.shape)


class GGUFWriter:
    def __init__(self, path):
        self.path = path
        self.kv = []             # (key, type, value, element type for arrays)
        self.keys = set()
        self.tensors = []
        self.names = set()

    # ---- keys ----

    def add(self, key, vtype, value, elem_type=None):
        if key in self.keys:
            raise GGUFError(f"key {key} added twice")
        if not key or len(key.encode()) > 65535:
            raise GGUFError(f"bad key name {key!r}")
        self.keys.add(key)
        self.kv.append((key, vtype, value, elem_type))

    def add_u32(self, key, v):
        if not 0 <= int(v) < 1 << 32:
            raise GGUFError(f"{key}: {v} does not fit in a u32")
        self.add(key, UINT32, int(v))

    def add_i32(self, key, v):
        self.add(key, INT32, int(v))

    def add_f32(self, key, v):
        self.add(key, FLOAT32, float(v))

    def add_bool(self, key, v):
        self.add(key, BOOL, bool(v))

    def add_string(self, key, v):
        self.add(key, STRING, str(v))

    def add_array(self, key, elem_type, values):
        self.add(key, ARRAY, list(values), elem_type)

    # ---- tensors ----

    def add_tensor(self, tensor):
        name = tensor.name
        if not name or len(name.encode()) > MAX_NAME:
            raise GGUFError(f"tensor name {name!r} must be 1..{MAX_NAME} bytes")
        if name in self.names:
            raise GGUFError(f"tensor {name} added twice")
        if not 1 <= len(tensor.shape) <= 4:
            raise GGUFError(f"tensor {name}: {len(tensor.shape)} dimensions, GGUF holds 1..4")
        self.names.add(name)
        self.tensors.append(tensor)

    # ---- serialisation ----

    @staticmethod
    def _string(s):
        b = s.encode("utf-8")
        return struct.pack("<Q", len(b)) + b

    def _value(self, vtype, value, elem_type):
        if vtype == STRING:
            return self._string(value)
        if vtype == ARRAY:
            out = [struct.pack("<IQ", elem_type, len(value))]
            if elem_type == STRING:
                out.extend(self._string(v) for v in value)
            elif elem_type in _SCALAR_FORMATS:
                out.append(np.array(value, dtype=np.dtype(_SCALAR_FORMATS[elem_type])).tobytes())
            else:
                raise GGUFError(f"arrays of type {elem_type} are not written")
            return b"".join(out)
        return struct.pack(_SCALAR_FORMATS[vtype], value)

    def header_bytes(self):
        """Everything before the data section, padding included."""
        out = [struct.pack("<IIQQ", GGUF_MAGIC, GGUF_VERSION, len(self.tensors), len(self.kv))]
        for key, vtype, value, elem_type in self.kv:
            out.append(self._string(key))
            out.append(struct.pack("<I", vtype))
            out.append(self._value(vtype, value, elem_type))
        offset = 0
        for t in self.tensors:
            out.append(self._string(t.name))
            out.append(struct.pack("<I", len(t.shape)))
            out.append(struct.pack(f"<{len(t.shape)}Q", *reversed(t.shape)))
            out.append(struct.pack("<IQ", t.ggml_type, offset))
            offset += _pad(t.nbytes)
        head = b"".join(out)
        return head + bytes(_pad(len(head)) - len(head))

    def write(self, progress=None, advance=None):
        """Writes the file. @progress(index, count, tensor) is called before each
        tensor, @advance(nbytes) after each piece of tensor data. Errors raised by
        a tensor's chunks propagate; the temporary file is removed then."""
        tmp = self.path + ".tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(self.header_bytes())
                for i, t in enumerate(self.tensors):
                    if progress:
                        progress(i, len(self.tensors), t)
                    written = self._write_tensor(f, t, advance)
                    if written != t.nbytes:
                        raise GGUFError(f"tensor {t.name}: produced {written} bytes, expected {t.nbytes}")
                    f.write(bytes(_pad(written) - written))
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    @staticmethod
    def _write_tensor(f, t, advance):
        written = 0
        pending = np.empty(0, dtype=np.float32)  # values carried over to fill a Q8_0 block
        for chunk in t.chunks():
            if t.raw:
                b = np.ascontiguousarray(chunk)
                f.write(memoryview(b).cast("B"))
                written += b.nbytes
                if advance:
                    advance(b.nbytes)
                continue
            chunk = np.asarray(chunk, dtype=np.float32).reshape(-1)
            if t.ggml_type == Q8_0 and (pending.size or chunk.size % QK8_0):
                chunk = np.concatenate([pending, chunk])
                keep = chunk.size - chunk.size % QK8_0
                chunk, pending = chunk[:keep], chunk[keep:].copy()
            b = encode(t.ggml_type, chunk)
            f.write(memoryview(np.ascontiguousarray(b)).cast("B"))
            written += b.nbytes
            if advance:
                advance(b.nbytes)
        if pending.size:
            raise GGUFError(f"tensor {t.name}: {pending.size} values left over a Q8_0 block")
        return written


def _pad(n):
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def array_chunks(get_array, to_f32=None, elements=CHUNK_ELEMENTS):
    """A chunks() function for a Tensor: @get_array() returns a numpy array (a
    memory map or a small array); it is flattened and handed out in pieces of at
    most @elements values (a multiple of 32), each passed through @to_f32 (for
    example bf16_bits_to_f32) so that only one piece is converted at a time."""
    def chunks():
        a = get_array().reshape(-1)
        step = max(QK8_0, elements // QK8_0 * QK8_0)
        for start in range(0, a.size, step):
            piece = a[start:start + step]
            yield to_f32(piece) if to_f32 else piece
    return chunks
