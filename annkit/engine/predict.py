"""Prediction for image files: per-pixel classes as VOC palette PNGs, plus an overlay for a quick look.

Each image is read as RGB, normalised with the model's own mean/std (``Segmentor.normalize``), segmented
(whole image or sliding window, optional scales + flip, as ``annkit.engine.evaluate``) and written as
``<stem>.png`` (palette PNG of class ids: ids stay ids, the palette is for viewers) and ``<stem>_overlay.png``
(the class colours blended over the image, ``annkit.data.overlay``); inputs sharing a stem get ``<stem>_<ext>``. An output that would
overwrite an input image, or another output, is refused before anything is written.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from annkit.config import EvalConfig
from annkit.data import overlay, read_image, save_mask
from annkit.engine.evaluate import check_finite, predict_probabilities
from annkit.errors import ConfigError, os_error


@torch.no_grad()
def predict_file(
    model: torch.nn.Module, path: str | Path, config: EvalConfig, device: str | torch.device = "cpu"
) -> tuple[np.ndarray, np.ndarray]:
    """(image (H, W, 3) uint8, predicted class ids (H, W) uint8) for one image file (read upright, see
    ``annkit.data.read_image``)."""
    image = read_image(path)  # (3, H, W) uint8
    inputs = model.normalize(image.float().div(255).unsqueeze(0).to(device))  # (1, 3, H, W)
    probabilities = predict_probabilities(model, inputs, config, model.config.num_classes)
    return image.permute(1, 2, 0).numpy(), probabilities.argmax(1)[0].byte().cpu().numpy()


def output_names(paths: list[Path], out_dir: Path) -> dict[Path, tuple[Path, Path]]:
    """Each input → (mask PNG, overlay PNG) under ``out_dir``: ``<stem>.png``, or ``<stem>_<ext>.png`` when two
    inputs share a stem (``a.jpg``, ``a.png``). Two outputs never collide and no output is an input (ConfigError)."""
    stems = Counter(path.stem for path in paths)
    names = {}
    for path in paths:
        base = path.stem if stems[path.stem] == 1 else f"{path.stem}_{path.suffix.lstrip('.')}"
        names[path] = (out_dir / f"{base}.png", out_dir / f"{base}_overlay.png")
    owners: dict[Path, Path] = {}
    for path, outputs in names.items():
        for output in outputs:
            if output.resolve() in owners:
                raise ConfigError(
                    f"{owners[output.resolve()]} and {path} would both be written to {output}; "
                    "predict them into separate --out folders"
                )
            owners[output.resolve()] = path
    inputs = {path.resolve() for path in paths}
    clobbered = sorted(str(output) for output in owners if output in inputs)
    if clobbered:
        raise ConfigError(
            f"--out {out_dir} would overwrite the input image(s) {', '.join(clobbered)}; choose another --out folder"
        )
    return names


def predict_images(
    model: torch.nn.Module,
    paths: list[str | Path],
    out_dir: str | Path,
    config: EvalConfig,
    device: str | torch.device = "cpu",
) -> list[Path]:
    """Segment every image in ``paths``; write a mask and an overlay PNG each under ``out_dir`` (names:
    ``output_names``); returns the files written, in order. Inputs are never overwritten."""
    out_dir = Path(out_dir)
    paths = list(dict.fromkeys(Path(path) for path in paths))  # an image listed twice is predicted once
    names = output_names(paths, out_dir)
    check_finite(model)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise os_error(error, out_dir) from error
    model.eval().to(device)
    written = []
    for path in paths:
        image, mask = predict_file(model, path, config, device)
        mask_path, overlay_path = names[path]
        try:
            save_mask(mask, mask_path)
            Image.fromarray(overlay(image, mask)).save(overlay_path)
        except OSError as error:
            raise os_error(error, mask_path.parent) from error
        written += [mask_path, overlay_path]
    return written
