"""VOC-layout loading, SBD trainaug, image modes, and every kind of bad input (on folders made here)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import VOC, blocks_mask, make_voc
from PIL import Image
from scipy.io import savemat
from torchvision import tv_tensors

from annkit.data import (
    CorruptFileError,
    DatasetNotFoundError,
    EmptySplitError,
    MaskValueError,
    SizeMismatchError,
    UnpairedFileError,
    load_mask,
    overlay,
    save_mask,
    segmentation_folder,
    voc2012,
    voc_palette,
)
from annkit.data.image_io import read_image

SBD = Path("benchmark_RELEASE") / "dataset"


@pytest.fixture
def voc_root(tmp_path: Path) -> Path:
    make_voc(tmp_path, {"train": ["a", "b"], "val": ["c", "d"], "trainval": ["a", "b", "c", "d"]})
    return tmp_path


def test_voc_splits_give_tv_tensor_samples(voc_root: Path) -> None:
    assert [len(voc2012(voc_root, split)) for split in ("train", "val", "trainval")] == [2, 2, 4]
    sample = voc2012(voc_root, "train")[1]
    assert isinstance(sample["image"], tv_tensors.Image) and isinstance(sample["mask"], tv_tensors.Mask)
    assert sample["image"].shape == (3, 40, 56) and sample["image"].dtype == torch.uint8
    assert sample["mask"].shape == (40, 56) and sample["name"] == "b"
    assert np.array_equal(sample["mask"].numpy(), blocks_mask(40, 56, seed=1))


def test_trainaug_from_sbd_mat_files_excludes_voc_val(voc_root: Path) -> None:
    sbd = voc_root / SBD
    (sbd / "cls").mkdir(parents=True)
    (sbd / "img").mkdir()
    masks = {}
    for index, name in enumerate(["e", "f"]):  # SBD-only images: mask only as .mat, image only in SBD img/
        masks[name] = blocks_mask(32, 48, seed=10 + index)
        masks[name][masks[name] == 255] = 0  # SBD has no outlines
        Image.fromarray(voc_palette()[masks[name]]).save(sbd / "img" / f"{name}.jpg")
        savemat(
            sbd / "cls" / f"{name}.mat",
            {"GTcls": {"Segmentation": masks[name], "Boundaries": np.zeros(1), "CategoriesPresent": np.arange(3)}},
        )
    (sbd / "train.txt").write_text("b\nc\ne\n")  # c is VOC val: must be left out
    (sbd / "val.txt").write_text("f\n")
    dataset = voc2012(voc_root, "trainaug")
    assert [pair[0] for pair in dataset.pairs] == ["a", "b", "e", "f"]
    assert dataset.pairs[1][2].suffix == ".png"  # VOC's own mask wins where it exists
    sample = dataset[3]
    assert sample["name"] == "f" and np.array_equal(sample["mask"].numpy(), masks["f"])


def test_trainaug_from_segmentation_class_aug_list(voc_root: Path) -> None:
    voc = voc_root / VOC
    (voc / "SegmentationClassAug").mkdir()
    Image.fromarray(voc_palette()[blocks_mask(40, 56, 5)]).save(voc / "JPEGImages" / "g.jpg")
    save_mask(blocks_mask(40, 56, 5), voc / "SegmentationClassAug" / "g.png")
    (voc / "ImageSets" / "Segmentation" / "trainaug.txt").write_text("a\ng\n")
    dataset = voc2012(voc_root, "trainaug")
    assert [pair[2].parent.name for pair in dataset.pairs] == ["SegmentationClass", "SegmentationClassAug"]
    assert dataset[1]["mask"].shape == (40, 56)


def test_trainaug_without_sbd_names_the_download(voc_root: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="annkit data download sbd"):
        voc2012(voc_root, "trainaug")


@pytest.mark.parametrize("mode", ["L", "CMYK", "RGBA", "P", "LA"])
def test_other_image_modes_become_rgb(tmp_path: Path, mode: str) -> None:
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 255, (12, 10, 3), dtype=np.uint8))
    path = tmp_path / "x.jpg"  # the loader decodes by content, so a PNG named .jpg is fine
    rgb.convert(mode).save(path, format="JPEG" if mode in ("L", "CMYK") else "PNG")
    image = read_image(path)
    assert image.shape == (3, 12, 10) and image.dtype == torch.uint8
    if mode == "L":
        assert torch.equal(image[0], image[1]) and torch.equal(image[1], image[2])


def test_palette_png_round_trip(tmp_path: Path) -> None:
    mask = blocks_mask(20, 30, seed=3)
    save_mask(mask, tmp_path / "m.png")
    with Image.open(tmp_path / "m.png") as image:
        assert image.mode == "P" and image.getpalette()[3:6] == [128, 0, 0]  # aeroplane is dark red
    assert np.array_equal(load_mask(tmp_path / "m.png"), mask)
    Image.fromarray(voc_palette()[mask]).save(tmp_path / "rgb.png")
    with pytest.raises(CorruptFileError, match="rgb.png.*mode 'RGB'"):
        load_mask(tmp_path / "rgb.png")


def test_missing_root_and_split_name_the_download_command(tmp_path: Path, voc_root: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match=r"VOC2012 not found.*annkit data download voc --root"):
        voc2012(tmp_path / "nowhere", "train")
    with pytest.raises(DatasetNotFoundError, match=r"test\.txt not found.*annkit data synth"):
        segmentation_folder(voc_root / VOC, "test")
    with pytest.raises(ValueError, match="VOC split must be one of"):
        voc2012(voc_root, "test")


def test_empty_split(voc_root: Path) -> None:
    (voc_root / VOC / "ImageSets" / "Segmentation" / "train.txt").write_text("\n\n")
    with pytest.raises(EmptySplitError, match=r"train\.txt lists no samples"):
        voc2012(voc_root, "train")


def test_image_without_mask_and_mask_without_image(voc_root: Path) -> None:
    (voc_root / VOC / "SegmentationClass" / "a.png").unlink()
    with pytest.raises(UnpairedFileError, match=r"image .*a\.jpg has no mask; expected .*SegmentationClass/a\.png"):
        voc2012(voc_root, "train")
    (voc_root / VOC / "JPEGImages" / "c.jpg").unlink()
    with pytest.raises(UnpairedFileError, match=r"mask .*c\.png has no image; expected .*JPEGImages/c\.jpg"):
        voc2012(voc_root, "val")


@pytest.mark.parametrize("kind", ["image", "mask"])
def test_corrupt_files_are_named(voc_root: Path, kind: str) -> None:
    path = voc_root / VOC / ("JPEGImages/a.jpg" if kind == "image" else "SegmentationClass/a.png")
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])  # truncated
    with pytest.raises(CorruptFileError, match=rf"{path.name}: cannot decode"):
        voc2012(voc_root, "train")[0]
    path.write_bytes(b"not an image at all")
    with pytest.raises(CorruptFileError, match=rf"{path.name}"):
        voc2012(voc_root, "train")[0]
    assert voc2012(voc_root, "train")[1]["name"] == "b"  # the other samples still load


def test_mask_values_outside_the_class_set(voc_root: Path) -> None:
    mask = blocks_mask(40, 56, seed=0)
    mask[0, :3] = [21, 254, 255]  # 21 and 254 are no VOC class; 255 is fine
    save_mask(mask, voc_root / VOC / "SegmentationClass" / "a.png")
    with pytest.raises(MaskValueError, match=r"a\.png: mask values \[21, 254\].*expected 0\.\.20 or 255"):
        voc2012(voc_root, "train")[0]


def test_image_mask_size_mismatch(voc_root: Path) -> None:
    save_mask(blocks_mask(40, 50, seed=0), voc_root / VOC / "SegmentationClass" / "a.png")
    with pytest.raises(SizeMismatchError, match=r"a\.png: mask is 40×50 .*a\.jpg is 40×56"):
        voc2012(voc_root, "train")[0]


def test_sbd_mat_without_segmentation_is_corrupt(tmp_path: Path) -> None:
    from annkit.data.files import read_mask

    buffer = io.BytesIO()
    savemat(buffer, {"something": np.zeros((3, 3))})
    (tmp_path / "x.mat").write_bytes(buffer.getvalue())
    with pytest.raises(CorruptFileError, match=r"x\.mat: cannot read an SBD mask.*GTcls\.Segmentation"):
        read_mask(tmp_path / "x.mat")


def test_overlay_blends_class_colours_and_leaves_background():
    image = np.full((2, 3, 3), 100, np.uint8)
    mask = np.array([[0, 15, 255], [15, 0, 0]], np.uint8)
    blended = overlay(image, mask, alpha=0.25)  # VOC colours; 255 (void) keeps its devkit colour
    assert blended[0, 0].tolist() == blended[1, 2].tolist() == [100] * 3  # background untouched
    assert blended[0, 1].tolist() == blended[1, 0].tolist() == [123, 107, 107]  # 0.75·100 + 0.25·(192, 128, 128)
    assert blended[0, 2].tolist() == [131, 131, 123]  # 0.75·100 + 0.25·(224, 224, 192)
