"""Prediction for image files: per-pixel classes as VOC palette PNGs, plus an overlay for a quick look.

Each image is read as RGB, normalised with the model's own mean/std (``Segmentor.normalize``), segmented
(whole image or sliding window, optional scales + flip, as ``annkit.engine.evaluate``) and written as
``<stem>.png`` (palette PNG of class ids: ids stay ids, the palette is for viewers) and ``<stem>_overlay.png``
(the class colours blended over the image).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from annkit.data import colorize, save_mask
from annkit.engine.config import EvalConfig
from annkit.engine.evaluate import predict_probabilities


def read_rgb(path: str | Path) -> torch.Tensor:
    """An image file as (3, H, W) uint8 RGB; errors name the file."""
    try:
        with Image.open(path) as image:
            array = np.array(image.convert("RGB"))
    except (OSError, SyntaxError) as err:
        raise ValueError(f"cannot read image {path} ({err}); expected a JPEG/PNG file") from err
    return torch.from_numpy(array).permute(2, 0, 1)


@torch.no_grad()
def predict_file(model: torch.nn.Module, path: str | Path, config: EvalConfig,
                 device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """(image (H, W, 3) uint8, predicted class ids (H, W) uint8) for one image file."""
    image = read_rgb(path)
    inputs = model.normalize(image.float().div(255).unsqueeze(0).to(device))  # (1, 3, H, W)
    probabilities = predict_probabilities(model, inputs, config, model.config.num_classes)
    return image.permute(1, 2, 0).numpy(), probabilities.argmax(1)[0].byte().cpu().numpy()


def overlay(image: np.ndarray, mask: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Class colours (VOC palette) blended over the image; background (0) left as it is. (H, W, 3) uint8."""
    colours = colorize(mask).astype(np.float32)
    blend = np.where((mask > 0)[..., None], (1 - alpha) * image + alpha * colours, image)
    return blend.round().astype(np.uint8)


def predict_images(model: torch.nn.Module, paths: list[str | Path], out_dir: str | Path, config: EvalConfig,
                   device: str | torch.device = "cpu") -> list[Path]:
    """Segment every image in ``paths``; write ``<stem>.png`` and ``<stem>_overlay.png`` under ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.eval().to(device)
    written = []
    for path in paths:
        image, mask = predict_file(model, path, config, device)
        stem = Path(path).stem
        save_mask(mask, out_dir / f"{stem}.png")
        Image.fromarray(overlay(image, mask)).save(out_dir / f"{stem}_overlay.png")
        written += [out_dir / f"{stem}.png", out_dir / f"{stem}_overlay.png"]
    return written
