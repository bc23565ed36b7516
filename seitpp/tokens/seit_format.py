"""SeiT's token files: read and write a split of images stored as VQ token ids.

Each image is a sequence of L token ids (SeiT: 32x32 = 1024 ids, ours: 16x16 = 256), row-major.
A split `<split>` of N images is three files in one directory:

- `<split>-token.data.bin.gz`: gzip of one byte stream with all images' ids back to back.
  An id below 255 is one byte; an id of 255 or more is two bytes, 255 then (id - 255).
  The second byte must itself stay below 255, or it would read as another escape byte, so
  ids go up to 509 and codebooks up to 510 codes (SeiT uses 391).
- `<split>-token.index.npy.gz`: gzip of a `.npy` file holding int64 byte offsets (N + 1,)
  into the decompressed stream: image i is bytes offsets[i]:offsets[i + 1].
- `<split>-label.txt`: one integer class label per line, N lines.

The encoding is canonical (every id sequence has exactly one byte stream), so reading a split
and writing it back gives the same decompressed stream and the same offsets. Our writer's gzip
is reproducible too: the same tokens always give the same bytes (for a given zlib).

Everything that can be wrong in a file is reported as a TokenFileError naming the file;
the decoder is vectorised numpy (no per-byte Python loop).

Each file is replaced atomically, but the three together are not: a crash between two renames
leaves a mix of old and new files. The reader then almost always reports the index and data as
not belonging together, but a mix of equally long old and new splits could go unnoticed.
"""
from __future__ import annotations

import gzip
import io
import math
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from seitpp.files import atomic_path

ESCAPE = 255
"""First byte of a two-byte id."""
MAX_CODEBOOK_SIZE = 2 * ESCAPE
"""510: the largest id, 255 + 254, keeps its second byte below the escape byte."""
SEIT_CODEBOOK_SIZE = 391
"""The codebook size of SeiT's release (and ours)."""

_DECODE_CHUNK_BYTES = 1 << 22  # decode ~4 MB of stream at a time: bounds the temporaries on ImageNet-sized splits


class TokenFileError(ValueError):
    """A token file that is missing, damaged or inconsistent. The message names the file and the problem."""


@dataclass
class SeitSplit:
    """One split as read from SeiT's files.

    ids: uint16 (N, L), row-major token ids of each image (every image must have the same length L).
    labels: int64 (N,), class label of each image.
    """

    ids: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def grid(self) -> np.ndarray:
        """ids as square grids: uint16 (N, s, s) with s * s = L (a view, no copy)."""
        side = math.isqrt(self.ids.shape[1])
        if side * side != self.ids.shape[1]:
            raise ValueError(f"{self.ids.shape[1]} ids per image do not form a square grid")
        return self.ids.reshape(len(self.ids), side, side)


class SplitFiles(NamedTuple):
    """The three file paths of one split."""

    data: Path
    index: Path
    labels: Path


def seit_split_files(directory: str | Path, split: str) -> SplitFiles:
    """Paths of split `split` in `directory`, named as in SeiT's release."""
    if not split or "/" in split or "\\" in split:
        raise ValueError(f"split must be a plain name such as 'train', got {split!r}")
    directory = Path(directory)
    return SplitFiles(
        data=directory / f"{split}-token.data.bin.gz",
        index=directory / f"{split}-token.index.npy.gz",
        labels=directory / f"{split}-label.txt",
    )


def _check_codebook_size(codebook_size: int) -> None:
    if not 1 <= codebook_size <= MAX_CODEBOOK_SIZE:
        raise ValueError(
            f"codebook_size {codebook_size} is not supported: SeiT's byte format stores ids up to "
            f"{MAX_CODEBOOK_SIZE - 1}, so at most {MAX_CODEBOOK_SIZE} codes"
        )


# ---------------------------------------------------------------------------
# The byte stream: encode and decode, vectorised
# ---------------------------------------------------------------------------


def _as_id_matrix(ids: np.ndarray) -> np.ndarray:
    """Integer ids (N, L) or (N, H, W) -> (N, L) row-major; a ValueError for anything else."""
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":  # floats or bools would be silently truncated: refuse them
        raise ValueError(f"ids must be an integer array, got dtype {ids.dtype}")
    if ids.ndim not in (2, 3):
        raise ValueError(f"ids must have shape (N, L) or (N, H, W), got {ids.shape}")
    return ids.reshape(len(ids), math.prod(ids.shape[1:]))  # not -1: that fails for N = 0


def _first_out_of_range(ids: np.ndarray, limit: int) -> str | None:
    """Where the first id outside [0, limit) of ids (N, L) is, in words; None when all are inside."""
    bad = (ids < 0) | (ids >= limit)
    if not bad.any():
        return None
    i, j = np.unravel_index(np.argmax(bad), bad.shape)
    return f"image {i} holds id {ids[i, j]} at position {j}"


def encode_ids(ids: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Encode token ids into SeiT's byte stream.

    ids: integer (N, L) or (N, H, W), every id in [0, 509].
    Returns (stream, offsets): the bytes of all images back to back, and int64 offsets (N + 1,)
    with image i at stream[offsets[i]:offsets[i + 1]].
    """
    ids = _as_id_matrix(ids)
    where = _first_out_of_range(ids, MAX_CODEBOOK_SIZE)
    if where is not None:
        raise ValueError(f"ids must lie in [0, {MAX_CODEBOOK_SIZE - 1}] to be stored: {where}")
    flat = ids.reshape(-1).astype(np.int64)
    two = flat >= ESCAPE
    width = 1 + two  # bytes per id
    start = np.cumsum(width) - width  # where each id's first byte goes
    out = np.empty(int(width.sum()), dtype=np.uint8)
    out[start] = np.where(two, ESCAPE, flat)
    out[start[two] + 1] = flat[two] - ESCAPE
    per_image = width.reshape(ids.shape).sum(axis=1)
    offsets = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum(per_image, out=offsets[1:])
    return out.tobytes(), offsets


def _check_offsets(offsets: np.ndarray, stream_len: int, data_name: str, index_name: str) -> np.ndarray:
    """Offsets as int64 (N + 1,) after checking they cut a stream of stream_len bytes into images."""
    off = np.asarray(offsets)
    if off.dtype.kind not in "iu":
        raise TokenFileError(f"{index_name}: offsets have dtype {off.dtype}, expected integers (int64)")
    if off.ndim != 1 or len(off) == 0:
        raise TokenFileError(f"{index_name}: offsets must be a 1-d array of N + 1 entries, got shape {off.shape}")
    # Bounds before the cast, so huge uint64 values cannot wrap around into plausible int64 ones.
    if off.min() < 0 or off.max() > stream_len:
        bad = int(np.argmax((off < 0) | (off > stream_len)))
        raise TokenFileError(
            f"{index_name}: offset {off[bad]} at position {bad} lies outside the {stream_len} bytes of {data_name}"
        )
    off = off.astype(np.int64)
    if off[0] != 0:
        raise TokenFileError(f"{index_name}: offsets must start at 0, got {off[0]}")
    step = np.diff(off)
    if (step < 0).any():
        i = int(np.argmax(step < 0))
        raise TokenFileError(f"{index_name}: offsets decrease at position {i + 1}: {off[i]} then {off[i + 1]}")
    if off[-1] != stream_len:
        raise TokenFileError(
            f"{index_name}: last offset is {off[-1]} but {data_name} holds {stream_len} bytes; "
            "the index and the data do not belong together"
        )
    return off


def decode_stream(
    stream: bytes,
    offsets: np.ndarray,
    *,
    codebook_size: int = MAX_CODEBOOK_SIZE,
    data_name: str = "stream",
    index_name: str = "offsets",
) -> np.ndarray:
    """Decode SeiT's byte stream back into token ids (the inverse of encode_ids).

    stream: the decompressed bytes (any bytes-like object, a uint8 array too).
    offsets: integer (N + 1,), image i is stream[offsets[i]:offsets[i + 1]].
    data_name and index_name name the files in error messages.
    Returns uint16 (N, L); (0, 0) when N = 0.
    Raises TokenFileError when the offsets do not cut the stream into images, an image ends in
    the middle of a two-byte id, an id is >= codebook_size, or images have different lengths
    (naming the first image whose length differs from image 0's).
    """
    _check_codebook_size(codebook_size)
    buf = np.frombuffer(stream, dtype=np.uint8)
    off = _check_offsets(offsets, len(buf), data_name, index_name)
    n = len(off) - 1
    if n == 0:
        return np.zeros((0, 0), dtype=np.uint16)
    both = f"{data_name} (as cut by {index_name})"  # a per-image fault can sit in either file
    out: np.ndarray | None = None
    first = 0
    while first < n:
        # The images from `first` to `last` (excluded) that fit in one chunk, at least one image.
        last = max(first + 1, int(np.searchsorted(off, off[first] + _DECODE_CHUNK_BYTES, side="right")) - 1)
        length = None if out is None else out.shape[1]
        ids = _decode_chunk(buf[off[first] : off[last]], off[first : last + 1] - off[first], length, first, both)
        if out is None:
            out = np.empty((n, ids.shape[1]), dtype=np.uint16)  # image 0 sets the length L
        if ids.size and ids.max() >= codebook_size:
            i, j = np.unravel_index(np.argmax(ids >= codebook_size), ids.shape)
            raise TokenFileError(
                f"{both}: image {first + i} holds id {ids[i, j]} at position {j}, "
                f"outside the codebook of {codebook_size} codes"
            )
        out[first:last] = ids
        first = last
    return out


def _decode_chunk(b: np.ndarray, starts: np.ndarray, length: int | None, first: int, name: str) -> np.ndarray:
    """Decode the bytes b of m consecutive images, image i at b[starts[i]:starts[i + 1]].

    Returns uint16 (m, length); length None means "as many ids as the chunk's first image has".
    `first` is the chunk's first image number, `name` the files, both for error messages.
    """
    m = len(starts) - 1
    if len(b) == 0:  # only empty images
        if length:
            raise TokenFileError(f"{name}: image {first} has 0 ids but image 0 has {length}")
        return np.zeros((m, 0), dtype=np.uint16)
    escape = b == ESCAPE
    # An escape byte's partner must lie in the same image: the image's last byte may not be 255.
    ends = starts[1:]
    cut = (ends > starts[:-1]) & escape[np.maximum(ends - 1, 0)]
    if cut.any():
        i = int(np.argmax(cut))
        raise TokenFileError(f"{name}: image {first + i} ends in the middle of a two-byte id")
    # Valid partners are <= 254, so every 255 byte is an escape and the byte after it is its partner.
    # Two 255s in a row would make id 510, beyond what the format can hold.
    double = escape[:-1] & escape[1:]
    if double.any():
        p = int(np.argmax(double))
        i = int(np.searchsorted(starts, p, side="right")) - 1
        raise TokenFileError(
            f"{name}: image {first + i} holds byte 255 followed by 255, which would be id 510 "
            f"(ids above {MAX_CODEBOOK_SIZE - 1} cannot be stored)"
        )
    values = b.astype(np.uint16)
    values[:-1] += b[1:] * escape[:-1]  # escape byte -> 255 + partner
    is_id = np.empty(len(b), dtype=bool)  # every byte but the partners starts an id
    is_id[0] = True
    np.logical_not(escape[:-1], out=is_id[1:])
    at = np.flatnonzero(is_id)  # byte position of each id (flatnonzero + take beats a boolean mask here)

    def ids_in(i: int) -> int:  # how many ids image i holds; image starts are id starts (checked above)
        return int(np.searchsorted(at, starts[i + 1]) - np.searchsorted(at, starts[i]))

    if length is None:
        length = ids_in(0)
    # Every image holds `length` ids exactly when image i starts at id i * length for every i and
    # there are m * length ids in all: m lookups, cheaper than counting each image's ids.
    k = np.arange(m) * length
    aligned = k < len(at)
    aligned[aligned] = at[k[aligned]] == starts[:-1][aligned]
    if not aligned.all() or len(at) != m * length:
        # The first image of another length is the one before the first misaligned start (or the last one).
        i = int(np.argmin(aligned)) - 1 if not aligned.all() else m - 1
        raise TokenFileError(
            f"{name}: image {first + i} has {ids_in(i)} ids but image 0 has {length}; "
            "images of different lengths are not supported"
        )
    return values.take(at).reshape(m, length)


# ---------------------------------------------------------------------------
# Files: gzip, .npy and label text, each checked
# ---------------------------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    if path.is_dir():
        raise TokenFileError(f"{path}: a directory, not a file")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise TokenFileError(f"{path}: file not found") from None
    except OSError as err:
        raise TokenFileError(f"{path}: cannot read ({err.strerror or err})") from None


def _read_gzip(path: Path) -> bytes:
    raw = _read_bytes(path)
    if not raw:  # gzip.decompress takes b"" for zero members and would return no data at all
        raise TokenFileError(f"{path}: file is empty, expected gzip data")
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError; EOFError means truncated
        raise TokenFileError(f"{path}: not a valid gzip file, damaged or truncated ({err})") from None


def _gzip(data: bytes) -> bytes:
    # mtime=0 and no file name in the header: the bytes depend only on the data (for a given zlib).
    return gzip.compress(data, compresslevel=9, mtime=0)


def _parse_npy(raw: bytes, path: Path) -> np.ndarray:
    """The 1-d integer array in .npy bytes. The header is parsed and checked by hand before any data is
    read, so a damaged shape can neither allocate a huge array nor be read from too few bytes."""
    fp = io.BytesIO(raw)
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fp)
        if version == (1, 0):
            shape, fortran_order, dtype = fmt.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran_order, dtype = fmt.read_array_header_2_0(fp)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except Exception as err:  # numpy raises several kinds on a bad header; all mean "not a .npy file"
        raise TokenFileError(f"{path}: not a valid .npy file ({err})") from None
    if dtype.kind not in "iu":
        raise TokenFileError(f"{path}: offsets have dtype {dtype}, expected integers (int64)")
    if len(shape) != 1:
        raise TokenFileError(f"{path}: offsets must be 1-d (N + 1,), got shape {shape}")
    expected = math.prod(shape) * dtype.itemsize
    got = len(raw) - fp.tell()
    if got != expected:
        raise TokenFileError(f"{path}: .npy header announces {expected} bytes of {dtype} {shape} but {got} follow")
    # 1-d, so fortran_order does not change the layout.
    return np.frombuffer(raw, dtype=dtype, count=shape[0], offset=fp.tell())


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


_LABELS = re.compile(rb"(?:[0-9]{1,18}\r?\n)*(?:[0-9]{1,18})?")  # the usual file, fast path; 18 digits fit int64
_LABEL = re.compile(rb"[+-]?[0-9]+")


def _parse_labels(raw: bytes, path: Path) -> np.ndarray:
    """int64 (N,) labels, one non-negative integer per line (a final newline is optional)."""
    if _LABELS.fullmatch(raw):
        lines = raw.split()
        return np.fromiter(map(int, lines), dtype=np.int64, count=len(lines))
    # Slow path: find the offending line for the message (or accept harmless spaces around numbers).
    lines = raw.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    labels = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not _LABEL.fullmatch(text):
            raise TokenFileError(f"{path}: line {number} is not an integer label: {line[:40]!r}")
        value = int(text)
        if value < 0:
            raise TokenFileError(f"{path}: line {number} holds a negative label {value}")
        if value > np.iinfo(np.int64).max:
            raise TokenFileError(f"{path}: line {number} holds a label too large for int64")
        labels.append(value)
    return np.array(labels, dtype=np.int64)


# ---------------------------------------------------------------------------
# A split: the three files together
# ---------------------------------------------------------------------------


def read_seit_split(directory: str | Path, split: str, codebook_size: int = SEIT_CODEBOOK_SIZE) -> SeitSplit:
    """Read split `split` from `directory` (the three files named as in SeiT's release).

    Returns SeitSplit with ids uint16 (N, L) and labels int64 (N,).
    Raises TokenFileError, naming the file, for a missing, damaged or inconsistent file:
    bad gzip, bad .npy, bad offsets, a broken id, an id >= codebook_size, images of different
    lengths, a bad label line or a label count different from the image count.
    """
    _check_codebook_size(codebook_size)
    files = seit_split_files(directory, split)
    stream = _read_gzip(files.data)
    offsets = _parse_npy(_read_gzip(files.index), files.index)
    labels = _parse_labels(_read_bytes(files.labels), files.labels)
    ids = decode_stream(
        stream, offsets, codebook_size=codebook_size, data_name=str(files.data), index_name=str(files.index)
    )
    if len(labels) != len(ids):
        raise TokenFileError(f"{files.labels}: {len(labels)} labels but {files.index} indexes {len(ids)} images")
    return SeitSplit(ids=ids, labels=labels)


def write_seit_split(
    directory: str | Path,
    split: str,
    ids: np.ndarray,
    labels: np.ndarray,
    codebook_size: int = SEIT_CODEBOOK_SIZE,
) -> None:
    """Write split `split` into `directory` in SeiT's format.

    ids: integer (N, L) or (N, H, W), stored row-major, every id in [0, codebook_size).
    labels: integer (N,), non-negative.
    Everything is checked (ValueError) before any file is written; each file is then replaced
    atomically, and the same tokens always give byte-identical files.
    """
    _check_codebook_size(codebook_size)
    files = seit_split_files(directory, split)
    if Path(directory).exists() and not Path(directory).is_dir():
        raise TokenFileError(f"{directory}: a file, not a directory for SeiT's token files")
    for path in files:
        if path.is_dir():
            raise TokenFileError(f"{path}: a directory, not a file")
    ids = _as_id_matrix(ids)
    where = _first_out_of_range(ids, codebook_size)
    if where is not None:
        raise ValueError(f"ids must lie in [0, {codebook_size}): {where}")
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu" or labels.ndim != 1:
        raise ValueError(f"labels must be a 1-d integer array, got {labels.dtype} {labels.shape}")
    if len(labels) != len(ids):
        raise ValueError(f"{len(labels)} labels for {len(ids)} images")
    if len(labels) and labels.min() < 0:
        raise ValueError(f"labels must be non-negative, got {labels.min()}")
    stream, offsets = encode_ids(ids)
    text = "".join(f"{label}\n" for label in labels.tolist()).encode("ascii")
    contents = {files.data: _gzip(stream), files.index: _gzip(_npy_bytes(offsets)), files.labels: text}
    for path, content in contents.items():  # each file atomic; the three together are not (see the module doc)
        with atomic_path(path) as tmp:
            tmp.write_bytes(content)
