"""The VQ tokenizer: shapes, batch independence, save/load, codebook statistics, SeiT codebooks,
codebook reduction, training and resume, and the committed reference tokenizer."""
import dataclasses
import json
import math

import pytest
import torch

import seitpp.tokenizers.train as train_module
from seitpp.checkpoint import CHECKPOINT_FILE, CheckpointError, save_checkpoint
from seitpp.data import images_to_tensor, render_shapes
from seitpp.errors import TrainingDiverged
from seitpp.tokenizers import (
    REFERENCE_DIR,
    Codebook,
    TokenizerConfig,
    VQTokenizer,
    code_counts,
    evaluate_tokenizer,
    kmeans_codes,
    most_used_codes,
    perplexity,
    psnr,
    reduce_codebook,
)
from seitpp.tokenizers.train import TokenizerTrainConfig, train_tokenizer

TINY = TokenizerConfig(resolution=32, channels=(8, 16, 16), codebook_size=64)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return images_to_tensor(render_shapes(8, resolution=32, split="test").images)


@pytest.fixture(scope="module")
def reference() -> VQTokenizer:
    return VQTokenizer.load()


def test_tokenize_decode_shapes(images):
    model = VQTokenizer(TINY).eval()
    ids = model.tokenize(images)
    assert ids.shape == (8, 8, 8) and ids.dtype == torch.int64
    assert 0 <= ids.min() and ids.max() < TINY.codebook_size
    out = model.decode(ids)
    assert out.shape == images.shape and out.dtype == torch.float32
    assert 0 <= out.min() and out.max() <= 1
    # fully convolutional: a 48 px image gives a 12 x 12 grid
    assert model.tokenize(torch.rand(2, 3, 48, 48)).shape == (2, 12, 12)


def test_images_of_the_wrong_dtype_or_scale_are_refused_not_tokenized(images):
    """uint8 images, floats in 0-255 or in [-1, 1] give ids nearly all wrong: each is a named error."""
    model = VQTokenizer(TINY).eval()
    with pytest.raises(ValueError, match=r"expected float images with values in \[0, 1\], got torch.uint8; "
                                         r"seitpp.data.images_to_tensor converts"):
        model.tokenize((images * 255).round().to(torch.uint8))
    with pytest.raises(ValueError, match=r"image values span \[\d+, 255\], expected \[0, 1\]; images in 0-255 need"):
        model.tokenize((images * 255).round())
    with pytest.raises(ValueError, match=r"image values span \[-1, 1\], expected \[0, 1\]$"):
        model.tokenize(images * 2 - 1)
    overshoot = (images * 1.08 - 0.04)  # a resampling overshoot within a tenth of the range is taken as it is
    assert model.tokenize(overshoot).shape == (8, 8, 8)
    assert model.to("meta").tokenize(images.to("meta")).shape == (8, 8, 8)  # no values to check: FLOP counts


def test_bad_inputs_are_rejected():
    model = VQTokenizer(TINY).eval()
    with pytest.raises(ValueError, match="multiple of the downsample"):
        model.tokenize(torch.rand(1, 3, 30, 32))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model.tokenize(torch.rand(3, 32, 32))
    with pytest.raises(ValueError, match="token ids must lie"):
        model.decode(torch.full((1, 4, 4), TINY.codebook_size))


def test_tokens_do_not_depend_on_the_rest_of_the_batch(reference):
    x = images_to_tensor(render_shapes(6, split="test").images)
    together = reference.tokenize(x)
    alone = torch.cat([reference.tokenize(x[i:i + 1]) for i in range(len(x))])
    assert (together == alone).float().mean() > 0.999  # equal up to float ties in the argmax


def test_save_load_round_trip_gives_identical_ids(tmp_path, images):
    model = VQTokenizer(TINY).eval()
    model.save(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["grid_size"] == 8 and config["codebook_size"] == 64 and config["input_range"] == [0.0, 1.0]
    loaded = VQTokenizer.load(tmp_path)
    assert loaded.config == model.config
    assert torch.equal(loaded.tokenize(images), model.tokenize(images))
    assert torch.equal(loaded.decode(model.tokenize(images)), model.decode(model.tokenize(images)))


def test_load_names_the_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        VQTokenizer.load(tmp_path)


def test_codebook_statistics_are_counted_correctly():
    ids = torch.tensor([[0, 0, 1], [1, 3, 3]])
    assert code_counts(ids, 5).tolist() == [2, 2, 0, 2, 0]
    assert perplexity(torch.tensor([5, 5, 5, 5])) == pytest.approx(4.0)
    assert perplexity(torch.tensor([7, 0, 0])) == pytest.approx(1.0)
    assert perplexity(torch.tensor([2, 2, 0, 2, 0])) == pytest.approx(3.0)


def test_evaluate_matches_a_direct_count(images):
    model = VQTokenizer(TINY).eval()
    report = evaluate_tokenizer(model, images, batch_size=3)
    ids = model.tokenize(images)
    assert report.codes_used == ids.unique().numel()
    assert report.counts.sum() == ids.numel()
    assert report.psnr == pytest.approx(float(psnr(model.decode(ids), images).mean()), abs=1e-4)
    assert report.bits_per_token == pytest.approx(6.0)


def test_psnr_of_known_error():
    a = torch.zeros(1, 3, 4, 4)
    assert psnr(a, a + 0.1).item() == pytest.approx(20.0, abs=1e-4)


def test_seit_codebook_loads_and_quantises(tmp_path):
    weight = torch.randn(391, 32)
    torch.save(weight, tmp_path / "codebook.ckpt")  # the release's format: a bare tensor
    book = Codebook.from_seit(tmp_path / "codebook.ckpt")
    assert book.size == 391
    assert torch.allclose(book.vectors(), torch.nn.functional.normalize(weight, dim=1))
    ids = torch.randint(391, (2, 5, 5))
    assert torch.equal(book.nearest(book.embed(ids)), ids)  # a code is its own nearest code


@pytest.mark.parametrize("content, message", [
    (torch.randn(391, 16), "dimension 16"),
    (torch.randn(391), "bare float tensor"),
    ({"weight": torch.randn(391, 32)}, "bare float tensor"),
    (torch.randint(5, (391, 32)), "bare float tensor"),
    (torch.full((4, 32), float("nan")), "NaN"),
])
def test_bad_seit_codebooks_are_named(tmp_path, content, message):
    path = tmp_path / "codebook.ckpt"
    torch.save(content, path)
    with pytest.raises(ValueError, match=message) as err:
        Codebook.from_seit(path)
    assert str(path) in str(err.value)


def test_corrupt_seit_codebook_is_named(tmp_path):
    path = tmp_path / "codebook.ckpt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable torch checkpoint"):
        Codebook.from_seit(path)


def test_tokenizer_with_seit_codebook(tmp_path, images):
    torch.save(torch.randn(391, 32), tmp_path / "codebook.ckpt")
    model = VQTokenizer(dataclasses.replace(TINY, code_dim=32)).eval()
    seit = model.with_codebook(Codebook.from_seit(tmp_path / "codebook.ckpt"))
    ids = seit.tokenize(images)
    assert seit.config.codebook_size == 391 and ids.max() < 391
    assert seit.decode(ids).shape == images.shape


def test_most_used_codes_and_kmeans():
    counts = torch.tensor([3, 9, 0, 7, 1])
    assert most_used_codes(counts, 3).tolist() == [1, 3, 0]
    with pytest.raises(ValueError):
        most_used_codes(counts, 6)
    centroids = kmeans_codes(torch.randn(50, 8), 5, counts=torch.randint(1, 10, (50,)))
    assert centroids.shape == (5, 8)
    assert torch.allclose(centroids.norm(dim=1), torch.ones(5), atol=1e-5)


def test_reduced_codebook_keeps_the_most_used_codes(images):
    model = VQTokenizer(TINY).eval()
    counts = evaluate_tokenizer(model, images).counts
    small = reduce_codebook(model, counts, 8, method="most_used")
    assert small.config.codebook_size == 8
    kept = model.codebook.vectors()[most_used_codes(counts, 8)]
    assert torch.allclose(small.codebook.vectors(), kept, atol=1e-6)
    # tokens that were among the kept codes keep their code vector
    ids, small_ids = model.tokenize(images), small.tokenize(images)
    in_kept = torch.isin(ids, most_used_codes(counts, 8))
    assert torch.allclose(small.codebook.embed(small_ids).permute(0, 2, 3, 1)[in_kept],
                          model.codebook.embed(ids).permute(0, 2, 3, 1)[in_kept], atol=1e-6)
    by_kmeans = reduce_codebook(model, counts, 8)
    assert by_kmeans.config.codebook_size == 8 and by_kmeans.tokenize(images).max() < 8
    with pytest.raises(ValueError, match="unknown reduction"):
        reduce_codebook(model, counts, 8, method="random")


MICRO = TokenizerTrainConfig(model=TINY, num_train_images=64, steps=12, batch_size=8, crop=16, warmup_steps=2,
                             restart_every=3, checkpoint_every=4)


def test_training_lowers_the_loss_and_restarts_dead_codes():
    data = torch.from_numpy(render_shapes(64, resolution=32).images)
    cfg = dataclasses.replace(MICRO, steps=40, checkpoint_every=1000)
    _, history = train_tokenizer(cfg, data, progress=False)
    first, last = history[0]["rec_loss"], sum(h["rec_loss"] for h in history[-5:]) / 5
    assert last < 0.8 * first
    assert sum(h["restarted"] for h in history) > 0


def test_interrupted_training_resumes_to_the_same_weights(tmp_path, monkeypatch):
    data = torch.from_numpy(render_shapes(64, resolution=32).images)
    straight, _ = train_tokenizer(MICRO, data, out_dir=tmp_path / "a", progress=False)

    real_sample = train_module.sample_batch

    def interrupted(images, step, cfg):  # the process dies during step 9, after the checkpoint at 8
        if step == 9:
            raise KeyboardInterrupt
        return real_sample(images, step, cfg)

    monkeypatch.setattr(train_module, "sample_batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_tokenizer(MICRO, data, out_dir=tmp_path / "b", progress=False)
    assert torch.load(tmp_path / "b" / CHECKPOINT_FILE, weights_only=False)["step"] == 8
    monkeypatch.setattr(train_module, "sample_batch", real_sample)
    resumed, history = train_tokenizer(MICRO, data, out_dir=tmp_path / "b", progress=False)
    assert len(history) == MICRO.steps
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert torch.equal(VQTokenizer.load(tmp_path / "b").codebook.weight, straight.codebook.weight)


def test_a_diverging_run_raises_the_engines_divergence_error():
    data = torch.from_numpy(render_shapes(16, resolution=32).images)
    with pytest.raises(TrainingDiverged, match="tokenizer loss became nan at step 1; lower the learning rate"):
        train_tokenizer(dataclasses.replace(MICRO, lr=float("inf"), warmup_steps=0), data, progress=False)


def test_resume_refuses_another_config(tmp_path):
    data = torch.from_numpy(render_shapes(64, resolution=32).images)
    train_tokenizer(MICRO, data, out_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="another config") as err:
        train_tokenizer(dataclasses.replace(MICRO, lr=1e-4), data, out_dir=tmp_path, progress=False)
    assert isinstance(err.value, CheckpointError) and str(tmp_path / CHECKPOINT_FILE) in str(err.value)


def test_resume_refuses_another_kind_of_checkpoint(tmp_path):
    """A checkpoint of another trainer in out_dir is named, not loaded into the tokenizer."""
    data = torch.from_numpy(render_shapes(64, resolution=32).images)
    model = VQTokenizer(TINY)
    save_checkpoint(tmp_path / CHECKPOINT_FILE, "tokenadapt", {}, model, None, 1, [])
    with pytest.raises(CheckpointError, match="a tokenadapt checkpoint, not a tokenizer one"):
        train_tokenizer(MICRO, data, out_dir=tmp_path, progress=False)


def test_reference_tokenizer_matches_its_provenance(reference):
    provenance = json.loads((REFERENCE_DIR / "provenance.json").read_text())
    assert provenance["command"].startswith("python -m seitpp train-tokenizer")
    assert reference.config.codebook_size == 391 and reference.config.grid_size >= 16
    full = provenance["metrics"]["full"]
    assert full["usage"] >= 0.95  # the goal, on held-out images
    x = images_to_tensor(render_shapes(300, split="test").images)
    report = evaluate_tokenizer(reference, x)
    assert report.psnr == pytest.approx(provenance["metrics"]["reduced"]["psnr_db"], abs=1.0)
    assert report.codebook_size == 391 and report.bits_per_token == pytest.approx(math.log2(391))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_tokenize_and_decode_on_cuda_match_cpu(reference):
    x = images_to_tensor(render_shapes(16, split="test").images)
    gpu = VQTokenizer.load(device="cuda")
    ids = gpu.tokenize(x)
    assert ids.device.type == "cuda" and ids.shape == (16, 16, 16)
    assert (ids.cpu() == reference.tokenize(x)).float().mean() > 0.99  # TF32/conv algorithms may flip near-ties
    assert gpu.decode(ids).device.type == "cuda"
    assert torch.allclose(gpu.decode(ids).cpu(), reference.decode(ids.cpu()), atol=2e-2)


def test_tokenize_many_matches_tokenize_on_tensors_and_uint8(reference):
    images = render_shapes(10, split="test").images
    x = images_to_tensor(images)
    expected = reference.tokenize(x)
    assert torch.equal(reference.tokenize_many(images, batch_size=4), reference.tokenize_many(x, batch_size=4))
    assert (reference.tokenize_many(x, batch_size=3) == expected).float().mean() > 0.999  # as batch independence


def test_decode_many_matches_decode_in_any_batches(reference):
    ids = reference.tokenize_many(render_shapes(10, split="test").images)  # (10, 16, 16)
    expected = reference.decode(ids)  # (10, 3, 64, 64)
    for batch_size in (None, 3):
        images = reference.decode_many(ids, batch_size)
        assert images.shape == expected.shape and images.device.type == "cpu"
        torch.testing.assert_close(images, expected, rtol=0, atol=1e-5)  # conv kernels may add in another order


def test_the_default_batch_on_the_cpu_is_the_measured_one_and_changes_no_result(reference):
    x = images_to_tensor(render_shapes(40, split="test").images)  # more than one default batch
    assert reference.inference_batch == 32  # benchmarks/tokenizer_throughput.py
    assert (reference.tokenize_many(x) == reference.tokenize_many(x, batch_size=256)).float().mean() > 0.999
    assert evaluate_tokenizer(reference, x).psnr == pytest.approx(evaluate_tokenizer(reference, x, batch_size=256).psnr, abs=1e-3)
