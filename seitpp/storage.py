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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seitpp.files import FileProblem, atomic_path

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

# Candidate neighbours a token may copy, as (row, column) offsets: earlier rows, or further left.
NEIGHBOURS: dict[str, tuple[int, int]] = {
    "left": (0, -1), "up": (-1, 0), "up_left": (-1, -1), "up_right": (-1, 1),
    "left2": (0, -2), "up2": (-2, 0),
}
DEFAULT_CANDIDATES: tuple[str, ...] = ("left", "up", "up_right", "up_left")
MAX_CANDIDATES = 4  # the mode context has 2^(C + C(C-1)/2) codes: 1024 for 4 candidates


class TokenStoreError(FileProblem):
    """A token store that cannot be written or read: carries `.path` and `.problem`."""

    kind = "token store"


# ----------------------------------------------------------------------------------------------
# Stored probabilities: counts become uint8 "levels" on a log scale (1/8 octave, so a weight is
# off by at most 4.4%, which costs ~0.001 bits/symbol). Weights are rebuilt from levels with
# integer arithmetic only, so every machine builds bit-identical models from a file.

_MANTISSA = np.array([65536, 71468, 77936, 84990, 92682, 101070, 110218, 120194], np.int64)  # 2^16 * 2^(b/8)


def _levels(counts: np.ndarray) -> np.ndarray:
    """Counts >= 0 -> uint8 levels: 0 for 0, else 1 + round(8 log2 count), at most 255."""
    counts = np.asarray(counts, np.float64)
    level = 1 + np.rint(8 * np.log2(np.maximum(counts, 1)))
    return np.where(counts > 0, np.minimum(level, 255), 0).astype(np.uint8)


def _weights(levels: np.ndarray) -> np.ndarray:
    """uint8 levels -> float64 weights, exact integers (at most 2^48)."""
    v = levels.astype(np.int64) - 1
    return np.where(levels > 0, _MANTISSA[v % 8] << np.maximum(v // 8, 0), 0).astype(np.float64)


def _bit_length(a: np.ndarray) -> np.ndarray:
    """Exact int.bit_length of non-negative integers, elementwise (floor(log2 a) + 1; 0 for 0)."""
    return np.searchsorted(np.int64(1) << np.arange(63, dtype=np.int64), np.asarray(a, np.int64), "right")


def _categorical(weights: np.ndarray):
    """A constriction model over len(weights) symbols. constriction needs >= 2 symbols and a
    normalisable table: pad with a zero, and give a never-used all-zero table uniform weights
    (only a damaged stream could ask it for a symbol, and must then fail cleanly)."""
    w = np.zeros(max(len(weights), 2))
    w[:len(weights)] = weights
    if w.sum() == 0:
        w[:] = 1.0
    return constriction.stream.model.Categorical(w, perfect=False)


# ----------------------------------------------------------------------------------------------
# The model: grid geometry, statistics, and coding of chunks


class _Layout:
    """Where each token's neighbours are, and in which waves tokens are decoded.

    Positions are flattened (p = row * W + col, P = H * W positions); a neighbour outside the
    grid points at the extra position P, which always holds the sentinel value K.
    """

    def __init__(self, grid: tuple[int, int], candidates: tuple[str, ...], context: str = "left"):
        H, W = grid
        self.P, self.C, self.context_name = H * W, len(candidates), context
        row, col = np.divmod(np.arange(self.P), W)

        def position(dr: int, dc: int) -> np.ndarray:  # (P,) position of each token's neighbour
            r, c = row + dr, col + dc
            return np.where((r >= 0) & (c >= 0) & (c < W), r * W + c, self.P)

        self.neighbour = np.stack([position(*NEIGHBOURS[n]) for n in candidates], 1)  # (P, C)
        # The rank list of an "other" id is chosen by its left neighbour; by the up neighbour in
        # the first column; by the sentinel K in the first position. With context "none", all
        # tokens share the list of row K: an order-0 model, whose header is much smaller.
        left, up = position(0, -1), position(-1, 0)
        self.context = np.where(left < self.P, left, up) if context == "left" else np.full(self.P, self.P)
        # Wave t = a * row + col. A neighbour (row - dr, col + dc) with dr >= 1 is on an earlier
        # wave when a * dr > dc, so a = 1 + the largest column step to the right.
        a = 1 + max([dc for dr, dc in (NEIGHBOURS[n] for n in candidates) if dr < 0] + [0])
        wave = a * row + col
        self.waves = [np.flatnonzero(wave == t) for t in range(int(wave.max()) + 1)]
        # The context of a mode, as one integer "class code": bit j says candidate j is outside
        # the grid (fixed per position), the bits above say which pairs of candidates are equal.
        pairs = [(i, j) for i in range(self.C) for j in range(i)]
        self.pair_i = np.array([i for i, _ in pairs], np.int64)
        self.pair_j = np.array([j for _, j in pairs], np.int64)
        self.num_codes = 1 << (self.C + len(pairs))
        outside = self.neighbour == self.P
        self.static_code = (outside.astype(np.int64) << np.arange(self.C)).sum(1)  # (P,)

    def class_codes(self, cand: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Candidate ids (L, C, n) at `positions` (L,) -> class codes (L, n) int64."""
        code = np.repeat(self.static_code[positions][:, None], cand.shape[2], 1)
        for k, (i, j) in enumerate(zip(self.pair_i, self.pair_j)):
            code += (cand[:, i] == cand[:, j]) * np.int64(1 << (self.C + k))
        return code

    def analyse(self, ids: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ids (P, n) int64, position-major -> class code, mode and context id, each (P, n);
        mode C means "other"."""
        padded = np.concatenate([ids, np.full((1, ids.shape[1]), K, ids.dtype)])
        cand = padded[self.neighbour]  # (P, C, n)
        match = cand == ids[:, None, :]  # the sentinel K never matches an id < K
        mode = np.where(match.any(1), match.argmax(1), self.C)  # argmax: the first match
        return self.class_codes(cand, np.arange(self.P)), mode, padded[self.context]


def _rank_lists(row_len: np.ndarray, row_ids: np.ndarray, row_levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rank lists, stored as ids ascending per row with a level each -> (ids in rank order, the
    rank of each stored entry). Rank order: level descending, then id ascending."""
    row_of = np.repeat(np.arange(len(row_len)), row_len)
    # Entries come grouped by row with ids ascending, so a stable sort by (row, -level) keeps
    # equal levels in id order (and timsort is fast on this nearly sorted key).
    order = np.argsort(row_of * 256 + (255 - row_levels.astype(np.int64)), kind="stable")
    row_start = np.concatenate([[0], np.cumsum(row_len)])
    rank = np.empty(len(row_ids), np.int64)
    rank[order] = np.arange(len(row_ids)) - row_start[row_of[order]]
    return row_ids[order], rank


@dataclass
class _Model:
    """The probabilities of a store, as stored in its header, and the coders built from them."""

    layout: _Layout
    codebook_size: int
    mode_levels: np.ndarray  # (num_codes, C + 1) uint8: mode given class code
    row_len: np.ndarray  # (K + 1,) int64: length of each context id's rank list (K: no context)
    row_ids: np.ndarray  # (E,) int64: the lists' ids, ascending within each list
    row_levels: np.ndarray  # (E,) uint8 >= 1: bit length of how often each (context, id) occurs
    rank_levels: np.ndarray  # (Q, R) uint8: rank given the class (bit length) of its list length

    def __post_init__(self):
        K = self.codebook_size
        self.row_start = np.concatenate([[0], np.cumsum(self.row_len)])  # (K + 2,)
        self.ranked_ids, self.rank_of_entry = _rank_lists(self.row_len, self.row_ids, self.row_levels)
        self.entry_key = np.repeat(np.arange(K + 1), self.row_len) * K + self.row_ids  # ascending
        self.row_class = _bit_length(self.row_len)  # (K + 1,) in [0, Q)
        rows = _weights(self.mode_levels)
        rows[rows.sum(1) == 0] = 1.0  # unused class codes: see _categorical
        self.mode_rows = rows
        self.mode_family = constriction.stream.model.Categorical(perfect=False)
        self.rank_models = [_categorical(_weights(levels)) for levels in self.rank_levels]

    @staticmethod
    def num_rank_classes(K: int) -> int:
        return int(K).bit_length() + 1  # list lengths are in [0, K]

    @classmethod
    def fit(cls, ids: np.ndarray, K: int, grid: tuple[int, int], candidates: tuple[str, ...], group: int) -> "_Model":
        """The model for ids (N, H, W): counts modes and the (left neighbour, id) pairs of "other"
        tokens, and picks the rank lists by left neighbour or a single order-0 list, whichever
        makes the smaller file (lists by neighbour pay for their header only on larger splits)."""
        layout = _Layout(grid, candidates, "left")
        C = layout.C
        mode_counts = np.zeros(layout.num_codes * (C + 1), np.int64)
        pair_keys, pair_counts = [], []
        for start in range(0, len(ids), group):  # in groups: (n, P, C) temporaries stay small
            flat = ids[start:start + group].reshape(-1, layout.P).T.astype(np.int64)  # (P, n)
            code, mode, context = layout.analyse(flat, K)
            mode_counts += np.bincount((code * (C + 1) + mode).ravel(), minlength=mode_counts.size)
            other = mode == C
            keys, counts = np.unique(context[other] * K + flat[other], return_counts=True)
            pair_keys.append(keys)
            pair_counts.append(counts)
        keys, where = np.unique(np.concatenate(pair_keys or [np.zeros(0, np.int64)]), return_inverse=True)
        counts = np.bincount(where, weights=np.concatenate(pair_counts or [np.zeros(0)])).astype(np.int64)
        mode_levels = _levels(mode_counts.reshape(-1, C + 1))
        by_left = cls.from_pairs(layout, K, mode_levels, keys, counts)
        # Order-0: the same "other" ids, all in row K.
        ids0, where = np.unique(keys % K, return_inverse=True)
        order0 = cls.from_pairs(_Layout(grid, candidates, "none"), K, mode_levels, K * K + ids0,
                                np.bincount(where, weights=counts).astype(np.int64))
        return min([by_left, order0], key=lambda pair: pair[1])[0]

    @classmethod
    def from_pairs(cls, layout: _Layout, K: int, mode_levels: np.ndarray, keys: np.ndarray,
                   counts: np.ndarray) -> tuple["_Model", float]:
        """Rank lists from the counts (E,) of the pairs keys = context * K + id (E,), ascending
        -> (model, estimated bytes of its ranks and header block; the modes cost the same in
        every model)."""
        row_of, row_ids = np.divmod(keys, K)
        row_len = np.bincount(row_of, minlength=K + 1)
        row_levels = _bit_length(counts).astype(np.uint8)
        # Every occurrence of a pair is coded as its rank in the pair's list: count the ranks.
        _, rank = _rank_lists(row_len, row_ids, row_levels)
        Q, R = cls.num_rank_classes(K), int(row_len.max())
        rank_counts = np.bincount(_bit_length(row_len)[row_of] * R + rank, weights=counts, minlength=Q * R)
        rank_levels = _levels(rank_counts.reshape(Q, R))
        model = cls(layout, K, mode_levels, row_len, row_ids, row_levels, rank_levels)
        p = _weights(rank_levels)
        p /= np.maximum(p.sum(1, keepdims=True), 1)
        used = rank_counts.reshape(Q, R) > 0
        rank_bits = -(rank_counts.reshape(Q, R)[used] * np.log2(p[used])).sum()
        return model, rank_bits / 8 + len(zlib.compress(model.to_bytes(), 9))

    def encode_chunk(self, flat: np.ndarray) -> bytes:
        """Ids (n, P) of one chunk -> its rANS words as little-endian bytes.

        Per wave the decoder reads the modes of the wave's tokens (position-major: all images'
        tokens at the wave's first position, then at its second, ...), then the ranks of its
        "other" tokens, grouped by rank class; rANS is a stack, so the encoder pushes in reverse.
        """
        lay, K = self.layout, self.codebook_size
        ids = flat.T.astype(np.int64)  # (P, n)
        code, mode, context = lay.analyse(ids, K)
        coder = constriction.stream.stack.AnsCoder()
        for w in reversed(lay.waves):
            other = mode[w] == lay.C  # (L, n)
            ctx = context[w][other]
            rank = self.rank_of_entry[np.searchsorted(self.entry_key, ctx * K + ids[w][other])]
            rank_class = self.row_class[ctx]
            for q in np.unique(rank_class)[::-1]:
                coder.encode_reverse(rank[rank_class == q].astype(np.int32), self.rank_models[q])
            coder.encode_reverse(mode[w].ravel().astype(np.int32), self.mode_family, self.mode_rows[code[w].ravel()])
        return coder.get_compressed().astype("<u4").tobytes()

    def decode_chunks(self, words: list[np.ndarray], sizes: list[int]) -> np.ndarray:
        """Decode several chunks together -> ids (sum(sizes), P) int32.

        words[j] are chunk j's rANS words, sizes[j] its number of images (>= 1). The numpy work
        of a wave is done for all chunks at once; only the coder calls go chunk by chunk.
        Raises _ChunkError(j) when chunk j does not decode to exactly its tokens (only possible
        for a damaged file that still passed the checksum).
        """
        lay, K, C = self.layout, self.codebook_size, self.layout.C
        Q = self.num_rank_classes(K)
        coders = [constriction.stream.stack.AnsCoder(w) for w in words]
        bounds = np.concatenate([[0], np.cumsum(sizes)]).tolist()  # chunk j: images bounds[j]..bounds[j+1]
        chunk_of_image = np.repeat(np.arange(len(words)), sizes)
        n = bounds[-1]
        # Position-major (P + 1, n), so that a wave gathers whole rows; row P: the outside sentinel.
        out = np.full((lay.P + 1, n), K, np.int32)
        for positions in lay.waves:
            L = len(positions)
            cand = out[lay.neighbour[positions]]  # (L, C, n): all on earlier waves
            code = lay.class_codes(cand, positions)  # (L, n)
            mode = np.empty((L, n), np.int32)
            for j, coder in enumerate(coders):
                a, b = bounds[j], bounds[j + 1]
                rows = self.mode_rows[code[:, a:b].ravel()]  # (L * (b - a), C + 1)
                mode[:, a:b] = _guard(j, lambda: coder.decode(self.mode_family, rows)).reshape(L, b - a)
            vals = np.take_along_axis(cand, np.minimum(mode, C - 1)[:, None, :], 1)[:, 0]  # (L, n)
            other = np.flatnonzero(mode == C)  # flat indices into (L, n)
            if len(other):
                ctx = out[lay.context[positions]].ravel()[other]
                chunk = chunk_of_image[other % n]
                # Each chunk's ranks come in groups of one rank class: sort the tokens that way.
                group = chunk * Q + self.row_class[ctx]
                order = np.argsort(group, kind="stable")
                keys, counts = np.unique(group[order], return_counts=True)
                rank = np.empty(len(other), np.int64)
                rank[order] = np.concatenate([
                    _guard(k // Q, lambda: coders[k // Q].decode(self.rank_models[k % Q], m))
                    for k, m in zip(keys.tolist(), counts.tolist())])
                bad = np.flatnonzero(rank >= self.row_len[ctx])
                if len(bad):
                    raise _ChunkError(int(chunk[bad[0]]), "a rank past the end of its list")
                vals.ravel()[other] = self.ranked_ids[self.row_start[ctx] + rank]
            out[positions] = vals
        for j, coder in enumerate(coders):
            if not coder.is_empty():
                raise _ChunkError(j, "data left over after decoding all its tokens")
        # Every id came from a rank list (checked < K at open) or is a copy of one: all in [0, K).
        return out[:lay.P].T  # (n, P)

    # -- header serialisation --------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """Mode levels, rank lists (lengths, id gaps, levels) and rank levels, uncompressed."""
        starts = self.row_start[:-1][self.row_len > 0]
        first = np.zeros(len(self.row_ids), bool)
        first[starts] = True
        previous = np.concatenate([[-1], self.row_ids[:-1]])
        gaps = np.where(first, self.row_ids, self.row_ids - previous - 1)  # in [0, K)
        small = np.minimum(gaps, 255).astype(np.uint8)  # 255: the gap follows as a u16
        return b"".join([self.mode_levels.tobytes(), self.row_len.astype("<u4").tobytes(), small.tobytes(),
                         gaps[gaps >= 255].astype("<u2").tobytes(), self.row_levels.astype(np.uint8).tobytes(),
                         np.array(self.rank_levels.shape[1], "<u4").tobytes(), self.rank_levels.tobytes()])

    @classmethod
    def from_reader(cls, layout: _Layout, K: int, read: "_Reader") -> "_Model":
        """Inverse of to_bytes, checking every field (a header that passed its checksum can still
        have been written wrongly)."""
        mode_levels = read.array(np.uint8, layout.num_codes * (layout.C + 1)).reshape(-1, layout.C + 1)
        row_len = read.array("<u4", K + 1).astype(np.int64)
        read.check(bool(np.all(row_len <= K)), "rank list longer than the codebook")
        E = int(row_len.sum())
        small = read.array(np.uint8, E).astype(np.int64)
        gaps = small.copy()
        gaps[small == 255] = read.array("<u2", int(np.count_nonzero(small == 255)))
        row_start = np.concatenate([[0], np.cumsum(row_len)])
        # ids: the first of each list is its gap, each next one is previous + gap + 1
        step = gaps + 1
        step[row_start[:-1][row_len > 0]] -= 1
        total = np.cumsum(step)
        row_ids = total - np.repeat(np.concatenate([[0], total])[row_start[:-1]], row_len)
        read.check(bool(np.all(row_ids < K)), "rank list id outside the codebook")
        row_levels = read.array(np.uint8, E)
        read.check(bool(np.all(row_levels >= 1)), "zero level in a rank list")
        R = int(read.array("<u4", 1)[0])
        read.check(R == (int(row_len.max()) if E else 0), "rank table width")
        Q = cls.num_rank_classes(K)
        rank_levels = read.array(np.uint8, Q * R).reshape(Q, R)
        return cls(layout, K, mode_levels, row_len, row_ids, row_levels, rank_levels)


class _Reader:
    """Reads consecutive arrays from a byte string, failing with TokenStoreError if it runs short."""

    def __init__(self, path: Path, data: bytes):
        self.path, self.data, self.at = path, data, 0

    def check(self, ok: bool, problem: str) -> None:
        if not ok:
            raise TokenStoreError(self.path, f"corrupted header: {problem}")

    def array(self, dtype, count: int) -> np.ndarray:
        size = np.dtype(dtype).itemsize * count
        self.check(self.at + size <= len(self.data), "binary block too short")
        out = np.frombuffer(self.data, dtype, count, self.at)
        self.at += size
        return out


class _ChunkError(Exception):
    def __init__(self, chunk: int, problem: str):
        self.chunk, self.problem = chunk, problem


def _guard(chunk: int, decode):
    """Run a constriction call; any failure becomes _ChunkError(chunk) instead of escaping."""
    try:
        return decode()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # noqa: BLE001 - a Rust panic arrives as a BaseException
        raise _ChunkError(chunk, f"cannot decode ({type(e).__name__}: {e})") from None


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

    model = _Model.fit(ids, K, (H, W), candidates, group=_GROUP_IMAGES)
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

    def __init__(self, path: Path, info: dict, labels: np.ndarray, model: _Model,
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
        # A missing or unreadable file raises the usual OSError (FileNotFoundError, ...).
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

        layout = _Layout(tuple(grid), tuple(candidates), coder["context"])
        num_chunks = (N + chunk_size - 1) // chunk_size
        read = _Reader(path, zlib.decompress(header[_JSON_LEN.size + json_len:]))
        labels = read.array(info["label_dtype"], N).astype(np.int64)
        check(N == 0 or labels.max() < info["num_classes"], "label out of range")
        model = _Model.from_reader(layout, K, read)
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
        except _ChunkError as e:
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
        self._model = _Model(*model_state)
