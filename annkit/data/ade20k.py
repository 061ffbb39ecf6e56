"""ADE20K, the SceneParsing challenge release (Zhou et al., CVPR 2017): 150 classes of scenes and objects.

Layout (``ADEChallengeData2016.zip`` unpacked; mmseg's ``data/ade/ADEChallengeData2016``)::

    ADEChallengeData2016/images/{training,validation}/ADE_{train,val}_<8 digits>.jpg
    ADEChallengeData2016/annotations/{training,validation}/ADE_{train,val}_<8 digits>.png   values 0..150

Splits: ``train`` = training (20,210 images), ``val`` = validation (2,000). Stored 0 is "other" and is not
evaluated: ``reduce_zero_label`` maps 0 → 255 and k → k − 1, so class ids are 0..149 (mmseg's ``ADE20KDataset``).
Class names and colours are mmseg's (``mmseg/datasets/ade.py``; its trailing space in "bed " dropped).
``annkit data download ade20k`` fetches the public zip (MD5-checked, resumable).
"""

from __future__ import annotations

import os
from pathlib import Path

from annkit.data.errors import DatasetNotFoundError, EmptySplitError
from annkit.data.files import pair_files
from annkit.data.spec import DatasetSpec, Pairs, reduce_zero_label

ADE20K_CLASSES: tuple[str, ...] = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass", "cabinet",
    "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair", "car", "water",
    "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat", "fence", "desk",
    "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box", "column", "signboard",
    "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand", "path",
    "stairs", "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge", "bookcase",
    "blind", "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove", "palm",
    "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus", "towel", "light",
    "truck", "tower", "chandelier", "awning", "streetlight", "booth", "television receiver", "airplane",
    "dirt track", "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle", "buffet", "poster",
    "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything", "swimming pool", "stool",
    "barrel", "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball", "food", "step", "tank",
    "trade name", "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen", "blanket", "sculpture",
    "hood", "sconce", "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen", "plate", "monitor",
    "bulletin board", "shower", "radiator", "glass", "clock", "flag",
)
ADE20K_PALETTE: tuple[tuple[int, int, int], ...] = (
    (120, 120, 120), (180, 120, 120), (6, 230, 230), (80, 50, 50), (4, 200, 3), (120, 120, 80), (140, 140, 140),
    (204, 5, 255), (230, 230, 230), (4, 250, 7), (224, 5, 255), (235, 255, 7), (150, 5, 61), (120, 120, 70),
    (8, 255, 51), (255, 6, 82), (143, 255, 140), (204, 255, 4), (255, 51, 7), (204, 70, 3), (0, 102, 200),
    (61, 230, 250), (255, 6, 51), (11, 102, 255), (255, 7, 71), (255, 9, 224), (9, 7, 230), (220, 220, 220),
    (255, 9, 92), (112, 9, 255), (8, 255, 214), (7, 255, 224), (255, 184, 6), (10, 255, 71), (255, 41, 10),
    (7, 255, 255), (224, 255, 8), (102, 8, 255), (255, 61, 6), (255, 194, 7), (255, 122, 8), (0, 255, 20),
    (255, 8, 41), (255, 5, 153), (6, 51, 255), (235, 12, 255), (160, 150, 20), (0, 163, 255), (140, 140, 140),
    (250, 10, 15), (20, 255, 0), (31, 255, 0), (255, 31, 0), (255, 224, 0), (153, 255, 0), (0, 0, 255),
    (255, 71, 0), (0, 235, 255), (0, 173, 255), (31, 0, 255), (11, 200, 200), (255, 82, 0), (0, 255, 245),
    (0, 61, 255), (0, 255, 112), (0, 255, 133), (255, 0, 0), (255, 163, 0), (255, 102, 0), (194, 255, 0),
    (0, 143, 255), (51, 255, 0), (0, 82, 255), (0, 255, 41), (0, 255, 173), (10, 0, 255), (173, 255, 0),
    (0, 255, 153), (255, 92, 0), (255, 0, 255), (255, 0, 245), (255, 0, 102), (255, 173, 0), (255, 0, 20),
    (255, 184, 184), (0, 31, 255), (0, 255, 61), (0, 71, 255), (255, 0, 204), (0, 255, 194), (0, 255, 82),
    (0, 10, 255), (0, 112, 255), (51, 0, 255), (0, 194, 255), (0, 122, 255), (0, 255, 163), (255, 153, 0),
    (0, 255, 10), (255, 112, 0), (143, 255, 0), (82, 0, 255), (163, 255, 0), (255, 235, 0), (8, 184, 170),
    (133, 0, 255), (0, 255, 92), (184, 0, 255), (255, 0, 31), (0, 184, 255), (0, 214, 255), (255, 0, 112),
    (92, 255, 0), (0, 224, 255), (112, 224, 255), (70, 184, 160), (163, 0, 255), (153, 0, 255), (71, 255, 0),
    (255, 0, 163), (255, 204, 0), (255, 0, 143), (0, 255, 235), (133, 255, 0), (255, 0, 235), (245, 0, 255),
    (255, 0, 122), (255, 245, 0), (10, 190, 212), (214, 255, 0), (0, 204, 255), (20, 0, 255), (255, 255, 0),
    (0, 153, 255), (0, 41, 255), (0, 255, 204), (41, 0, 255), (41, 255, 0), (173, 0, 255), (0, 245, 255),
    (71, 0, 255), (122, 0, 255), (0, 255, 184), (0, 92, 255), (184, 255, 0), (0, 133, 255), (255, 214, 0),
    (25, 194, 194), (102, 255, 0), (92, 0, 255),
)
FOLDERS = {"train": "training", "val": "validation"}
GET = "annkit data download ade20k --root DATA (the public ADEChallengeData2016.zip, ≈ 0.9 GB)"


def locate(path: Path) -> Path | None:
    """The ADEChallengeData2016 folder at ``path``, ``path/ADEChallengeData2016`` or ``path/ade/…``, else None."""
    for candidate in (path, path / "ADEChallengeData2016", path / "ade" / "ADEChallengeData2016"):
        if (candidate / "images").is_dir() and (candidate / "annotations").is_dir():
            return candidate
    return None


def scan(root: Path, split: str) -> tuple[Pairs, list[Exception]]:
    """The (name, image, mask) pairs of ``split`` (train | val) and one error per unpaired file."""
    if split not in FOLDERS:
        raise ValueError(f"ADE20K split must be one of {tuple(FOLDERS)}, got {split!r}")
    image_dir, mask_dir = root / "images" / FOLDERS[split], root / "annotations" / FOLDERS[split]
    if not image_dir.is_dir():
        raise DatasetNotFoundError(f"ADE20K folder {image_dir} not found; get the dataset with `{GET}`")
    names = sorted(n[:-4] for n in os.listdir(image_dir) if n.endswith(".jpg"))
    masks = sorted(n[:-4] for n in os.listdir(mask_dir) if n.endswith(".png")) if mask_dir.is_dir() else []
    if not names and not masks:
        raise EmptySplitError(f"{image_dir} holds no .jpg images")
    return pair_files(sorted(set(names) | set(masks)), [image_dir], [(mask_dir, ".png")])


SPEC = DatasetSpec(
    name="ade20k", class_names=ADE20K_CLASSES, palette=ADE20K_PALETTE, splits=("train", "val"),
    required_splits=("train", "val"), locate=locate, scan=scan, labels=reduce_zero_label(150),
    layout="ADEChallengeData2016/images/{training,validation}/*.jpg and "
           "ADEChallengeData2016/annotations/{training,validation}/*.png",
    get=GET,
)
