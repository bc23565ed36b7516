"""SeiT's token files: exact round trips, reproducible bytes, agreement with a per-byte reference
decoder, and a clear TokenFileError naming the file for every kind of damage."""
import gzip
import io

import numpy as np
import pytest

import seitpp.tokens.seit_format as sf
from seitpp.tokens import (
    TokenFileError,
    decode_stream,
    encode_ids,
    read_seit_split,
    seit_split_files,
    write_seit_split,
)

K = 391


# ---------------------------------------------------------------------------
# A reference implementation, written the way the release's per-byte loop works: slow, obvious.
# ---------------------------------------------------------------------------


def reference_encode(images):
    stream, offsets = bytearray(), [0]
    for image in images:
        for token in image:
            stream += bytes([token]) if token < 255 else bytes([255, token - 255])
        offsets.append(len(stream))
    return bytes(stream), offsets


def reference_decode(stream, offsets, codebook_size):
    """list of id lists, or None where the release would fail or produce garbage."""
    images = []
    for i in range(len(offsets) - 1):
        ids, j = [], offsets[i]
        while j < offsets[i + 1]:
            if stream[j] == 255:
                if j + 1 >= offsets[i + 1]:
                    return None  # the image ends in the middle of a two-byte id
                ids.append(255 + stream[j + 1])
                j += 2
            else:
                ids.append(stream[j])
                j += 1
        if any(t >= codebook_size for t in ids):
            return None
        images.append(ids)
    if len({len(ids) for ids in images}) > 1:
        return None
    return images


def write_raw(directory, split, stream, offsets, labels_text, gzip_name=None):
    """Write a split's three files by hand, as another tool might (any gzip header, any offsets)."""
    files = seit_split_files(directory, split)
    files.data.parent.mkdir(parents=True, exist_ok=True)
    with open(files.data, "wb") as raw, gzip.GzipFile(gzip_name or "", "wb", 6, raw, mtime=1234567) as gz:
        gz.write(stream)
    npy = io.BytesIO()
    np.save(npy, np.asarray(offsets))
    files.index.write_bytes(gzip.compress(npy.getvalue()))
    files.labels.write_text(labels_text)
    return files


def random_ids(n, seed=0):
    ids = np.random.default_rng(seed).integers(0, K, size=(n, 16, 16))
    assert (ids >= 255).any() and (ids < 255).any()  # both one- and two-byte ids are exercised
    return ids


# ---------------------------------------------------------------------------
# Round trips and the exact bytes
# ---------------------------------------------------------------------------


def test_hand_written_example(tmp_path):
    ids = np.array([[3, 254, 255, 300, 390]])
    stream, offsets = encode_ids(ids)
    assert stream == bytes([3, 254, 255, 0, 255, 45, 255, 135])
    assert offsets.dtype == np.int64 and offsets.tolist() == [0, 8]
    assert decode_stream(stream, offsets).tolist() == ids.tolist()

    write_seit_split(tmp_path, "val", ids, [7])
    files = seit_split_files(tmp_path, "val")
    assert gzip.decompress(files.data.read_bytes()) == stream
    index = np.load(io.BytesIO(gzip.decompress(files.index.read_bytes())))
    assert index.dtype == np.int64 and index.tolist() == [0, 8]
    assert files.labels.read_text() == "7\n"


def test_round_trip_is_exact(tmp_path):
    ids = random_ids(40)
    labels = np.arange(40) % 7
    write_seit_split(tmp_path, "train", ids, labels)
    split = read_seit_split(tmp_path, "train")
    assert split.ids.dtype == np.uint16 and split.ids.shape == (40, 256)
    assert np.array_equal(split.ids, ids.reshape(40, 256))  # row-major
    assert np.array_equal(split.grid(), ids)
    assert split.labels.dtype == np.int64 and np.array_equal(split.labels, labels)
    assert len(split) == 40


def test_round_trip_over_many_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(sf, "_DECODE_CHUNK_BYTES", 700)  # ~2 images per chunk
    ids = random_ids(25, seed=1)
    write_seit_split(tmp_path, "train", ids, np.zeros(25, dtype=int))
    assert np.array_equal(read_seit_split(tmp_path, "train").grid(), ids)


def test_largest_codebook_and_refusal_beyond(tmp_path):
    ids = np.array([[0, 254, 255, 509]])
    write_seit_split(tmp_path, "s", ids, [0], codebook_size=510)
    assert read_seit_split(tmp_path, "s", codebook_size=510).ids.tolist() == ids.tolist()
    with pytest.raises(ValueError, match="at most 510"):
        write_seit_split(tmp_path, "s", ids, [0], codebook_size=511)
    with pytest.raises(ValueError, match="at most 510"):
        read_seit_split(tmp_path, "s", codebook_size=1024)
    with pytest.raises(ValueError, match="509"):
        encode_ids(np.array([[510]]))


def test_empty_split(tmp_path):
    write_seit_split(tmp_path, "empty", np.zeros((0, 256), dtype=int), np.zeros(0, dtype=int))
    split = read_seit_split(tmp_path, "empty")
    assert split.ids.shape == (0, 0) and split.labels.shape == (0,)


def test_writer_is_reproducible(tmp_path):
    ids, labels = random_ids(30, seed=2), np.arange(30)
    for run in ("a", "b"):
        write_seit_split(tmp_path / run, "train", ids, labels)
    for name in ("train-token.data.bin.gz", "train-token.index.npy.gz", "train-label.txt"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    header = (tmp_path / "a" / "train-token.data.bin.gz").read_bytes()[:10]
    assert header[3] == 0 and header[4:8] == b"\0\0\0\0"  # no flags (no file name), mtime 0
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(
        ["train-token.data.bin.gz", "train-token.index.npy.gz", "train-label.txt"]
    )  # no temporaries left behind


def test_agrees_with_the_reference_per_byte_loop(tmp_path):
    images = random_ids(6, seed=3).reshape(6, 256).tolist()
    stream, offsets = reference_encode(images)
    labels_text = "".join(f"{i}\n" for i in range(6))
    # Files as another tool writes them: a file name and an mtime in the gzip header, level 6.
    files = write_raw(tmp_path / "theirs", "val", stream, np.array(offsets, dtype=np.int64), labels_text, "x.bin")
    split = read_seit_split(tmp_path / "theirs", "val")
    assert split.ids.tolist() == images

    # Writing back what we read reproduces their decompressed stream and index exactly.
    write_seit_split(tmp_path / "ours", "val", split.ids, split.labels)
    ours = seit_split_files(tmp_path / "ours", "val")
    assert gzip.decompress(ours.data.read_bytes()) == gzip.decompress(files.data.read_bytes())
    assert gzip.decompress(ours.index.read_bytes()) == gzip.decompress(files.index.read_bytes())
    assert ours.labels.read_bytes() == files.labels.read_bytes()

    # And the reference decodes our bytes to the same ids.
    ours_stream, ours_offsets = encode_ids(np.array(images))
    assert reference_decode(ours_stream, ours_offsets.tolist(), K) == images


def test_decoder_matches_reference_on_random_streams():
    """Arbitrary bytes and cuts: we raise exactly where the reference fails, else agree id for id."""
    rng = np.random.default_rng(4)
    for _ in range(300):
        n = int(rng.integers(1, 5))
        # Mostly valid-looking bytes with plenty of 255s and partners near 254/255.
        stream = rng.choice([0, 7, 135, 136, 254, 255], size=int(rng.integers(0, 24))).astype(np.uint8)
        cuts = np.sort(rng.integers(0, len(stream) + 1, size=n - 1))
        offsets = np.concatenate([[0], cuts, [len(stream)]]).astype(np.int64)
        codebook_size = int(rng.choice([137, 391, 510]))
        expected = reference_decode(stream.tobytes(), offsets.tolist(), codebook_size)
        if expected is None:
            with pytest.raises(TokenFileError):
                decode_stream(stream.tobytes(), offsets, codebook_size=codebook_size)
        else:
            got = decode_stream(stream.tobytes(), offsets, codebook_size=codebook_size)
            assert got.tolist() == expected


def test_decode_accepts_other_integer_offsets_and_rejects_wrapping_ones():
    stream, offsets = encode_ids(np.array([[1, 300], [2, 3]]))
    assert decode_stream(stream, offsets.astype(np.int32)).tolist() == [[1, 300], [2, 3]]
    huge = offsets.astype(np.uint64)
    huge[1] = 2**64 - 1  # would wrap to -1 as int64
    with pytest.raises(TokenFileError, match="outside"):
        decode_stream(stream, huge, index_name="idx")


# ---------------------------------------------------------------------------
# Damaged files: each names the file and the problem
# ---------------------------------------------------------------------------


def _npy_gz(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return gzip.compress(buffer.getvalue())


def _flip(blob, position, bit=0):
    blob = bytearray(blob)
    blob[position] ^= 1 << bit
    return bytes(blob)


# (which file to damage, its new bytes as a function of its old bytes, words expected in the message)
DAMAGE = {
    "data not gzip": ("data", lambda b: b"plain bytes, not gzip", "not a valid gzip"),
    "data empty": ("data", lambda b: b"", "empty"),
    "data truncated gzip": ("data", lambda b: b[: len(b) - 12], "not a valid gzip"),
    "data CRC error": ("data", lambda b: _flip(b, len(b) - 8), "CRC"),
    "data bit flip in deflate": ("data", lambda b: _flip(b, 15, 3), "not a valid gzip"),
    "index not gzip": ("index", lambda b: b"\x93NUMPY", "not a valid gzip"),
    "index truncated gzip": ("index", lambda b: b[:20], "not a valid gzip"),
    "index not npy": ("index", lambda b: gzip.compress(b"not a numpy file at all"), "not a valid .npy"),
    "index truncated npy": ("index", lambda b: gzip.compress(gzip.decompress(b)[:-5]), "bytes"),
    "index wrong dtype": ("index", lambda b: _npy_gz(np.array([0.0, 8.0, 14.0])), "dtype float64"),
    "index wrong ndim": ("index", lambda b: _npy_gz(np.zeros((3, 1), dtype=np.int64)), "1-d"),
    "index not from 0": ("index", lambda b: _npy_gz(np.array([1, 8, 14])), "start at 0"),
    "index decreasing": ("index", lambda b: _npy_gz(np.array([0, 9, 8, 14])), "decrease"),
    "index past the end": ("index", lambda b: _npy_gz(np.array([0, 8, 15])), "outside"),
    "index short of the end": ("index", lambda b: _npy_gz(np.array([0, 8, 13])), "do not belong together"),
    "index cuts a two-byte id": ("index", lambda b: _npy_gz(np.array([0, 3, 14])), "middle of a two-byte id"),
    "images of different lengths": ("index", lambda b: _npy_gz(np.array([0, 6, 14])), "different lengths"),
    "labels not an integer": ("labels", lambda b: b"3\nseven\n", "line 2 is not an integer"),
    "labels empty line": ("labels", lambda b: b"3\n\n4\n", "line 2 is not an integer"),
    "labels not text": ("labels", lambda b: b"3\n\xff\xfe\n", "line 2 is not an integer"),
    "labels negative": ("labels", lambda b: b"3\n-1\n", "negative"),
    "labels too few": ("labels", lambda b: b"3\n", "1 labels but"),
    "labels too many": ("labels", lambda b: b"3\n4\n5\n", "3 labels but"),
}


@pytest.fixture
def two_images(tmp_path):
    """Two images of 5 ids: [3, 254, 255, 300, 390] (8 bytes) then [1, 2, 255, 4, 5] (6 bytes)."""
    write_seit_split(tmp_path, "val", np.array([[3, 254, 255, 300, 390], [1, 2, 255, 4, 5]]), [3, 4])
    return seit_split_files(tmp_path, "val")


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damage_is_reported_naming_the_file(two_images, case):
    which, damage, words = DAMAGE[case]
    path = getattr(two_images, which)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(TokenFileError) as err:
        read_seit_split(path.parent, "val")
    assert path.name in str(err.value) and words in str(err.value)


@pytest.mark.parametrize("which", ["data", "index", "labels"])
def test_missing_file(two_images, which):
    path = getattr(two_images, which)
    path.unlink()
    with pytest.raises(TokenFileError, match="not found") as err:
        read_seit_split(path.parent, "val")
    assert path.name in str(err.value)


@pytest.mark.parametrize("which", ["data", "index", "labels"])
def test_a_directory_in_place_of_a_file_is_named(two_images, which):
    path = getattr(two_images, which)
    path.unlink()
    path.mkdir()
    with pytest.raises(TokenFileError, match="a directory, not a file") as err:
        read_seit_split(path.parent, "val")
    assert path.name in str(err.value)
    with pytest.raises(TokenFileError, match="a directory, not a file"):  # nor written over
        write_seit_split(path.parent, "val", np.array([[1, 2]]), [0])
    assert path.is_dir()


def test_a_file_in_place_of_the_directory_is_named(tmp_path):
    path = tmp_path / "seit"
    path.write_bytes(b"")
    with pytest.raises(TokenFileError, match="a file, not a directory") as err:
        write_seit_split(path, "val", np.array([[1, 2]]), [0])
    assert str(path) in str(err.value)


def test_label_count_names_both_counts(two_images):
    two_images.labels.write_text("1\n")
    with pytest.raises(TokenFileError) as err:
        read_seit_split(two_images.labels.parent, "val")
    assert "1 labels" in str(err.value) and "2 images" in str(err.value)


def test_labels_tolerate_crlf_spaces_and_no_final_newline(two_images):
    two_images.labels.write_bytes(b" 3 \r\n4")
    assert read_seit_split(two_images.labels.parent, "val").labels.tolist() == [3, 4]


def test_stream_errors(tmp_path):
    def read(stream, offsets, codebook_size=K):
        write_raw(tmp_path, "x", bytes(stream), np.array(offsets, dtype=np.int64), "0\n" * (len(offsets) - 1))
        return read_seit_split(tmp_path, "x", codebook_size=codebook_size)

    name = "x-token.data.bin.gz"
    with pytest.raises(TokenFileError, match="middle of a two-byte id") as err:
        read([1, 255], [0, 2])  # the stream ends after an escape byte
    assert name in str(err.value)
    with pytest.raises(TokenFileError, match="id 510") as err:
        read([255, 255, 1], [0, 3])
    assert name in str(err.value)
    with pytest.raises(TokenFileError, match="id 300 at position 1") as err:
        read([1, 255, 45, 2], [0, 4], codebook_size=300)
    assert name in str(err.value)
    with pytest.raises(TokenFileError, match="image 1 has 2 ids but image 0 has 3") as err:
        read([1, 2, 3, 4, 255, 0], [0, 3, 6])
    assert name in str(err.value)
    assert read([1, 2, 3, 4, 255, 0, 7], [0, 3, 7]).ids.tolist() == [[1, 2, 3], [4, 255, 7]]


def test_bad_input_to_the_writer_writes_nothing(tmp_path):
    ids = np.array([[1, 2], [3, 4]])
    bad = [
        (ids, [0], "1 labels for 2 images"),
        (np.array([[1, 2], [3, 391]]), [0, 1], r"\[0, 391\): image 1 holds id 391 at position 1"),
        (np.array([[1, -2], [3, 4]]), [0, 1], "image 0 holds id -2"),
        (ids.astype(float), [0, 1], "integer"),
        (ids, [0, -1], "non-negative"),
        (ids[0], [0], "shape"),
    ]
    for bad_ids, labels, words in bad:
        with pytest.raises(ValueError, match=words):
            write_seit_split(tmp_path, "train", bad_ids, np.array(labels))
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------
# Fuzz: random bit flips and truncations never escape as anything but TokenFileError
# ---------------------------------------------------------------------------


def _damage(blob, rng):
    """Truncate at a random length, or flip 1 to 3 random bits."""
    if rng.random() < 0.4:
        return blob[: int(rng.integers(0, len(blob)))]
    damaged = bytearray(blob)
    for position in rng.integers(0, len(blob), size=int(rng.integers(1, 4))):
        damaged[position] ^= 1 << int(rng.integers(0, 8))
    return bytes(damaged)


def test_fuzz_damaged_files(tmp_path):
    # Damage to the gzip files, as a disk or a download would do it. They carry a CRC-32, so the
    # damage must either be caught or be harmless (such as a flip in the gzip header's mtime),
    # giving back the original tokens exactly. The label file is plain text with no checksum:
    # a flipped digit there gives another valid label and cannot be detected, so for it only
    # parse, count and range errors can be (and are, above) tested.
    ids, labels = random_ids(50, seed=5), np.arange(50) % 10
    write_seit_split(tmp_path, "train", ids, labels)
    files = seit_split_files(tmp_path, "train")
    rng = np.random.default_rng(6)
    caught = 0
    for _ in range(300):
        path = files.data if rng.random() < 0.5 else files.index
        original = path.read_bytes()
        path.write_bytes(_damage(original, rng))
        try:
            split = read_seit_split(tmp_path, "train")
        except TokenFileError as err:  # any other exception fails the test
            assert path.name in str(err), str(err)
            caught += 1
        else:
            assert np.array_equal(split.grid(), ids) and np.array_equal(split.labels, labels)
        path.write_bytes(original)
    assert caught > 250  # nearly every damage is caught; the rest changed nothing that matters


def test_fuzz_damaged_content_behind_a_good_checksum(tmp_path):
    # Damage inside the gzip (recompressed, so the CRC passes) reaches the .npy, offset and stream
    # checks themselves. Nothing but TokenFileError may escape. A damaged index must be caught or
    # harmless; a damaged stream or label file may decode to other valid tokens or labels (the
    # format has no checksum of its own), which is only checked for shape and range.
    ids, labels = random_ids(50, seed=7), np.arange(50) % 10
    write_seit_split(tmp_path, "train", ids, labels)
    files = seit_split_files(tmp_path, "train")
    rng = np.random.default_rng(8)
    for _ in range(300):
        which = str(rng.choice(["data", "index", "labels"]))
        path = getattr(files, which)
        original = path.read_bytes()
        if which == "labels":
            path.write_bytes(_damage(original, rng))
        else:
            path.write_bytes(gzip.compress(_damage(gzip.decompress(original), rng)))
        try:
            split = read_seit_split(tmp_path, "train")
        except TokenFileError as err:
            assert path.name in str(err), str(err)
        else:
            assert split.ids.dtype == np.uint16 and split.ids.shape == (50, 256) and split.ids.max() < K
            assert split.labels.shape == (50,) and split.labels.min() >= 0
            if which == "index":
                assert np.array_equal(split.grid(), ids)
        path.write_bytes(original)
