"""The model owns its input contract: mean/std, channel order, align_corners, class names and palette live in
its ModelConfig, survive save/load, and ``Segmentor.normalize`` applies them."""

from __future__ import annotations

import pytest
import torch

from annkit.config import IMAGENET_MEAN, IMAGENET_STD, ModelConfig
from annkit.data import IMAGENET_MEAN as DATA_MEAN
from annkit.models import build, load, model_config, save
from annkit.presets import load_preset


def test_one_imagenet_constant():
    assert DATA_MEAN is IMAGENET_MEAN
    config = ModelConfig(name="x", num_classes=2)
    assert (config.mean, config.std) == (IMAGENET_MEAN, IMAGENET_STD)


def test_bgr_normalize_is_the_official_preprocessing():
    model = build(
        "tiny_ann",
        num_classes=3,
        channel_order="BGR",
        mean=[122.7717 / 255, 115.9465 / 255, 102.9801 / 255],
        std=[1 / 255] * 3,
    )
    images = torch.rand(2, 3, 8, 9)  # RGB in [0, 1]
    official = images.flip(1) * 255 - torch.tensor([102.9801, 115.9465, 122.7717]).view(1, 3, 1, 1)
    assert torch.allclose(model.normalize(images), official, atol=1e-4)
    rgb = build("tiny_ann", num_classes=3)
    expected = (images - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    assert torch.allclose(rgb.normalize(images), expected)


def test_contract_survives_save_and_load(tmp_path):
    model = build(
        "tiny_ann",
        num_classes=2,
        channel_order="BGR",
        align_corners=True,
        classes=["sky", "ground"],
        palette=[[0, 0, 255], [0, 255, 0]],
    )
    save(model, tmp_path / "m.pth")
    again = load(tmp_path / "m.pth")
    assert again.config == model.config and again.channel_order == "BGR" and again.align_corners
    assert again.config.classes == ("sky", "ground") and again.config.palette[0] == (0, 0, 255)


def test_bad_contracts_are_named():
    with pytest.raises(ValueError, match="channel_order must be one of"):
        model_config("tiny_ann", channel_order="RBG")
    with pytest.raises(ValueError, match="classes has 2 entries, expected num_classes = 3"):
        model_config("tiny_ann", num_classes=3, classes=["a", "b"])


def test_dataset_presets_name_their_classes():
    for name, count, first in (
        ("mmseg_ann_r50_d8_voc12aug", 21, "background"),
        ("mmseg_ann_r101_d8_cityscapes", 19, "road"),
        ("official_ann_r101_cityscapes", 19, "road"),
        ("mmseg_ann_r101_d8_ade20k", 150, "wall"),
    ):
        config = ModelConfig.from_dict(load_preset(name)["model"])
        assert len(config.classes) == len(config.palette) == count and config.classes[0] == first


def test_new_class_count_drops_the_presets_labels():
    from annkit.presets import resolve

    assert model_config("mmseg_ann_r50_d8_voc12aug", num_classes=5).classes is None
    assert model_config("mmseg_ann_r50_d8_voc12aug", num_classes=21).classes[0] == "background"
    assert model_config("mmseg_ann_r50_d8_voc12aug", num_classes=2, classes=["a", "b"]).classes == ("a", "b")
    model, _ = resolve("voc_ann_r50", {"model.num_classes": 5})
    assert model.classes is None and model.palette is None


def test_training_and_evaluation_data_follow_a_bgr_contract(tmp_path):
    # eval and train read images through the data pipeline, not Segmentor.normalize: it must give the same input
    import numpy as np
    from PIL import Image

    from annkit.config import TrainConfig
    from annkit.data import read_image
    from annkit.engine.data import build_dataset

    root = tmp_path / "synthetic"
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / folder).mkdir(parents=True)
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (6, 7, 3), dtype=np.uint8)).save(
        root / "JPEGImages" / "a.jpg"
    )
    Image.fromarray(np.zeros((6, 7), np.uint8)).save(root / "SegmentationClass" / "a.png")
    (root / "ImageSets" / "Segmentation" / "val.txt").write_text("a\n")
    model = build("official_ann_r101_cityscapes", num_classes=2, classes=None, palette=None, backbone_weights=False)
    config = TrainConfig(dataset="folder", data_root=str(root))
    image = build_dataset(config, "val", False, model.config)[0]["image"]
    rgb = read_image(root / "JPEGImages" / "a.jpg")  # (3, H, W) uint8, as the loaders decode it
    official = (
        rgb.flip(0).float()  # BGR, 0–255, minus the BGR mean
        - torch.tensor([102.9801, 115.9465, 122.7717]).view(3, 1, 1)
    )
    assert torch.allclose(image, official, atol=1e-3)
    assert torch.allclose(image, model.normalize(rgb[None] / 255)[0], atol=1e-3)
