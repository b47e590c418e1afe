# SPDX-License-Identifier: LGPL-2.1-or-later
"""Readers for the files of a Hugging Face checkpoint, with numpy only.

Every file is untrusted input. Safetensors headers are checked against the file
size and against dtype x shape before any data is touched; the speaker file (a
torch zip holding a pickle) is read with an unpickler that knows only the few
names a saved tensor dict needs and refuses every other one, so loading a model
never runs code from it.
"""

import collections
import io
import json
import mmap
import os
import pickle
import re
import zipfile

import numpy as np

from gguf_writer import bf16_bits_to_f32


class ConvertError(Exception):
    """A problem with the input or the options, reported in one line."""


MAX_JSON_BYTES = 256 << 20          # config, index and tokenizer files
MAX_ST_HEADER_BYTES = 100 << 20     # the safetensors library's own limit
MAX_PICKLE_BYTES = 64 << 20
MAX_STORAGE_BYTES = 1 << 30


def _fmt_shape(shape):
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _no_duplicates(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise ValueError(f"duplicate key {k!r}")
        d[k] = v
    return d


def _parse_json(data, what):
    try:
        return json.loads(data, object_pairs_hook=_no_duplicates)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise ConvertError(f"{what}: not valid JSON: {e}") from None


def load_json(path, required=True):
    """Parses a JSON file; None if it is absent and not @required."""
    if not os.path.isfile(path):
        if required:
            raise ConvertError(f"{path}: file not found")
        return None
    size = os.path.getsize(path)
    if size > MAX_JSON_BYTES:
        raise ConvertError(f"{path}: {size} bytes, more than the {MAX_JSON_BYTES} accepted for a JSON file")
    with open(path, "rb") as f:
        return _parse_json(f.read(), path)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


# ---- safetensors ----

_ST_DTYPES = {"BF16": (np.dtype("<u2"), 2), "F16": (np.dtype("<f2"), 2), "F32": (np.dtype("<f4"), 4)}


class SafetensorsFile:
    """One .safetensors file: an 8-byte little-endian header length, a JSON
    header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {}},
    then the data; offsets are relative to the end of the header."""

    def __init__(self, path):
        self.path = path
        self.entries = {}
        try:
            f = open(path, "rb")
        except OSError as e:
            raise ConvertError(f"{path}: cannot open: {e.strerror}") from None
        with f:
            size = os.fstat(f.fileno()).st_size
            if size < 8:
                raise ConvertError(f"{path}: {size} bytes, too short for a safetensors header")
            n = int.from_bytes(f.read(8), "little")
            if n > size - 8:
                raise ConvertError(f"{path}: header length {n} is larger than the file ({size} bytes)")
            if n > MAX_ST_HEADER_BYTES:
                raise ConvertError(f"{path}: header length {n} is larger than {MAX_ST_HEADER_BYTES}")
            header = _parse_json(f.read(n), f"{path}: header")
            self.data_start = 8 + n
            self.data_size = size - self.data_start
            self.mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else None
        if not isinstance(header, dict):
            raise ConvertError(f"{path}: header is not a JSON object")
        spans = []
        for name, e in header.items():
            if name == "__metadata__":
                continue
            self.entries[name] = self._check_entry(name, e)
            dtype, shape, begin, end = self.entries[name]
            if end > begin:
                spans.append((begin, end, name))
        spans.sort()
        for (b0, e0, n0), (b1, e1, n1) in zip(spans, spans[1:]):
            if b1 < e0:
                raise ConvertError(f"{path}: tensors {n0} and {n1} overlap (bytes {b0}..{e0} and {b1}..{e1})")

    def _check_entry(self, name, e):
        where = f"{self.path}: tensor {name}"
        if not isinstance(e, dict) or not {"dtype", "shape", "data_offsets"} <= e.keys():
            raise ConvertError(f"{where}: header entry needs dtype, shape and data_offsets")
        dtype, shape, offsets = e["dtype"], e["shape"], e["data_offsets"]
        if dtype not in _ST_DTYPES:
            raise ConvertError(f"{where}: dtype {dtype!r} is not supported (only BF16, F16 and F32)")
        if not isinstance(shape, list) or len(shape) > 8 or not all(_is_int(d) and d >= 0 for d in shape):
            raise ConvertError(f"{where}: shape {shape!r} is not a list of non-negative integers")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_int(o) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1]):
            raise ConvertError(f"{where}: data_offsets {offsets!r} is not [begin, end] with 0 <= begin <= end")
        begin, end = offsets
        if end > self.data_size:
            raise ConvertError(f"{where}: data_offsets [{begin}, {end}] run past the end of the data "
                               f"({self.data_size} bytes)")
        count = 1
        for d in shape:
            count *= d
        want = count * _ST_DTYPES[dtype][1]
        if end - begin != want:
            raise ConvertError(f"{where}: {end - begin} bytes of data, but {dtype} x {_fmt_shape(shape)} "
                               f"needs {want}")
        return dtype, tuple(shape), begin, end

    def array(self, name):
        """The tensor's stored values (BF16 as uint16 bit patterns), memory-mapped."""
        dtype, shape, begin, end = self.entries[name]
        np_dtype, size = _ST_DTYPES[dtype]
        count = (end - begin) // size
        if count == 0:
            return np.zeros(shape, dtype=np_dtype)
        a = np.frombuffer(self.mm, dtype=np_dtype, count=count, offset=self.data_start + begin)
        return a.reshape(shape)


class Checkpoint:
    """The tensors of a checkpoint directory: model.safetensors, or the shards
    listed by model.safetensors.index.json."""

    def __init__(self, directory):
        self.dir = directory
        self.files = {}
        self.where = {}
        index_path = os.path.join(directory, "model.safetensors.index.json")
        single = os.path.join(directory, "model.safetensors")
        if os.path.isfile(index_path):
            index = load_json(index_path)
            wm = index.get("weight_map") if isinstance(index, dict) else None
            if not isinstance(wm, dict) or not wm:
                raise ConvertError(f"{index_path}: no weight_map object")
            for name, shard in wm.items():
                if not isinstance(shard, str) or os.path.basename(shard) != shard or shard in ("", ".", ".."):
                    raise ConvertError(f"{index_path}: tensor {name}: shard {shard!r} is not a file name "
                                       "in the checkpoint directory")
            for shard in sorted(set(wm.values())):
                path = os.path.join(directory, shard)
                if not os.path.isfile(path):
                    raise ConvertError(f"{path}: shard listed in model.safetensors.index.json not found")
                self.files[shard] = SafetensorsFile(path)
            for name, shard in wm.items():
                if name not in self.files[shard].entries:
                    raise ConvertError(f"{os.path.join(directory, shard)}: tensor {name} listed in "
                                       "model.safetensors.index.json is not in this shard")
                self.where[name] = self.files[shard]
            for shard, st in self.files.items():
                extra = sorted(set(st.entries) - {n for n, s in wm.items() if s == shard})
                if extra:
                    raise ConvertError(f"{st.path}: tensor {extra[0]} is not listed for this shard in "
                                       "model.safetensors.index.json")
        elif os.path.isfile(single):
            st = SafetensorsFile(single)
            self.files["model.safetensors"] = st
            self.where = {name: st for name in st.entries}
        else:
            raise ConvertError(f"{directory}: neither model.safetensors nor model.safetensors.index.json found")

    def __contains__(self, name):
        return name in self.where

    def names(self):
        return self.where.keys()

    def dtype(self, name):
        return self.where[name].entries[name][0]

    def shape(self, name):
        return self.where[name].entries[name][1]

    def array(self, name):
        return self.where[name].array(name)

    def to_f32(self, name):
        """A function turning a piece of this tensor's stored values into float32."""
        if self.dtype(name) == "BF16":
            return bf16_bits_to_f32
        return lambda a: np.asarray(a, dtype=np.float32)


# ---- spk_dict.pt: a torch zip archive holding a pickle ----

# Storage classes a tensor may be saved with, and the numpy dtype of their elements.
_STORAGES = {
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "BFloat16Storage": np.dtype("<u2"),   # converted with bf16_bits_to_f32
    "DoubleStorage": np.dtype("<f8"),
    "LongStorage": np.dtype("<i8"),       # integer tensors (a bos_token saved as a tensor)
    "IntStorage": np.dtype("<i4"),
}


class _StorageType:
    """Stands for torch.<name>Storage: the only thing the unpickler hands out for it."""

    def __init__(self, name):
        self.name = name
        self.dtype = _STORAGES[name]

    def __reduce__(self):
        raise pickle.PicklingError("not picklable")


class _Storage:
    __slots__ = ("type", "key", "numel", "data")

    def __setstate__(self, state):
        raise pickle.UnpicklingError("a storage has no state")


class _Tensor:
    """The result of _rebuild_tensor_v2: a numpy array, float32 (or int64 for
    integer storages)."""
    __slots__ = ("array",)

    def __setstate__(self, state):
        raise pickle.UnpicklingError("a tensor has no state")


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    """torch._utils._rebuild_tensor_v2, re-implemented with every argument checked:
    a view of @size with @stride (in elements) starting at @storage_offset."""
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError("_rebuild_tensor_v2: first argument is not a storage")
    if not _is_int(storage_offset) or storage_offset < 0:
        raise pickle.UnpicklingError(f"_rebuild_tensor_v2: bad storage offset {storage_offset!r}")
    if (not isinstance(size, tuple) or not isinstance(stride, (tuple, list)) or len(size) != len(stride)
            or len(size) > 8 or not all(_is_int(d) and d >= 0 for d in size)
            or not all(_is_int(s) and s >= 0 for s in stride)):
        raise pickle.UnpicklingError(f"_rebuild_tensor_v2: bad size {size!r} or stride {stride!r}")
    if not isinstance(requires_grad, bool):
        raise pickle.UnpicklingError("_rebuild_tensor_v2: requires_grad is not a bool")
    if backward_hooks is not None and (not isinstance(backward_hooks, dict) or backward_hooks):
        raise pickle.UnpicklingError("_rebuild_tensor_v2: backward hooks are not supported")
    if metadata is not None and not isinstance(metadata, dict):
        raise pickle.UnpicklingError("_rebuild_tensor_v2: bad metadata")
    count = 1
    for d in size:
        count *= d
    if count * storage.type.dtype.itemsize > MAX_STORAGE_BYTES:
        raise pickle.UnpicklingError(f"tensor of size {list(size)} is larger than {MAX_STORAGE_BYTES} bytes")
    out = _Tensor()
    if count == 0:
        out.array = np.zeros(size, dtype=np.int64 if storage.type.dtype.kind == "i" else np.float32)
        return out
    last = storage_offset + sum((d - 1) * s for d, s in zip(size, stride))
    if last >= storage.numel:
        raise pickle.UnpicklingError(f"tensor of size {list(size)}, stride {list(stride)} at offset "
                                     f"{storage_offset} runs past its storage of {storage.numel} elements")
    item = storage.type.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(storage.data[storage_offset:], shape=size,
                                           strides=tuple(s * item for s in stride), writeable=False)
    if storage.type.name == "BFloat16Storage":
        out.array = bf16_bits_to_f32(np.ascontiguousarray(view).reshape(-1)).reshape(size)
    elif storage.type.dtype.kind == "i":
        out.array = np.array(view, dtype=np.int64)
    else:
        out.array = np.array(view, dtype=np.float32)
    return out


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals a torch-saved dict of tensors refers to; every
    other global (os.system, builtins.eval, ...) ends the load with an error."""

    def __init__(self, file, archive, prefix, path):
        super().__init__(file)
        self.archive = archive
        self.prefix = prefix
        self.path = path
        self.storages = {}

    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGES:
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise ConvertError(f"{self.path}: refusing to load global '{module}.{name}': a speaker file may "
                           "only name torch tensor storage and rebuild functions")

    def persistent_load(self, pid):
        if (not isinstance(pid, tuple) or len(pid) != 5 or pid[0] != "storage"
                or not isinstance(pid[1], _StorageType) or not isinstance(pid[2], str)
                or not re.fullmatch(r"[A-Za-z0-9_]{1,64}", pid[2]) or not _is_int(pid[4]) or pid[4] < 0):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        stype, key, numel = pid[1], pid[2], pid[4]
        if key in self.storages:
            s = self.storages[key]
            if s.type.name != stype.name:
                raise pickle.UnpicklingError(f"storage {key} used with two types")
            return s
        record = f"{self.prefix}data/{key}"
        try:
            info = self.archive.getinfo(record)
        except KeyError:
            raise pickle.UnpicklingError(f"storage record {record} not found") from None
        nbytes = numel * stype.dtype.itemsize
        if info.file_size != nbytes or nbytes > MAX_STORAGE_BYTES:
            raise pickle.UnpicklingError(f"storage record {record} holds {info.file_size} bytes, its "
                                         f"{stype.name} of {numel} elements needs {nbytes}")
        s = _Storage()
        s.type, s.key, s.numel = stype, key, numel
        s.data = np.frombuffer(self.archive.read(record), dtype=stype.dtype)
        self.storages[key] = s
        return s


class Speaker:
    def __init__(self, name, bos_token, cond, ref_mel):
        self.name = name
        self.bos_token = bos_token   # thinker-vocabulary id of the speaker's text bos
        self.cond = cond             # float32 [enc_emb_dim]: the speaker vector
        self.ref_mel = ref_mel       # float32 [T, mel_dim]: reference mel for ECAPA


def load_speakers(path):
    """Reads spk_dict.pt: {name: {"bos_token": int, "cond": [1, D], "ref_mel": [1, T, M]}}."""
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise ConvertError(f"{path}: file not found") from None
    except (zipfile.BadZipFile, OSError) as e:
        raise ConvertError(f"{path}: not a torch zip archive ({e}); the legacy torch format is not read") from None
    with archive:
        pkl = [n for n in archive.namelist() if re.fullmatch(r"[^/]+/data\.pkl", n)]
        if len(pkl) != 1:
            raise ConvertError(f"{path}: expected one <archive>/data.pkl record, found {len(pkl)}")
        prefix = pkl[0][:-len("data.pkl")]
        byteorder = prefix + "byteorder"
        if byteorder in archive.namelist() and archive.read(byteorder).strip() not in (b"little", b""):
            raise ConvertError(f"{path}: big-endian tensors are not supported")
        if archive.getinfo(pkl[0]).file_size > MAX_PICKLE_BYTES:
            raise ConvertError(f"{path}: {pkl[0]} is larger than {MAX_PICKLE_BYTES} bytes")
        unpickler = _RestrictedUnpickler(io.BytesIO(archive.read(pkl[0])), archive, prefix, path)
        try:
            obj = unpickler.load()
        except ConvertError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
                KeyError, OverflowError, MemoryError, RecursionError, zipfile.BadZipFile) as e:
            raise ConvertError(f"{path}: cannot read {pkl[0]}: {type(e).__name__}: {e}") from None
    if not isinstance(obj, dict) or not obj:
        raise ConvertError(f"{path}: expected a dict of speakers, found {type(obj).__name__}")
    speakers = []
    for name, entry in obj.items():
        if not isinstance(name, str):
            raise ConvertError(f"{path}: speaker name {name!r} is not a string")
        if not isinstance(entry, dict):
            raise ConvertError(f"{path}: speaker {name}: expected a dict, found {type(entry).__name__}")
        missing = {"bos_token", "cond", "ref_mel"} - entry.keys()
        if missing:
            raise ConvertError(f"{path}: speaker {name}: missing {', '.join(sorted(missing))}")
        bos = entry["bos_token"]
        if isinstance(bos, _Tensor) and bos.array.size == 1 and bos.array.dtype.kind == "i":
            bos = int(bos.array.reshape(-1)[0])
        if not _is_int(bos) or bos < 0:
            raise ConvertError(f"{path}: speaker {name}: bos_token {bos!r} is not a token id")
        for k in ("cond", "ref_mel"):
            if not isinstance(entry[k], _Tensor) or entry[k].array.dtype != np.float32:
                raise ConvertError(f"{path}: speaker {name}: {k} is not a floating-point tensor")
        speakers.append(Speaker(name, bos, entry["cond"].array, entry["ref_mel"].array))
    return speakers


# ---- tokenizer ----

NORMAL, CONTROL, USER_DEFINED, UNUSED = 1, 3, 4, 5     # llama.cpp token types
SPECIAL_TYPES = ("bos", "eos", "unk", "sep", "pad", "cls", "mask")


def _looks_special(t):
    """llama.cpp's does_token_look_special."""
    return (t in ("<pad>", "<mask>", "<2mass>", "[@BOS@]")
            or (t.startswith("<|") and t.endswith("|>"))
            or (t.startswith("<\uff5c") and t.endswith("\uff5c>"))
            or (t.startswith("<unused") and t.endswith(">")))


class Tokenizer:
    """A byte-level BPE vocabulary as llama.cpp's gpt2 tokenizer model stores it."""

    def __init__(self, directory, vocab_size, config):
        self.dir = directory
        tj_path = os.path.join(directory, "tokenizer.json")
        tc_path = os.path.join(directory, "tokenizer_config.json")
        tj = load_json(tj_path, required=False)
        tc = load_json(tc_path, required=False) or {}
        if not isinstance(tc, dict):
            raise ConvertError(f"{tc_path}: not a JSON object")
        vocab, merges, added = {}, [], {}       # added: id -> (content, special)

        def add_token(where, tid, content, special):
            if not _is_int(tid) or not isinstance(content, str):
                raise ConvertError(f"{where}: added token {content!r} with id {tid!r} is malformed")
            if tid in added and added[tid][0] != content:
                raise ConvertError(f"{where}: token id {tid} is both {added[tid][0]!r} and {content!r}")
            added[tid] = (content, bool(special) or added.get(tid, ("", False))[1])

        if tj is not None:
            model = tj.get("model") if isinstance(tj, dict) else None
            if not isinstance(model, dict) or model.get("type", "BPE") != "BPE":
                raise ConvertError(f"{tj_path}: only a BPE tokenizer model is supported")
            vocab = model.get("vocab")
            if not isinstance(vocab, dict):
                raise ConvertError(f"{tj_path}: model.vocab is not an object")
            for m in model.get("merges") or []:
                if isinstance(m, str):
                    merges.append(m)
                elif isinstance(m, list) and len(m) == 2 and all(isinstance(p, str) for p in m):
                    # newer format: pairs; llama.cpp stores a space inside a part as U+0120+256
                    merges.append(" ".join("".join(chr(ord(c) + 256) if c == " " else c for c in p) for p in m))
                else:
                    raise ConvertError(f"{tj_path}: merge {m!r} is malformed")
            for t in tj.get("added_tokens") or []:
                if not isinstance(t, dict):
                    raise ConvertError(f"{tj_path}: added token {t!r} is malformed")
                add_token(tj_path, t.get("id"), t.get("content"), t.get("special", False))
        else:
            vocab = load_json(os.path.join(directory, "vocab.json"))
            if not isinstance(vocab, dict):
                raise ConvertError(f"{directory}/vocab.json: not a JSON object")
            merges = self._merges_txt(os.path.join(directory, "merges.txt"))
        atj = load_json(os.path.join(directory, "added_tokens.json"), required=False)
        if isinstance(atj, dict):
            for content, tid in atj.items():
                add_token(f"{directory}/added_tokens.json", tid, content, False)
        decoder = tc.get("added_tokens_decoder") or {}
        if not isinstance(decoder, dict):
            raise ConvertError(f"{tc_path}: added_tokens_decoder is not an object")
        for tid, t in decoder.items():
            if not re.fullmatch(r"[0-9]{1,10}", tid) or not isinstance(t, dict):
                raise ConvertError(f"{tc_path}: added token {tid!r} is malformed")
            add_token(tc_path, int(tid), t.get("content"), t.get("special", False))

        by_id = {}
        for content, tid in vocab.items():
            if not _is_int(tid) or tid < 0:
                raise ConvertError(f"{directory}: vocabulary entry {content!r} has id {tid!r}")
            if tid in by_id:
                raise ConvertError(f"{directory}: token id {tid} is both {by_id[tid]!r} and {content!r}")
            by_id[tid] = content
        for tid, (content, _) in added.items():
            if tid in by_id and by_id[tid] != content:
                raise ConvertError(f"{directory}: token id {tid} is both {by_id[tid]!r} and {content!r}")
            by_id[tid] = content
        if not by_id:
            raise ConvertError(f"{directory}: empty vocabulary")
        top = max(by_id)
        if top >= vocab_size:
            raise ConvertError(f"{directory}: token id {top} ({by_id[top]!r}) is not below the model's "
                               f"vocab_size {vocab_size}")
        self.tokens, self.types = [], []
        for i in range(vocab_size):
            if i not in by_id:
                self.tokens.append(f"[PAD{i}]")
                self.types.append(UNUSED)
            elif i in added:
                content, special = added[i]
                self.tokens.append(content)
                self.types.append(CONTROL if special or _looks_special(content) else USER_DEFINED)
            else:
                self.tokens.append(by_id[i])
                self.types.append(NORMAL)
        for what, strings in (("token", self.tokens), ("merge", merges)):
            for i, t in enumerate(strings):
                try:
                    t.encode("utf-8")
                except UnicodeEncodeError:
                    raise ConvertError(f"{directory}: {what} {i} ({t!r}) is not valid Unicode") from None
        self.merges = merges
        self.ids = {}
        for i, t in enumerate(self.tokens):
            self.ids.setdefault(t, i)

        # Special ids: the tokenizer_config names ({typ}_token) looked up among the
        # added tokens, then config.json's {typ}_token_id (gguf-py SpecialVocab).
        self.special = {}
        added_ids = {content: tid for tid, (content, _) in sorted(added.items())}
        for typ in SPECIAL_TYPES:
            entry = tc.get(f"{typ}_token")
            if isinstance(entry, dict):
                entry = entry.get("content")
            if isinstance(entry, str) and entry in added_ids:
                self.special[typ] = added_ids[entry]
        for typ in SPECIAL_TYPES:
            tid = config.get(f"{typ}_token_id")
            if typ not in self.special and _is_int(tid) and 0 <= tid < vocab_size:
                self.special[typ] = tid
        self.add_special = {typ: tc[f"add_{typ}_token"] for typ in ("bos", "eos", "sep")
                            if isinstance(tc.get(f"add_{typ}_token"), bool)}
        self.chat_template = tc.get("chat_template")
        if self.chat_template is None:
            ct = load_json(os.path.join(directory, "chat_template.json"), required=False)
            if isinstance(ct, dict):
                self.chat_template = ct.get("chat_template")
        if self.chat_template is None:
            jinja = os.path.join(directory, "chat_template.jinja")
            if os.path.isfile(jinja):
                with open(jinja, encoding="utf-8") as f:
                    self.chat_template = f.read()
        if self.chat_template is not None and not isinstance(self.chat_template, (str, list)):
            raise ConvertError(f"{tc_path}: chat_template is neither a string nor a list")

    @staticmethod
    def _merges_txt(path):
        if not os.path.isfile(path):
            raise ConvertError(f"{path}: file not found (needed without tokenizer.json)")
        merges = []
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line or (n == 1 and line.startswith("#")):
                    continue
                parts = line.split()
                if len(parts) != 2:
                    raise ConvertError(f"{path}:{n}: a merge is two tokens separated by a space")
                merges.append(f"{parts[0]} {parts[1]}")
        return merges

    def token_id(self, text, what):
        """The id of the token spelled @text; an error naming @what if none."""
        if text not in self.ids or self.types[self.ids[text]] == UNUSED:
            raise ConvertError(f"{what}: {text!r} is not a token of the vocabulary")
        return self.ids[text]
