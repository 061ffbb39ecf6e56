"""The paper's benchmark datasets by name: Cityscapes, ADE20K, PASCAL Context (59 and 60 classes).

``load_dataset("cityscapes", "data", "val", transforms)`` → a ``SegmentationDataset`` with the same sample format
as VOC (``dict(image, mask, name)``; masks hold class ids, 255 = ignore). ``root`` may be the dataset's own
folder or a data root holding it in mmseg's place (``cityscapes/``, ``ade/ADEChallengeData2016/`` or
``ADEChallengeData2016/``, ``VOCdevkit/VOC2010/``). Pascal VOC itself stays in ``annkit.data.voc``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from annkit.data import ade20k, cityscapes, pascal_context
from annkit.data.errors import DatasetNotFoundError
from annkit.data.spec import DatasetSpec
from annkit.data.voc import SegmentationDataset

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec for spec in (cityscapes.SPEC, ade20k.SPEC, pascal_context.SPEC_59, pascal_context.SPEC_60)
}


def spec_of(name: str) -> DatasetSpec:
    """The ``DatasetSpec`` called ``name``; a ValueError lists the known names."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {sorted(DATASETS)}")
    return DATASETS[name]


def dataset_root(name: str, root: str | Path) -> Path:
    """The folder of dataset ``name`` at or under ``root``; DatasetNotFoundError says the layout and how to get it."""
    spec = spec_of(name)
    found = spec.locate(Path(root))
    if found is None:
        raise DatasetNotFoundError(f"no {name} dataset at {root}; expected {spec.layout} there. To get it: {spec.get}")
    return found


def load_dataset(
    name: str, root: str | Path = "data", split: str = "val", transforms: Callable[[dict], dict] | None = None
) -> SegmentationDataset:
    """Split ``split`` of dataset ``name`` under ``root`` (see the module docstring); the first broken pair raises."""
    spec = spec_of(name)
    if split not in spec.splits:
        raise ValueError(f"{name} split must be one of {spec.splits}, got {split!r}")
    pairs, problems = spec.scan(dataset_root(name, root), split)
    if problems:
        raise problems[0]
    return SegmentationDataset(pairs, spec.class_names, transforms, labels=spec.labels)
