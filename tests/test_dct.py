"""DCT-coefficient inputs (seitpp.data.dct): codec, storage, the DCT ViT, colour swap and masked modeling.

The transform is checked against its definition (orthonormal, exact round trip, DC = 8 x mean) and
against Pillow's JPEG at 4:4:4 (the same PSNR at the same quality); the byte format reads back
exactly and is measured against Pillow's files; the model's shapes match the token ViT's; the
colour swap moves colour and keeps layout; masked modeling learns on Shapes.
"""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from seitpp.augment.dct import DCTPolicy, dct_color_swap, hflip_levels
from seitpp.data import render_shapes
from seitpp.data.dct import (
    CHROMA_TABLE,
    LUMA_TABLE,
    ZIGZAG,
    block_dct,
    block_idct,
    bytes_per_image,
    decode,
    dequantize,
    encode,
    from_bytes,
    quant_tables,
    rgb_to_ycbcr,
    to_bytes,
    ycbcr_to_rgb,
)
from seitpp.engine import TrainConfig, evaluate, train, with_overrides
from seitpp.errors import TrainSetupError
from seitpp.models import create_model, load_encoder
from seitpp.models.dct import (
    DCTViTConfig,
    MaskedDCTModel,
    coefficient_rms,
    prior_scale,
    random_block_mask,
)
from seitpp.tokens import Split

TINY = dict(embed_dim=16, depth=2, num_heads=2)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return render_shapes(48, split="train").images  # uint8 (48, 64, 64, 3)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)) ** 2)
    return float(10 * np.log10(255**2 / mse))


def _pillow_jpegs(images: np.ndarray, quality: int) -> list[bytes]:
    """Pillow JPEG files at 4:4:4 (full-resolution chroma, as `encode`)."""
    files = []
    for image in images:
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, "JPEG", quality=quality, subsampling=0)
        files.append(buf.getvalue())
    return files


# ----------------------------------------------------------------------------------------------
# The transform


def test_dct_and_colour_round_trip_exact():
    x = torch.rand(2, 3, 16, 24, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 255
    c = block_dct(x)
    assert c.shape == (2, 192, 2, 3)
    torch.testing.assert_close(block_idct(c), x, atol=1e-4, rtol=0)
    torch.testing.assert_close(ycbcr_to_rgb(rgb_to_ycbcr(x)), x, atol=1e-4, rtol=0)
    # orthonormal: energy is kept, and the DC (zigzag index 0) of a block is 8 x its mean
    torch.testing.assert_close(c.pow(2).sum(), x.pow(2).sum())
    block_means = x.unfold(2, 8, 8).unfold(3, 8, 8).mean(dim=(-1, -2))  # (2, 3, 2, 3)
    torch.testing.assert_close(c[:, ::64], 8 * block_means)


def test_zigzag_order():
    assert ZIGZAG[:10].tolist() == [0, 1, 8, 16, 9, 2, 3, 10, 17, 24]
    assert ZIGZAG[-3:].tolist() == [55, 62, 63]
    assert sorted(ZIGZAG.tolist()) == list(range(64))


def test_quant_tables():
    torch.testing.assert_close(quant_tables(50), torch.stack([LUMA_TABLE, CHROMA_TABLE]))
    assert LUMA_TABLE[0].tolist() == [16, 11, 10, 16, 24, 40, 51, 61]
    assert (quant_tables(100) == 1).all()
    assert quant_tables(1).max() == 255  # baseline JPEG clamps to 8-bit entries
    assert quant_tables(10)[0, 0, 0] == 80  # 5000 / 10 = 500 %: (16 * 500 + 50) // 100
    assert (quant_tables(25) >= quant_tables(75)).all()
    for bad in (0, 101, 50.0, True):
        with pytest.raises(ValueError, match="quality"):
            quant_tables(bad)


def test_encode_shapes_and_dtype(images, monkeypatch):
    levels = encode(images[:4], 50)
    decoded = decode(levels)
    monkeypatch.setattr("seitpp.data.dct.CHUNK", 3)  # a batch split into chunks gives the same levels and images
    assert torch.equal(encode(images[:4], 50), levels) and torch.equal(decode(levels), decoded)
    monkeypatch.undo()
    assert levels.shape == (4, 192, 8, 8) and levels.dtype == torch.int16
    assert encode(torch.as_tensor(images[:2, :40, :48]), 90).shape == (2, 192, 5, 6)
    assert decode(levels).shape == (4, 64, 64, 3) and decode(levels).dtype == torch.uint8


def test_psnr_rises_with_quality_as_pillow(images):
    psnrs = []
    for q in (10, 50, 90):
        ours = _psnr(decode(encode(images, q), q).numpy(), images)
        pillow = _psnr(np.stack([np.asarray(Image.open(io.BytesIO(f))) for f in _pillow_jpegs(images, q)]), images)
        assert abs(ours - pillow) < 0.3, (q, ours, pillow)  # same tables, same transform
        psnrs.append(ours)
    assert psnrs[0] < psnrs[1] < psnrs[2]
    assert psnrs[0] > 24  # quality 10 on Shapes: 26 dB


def test_wrong_inputs(images):
    with pytest.raises(ValueError, match="uint8"):
        encode(images.astype(np.float32))
    with pytest.raises(ValueError, match="uint8"):
        encode(torch.as_tensor(images).permute(0, 3, 1, 2))  # channels first
    with pytest.raises(ValueError, match="multiples of 8"):
        encode(images[:, :60])
    with pytest.raises(ValueError, match="multiples of 8"):
        block_dct(torch.rand(1, 3, 12, 16))
    with pytest.raises(ValueError, match="integer"):
        decode(torch.zeros(1, 192, 2, 2))  # float levels
    with pytest.raises(ValueError, match="integer"):
        create_model("dct_micro", **TINY)(torch.zeros(1, 64, 7, 7, dtype=torch.int16))  # one channel's coefficients only
    with pytest.raises(ValueError, match="192, h, w"):
        to_bytes(torch.zeros(2, 192, 2, 2, dtype=torch.int16))
    with pytest.raises(ValueError, match="partners"):
        dct_color_swap(torch.zeros(2, 192, 2, 2, dtype=torch.int16), torch.tensor([1]))


# ----------------------------------------------------------------------------------------------
# Storage


def test_bytes_round_trip_exact(images):
    levels = encode(images[:4], 100)  # the largest levels a photo gives
    extreme = torch.randint(-2000, 2001, (192, 3, 2), dtype=torch.int16, generator=torch.Generator().manual_seed(0))
    alternating = torch.tensor([-4095, 4095], dtype=torch.int16).repeat(192, 2, 1)  # the largest DC differences
    for one in [*levels, extreme, alternating, torch.zeros(192, 1, 1, dtype=torch.int16)]:
        assert torch.equal(from_bytes(to_bytes(one)), one)
    with pytest.raises(ValueError, match="4095"):
        to_bytes(extreme * 3)


def test_bytes_per_image_against_pillow(images):
    """Ours is within 1.5x of Pillow's entropy-coded scan (its file after the SOS marker) at every quality;
    the whole file also carries ~600 bytes of tables and headers, which dominate at low quality."""
    sizes = []
    for q in (10, 50, 90):
        ours = bytes_per_image(encode(images, q))
        files = _pillow_jpegs(images, q)
        whole = np.mean([len(f) for f in files])
        scan = np.mean([len(f) - f.index(b"\xff\xda") for f in files])
        assert 2 / 3 < ours / scan < 3 / 2, (q, ours, scan)
        assert ours < whole, (q, ours, whole)
        sizes.append(ours)
    assert sizes[0] < sizes[1] < sizes[2]


# ----------------------------------------------------------------------------------------------
# The model


def test_dct_vit_shapes_and_grid(images):
    model = create_model("dct_micro", num_classes=12, quality=50)
    token_vit = create_model("tvit_micro", num_classes=12)
    assert model.grid == token_vit.grid == (7, 7)  # 56 x 56 crop: 7 x 7 blocks, as 14 x 14 tokens
    assert model.pos_embed.shape == token_vit.pos_embed.shape
    levels = encode(images[:2], 50)
    for x in (levels[..., :7, :7], levels):  # a block-aligned 56 x 56 crop, the whole 64 x 64 image
        logits = model(x)
        assert logits.shape == (2, 12) and torch.isfinite(logits).all()
    model(levels).sum().backward()
    assert model.patch_embed.proj.weight.grad.abs().sum() > 0
    assert "patch_embed.scale" in model.state_dict()  # the input scale travels with the checkpoint
    with pytest.raises(ValueError, match="unknown model"):
        create_model("dct_huge")
    with pytest.raises(TypeError, match="no field"):
        create_model("dct_micro", patch_size=16)
    with pytest.raises(ValueError, match="scale"):
        create_model("dct_micro", scale=torch.zeros(192))


def test_stem_inputs_are_of_order_one(images):
    levels = encode(images, 50)
    model = create_model("dct_micro", **TINY, scale=coefficient_rms(levels, 50))
    x = model.patch_embed.normalize(levels)  # (B, L, 192)
    rms = x.pow(2).mean(dim=(0, 1)).sqrt()
    nonzero = (levels != 0).any(dim=(0, 2, 3))
    torch.testing.assert_close(rms[nonzero], torch.ones(int(nonzero.sum())))
    prior = create_model("dct_micro", **TINY).patch_embed.normalize(levels).pow(2).mean().sqrt()  # the data-free default
    assert 0.2 < prior < 5
    assert prior_scale().shape == (192,)


# ----------------------------------------------------------------------------------------------
# ColorAdapt in DCT space


def _luma_edges(rgb: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) -> (B, (H-1)(W-1)) gradient magnitude of the luma."""
    y = rgb.float() @ torch.tensor([0.299, 0.587, 0.114])
    return torch.hypot(y[:, :-1, 1:] - y[:, :-1, :-1], y[:, 1:, :-1] - y[:, :-1, :-1]).flatten(1)


def _corr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))


def test_color_swap_moves_colour_keeps_layout(images):
    levels = encode(images[:16], 50)
    partners = torch.arange(16).roll(1)
    swapped = dct_color_swap(levels, partners)
    assert swapped.shape == levels.shape and swapped.dtype == levels.dtype
    assert torch.equal(swapped[:, 1:64], levels[:, 1:64])  # only DCs change without low_freq

    def unclipped_rgb(x: torch.Tensor) -> torch.Tensor:
        return ycbcr_to_rgb(block_idct(dequantize(x, 50).double()) + 128)  # (B, 3, H, W)

    # the mean colour is the partner's, up to the rounding of the levels (before clipping to [0, 255])
    mean_colour = unclipped_rgb(swapped).mean(dim=(2, 3))
    target = unclipped_rgb(levels).mean(dim=(2, 3))[partners]
    assert (mean_colour - target).abs().max() < 1.5
    # after clipping, out-of-gamut pixels move it a little; it is still far nearer the partner's
    ours, source = decode(swapped).float().mean(dim=(1, 2)), decode(levels).float().mean(dim=(1, 2))
    err = (ours - source[partners]).abs().mean()
    assert err < 0.15 * (source - source[partners]).abs().mean()

    # the layout is the source's
    edges, src_edges = _luma_edges(decode(swapped)), _luma_edges(decode(levels))
    to_source, to_partner = _corr(edges, src_edges), _corr(edges, src_edges[partners])
    assert (to_source > to_partner + 0.3).all() and to_source.mean() > 0.85

    # identity partners change nothing; low_freq also moves AC contrast towards the partner's
    assert torch.equal(dct_color_swap(levels, torch.arange(16)), levels)
    ac = dct_color_swap(levels, partners, low_freq=5)[:, 1:6].float().pow(2).mean(dim=(1, 2, 3)).sqrt()
    target_ac = levels[:, 1:6].float().pow(2).mean(dim=(1, 2, 3)).sqrt()[partners]
    torch.testing.assert_close(ac, target_ac, rtol=0.05, atol=0.1)


# ----------------------------------------------------------------------------------------------
# Masked modeling


def test_random_block_mask():
    mask = random_block_mask(4, 49, 0.5, torch.Generator().manual_seed(0))
    assert mask.shape == (4, 49) and (mask.sum(1) == 24).all()  # round(24.5) = 24, half to even
    assert not torch.equal(mask[0], mask[1])
    with pytest.raises(ValueError, match="ratio"):
        random_block_mask(1, 4, 1.0)


def test_masked_loss_decreases_and_encoder_loads(images):
    """Trained on 32 images, the masked DCs of 16 others are predicted far better than by their mean."""
    torch.manual_seed(0)
    levels = encode(images, 50)
    scale = coefficient_rms(levels, 50)
    config = DCTViTConfig(embed_dim=32, depth=2, num_heads=2, img_size=64, quality=50)
    model = MaskedDCTModel(config, scale=scale, ratio=0.5)
    held_out, train = levels[:16], levels[16:]

    def held_out_loss() -> float:
        with torch.no_grad():
            return model(held_out, torch.Generator().manual_seed(1))[0].item()

    # the best context-free guess: each DC's mean over the training images
    dcs = model.encoder.patch_embed.normalize(levels)[..., ::64]  # (48, L, 3)
    mask = random_block_mask(16, 64, 0.5, torch.Generator().manual_seed(1))  # the mask held_out_loss draws
    guess = ((dcs[:16] - dcs[16:].mean(dim=(0, 1))) ** 2).mean(-1)
    baseline = ((guess * mask).sum() / mask.sum()).item()

    before = held_out_loss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(60):
        loss, pred, mask = model(train[torch.randint(32, (16,), generator=g)], g)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert pred.shape == (16, 64, 3) and mask.shape == (16, 64)
    after = held_out_loss()
    assert after < 0.75 * before and after < 0.75 * baseline, (before, after, baseline)  # measured: 0.56 x baseline

    classifier = create_model("dct_micro", num_classes=12, embed_dim=32, depth=2, num_heads=2, img_size=64, scale=scale)
    assert load_encoder(classifier, model.encoder.state_dict()) == sorted(
        k for k in classifier.state_dict() if k.startswith(("fc_norm", "head")))


# ----------------------------------------------------------------------------------------------
# DCT levels as tasks of the engine


def dct_config(**changes) -> TrainConfig:
    return with_overrides(TrainConfig(), dict(task="finetune", model="dct_micro", crop=7, quality=10, epochs=1,
                                              warmup_epochs=0.2, batch_size=8, lr=2e-3, min_lr=1e-5, weight_decay=0.05,
                                              layer_decay=0.85, clip_grad=1.0, drop_path=0.0, log_every=2) | changes)


@pytest.fixture(scope="module")
def level_split(images) -> Split:
    return Split(encode(images[:32], 10), torch.from_numpy(render_shapes(32, split="train").labels), 12,
                 source="shapes levels", kind="dct")


def test_dct_policy_crops_mirrors_and_swaps_colour_exactly(level_split):
    x, y = level_split.x[:6], level_split.targets[:6]
    crops, same = DCTPolicy(7)(x, y, torch.Generator().manual_seed(0))
    assert crops.shape == (6, 192, 7, 7) and crops.dtype == x.dtype and torch.equal(same, y)
    for crop, full in zip(crops, x):  # a block-grid slice of the image or of its mirror
        assert any(torch.equal(crop, v[:, i:i + 7, j:j + 7]) for v in (full, hflip_levels(full[None])[0])
                   for i in range(2) for j in range(2))
    swapped, _ = DCTPolicy(7, color_swap=0.5)(x, y, torch.Generator().manual_seed(0))
    assert (swapped != crops).flatten(1).any(1).sum() == 3  # half the batch took a partner's colour


def test_dct_training_is_deterministic_and_a_pretrained_encoder_loads(level_split, tmp_path):
    pre = train(dct_config(task="pretrain", policy="none", layer_decay=None, label_smoothing=0.0), level_split,
                out_dir=tmp_path / "pre", progress=False)
    assert isinstance(pre.model, MaskedDCTModel) and pre.steps == 4
    assert all(np.isfinite(h["loss"]) for h in pre.history)
    runs = [train(dct_config(color_swap=0.5), level_split, level_split, init=tmp_path / "pre", progress=False)
            for _ in range(2)]
    a, b = (r.model.state_dict() for r in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert sorted(runs[0].missing_keys) == sorted(k for k in a if k.startswith(("fc_norm", "head")))
    assert 0.0 <= runs[0].metrics["val_top1"] <= 1.0
    assert evaluate(runs[0].model, level_split, runs[0].config) == pytest.approx(runs[0].metrics)


def test_dct_setup_errors(level_split):
    with pytest.raises(TrainSetupError, match="color_swap must be a share"):
        dct_config(color_swap=2.0)
    with pytest.raises(TrainSetupError, match="quality"):
        dct_config(quality=0)
    with pytest.raises(TrainSetupError, match="32 samples, fewer than one batch of 64"):
        train(dct_config(batch_size=64), level_split, progress=False)
    with pytest.raises(TrainSetupError, match="4 samples but 3 labels"):
        Split(level_split.x[:4], level_split.targets[:3], 12, kind="dct")
    with pytest.raises(TrainSetupError, match="task 'segment' does not train on DCT levels"):
        train(dct_config(task="segment", policy="none", mixup=0.0, cutmix=0.0, label_smoothing=0.0), level_split,
              progress=False)
    with pytest.raises(TrainSetupError, match="a model named dct_<size>"):
        train(dct_config(model="tvit_micro"), level_split, progress=False)
