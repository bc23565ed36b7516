"""The taming VQGAN tokenizer: key layout of the real config, checkpoints, tokenize / decode, errors."""
import pickle
import sys
import types
import zipfile
from dataclasses import replace

import numpy as np
import pytest
import torch

from seitpp.data import render_shapes
from seitpp.tokenizers.vqgan import (
    VQGANCheckpointError,
    VQGANConfig,
    VQGANTokenizer,
    config_from_state_dict,
    load_vqgan,
    save_vqgan_checkpoint,
)
from seitpp.tokens import TokenStore, shapes_source, tokenize_dataset

TINY = VQGANConfig.cpu_tiny()  # 32 px -> 8 x 8 ids, K = 64, attention at 8 x 8


@pytest.fixture(scope="module")
def tiny() -> VQGANTokenizer:
    torch.manual_seed(0)
    model = VQGANTokenizer(TINY).eval()
    # taming initialises codes within +-1/K of zero; spread them like encoder outputs so ids vary
    with torch.no_grad():
        model.quantize.embedding.weight.normal_(0, 0.3)
    return model


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))


@pytest.fixture
def checkpoint(tiny, tmp_path):
    return save_vqgan_checkpoint(tiny, tmp_path / "vqgan.ckpt")


def resave(path, edit) -> None:
    """Load a checkpoint as plain data, change its state dict with `edit`, write it back (no config)."""
    state = torch.load(path, weights_only=True)["state_dict"]
    edit(state)
    torch.save({"state_dict": state}, path)


# ----------------------------------------------------------------------------------------------
# The real ImageNet f16 layout, built on the meta device (shapes only, no memory, no time)


def test_imagenet_f16_has_the_taming_key_layout():
    with torch.device("meta"):
        model = VQGANTokenizer(VQGANConfig.imagenet_f16())
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    expected = {
        "encoder.conv_in.weight": (128, 3, 3, 3),
        "encoder.down.0.block.1.conv2.weight": (128, 128, 3, 3),
        "encoder.down.2.block.0.nin_shortcut.weight": (256, 128, 1, 1),
        "encoder.down.3.downsample.conv.weight": (256, 256, 3, 3),
        "encoder.down.4.attn.1.proj_out.weight": (512, 512, 1, 1),
        "encoder.mid.attn_1.q.weight": (512, 512, 1, 1),
        "encoder.mid.block_2.norm2.weight": (512,),
        "encoder.norm_out.weight": (512,),
        "encoder.conv_out.weight": (256, 512, 3, 3),
        "quant_conv.weight": (256, 256, 1, 1),
        "quantize.embedding.weight": (16384, 256),
        "post_quant_conv.weight": (256, 256, 1, 1),
        "decoder.conv_in.weight": (512, 256, 3, 3),
        "decoder.mid.block_1.conv1.weight": (512, 512, 3, 3),
        "decoder.up.4.attn.2.v.weight": (512, 512, 1, 1),
        "decoder.up.4.upsample.conv.weight": (512, 512, 3, 3),
        "decoder.up.3.block.0.nin_shortcut.weight": (256, 512, 1, 1),
        "decoder.up.1.block.0.nin_shortcut.weight": (128, 256, 1, 1),
        "decoder.up.0.block.2.conv2.weight": (128, 128, 3, 3),
        "decoder.norm_out.weight": (128,),
        "decoder.conv_out.weight": (3, 128, 3, 3),
    }
    assert {k: shapes.get(k) for k in expected} == expected
    # only the lowest-resolution level (16 x 16) has attention; the encoder's last level does not
    # downsample, the decoder's first does not upsample; decoder levels have one block more
    assert {k.split(".attn.")[0] for k in shapes if ".attn." in k} == {"encoder.down.4", "decoder.up.4"}
    assert "encoder.down.4.downsample.conv.weight" not in shapes and "decoder.up.0.upsample.conv.weight" not in shapes
    assert "encoder.down.0.block.2.conv1.weight" not in shapes and "decoder.up.0.block.2.conv1.weight" in shapes
    assert not any(".nin_shortcut." in k for k in shapes if k.startswith(("encoder.down.0.", "encoder.down.1.")))
    assert {k.split(".")[0] for k in shapes} == {"encoder", "decoder", "quantize", "quant_conv", "post_quant_conv"}
    total = sum(v.numel() for v in model.state_dict().values())
    assert 70e6 < total < 80e6  # ~72M in encoder, decoder and 1x1 convs, 4.2M in the codebook
    cfg = VQGANConfig.imagenet_f16()
    assert (cfg.grid_size, cfg.codebook_size, cfg.resolution, cfg.downsample) == (16, 16384, 256, 16)
    assert config_from_state_dict(model.state_dict()) == cfg  # the shapes say which config they are


def test_ldm_f8_is_latent_diffusions_vq_f8():
    """256 px -> 32 x 32 ids (SeiT's grid), K = 16384 codes of 4 numbers, attention at the 32 x 32 level."""
    cfg = VQGANConfig.ldm_f8()
    with torch.device("meta"):
        model = VQGANTokenizer(cfg)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert (cfg.grid_size, cfg.codebook_size, cfg.resolution, cfg.downsample) == (32, 16384, 256, 8)
    assert shapes["quantize.embedding.weight"] == (16384, 4) and shapes["encoder.conv_out.weight"] == (4, 512, 3, 3)
    assert shapes["encoder.down.1.block.0.nin_shortcut.weight"] == (256, 128, 1, 1)  # ch_mult (1, 2, 2, 4)
    assert {k.split(".attn.")[0] for k in shapes if ".attn." in k} == {"encoder.down.3", "decoder.up.3"}
    assert config_from_state_dict(model.state_dict()) == cfg


# ----------------------------------------------------------------------------------------------
# Tokenize and decode


def test_tokenize_gives_int64_ids_on_the_token_grid(tiny, images):
    ids = tiny.tokenize(images)
    assert ids.shape == (4, 8, 8) and ids.dtype == torch.int64
    assert 0 <= ids.min() and ids.max() < TINY.n_embed
    assert len(ids.unique()) > 1  # the spread codebook is actually used
    assert torch.equal(tiny.tokenize(images[:1]), ids[:1])  # no dependence on the rest of the batch
    assert tiny.tokenize(torch.rand(2, 3, 48, 64)).shape == (2, 12, 16)  # any multiple of d = 4
    with pytest.raises(ValueError, match="multiple"):
        tiny.tokenize(torch.rand(1, 3, 30, 32))


def test_tokenize_many_takes_uint8_arrays_and_tensors(tiny):
    shapes = render_shapes(5, resolution=32, seed=0).images  # uint8 (5, 32, 32, 3)
    from_floats = tiny.tokenize(torch.from_numpy(shapes).permute(0, 3, 1, 2).float() / 255)
    assert torch.equal(tiny.tokenize_many(shapes, batch_size=2), from_floats)
    assert torch.equal(tiny.tokenize_many(torch.from_numpy(shapes), batch_size=3), from_floats)


def test_decode_gives_images_in_unit_range(tiny, images):
    ids = tiny.tokenize(images)
    out = tiny.decode(ids)
    assert out.shape == (4, 3, 32, 32) and out.dtype == torch.float32
    assert torch.isfinite(out).all() and 0 <= out.min() and out.max() <= 1
    assert torch.equal(tiny.reconstruct(images), out)
    with pytest.raises(ValueError, match="must lie in"):
        tiny.decode(torch.full((1, 8, 8), TINY.n_embed))


def test_nearest_code_matches_brute_force_squared_distance(tiny):
    z = torch.randn(3, TINY.embed_dim, 5, 7, generator=torch.Generator().manual_seed(2)) * 0.3
    codes = tiny.quantize.embedding.weight.detach().double()
    rows = z.permute(0, 2, 3, 1).reshape(-1, TINY.embed_dim).double()
    brute = ((rows[:, None, :] - codes[None, :, :]) ** 2).sum(-1).argmin(1).view(3, 5, 7)
    assert torch.equal(tiny.quantize.nearest(z), brute)
    assert torch.equal(tiny.quantize.nearest(z, max_distances=100), brute)  # chunked rows, same answer
    assert torch.equal(tiny.quantize.embed(brute), codes.float()[brute].permute(0, 3, 1, 2))


# ----------------------------------------------------------------------------------------------
# Checkpoints


def test_checkpoint_round_trip_gives_identical_ids(tiny, images, checkpoint):
    assert set(torch.load(checkpoint, weights_only=True)) >= {"state_dict"}
    loaded = load_vqgan(checkpoint)
    assert loaded.config == TINY and not loaded.training and loaded.device == torch.device("cpu")
    assert loaded.fingerprint() == tiny.fingerprint()
    assert torch.equal(loaded.tokenize(images), tiny.tokenize(images))
    assert torch.equal(loaded.decode(tiny.tokenize(images)), tiny.decode(tiny.tokenize(images)))


def test_loss_keys_are_dropped_and_bare_state_dicts_load(tiny, images, checkpoint, tmp_path):
    def add_loss(state):  # LPIPS and the discriminator ride along in taming's checkpoints
        state["loss.discriminator.main.0.weight"] = torch.zeros(64, 3, 4, 4)
        state["loss.logvar"] = torch.zeros(())

    resave(checkpoint, add_loss)
    # no stored config: the architecture comes from the shapes, the resolution is taken to be 256,
    # so attention "at 64" is the same third level as attention at 8 for 32 px images
    loaded = load_vqgan(checkpoint)
    assert loaded.config == replace(TINY, resolution=256, attn_resolutions=(64,))
    assert "loss.logvar" not in loaded.state_dict()
    assert torch.equal(loaded.tokenize(images), tiny.tokenize(images))
    bare = tmp_path / "bare.pt"
    torch.save(tiny.state_dict(), bare)
    assert torch.equal(load_vqgan(bare, config=TINY).tokenize(images), tiny.tokenize(images))


def test_a_lightning_checkpoint_loads_without_lightning(tiny, images, tmp_path, monkeypatch):
    """Lightning pickles callback states keyed by their class; the weights load without importing it."""
    module = types.ModuleType("fake_lightning_callbacks")

    class ModelCheckpoint:
        pass

    ModelCheckpoint.__module__, ModelCheckpoint.__qualname__ = module.__name__, "ModelCheckpoint"
    module.ModelCheckpoint = ModelCheckpoint
    callback = ModelCheckpoint()
    callback.monitor = "val/rec_loss"  # an instance with state: pickled as NEWOBJ + BUILD
    monkeypatch.setitem(sys.modules, module.__name__, module)
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": tiny.state_dict(), "epoch": 3, "callbacks": {ModelCheckpoint: {"best": 1.0}},
                "trainer_callback": callback}, path)
    monkeypatch.delitem(sys.modules, module.__name__)  # as on a machine without it
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    assert torch.equal(load_vqgan(path, config=TINY).tokenize(images), tiny.tokenize(images))


def test_missing_and_unreadable_files_are_named(tmp_path, checkpoint):
    with pytest.raises(FileNotFoundError, match="nope.ckpt: no such file"):
        load_vqgan(tmp_path / "nope.ckpt")
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"this is not a checkpoint" * 10)
    with pytest.raises(VQGANCheckpointError, match="garbage.ckpt: not a readable torch checkpoint"):
        load_vqgan(garbage)
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(checkpoint.read_bytes()[:5000])
    assert zipfile.is_zipfile(checkpoint)
    with pytest.raises(VQGANCheckpointError, match="truncated.ckpt: not a readable torch checkpoint") as err:
        load_vqgan(truncated)
    assert err.value.path == truncated
    tensor = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), tensor)
    with pytest.raises(VQGANCheckpointError, match="tensor.pt: holds a Tensor, not a state dict"):
        load_vqgan(tensor)


def test_wrong_shapes_and_missing_or_unexpected_keys_are_listed(checkpoint):
    resave(checkpoint, lambda s: s.update({"decoder.conv_out.bias": torch.zeros(4)}))
    with pytest.raises(VQGANCheckpointError, match=r"vqgan.ckpt: 1 shape mismatches: decoder.conv_out.bias "
                                                   r"is \(4,\) in the file, \(3,\) in the model"):
        load_vqgan(checkpoint)
    resave(checkpoint, lambda s: s.update({"decoder.conv_out.bias": torch.zeros(3)}))
    resave(checkpoint, lambda s: s.pop("decoder.up.1.block.0.nin_shortcut.weight"))
    with pytest.raises(VQGANCheckpointError,
                       match="vqgan.ckpt: 1 missing keys: decoder.up.1.block.0.nin_shortcut.weight"):
        load_vqgan(checkpoint)
    resave(checkpoint, lambda s: s.update({"decoder.up.1.block.0.nin_shortcut.weight": torch.zeros(32, 64, 1, 1),
                                           "quantize.used": torch.zeros(5)}))
    with pytest.raises(VQGANCheckpointError, match="1 unexpected keys: quantize.used"):
        load_vqgan(checkpoint)


def test_a_config_that_disagrees_with_the_weights_is_refused(checkpoint):
    with pytest.raises(VQGANCheckpointError, match=r"quantize.embedding.weight is \(64, 16\) in the file, \(128, 16\)"):
        load_vqgan(checkpoint, config=replace(TINY, n_embed=128))
    with pytest.raises(VQGANCheckpointError, match="missing keys: encoder.down.0.block.1.norm1.weight"):
        load_vqgan(checkpoint, config=replace(TINY, num_res_blocks=2))


# ----------------------------------------------------------------------------------------------
# Used where the project's own tokenizer is used


def test_tokenize_dataset_writes_a_store_with_the_vqgan(tiny, tmp_path):
    source = shapes_source(7, resolution=32)
    out = tokenize_dataset(source, tiny, tmp_path / "shapes.tokens", batch_size=3, progress=False)
    store = TokenStore.open(out)
    assert len(store) == 7 and store.grid == (8, 8) and store.codebook_size == 64
    assert store.tokenizer_hash == tiny.fingerprint() and store.metadata["resolution"] == 32
    assert np.array_equal(store.read_all(), tiny.tokenize(source.load(0, 7)).numpy())
