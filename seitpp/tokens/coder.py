"""The entropy model of a `.tokens` store (see `seitpp.tokens.store`): stored probabilities, the
palette-rank layout, and the byte-level readers that name a corrupted file."""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seitpp.files import FileProblem

try:  # the coder is needed to read or write a store, not to import the package
    import constriction
except ImportError:  # pragma: no cover - reported when a store is used
    constriction = None


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


class Layout:
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
class EntropyModel:
    """The probabilities of a store, as stored in its header, and the coders built from them."""

    layout: Layout
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
    def fit(cls, ids: np.ndarray, K: int, grid: tuple[int, int], candidates: tuple[str, ...], group: int) -> "EntropyModel":
        """The model for ids (N, H, W): counts modes and the (left neighbour, id) pairs of "other"
        tokens, and picks the rank lists by left neighbour or a single order-0 list, whichever
        makes the smaller file (lists by neighbour pay for their header only on larger splits)."""
        layout = Layout(grid, candidates, "left")
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
        order0 = cls.from_pairs(Layout(grid, candidates, "none"), K, mode_levels, K * K + ids0,
                                np.bincount(where, weights=counts).astype(np.int64))
        return min([by_left, order0], key=lambda pair: pair[1])[0]

    @classmethod
    def from_pairs(cls, layout: Layout, K: int, mode_levels: np.ndarray, keys: np.ndarray,
                   counts: np.ndarray) -> tuple["EntropyModel", float]:
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
        Raises ChunkError(j) when chunk j does not decode to exactly its tokens (only possible
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
                    raise ChunkError(int(chunk[bad[0]]), "a rank past the end of its list")
                vals.ravel()[other] = self.ranked_ids[self.row_start[ctx] + rank]
            out[positions] = vals
        for j, coder in enumerate(coders):
            if not coder.is_empty():
                raise ChunkError(j, "data left over after decoding all its tokens")
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
    def from_reader(cls, layout: Layout, K: int, read: "ChunkReader") -> "EntropyModel":
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


class ChunkReader:
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


class ChunkError(Exception):
    def __init__(self, chunk: int, problem: str):
        self.chunk, self.problem = chunk, problem


def _guard(chunk: int, decode):
    """Run a constriction call; any failure becomes ChunkError(chunk) instead of escaping."""
    try:
        return decode()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # noqa: BLE001 - a Rust panic arrives as a BaseException
        raise ChunkError(chunk, f"cannot decode ({type(e).__name__}: {e})") from None
