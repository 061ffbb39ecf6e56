"""PASCAL Context (Mottaghi et al., CVPR 2014): whole-scene labels for PASCAL VOC 2010, 59 frequent classes.

Layout after mmseg's conversion (``tools/dataset_converters/pascal_context.py``, which reads the Detail API's
``trainval_merged.json`` and writes the 59 frequent classes as 1..59, everything else 0)::

    VOCdevkit/VOC2010/JPEGImages/<name>.jpg
    VOCdevkit/VOC2010/SegmentationClassContext/<name>.png       values 0..59 (0 = background / other)
    VOCdevkit/VOC2010/ImageSets/SegmentationContext/{train,val}.txt

Splits: train 4,998, val 5,105. Two variants, as in mmseg: ``pascal_context_59`` (``PascalContextDataset59``:
``reduce_zero_label``, 0 → 255, k → k − 1; the 59 classes scored without background) and ``pascal_context``
(``PascalContextDataset``: 60 classes, background = 0 scored). Class names and colours are mmseg's; the 59-class
palette is the 60-class one without background's entry, so a class keeps its colour in both variants.
"""

from __future__ import annotations

from pathlib import Path

from annkit.data.ade20k import ADE20K_PALETTE
from annkit.data.errors import DatasetNotFoundError
from annkit.data.files import pair_files, read_split
from annkit.data.spec import DatasetSpec, Pairs, identity_labels, reduce_zero_label

PASCAL_CONTEXT_CLASSES: tuple[str, ...] = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "table",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
    "bag",
    "bed",
    "bench",
    "book",
    "building",
    "cabinet",
    "ceiling",
    "cloth",
    "computer",
    "cup",
    "door",
    "fence",
    "floor",
    "flower",
    "food",
    "grass",
    "ground",
    "keyboard",
    "light",
    "mountain",
    "mouse",
    "curtain",
    "platform",
    "sign",
    "plate",
    "road",
    "rock",
    "shelves",
    "sidewalk",
    "sky",
    "snow",
    "bedclothes",
    "track",
    "tree",
    "truck",
    "wall",
    "water",
    "window",
    "wood",
)
PASCAL_CONTEXT_PALETTE: tuple[tuple[int, int, int], ...] = ADE20K_PALETTE[:60]  # mmseg's: ADE20K's first 60
GET = (
    "download VOC 2010 with `annkit data download voc2010 --root DATA`, then convert the PASCAL Context labels "
    "with mmsegmentation's script: get trainval_merged.json "
    "(https://codalabuser.blob.core.windows.net/public/trainval_merged.json), install the Detail API "
    "(https://github.com/zhanghang1989/detail-api, PythonAPI: `python setup.py install`) and run "
    "`python tools/dataset_converters/pascal_context.py DATA/VOCdevkit DATA/VOCdevkit/VOC2010/trainval_merged.json`"
    " from an mmsegmentation checkout; it writes SegmentationClassContext/ and ImageSets/SegmentationContext/"
)


def locate(path: Path) -> Path | None:
    """The VOC2010 folder holding ``SegmentationClassContext`` at ``path``, ``path/VOCdevkit/VOC2010`` or
    ``path/VOC2010``, else None."""
    for candidate in (path, path / "VOCdevkit" / "VOC2010", path / "VOC2010"):
        if (candidate / "SegmentationClassContext").is_dir():
            return candidate
    return None


def scan(root: Path, split: str) -> tuple[Pairs, list[Exception]]:
    """The (name, image, mask) pairs listed in ``ImageSets/SegmentationContext/<split>.txt``, with one error per
    listed name whose image or mask is missing."""
    if split not in ("train", "val"):
        raise ValueError(f"PASCAL Context split must be 'train' or 'val', got {split!r}")
    if not (root / "JPEGImages").is_dir():
        raise DatasetNotFoundError(f"{root / 'JPEGImages'} not found; {GET}")
    names = read_split(root / "ImageSets" / "SegmentationContext" / f"{split}.txt", "the conversion script")
    return pair_files(names, [root / "JPEGImages"], [(root / "SegmentationClassContext", ".png")])


def _spec(name: str, classes: tuple[str, ...], palette: tuple, labels) -> DatasetSpec:
    return DatasetSpec(
        name=name,
        class_names=classes,
        palette=palette,
        splits=("train", "val"),
        required_splits=("train", "val"),
        locate=locate,
        scan=scan,
        labels=labels,
        layout="VOCdevkit/VOC2010/{JPEGImages,SegmentationClassContext}/ and "
        "ImageSets/SegmentationContext/{train,val}.txt",
        get=GET,
    )


SPEC_60 = _spec("pascal_context", PASCAL_CONTEXT_CLASSES, PASCAL_CONTEXT_PALETTE, identity_labels(60))
SPEC_59 = _spec("pascal_context_59", PASCAL_CONTEXT_CLASSES[1:], PASCAL_CONTEXT_PALETTE[1:], reduce_zero_label(59))
