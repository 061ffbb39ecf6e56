"""The preset table (annkit.presets) and the one config parser (annkit.config.values).

The presets used to be fifteen YAML files; the table must resolve every one of them to the very same model and train
configs. ``RESOLVED`` holds the SHA-256 of each preset's resolved config as the YAML files gave it (commit d4fa6e6),
measured before the table replaced them.
"""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
import yaml

from annkit import models
from annkit.cli import main as cli_main
from annkit.config import ConfigError, ModelConfig, TrainConfig
from annkit.config.values import parse, plain
from annkit.models.heads import HEADS
from annkit.presets import load_preset, preset_names, preset_yaml, resolve

RESOLVED = {
    "mmseg_ann_r101_d8_ade20k": "d54b73801af641e82d81c673a831a17209df8560b4a07f19024fefbf6f400756",
    "mmseg_ann_r101_d8_cityscapes": "24aa854a6b997db994ed2845b4bcdd69dde6b16b763ffcc34baac9d320cd5f35",
    "mmseg_ann_r101_d8_voc12aug": "c76b0c38545af3eaefec0e885a0296f3230e50bc16752a130ce81cf8bde0b6b2",
    "mmseg_ann_r50_d8_ade20k": "4da9b555678255849bb7eecb045cc0f1b094f479709b3364770cbd507a3dc000",
    "mmseg_ann_r50_d8_cityscapes": "0d36cc549dce3c8f605335081d098bd1d46e1c0328c3a8af65ad14110d442090",
    "mmseg_ann_r50_d8_voc12aug": "b8281ab772b33afdfff91b2d2cae2d3f95515fd85da5f42b51267d40a6e22f1a",
    "official_ann_r101_cityscapes": "a8f503328b3a0701ab8a5e8ae4eadb9f357dec17f9286a9e851c8fbce20b7ca0",
    "paddleseg_ann_r101_vd_cityscapes": "bc54ccace12cecbbcfbc8ece796bd8611060da6fbe03ed7ff50f1b798d003c55",
    "paddleseg_ann_r101_vd_voc12aug": "0743c23407e0a8a051cb85289f0e612b4e9f7b097bbffeee61b9f428f2e7b9a6",
    "paddleseg_ann_r50_vd_cityscapes": "48f14933aa32396c0c9957b1764eab5d6ca07e12480b4c345a76fa565cefd4c6",
    "paddleseg_ann_r50_vd_voc12aug": "75fd117a2399f0a3e872f8097099320fa756ac752d50a39b1461f2973cbc144c",
    "tiny_ann": "5690d7f5c0da7f25ceebdf9e8c0ad499a26590b0f6210cfcc231d3ed9658b385",
    "tiny_fcn": "d113a80feede939f48c1779a384f78e7d4c5b346f31f9beddb033aef85e36211",
    "voc_ann_r101": "827685dc3e144140b89e10b5b0aae19678946531d1204a8682dd7ee723b77258",
    "voc_ann_r50": "db4f35dcae2e67949a0d1909153b3044d4964a802e695a714c1cb009ece7a61d",
}


def _resolved(preset) -> dict:
    model, train = resolve(preset)
    return {"model": model.to_dict(), "train": train.to_dict()}


def _digest(resolved: dict) -> str:
    return hashlib.sha256(json.dumps(resolved, sort_keys=True).encode()).hexdigest()


def test_the_table_resolves_every_preset_exactly_as_the_yaml_files_did():
    assert preset_names() == sorted(RESOLVED)
    changed = [name for name in RESOLVED if _digest(_resolved(name)) != RESOLVED[name]]
    assert not changed, f"presets whose resolved config changed: {changed}"


@pytest.mark.parametrize(
    "r50, r101",
    [
        ("voc_ann_r50", "voc_ann_r101"),
        ("mmseg_ann_r50_d8_ade20k", "mmseg_ann_r101_d8_ade20k"),
        ("paddleseg_ann_r50_vd_cityscapes", "paddleseg_ann_r101_vd_cityscapes"),
    ],
)
def test_resnet_50_and_101_presets_differ_in_name_and_depth_only(r50, r101):
    small, large = _resolved(r50), _resolved(r101)
    assert (small["model"]["backbone"]["depth"], large["model"]["backbone"]["depth"]) == (50, 101)
    large["model"]["backbone"]["depth"], large["model"]["name"] = 50, r50
    assert small == large


def test_a_preset_shown_as_yaml_is_a_config_file_of_your_own(tmp_path, capsys):
    for name in ("official_ann_r101_cityscapes", "tiny_ann"):
        mine = tmp_path / f"{name}.yaml"
        mine.write_text(preset_yaml(name))
        assert _resolved(mine) == _resolved(name)  # floats (mean 122.7717 / 255) survive the YAML round trip
    assert cli_main(["presets", "show", "tiny_fcn"]) == 0
    assert yaml.safe_load(capsys.readouterr().out) == load_preset("tiny_fcn")
    assert cli_main(["presets", "list"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == preset_names()
    load_preset("tiny_ann")["model"]["num_classes"] = 2  # a fresh copy each time: the table is not changed
    assert load_preset("tiny_ann")["model"]["num_classes"] == 21


def test_one_parser_checks_keys_and_types_at_every_level():
    with pytest.raises(
        ConfigError, match=r"unknown config key 'model.backbone.dept': did you mean model.backbone.depth"
    ):
        ModelConfig.from_dict({"name": "x", "num_classes": 2, "backbone": {"dept": 50}})
    with pytest.raises(ConfigError, match=r"model.runtime.compile must be true or false, got 'yes'"):
        ModelConfig.from_dict({"name": "x", "num_classes": 2, "runtime": {"compile": "yes"}})
    with pytest.raises(ConfigError, match=r"model.mean must be a list of 3 values"):
        ModelConfig.from_dict({"name": "x", "num_classes": 2, "mean": [0.5, 0.5]})
    with pytest.raises(ConfigError, match=r"model needs model.num_classes"):
        ModelConfig.from_dict({"name": "x"})
    with pytest.raises(ConfigError, match=r"train.eval.mode must be a string, got 3"):
        TrainConfig.from_dict({"eval": {"mode": 3}})
    config = ModelConfig.from_dict({"name": "x", "num_classes": 2, "runtime": None, "std": [1, 2, 3]})
    assert config.std == (1.0, 2.0, 3.0) and isinstance(config.std[0], float) and not config.runtime.compile
    train = TrainConfig.from_dict({"optimizer": {"lr": "1e-3"}, "crop_size": [64, 64]})
    assert parse(TrainConfig, plain(train), "train") == train and train.optimizer.lr == 1e-3


def test_every_head_takes_the_backbone_widths_the_class_count_and_its_options():
    widths = (8, 16, 24, 32)  # stages 2–5 of a made-up backbone
    features = [torch.randn(1, c, 6, 6) for c in widths]
    for name, head in HEADS.items():
        module = head(widths, 3).eval()
        with torch.no_grad():
            assert module(features).shape == (1, 3, 6, 6), name
    fcn = HEADS["fcn"](widths, 3, in_index=-2, channels=4)
    assert fcn.convs[0].conv.in_channels == 24  # stage 4
    with pytest.raises(ConfigError, match=r"'model.aux_head.chanels': did you mean model.aux_head.channels"):
        models.check_heads(resolve("voc_ann_r50", {"model.aux_head.chanels": 8})[0])
    psp = models.build("tiny_fcn", head={"name": "psp", "channels": 8}, align_corners=True).head
    assert psp.align_corners  # a head that resamples follows the model's align_corners
