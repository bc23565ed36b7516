"""The committed reference artefacts compute, bit for bit, what they computed before the package was
reorganised into subpackages: the reference tokenizer's ids, the reference TokenAdapt's augmented
ids, and the bytes of a `.tokens` store written from them.

The expected SHA-256 digests were computed at commit c2755f6 (before the reorganisation), by the
same steps with the old module names (`seitpp.shapes`, `seitpp.tokenizer`, `seitpp.tokenadapt`,
`seitpp.augment`, `seitpp.storage`), on the CPU with one thread, and were the same on two runs.
One thread because a CPU convolution may add in another order with more threads; an id decided
by a near tie could then differ.
"""
import hashlib

import numpy as np
import pytest
import torch

from seitpp.augment import GeometryDistribution, TokenAdapt, affine_theta
from seitpp.data import render_shapes
from seitpp.tokenizers import VQTokenizer
from seitpp.tokens import TokenStore, write_store

NUM_IMAGES = 64  # of the test split: about a second to tokenize and augment

# computed at c2755f6 (before the reorganisation)
IMAGES_SHA256 = "68ebc80850333b15fd8edb48deadc157853d5f00652f3455873d11034a17a1a8"
IDS_SHA256 = "91d303ee0b2c04a4a9abdf3c2d295ad77fa285492d4064923c6d7b9aa6e687bd"  # int64 (64, 16, 16)
THETA_SHA256 = "93b73ccdd3857d4e27080f0ff36c7df561b9819642f8f62aee3b1c3b42b66052"  # float32 (64, 2, 3)
AUGMENTED_SHA256 = "e86e5261f2c5aef8ed0abdb53aebcd59875da1abda015489d004ba878c82bf65"  # int64 (64, 14, 14)
STORE_SHA256 = "b10bfab0b496069e69103a9737e834fd889215d5f23f02d604523b372b00a51f"  # the file's bytes
TOKENIZER_FINGERPRINT = "8fd700ed8aee133e"


def sha256(a: np.ndarray | bytes) -> str:
    return hashlib.sha256(a if isinstance(a, bytes) else np.ascontiguousarray(a).tobytes()).hexdigest()


@pytest.fixture(scope="module")
def outputs():
    """The images, the tokenizer, its ids, the thetas and TokenAdapt's augmented ids, on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        shapes = render_shapes(NUM_IMAGES, split="test")
        tokenizer = VQTokenizer.load()
        ids = tokenizer.tokenize_many(shapes.images)  # (64, 16, 16)
        # half one explicit transform, half drawn from the training distribution with a seeded generator
        theta = torch.cat([affine_theta(NUM_IMAGES // 2, degrees=15.0, scale=0.8, hflip=True),
                           GeometryDistribution().sample(NUM_IMAGES // 2, torch.Generator().manual_seed(0))])
        augmented = TokenAdapt.load(tokenizer=tokenizer).augment(ids, theta, (14, 14))
    finally:
        torch.set_num_threads(threads)
    return {"shapes": shapes, "tokenizer": tokenizer, "ids": ids, "theta": theta, "augmented": augmented}


def test_inputs_unchanged(outputs):
    """The rendered images and the thetas: if these moved, the digests below would say nothing."""
    assert sha256(outputs["shapes"].images) == IMAGES_SHA256
    assert outputs["theta"].dtype == torch.float32
    assert sha256(outputs["theta"].numpy()) == THETA_SHA256
    assert outputs["tokenizer"].fingerprint() == TOKENIZER_FINGERPRINT


def test_reference_tokenizer_ids(outputs):
    ids = outputs["ids"]
    assert ids.dtype == torch.int64 and tuple(ids.shape) == (NUM_IMAGES, 16, 16)
    assert sha256(ids.numpy()) == IDS_SHA256


def test_reference_tokenadapt_ids(outputs):
    augmented = outputs["augmented"]
    assert augmented.dtype == torch.int64 and tuple(augmented.shape) == (NUM_IMAGES, 14, 14)
    assert sha256(augmented.numpy()) == AUGMENTED_SHA256


def test_token_store_bytes(outputs, tmp_path):
    shapes, tokenizer, ids = outputs["shapes"], outputs["tokenizer"], outputs["ids"].numpy()
    path = tmp_path / "test.tokens"
    write_store(path, ids, shapes.labels, tokenizer.config.codebook_size, 12, tokenizer.fingerprint())
    assert sha256(path.read_bytes()) == STORE_SHA256
    np.testing.assert_array_equal(TokenStore.open(path).read_all(), ids)
