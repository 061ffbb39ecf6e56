"""``annkit data check``: validate a dataset folder and summarise it.

VOC layout: checks every split file (non-empty; each name has an image and a mask), every mask file (has an
image), and every listed pair (both decode; same size; mask values are class ids or 255). Cityscapes, ADE20K and
PASCAL Context (``annkit.data.datasets``, recognised by their folders or named with ``dataset=``): every required
split exists, every image has a mask and every mask an image, and every pair decodes with the same size and
stored mask values the dataset's label rule knows. Reports counts, image sizes and the pixel share of each class
(after the label rule), and lists every problem with the file it concerns.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from annkit.data.datasets import DATASETS, spec_of
from annkit.data.errors import DatasetNotFoundError, EmptySplitError
from annkit.data.files import pair_files, read_split
from annkit.data.spec import DatasetSpec
from annkit.data.voc import VOC_DIR, SegmentationDataset, class_names_of


@dataclass
class CheckReport:
    """What ``check_dataset`` found: counts per split, sizes, class pixel counts and problems."""

    root: Path
    class_names: tuple[str, ...]
    splits: dict[str, int] = field(default_factory=dict)
    samples: int = 0
    heights: tuple[int, int] = (0, 0)  # min, max
    widths: tuple[int, int] = (0, 0)
    class_pixels: np.ndarray | None = None  # (num_classes + 1,): last entry = 255 (ignore)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def summary(self) -> str:
        """Human-readable report."""
        lines = [f"dataset {self.root}: {self.samples} distinct samples, {len(self.class_names)} classes"]
        lines += [f"  split {name}: {count} samples" for name, count in self.splits.items()]
        if self.samples:
            lines.append(
                f"  image height {self.heights[0]}–{self.heights[1]} px, width {self.widths[0]}–{self.widths[1]} px"
            )
        if self.class_pixels is not None and self.class_pixels.sum():
            share = self.class_pixels / self.class_pixels.sum()
            names = [*self.class_names, "ignore(255)"]
            lines.append("  pixels: " + ", ".join(f"{n} {100 * s:.1f}%" for n, s in zip(names, share) if s > 0))
        lines.append(f"  problems: {len(self.problems)}" if self.problems else "  OK: no problems found")
        lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)


def resolve_root(path: str | Path) -> Path:
    """The VOC-layout folder at ``path``, or at ``path/VOCdevkit/VOC2012`` when ``path`` is a data root."""
    path = Path(path)
    if not (path / "ImageSets").is_dir() and (path / VOC_DIR / "ImageSets").is_dir():
        return path / VOC_DIR
    if not path.is_dir():
        raise DatasetNotFoundError(
            f"dataset folder {path} not found; get one with `annkit data download voc` or `annkit data synth`"
        )
    return path


def check_dataset(path: str | Path, dataset: str | None = None) -> CheckReport:
    """Validate the dataset at ``path`` (see module doc); never raises for bad content. ``dataset`` names one of
    ``annkit.data.datasets.DATASETS``; without it the layout decides (PASCAL Context is checked as its 59-class
    variant), and a folder no known layout matches is checked as VOC layout."""
    if dataset is not None:
        return _check_spec(spec_of(dataset), Path(path))
    spec = _detect(Path(path))
    if spec is not None:
        return _check_spec(spec, Path(path))
    root = resolve_root(path)
    report = CheckReport(root, class_names_of(root))
    split_dir, image_dir, mask_dir = (
        root / "ImageSets" / "Segmentation",
        root / "JPEGImages",
        root / "SegmentationClass",
    )
    for folder in (split_dir, image_dir, mask_dir):
        if not folder.is_dir():
            report.problems.append(
                f"folder {folder} missing; expected VOC layout (JPEGImages/, "
                "SegmentationClass/, ImageSets/Segmentation/)"
            )
    if not report.ok:
        return report
    pairs: dict[str, tuple] = {}
    split_files = sorted(split_dir.glob("*.txt"))
    if not split_files:
        report.problems.append(f"no split files in {split_dir}; expected e.g. train.txt and val.txt")
    for split_file in split_files:
        try:
            names = read_split(split_file, "")
        except EmptySplitError as error:
            report.problems.append(str(error))
            continue
        found, errors = pair_files(names, [image_dir], [(mask_dir, ".png")])
        report.splits[split_file.stem] = len(names)
        report.problems += [str(error) for error in errors]
        pairs.update((pair[0], pair) for pair in found)
    images = {name[:-4] for name in os.listdir(image_dir) if name.endswith(".jpg")}
    for mask_name in sorted(os.listdir(mask_dir)):
        if mask_name.endswith(".png") and mask_name[:-4] not in images:
            report.problems.append(
                f"mask {mask_dir / mask_name} has no image; expected {image_dir / (mask_name[:-4] + '.jpg')}"
            )
    _check_samples(report, SegmentationDataset(list(pairs.values()), report.class_names))
    report.problems = list(dict.fromkeys(report.problems))  # a name in two splits is reported once
    return report


def _detect(path: Path) -> DatasetSpec | None:
    """The dataset whose layout ``path`` holds; None for VOC layout (checked first, as before) or nothing known.
    A data root holding several datasets is an error asking for one folder or ``--dataset``."""
    if (path / "ImageSets").is_dir() or (path / VOC_DIR / "ImageSets").is_dir():
        return None
    found: dict[Path, DatasetSpec] = {}
    for spec in DATASETS.values():  # PASCAL Context-59 comes before -60: the first spec per folder wins
        root = spec.locate(path)
        if root is not None:
            found.setdefault(root, spec)
    if len(found) > 1:
        raise DatasetNotFoundError(
            f"{path} holds several datasets ({', '.join(s.name for s in found.values())}); "
            "check one folder, or name it with --dataset"
        )
    return next(iter(found.values()), None)


def _check_spec(spec: DatasetSpec, path: Path) -> CheckReport:
    """Check a dataset described by a ``DatasetSpec`` (Cityscapes, ADE20K, PASCAL Context)."""
    root = spec.locate(path)
    if root is None:
        raise DatasetNotFoundError(f"no {spec.name} dataset at {path}; expected {spec.layout}. To get it: {spec.get}")
    report = CheckReport(root, spec.class_names)
    pairs: dict[str, tuple] = {}
    for split in spec.splits:
        try:
            found, problems = spec.scan(root, split)
        except (DatasetNotFoundError, EmptySplitError) as error:
            if split in spec.required_splits:
                report.problems.append(str(error))
            continue
        report.splits[split] = len(found) + len(problems)
        report.problems += [str(problem) for problem in problems]
        pairs.update((f"{split}/{pair[0]}", pair) for pair in found)
    _check_samples(report, SegmentationDataset(list(pairs.values()), spec.class_names, labels=spec.labels))
    report.problems = list(dict.fromkeys(report.problems))
    return report


def _check_samples(report: CheckReport, dataset: SegmentationDataset) -> None:
    """Decode and validate every pair; accumulate sizes and class pixel counts into ``report``."""
    sizes: Counter = Counter()
    counts = np.zeros(dataset.num_classes + 1, dtype=np.int64)
    for index in range(len(dataset)):
        try:
            sample = dataset.load(index)
        except (ValueError, OSError) as error:  # the dataset's errors name the file
            report.problems.append(str(error))
            continue
        sizes[tuple(sample["image"].shape[-2:])] += 1
        mask = sample["mask"].numpy()
        counts[:-1] += np.bincount(mask[mask != 255].ravel(), minlength=dataset.num_classes)[: dataset.num_classes]
        counts[-1] += int((mask == 255).sum())
    report.samples = len(dataset)
    if sizes:
        heights, widths = [h for h, _ in sizes], [w for _, w in sizes]
        report.heights, report.widths = (min(heights), max(heights)), (min(widths), max(widths))
    report.class_pixels = counts
