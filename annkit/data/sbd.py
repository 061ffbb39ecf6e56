"""The Semantic Boundaries Dataset (SBD; Hariharan et al., ICCV 2011) and VOC's "trainaug" split.

SBD annotates 11,355 VOC 2011 images with the 20 VOC classes (``benchmark_RELEASE/dataset``: ``img/*.jpg``,
``cls/*.mat``, ``train.txt`` 8,498, ``val.txt`` 2,857). Segmentation papers (ANN's VOC results, mmseg's
"voc12aug") train on **trainaug** = (VOC train ∪ SBD train ∪ SBD val) − VOC val = 10,582 images, so no
validation image is seen in training. Masks come, in this order, from VOC's ``SegmentationClass`` PNGs,
DeepLab's converted ``SegmentationClassAug`` PNGs, or SBD's ``.mat`` files (``GTcls.Segmentation``);
SBD masks have no 255 outlines.
"""

from __future__ import annotations

from pathlib import Path

from annkit.data.errors import DatasetNotFoundError
from annkit.data.files import read_split

SBD_DIR = Path("benchmark_RELEASE") / "dataset"  # relative to the data root


def trainaug_names(root: str | Path, voc_dir: Path) -> list[str]:
    """Names of trainaug: ``<voc_dir>/ImageSets/Segmentation/trainaug.txt`` if present, else computed from
    the VOC and SBD split files as (VOC train ∪ SBD train ∪ SBD val) − VOC val, sorted."""
    voc_splits = voc_dir / "ImageSets" / "Segmentation"
    hint_sbd, hint_voc = f"annkit data download sbd --root {root}", f"annkit data download voc --root {root}"
    if (voc_splits / "trainaug.txt").is_file():
        return read_split(voc_splits / "trainaug.txt", hint_sbd)
    sbd = Path(root) / SBD_DIR
    if not sbd.is_dir():
        raise DatasetNotFoundError(
            f"SBD folder {sbd} not found (trainaug needs it, or a list "
            f"{voc_splits / 'trainaug.txt'}); get SBD with `{hint_sbd}`"
        )
    names = set(read_split(voc_splits / "train.txt", hint_voc))
    names |= set(read_split(sbd / "train.txt", hint_sbd)) | set(read_split(sbd / "val.txt", hint_sbd))
    return sorted(names - set(read_split(voc_splits / "val.txt", hint_voc)))


def trainaug_sources(root: str | Path, voc_dir: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Where trainaug images and masks are looked up, in priority order: (image dirs, [(mask dir, suffix)])."""
    sbd = Path(root) / SBD_DIR
    return (
        [voc_dir / "JPEGImages", sbd / "img"],
        [(voc_dir / "SegmentationClass", ".png"), (voc_dir / "SegmentationClassAug", ".png"), (sbd / "cls", ".mat")],
    )
