"""What annkit needs to know about a segmentation dataset besides VOC: its layout, classes, and label encoding.

A ``DatasetSpec`` finds a dataset's folder under a user's path, lists the (name, image, mask) pairs of a split
(with one error per broken pair, so ``annkit data check`` can list them all) and says how the stored mask values
become class ids. A ``LabelTable`` is that last rule as a 256-entry lookup: stored value v → class id
``table[v]`` (255 = ignored), or "not allowed" — then loading fails naming the file and the values. The rules
annkit ships: Cityscapes' label ids → its 19 train ids, ADE20K's and PASCAL Context-59's ``reduce_zero_label``
(0 → 255, k → k − 1, mmseg's rule), and identity (PASCAL Context-60).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from annkit.data.errors import MaskValueError
from annkit.data.palette import IGNORE_INDEX

Pairs = list[tuple[str, Path, Path]]  # (sample name, image path, mask path)


class LabelTable:
    """Stored mask value → class id by lookup; values missing from ``mapping`` are not allowed in the files."""

    def __init__(self, mapping: Mapping[int, int], stored: str) -> None:
        self.table = np.full(256, -1, dtype=np.int16)  # (256,): class id, or -1 = not a valid stored value
        for value, class_id in mapping.items():
            self.table[value] = class_id
        self.stored = stored  # the valid stored values in words, for error messages

    def __call__(self, path: Path, raw: np.ndarray) -> np.ndarray:
        """Class ids (H, W) uint8 of the stored mask ``raw`` (H, W) read from ``path``."""
        mapped = self.table[raw]  # (H, W) int16
        if (mapped < 0).any():
            bad = np.unique(raw[mapped < 0]).tolist()
            raise MaskValueError(f"{path}: mask values {bad[:10]}{' …' if len(bad) > 10 else ''} are not {self.stored}")
        return mapped.astype(np.uint8)


def identity_labels(num_classes: int) -> LabelTable:
    """Class ids stored as they are: 0..K−1 and 255 (ignore)."""
    return LabelTable(
        {**{k: k for k in range(num_classes)}, IGNORE_INDEX: IGNORE_INDEX},
        f"class ids 0..{num_classes - 1} or {IGNORE_INDEX} (ignore)",
    )


def reduce_zero_label(num_classes: int) -> LabelTable:
    """mmseg's ``reduce_zero_label``: stored 0 ("other") → 255, stored k → k − 1 for k = 1..K, 255 stays 255."""
    return LabelTable(
        {0: IGNORE_INDEX, **{k: k - 1 for k in range(1, num_classes + 1)}, IGNORE_INDEX: IGNORE_INDEX},
        f"0 (other, ignored), class ids 1..{num_classes} or {IGNORE_INDEX}",
    )


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset's layout and label rules (see the module docstring)."""

    name: str
    class_names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]  # RGB per class id
    splits: tuple[str, ...]  # every split the loader knows
    required_splits: tuple[str, ...]  # those ``annkit data check`` expects to find
    locate: Callable[[Path], Path | None]  # the dataset folder at or under a path, or None
    scan: Callable[[Path, str], tuple[Pairs, list[Exception]]]  # a split's pairs and its problems
    labels: Callable[[Path, np.ndarray], np.ndarray]  # stored mask → class ids (H, W) uint8
    layout: str  # the expected folders, in words
    get: str  # how to obtain the dataset

    @property
    def num_classes(self) -> int:
        return len(self.class_names)
