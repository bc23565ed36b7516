"""Token augmentations: kinds, shapes, seeding and devices for every op, then what each op does."""
import math
import time

import pytest
import torch

from seitpp.augment import (
    OPS,
    CodeSwap,
    ColorAdapt,
    CutMix,
    EmbNoise,
    HFlip,
    Mixup,
    RandomAffine,
    RandomChoice,
    RandomResizedCrop,
    SynonymReplace,
    embed_ids,
    nearest_ids,
    synonyms_from_codebook,
    synonyms_from_json,
)
from seitpp.tokenizers import Codebook

B, H, W, C, K = 8, 8, 8, 4, 16

torch.manual_seed(0)
CODEBOOK = Codebook(K, C)
SYNONYMS = synonyms_from_codebook(CODEBOOK, k=3)

CROP = 6  # the output side of the ops that crop
KINDS = ("ids", "emb")  # every op takes both
CASES = [(name, kind) for name in OPS for kind in KINDS]  # the package's table of ops


def make_input(kind: str, device: str = "cpu", n: int = B) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    if kind == "ids":  # each image mostly uses a few codes of its own, as real images do
        offset = torch.randint(K, (n, 1, 1), generator=g)
        return ((offset + torch.randint(4, (n, H, W), generator=g)) % K).to(device)
    return torch.randn(n, C, H, W, generator=g).to(device)


def gen(seed: int, device: str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def check_contract(name: str, kind: str, device: str) -> None:
    aug = OPS[name].build(CODEBOOK, CROP)
    size = CROP if OPS[name].crops else H
    x = make_input(kind, device)
    out = aug(x, gen(0, device))
    assert out.device == x.device and out.dtype == x.dtype
    if kind == "ids":
        assert out.shape == (B, size, size)
        assert 0 <= out.min() and out.max() < K
    else:
        assert out.shape == (B, C, size, size)
        assert torch.isfinite(out).all()
    assert torch.equal(out, aug(x, gen(0, device))), "same seed, different output"
    assert not torch.equal(out, aug(x, gen(1, device))), "different seeds, same output"


@pytest.mark.parametrize("name,kind", CASES)
def test_contract(name, kind):
    check_contract(name, kind, "cpu")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name,kind", CASES)
def test_contract_on_cuda(name, kind):
    check_contract(name, kind, "cuda")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cpu_generator_drives_cuda_data():
    x = make_input("ids", "cuda")
    out = CodeSwap()(x, gen(0))  # a CPU generator with CUDA data: same maps as on CPU
    assert out.device.type == "cuda" and torch.equal(out.cpu(), CodeSwap()(x.cpu(), gen(0)))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_element_noise_is_drawn_on_the_gpu_from_the_cpu_generator():
    noise = EmbNoise(0.3, 0.3, codebook=CODEBOOK)
    x = make_input("ids", "cuda")
    a, b = noise(x, gen(0)), noise(x, gen(0))
    assert a.device.type == "cuda" and torch.equal(a, b)  # a function of the generator's state
    assert not torch.equal(a, noise(x, gen(1)))


def test_unseeded_and_other_int_dtypes():
    x = make_input("ids").to(torch.int16)
    for aug in (HFlip(), CodeSwap(), RandomAffine(20), SynonymReplace(SYNONYMS), EmbNoise(0.3, 0.3, codebook=CODEBOOK)):
        out = aug(x)
        assert out.dtype == torch.int16 and out.shape == x.shape


def test_appearance_ops_on_ids_need_a_codebook():
    with pytest.raises(ValueError, match="codebook"):
        ColorAdapt()(make_input("ids"))
    with pytest.raises(ValueError, match="codebook"):
        SynonymReplace(SYNONYMS)(make_input("emb"))
    with pytest.raises(ValueError, match=r"\(B, H, W\)"):
        HFlip()(torch.zeros(2, 3, 4, 4, dtype=torch.long))


# ----------------------------------------------------------------------------------------------
# Geometry


@pytest.mark.parametrize("kind", ["ids", "emb"])
def test_hflip(kind):
    x = make_input(kind)
    once = HFlip(p=1.0)(x, gen(0))
    assert torch.equal(once, torch.flip(x, dims=[-1]))
    assert torch.equal(HFlip(p=1.0)(once, gen(1)), x)
    assert torch.equal(HFlip(p=0.0)(x, gen(0)), x)
    some = HFlip(p=0.5)(make_input(kind, n=256), gen(0))
    flipped = (some != make_input(kind, n=256)).flatten(1).any(1).float().mean()
    assert 0.35 < flipped < 0.65


@pytest.mark.parametrize("kind,mode", [("ids", "nearest"), ("emb", "nearest"), ("emb", "bilinear"),
                                       ("ids", "bilinear")])
def test_full_crop_is_identity(kind, mode):
    x = make_input(kind)
    crop = RandomResizedCrop(H, scale=(1, 1), ratio=(1, 1), mode=mode, codebook=CODEBOOK)
    out = crop(x, gen(0))
    assert torch.equal(out, x) if kind == "ids" else torch.allclose(out, x, atol=1e-5)


def test_crop_takes_a_box_of_the_input():
    # ids = row * W + col: a nearest crop's rows and columns are each non-decreasing index ranges
    x = torch.arange(H * W).view(1, H, W).repeat(64, 1, 1)
    out = RandomResizedCrop(4)(x, gen(0))
    rows, cols = out // W, out % W
    assert (rows == rows[:, :, :1]).all() and (cols == cols[:, :1, :]).all()  # a product grid
    assert (rows.diff(dim=1) >= 0).all() and (cols.diff(dim=2) >= 0).all()
    assert len({tuple(r[:, 0].tolist()) for r in rows}) > 1  # boxes differ per sample


@pytest.mark.parametrize("kind,mode", [("ids", "nearest"), ("emb", "nearest"), ("emb", "bilinear")])
def test_zero_affine_is_identity(kind, mode):
    x = make_input(kind)
    out = RandomAffine(0, 0, 0, mode=mode)(x, gen(0))
    assert torch.equal(out, x) if kind == "ids" else torch.allclose(out, x, atol=1e-5)
    assert torch.equal(RandomAffine(30, 0.2, 15, p=0.0)(make_input("ids"), gen(0)), make_input("ids"))


def test_affine_translation_only_shifts():
    aug = RandomAffine(translate=0.5)
    theta = aug.thetas(4, H, W, gen(0), torch.device("cpu"))
    assert torch.allclose(theta[:, :, :2], torch.eye(2).expand(4, 2, 2))
    assert (theta[:, :, 2].abs() <= 1.0 + 1e-6).all() and (theta[:, :, 2].abs() > 0).any()


# ----------------------------------------------------------------------------------------------
# Token-EDA


def test_synonyms_are_the_true_top_k():
    v = CODEBOOK.vectors().detach()
    sim = v @ v.T
    for code in range(K):
        others = [j for j in range(K) if j != code]
        best = sorted(others, key=lambda j: -sim[code, j].item())[:3]
        assert SYNONYMS[code].tolist() == best
    assert not (SYNONYMS == torch.arange(K)[:, None]).any()
    with pytest.raises(ValueError):
        synonyms_from_codebook(CODEBOOK, k=K)


def test_synonyms_from_json():
    table = synonyms_from_json({"0": [1, 2], "1": [0, 2], "2": [1, 0, 5]}, k=2)
    assert table.tolist() == [[1, 2], [0, 2], [1, 0]]


def test_synonym_rate_and_targets():
    x = torch.randint(K, (512, H, W), generator=gen(3))
    out = SynonymReplace(SYNONYMS, p=0.25)(x, gen(0))
    replaced = out != x
    assert abs(replaced.float().mean().item() - 0.25) < 0.01
    is_synonym = (SYNONYMS[x] == out[..., None]).any(-1)
    assert is_synonym[replaced].all()


def test_synonyms_on_embeddings_replace_code_vectors():
    ids = torch.randint(K, (64, H, W), generator=gen(3))
    z = embed_ids(ids, CODEBOOK) * 2.0
    out = SynonymReplace(SYNONYMS, p=0.25, codebook=CODEBOOK)(z, gen(0))
    changed = (out != z).any(1)
    assert torch.equal(nearest_ids(out, CODEBOOK)[~changed], ids[~changed])
    assert torch.equal(nearest_ids(out, CODEBOOK), SynonymReplace(SYNONYMS, p=0.25)(ids, gen(0)))
    assert torch.allclose(out.norm(dim=1), z.norm(dim=1))


@pytest.mark.parametrize("max_fraction", [0.25, 0.5])
def test_code_swap_permutes_each_image(max_fraction):
    x = torch.arange(H * W).view(1, H, W).repeat(256, 1, 1)
    out = CodeSwap(max_fraction=max_fraction)(x, gen(0))
    assert torch.equal(out.flatten(1).sort(1).values, x.flatten(1))  # same multiset (here: a permutation)
    moved = (out != x).flatten(1).sum(1)
    side = (moved / 2).sqrt()
    assert (moved > 0).float().mean() > 0.95  # fallback to no swap is rare
    assert (side[moved > 0] <= max_fraction * H).all()
    assert torch.equal(side[moved > 0].round() ** 2 * 2, moved[moved > 0].float())  # two s x s patches
    assert torch.equal(CodeSwap(p=0.0)(x, gen(0)), x)


# ----------------------------------------------------------------------------------------------
# Embedding ops


@pytest.mark.parametrize("pairing", ["random", "reverse"])
def test_color_adapt_matches_partner_statistics(pairing):
    z = torch.randn(B, C, H, W, generator=gen(4)) * torch.rand(B, C, 1, 1, generator=gen(5)) * 3 + 2
    aug = ColorAdapt(0.5, pairing=pairing)
    out = aug(z, gen(0))
    partner = aug.partners(B, gen(0), z.device)
    var, mean = torch.var_mean(z, dim=(2, 3), correction=0)
    var_out, mean_out = torch.var_mean(out, dim=(2, 3), correction=0)
    adapted = (out != z).flatten(1).any(1)
    assert adapted.sum() == B // 2
    assert torch.allclose(mean_out[adapted], mean[partner][adapted], atol=1e-4)
    assert torch.allclose(var_out[adapted].sqrt(), var[partner][adapted].sqrt(), atol=1e-3)
    assert torch.equal(out[~adapted], z[~adapted])
    if pairing == "reverse":
        assert partner.tolist() == list(range(B - 1, -1, -1))
    else:
        assert (partner != torch.arange(B)).all() and sorted(partner.tolist()) == list(range(B))


def test_emb_noise_std():
    z = torch.zeros(4096, C, H, W)
    out = EmbNoise(scale=0.6, std=0.8)(z, gen(0))
    assert abs(out.std().item() - math.sqrt(0.6**2 + 0.8**2)) < 0.02
    per_channel = out.mean(dim=(2, 3))  # the shared offset dominates the spatial mean
    assert abs(per_channel.std().item() - math.sqrt(0.6**2 + 0.8**2 / (H * W))) < 0.02
    assert torch.equal(EmbNoise(0, 0)(z, gen(0)), z)


def test_noise_free_appearance_ops_keep_ids():
    ids = make_input("ids")
    assert torch.equal(EmbNoise(0, 0, codebook=CODEBOOK)(ids, gen(0)), ids)


def test_random_choice_touches_only_a_fraction():
    z = make_input("emb", n=64)
    aug = RandomChoice([(EmbNoise(), 0.5), (None, 0.5)], fraction=0.25)
    changed = [(aug(z, gen(seed)) != z).flatten(1).any(1).sum().item() for seed in range(8)]
    assert set(changed) == {0, 16}


def test_gradients_flow_through_appearance_ops():
    # SeiT++ augments learned embeddings: the ops must stay differentiable on float input
    for aug in (EmbNoise(), ColorAdapt(1.0), RandomResizedCrop(6, mode="bilinear"), RandomAffine(20, mode="bilinear"),
                HFlip(), CodeSwap()):
        z = make_input("emb").requires_grad_()
        aug(z, gen(0)).square().sum().backward()
        assert z.grad is not None and torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


# ----------------------------------------------------------------------------------------------
# Label mixing


@pytest.mark.parametrize("kind", ["ids", "emb"])
def test_cutmix_labels_match_pasted_area(kind):
    n = 64
    ids = torch.arange(n)[:, None, None].expand(n, H, W).clone()  # every token of sample i is i
    x = ids if kind == "ids" else ids[:, None].expand(n, C, H, W).float()
    out, soft = CutMix(alpha=1.0)(x, torch.arange(n), n, gen(0))
    assert out.shape == x.shape and out.dtype == x.dtype and soft.shape == (n, n)
    assert torch.allclose(soft.sum(1), torch.ones(n))
    own = (out if kind == "ids" else out[:, 0]) == ids
    assert torch.allclose(soft[torch.arange(n), torch.arange(n)], own.float().mean(dim=(1, 2)))
    assert (~own).any()  # something was pasted
    # soft labels in, soft labels out
    _, soft2 = CutMix()(x, torch.eye(n), n, gen(0))
    assert torch.allclose(soft2, soft)


def test_mixup_weights():
    n = 32
    z = torch.arange(n).float()[:, None, None, None].expand(n, C, H, W)  # sample i is all i, label i
    out, soft = Mixup(alpha=0.8)(z, torch.arange(n), n, gen(0))
    assert torch.allclose(soft.sum(1), torch.ones(n)) and (soft >= 0).all()
    assert ((soft > 0).sum(1) <= 2).all()  # itself and one partner
    # x_mixed = lam x_i + (1 - lam) x_j and labels likewise: the mixed value is the label-weighted class index
    assert torch.allclose(out, (soft @ torch.arange(n).float())[:, None, None, None].expand_as(out), atol=1e-4)
    lam = soft.max(1).values
    assert lam.min() < 0.9  # real mixing happened
    with pytest.raises(ValueError, match="ids"):
        Mixup()(torch.zeros(2, H, W, dtype=torch.long), torch.arange(2), 2)


# ----------------------------------------------------------------------------------------------
# Vectorised: a large batch is fast


@pytest.mark.parametrize("name", list(OPS))
def test_large_batch_is_fast(name):
    aug = OPS[name].build(CODEBOOK, CROP)
    x = torch.randint(K, (2048, H, W), generator=gen(0))
    aug(x[:8], gen(0))  # warm up
    start = time.perf_counter()
    aug(x, gen(0))
    assert time.perf_counter() - start < 2.0


def test_affine_theta_is_the_same_transform_on_any_grid():
    from seitpp.augment import affine_theta, warp

    x = torch.arange(16.0).view(1, 1, 4, 4)
    assert torch.equal(warp(x, affine_theta(1, hflip=True), mode="nearest"), x.flip(-1))
    assert torch.equal(warp(x, affine_theta(1, degrees=90), mode="nearest")[0, 0, 0], torch.tensor([3.0, 7.0, 11.0, 15.0]))
    assert torch.equal(warp(x, affine_theta(1, scale=0.5), mode="nearest")[0, 0],
                       torch.tensor([[5.0, 6.0], [9.0, 10.0]]).repeat_interleave(2, 0).repeat_interleave(2, 1))
    assert torch.equal(warp(x, affine_theta(1, translate=(0.25, 0.0)), mode="nearest")[0, 0, 0], torch.tensor([0.0, 0.0, 1.0, 2.0]))
    # ids: exact, and a 2x larger grid under the same theta gives the 2x upsampled answer
    ids = torch.arange(16).view(1, 1, 4, 4)
    assert torch.equal(warp(ids, affine_theta(1, hflip=True)), ids.flip(-1))
    big = x.repeat_interleave(2, -1).repeat_interleave(2, -2)
    theta = affine_theta(1, degrees=90)
    assert torch.equal(warp(big, theta, mode="nearest"), warp(x, theta, mode="nearest").repeat_interleave(2, -1).repeat_interleave(2, -2))


# ----------------------------------------------------------------------------------------------
# The naive ops measured (chapter 2): agreement, the floor, where ids disagree, one patch zoomed


class PatchTable:
    """A tokenizer with a purely local, lossless decoder: id k is the k-th 4 x 4 patch of a table
    that holds every patch of `images` and its mirror image, so decode(tokenize(x)) == x exactly.
    With it, a flip's every disagreement is the patch not being mirrored: nothing else can differ."""

    def __init__(self, images: torch.Tensor, d: int = 4):
        self.config = type("Config", (), {"downsample": d})()
        patches = self._patches(images)
        self.table = torch.unique(torch.cat([patches, patches.view(-1, 3, d, d).flip(-1).flatten(1)]), dim=0)
        vectors = torch.randn(len(self.table), 8, generator=torch.Generator().manual_seed(0))
        self.codebook = type("Codes", (), {"vectors": lambda _: torch.nn.functional.normalize(vectors, dim=1)})()

    def _patches(self, images: torch.Tensor) -> torch.Tensor:  # (N, 3, S, S) -> (N * H * W, 3 * d * d)
        d = self.config.downsample
        return images.unfold(2, d, d).unfold(3, d, d).permute(0, 2, 3, 1, 4, 5).flatten(3).flatten(0, 2)

    def tokenize(self, images: torch.Tensor) -> torch.Tensor:
        N, _, S, _ = images.shape
        return torch.cdist(self._patches(images), self.table).argmin(1).view(N, S // self.config.downsample, -1)

    inference_batch = 256  # images per batch where a caller gives none, as VQTokenizer has

    def tokenize_many(self, images: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
        return self.tokenize(images)

    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        d, (N, H, W) = self.config.downsample, ids.shape
        return self.table[ids].view(N, H, W, 3, d, d).permute(0, 3, 1, 4, 2, 5).reshape(N, 3, H * d, W * d)


def random_images(n: int = 3, side: int = 16) -> torch.Tensor:
    """Images whose every 4 x 4 patch differs from its own mirror image."""
    return torch.rand(n, 3, side, side, generator=torch.Generator().manual_seed(2))


def test_disagreement_map_is_the_share_of_images_that_differ_at_each_cell():
    from seitpp.augment import disagreement_map

    a = torch.zeros(4, 2, 3, dtype=torch.long)
    b = a.clone()
    b[0, 0, 0] = b[1, 0, 0] = b[3, 1, 2] = 7
    assert torch.equal(disagreement_map(a, b), torch.tensor([[0.5, 0, 0], [0, 0, 0.25]]))
    assert torch.equal(disagreement_map(a, a), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="differ in shape"):
        disagreement_map(a, b[:, :, :2])


def test_identity_agrees_fully_with_an_empty_disagreement_map(tokenizer):
    from seitpp.augment import compare_naive, noise_floor
    from seitpp.data import images_to_tensor, render_shapes

    x = images_to_tensor(render_shapes(4, split="test", classes="objects").images)
    same = compare_naive(tokenizer, x, lambda im: im, lambda grid: grid)
    assert same.agreement == 1.0 and torch.equal(same.per_image, torch.ones(4))
    assert torch.equal(same.disagreement, torch.zeros(16, 16))
    assert same.code_distance == pytest.approx(0.0, abs=1e-6) and same.psnr_lost == 0.0
    assert noise_floor(tokenizer, x, sigma=0.0).agreement == 1.0  # no noise, no change


def test_pixel_noise_is_seeded_small_and_in_range():
    from seitpp.augment import FLOOR_SIGMA
    from seitpp.data import pixel_noise

    x = torch.full((2, 3, 64, 64), 0.5)
    a, b, c = pixel_noise(x, FLOOR_SIGMA), pixel_noise(x, FLOOR_SIGMA), pixel_noise(x, FLOOR_SIGMA, seed=1)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert (a - x).std().item() == pytest.approx(FLOOR_SIGMA, rel=0.05)
    assert pixel_noise(torch.zeros(1, 3, 8, 8), 0.1).min() == 0 and pixel_noise(torch.ones(1, 3, 8, 8), 0.1).max() == 1


def test_flip_agreement_is_far_below_the_floor(tokenizer):
    """Chapter 2's claim at test size: an invisible change keeps most ids, a flip of the grid does not."""
    from seitpp.augment import compare_naive, noise_floor
    from seitpp.data import images_to_tensor, render_shapes

    x = images_to_tensor(render_shapes(12, split="test", classes="objects").images)
    ids = tokenizer.tokenize_many(x)
    flip = compare_naive(tokenizer, x, lambda im: im.flip(-1), lambda grid: grid.flip(-1), ids)
    by_hand = (tokenizer.tokenize_many(x.flip(-1)) == ids.flip(-1)).float().mean().item()
    assert flip.agreement == pytest.approx(by_hand)
    assert 1 - flip.disagreement.mean().item() == pytest.approx(flip.agreement)
    assert flip.per_image.mean().item() == pytest.approx(flip.agreement)
    floor = noise_floor(tokenizer, x, ids)
    assert floor.agreement == noise_floor(tokenizer, x, ids).agreement  # seeded: the same every run
    assert flip.agreement < floor.agreement - 0.2 and floor.agreement < 1.0


def test_with_a_lossless_local_tokenizer_a_flip_of_the_grid_never_agrees():
    from seitpp.augment import compare_naive, noise_floor

    x = random_images()
    table = PatchTable(x)
    flip = compare_naive(table, x, lambda im: im.flip(-1), lambda grid: grid.flip(-1))
    assert flip.agreement == 0.0 and torch.equal(flip.disagreement, torch.ones(4, 4))
    assert flip.psnr_lost > 0
    assert noise_floor(table, x, sigma=0.0).agreement == 1.0


def test_flip_zoom_patches():
    """The naive id, decoded, is the source patch unmirrored; the tokens of flip(x) give it mirrored."""
    from seitpp.augment import flip_zoom

    x = random_images(1)
    table = PatchTable(x)
    zoom = flip_zoom(table, x[0], position=(1, 0))
    assert zoom.source == (1, 0) and zoom.target == (1, 3) and zoom.downsample == 4
    p = zoom.patches
    assert torch.equal(p["x"], x[0, :, 4:8, 0:4])
    assert torch.equal(p["T(x) decoded"], p["x"])  # lossless
    assert torch.equal(p["flip(x)"], p["x"].flip(-1))  # what the tokenizer sees after a pixel flip
    assert torch.equal(p["flip(T(x)) decoded"], p["T(x) decoded"])  # the moved id: the original patch, not mirrored
    assert torch.equal(p["T(flip(x)) decoded"], p["x"].flip(-1))
    assert zoom.source_id == int(table.tokenize(x)[0, 1, 0]) and zoom.truth_id == int(table.tokenize(x.flip(-1))[0, 1, 3])
    assert zoom.source_id != zoom.truth_id
    assert all(im.shape == (3, 16, 16) for im in zoom.images.values())


def test_flip_zoom_picks_the_most_asymmetric_patch_where_ids_disagree(tokenizer):
    from seitpp.augment import flip_zoom, most_asymmetric_token
    from seitpp.data import images_to_tensor, render_shapes

    image = images_to_tensor(render_shapes(24, split="test", classes="objects").images)[23]
    zoom = flip_zoom(tokenizer, image)
    (r, c), (r2, c2) = zoom.source, zoom.target
    assert r2 == r and c2 == 15 - c and zoom.source_id != zoom.truth_id
    differ = (tokenizer.tokenize(image.flip(-1)[None])[0] != tokenizer.tokenize(image[None])[0].flip(-1)).flip(-1)
    assert differ[r, c] and zoom.source == most_asymmetric_token(image, 4, differ)
    assert torch.equal(zoom.patches["flip(x)"], zoom.patches["x"].flip(-1))
    patches = image.unfold(1, 4, 4).unfold(2, 4, 4)  # (3, 16, 16, 4, 4)
    asymmetry = (patches - patches.flip(-1)).abs().mean((0, 3, 4))
    r, c = most_asymmetric_token(image, 4)
    assert asymmetry[r, c] == asymmetry.max() > asymmetry[differ].min()


def test_decoded_orientation_with_a_lossless_local_tokenizer():
    from seitpp.augment import decoded_orientation

    x = random_images()
    counts = decoded_orientation(PatchTable(x), x, min_asymmetry=0.0)
    assert counts == {"positions": 3 * 4 * 4, "naive unmirrored": 1.0, "truth mirrored": 1.0}
    assert decoded_orientation(PatchTable(x), x, min_asymmetry=2.0)["positions"] == 0  # no patch differs by more than 1
