"""Pascal VOC class names, the VOC colour palette, the class-colour overlay, and palette ("P" mode) PNG masks.

VOC stores segmentation labels as 8-bit palette PNGs: each pixel holds a class id (0 = background,
1..20 = objects, 255 = "void", the ignored object outlines) and the palette only decides how it looks.
The palette is the devkit's bit-interleaving rule (``VOClabelcolormap.m``): the bits of the class id are
spread over the high bits of R, G and B, so neighbouring ids get clearly different colours.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from annkit.data.errors import CorruptFileError

IGNORE_INDEX = 255  # "void" pixels: object outlines in VOC, padding after a crop

VOC_CLASSES: tuple[str, ...] = (
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
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)


def voc_palette(n: int = 256) -> np.ndarray:
    """The VOC colour map: (n, 3) uint8 RGB, entry i = colour of class id i (255 → (224, 224, 192))."""
    ids = np.arange(n)
    palette = np.zeros((n, 3), dtype=np.uint8)
    for shift in range(8):  # bit k of the id → bit (7 - shift) of channel k % 3
        for channel in range(3):
            bit = (ids >> (3 * shift + channel)) & 1
            palette[:, channel] |= (bit << (7 - shift)).astype(np.uint8)
    return palette


def colorize(mask: np.ndarray) -> np.ndarray:
    """Class ids (H, W) → VOC colours (H, W, 3) uint8, for plots."""
    return voc_palette()[np.asarray(mask, dtype=np.uint8)]


def overlay(
    image: np.ndarray,
    mask: np.ndarray,
    palette: np.ndarray | None = None,
    coloured: np.ndarray | None = None,
    alpha: float = 0.5,
) -> np.ndarray:
    """The segmentation overlay: each class's colour blended over the image, (1 − α)·pixel + α·colour.

    ``image`` (H, W, 3) uint8 RGB, ``mask`` (H, W) class ids → (H, W, 3) uint8. ``palette`` (K, 3) uint8 gives
    class i its colour (default: the VOC palette, all 256 ids); ``coloured`` (K,) bool says which classes are drawn
    (default: all but 0, background). Pixels of other classes, and ids ≥ K (255, ignore), keep the image's colour.
    """
    palette = voc_palette() if palette is None else np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    coloured = np.arange(len(palette)) > 0 if coloured is None else np.asarray(coloured, dtype=bool)
    colours, weight = np.zeros((256, 3), np.float32), np.zeros(256, np.float32)
    colours[: len(palette)], weight[: len(palette)] = palette, alpha * coloured
    ids = np.asarray(mask, dtype=np.uint8)
    blend = weight[ids][..., None]  # (H, W, 1)
    return ((1 - blend) * image + blend * colours[ids]).round().astype(np.uint8)


def save_mask(mask: np.ndarray, path: str | Path) -> None:
    """Write class ids (H, W) uint8 as a VOC-style palette PNG (ids stay ids; the palette is for viewers)."""
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.dtype != np.uint8:
        raise ValueError(f"save_mask: expected an (H, W) uint8 array of class ids, got {mask.dtype} {mask.shape}")
    image = Image.fromarray(mask)  # mode "L"; putpalette turns it into "P" with the ids unchanged
    image.putpalette(voc_palette().tobytes())
    image.save(path, format="PNG", optimize=False)


def load_mask(path: str | Path) -> np.ndarray:
    """Read a segmentation mask PNG as class ids (H, W) uint8.

    Palette ("P") and greyscale ("L") PNGs hold the ids directly. An RGB PNG is rejected: its colours would
    have to be mapped back to ids, and silently reading e.g. the red channel gives wrong labels.
    """
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode not in ("P", "L"):
                raise CorruptFileError(
                    f"{path}: mask PNG has mode {image.mode!r}; expected a palette ('P') or greyscale ('L') PNG "
                    "holding class ids"
                )
            return np.array(image, dtype=np.uint8)
    except (OSError, SyntaxError) as error:  # PIL raises these for truncated / non-image files
        raise CorruptFileError(f"{path}: cannot decode the mask ({error}); expected a PNG of class ids") from error
