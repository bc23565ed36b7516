"""The committed reference artefacts compute what they computed when they were made, on any x86-64
CPU: the images as the renderer drew them before the package was reorganised into subpackages
(commit c2755f6), the ids and augmented ids as the tokenizer and TokenAdapt of 2026-12-07 (retrained
when their trainers took the engine's seeding scheme) compute them.

- **Exact**, because the project's own integer and byte logic makes them: the fixture's contents
  (the c2755f6 images, ids and augmented ids, by their SHA-256 digests), the bytes of a `.tokens`
  store written from given ids (integer entropy coder), the tokenizer's fingerprint (a hash of its
  config).
- **Within a tolerance**, because they are float results of kernels that numpy, MKL and oneDNN
  pick by CPU (AVX2, AVX-512, ...), which round differently:
  - the rendered Shapes images: numpy's AVX-512 kernels move 2-8 of 2.5 M uint8 values by one
    level (measured on one machine with `NPY_DISABLE_CPU_FEATURES`); allowed: no value off by more
    than 1, at most 1 in 10,000 values off at all, 30x what was seen. Changing the renderer's
    geometry, colours or draws moves far more (`test_renderer_tolerance_catches_real_changes`).
  - the thetas: MKL's kernels moved them by up to 1.2e-7 (`MKL_ENABLE_INSTRUCTIONS`,
    `MKL_CBWR`); allowed 1e-6.
  - ids, which are an argmax over float similarities: equal to the reference at every token whose
    best code wins by more than a margin; a near tie may go to either code within the margin.
    Across CPU kernel choices the cosine similarities moved by up to 1.9e-6 (margin 1e-5, 12 near
    ties among 16,384 tokens) and TokenAdapt's logits by up to 8.2e-5 (margin 1e-3, 13 near ties
    among 12,544); at most 1% of tokens may be near ties, so the rule cannot hide a real change.

The ids and the store are computed from the fixture's images and ids, never from a render of this
machine, so a pixel that rounds differently here cannot move them. `python tests/test_reference_outputs.py`
rewrites the fixture, and refuses unless what it computed has the digests below (on a CPU with
AVX-512 that needs `NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SPR"`, with which this one was
written); after retraining an artefact, `--retrained` writes it anyway and prints the new digests to
put here. Everything runs on one torch thread, as the digests were made.
"""
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from seitpp.augment import GeometryDistribution, TokenAdapt, affine_theta
from seitpp.data import images_to_tensor, render_shapes
from seitpp.tokenizers import VQTokenizer
from seitpp.tokens import TokenStore, write_store

FIXTURE = Path(__file__).parent / "data" / "reference_inputs.npz"
NUM_IMAGES = 64  # of the test split: about a second to tokenize and augment

# the images rendered at c2755f6 (before the reorganisation); ids, augmented ids and the store from the artefacts
IMAGES_SHA256 = "68ebc80850333b15fd8edb48deadc157853d5f00652f3455873d11034a17a1a8"  # uint8 (64, 64, 64, 3)
IDS_SHA256 = "6709f6082b3ef74a1954e2d5f9e0994fd094f452f9a71cc74d778e6c34d817cd"  # int64 (64, 16, 16)
AUGMENTED_SHA256 = "9f6ca87edb703007908c18a54615461551bdc9fa3147855b6adcc6c5240cd47f"  # int64 (64, 14, 14)
STORE_SHA256 = "7902bb3defd96393104c70d204a3bc284ead5bd44d8fe35ea5e45f937c2fc43b"  # the file's bytes
TOKENIZER_FINGERPRINT = "c1defbcc8967cceb"

PIXEL_LEVELS = 1  # the most a rendered uint8 value may differ from the reference
PIXEL_SHARE = 1e-4  # the largest share of rendered values (and mask pixels) that may differ at all
THETA_ATOL = 1e-6
IDS_MARGIN = 1e-5  # cosine similarity: a best code ahead by less than this is a near tie
AUGMENTED_MARGIN = 1e-3  # TokenAdapt's logits (they span about -27 to 35)
NEAR_TIE_SHARE = 0.01


def sha256(a: np.ndarray | bytes) -> str:
    return hashlib.sha256(a if isinstance(a, bytes) else np.ascontiguousarray(a).tobytes()).hexdigest()


def thetas() -> torch.Tensor:
    """(64, 2, 3): half one explicit transform, half drawn from the training distribution, seeded."""
    return torch.cat([affine_theta(NUM_IMAGES // 2, degrees=15.0, scale=0.8, hflip=True),
                      GeometryDistribution().sample(NUM_IMAGES // 2, torch.Generator().manual_seed(0))])


def similarities(tokenizer: VQTokenizer, images: np.ndarray) -> torch.Tensor:
    """uint8 images (N, H, W, 3) -> each token's cosine similarity to every code (N, K, h, w), in
    the batches of `tokenizer.tokenize_many`, whose ids are its argmax over K."""
    batches = np.array_split(images, range(tokenizer.inference_batch, len(images), tokenizer.inference_batch))
    return torch.cat([tokenizer.code_similarities(images_to_tensor(b)) for b in batches])


def rendering_differences(images: np.ndarray, masks: np.ndarray, reference: dict) -> tuple[int, float, float]:
    """-> (largest uint8 difference, share of image values that differ, share of mask pixels that differ)."""
    d = np.abs(images.astype(np.int16) - reference["images"].astype(np.int16))
    return int(d.max()), float((d > 0).mean()), float((masks != reference["masks"]).mean())


def assert_ids_match(ids: torch.Tensor, scores: torch.Tensor, reference: np.ndarray, margin: float) -> None:
    """ids (N, h, w) = scores (N, K, h, w).argmax(1) equal `reference` wherever the best score leads
    the second by `margin` or more; at a near tie the reference's code is within `margin` of the best."""
    assert torch.equal(ids, scores.argmax(1))
    top2 = scores.topk(2, dim=1).values  # (N, 2, h, w)
    near_tie = (top2[:, 0] - top2[:, 1]) < margin
    assert near_tie.float().mean() <= NEAR_TIE_SHARE, f"{int(near_tie.sum())} near ties: the margin {margin} is too wide"
    reference = torch.from_numpy(reference.astype(np.int64))
    assert torch.equal(ids[~near_tie], reference[~near_tie]), f"{int((ids != reference)[~near_tie].sum())} ids moved"
    reference_score = scores.gather(1, reference[:, None]).squeeze(1)
    assert bool(((top2[:, 0] - reference_score)[near_tie] < margin).all())


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    """The committed fixture: images, masks, thetas, ids and augmented ids, as the digests above say."""
    with np.load(FIXTURE) as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def computed(reference):
    """What the package computes now from the fixture's inputs, on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        tokenizer = VQTokenizer.load()
        with torch.no_grad():
            sims = similarities(tokenizer, reference["images"])
            ids = tokenizer.tokenize_many(reference["images"])  # (64, 16, 16)
            tokenadapt = TokenAdapt.load(tokenizer=tokenizer)
            given_ids, given_theta = torch.from_numpy(reference["ids"].astype(np.int64)), torch.from_numpy(reference["theta"])
            logits = tokenadapt(given_ids, given_theta, (14, 14))  # (64, K, 14, 14)
            augmented = tokenadapt.augment(given_ids, given_theta, (14, 14))
        theta = thetas()
    finally:
        torch.set_num_threads(threads)
    return {"tokenizer": tokenizer, "sims": sims, "ids": ids, "logits": logits, "augmented": augmented, "theta": theta}


def test_fixture_has_the_reference_digests(reference):
    assert reference["images"].dtype == np.uint8 and reference["images"].shape == (NUM_IMAGES, 64, 64, 3)
    assert sha256(reference["images"]) == IMAGES_SHA256
    assert sha256(reference["ids"].astype(np.int64)) == IDS_SHA256
    assert sha256(reference["augmented"].astype(np.int64)) == AUGMENTED_SHA256
    assert reference["theta"].dtype == np.float32 and reference["theta"].shape == (NUM_IMAGES, 2, 3)


def test_renderer_matches_reference(reference):
    shapes = render_shapes(NUM_IMAGES, split="test")
    levels, image_share, mask_share = rendering_differences(shapes.images, shapes.masks, reference)
    assert levels <= PIXEL_LEVELS and image_share <= PIXEL_SHARE and mask_share <= PIXEL_SHARE, \
        f"rendered images differ by up to {levels} levels in {image_share:.2e} of values, masks in {mask_share:.2e}"
    np.testing.assert_array_equal(shapes.labels, np.arange(NUM_IMAGES) % 12)


@pytest.mark.parametrize("change", [{"seed": 1}, {"max_rotation": 25.5}, {"size_range": (0.20, 0.38)}])
def test_renderer_tolerance_catches_real_changes(reference, change):
    """A slightly different pose distribution (rotations 2% wider, sizes up to 1.3% larger) breaks
    the tolerance, let alone other images: measured, 0.26% and 1.2% of values differ, by up to 105
    and 170 levels, and 0.07% and 0.4% of mask pixels."""
    shapes = render_shapes(NUM_IMAGES, split="test", **change)
    levels, image_share, mask_share = rendering_differences(shapes.images, shapes.masks, reference)
    assert levels > PIXEL_LEVELS and image_share > 10 * PIXEL_SHARE and mask_share > PIXEL_SHARE


def test_thetas(computed, reference):
    assert computed["theta"].dtype == torch.float32
    np.testing.assert_allclose(computed["theta"].numpy(), reference["theta"], rtol=0, atol=THETA_ATOL)


def test_tokenizer_fingerprint(computed):
    assert computed["tokenizer"].fingerprint() == TOKENIZER_FINGERPRINT


def test_reference_tokenizer_ids(computed, reference):
    ids = computed["ids"]
    assert ids.dtype == torch.int64 and tuple(ids.shape) == (NUM_IMAGES, 16, 16)
    assert_ids_match(ids, computed["sims"], reference["ids"], IDS_MARGIN)


def test_reference_tokenadapt_ids(computed, reference):
    augmented = computed["augmented"]
    assert augmented.dtype == torch.int64 and tuple(augmented.shape) == (NUM_IMAGES, 14, 14)
    assert_ids_match(augmented, computed["logits"], reference["augmented"], AUGMENTED_MARGIN)


def test_near_tie_rule_catches_moved_ids(computed, reference):
    """Ids that moved where the best code leads clearly fail the rule."""
    moved = reference["ids"].copy()
    moved[0, 0, :4] = (moved[0, 0, :4] + 1) % 391
    with pytest.raises(AssertionError, match="ids moved"):
        assert_ids_match(computed["ids"], computed["sims"], moved, IDS_MARGIN)


def test_token_store_bytes(computed, reference, tmp_path):
    ids = reference["ids"].astype(np.int64)
    tokenizer = computed["tokenizer"]
    path = tmp_path / "test.tokens"
    write_store(path, ids, np.arange(NUM_IMAGES) % 12, tokenizer.config.codebook_size, 12, tokenizer.fingerprint())
    assert sha256(path.read_bytes()) == STORE_SHA256
    np.testing.assert_array_equal(TokenStore.open(path).read_all(), ids)


def write_fixture(retrained: bool = False) -> None:
    """Compute the fixture on this machine and write it, if it has the digests above (the images' only,
    with `retrained`, printing the others)."""
    torch.set_num_threads(1)
    shapes = render_shapes(NUM_IMAGES, split="test")
    tokenizer = VQTokenizer.load()
    theta = thetas()
    with torch.no_grad():
        ids = tokenizer.tokenize_many(shapes.images)
        augmented = TokenAdapt.load(tokenizer=tokenizer).augment(ids, theta, (14, 14))
    checks = [("images", sha256(shapes.images), IMAGES_SHA256), ("ids", sha256(ids.numpy()), IDS_SHA256),
              ("augmented ids", sha256(augmented.numpy()), AUGMENTED_SHA256)]
    for name, got, want in checks[:1] if retrained else checks:
        if got != want:
            raise SystemExit(f"{name}: digest {got[:12]}..., not the reference {want[:12]}...; see the module docstring")
    FIXTURE.parent.mkdir(exist_ok=True)
    np.savez_compressed(FIXTURE, images=shapes.images, masks=shapes.masks, theta=theta.numpy(),
                        ids=ids.numpy().astype(np.int16), augmented=augmented.numpy().astype(np.int16))
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size / 1e3:.0f} kB)")
    if retrained:
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "test.tokens"
            write_store(path, ids.numpy(), np.arange(NUM_IMAGES) % 12, tokenizer.config.codebook_size, 12,
                        tokenizer.fingerprint())
            store = sha256(path.read_bytes())
        print(f'IDS_SHA256 = "{checks[1][1]}"\nAUGMENTED_SHA256 = "{checks[2][1]}"\nSTORE_SHA256 = "{store}"\n'
              f'TOKENIZER_FINGERPRINT = "{tokenizer.fingerprint()}"')


if __name__ == "__main__":
    import sys
    write_fixture(retrained="--retrained" in sys.argv[1:])
