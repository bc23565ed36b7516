"""The `.tokens` store: exact round trips, size against SeiT's format, atomic and deterministic
writes, and a clear TokenStoreError for every kind of bad input or damaged file."""
import gzip
import json
import os
import pickle
import struct
import zlib

import numpy as np
import pytest

import seitpp.tokens.store as storage
from seitpp.tokens import TokenStore, write_store
from seitpp.tokens.coder import TokenStoreError


def blocky_ids(n: int, grid=(16, 16), k: int = 391, seed: int = 0, block: int = 4, noise: float = 0.1) -> np.ndarray:
    """Spatially correlated ids (n, H, W), like a tokenizer's: flat blocks of one id, a shared
    background id, some noise; ids Zipf-distributed, so a few are common; and where the id
    changes, the new one is often a code related to the one on its left (a small step on)."""
    rng = np.random.default_rng(seed)
    h, w = grid
    p = 1.0 / np.arange(1, k + 1) ** 1.1
    p /= p.sum()
    coarse = rng.choice(k, size=(n, -(-h // block), -(-w // block)), p=p)
    related = rng.random(coarse.shape) < 0.6
    for col in range(1, coarse.shape[2]):
        step = (coarse[:, :, col - 1] + rng.integers(1, 4, coarse.shape[:2])) % k
        coarse[:, :, col] = np.where(related[:, :, col], step, coarse[:, :, col])
    ids = np.repeat(np.repeat(coarse, block, 1), block, 2)[:, :h, :w]
    background = rng.random((n, h, w)) < 0.3
    ids = np.where(background, rng.integers(0, min(k, 3), size=(n, 1, 1)), ids)
    noisy = rng.random((n, h, w)) < noise
    return np.where(noisy, (ids + rng.integers(1, 3, (n, h, w))) % k, ids).astype(np.int64)


def seit_gzip_size(ids: np.ndarray) -> int:
    """SeiT's release format: an id < 255 is one byte, an id >= 255 two bytes (255, id - 255),
    all images concatenated, then gzip level 9."""
    stream = bytearray()
    for i in ids.ravel().tolist():
        stream += bytes([i]) if i < 255 else bytes([255, i - 255])
    return len(gzip.compress(bytes(stream), 9))


def make_store(path, n=300, grid=(16, 16), k=391, num_classes=10, chunk_size=64, seed=0, **kw):
    ids = blocky_ids(n, grid, k, seed)
    labels = np.random.default_rng(seed + 1).integers(0, num_classes, n)
    write_store(path, ids, labels, k, num_classes, "tok-sha256:abc", {"split": "train", "n": n}, chunk_size, **kw)
    return ids, labels


# ----------------------------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize("n, grid, k, chunk_size", [
    (1, (16, 16), 391, 256),     # a single image
    (600, (16, 16), 391, 256),   # N not a multiple of the chunk size; the reference K
    (256, (16, 16), 391, 256),   # exactly one full chunk
    (97, (8, 12), 4, 10),        # small K, non-square grid, many chunks
    (40, (5, 7), 300, 16),       # K > 256 (SeiT's two-byte ids), odd grid
    (30, (6, 6), 65536, 8),      # the largest K ids fit in uint16
    (20, (4, 4), 1, 3),          # K = 1: every id is 0
    (9, (1, 1), 5, 4),           # a 1 x 1 grid
    (0, (16, 16), 391, 256),     # an empty split
])
def test_round_trip_is_exact(tmp_path, n, grid, k, chunk_size):
    ids = blocky_ids(n, grid, k, seed=n)
    if k == 65536:
        ids[0, 0, :2] = [65535, 0]  # the extremes
    labels = np.arange(n) % 7
    metadata = {"split": "val", "nested": {"a": [1, 2.5, None, "é"]}, "ok": True, "classes": ("a", "b")}
    path = tmp_path / "split.tokens"
    write_store(path, ids, labels, k, 7, "sha256:ünïcode", metadata, chunk_size)
    metadata["classes"] = ["a", "b"]  # JSON has lists only

    store = TokenStore.open(path)
    assert (len(store), store.num_images, store.grid) == (n, n, grid)
    assert (store.codebook_size, store.num_classes, store.chunk_size) == (k, 7, chunk_size)
    assert store.tokenizer_hash == "sha256:ünïcode" and store.metadata == metadata
    assert store.labels.dtype == np.int64 and np.array_equal(store.labels, labels)
    everything = store.read_all()
    assert everything.dtype == np.uint16 and everything.shape == (n, *grid)
    assert np.array_equal(everything, ids)
    for i in range(n):
        image = store[i]
        assert image.dtype == np.uint16 and np.array_equal(image, ids[i])
    if n:
        assert np.array_equal(store[-1], ids[-1]) and np.array_equal(store[np.int64(0)], ids[0])
    assert store.file_size == path.stat().st_size
    assert store.payload_bytes < store.file_size


def test_large_splits_are_processed_in_groups(tmp_path, monkeypatch):
    # Writing and read_all work through a big split a group of images at a time (16384): make
    # groups tiny, so that group boundaries fall inside and between chunks.
    monkeypatch.setattr(storage, "_GROUP_IMAGES", 70)
    ids, labels = make_store(tmp_path / "s.tokens", n=300, chunk_size=32)
    store = TokenStore.open(tmp_path / "s.tokens")
    assert np.array_equal(store.read_all(), ids)
    monkeypatch.undo()
    make_store(tmp_path / "t.tokens", n=300, chunk_size=32)  # groups change nothing in the file
    assert (tmp_path / "s.tokens").read_bytes() == (tmp_path / "t.tokens").read_bytes()


def test_random_access_in_any_order(tmp_path):
    ids, _ = make_store(tmp_path / "s.tokens", n=200, chunk_size=32)
    store = TokenStore.open(tmp_path / "s.tokens")
    for i in np.random.default_rng(0).permutation(200)[:50]:
        assert np.array_equal(store[i], ids[i])
    image = store[5]
    image[:] = 0  # a returned image is the caller's to modify; the store's cache is unaffected
    assert np.array_equal(store[5], ids[5])


def test_store_and_error_pickle(tmp_path):
    ids, labels = make_store(tmp_path / "s.tokens", n=50)
    store = pickle.loads(pickle.dumps(TokenStore.open(tmp_path / "s.tokens")))
    assert np.array_equal(store.read_all(), ids) and np.array_equal(store.labels, labels)
    error = pickle.loads(pickle.dumps(TokenStoreError(tmp_path / "x.tokens", "broken")))
    assert str(error) == f"token store {tmp_path / 'x.tokens'}: broken"


# ----------------------------------------------------------------------------------------------
# Size, determinism, atomicity


def test_smaller_than_seit_gzip(tmp_path):
    ids, _ = make_store(tmp_path / "s.tokens", n=1500, chunk_size=256)
    store = TokenStore.open(tmp_path / "s.tokens")
    baseline = seit_gzip_size(ids)
    assert store.file_size < 0.8 * baseline, (store.file_size, baseline)
    assert store.bits_per_token() == pytest.approx(8 * store.payload_bytes / ids.size)
    assert store.bits_per_token() < np.log2(391)


def test_small_splits_fall_back_to_order0(tmp_path):
    # Rank lists per left neighbour cost header bytes that only a large enough split pays back;
    # below that the writer uses one list for all tokens (order-0), which is then smaller.
    for n, expected in [(20, "none"), (1500, "left")]:
        path = tmp_path / f"{n}.tokens"
        ids, _ = make_store(path, n=n)
        store = TokenStore.open(path)
        assert store._model.layout.context_name == expected
        assert np.array_equal(store.read_all(), ids)


def test_writer_is_deterministic(tmp_path):
    make_store(tmp_path / "a.tokens", n=300)
    make_store(tmp_path / "b.tokens", n=300)
    assert (tmp_path / "a.tokens").read_bytes() == (tmp_path / "b.tokens").read_bytes()


class _FailingFile:
    """A file that takes `budget` bytes and then fails, as a full disk does mid-write."""

    def __init__(self, path, mode, budget):
        self.file, self.budget = open(path, mode), budget

    def write(self, data):
        if len(data) > self.budget:
            self.file.write(data[:self.budget])
            raise OSError("No space left on device")
        self.budget -= len(data)
        return self.file.write(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()


@pytest.mark.parametrize("failure", ["encoding", "mid-write", "fsync"])
def test_failed_write_keeps_the_previous_file(tmp_path, monkeypatch, failure):
    path = tmp_path / "s.tokens"
    ids, _ = make_store(path, n=300)
    before = path.read_bytes()
    if failure == "encoding":  # the 3rd chunk fails, as a bug or running out of memory would
        original, calls = storage.EntropyModel.encode_chunk, []

        def encode_then_fail(self, flat):
            calls.append(1)
            if len(calls) == 3:
                raise MemoryError("out of memory")
            return original(self, flat)

        monkeypatch.setattr(storage.EntropyModel, "encode_chunk", encode_then_fail)
    elif failure == "mid-write":  # the new file's first 5000 bytes reach the disk, then it is full
        monkeypatch.setattr(storage, "open", lambda p, mode: _FailingFile(p, mode, 5000), raising=False)
    else:  # every byte written, then the flush to disk fails, before the rename
        def fsync_fails(fd):
            raise OSError("I/O error")

        monkeypatch.setattr(os, "fsync", fsync_fails)
    with pytest.raises((MemoryError, OSError)):
        make_store(path, n=300, seed=5)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]  # no temporary left behind
    assert np.array_equal(TokenStore.open(path).read_all(), ids)


def test_format_is_stable(tmp_path):
    # A store written by version 1 of the format, and the ids it holds. If this test fails, files
    # written earlier can no longer be read (or are no longer written the same way, e.g. after a
    # constriction upgrade that changed how it quantises probabilities): bump VERSION and keep a
    # reader for the old files.
    ids = np.array(GOLDEN_IDS)
    labels = np.array([0, 1, 2, 0, 1, 2])
    golden = tmp_path / "golden.tokens"
    golden.write_bytes(bytes.fromhex(GOLDEN_HEX))
    store = TokenStore.open(golden)
    assert np.array_equal(store.read_all(), ids) and np.array_equal(store.labels, labels)
    assert (store.codebook_size, store.num_classes, store.tokenizer_hash, store.metadata) == (12, 3, "h", {"m": 1})
    path = tmp_path / "s.tokens"
    write_store(path, ids, labels, 12, 3, "h", {"m": 1}, chunk_size=4)
    new, old = path.read_bytes(), golden.read_bytes()
    # The coded chunks are the same bytes (the zlib-compressed header may differ between zlib builds).
    assert new[_header_end(new):] == old[_header_end(old):]


GOLDEN_IDS = [
    [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]],
    [[5, 5, 1, 5, 1], [0, 5, 1, 5, 2], [5, 10, 1, 5, 2], [1, 5, 1, 5, 1]],
    [[0, 2, 0, 2, 1], [2, 0, 2, 2, 1], [0, 7, 0, 2, 1], [2, 0, 0, 0, 1]],
    [[1, 1, 0, 0, 0], [0, 0, 3, 0, 0], [1, 1, 1, 1, 0], [1, 1, 0, 1, 0]],
    [[4, 4, 4, 4, 0], [1, 4, 1, 4, 0], [0, 1, 1, 4, 1], [4, 1, 1, 4, 1]],
    [[1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1]],
]
GOLDEN_HEX = (
    "53454954544f4b0001000000b00100000000000034e6eb0e070100007b226368756e6b5f73697a65223a20342c202263"
    "6f6465626f6f6b5f73697a65223a2031322c2022636f646572223a207b2263616e64696461746573223a205b226c6566"
    "74222c20227570222c202275705f7269676874222c202275705f6c656674225d2c2022636f6e74657874223a20226e6f"
    "6e65222c20226e616d65223a202270616c657474652d72616e6b227d2c202267726964223a205b342c20355d2c20226c"
    "6162656c5f6474797065223a20223c7531222c20226d65746164617461223a207b226d223a20317d2c20226e756d5f63"
    "6c6173736573223a20332c20226e756d5f696d61676573223a20362c2022746f6b656e697a65725f68617368223a2022"
    "68227d78da6360646200226c8091816cc04999766c6ea1aa71d4068c83dc7d34f13335cde2c32228c6c0c0875d391f83"
    "20c328201b88338c861f11e96f10e56846c6d1381a059495cde2a3c1320a70962f9c544e7f9c0ca345d6281836806f34"
    "0846c128c0dbe1a7182800b1d468588e8251400028532bcb418018a91a38102d3d2616166646262646460e22f449c90a"
    "72723232328a40f9b18f8b5c60fad87eb755010042f705fa2874f59cf4a62af8926c30c5236089fffe340000e33df508"
    "04862a2f"
)


# ----------------------------------------------------------------------------------------------
# Bad input when writing: nothing is written


@pytest.mark.parametrize("change, match", [
    (dict(ids=lambda ids: np.where(ids == 0, -1, ids)), r"ids must be in \[0, 391\)"),
    (dict(ids=lambda ids: np.where(ids == 0, 391, ids)), r"ids must be in \[0, 391\)"),
    (dict(ids=lambda ids: ids.astype(np.float32)), "integer array"),
    (dict(ids=lambda ids: ids[0]), r"\(N, H, W\)"),
    (dict(labels=lambda labels: labels[:-1]), r"labels must be .* shape \(20,\)"),
    (dict(labels=lambda labels: labels + 10), r"labels must be in \[0, 10\)"),
    (dict(codebook_size=0), "codebook_size must be in"),
    (dict(codebook_size=70000), "codebook_size must be in"),
    (dict(num_classes=0), "num_classes must be in"),
    (dict(chunk_size=0), "chunk_size must be in"),
    (dict(tokenizer_hash=b"bytes"), "tokenizer_hash must be a str"),
    (dict(metadata={1: "int key"}), "JSON-able dict"),
    (dict(metadata={"deep": [{"ok": 1}, {2: "int key"}]}), "JSON-able dict"),
    (dict(metadata={"x": float("nan")}), "JSON-able dict"),
    (dict(metadata={"x": {1, 2}}), "JSON-able dict"),
    (dict(metadata={"x": np.int64(3)}), "JSON-able dict"),
    (dict(metadata=["not", "a", "dict"]), "JSON-able dict"),
    (dict(candidates=("left", "diagonal")), "candidates must be"),
    (dict(candidates=("left", "up", "up_left", "up_right", "up2")), "candidates must be 1 to 4"),
])
def test_bad_input_is_refused_before_writing(tmp_path, change, match):
    args = dict(ids=blocky_ids(20, (4, 4)), labels=np.arange(20) % 10, codebook_size=391, num_classes=10,
                tokenizer_hash="h", metadata=None, chunk_size=8)
    for key, value in change.items():
        args[key] = value(args[key]) if callable(value) else value
    path = tmp_path / "s.tokens"
    with pytest.raises(TokenStoreError, match=match) as info:
        write_store(path, **args)
    assert isinstance(info.value, ValueError) and str(path) in str(info.value)
    assert not path.exists() and list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------------------------
# Bad files when reading


@pytest.fixture
def store_file(tmp_path):
    path = tmp_path / "s.tokens"
    ids, labels = make_store(path, n=600, chunk_size=64)  # large enough for rank lists by neighbour
    assert TokenStore.open(path)._model.layout.context_name == "left"
    return path, ids, labels


def _header_end(data: bytes) -> int:
    (header_len,) = struct.unpack_from("<Q", data, 12)
    return 24 + header_len


def expect_error(path, match):
    with pytest.raises(TokenStoreError, match=match) as info:
        TokenStore.open(path).read_all()
    assert str(path) in str(info.value)


def test_not_a_token_store(tmp_path):
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    expect_error(path, "not a token store")
    path.write_bytes(b"")
    expect_error(path, "empty file")
    path.write_bytes(b"SEIT")
    expect_error(path, "truncated")
    with pytest.raises(FileNotFoundError, match="missing.tokens"):  # not a damaged file: no file
        TokenStore.open(tmp_path / "missing.tokens")


def test_a_directory_is_named_not_opened(tmp_path):
    """A directory where a store is read or written: a TokenStoreError naming it, not an IsADirectoryError."""
    folder = tmp_path / "split.tokens"
    folder.mkdir()
    expect_error(folder, "a directory, not a .tokens file")
    with pytest.raises(TokenStoreError, match="a directory, not a .tokens file") as info:
        write_store(folder, np.zeros((2, 4, 4), np.int64), np.zeros(2, np.int64), 8, 1, "test")
    assert str(folder) in str(info.value)
    assert list(tmp_path.iterdir()) == [folder] and not any(folder.iterdir())  # nothing written, nothing left


def test_unsupported_version(store_file):
    path, _, _ = store_file
    data = bytearray(path.read_bytes())
    data[8:12] = struct.pack("<I", 2)
    path.write_bytes(bytes(data))
    expect_error(path, "unsupported format version 2")


@pytest.mark.parametrize("where", ["preamble", "header", "chunks"])
def test_truncated_file(store_file, where):
    path, _, _ = store_file
    data = path.read_bytes()
    cut = {"preamble": 13, "header": _header_end(data) - 5, "chunks": len(data) - 1}[where]
    path.write_bytes(data[:cut])
    expect_error(path, f"truncated in the {where}")


def test_trailing_bytes(store_file):
    path, _, _ = store_file
    path.write_bytes(path.read_bytes() + b"\0")
    expect_error(path, "1 unexpected bytes after the last chunk")


def test_corrupted_header(store_file):
    path, _, _ = store_file
    data = bytearray(path.read_bytes())
    data[40] ^= 0x10
    path.write_bytes(bytes(data))
    expect_error(path, "header checksum mismatch")


def test_corrupted_chunk_names_the_chunk(store_file):
    path, ids, labels = store_file
    data = bytearray(path.read_bytes())
    store = TokenStore.open(path)
    data[int(store._offsets[2]) + 3] ^= 0x01  # a byte of chunk 2: images 128..191
    path.write_bytes(bytes(data))
    store = TokenStore.open(path)  # the header is intact: opening works, labels are there
    assert np.array_equal(store.labels, labels)
    with pytest.raises(TokenStoreError, match=r"chunk 2 \(images 128..191\) checksum mismatch"):
        store.read_all()
    with pytest.raises(TokenStoreError, match=r"chunk 2 "):
        store[150]
    assert np.array_equal(store[0], ids[0]) and np.array_equal(store[599], ids[599])  # other chunks are fine


def test_index_past_the_end(store_file):
    path, _, _ = store_file
    store = TokenStore.open(path)
    for index in (600, -601, 10**12):
        with pytest.raises(IndexError, match=f"image index {index} out of range .* 600 images"):
            store[index]
    with pytest.raises(TypeError):
        store[1.5]


def _rewrite(data: bytes, edit=None) -> bytes:
    """Recompute every checksum of a store's bytes, as if the damage had been written on purpose;
    edit(info, binary) may first change the header's binary block in place."""
    end = _header_end(data)
    header = bytes(data[24:end])
    (json_len,) = struct.unpack_from("<I", header)
    info = json.loads(header[4:4 + json_len])
    binary = bytearray(zlib.decompress(header[4 + json_len:]))
    if edit is not None:
        edit(info, binary)
    num_chunks = -(-info["num_images"] // info["chunk_size"])
    table_at = len(binary) - num_chunks * storage._CHUNK_TABLE.itemsize  # the table comes last
    table = np.frombuffer(bytes(binary[table_at:]), storage._CHUNK_TABLE).copy()
    at = end
    for j in range(len(table)):
        table["crc"][j] = zlib.crc32(bytes(data[at:at + int(table["nbytes"][j])]))
        at += int(table["nbytes"][j])
    binary[table_at:] = table.tobytes()
    header = header[:4 + json_len] + zlib.compress(bytes(binary), 9)
    preamble = struct.pack("<8sIQI", storage.MAGIC, storage.VERSION, len(header), zlib.crc32(header))
    return preamble + header + bytes(data[end:])


def test_decoded_ids_outside_the_codebook_are_refused(store_file):
    # Decoded ids come from the header's rank lists (every other token copies a decoded
    # neighbour), so a file that would decode to an id >= K has such an id in a list: it is
    # refused at open, even with valid checksums.
    path, _, _ = store_file

    def push_ids_past_k(info, binary):
        layout = storage.Layout(tuple(info["grid"]), tuple(info["coder"]["candidates"]))
        k = info["codebook_size"]
        at = info["num_images"] + layout.num_codes * (layout.C + 1)  # after labels (u8), mode levels
        entries = int(np.frombuffer(bytes(binary[at:at + 4 * (k + 1)]), "<u4").sum())
        at += 4 * (k + 1)  # the id gaps; 255 announces a long gap stored elsewhere
        gaps = np.frombuffer(bytes(binary[at:at + entries]), np.uint8)
        binary[at:at + entries] = np.where(gaps == 255, 255, 254).astype(np.uint8).tobytes()

    path.write_bytes(_rewrite(path.read_bytes(), push_ids_past_k))
    expect_error(path, "corrupted header: rank list id outside the codebook")


def test_damaged_chunk_with_valid_checksums_never_crashes(store_file):
    # Checksums are the defence against damage; behind them, the decoder must still fail cleanly
    # (or decode valid ids) on any words, never crash inside constriction or numpy.
    path, ids, _ = store_file
    clean = path.read_bytes()
    end = _header_end(clean)
    rng = np.random.default_rng(0)
    errors = 0
    for _ in range(40):
        data = bytearray(clean)
        for _ in range(rng.integers(1, 4)):
            data[rng.integers(end, len(data))] ^= 1 << rng.integers(8)
        path.write_bytes(_rewrite(bytes(data)))
        try:
            out = TokenStore.open(path).read_all()
            assert out.shape == ids.shape and out.max() < 391
        except TokenStoreError as e:
            assert str(path) in str(e)
            errors += 1
    assert errors >= 30  # leftover or missing data gives most damage away


def test_fuzz_flipped_bits_and_truncation(store_file):
    path, ids, labels = store_file
    clean = path.read_bytes()
    rng = np.random.default_rng(1234)
    damaged = path.with_name("damaged.tokens")
    outcomes = {"error": 0, "intact": 0}
    for _ in range(300):
        data = bytearray(clean)
        if rng.random() < 0.25:
            data = data[:rng.integers(0, len(data))]
        else:
            for _ in range(rng.integers(1, 4)):
                data[rng.integers(len(data))] ^= 1 << rng.integers(8)
        damaged.write_bytes(bytes(data))
        try:
            store = TokenStore.open(damaged)
            out, out_labels = store.read_all(), store.labels
        except TokenStoreError as e:
            assert str(damaged) in str(e)
            outcomes["error"] += 1
            continue
        assert np.array_equal(out, ids) and np.array_equal(out_labels, labels)
        outcomes["intact"] += 1
    assert outcomes["error"] == 300  # every byte of the file is covered by a check
