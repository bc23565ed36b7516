"""The on-disk format of a tokenized split: one `.tokens` file of entropy-coded token ids and labels.

A split of N images, each an H x W grid of ids in [0, K), is written by `write_store` and read
by `TokenStore`: all of it as a uint16 array (N, H, W) with `read_all()`, or one image at a
time with `store[i]`. On 5000 images of the reference tokenizer (16 x 16 ids, K = 391) the file
holds 4.9 bits per token, header and labels included: 0.71x SeiT's release format (one or two
bytes per id, then gzip), 0.57x a fixed-width code (log2 K = 8.61 bits), and below the ids'
order-0 entropy (8.48 bits), because neighbouring tokens are strongly related.

How the ids are coded
---------------------
Each token is coded in one or two steps, with probabilities counted from the split itself and
stored in the header:

1. its *mode*: "same id as the left neighbour", "... as the up neighbour", ... (the first of a
   few already-decoded candidate neighbours that matches), or "other". The mode's probabilities
   depend on which candidates are equal to each other: left == up == up-left is a strong hint
   that the token repeats them.
2. for an "other" token, its id, as a *rank*: the header lists, for each id c, the ids seen
   right after c (to its right; below it in the first column), most frequent first. A VQ code is
   usually followed by a few related codes, so ranks are small; they are coded with one
   distribution per class of list length. The lists cost header bytes (~50 KB for 5000 images
   of K = 391), which small splits (up to a few hundred images) do not earn back: for them the
   writer keeps a single list for all tokens (order-0), whichever makes the smaller file.

Symbols are entropy-coded with rANS (`constriction`'s AnsCoder), which spends -log2(p) bits on a
symbol of probability p. Decoding has no per-token Python loop: the tokens of a grid are visited
in *waves* (t = a * row + col) such that every neighbour a token depends on lies on an earlier
wave, so the tokens of one wave, across all images of a chunk (or of many chunks), have known
contexts and are decoded with a few vectorised calls (46 waves for a 16 x 16 grid).

File layout (integers little-endian)
------------------------------------
    offset  size       field
    0       8          magic b"SEITTOK\\x00"
    8       4  u32     format version (1)
    12      8  u64     header length L
    20      4  u32     crc32 of the header
    24      4  u32     J, length of the JSON
    28      J          UTF-8 JSON: num_images N, grid [H, W], codebook_size K, num_classes,
                       tokenizer_hash, metadata, chunk_size, label_dtype,
                       coder (name, candidates, context: "left" or "none")
    28 + J  L - 4 - J  zlib-compressed binary block:
                         labels            N x label_dtype (u1 up to 256 classes)
                         mode levels       2^(C + C(C-1)/2) class codes x (C + 1) modes, u8
                         rank list lengths (K + 1) x u32 (row K: no neighbour, first token)
                         rank list ids     E x u8 gap to the previous id (255: see next field)
                         long gaps         u16 for each gap byte 255
                         rank list levels  E x u8 (bit length of the pair's count)
                         R                 u32, the longest list
                         rank levels       (bit_length(K) + 1) list classes x R ranks, u8
                         chunk table       per chunk: bytes u64, crc32 u32
    24 + L  ...        the chunks back to back, each a stream of u32 rANS words

Every byte is covered by a check: the preamble by the magic and version, the header by its
crc32, each chunk by its own crc32 (checked when the chunk is read), the file length by the
chunk table (a truncated or extended file is reported at open); and a chunk must decode to
exactly its tokens, leaving no data over.
"""
from __future__ import annotations

import json
import operator
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from seitpp.files import atomic_path
from seitpp.tokens.coder import (
    DEFAULT_CANDIDATES,
    MAX_CANDIDATES,
    NEIGHBOURS,
    TokenStoreError,
    ChunkError,
    Layout,
    EntropyModel,
    ChunkReader,
)

try:  # the coder is needed to read or write a store, not to import the package
    import constriction
except ImportError:  # pragma: no cover - reported when a store is used
    constriction = None


MAGIC = b"SEITTOK\x00"
VERSION = 1
SUFFIX = ".tokens"
CODER_NAME = "palette-rank"
MAX_CODEBOOK_SIZE = 1 << 16  # ids are returned as uint16

_PREAMBLE = struct.Struct("<8sIQI")  # magic, version, header length, header crc32
_JSON_LEN = struct.Struct("<I")
_CHUNK_TABLE = np.dtype([("nbytes", "<u8"), ("crc", "<u4")])
_GROUP_IMAGES = 16384  # images analysed or decoded together: bounds memory, amortises numpy calls


def _require_constriction(path: Path) -> None:
    if constriction is None:
        raise TokenStoreError(path, "the 'constriction' package is needed to read or write token stores "
                                    "(pip install 'constriction>=0.5,<0.6')")


def _str_keys(value: Any) -> bool:
    """No dict inside `value` has a non-str key (json.dumps would silently turn 1 into "1")."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _str_keys(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_str_keys(v) for v in value)
    return True


def _valid_candidates(candidates: tuple) -> bool:
    return (0 < len(candidates) <= MAX_CANDIDATES and len(set(candidates)) == len(candidates)
            and all(isinstance(c, str) and c in NEIGHBOURS for c in candidates))


def _label_dtype(num_classes: int) -> str:
    """The smallest unsigned type that holds every label."""
    for dtype in ("<u1", "<u2", "<u4"):
        if num_classes <= np.iinfo(dtype).max + 1:
            return dtype
    return "<u8"


# ----------------------------------------------------------------------------------------------
# Writing


def _check_int(path: Path, name: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TokenStoreError(path, f"{name} must be an int, got {type(value).__name__}")
    if value < low or (high is not None and value > high):
        raise TokenStoreError(path, f"{name} must be in [{low}, {high if high is not None else 'inf'}], got {value}")
    return int(value)


def require_not_a_directory(path: Path) -> None:
    """A directory where a store is read or written is named (open() would say IsADirectoryError)."""
    if path.is_dir():
        raise TokenStoreError(path, "a directory, not a .tokens file")


def write_store(path: str | Path, ids: np.ndarray, labels: np.ndarray, codebook_size: int,
                num_classes: int, tokenizer_hash: str, metadata: dict | None = None,
                chunk_size: int = 256, candidates: tuple[str, ...] = DEFAULT_CANDIDATES) -> None:
    """Write a tokenized split to `path` (suffix `.tokens` by convention), atomically.

    ids: integer array (N, H, W) with values in [0, codebook_size); labels: integer array (N,)
    in [0, num_classes); tokenizer_hash names the tokenizer that made the ids; metadata is any
    JSON-able dict. Images are coded in chunks of `chunk_size`: reading one image decodes its
    chunk. Everything is checked before the file is touched (TokenStoreError, a ValueError).
    """
    path = Path(path)
    _require_constriction(path)
    require_not_a_directory(path)
    ids, labels = np.asarray(ids), np.asarray(labels)
    K = _check_int(path, "codebook_size", codebook_size, 1, MAX_CODEBOOK_SIZE)
    num_classes = _check_int(path, "num_classes", num_classes, 1)
    chunk_size = _check_int(path, "chunk_size", chunk_size, 1)
    if ids.ndim != 3 or not np.issubdtype(ids.dtype, np.integer) or 0 in ids.shape[1:]:
        raise TokenStoreError(path, f"ids must be an integer array (N, H, W) with H, W >= 1, got {ids.dtype} {ids.shape}")
    N, H, W = ids.shape
    if ids.size and (ids.min() < 0 or ids.max() >= K):
        raise TokenStoreError(path, f"ids must be in [0, {K}) (codebook_size), found values in "
                                    f"[{ids.min()}, {ids.max()}]")
    if labels.shape != (N,) or not (np.issubdtype(labels.dtype, np.integer) or N == 0):
        raise TokenStoreError(path, f"labels must be an integer array of shape ({N},) (one per image), "
                                    f"got {labels.dtype} {labels.shape}")
    if N and (labels.min() < 0 or labels.max() >= num_classes):
        raise TokenStoreError(path, f"labels must be in [0, {num_classes}) (num_classes), found values in "
                                    f"[{labels.min()}, {labels.max()}]")
    if not isinstance(tokenizer_hash, str):
        raise TokenStoreError(path, f"tokenizer_hash must be a str, got {type(tokenizer_hash).__name__}")
    metadata = {} if metadata is None else metadata
    try:  # it must read back as written (tuples excepted, which JSON turns into lists)
        ok = isinstance(metadata, dict) and _str_keys(metadata)
        metadata = json.loads(json.dumps(metadata, allow_nan=False))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise TokenStoreError(path, "metadata must be a JSON-able dict: str keys; str, int, float (finite), "
                                    "bool, None, lists, tuples and such dicts as values")
    candidates = tuple(candidates)
    if not _valid_candidates(candidates):
        raise TokenStoreError(path, f"candidates must be 1 to {MAX_CANDIDATES} distinct names from "
                                    f"{sorted(NEIGHBOURS)}, got {candidates}")

    model = EntropyModel.fit(ids, K, (H, W), candidates, group=_GROUP_IMAGES)
    layout = model.layout
    chunks, table = [], np.zeros((N + chunk_size - 1) // chunk_size, _CHUNK_TABLE)
    for j, start in enumerate(range(0, N, chunk_size)):
        data = model.encode_chunk(ids[start:start + chunk_size].reshape(-1, layout.P))
        chunks.append(data)
        table[j] = (len(data), zlib.crc32(data))

    label_dtype = _label_dtype(num_classes)
    info = {
        "num_images": N, "grid": [H, W], "codebook_size": K, "num_classes": num_classes,
        "tokenizer_hash": tokenizer_hash, "metadata": metadata, "chunk_size": chunk_size,
        "label_dtype": label_dtype,
        "coder": {"name": CODER_NAME, "candidates": list(candidates), "context": model.layout.context_name},
    }
    text = json.dumps(info, sort_keys=True, allow_nan=False).encode()
    binary = labels.astype(label_dtype).tobytes() + model.to_bytes() + table.tobytes()
    header = _JSON_LEN.pack(len(text)) + text + zlib.compress(binary, 9)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(_PREAMBLE.pack(MAGIC, VERSION, len(header), zlib.crc32(header)))
        f.write(header)
        for data in chunks:
            f.write(data)


# ----------------------------------------------------------------------------------------------
# Reading


class TokenStore:
    """Read side of a `.tokens` file: header in memory, chunks read and checked on demand.

    Attributes: num_images N, grid (H, W), codebook_size K, num_classes, tokenizer_hash,
    metadata (dict), labels (int64 (N,)), file_size and payload_bytes (bytes).
    `store[i]` is image i as uint16 (H, W); `store.read_all()` all of them as uint16 (N, H, W).
    """

    def __init__(self, path: Path, info: dict, labels: np.ndarray, model: EntropyModel,
                 table: np.ndarray, payload_offset: int, file_size: int):
        self.path = path
        self.num_images: int = info["num_images"]
        self.grid: tuple[int, int] = tuple(info["grid"])
        self.codebook_size: int = info["codebook_size"]
        self.num_classes: int = info["num_classes"]
        self.tokenizer_hash: str = info["tokenizer_hash"]
        self.metadata: dict = info["metadata"]
        self.chunk_size: int = info["chunk_size"]
        self.labels = labels
        self.file_size = file_size
        self.payload_bytes = int(table["nbytes"].sum())
        self._model = model
        self._table = table
        self._offsets = payload_offset + np.concatenate([[0], np.cumsum(table["nbytes"].astype(np.int64))])
        self._cached: tuple[int, np.ndarray] | None = None  # (chunk, ids): sequential reads decode once

    @classmethod
    def open(cls, path: str | Path) -> "TokenStore":
        """Read and validate the preamble and header (magic, version, checksum, consistency)."""
        path = Path(path)
        _require_constriction(path)
        require_not_a_directory(path)
        if not path.exists():  # said here, not as the errno of open()
            raise FileNotFoundError(f"{path}: no such token store")
        # An unreadable file raises the usual OSError (PermissionError, ...).
        with open(path, "rb") as f:
            preamble = f.read(_PREAMBLE.size)
            if not preamble:
                raise TokenStoreError(path, "empty file (not a token store, or truncated to 0 bytes)")
            if len(preamble) < len(MAGIC) and MAGIC.startswith(preamble):
                raise TokenStoreError(path, f"truncated: {len(preamble)} bytes, not even the magic number")
            if preamble[:len(MAGIC)] != MAGIC:
                raise TokenStoreError(path, "not a token store (wrong magic number)")
            if len(preamble) < _PREAMBLE.size:
                raise TokenStoreError(path, f"truncated in the preamble ({len(preamble)} of {_PREAMBLE.size} bytes)")
            _, version, header_len, header_crc = _PREAMBLE.unpack(preamble)
            if version != VERSION:
                raise TokenStoreError(path, f"unsupported format version {version} (this reader knows {VERSION})")
            file_size = f.seek(0, 2)
            if header_len > file_size - _PREAMBLE.size:
                raise TokenStoreError(path, f"truncated in the header ({file_size - _PREAMBLE.size} of {header_len} bytes)")
            f.seek(_PREAMBLE.size)
            header = f.read(header_len)
        if zlib.crc32(header) != header_crc:
            raise TokenStoreError(path, "header checksum mismatch: the file is corrupted")
        try:
            store = cls._from_header(path, header, _PREAMBLE.size + header_len, file_size)
        except TokenStoreError:
            raise
        except Exception as e:  # a header with a valid checksum but inconsistent content
            raise TokenStoreError(path, f"corrupted header ({type(e).__name__}: {e})") from None
        end = int(store._offsets[-1])
        if file_size < end:
            raise TokenStoreError(path, f"truncated in the chunks ({file_size} of {end} bytes)")
        if file_size > end:
            raise TokenStoreError(path, f"{file_size - end} unexpected bytes after the last chunk")
        return store

    @classmethod
    def _from_header(cls, path: Path, header: bytes, payload_offset: int, file_size: int) -> "TokenStore":
        def check(ok: bool, problem: str) -> None:
            if not ok:
                raise TokenStoreError(path, f"corrupted header: {problem}")

        (json_len,) = _JSON_LEN.unpack_from(header)
        info = json.loads(header[_JSON_LEN.size:_JSON_LEN.size + json_len])
        check(isinstance(info, dict), "not a JSON object")
        ints = ("num_images", "codebook_size", "num_classes", "chunk_size")
        check(all(isinstance(info.get(k), int) for k in ints), "missing or non-integer sizes")
        N, K, chunk_size = info["num_images"], info["codebook_size"], info["chunk_size"]
        grid = info.get("grid")
        check(isinstance(grid, list) and len(grid) == 2 and all(isinstance(g, int) and g >= 1 for g in grid), "bad grid")
        check(N >= 0 and 1 <= K <= MAX_CODEBOOK_SIZE and info["num_classes"] >= 1 and chunk_size >= 1, "sizes out of range")
        check(isinstance(info.get("tokenizer_hash"), str) and isinstance(info.get("metadata"), dict), "bad hash or metadata")
        coder = info.get("coder")
        check(isinstance(coder, dict) and coder.get("name") == CODER_NAME, f"unknown coder {coder!r}")
        candidates = coder.get("candidates")
        check(isinstance(candidates, list) and _valid_candidates(tuple(candidates)), f"bad candidates {candidates!r}")
        check(coder.get("context") in ("left", "none"), f"bad context {coder.get('context')!r}")
        check(info.get("label_dtype") in ("<u1", "<u2", "<u4", "<u8"), "bad label dtype")

        layout = Layout(tuple(grid), tuple(candidates), coder["context"])
        num_chunks = (N + chunk_size - 1) // chunk_size
        read = ChunkReader(path, zlib.decompress(header[_JSON_LEN.size + json_len:]))
        labels = read.array(info["label_dtype"], N).astype(np.int64)
        check(N == 0 or labels.max() < info["num_classes"], "label out of range")
        model = EntropyModel.from_reader(layout, K, read)
        table = read.array(_CHUNK_TABLE, num_chunks)
        check(read.at == len(read.data), "unexpected bytes after the chunk table")
        check(bool(np.all(table["nbytes"] % 4 == 0)), "chunk length not a whole number of words")
        check(int(table["nbytes"].sum()) <= file_size, "chunks larger than the file")
        return cls(path, info, labels, model, table, payload_offset, file_size)

    # -- access --------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.num_images

    def __repr__(self) -> str:
        return (f"TokenStore({str(self.path)!r}: {self.num_images} images of {self.grid[0]}x{self.grid[1]} "
                f"tokens, K={self.codebook_size}, {self.num_classes} classes, {self.bits_per_token():.2f} bits/token)")

    def __getitem__(self, index: int) -> np.ndarray:
        """Image `index` (negative counts from the end) -> uint16 (H, W). Decodes its chunk once."""
        i = operator.index(index)
        if i < 0:
            i += self.num_images
        if not 0 <= i < self.num_images:
            raise IndexError(f"image index {index} out of range for {self.path} with {self.num_images} images")
        chunk = i // self.chunk_size
        if self._cached is None or self._cached[0] != chunk:
            self._cached = (chunk, self._decode(chunk, chunk + 1))
        return self._cached[1][i - chunk * self.chunk_size].copy()  # a copy: callers may write to it

    def read_all(self) -> np.ndarray:
        """All images -> uint16 (N, H, W)."""
        out = np.empty((self.num_images, *self.grid), np.uint16)
        num_chunks = len(self._table)
        group = max(1, _GROUP_IMAGES // self.chunk_size)  # chunks decoded together
        for first in range(0, num_chunks, group):
            last = min(first + group, num_chunks)
            out[first * self.chunk_size:last * self.chunk_size] = self._decode(first, last)
        return out

    def bits_per_token(self) -> float:
        """Bits of coded payload per token (header and labels excluded; see file_size for all)."""
        tokens = self.num_images * self.grid[0] * self.grid[1]
        return 8 * self.payload_bytes / tokens if tokens else 0.0

    def _decode(self, first: int, last: int) -> np.ndarray:
        """Chunks [first, last) -> uint16 (n, H, W), after checking their checksums."""
        start, end = int(self._offsets[first]), int(self._offsets[last])
        with open(self.path, "rb") as f:
            f.seek(start)
            data = f.read(end - start)
        if len(data) != end - start:
            raise TokenStoreError(self.path, f"truncated: chunks {first}..{last - 1} end at byte {end}, the file "
                                             f"ends before (changed since it was opened?)")
        words, sizes = [], []
        for j in range(first, last):
            blob = data[int(self._offsets[j]) - start:int(self._offsets[j + 1]) - start]
            if zlib.crc32(blob) != self._table["crc"][j]:
                raise TokenStoreError(self.path, f"chunk {j} ({self._images(j)}) checksum mismatch: the file is corrupted")
            words.append(np.frombuffer(blob, "<u4").astype(np.uint32))
            sizes.append(min(self.chunk_size, self.num_images - j * self.chunk_size))
        try:
            ids = self._model.decode_chunks(words, sizes)
        except ChunkError as e:
            j = first + e.chunk
            raise TokenStoreError(self.path, f"chunk {j} ({self._images(j)}) is corrupted: {e.problem}") from None
        return ids.reshape(-1, *self.grid).astype(np.uint16)

    def _images(self, chunk: int) -> str:
        first = chunk * self.chunk_size
        return f"images {first}..{min(first + self.chunk_size, self.num_images) - 1}"

    # Pickling (DataLoader workers): the constriction models are rebuilt from the counts.
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        model = state.pop("_model")
        state["_model_state"] = (model.layout, model.codebook_size, model.mode_levels, model.row_len,
                                 model.row_ids, model.row_levels, model.rank_levels)
        state["_cached"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        model_state = state.pop("_model_state")
        self.__dict__.update(state)
        self._model = EntropyModel(*model_state)
