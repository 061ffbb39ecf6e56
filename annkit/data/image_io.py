"""The one image reader of annkit: data loaders, ``annkit predict``, ``annkit data check`` and ``annkit.viz`` all
read photos through ``read_image``, so they agree on every pixel.

What it settles, as image viewers do:
- **EXIF orientation.** Cameras store a portrait photo as a landscape pixel array plus an orientation tag; the
  image is turned upright (``PIL.ImageOps.exif_transpose``), so a predicted mask lines up with the picture a
  viewer shows.
- **16-bit images.** A 16-bit greyscale PNG holds values up to 65535; a plain conversion to 8-bit RGB clips
  everything above 255 to white. Values are rescaled instead (v · 255 / 65535, rounded).
- **Other modes.** Greyscale, palette, CMYK and RGBA become RGB; floating-point images are refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torchvision import tv_tensors

from annkit.data.errors import CorruptFileError
from annkit.errors import MissingFileError

_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")  # Pillow opens 16-bit greyscale PNGs as I;16 (or I)


def _rgb_array(image: Image.Image, path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a decoded, upright image."""
    if image.mode in _SIXTEEN_BIT:
        values = np.asarray(image, dtype=np.int64)  # (H, W)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise CorruptFileError(
                f"{path}: a 32-bit integer image with values outside 0..65535; expected an 8- or 16-bit image"
            )
        grey = ((values * 255 + 32767) // 65535).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if image.mode == "F":
        raise CorruptFileError(f"{path}: a floating-point image; expected an 8- or 16-bit image (JPEG or PNG)")
    return np.array(image.convert("RGB"))


def read_image(path: str | Path) -> tv_tensors.Image:
    """Decode an image file as upright RGB: (3, H, W) uint8 (see the module docstring for EXIF and 16-bit)."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"image {path} does not exist" + ("; it is a folder" if path.is_dir() else ""))
    try:
        with Image.open(path) as image:
            image.load()  # decode now, so a truncated file fails here and names itself
            rgb = _rgb_array(ImageOps.exif_transpose(image), path)  # (H, W, 3)
    except (OSError, SyntaxError) as error:
        raise CorruptFileError(f"{path}: cannot decode the image ({error}); expected a JPEG or PNG") from error
    return tv_tensors.Image(torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1))
