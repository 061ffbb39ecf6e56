"""Segmentation datasets in Pascal VOC layout: VOC 2012 itself and any folder laid out like it.

A VOC-layout folder holds ``JPEGImages/<name>.jpg``, ``SegmentationClass/<name>.png`` (palette PNGs of class
ids, 255 = ignore) and ``ImageSets/Segmentation/<split>.txt`` (one name a line). VOC 2012 (Everingham et al.)
ships train (1,464), val (1,449) and trainval (2,913) under ``VOCdevkit/VOC2012``; the synthetic long-range
set is written in the same layout, so one loader serves both. A sample is
``dict(image=tv_tensors.Image (3, H, W) uint8 RGB, mask=tv_tensors.Mask (H, W) uint8, name=str)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torchvision import tv_tensors

from annkit.data.errors import DatasetNotFoundError, MaskValueError, SizeMismatchError
from annkit.data.files import pair_files, read_mask, read_split
from annkit.data.image_io import read_image
from annkit.data.palette import IGNORE_INDEX, VOC_CLASSES
from annkit.data.sbd import trainaug_names, trainaug_sources
from annkit.errors import ConfigError

VOC_DIR = Path("VOCdevkit") / "VOC2012"  # relative to the data root
VOC_SPLITS = ("train", "val", "trainval")


class SegmentationDataset(torch.utils.data.Dataset):
    """Image/mask pairs with VOC conventions; item i is ``dict(image, mask, name)`` after ``transforms``.

    Masks are checked as they load: same height and width as the image, values in
    {0, …, len(class_names) − 1} ∪ {255}; a violation raises an error naming the file. ``labels``, when given,
    turns the stored values into those class ids first (``annkit.data.spec.LabelTable``: Cityscapes' label ids,
    ``reduce_zero_label``) and rejects stored values it does not know.
    """

    def __init__(
        self,
        pairs: Sequence[tuple[str, Path, Path]],
        class_names: Sequence[str] = VOC_CLASSES,
        transforms: Callable[[dict], dict] | None = None,
        labels: Callable[[Path, np.ndarray], np.ndarray] | None = None,
    ) -> None:
        self.pairs, self.class_names, self.transforms = list(pairs), tuple(class_names), transforms
        self.labels = labels

    @property
    def num_classes(self) -> int:
        """Number of classes, background included (21 for VOC)."""
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.pairs)

    def load(self, index: int) -> dict:
        """Sample ``index`` decoded and validated, before ``transforms``."""
        name, image_path, mask_path = self.pairs[index]
        image = read_image(image_path)  # (3, H, W)
        mask = read_mask(mask_path)  # (H, W)
        if self.labels is not None:
            mask = self.labels(mask_path, mask)
        if tuple(image.shape[-2:]) != mask.shape:
            raise SizeMismatchError(
                f"{mask_path}: mask is {mask.shape[0]}×{mask.shape[1]} (H×W) but its image "
                f"{image_path} is {image.shape[1]}×{image.shape[2]}; expected equal sizes"
            )
        bad = np.unique(mask[(mask >= self.num_classes) & (mask != IGNORE_INDEX)])
        if bad.size:
            raise MaskValueError(
                f"{mask_path}: mask values {bad.tolist()} are not class ids; expected "
                f"0..{self.num_classes - 1} or {IGNORE_INDEX} (ignore)"
            )
        return dict(image=image, mask=tv_tensors.Mask(torch.from_numpy(mask)), name=name)

    def __getitem__(self, index: int) -> dict:
        sample = self.load(index)
        return self.transforms(sample) if self.transforms is not None else sample


def class_names_of(root: Path) -> tuple[str, ...]:
    """Class names of a VOC-layout folder: from ``synthetic.json`` when the synthetic writer made it, else VOC's."""
    meta = root / "synthetic.json"
    return tuple(json.loads(meta.read_text())["class_names"]) if meta.is_file() else VOC_CLASSES


def segmentation_folder(
    root: str | Path, split: str, transforms: Callable[[dict], dict] | None = None, hint: str | None = None
) -> SegmentationDataset:
    """The ``split`` of a VOC-layout folder ``root`` (e.g. ``data/VOCdevkit/VOC2012`` or ``data/synthetic``).

    ``hint`` is the command that creates the folder, quoted when something is missing.
    """
    root = Path(root)
    hint = hint or f"annkit data synth --root {root}"
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"dataset folder {root} not found; expected a VOC-layout folder "
            f"(JPEGImages/, SegmentationClass/, ImageSets/Segmentation/); create it with `{hint}`"
        )
    names = read_split(root / "ImageSets" / "Segmentation" / f"{split}.txt", hint)
    pairs, errors = pair_files(names, [root / "JPEGImages"], [(root / "SegmentationClass", ".png")])
    if errors:
        raise errors[0]
    return SegmentationDataset(pairs, class_names_of(root), transforms)


def voc2012(
    root: str | Path = "data", split: str = "train", transforms: Callable[[dict], dict] | None = None
) -> SegmentationDataset:
    """Pascal VOC 2012 segmentation under ``root``: train, val, trainval, or trainaug (VOC train + SBD,
    10,582 images, VOC val excluded; see ``annkit.data.sbd``)."""
    voc_dir = Path(root) / VOC_DIR
    if split == "trainaug":
        pairs, errors = pair_files(trainaug_names(root, voc_dir), *trainaug_sources(root, voc_dir))
        if errors:
            raise errors[0]
        return SegmentationDataset(pairs, VOC_CLASSES, transforms)
    if split not in VOC_SPLITS:
        raise ConfigError(f"VOC split must be one of {VOC_SPLITS + ('trainaug',)}, got {split!r}")
    return segmentation_folder(voc_dir, split, transforms, hint=f"annkit data download voc --root {root}")
