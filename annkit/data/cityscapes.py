"""Cityscapes (Cordts et al., CVPR 2016): urban street scenes, 19 evaluated classes, fine annotations.

Layout (the official zips ``leftImg8bit_trainvaltest.zip`` and ``gtFine_trainvaltest.zip`` unpacked side by side;
mmseg's ``data/cityscapes``)::

    cityscapes/leftImg8bit/{train,val,test}/<city>/<city>_<seq>_<frame>_leftImg8bit.png   2048×1024 RGB
    cityscapes/gtFine/{train,val,test}/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png    label ids 0..33
    cityscapes/gtFine/.../<city>_<seq>_<frame>_gtFine_labelTrainIds.png                  optional: train ids

Splits: train 2,975, val 500, test 1,525 (test labels are withheld: its masks are placeholders). The 34 label ids
map to the 19 train ids of ``cityscapesscripts/helpers/labels.py``; every other id (void, ego vehicle, guard rail,
…) becomes 255. A ``*_labelTrainIds.png`` (made by cityscapesscripts' ``createTrainIdLabelImgs`` or mmseg's
``tools/dataset_converters/cityscapes.py``, the file mmseg reads) is used instead when present.
Downloading needs a free account at https://www.cityscapes-dataset.com, so annkit prints the steps (``GET``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from annkit.data.errors import DatasetNotFoundError, EmptySplitError, UnpairedFileError
from annkit.data.palette import IGNORE_INDEX
from annkit.data.spec import DatasetSpec, LabelTable, Pairs

CITYSCAPES_CLASSES: tuple[str, ...] = (
    "road",
    "sidewalk",
    "building",
    "wall",
    "fence",
    "pole",
    "traffic light",
    "traffic sign",
    "vegetation",
    "terrain",
    "sky",
    "person",
    "rider",
    "car",
    "truck",
    "bus",
    "train",
    "motorcycle",
    "bicycle",
)
CITYSCAPES_PALETTE: tuple[tuple[int, int, int], ...] = (
    (128, 64, 128),
    (244, 35, 232),
    (70, 70, 70),
    (102, 102, 156),
    (190, 153, 153),
    (153, 153, 153),
    (250, 170, 30),
    (220, 220, 0),
    (107, 142, 35),
    (152, 251, 152),
    (70, 130, 180),
    (220, 20, 60),
    (255, 0, 0),
    (0, 0, 142),
    (0, 0, 70),
    (0, 60, 100),
    (0, 80, 100),
    (0, 0, 230),
    (119, 11, 32),
)
# label id → train id, cityscapesscripts' labels.py; the ids 0..33 not listed are ignored (255)
LABEL_TO_TRAIN_ID: dict[int, int] = {
    7: 0,
    8: 1,
    11: 2,
    12: 3,
    13: 4,
    17: 5,
    19: 6,
    20: 7,
    21: 8,
    22: 9,
    23: 10,
    24: 11,
    25: 12,
    26: 13,
    27: 14,
    28: 15,
    31: 16,
    32: 17,
    33: 18,
}
IMAGE_SUFFIX, LABEL_IDS, TRAIN_IDS = "_leftImg8bit.png", "_gtFine_labelIds.png", "_gtFine_labelTrainIds.png"

_FROM_LABEL_IDS = LabelTable(
    {i: LABEL_TO_TRAIN_ID.get(i, IGNORE_INDEX) for i in range(34)}, "Cityscapes label ids 0..33 (a *_labelIds.png file)"
)
_FROM_TRAIN_IDS = LabelTable(
    {**{i: i for i in range(19)}, IGNORE_INDEX: IGNORE_INDEX},
    "Cityscapes train ids 0..18 or 255 (a *_labelTrainIds.png file)",
)

GET = (
    "Cityscapes needs a (free) login, so annkit cannot download it. Register at "
    "https://www.cityscapes-dataset.com/register/, then download gtFine_trainvaltest.zip (241 MB, packageID=1) "
    "and leftImg8bit_trainvaltest.zip (11 GB, packageID=3) from https://www.cityscapes-dataset.com/downloads/ "
    "(or `pip install cityscapesscripts && csDownload gtFine_trainvaltest.zip leftImg8bit_trainvaltest.zip`, "
    "which asks for the login), and unzip both into DATA/cityscapes so that DATA/cityscapes/leftImg8bit/ and "
    "DATA/cityscapes/gtFine/ exist. The *_labelIds.png masks are enough; annkit maps them to the 19 train ids."
)


def cityscapes_labels(path: Path, raw: np.ndarray) -> np.ndarray:
    """Train ids (H, W) uint8 of a stored Cityscapes mask: label ids mapped, or train ids taken as they are."""
    return (_FROM_TRAIN_IDS if path.name.endswith(TRAIN_IDS) else _FROM_LABEL_IDS)(path, raw)


def locate(path: Path) -> Path | None:
    """``path`` if it holds ``leftImg8bit/``, else ``path/cityscapes`` if that does, else None."""
    for candidate in (path, path / "cityscapes"):
        if (candidate / "leftImg8bit").is_dir():
            return candidate
    return None


def _listing(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    """{"<city>/<frame>": file} of every ``<city>/<frame><suffix>`` under ``folder``, first suffix winning."""
    found: dict[str, Path] = {}
    for city in sorted(os.listdir(folder)) if folder.is_dir() else []:
        names = set(os.listdir(folder / city)) if (folder / city).is_dir() else set()
        for suffix in reversed(suffixes):
            found.update({f"{city}/{n[: -len(suffix)]}": folder / city / n for n in names if n.endswith(suffix)})
    return found


def scan(root: Path, split: str) -> tuple[Pairs, list[Exception]]:
    """The (``<city>/<frame>``, image, mask) pairs of ``split`` and one error per image without mask or mask
    without image."""
    image_dir, label_dir = root / "leftImg8bit" / split, root / "gtFine" / split
    if not image_dir.is_dir():
        raise DatasetNotFoundError(
            f"Cityscapes split folder {image_dir} not found; expected leftImg8bit/{split}/<city>/*{IMAGE_SUFFIX}. {GET}"
        )
    images, masks = _listing(image_dir, (IMAGE_SUFFIX,)), _listing(label_dir, (TRAIN_IDS, LABEL_IDS))
    if not images and not masks:
        raise EmptySplitError(f"{image_dir} holds no <city>/*{IMAGE_SUFFIX} images")
    pairs: Pairs = [(name, images[name], masks[name]) for name in sorted(images) if name in masks]
    problems: list[Exception] = [
        UnpairedFileError(f"image {images[name]} has no mask; expected {label_dir / (name + LABEL_IDS)}")
        for name in sorted(set(images) - set(masks))
    ]
    problems += [
        UnpairedFileError(f"mask {masks[name]} has no image; expected {image_dir / (name + IMAGE_SUFFIX)}")
        for name in sorted(set(masks) - set(images))
    ]
    return pairs, problems


SPEC = DatasetSpec(
    name="cityscapes",
    class_names=CITYSCAPES_CLASSES,
    palette=CITYSCAPES_PALETTE,
    splits=("train", "val", "test"),
    required_splits=("train", "val"),
    locate=locate,
    scan=scan,
    labels=cityscapes_labels,
    layout="cityscapes/leftImg8bit/<split>/<city>/*_leftImg8bit.png and cityscapes/gtFine/<split>/<city>/"
    "*_gtFine_labelIds.png (or *_labelTrainIds.png)",
    get=GET,
)
