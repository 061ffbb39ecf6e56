"""What several test modules share (tests import it, never each other): the tiny synthetic training set and the
overrides of a few-iteration run, run-folder readers, and small data-set trees in their real layouts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from annkit.data import SynthConfig, save_mask, voc_palette

# --- a few-iteration training on a tiny synthetic set ---------------------------------------------------------

SMALL = SynthConfig(
    size=48,
    cue_size=6,
    cue_distance=6,
    object_min=6,
    object_max=12,
    min_objects=1,
    max_objects=2,
    num_train=12,
    num_val=3,
)


def quick_overrides(data_root: Path, **extra) -> dict:
    """Dotted overrides of a few-iteration training on ``SMALL`` under ``data_root`` (``model.*`` keys kept)."""
    settings = {
        "dataset": "synthetic",
        "data_root": str(data_root),
        "train_split": "train",
        "crop_size": None,
        "scale_range": None,
        "photometric": False,
        "batch_size": 2,
        "iterations": 4,
        "eval_every": 4,
        "checkpoint_every": 2,
        "log_every": 1,
        "num_workers": 0,
        "loss.min_kept": 500,
    }
    settings.update(extra)
    return {(k if k.startswith("model.") else f"train.{k}"): v for k, v in settings.items()}


def as_args(overrides: dict) -> list[str]:
    """The overrides as ``annkit train`` arguments: ``key=<JSON value>``."""
    return [f"{k}={json.dumps(v)}" for k, v in overrides.items()]


def run_weights(path: Path) -> dict[str, torch.Tensor]:
    """The model weights of a run's checkpoint (``best.pt``, ``final.pt``, …)."""
    return torch.load(path, weights_only=True)["state_dict"]


def run_records(run: Path) -> list[dict]:
    """A run's metrics.jsonl without the wall-clock field (what two equal runs share exactly)."""
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "images_per_s"} for line in lines]


# --- VOC 2012 ---------------------------------------------------------------------------------------------------

VOC = Path("VOCdevkit") / "VOC2012"


def blocks_mask(height: int, width: int, seed: int) -> np.ndarray:
    """A mask of 8-px blocks of VOC class ids (0..20) with a 255 outline row: (H, W) uint8."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 21, (height // 8 + 1, width // 8 + 1)).astype(np.uint8)
    mask = np.kron(coarse, np.ones((8, 8), dtype=np.uint8))[:height, :width]
    mask[height // 2] = 255
    return mask


def write_pair(folder: Path, name: str, mask: np.ndarray) -> None:
    """Image = the mask's VOC colours (so the mask can be recomputed from the image), JPEG q100."""
    Image.fromarray(voc_palette()[mask]).save(folder / "JPEGImages" / f"{name}.jpg", quality=100)
    save_mask(mask, folder / "SegmentationClass" / f"{name}.png")


def make_voc(root: Path, splits: dict[str, list[str]], size=(40, 56)) -> Path:
    """A small VOC 2012 tree under ``root``; returns the VOC2012 folder."""
    voc = root / VOC
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (voc / folder).mkdir(parents=True, exist_ok=True)
    names = sorted({name for listed in splits.values() for name in listed})
    for index, name in enumerate(names):
        write_pair(voc, name, blocks_mask(*size, seed=index))
    for split, listed in splits.items():
        (voc / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(listed) + "\n")
    return voc


# --- Cityscapes -------------------------------------------------------------------------------------------------


def write_image(path: Path, height: int = 4, width: int = 6) -> None:
    """A random RGB image (seeded by the path's length), parent folders created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.random.default_rng(len(str(path))).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path)


def write_mask(path: Path, values: np.ndarray) -> None:
    """A single-channel uint8 PNG of ``values``, parent folders created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(values, dtype=np.uint8), mode="L").save(path)


# stored value → expected class id; one row of a 4×6 mask each
CITYSCAPES_IDS = np.array([[0, 7, 8, 26, 33, 5], [31, 24, 11, 23, 1, 21]] * 2)  # label ids
CITYSCAPES_TRAIN = np.array([[255, 0, 1, 13, 18, 255], [16, 11, 2, 10, 255, 8]] * 2)


def cityscapes_tree(root: Path) -> Path:
    """``root/cityscapes`` with 2 train, 1 val (a labelTrainIds file beside its labelIds) and 1 test frame."""
    base = root / "cityscapes"
    for split, city, frames in (("train", "aachen", 2), ("val", "lindau", 1), ("test", "berlin", 1)):
        for frame in range(frames):
            stem = f"{city}_000000_{frame:06d}"
            write_image(base / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png")
            write_mask(
                base / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png",
                CITYSCAPES_IDS if split != "test" else np.zeros((4, 6)),
            )
    # a labelTrainIds file wins over the labelIds beside it
    write_mask(
        base / "gtFine" / "val" / "lindau" / "lindau_000000_000000_gtFine_labelTrainIds.png", np.full((4, 6), 13)
    )
    return base
