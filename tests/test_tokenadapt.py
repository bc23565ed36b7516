"""TokenAdapt's f and g: shapes, the frozen codebook, and that training on (T(x), T(A(x))) pairs learns."""
from dataclasses import replace

import pytest
import torch

import seitpp.augment.tokenadapt_train as train_module
from seitpp.augment import (
    GeometryDistribution,
    TokenAdapt,
    TokenAdaptConfig,
    affine_theta,
    agreement,
    agreement_per_image,
    train_tokenadapt,
)
from seitpp.augment.tokenadapt_train import TokenAdaptTrainConfig
from seitpp.data import images_to_tensor, render_shapes
from seitpp.tokenizers import Codebook, VQTokenizer

SMALL = TokenAdaptConfig(codebook_size=16, code_dim=4, width=32, num_heads=2)


def test_shapes_and_output_size():
    model = TokenAdapt(Codebook(16, 4), SMALL)
    ids = torch.randint(16, (3, 8, 8))
    assert model.f(ids).shape == (3, 4, 16, 16)
    assert model(ids, affine_theta(3)).shape == (3, 16, 8, 8)
    assert model(ids, affine_theta(3, scale=0.5), out_size=(6, 6)).shape == (3, 16, 6, 6)
    out = model.augment(ids, affine_theta(3, hflip=True))
    assert out.shape == (3, 8, 8) and out.dtype == torch.int64 and out.max() < 16


def test_codebook_is_frozen_and_checked():
    model = TokenAdapt(Codebook(16, 4), SMALL)
    model(torch.randint(16, (2, 4, 4)), affine_theta(2)).sum().backward()
    assert "codes" not in dict(model.named_parameters())
    assert model.f_in.weight.grad is not None and model.g_out.weight.grad is not None
    with pytest.raises(ValueError, match="codebook"):
        TokenAdapt(Codebook(10, 4), SMALL)


def test_untrained_is_the_naive_bilinear_warp():
    """The skip paths with zeroed last layers: before training, TokenAdapt is exactly the naive flip."""
    tokenizer = VQTokenizer.load()
    model = TokenAdapt(tokenizer.codebook, TokenAdaptConfig(width=32, num_heads=2))
    ids = torch.randint(tokenizer.codebook.size, (4, 16, 16))
    assert torch.equal(model.augment(ids, affine_theta(4, hflip=True)), ids.flip(-1))


def test_geometry_distribution_per_sample_and_composed():
    g = torch.Generator().manual_seed(0)
    theta = GeometryDistribution().sample(256, g)
    assert theta.shape == (256, 2, 3)
    det = torch.linalg.det(theta[:, :, :2])
    assert 0.35 < (det < 0).float().mean() < 0.65  # about half mirrored
    assert det.abs().max() <= 1.0 + 1e-5  # crops zoom in, never out
    assert len(theta.unique(dim=0)) == 256  # one draw per sample
    flips_only = GeometryDistribution(flip_p=1.0, affine_p=0.0, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0))
    assert torch.allclose(flips_only.sample(3, g), affine_theta(3, hflip=True))


def test_save_load_round_trip_and_tokenizer_check(tmp_path):
    tokenizer = VQTokenizer.load()
    model = TokenAdapt(tokenizer.codebook, TokenAdaptConfig(width=32, num_heads=2), tokenizer.fingerprint())
    torch.nn.init.normal_(model.g_out.weight)
    model.save(tmp_path)
    loaded = TokenAdapt.load(tmp_path, tokenizer=tokenizer)
    ids, theta = torch.randint(391, (2, 16, 16)), affine_theta(2, degrees=10)
    assert torch.equal(loaded(ids, theta), model.eval()(ids, theta))
    other = VQTokenizer(tokenizer.config)  # same shapes, other weights
    with pytest.raises(ValueError, match="trained on tokenizer"):
        TokenAdapt.load(tmp_path, tokenizer=other)
    with pytest.raises(FileNotFoundError, match="missing"):
        TokenAdapt.load(tmp_path / "nowhere")


@pytest.fixture(scope="module")
def flip_run():
    """A brief flip-only training (CI-sized) on training images; evaluated on held-out ones."""
    cfg = TokenAdaptTrainConfig(
        model=TokenAdaptConfig(width=64, num_heads=4),
        geometry=GeometryDistribution(flip_p=0.5, affine_p=0.0, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0)),
        num_train_images=512, out_grid=16, steps=200, batch_size=32, lr=3e-3, warmup_steps=10, weight_decay=0.0)
    tokenizer = VQTokenizer.load()
    train = render_shapes(cfg.num_train_images, split="train").images
    model, history = train_tokenadapt(cfg, tokenizer, train, progress=False)
    return cfg, tokenizer, train, model, history


def test_brief_training_beats_the_naive_flip(flip_run):
    cfg, tokenizer, _, model, history = flip_run
    x = images_to_tensor(render_shapes(128, split="test").images)
    scores = agreement(model, tokenizer, x, affine_theta(len(x), hflip=True))
    assert history[-1]["loss"] < history[0]["loss"]
    # the untrained model IS the naive flip (test above); 200 small steps must already beat it
    assert scores["tokenadapt"] > scores["naive"] + 0.01, scores


def test_agreement_is_the_mean_of_the_per_image_shares(flip_run):
    cfg, tokenizer, _, model, _ = flip_run
    x = images_to_tensor(render_shapes(20, split="test").images)
    theta = affine_theta(len(x), scale=0.75)
    per_image = agreement_per_image(model, tokenizer, x, theta, out_grid=14, batch_size=8)  # 3 batches
    scores = agreement(model, tokenizer, x, theta, out_grid=14)
    assert set(per_image) == {"tokenadapt", "naive", "pixels"}
    for name, shares in per_image.items():
        assert shares.shape == (20,) and 0 <= shares.min() <= shares.max() <= 1
        assert shares.mean().item() == pytest.approx(scores[name], abs=1e-6)
        assert torch.allclose(shares * 196, (shares * 196).round(), atol=1e-3)  # whole ids out of 14 x 14


def test_interrupted_training_resumes_to_the_same_weights(flip_run, tmp_path, monkeypatch):
    cfg, tokenizer, train, _, _ = flip_run
    short = replace(cfg, steps=6, checkpoint_every=3)
    straight, _ = train_tokenadapt(short, tokenizer, train[:64], progress=False)
    real_pair = train_module.make_pair

    def interrupted(tokenizer, images, source_ids, step, cfg):  # dies during step 4, after the checkpoint at 3
        if step == 4:
            raise KeyboardInterrupt
        return real_pair(tokenizer, images, source_ids, step, cfg)

    monkeypatch.setattr(train_module, "make_pair", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_tokenadapt(short, tokenizer, train[:64], out_dir=tmp_path, progress=False)
    monkeypatch.setattr(train_module, "make_pair", real_pair)
    resumed, history = train_tokenadapt(short, tokenizer, train[:64], out_dir=tmp_path, progress=False)
    assert [row["step"] for row in history] == list(range(1, 7))
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert torch.equal(TokenAdapt.load(tmp_path).g_out.weight, straight.g_out.weight)
