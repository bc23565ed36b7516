"""Segmentation from tokens: data and folder errors, model shapes, aligned augmentation, metrics,
and training by the engine (task "segment"): learning, exact resume, two gloo processes, checkpoints
evaluated from the command line, unlabelled pixels (ignore_index) and a table started from the codes.

Everything runs the micro model on a few dozen Shapes grids (reference tokenizer) with one thread,
so that the file stays well under a minute on 2 shared cores.
"""
import json
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import seitpp.engine.loop as engine
import seitpp.engine.segment as segment
from seitpp.augment import (
    ColorAdapt,
    GeometryDistribution,
    SegmentationPolicy,
    TokenAdapt,
    TokenAdaptConfig,
    affine_theta,
)
from seitpp.checkpoint import CHECKPOINT_FILE
from seitpp.cli import main
from seitpp.data import UnreadableImageError, render_shapes
from seitpp.engine import (
    HISTORY_FILE,
    Segment,
    TrainConfig,
    confusion_matrix,
    evaluate,
    evaluate_checkpoint,
    iou_per_class,
    load_model,
    load_pretrained_encoder,
    mean_iou,
    pixel_accuracy,
    pixel_loss,
    preset,
    segment_policy,
    setup_distributed,
    train,
    with_overrides,
)
from seitpp.errors import TrainSetupError
from seitpp.models import TokenSegmenter
from seitpp.tokens import SegmentationFileError, Split

NUM_CLASSES = 13  # 12 shapes + background
K = 391


pytestmark = pytest.mark.usefixtures("one_thread")


def masks_split(*args, **kwargs) -> Split:
    """A Split of token ids and masks."""
    return Split(*args, targets_kind="masks", **kwargs)


@pytest.fixture(scope="module")
def shapes(tokenizer):
    """48 training grids (16 x 16 ids) with their 64 x 64 masks."""
    return Split.shapes(48, "train", targets_kind="masks", tokenizer=tokenizer)


def same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def tiny(**changes) -> TrainConfig:
    """The cpu-tiny segmentation preset, sized for 48 grids."""
    return with_overrides(preset("cpu-tiny", "segment"), {"epochs": 2, "batch_size": 16, "lr": 2e-3} | changes)


def upsampled(classes: torch.Tensor, factor: int) -> torch.Tensor:
    """(B, H, W) -> uint8 (B, H * factor, W * factor), each cell copied onto factor x factor pixels."""
    return classes.to(torch.uint8).repeat_interleave(factor, 1).repeat_interleave(factor, 2)


# ----------------------------------------------------------------------------------------------
# Data


def test_shapes_data_pairs_token_grids_with_masks_of_the_object_class(shapes):
    assert len(shapes) == 48 and shapes.grid == (16, 16) and shapes.mask_size == (64, 64)
    assert shapes.targets.dtype == torch.uint8 and not shapes.x.is_floating_point()
    assert shapes.num_classes == NUM_CLASSES and shapes.codebook_size == K
    labels = render_shapes(48, split="train").labels
    for mask, label in zip(shapes.targets, labels):
        assert set(mask.unique().tolist()) == {0, int(label) + 1}  # background and the one object
    assert 0.5 < (shapes.targets == 0).float().mean() < 0.95


def test_data_rejects_values_that_do_not_fit(shapes):
    with pytest.raises(TrainSetupError, match="mask values up to 13 do not fit 13 classes"):
        masks_split(shapes.x, shapes.targets.clone().fill_(13), NUM_CLASSES, K, source="bad")
    with pytest.raises(TrainSetupError, match="ids from 0 to 390 do not fit a codebook of 100"):
        masks_split(shapes.x.clone().fill_(390).index_fill_(0, torch.tensor([0]), 0), shapes.targets,
                         NUM_CLASSES, 100, source="bad")
    with pytest.raises(TrainSetupError, match="48 token grids but 47 masks"):
        masks_split(shapes.x, shapes.targets[:47], NUM_CLASSES, K)


def _folder(root, sizes=((40, 32), (32, 32), (24, 48)), num_classes=5, split=""):
    """An ADE20k-style folder: images[/split]/<stem>.{png,jpg} and annotations[/split]/<stem>.png, left
    half class 1, right half class num_classes - 1."""
    images, annotations = root / "images" / split, root / "annotations" / split
    images.mkdir(parents=True)
    annotations.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, (w, h) in enumerate(sizes):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(
            images / f"img{i}.{'png' if i % 2 else 'jpg'}")
        mask = np.ones((h, w), dtype=np.uint8)
        mask[:, w // 2:] = num_classes - 1
        Image.fromarray(mask).save(annotations / f"img{i}.png")
    return root


def test_folder_in_ade20k_layout_is_tokenized_with_centre_square_masks(tmp_path, tokenizer):
    data = Split.from_folder(_folder(tmp_path / "ade"), tokenizer, num_classes=5, resolution=32)
    assert data.x.shape == (3, 8, 8) and data.targets.shape == (3, 32, 32) and data.num_classes == 5
    assert data.tokenizer_hash == tokenizer.fingerprint()
    # the centre square of each mask: left half class 1, right half class 4 (image 2 is a tall one)
    expected = torch.ones(32, 32, dtype=torch.uint8)
    expected[:, 16:] = 4
    assert all(torch.equal(m, expected) for m in data.targets)
    split = _folder(tmp_path / "split", split="training")
    assert len(Split.from_folder(split, tokenizer, num_classes=5, split="training")) == 3


def _break_empty(root):
    for f in (root / "images").iterdir():
        f.unlink()
    return root / "images", "no image files"


def _break_no_annotations(root):
    for f in (root / "annotations").iterdir():
        f.unlink()
    (root / "annotations").rmdir()
    return root / "annotations", "no such folder"


def _break_missing_mask(root):
    (root / "annotations" / "img1.png").unlink()
    return root / "images" / "img1.png", "no mask for this image"


def _break_unreadable(root):
    (root / "images" / "img0.jpg").write_bytes(b"not an image at all")
    return root / "images" / "img0.jpg", "cannot read image"


def _break_mask_size(root):
    Image.fromarray(np.zeros((20, 30), dtype=np.uint8)).save(root / "annotations" / "img2.png")
    return root / "annotations" / "img2.png", "mask is 30 x 20 pixels, its image img2.jpg is 24 x 48"


def _break_mask_values(root):
    Image.fromarray(np.full((32, 32), 7, dtype=np.uint8)).save(root / "annotations" / "img1.png")
    return root / "annotations" / "img1.png", "class index 7 is beyond num_classes 5"


def _break_rgb_mask(root):
    Image.fromarray(np.zeros((32, 32, 3), dtype=np.uint8)).save(root / "annotations" / "img1.png")
    return root / "annotations" / "img1.png", "got mode RGB"


@pytest.mark.parametrize("damage", [_break_empty, _break_no_annotations, _break_missing_mask, _break_unreadable,
                                    _break_mask_size, _break_mask_values, _break_rgb_mask])
def test_bad_folders_fail_naming_the_file_and_the_problem(tmp_path, tokenizer, damage):
    path, problem = damage(_folder(tmp_path / "ade"))
    error = UnreadableImageError if damage is _break_unreadable else SegmentationFileError
    with pytest.raises(error) as info:
        Split.from_folder(tmp_path / "ade", tokenizer, num_classes=5)
    assert info.value.path == path
    assert str(path) in str(info.value) and problem in str(info.value)


# ----------------------------------------------------------------------------------------------
# Model


@pytest.mark.parametrize("encoder", ["tvit_micro", "tvit_tiny"])
def test_segmenter_gives_logits_per_token_or_at_the_mask_size(encoder):
    model = TokenSegmenter(NUM_CLASSES, K, encoder, grid_size=14).eval()
    for side in (14, 16):  # the trained grid, and a whole grid through resampled positions
        ids = torch.randint(K, (2, side, side))
        assert model.forward_features(ids).shape == (2, model.encoder.num_features, side // 2, side // 2)
        assert model(ids).shape == (2, NUM_CLASSES, side, side)
        logits = model(ids, (4 * side, 4 * side))
        assert logits.shape == (2, NUM_CLASSES, 4 * side, 4 * side) and torch.isfinite(logits).all()


def test_segmenter_starts_from_an_mtm_encoder(shapes, tmp_path):
    """Three steps of MTM pre-training give a checkpoint; its encoder fills the segmenter's, key for key."""
    grids = Split(shapes.x, torch.zeros(len(shapes)), 1, K)
    mtm = with_overrides(preset("cpu-tiny", "pretrain"), dict(epochs=1, warmup_epochs=0, batch_size=16))
    pretrained = train(mtm, grids, out_dir=tmp_path / "mtm", device="cpu", progress=False).model
    model = TokenSegmenter(NUM_CLASSES, K, "tvit_micro", grid_size=mtm.model.crop)
    assert load_pretrained_encoder(model.encoder, tmp_path / "mtm") == []
    assert same_state(model.encoder.state_dict(), pretrained.encoder_state_dict())
    with pytest.raises(TrainSetupError, match="does not fit"):  # positions learned for another grid
        load_pretrained_encoder(TokenSegmenter(NUM_CLASSES, K, "tvit_micro", grid_size=16).encoder, tmp_path / "mtm")


# ----------------------------------------------------------------------------------------------
# Augmentation: tokens and masks move together


def test_identity_and_centre_crop_leave_tokens_and_masks_in_place(shapes):
    ids, masks = shapes.x[:4].long(), shapes.targets[:4]
    out_ids, out_masks = SegmentationPolicy(16).apply(ids, masks, affine_theta(4))
    assert torch.equal(out_ids, ids) and torch.equal(out_masks, masks)
    out_ids, out_masks = SegmentationPolicy(14)(ids, masks)  # no geometry: the central 14 x 14 window
    assert torch.equal(out_ids, ids[:, 1:15, 1:15]) and torch.equal(out_masks, masks[:, 4:60, 4:60])


def test_flip_moves_a_mask_made_from_the_tokens_with_them():
    ids = torch.randint(K, (6, 16, 16), generator=torch.Generator().manual_seed(0))
    masks = upsampled(ids % NUM_CLASSES, 4)  # a mask that is a function of the tokens
    out_ids, out_masks = SegmentationPolicy(16).apply(ids, masks, affine_theta(6, hflip=True))
    assert torch.equal(out_ids, ids.flip(-1)) and torch.equal(out_masks, masks.flip(-1))
    # per-sample flips drawn by the augmentation: each mask still matches its own tokens
    flips = GeometryDistribution(flip_p=0.5, affine_p=0.0, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0))
    out_ids, out_masks = SegmentationPolicy(16, flips)(ids, masks, torch.Generator().manual_seed(1))
    flipped = (out_ids != ids).flatten(1).any(1)
    assert 0 < flipped.sum() < 6
    assert torch.equal(out_masks, upsampled(out_ids % NUM_CLASSES, 4))


def test_random_geometry_applies_each_samples_theta_to_its_mask():
    """Masks at the token resolution see exactly the tokens' sample points: any theta, exact agreement."""
    ids = torch.randint(K, (32, 16, 16), generator=torch.Generator().manual_seed(0))
    masks = (ids % NUM_CLASSES).to(torch.uint8)
    augment = SegmentationPolicy(14, GeometryDistribution())
    out_ids, out_masks = augment(ids, masks, torch.Generator().manual_seed(1))
    assert out_ids.shape == out_masks.shape == (32, 14, 14)
    assert torch.equal(out_masks, (out_ids % NUM_CLASSES).to(torch.uint8))
    assert (out_ids != ids[:, 1:15, 1:15]).float().mean() > 0.5  # it did move the tokens
    # at 4x resolution the mask is finer than the tokens, but still far closer than another sample's geometry
    theta = GeometryDistribution().sample(32, torch.Generator().manual_seed(1))
    out_ids, out_masks = augment.apply(ids, upsampled(masks, 4), theta)
    _, wrong = augment.apply(ids, upsampled(masks, 4), theta.roll(1, 0))
    own = (upsampled(out_ids % NUM_CLASSES, 4) == out_masks).float().mean()
    other = (upsampled(out_ids % NUM_CLASSES, 4) == wrong).float().mean()
    assert own > 0.5 > 0.2 > other


def test_tokenadapt_gets_the_masks_theta(tokenizer):
    """An untrained TokenAdapt is the exact mirror for flips: its tokens and the masks flip together."""
    ids = torch.randint(K, (8, 16, 16), generator=torch.Generator().manual_seed(0))
    masks = upsampled(ids % NUM_CLASSES, 4)
    tokenadapt = TokenAdapt(tokenizer.codebook, TokenAdaptConfig(width=32, num_heads=2)).eval()
    flips = GeometryDistribution(flip_p=0.5, affine_p=0.0, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0))
    out_ids, out_masks = SegmentationPolicy(16, flips, tokenadapt)(ids, masks, torch.Generator().manual_seed(2))
    flipped = (out_ids != ids).flatten(1).any(1)
    assert 0 < flipped.sum() < 8
    assert torch.equal(out_ids[flipped], ids[flipped].flip(-1))
    assert torch.equal(out_masks, upsampled(out_ids % NUM_CLASSES, 4))


def test_color_adapt_changes_tokens_only(shapes, tokenizer):
    ids, masks = shapes.x[:8].long(), shapes.targets[:8]
    color = ColorAdapt(fraction=1.0, codebook=tokenizer.codebook)
    out_ids, out_masks = SegmentationPolicy(16, appearance=color)(ids, masks, torch.Generator().manual_seed(0))
    assert torch.equal(out_masks, masks)
    assert (out_ids != ids).float().mean() > 0.05


# ----------------------------------------------------------------------------------------------
# Metrics


def test_metrics_on_hand_made_confusions():
    target = torch.tensor([0, 0, 1, 1])
    pred = torch.tensor([0, 1, 1, 1])
    cm = confusion_matrix(pred, target, 2)
    assert cm.tolist() == [[1, 1], [0, 2]]  # rows: truth, columns: prediction
    assert mean_iou(cm) == pytest.approx((1 / 2 + 2 / 3) / 2)  # IoU 0: 1 / (2 + 1 - 1), IoU 1: 2 / (2 + 3 - 2)
    assert pixel_accuracy(cm) == pytest.approx(3 / 4)
    # a class neither present nor predicted does not count; one predicted but absent counts as IoU 0
    cm4 = confusion_matrix(pred, target, 4)
    assert mean_iou(cm4) == pytest.approx(mean_iou(cm)) and torch.isnan(iou_per_class(cm4)[2:]).all()
    cm3 = confusion_matrix(torch.tensor([0, 2]), torch.tensor([0, 0]), 3)
    assert iou_per_class(cm3)[[0, 2]].tolist() == [0.5, 0.0] and mean_iou(cm3) == pytest.approx(0.25)
    # perfect, and accumulated over batches as over the whole
    masks = torch.randint(5, (4, 8, 8))
    assert mean_iou(confusion_matrix(masks, masks, 5)) == pixel_accuracy(confusion_matrix(masks, masks, 5)) == 1.0
    guess = torch.randint(5, (4, 8, 8))
    halves = confusion_matrix(guess[:2], masks[:2], 5) + confusion_matrix(guess[2:], masks[2:], 5)
    assert torch.equal(halves, confusion_matrix(guess, masks, 5))


# ----------------------------------------------------------------------------------------------
# Training


def all_background(data: Split) -> torch.Tensor:
    return confusion_matrix(torch.zeros_like(data.targets), data.targets, data.num_classes)


def test_engine_training_lowers_the_loss_and_beats_all_background(shapes):
    result = train(tiny(epochs=30, log_every=3), shapes, device="cpu", progress=False)  # a row per epoch
    losses = [row["loss"] for row in result.history]
    assert len(losses) == 30 and losses[-1] < 0.7 * losses[0]
    assert isinstance(result.model, TokenSegmenter) and not result.model.training
    fit = evaluate(result.model, shapes, tiny())
    baseline = all_background(shapes)
    assert fit["val_pixel_acc"] > pixel_accuracy(baseline) + 0.01
    assert fit["val_miou"] > 2 * mean_iou(baseline)


def test_the_seitpp_policy_moves_masks_with_tokenadapt_and_recolours_tokens_only(shapes, tokenizer):
    """The engine's segmentation transform: each mask still covers its own tokens' object after the
    geometry, and the appearance half changes tokens where the masks say nothing changed."""
    codes = tokenizer.codebook.vectors().detach()
    ids, masks = shapes.x[:16], shapes.targets[:16]
    plain = segment_policy(tiny(policy="none"))
    assert plain.tokenadapt is None and plain.appearance is None and plain.geometry.affine_p == 0.5
    tokenadapt = TokenAdapt(tokenizer.codebook, TokenAdaptConfig(width=32, num_heads=2)).eval()
    seitpp = segment_policy(tiny(policy="seitpp", crop=16, min_scale=1.0, affine_p=0.0), codes, tokenadapt)
    assert seitpp.tokenadapt is tokenadapt
    out_ids, out_masks = seitpp(ids, masks, torch.Generator().manual_seed(0))
    geometry_only = SegmentationPolicy(16, seitpp.geometry, tokenadapt)(ids, masks, torch.Generator().manual_seed(0))
    assert torch.equal(out_masks, geometry_only[1])  # the same theta per sample: masks moved as without colour
    changed = (out_ids != geometry_only[0]).flatten(1).any(1)
    assert 0 < changed.sum() < 16  # the appearance half: Emb-Noise or ColorAdapt on half the batch


def test_resumed_run_computes_what_an_uninterrupted_run_does(shapes, tokenizer, tmp_path, monkeypatch):
    """Interrupt a run in its third step, after the mid-epoch checkpoint of step 2, resume it, compare."""
    config = tiny(policy="seitpp", checkpoint_every=2, log_every=1)
    val = masks_split(shapes.x[:16], shapes.targets[:16], NUM_CLASSES, K, "val")
    tokenadapt = TokenAdapt(tokenizer.codebook, TokenAdaptConfig(width=32, num_heads=2)).eval()
    kwargs = dict(tokenizer=tokenizer, tokenadapt=tokenadapt, device="cpu", progress=False)
    straight = train(config, shapes, val, tmp_path / "straight", **kwargs)

    real_lr_at = engine.lr_at

    def killed_in_step_3(step, *args):
        if step == 2:
            raise KeyboardInterrupt
        return real_lr_at(step, *args)

    monkeypatch.setattr(engine, "lr_at", killed_in_step_3)
    with pytest.raises(KeyboardInterrupt):
        train(config, shapes, val, tmp_path / "run", **kwargs)
    monkeypatch.setattr(engine, "lr_at", real_lr_at)
    assert torch.load(tmp_path / "run" / CHECKPOINT_FILE, weights_only=False)["step"] == 2
    resumed = train(config, shapes, val, tmp_path / "run", **kwargs)

    assert same_state(straight.model.state_dict(), resumed.model.state_dict())
    timing = ("images_per_s", "data_share")
    untimed = [[{k: v for k, v in row.items() if k not in timing} for row in r.history] for r in (straight, resumed)]
    assert untimed[0] == untimed[1] and resumed.metrics == straight.metrics
    assert set(straight.metrics) == {"val_loss", "val_miou", "val_pixel_acc"}
    assert "val_miou" in (tmp_path / "run" / HISTORY_FILE).read_text().splitlines()[0]
    with pytest.raises(TrainSetupError, match=r"another config \(fields \['seed'\] differ\)"):
        train(with_overrides(config, dict(seed=1)), shapes, val, tmp_path / "run", **kwargs)


def test_engine_checks_the_task_against_the_data_and_the_config(shapes, tokenizer):
    labels = Split(shapes.x, torch.zeros(len(shapes)), 1, K, "labels only")
    with pytest.raises(TrainSetupError, match="labels only: image labels cannot train task 'segment'"):
        train(tiny(), labels, progress=False)
    with pytest.raises(TrainSetupError, match=r"shapes:48 \(train\): masks cannot train task 'finetune'"):
        train(preset("cpu-tiny"), shapes, progress=False)
    odd = masks_split(shapes.x[:, :15, :15], shapes.targets, NUM_CLASSES, K, "odd")
    with pytest.raises(TrainSetupError, match="odd: 15 x 15 token grids must be even"):
        train(tiny(), odd, progress=False)
    small = masks_split(shapes.x[:, :12, :12], shapes.targets, NUM_CLASSES, K, "small")
    with pytest.raises(TrainSetupError, match="small: 12 x 12 token grids are smaller than the 14 x 14 crop"):
        train(tiny(), small, progress=False)
    for bad, problem in [(dict(policy="seit"), "segmentation takes a policy that moves no token without its mask, such as "
                                               "'none' or 'seitpp'; policy 'seit' does"),
                         (dict(mixup=0.8), "segmentation mixes no labels"),
                         (dict(stem="seit"), "learned table"),
                         (dict(affine_p=1.5), "affine_p must be a probability"),
                         (dict(table_init="zeros"), "table_init must be one of")]:
        with pytest.raises(TrainSetupError, match=problem):
            tiny(**bad)
    with pytest.warns(UserWarning, match="TokenAdapt given but unused"):
        tokenadapt = TokenAdapt(tokenizer.codebook, TokenAdaptConfig(width=32, num_heads=2))
        train(tiny(epochs=1, policy="none"), shapes, tokenadapt=tokenadapt, progress=False)


def _ddp_worker(rank: int, data: Split, out: str) -> None:
    assert setup_distributed() == (rank, 2)  # as under torchrun
    result = train(tiny(epochs=1, policy="seitpp"), data, data, out_dir=out, device="cpu", progress=False)
    torch.save({"model": result.model.state_dict(), "metrics": result.metrics}, os.path.join(out, f"rank{rank}.pt"))
    torch.distributed.destroy_process_group()


def test_two_gloo_processes_agree_and_their_split_evaluation_is_the_whole_one(shapes, tmp_path, two_gloo_processes):
    data = masks_split(shapes.x[:33], shapes.targets[:33], NUM_CLASSES, K, "ddp", shapes.tokenizer_hash)
    two_gloo_processes(_ddp_worker, data, str(tmp_path))
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    assert same_state(r0["model"], r1["model"]) and r0["metrics"] == r1["metrics"]
    # ranks scored samples 0, 2, .. and 1, 3, .. (33: unequal shares); their sums are one evaluation of all
    model, _ = load_model(tmp_path)
    whole = evaluate(model, data, tiny())
    assert r0["metrics"]["val_miou"] == pytest.approx(whole["val_miou"])
    assert r0["metrics"]["val_pixel_acc"] == pytest.approx(whole["val_pixel_acc"])
    assert r0["metrics"]["val_loss"] == pytest.approx(whole["val_loss"], rel=1e-5)
    assert evaluate_checkpoint(tmp_path, data) == pytest.approx(r0["metrics"])


def test_command_line_trains_resumes_and_evaluates_a_segmenter(tmp_path, capsys):
    out = tmp_path / "seg"
    argv = ["segment", "--data", "shapes:48", "--val", "shapes:16", "--out", str(out), "--device", "cpu",
            "--set", "epochs=1", "--set", "batch_size=16"]
    main(argv)
    assert "val mIoU" in capsys.readouterr().out
    ckpt = torch.load(out / CHECKPOINT_FILE, weights_only=False)
    assert ckpt["config"]["task"] == "segment" and ckpt["data"]["source"] == "shapes:48 (train)"
    before = (out / HISTORY_FILE).read_text()
    main(argv)  # finds the finished run: no step is taken again
    assert (out / HISTORY_FILE).read_text() == before
    capsys.readouterr()
    main(["evaluate", "--checkpoint", str(out), "--data", "shapes:16", "--device", "cpu"])
    metrics = json.loads(capsys.readouterr().out)
    assert set(metrics) >= {"val_loss", "val_miou", "val_pixel_acc"} and 0 < metrics["val_pixel_acc"] <= 1
    with pytest.raises(SystemExit):
        main(["segment", "--data", str(tmp_path), "--out", str(out / "x"), "--device", "cpu"])
    assert "needs its number of classes" in capsys.readouterr().err
    # image/mask folders in ADE20k's layout, with a split subfolder, tokenized on the fly
    ade = _folder(tmp_path / "ade", split="training")
    main(["segment", "--data", str(ade), "--split", "training", "--val", str(ade), "--val-split", "training",
          "--num-classes", "5", "--resolution", "32", "--out", str(tmp_path / "ade-run"), "--device", "cpu",
          "--set", "crop=8", "--set", "batch_size=3", "--set", "epochs=1"])
    assert "1 steps on 3 samples" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------------
# Unlabelled pixels (ignore_index), the table's start, predictions


def test_ignore_index_must_lie_outside_the_classes_and_masks_must_use_it(shapes):
    masks = shapes.targets.clone()
    masks[:, :8] = 255  # a band of unlabelled pixels at the top of every mask
    with pytest.raises(TrainSetupError, match="mask values up to 255 do not fit 13 classes"):
        masks_split(shapes.x, masks, NUM_CLASSES, K)
    data = masks_split(shapes.x, masks, NUM_CLASSES, K, ignore_index=255)
    assert data.num_classes == NUM_CLASSES and (data.targets == 255).any()
    # what is ignored changes what a run computes: a resumed run must see the same
    assert (masks_split(shapes.x, shapes.targets, NUM_CLASSES, K, ignore_index=255).fingerprint()
            != masks_split(shapes.x, shapes.targets, NUM_CLASSES, K).fingerprint())
    with pytest.raises(TrainSetupError, match=r"ignore_index must be .* in \[13, 255\], got 3"):
        masks_split(shapes.x, shapes.targets, NUM_CLASSES, K, ignore_index=3)
    with pytest.raises(TrainSetupError, match="nor ignore_index 254"):
        masks_split(shapes.x, masks, NUM_CLASSES, K, ignore_index=254)


def test_ignored_pixels_count_in_neither_loss_nor_metrics(shapes):
    logits = torch.randn(4, NUM_CLASSES, 64, 64, generator=torch.Generator().manual_seed(0))
    masks = shapes.targets[:4].long().clone()
    masks[:, :, :20] = 255
    keep = masks != 255
    expected = F.cross_entropy(logits.permute(0, 2, 3, 1)[keep], masks[keep])
    assert pixel_loss(logits, masks, 255).item() == pytest.approx(expected.item(), rel=1e-5)
    scrambled = logits.clone()
    scrambled[..., :20] = 100 * torch.randn(4, NUM_CLASSES, 64, 20)  # what the model says where nobody labelled
    assert pixel_loss(scrambled, masks, 255).item() == pytest.approx(expected.item(), rel=1e-5)
    assert pixel_loss(logits, torch.full_like(masks, 255), 255).item() == 0.0  # nothing labelled: 0, not NaN
    pred = logits.argmax(1)
    assert torch.equal(confusion_matrix(pred, masks, NUM_CLASSES, 255),
                       confusion_matrix(pred[keep], masks[keep], NUM_CLASSES))
    # the evaluation scores only labelled pixels: a model's metrics on data with a band ignored are
    # those of the labelled part, which no other value in the band can change
    model = TokenSegmenter(NUM_CLASSES, K).eval()
    ignored = masks_split(shapes.x[:8], shapes.targets[:8].clone().index_fill_(2, torch.arange(20), 255),
                               NUM_CLASSES, K, ignore_index=255)
    predicted = segment.predict_masks(model, ignored.x, ignored.mask_size)
    labelled = ignored.targets != 255
    confusion = confusion_matrix(predicted[labelled], ignored.targets[labelled], NUM_CLASSES)
    metrics = evaluate(model, ignored, tiny())
    assert metrics["val_miou"] == pytest.approx(mean_iou(confusion)) and metrics["val_pixel_acc"] == pytest.approx(
        pixel_accuracy(confusion))


def test_training_with_ignored_pixels_and_mismatched_validation(shapes):
    masks = shapes.targets.clone()
    masks[:, 30:34] = 255
    data = masks_split(shapes.x, masks, NUM_CLASSES, K, ignore_index=255)
    with pytest.raises(TrainSetupError, match="ignore_index None differs"):
        train(tiny(epochs=1), data, shapes, progress=False)
    result = train(tiny(epochs=1), data, data, device="cpu", progress=False)
    assert all(np.isfinite(row["loss"]) for row in result.history) and 0 < result.metrics["val_pixel_acc"] <= 1


def test_folder_masks_may_hold_the_ignore_index(tmp_path, tokenizer, capsys):
    root = _folder(tmp_path / "ade")
    mask = np.ones((32, 32), dtype=np.uint8)
    mask[:4] = 255
    Image.fromarray(mask).save(root / "annotations" / "img1.png")
    with pytest.raises(SegmentationFileError, match="class index 255 is beyond num_classes 5"):
        Split.from_folder(root, tokenizer, num_classes=5, resolution=32, progress=False)
    assert capsys.readouterr().err == ""  # no bar without progress
    data = Split.from_folder(root, tokenizer, num_classes=5, resolution=32, ignore_index=255)
    assert data.ignore_index == 255 and (data.targets[1] == 255).any() and data.targets[0].max() < 5
    assert "3/3" in capsys.readouterr().err  # the bar counted the three pairs


def test_table_can_start_from_the_tokenizers_codes(shapes, tokenizer):
    codes = tokenizer.codebook.vectors().detach()
    model = TokenSegmenter(NUM_CLASSES, K, codes=codes)
    assert torch.equal(model.encoder.patch_embed.codes.weight.detach(), codes)
    assert not torch.equal(TokenSegmenter(NUM_CLASSES, K).encoder.patch_embed.codes.weight.detach(), codes)
    model, args = Segment(tiny(table_init="codes")).build_model(shapes, codes)  # what train() builds
    assert torch.equal(model.encoder.patch_embed.codes.weight.detach(), codes) and args["decoder_dim"] == 64


def test_predicted_masks_are_the_argmax_at_the_mask_size(shapes):
    model = TokenSegmenter(NUM_CLASSES, K).eval()
    predicted = segment.predict_masks(model, shapes.x[:5], (64, 64), batch_size=2)
    assert predicted.shape == (5, 64, 64) and predicted.dtype == torch.uint8
    with torch.no_grad():
        assert torch.equal(predicted, model(shapes.x[:5].long(), (64, 64)).argmax(1).to(torch.uint8))


# ----------------------------------------------------------------------------------------------
# CUDA: bf16 autocast, TokenAdapt and the appearance ops on the device


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_segmentation_with_tokenadapt_matches_its_cpu_evaluation(shapes, tokenizer):
    result = train(tiny(epochs=3, policy="seitpp"), shapes, shapes, tokenizer=tokenizer, tokenadapt=TokenAdapt.load(),
                   device="cuda", progress=False)
    assert next(result.model.parameters()).device.type == "cuda"
    assert all(np.isfinite(row["loss"]) for row in result.history)
    on_cpu = evaluate(result.model.cpu(), shapes, tiny())  # float32 on the CPU against bf16 autocast on CUDA
    assert result.metrics["val_pixel_acc"] == pytest.approx(on_cpu["val_pixel_acc"], abs=0.02)
