"""Token and pixel ViTs (seitpp.models) and masked token modeling (seitpp.models.mtm).

Every registered model at a tiny width: shapes, dtype, no NaN, gradients. Then behaviour: ids and
one-hots agree, the SeiT stem's codes are checked and frozen, layer decay groups follow depth, the
MTM masking and loss do what the chapter says, MTM training lowers the loss on real token grids,
and the pre-trained encoder arrives whole in a classifier.
"""
import json
import math

import pytest
import torch
import torch.nn.functional as F
from timm.optim import create_optimizer_v2

from seitpp.data import images_to_tensor, render_shapes
from seitpp.engine import config_from_dict
from seitpp.models import (
    MTM_MODELS,
    MaskedTokenModel,
    MTMConfig,
    TokenViT,
    code_frequencies,
    create_model,
    frequency_loss,
    frequency_prediction,
    list_models,
    load_encoder,
    masked_predictions,
    masked_token_scores,
    most_frequent_visible,
    patchify,
    truncated_normal,
    unpatchify,
    visible_neighbours,
)
from seitpp.models.dct import DCTViT
from seitpp.tokenizers import VQTokenizer

K, C = 391, 32
TINY = dict(embed_dim=16, depth=2, num_heads=2, num_classes=5)
TINY_MTM = dict(embed_dim=16, depth=1, num_heads=2, decoder_dim=16, decoder_depth=1, decoder_heads=2)


pytestmark = pytest.mark.usefixtures("one_thread")


def _codes() -> torch.Tensor:
    return F.normalize(torch.randn(K, C, generator=torch.Generator().manual_seed(0)), dim=1)


def _input(model, B: int = 2) -> torch.Tensor:
    if isinstance(model, TokenViT):
        return torch.randint(K, (B, 14, 14))
    if isinstance(model, DCTViT):
        return torch.randint(-20, 21, (B, 192, 7, 7), dtype=torch.int16)
    return torch.rand(B, 3, 56, 56)


CLASSIFIERS = [n for n in list_models() if n.split("_")[0] in ("tvit", "pvit", "dct")]


# ----------------------------------------------------------------------------------------------
# Every registered model


def test_registry():
    names = list_models()
    for size in ("micro", "tiny", "small", "base"):
        assert {f"tvit_{size}", f"pvit_{size}", f"mtm_{size}", f"dct_{size}"} <= set(names)
    assert "segmenter" in names
    with pytest.raises(ValueError, match="unknown model"):
        create_model("tvit_huge")
    with pytest.raises(TypeError, match="no field"):
        create_model("tvit_micro", embed_dims=8)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_forward_backward(name):
    torch.manual_seed(0)
    model = create_model(name, **TINY, drop_path_rate=0.1)
    x = _input(model)
    y = model(x)
    assert y.shape == (2, 5) and y.dtype == torch.float32 and torch.isfinite(y).all()
    y.sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing
    tokens = model.forward_features(x)
    assert tokens.shape == (2, 1 + 49, 16)
    assert model.forward_head(tokens, pre_logits=True).shape == (2, 16)


@pytest.mark.parametrize("name", [n for n in list_models() if n.startswith("mtm_") or n == "segmenter"])
def test_the_other_registered_models_train(name):
    """MTM and the segmenter, created by name like the classifiers: finite output, gradients everywhere
    (the pixel CNNs have their own tests, tests/test_cnn_baseline.py)."""
    torch.manual_seed(0)
    ids = torch.randint(K, (2, 14, 14))
    if name == "segmenter":
        model = create_model(name, num_classes=5, codebook_size=K, encoder="tvit_micro", grid_size=14)
        out = model(ids, (28, 28))
        assert out.shape == (2, 5, 28, 28)
        loss = out.sum()
    else:
        model = create_model(name, **TINY_MTM, grid_size=14)
        loss = model(ids)[0]
    assert torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("stem", ["seitpp", "seit"])
@pytest.mark.parametrize("pool", ["avg", "token"])
def test_token_stems(stem, pool):
    codes = _codes() if stem == "seit" else None
    model = create_model("tvit_micro", **TINY, stem=stem, global_pool=pool, codes=codes)
    ids = torch.randint(K, (3, 14, 14))
    y = model(ids)
    assert y.shape == (3, 5) and torch.isfinite(y).all()
    y.sum().backward()
    assert model.patch_embed.proj.weight.grad is not None
    if stem == "seit":  # the codes are a frozen buffer, saved with the model but never trained
        assert "patch_embed.codes" not in dict(model.named_parameters())
        assert torch.equal(model.state_dict()["patch_embed.codes"], codes)
    else:
        assert model.patch_embed.codes.weight.grad is not None


@pytest.mark.parametrize("stem", ["seitpp", "seit"])
@pytest.mark.parametrize("kernel", [2, 4, 6])
def test_patch_kernel_sets_each_patchs_view_and_keeps_the_grid(stem, kernel):
    """Both stems take any even kernel: always one patch per 2 x 2 tokens, and a patch sees exactly the
    tokens under its kernel, centred on its own 2 x 2 (changing a token outside leaves it alone)."""
    model = create_model("tvit_micro", **TINY, stem=stem, patch_kernel=kernel,
                         codes=_codes() if stem == "seit" else None).eval()
    assert model.patch_embed.proj.kernel_size == (kernel, kernel)
    ids = torch.randint(K, (1, 14, 14))
    patches, grid = model.patch_embed(ids)
    assert grid == (7, 7) and patches.shape == (1, 49, 16)
    changed = ids.clone()
    changed[0, 6, 6] = (ids[0, 6, 6] + 1) % K  # token (6, 6) sits in patch (3, 3)
    moved = (model.patch_embed(changed)[0] - patches).abs().amax(-1).view(7, 7) > 0
    reach = (kernel - 2) // 2  # tokens a patch sees beyond its own 2 x 2, on each side
    expected = torch.zeros(7, 7, dtype=torch.bool)
    for r in range(7):
        for c in range(7):
            expected[r, c] = 2 * r - reach <= 6 <= 2 * r + 1 + reach and 2 * c - reach <= 6 <= 2 * c + 1 + reach
    assert torch.equal(moved, expected)
    with pytest.raises(ValueError, match="patch_kernel must be even"):
        create_model("tvit_micro", **TINY, patch_kernel=3)


@pytest.mark.parametrize("stem", ["seitpp", "seit"])
def test_ids_and_one_hots_agree(stem):
    model = create_model("tvit_micro", **TINY, stem=stem, codes=_codes() if stem == "seit" else None).eval()
    ids = torch.randint(K, (2, 14, 14))
    one_hot = F.one_hot(ids, K).permute(0, 3, 1, 2).float()  # (B, K, H, W)
    torch.testing.assert_close(model(one_hot), model(ids), rtol=0, atol=1e-6)


def test_mixup_of_one_hots_mixes_the_embeddings():
    stem = create_model("tvit_micro", **TINY, stem="seit", codes=_codes()).patch_embed
    a, b = torch.randint(K, (2, 2, 14, 14))
    hot = lambda ids: F.one_hot(ids, K).permute(0, 3, 1, 2).float()
    mixed = stem.lookup(0.3 * hot(a) + 0.7 * hot(b))
    torch.testing.assert_close(mixed, 0.3 * stem.lookup(a) + 0.7 * stem.lookup(b))


def test_seitpp_table_starts_from_codes_when_given_and_learns_them():
    codes = _codes()
    stem = create_model("tvit_micro", **TINY, codes=codes).patch_embed
    torch.testing.assert_close(stem.table(), codes, rtol=0, atol=0)
    assert stem.table().requires_grad and stem.table().data_ptr() != codes.data_ptr()  # a trainable copy
    random = create_model("tvit_micro", **TINY).patch_embed.table()
    assert not torch.allclose(random, codes) and 0.7 < random.norm(dim=1).mean() < 1.3  # rows of about unit length


def test_clear_errors():
    with pytest.raises(ValueError, match="codes=tokenizer.codebook.vectors"):
        create_model("tvit_micro", **TINY, stem="seit")
    with pytest.raises(ValueError, match=r"shape \(391, 32\)"):
        create_model("tvit_micro", **TINY, stem="seit", codes=torch.randn(100, 32))
    with pytest.raises(ValueError, match=r"stem 'seitpp' needs float code vectors of shape \(391, 32\)"):
        create_model("tvit_micro", **TINY, codes=torch.zeros(391, 8))
    with pytest.raises(ValueError, match="stem must be"):
        create_model("tvit_micro", stem="vqgan")
    model = create_model("tvit_micro", **TINY)
    with pytest.raises(ValueError, match=r"\[0, 391\)"):
        model(torch.full((1, 14, 14), 391))
    with pytest.raises(ValueError, match="even"):
        model(torch.zeros(1, 13, 13, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(B, 391, H, W\)"):
        model(torch.rand(1, 390, 14, 14))


def test_other_grid_sizes_resample_positions():
    model = create_model("tvit_micro", **TINY).eval()
    assert model(torch.randint(K, (1, 16, 16))).shape == (1, 5)  # a whole 16 x 16 grid: 64 patches
    pixels = create_model("pvit_micro", **TINY).eval()
    assert pixels(torch.rand(1, 3, 64, 64)).shape == (1, 5)
    # on the trained grid the embedding is the learned one, untouched
    assert model.pos_embed_for((7, 7)) is model.pos_embed


def test_tvit_small_parameter_count():
    """ViT-S/16 (224 px, 1000 classes) has 22,050,664 parameters. Ours swaps its 16x16x3 patch
    embedding for the token stem, has 50 instead of 197 positions, and adds fc_norm."""
    n = sum(p.numel() for p in create_model("tvit_small").parameters())
    D = 384
    vit_s = 22_050_664
    patch_embed = 16 * 16 * 3 * D + D
    token_stem = K * C + 2 * C + C * 4 * 4 * D + D  # table, LayerNorm, the 4 x 4 patch convolution
    assert n == vit_s - patch_embed + token_stem - (197 - 50) * D + 2 * D == 21_909_256


def test_layer_decay_groups():
    model = create_model("tvit_micro", **TINY)  # depth 2
    opt = create_optimizer_v2(model, "adamw", lr=1e-3, weight_decay=0.05, layer_decay=0.65)
    scale, decay = {}, {}
    names = {id(p): n for n, p in model.named_parameters()}
    for group in opt.param_groups:
        for p in group["params"]:
            scale[names[id(p)]] = group["lr_scale"]
            decay[names[id(p)]] = group["weight_decay"]
    assert len(scale) == len(names)
    # stem, block 0, block 1 (with the final norm), then fc_norm and head at full lr
    assert scale["patch_embed.proj.weight"] == scale["cls_token"] == scale["pos_embed"] == pytest.approx(0.65 ** 3)
    assert scale["blocks.0.attn.qkv.weight"] == pytest.approx(0.65 ** 2)
    assert scale["blocks.1.mlp.fc1.weight"] == scale["norm.weight"] == pytest.approx(0.65)
    assert scale["head.weight"] == scale["fc_norm.weight"] == 1.0
    assert decay["blocks.0.attn.qkv.weight"] == decay["head.weight"] == 0.05
    for name in ["cls_token", "pos_embed", "patch_embed.codes.weight", "blocks.0.norm1.weight", "head.bias"]:
        assert decay[name] == 0.0, name


# ----------------------------------------------------------------------------------------------
# Masked token modeling


def test_patchify_round_trip():
    ids = torch.arange(2 * 6 * 4).reshape(2, 6, 4)
    x = patchify(ids)
    assert x.shape == (2, 6, 4)
    assert x[0, 0].tolist() == [0, 1, 4, 5]  # the top-left 2 x 2 tokens, row-major
    assert torch.equal(unpatchify(x, (6, 4)), ids)


@pytest.mark.parametrize("name", MTM_MODELS)
def test_mtm_forward_backward(name):
    model = create_model(name, **TINY_MTM)
    ids = torch.randint(K, (3, 14, 14))
    loss, logits, mask = model(ids, torch.Generator().manual_seed(0))
    assert logits.shape == (3, 49, 4, K) and mask.shape == (3, 49)
    assert torch.isfinite(loss) and 0.4 <= mask.mean() <= 1.0
    loss.backward()
    assert model.encoder.blocks[0].attn.qkv.weight.grad is not None
    assert model.mask_token.grad is not None
    # the prediction scores against the detached table, so only the stem's gradient reaches it
    assert model.encoder.patch_embed.codes.weight.grad is not None


def test_mtm_sizes():
    for name, D in [("mtm_micro", 64), ("mtm_base", 768)]:
        cfg = create_model(name, depth=1, decoder_depth=1).config
        assert cfg.embed_dim == D and cfg.mask_ratio_min == 0.4
    cfg = create_model("mtm_small", depth=1, decoder_depth=1).config
    assert (cfg.decoder_dim, cfg.decoder_heads, cfg.decoder_drop) == (512, 16, 0.1)
    with pytest.raises(ValueError, match="unknown model"):
        create_model("mtm_huge")
    model = create_model("mtm_micro", **TINY_MTM)
    opt = create_optimizer_v2(model, "adamw", lr=1e-3, weight_decay=0.05)
    names = {id(p): n for n, p in model.named_parameters()}
    no_decay = {names[id(p)] for g in opt.param_groups if g["weight_decay"] == 0 for p in g["params"]}
    assert {"mask_token", "decoder_mask_token", "decoder_pos_embed", "encoder.pos_embed",
            "encoder.patch_embed.codes.weight", "pred_bias"} <= no_decay
    assert "decoder_pred.weight" not in no_decay


def test_masking_ratio_and_fixed_drop():
    model = create_model("mtm_micro", **TINY_MTM)
    g = torch.Generator().manual_seed(0)
    ratios = []
    for _ in range(50):
        mask, drop = model.random_masking(4, generator=g)
        ratio = mask.sum(1)
        assert (ratio == ratio[0]).all()  # one ratio per step
        ratios.append(ratio[0].item() / 49)
        assert (drop.sum(1) == math.ceil(0.4 * 49)).all()  # 20 of 49 patches, every step
        assert (drop <= mask).all()  # only masked patches are dropped
    assert min(ratios) >= 0.4 and max(ratios) <= 1.0 and len(set(ratios)) > 5
    mask, drop = model.random_masking(2, ratio=0.6, generator=g)
    out = model.forward_encoder(torch.randint(K, (2, 14, 14)), mask, drop)
    assert out.shape == (2, 1 + 49 - 20, 16)
    with pytest.raises(ValueError, match="ratio"):
        model.random_masking(2, ratio=0.2)


def test_truncated_normal_mean():
    """The mean of N(0.45, 0.25) truncated to [0.4, 1]: mu + sigma (phi(a) - phi(b)) / (Phi(b) - Phi(a))."""
    g = torch.Generator().manual_seed(0)
    draws = torch.tensor([truncated_normal(0.45, 0.25, 0.4, 1.0, g) for _ in range(4000)])
    phi = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    Phi = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))
    a, b = (0.4 - 0.45) / 0.25, (1.0 - 0.45) / 0.25
    expected = 0.45 + 0.25 * (phi(a) - phi(b)) / (Phi(b) - Phi(a))  # about 0.607
    assert draws.min() >= 0.4 and draws.max() <= 1.0
    assert abs(draws.mean().item() - expected) < 0.01


@pytest.mark.parametrize("kernel", [2, 4])
def test_a_masked_tokens_id_reaches_nothing_the_encoder_sees(kernel):
    """MTM masks tokens before the stem's convolution: with overlapping 4 x 4 windows a visible patch
    next to a masked one would otherwise carry the hidden ids into the encoder. Changing every masked
    token's id leaves the encoder's output as it was; changing one visible token does not."""
    model = create_model("mtm_micro", **TINY_MTM, patch_kernel=kernel).eval()
    ids = torch.randint(K, (2, 14, 14))
    mask, drop = model.random_masking(2, ratio=0.5, generator=torch.Generator().manual_seed(0))
    hidden = unpatchify(mask.bool().unsqueeze(-1).expand(-1, -1, 4), (14, 14))  # (B, H, W)
    with torch.no_grad():
        seen = model.forward_encoder(ids, mask, drop)
        other = torch.where(hidden, (ids + 1 + torch.randint(K - 1, ids.shape)) % K, ids)
        assert (other[hidden] != ids[hidden]).all()
        torch.testing.assert_close(model.forward_encoder(other, mask, drop), seen, rtol=0, atol=0)
        visible = ids.clone()
        b, r, c = torch.nonzero(~hidden)[0].tolist()
        visible[b, r, c] = (ids[b, r, c] + 1) % K
        assert not torch.equal(model.forward_encoder(visible, mask, drop)[b], seen[b])


def test_loss_ignores_unmasked_targets():
    model = create_model("mtm_micro", **TINY_MTM).eval()
    ids = torch.randint(K, (2, 14, 14))
    loss, logits, mask = model(ids, torch.Generator().manual_seed(1))
    grid_mask = unpatchify(mask.bool().unsqueeze(-1).expand(-1, -1, 4), (14, 14))
    other = torch.where(grid_mask, ids, (ids + 1) % K)  # every unmasked target changed
    assert torch.equal(model.forward_loss(other, logits, mask), loss)
    changed = torch.where(grid_mask, (ids + 1) % K, ids)  # every masked target changed
    assert model.forward_loss(changed, logits, mask) != loss


def test_mtm_is_deterministic_under_a_seed():
    model = create_model("mtm_micro", **TINY_MTM)
    ids = torch.randint(K, (2, 14, 14))
    model.eval()
    a = model(ids, torch.Generator().manual_seed(3))
    b = model(ids, torch.Generator().manual_seed(3))
    c = model(ids, torch.Generator().manual_seed(4))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[2], c[2])
    model.train()  # dropout draws from the global generator: seed it too
    torch.manual_seed(0)
    a = model(ids, torch.Generator().manual_seed(3))
    torch.manual_seed(0)
    b = model(ids, torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a, b))


@pytest.fixture(scope="module")
def token_grids() -> torch.Tensor:
    """Centre 14 x 14 crops of the reference tokenizer's grids of 8 Shapes images."""
    ids = VQTokenizer.load().tokenize(images_to_tensor(render_shapes(8, split="train").images))
    return ids[:, 1:15, 1:15]


def test_mtm_training_lowers_the_loss(token_grids):
    """50 steps on 8 grids: the loss on fixed masks falls by well over a nat (6.5 -> about 4.4), and
    below the entropy of the grids' token frequencies, the best a model blind to context can do."""
    torch.manual_seed(0)
    model = create_model("mtm_micro", label_smoothing=0.0)

    def fixed_mask_loss() -> float:  # the same masks before and after, no dropout
        model.eval()
        with torch.no_grad():
            loss = model(token_grids, torch.Generator().manual_seed(123), ratio=0.6)[0].item()
        model.train()
        return loss

    before = fixed_mask_loss()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.95), weight_decay=0.05)
    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        loss = model(token_grids, g)[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = fixed_mask_loss()
    p = torch.bincount(token_grids.flatten(), minlength=K).float() / token_grids.numel()
    unigram_entropy = -(p[p > 0] * p[p > 0].log()).sum().item()
    assert after < before - 1.5 and after < unigram_entropy - 0.3, (before, after, unigram_entropy)


def test_encoder_weights_transfer_completely():
    mtm = create_model("mtm_micro")
    with torch.no_grad():
        for p in mtm.parameters():
            p.add_(1.0)  # so nothing can pass by matching the initialisation
    encoder = mtm.encoder_state_dict()
    classifier = create_model("tvit_micro", num_classes=12)
    not_loaded = load_encoder(classifier, encoder)
    assert not_loaded == ["fc_norm.bias", "fc_norm.weight", "head.bias", "head.weight"]
    own = classifier.state_dict()
    for k, v in encoder.items():
        assert torch.equal(own[k], v), k
    assert set(encoder) | set(not_loaded) == set(own)
    # the whole pre-trained encoder is encoder_state_dict: stem, cls, positions, blocks, norm
    assert {k.split(".")[0] for k in encoder} == {"patch_embed", "cls_token", "pos_embed", "blocks", "norm"}
    with pytest.raises(ValueError, match="differ in shape"):
        load_encoder(create_model("tvit_micro", embed_dim=32), encoder)
    with pytest.raises(ValueError, match="no place"):
        load_encoder(create_model("tvit_micro", depth=2), encoder)


def test_predict_keeps_unmasked_ids(token_grids):
    model = create_model("mtm_micro", **TINY_MTM).eval()
    ids = token_grids[:3]
    pred, grid_mask = model.predict(ids, ratio=0.5, generator=torch.Generator().manual_seed(0))
    assert pred.shape == ids.shape and grid_mask.shape == ids.shape and pred.dtype == ids.dtype
    assert torch.equal(pred[~grid_mask], ids[~grid_mask])
    assert grid_mask.float().mean() == pytest.approx(math.ceil(0.5 * 49) / 49)
    assert pred.min() >= 0 and pred.max() < K


def test_seit_stem_on_the_reference_codebook(token_grids):
    codes = VQTokenizer.load().codebook.vectors()  # (391, 32), unit length
    model = create_model("tvit_micro", **TINY, stem="seit", codes=codes).eval()
    assert model(token_grids).shape == (8, 5)
    torch.testing.assert_close(model.patch_embed.lookup(token_grids[:1])[0, 0, 0], codes[token_grids[0, 0, 0]].detach())


# ----------------------------------------------------------------------------------------------
# Saving a finished MTM model, and scoring its masked predictions against the baselines


class _Oracle(MaskedTokenModel):
    """Masks as MTM does, then puts (nearly) all its probability on the true id of every token."""

    def forward(self, ids, generator=None, ratio=None):
        mask, drop = self.random_masking(len(ids), ratio, generator, ids.device)
        logits = 30.0 * F.one_hot(patchify(ids).long(), self.config.codebook_size).float()  # (B, L, 4, K)
        return self.forward_loss(ids, logits, mask), logits, mask


def test_a_saved_mtm_model_loads_to_the_same_predictions(tmp_path):
    model = create_model("mtm_micro", **TINY_MTM).eval()
    ids = torch.randint(K, (3, 14, 14))
    model.save(tmp_path / "m", note="test")
    again = MaskedTokenModel.load(tmp_path / "m")
    assert again.config == model.config and not again.training
    assert json.loads((tmp_path / "m" / "config.json").read_text())["note"] == "test"
    for a, b in zip(model(ids, torch.Generator().manual_seed(0)), again(ids, torch.Generator().manual_seed(0))):
        assert torch.equal(a, b)
    with pytest.raises(FileNotFoundError, match="masked token model"):
        MaskedTokenModel.load(tmp_path)


def test_a_model_that_knows_every_hidden_token_scores_100_percent():
    oracle = _Oracle(MTMConfig(**TINY_MTM, label_smoothing=0.0))
    ids = torch.randint(K, (5, 14, 14))
    scores = masked_token_scores(oracle, ids, 0.6, torch.full((K,), 1 / K))
    assert scores["masked_tokens"] == 5 * math.ceil(0.6 * 49) * 4
    assert scores["top1"] == scores["top5"] == 1.0 and scores["loss"] < 1e-6
    assert scores["loss_uniform"] == pytest.approx(math.log(K))
    assert scores["loss_frequencies"] == pytest.approx(math.log(K))  # uniform frequencies predict uniformly


def test_the_scored_loss_is_the_models_own_masked_token_loss():
    model = create_model("mtm_micro", **TINY_MTM).eval()
    ids = torch.randint(K, (4, 14, 14))
    scores = masked_token_scores(model, ids, 0.7, torch.full((K,), 1 / K), seed=5)
    own = model(ids, torch.Generator().manual_seed(5), ratio=0.7)[0].item()  # label smoothing 0.1, the same masks
    assert scores["loss"] == pytest.approx(own, rel=1e-5)
    top, loss, grid_mask = masked_predictions(model, ids, 0.7, seed=5, top=3)
    assert top.shape == (4, 14, 14, 3) and loss.shape == grid_mask.shape == (4, 14, 14)


def test_the_baselines_that_need_no_training():
    # grid i is all id 10 + i, except a patch of id 0: the commonest visible id is the grid's own
    ids = (10 + torch.arange(6)).view(6, 1, 1).repeat(1, 14, 14)
    ids[:, :2, :2] = 0
    model = create_model("mtm_micro", **TINY_MTM)
    freq = code_frequencies(ids, K)
    scores = masked_token_scores(model, ids, 0.5, freq)
    top, _, grid_mask = masked_predictions(model, ids, 0.5)
    hidden = ids[grid_mask]
    assert scores["top1_most_frequent_visible"] == pytest.approx((hidden != 0).double().mean().item())
    assert int(freq.argmax()) == 10  # 192 tokens of each grid's id, the first of the tied commonest
    assert scores["top1_most_frequent"] == pytest.approx((hidden == 10).double().mean().item())
    # ties go to the smallest id; a grid with nothing visible gets the fallback
    grid = torch.tensor([[[3, 2], [2, 3]], [[5, 5], [5, 5]]])
    mask = torch.tensor([[[False, False], [False, False]], [[True, True], [True, True]]])
    assert most_frequent_visible(grid, mask, fallback=7).tolist() == [2, 7]


def test_the_code_frequency_baseline_is_the_entropy_of_the_histogram():
    freq = torch.tensor([0.5, 0.25, 0.125, 0.125, 0.0], dtype=torch.float64)
    assert frequency_loss(freq) == pytest.approx(1.75 * math.log(2))  # the entropy, in nats
    # with label smoothing, the best constant prediction mixes in the uniform; nothing constant does better
    eps = 0.1
    best = frequency_loss(freq, eps)
    target = (1 - eps) * freq + eps / len(freq)  # what the smoothed loss compares a prediction with
    for q in [freq.clamp_min(1e-3), torch.full((5,), 0.2, dtype=torch.float64), frequency_prediction(freq, 0.2)]:
        q = q / q.sum()
        assert best < float(-(target * q.log()).sum())
    # measured on every token of grids whose histogram is freq (ratio 1 masks all), it is that expectation
    ids = torch.randint(K, (8, 14, 14), generator=torch.Generator().manual_seed(0))
    model = create_model("mtm_micro", **TINY_MTM)
    scores = masked_token_scores(model, ids, 1.0, code_frequencies(ids, K))
    assert scores["masked_tokens"] == ids.numel()
    assert scores["loss_frequencies"] == pytest.approx(frequency_loss(code_frequencies(ids, K), 0.1))


def test_visible_neighbours_counts_the_unmasked_ring():
    mask = torch.zeros(1, 5, 5, dtype=torch.bool)
    counts = visible_neighbours(mask)[0]
    assert counts[2, 2] == 8 and counts[0, 2] == 5 and counts[0, 0] == 3
    mask[0, 2, 2] = True
    assert visible_neighbours(mask)[0, 1, 1] == 7 and visible_neighbours(mask)[0, 2, 2] == 8


def test_the_committed_mtm_model_is_the_sweeps_with_the_table_at_the_reference_codes():
    """seitpp/artefacts/mtm-cpu (chapter 5): weights only, its token table exactly the reference tokenizer's
    code vectors, as `freeze_table` kept them through MTM; its provenance names the run it came from."""
    from seitpp.experiments.reproduce import REFERENCE_MTM
    model = MaskedTokenModel.load(REFERENCE_MTM)
    config = json.loads((REFERENCE_MTM / "config.json").read_text())["training"]
    provenance = json.loads((REFERENCE_MTM / "provenance.json").read_text())
    trained = config_from_dict(config["config"])  # the flat dict of a run from before TrainConfig had parts
    assert trained.model.freeze_table and trained.model.table_init == "codes"
    assert torch.equal(model.encoder.patch_embed.codes.weight, VQTokenizer.load().codebook.vectors())
    assert provenance["steps"] == config["steps"] > 0 and provenance["stage"].startswith("mtm-")
    assert sum(p.stat().st_size for p in REFERENCE_MTM.iterdir()) < 3_000_000
