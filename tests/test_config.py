"""TrainConfig in parts: every setting by its flat `--set` name or its dotted one, checks next to the
part they concern, and checkpoints of either form (nested, or the flat dict of older runs) read back."""
import json
from dataclasses import asdict, fields, replace
from pathlib import Path

import pytest

import seitpp
from seitpp.engine import (
    FLAT_NAMES,
    PARTS,
    PRESETS,
    AugmentConfig,
    ModelConfig,
    OptimConfig,
    RunConfig,
    TrainConfig,
    config_from_dict,
    flat_dict,
    preset,
    with_overrides,
)
from seitpp.errors import TrainSetupError

REFERENCE_MTM = Path(seitpp.__file__).parent / "artefacts" / "mtm-cpu"  # chapter 5's encoder, exported before the parts

ALL_PRESETS = [(task, name) for task in PRESETS for name in PRESETS[task]]


def test_every_setting_has_one_flat_name_in_one_part():
    assert set(PARTS) == {"model", "augment", "optim", "run", "dct"}
    assert len(FLAT_NAMES) == 1 + sum(len(fields(part)) for part in PARTS.values())  # task, then each field once
    assert FLAT_NAMES["task"] == (None, "task") and FLAT_NAMES["model"] == ("model", "name")
    assert (FLAT_NAMES["lr"], FLAT_NAMES["policy"], FLAT_NAMES["epochs"], FLAT_NAMES["quality"]) == \
        (("optim", "lr"), ("augment", "policy"), ("run", "epochs"), ("dct", "quality"))


def test_the_flat_set_keys_of_before_the_parts_still_work():
    cfg = with_overrides(preset("cpu-tiny"), ["lr=1e-3", "policy=seit", "epochs=3", "model=tvit_tiny", "quality=30"])
    assert (cfg.optim.lr, cfg.augment.policy, cfg.run.epochs, cfg.model.name, cfg.dct.quality) == \
        (1e-3, "seit", 3, "tvit_tiny", 30)
    assert with_overrides(preset("cpu-tiny"), {"lr": 1e-3}).optim.peak_lr == 1e-3
    dotted = with_overrides(preset("cpu-tiny"), ["optim.lr=1e-3", "augment.policy=seit", "run.epochs=3",
                                                 "model.name=tvit_tiny", "dct.quality=30"])
    assert dotted == cfg
    for name, value in flat_dict(cfg).items():  # every flat name reaches its setting
        assert with_overrides(cfg, {name: value}) == cfg


def test_settings_of_several_parts_change_together_and_are_checked_together():
    """A segmentation config mixes no labels: turning a fine-tune into one sets task and mixing at once."""
    segment = with_overrides(preset("cpu-tiny"), dict(task="segment", mixup=0.0, cutmix=0.0, label_smoothing=0.0))
    assert segment.task == "segment" and segment.augment.label_smoothing == 0.0
    assert segment.optim == preset("cpu-tiny").optim  # the parts not named are the same objects' values


def test_an_unknown_setting_is_one_clean_error_listing_the_names():
    for bad in (["epoch=3"], ["optim.epochs=3"], ["training.lr=1"]):
        with pytest.raises(TrainSetupError, match=r"config has no field\(s\)") as info:
            with_overrides(preset("cpu-tiny"), bad)
        message = str(info.value)
        assert "\n" not in message and "epochs" in message and "layer_decay" in message and "optim" in message
    with pytest.raises(TrainSetupError, match=r"no field\(s\) \['epoch'\]"):
        with_overrides(preset("cpu-tiny"), {"epoch": 3})


def test_each_part_checks_its_own_values_and_the_config_how_they_go_together():
    with pytest.raises(TrainSetupError, match="lr_rule must be 'linear' or 'sqrt'"):
        OptimConfig(lr_rule="cubic")
    with pytest.raises(TrainSetupError, match="model must be one of"):
        ModelConfig(name="resnet_huge")
    with pytest.raises(TrainSetupError, match="affine_p must be a probability"):
        AugmentConfig(affine_p=2.0)
    with pytest.raises(TrainSetupError, match=r"warmup_epochs must be in \[0, epochs\]"):
        RunConfig(epochs=2, warmup_epochs=3.0)
    with pytest.raises(TrainSetupError, match="segmentation mixes no labels"):  # augment's mixing x the task
        TrainConfig(task="segment")
    with pytest.raises(TrainSetupError, match="pre-training uses plain crops"):
        replace(preset("cpu-tiny", "pretrain"), augment=AugmentConfig(policy="seitpp"))


@pytest.mark.parametrize("task,name", ALL_PRESETS)
def test_asdict_round_trips_through_config_from_dict_and_json(task, name):
    cfg = preset(name, task)
    assert config_from_dict(asdict(cfg)) == cfg
    assert config_from_dict(json.loads(json.dumps(asdict(cfg)))) == cfg  # JSON keeps betas as a list


def test_the_flat_dict_of_older_checkpoints_and_artefacts_loads():
    stored = json.loads((REFERENCE_MTM / "config.json").read_text())["training"]["config"]  # committed, flat
    assert "lr" in stored and "optim" not in stored
    cfg = config_from_dict(stored)
    assert cfg.model.name == "mtm_micro" and cfg.model.freeze_table and cfg.optim.betas == (0.9, 0.95)
    assert flat_dict(cfg) == {**stored, "betas": tuple(stored["betas"]), "table_warmup": 0.0}  # table_warmup: newer
    old = {k: v for k, v in flat_dict(preset("cpu-tiny")).items() if k != "table_warmup"}  # a run from before it
    assert config_from_dict(old) == preset("cpu-tiny")
    with pytest.raises(TrainSetupError, match=r"no field\(s\) \['retired'\]"):
        config_from_dict({**old, "retired": 1})
