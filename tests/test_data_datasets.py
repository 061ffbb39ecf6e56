"""Cityscapes, ADE20K and PASCAL Context on small trees in their real layouts: ids, splits, check, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import CITYSCAPES_TRAIN, cityscapes_tree, write_image, write_mask

from annkit.cli import main
from annkit.data import DATASETS, DatasetNotFoundError, MaskValueError, UnpairedFileError, load_dataset
from annkit.data.check import check_dataset
from annkit.data.download import download
from annkit.data.errors import DownloadError


def test_cityscapes_maps_label_ids_to_train_ids(tmp_path: Path) -> None:
    cityscapes_tree(tmp_path)
    train = load_dataset("cityscapes", tmp_path, "train")  # a data root holding cityscapes/
    assert len(train) == 2 and train.num_classes == 19 and train[0]["name"] == "aachen/aachen_000000_000000"
    assert np.array_equal(train[0]["mask"].numpy(), CITYSCAPES_TRAIN)
    assert train[0]["image"].shape == (3, 4, 6)
    val = load_dataset("cityscapes", tmp_path / "cityscapes", "val")  # the folder itself
    assert (val[0]["mask"].numpy() == 13).all()
    test = load_dataset("cityscapes", tmp_path, "test")
    assert (test[0]["mask"].numpy() == 255).all()  # withheld labels: everything ignored


def test_cityscapes_errors_name_the_file(tmp_path: Path) -> None:
    base = cityscapes_tree(tmp_path)
    bad = base / "gtFine" / "train" / "aachen" / "aachen_000000_000001_gtFine_labelIds.png"
    write_mask(bad, np.full((4, 6), 34))
    with pytest.raises(MaskValueError, match=r"aachen_000000_000001_gtFine_labelIds\.png: mask values \[34\].*0\.\.33"):
        load_dataset("cityscapes", tmp_path, "train")[1]
    write_image(base / "leftImg8bit" / "train" / "aachen" / "aachen_000000_000009_leftImg8bit.png")
    with pytest.raises(UnpairedFileError, match=r"aachen_000000_000009_leftImg8bit\.png has no mask"):
        load_dataset("cityscapes", tmp_path, "train")
    with pytest.raises(DatasetNotFoundError, match=r"cityscapes-dataset\.com.*leftImg8bit"):
        load_dataset("cityscapes", tmp_path / "elsewhere", "val")
    with pytest.raises(DownloadError, match=r"login.*gtFine_trainvaltest\.zip.*leftImg8bit_trainvaltest\.zip"):
        download("cityscapes", tmp_path)


def ade_tree(root: Path) -> Path:
    base = root / "ade" / "ADEChallengeData2016"
    stored = np.array([[0, 1, 2, 150, 255, 75]] * 4)
    for split, prefix in (("training", "train"), ("validation", "val")):
        for index in (1, 2):
            write_image(base / "images" / split / f"ADE_{prefix}_{index:08d}.jpg")
            write_mask(base / "annotations" / split / f"ADE_{prefix}_{index:08d}.png", stored)
    return base


def test_ade20k_reduces_the_zero_label(tmp_path: Path) -> None:
    ade_tree(tmp_path)
    val = load_dataset("ade20k", tmp_path, "val")
    assert len(val) == 2 and val.num_classes == 150 and val[0]["name"] == "ADE_val_00000001"
    assert val[0]["mask"].numpy()[0].tolist() == [255, 0, 1, 149, 255, 74]
    assert len(load_dataset("ade20k", tmp_path / "ade", "train")) == 2
    assert DATASETS["ade20k"].class_names[0] == "wall" and DATASETS["ade20k"].palette[-1] == (92, 0, 255)


def test_ade20k_value_151_is_an_error(tmp_path: Path) -> None:
    base = ade_tree(tmp_path)
    write_mask(base / "annotations" / "validation" / "ADE_val_00000002.png", np.full((4, 6), 151))
    with pytest.raises(MaskValueError, match=r"ADE_val_00000002\.png: mask values \[151\] are not 0 \(other"):
        load_dataset("ade20k", tmp_path, "val")[1]


def context_tree(root: Path) -> Path:
    base = root / "VOCdevkit" / "VOC2010"
    stored = np.array([[0, 1, 15, 59, 0, 2]] * 4)
    for split, names in (("train", ["2008_000002", "2008_000003"]), ("val", ["2008_000008"])):
        (base / "ImageSets" / "SegmentationContext").mkdir(parents=True, exist_ok=True)
        (base / "ImageSets" / "SegmentationContext" / f"{split}.txt").write_text("\n".join(names) + "\n")
        for name in names:
            write_image(base / "JPEGImages" / f"{name}.jpg")
            write_mask(base / "SegmentationClassContext" / f"{name}.png", stored)
    return base


def test_pascal_context_59_and_60(tmp_path: Path) -> None:
    context_tree(tmp_path)
    ctx59, ctx60 = load_dataset("pascal_context_59", tmp_path, "train"), load_dataset("pascal_context", tmp_path, "val")
    assert (len(ctx59), ctx59.num_classes, len(ctx60), ctx60.num_classes) == (2, 59, 1, 60)
    assert ctx59[0]["mask"].numpy()[0].tolist() == [255, 0, 14, 58, 255, 1]
    assert ctx60[0]["mask"].numpy()[0].tolist() == [0, 1, 15, 59, 0, 2]
    assert ctx59.class_names[0] == "aeroplane" and ctx60.class_names[0] == "background"


def test_check_recognises_each_layout(tmp_path: Path, capsys) -> None:
    for make, name, splits in (
        (cityscapes_tree, "cityscapes", "split train: 2"),
        (ade_tree, "ade20k", "split val: 2"),
        (context_tree, "context", "split train: 2"),
    ):
        root = tmp_path / name
        make(root)
        report = check_dataset(root)
        assert report.ok, report.problems
        assert main(["data", "check", str(root)]) == 0
        out = capsys.readouterr().out
        assert splits in out and "OK: no problems found" in out


def test_check_lists_every_problem(tmp_path: Path, capsys) -> None:
    base = cityscapes_tree(tmp_path)
    (base / "leftImg8bit" / "val" / "lindau" / "lindau_000000_000000_leftImg8bit.png").unlink()
    write_mask(base / "gtFine" / "train" / "aachen" / "aachen_000000_000001_gtFine_labelIds.png", np.full((4, 6), 40))
    write_mask(base / "gtFine" / "train" / "aachen" / "aachen_000000_000000_gtFine_labelIds.png", np.zeros((5, 6)))
    assert main(["data", "check", str(tmp_path), "--dataset", "cityscapes"]) == 1
    out = capsys.readouterr().out
    assert "problems: 3" in out
    assert "lindau_000000_000000_gtFine_labelTrainIds.png has no image" in out
    assert "mask values [40] are not Cityscapes label ids" in out
    assert "aachen_000000_000000_gtFine_labelIds.png: mask is 5×6" in out


def test_check_missing_required_split(tmp_path: Path) -> None:
    base = ade_tree(tmp_path)
    for path in sorted((base / "images" / "training").iterdir()):
        path.unlink()
    (base / "images" / "training").rmdir()
    report = check_dataset(tmp_path, "ade20k")
    assert not report.ok and "images/training not found" in report.problems[0]


def test_engine_trains_on_cityscapes_with_mmseg_augmentation(tmp_path: Path) -> None:
    import torch

    from annkit.config import TrainConfig
    from annkit.engine.data import build_dataset

    cityscapes_tree(tmp_path)
    config = TrainConfig(
        dataset="cityscapes", data_root=str(tmp_path), crop_size=(3, 5), scale=(12, 6), photometric=False
    )
    torch.manual_seed(0)
    from annkit.config import ModelConfig

    contract = ModelConfig("m", 19, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    sample = build_dataset(config, "train", True, contract)[0]
    assert sample["image"].shape == (3, 3, 5) and sample["mask"].dtype == torch.int64
    assert set(sample["mask"].unique().tolist()) <= set(CITYSCAPES_TRAIN.flatten().tolist())


def test_check_asks_which_dataset_when_a_root_holds_several(tmp_path: Path, capsys) -> None:
    cityscapes_tree(tmp_path)
    ade_tree(tmp_path)
    assert main(["data", "check", str(tmp_path)]) == 2  # a user error (which dataset?), not a broken dataset (exit 1)
    assert "holds several datasets (cityscapes, ade20k)" in capsys.readouterr().err
    assert main(["data", "check", str(tmp_path), "--dataset", "ade20k"]) == 0
