"""Class names and colours for prediction overlays: the colours the dataset itself gives its classes.

Pascal VOC (21 classes) uses the devkit's palette (``annkit.data.palette.voc_palette``); the synthetic long-range
set's classes *are* cue colours ("red", "green", …), so each is drawn in its own cue colour
(``annkit.data.synthetic.CUE_COLORS``). Other class counts get numbered names and VOC palette colours.
"Background" is left uncoloured in overlays (as ``annkit predict`` does), so the image stays readable.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from annkit.data.palette import VOC_CLASSES, voc_palette
from annkit.data.synthetic import CUE_COLORS, CUE_NAMES


def default_class_names(num_classes: int) -> tuple[str, ...]:
    """Names for a model's K output classes: VOC's for 21, the synthetic set's for 2..7, else "class i"."""
    if num_classes == len(VOC_CLASSES):
        return VOC_CLASSES
    if 2 <= num_classes <= len(CUE_NAMES) + 1:
        return ("background",) + CUE_NAMES[: num_classes - 1]
    return tuple(f"class {i}" for i in range(num_classes))


def class_palette(class_names: Sequence[str]) -> np.ndarray:
    """(K, 3) uint8 RGB, one colour per class: cue colours for the synthetic set's names, else the VOC palette."""
    cues = dict(zip(CUE_NAMES, CUE_COLORS))
    synthetic = len(class_names) > 1 and class_names[0] == "background" and all(n in cues for n in class_names[1:])
    voc = voc_palette(max(len(class_names), 1))
    return np.array(
        [cues[name] if synthetic and name in cues else voc[i] for i, name in enumerate(class_names)], dtype=np.uint8
    ).reshape(-1, 3)


def coloured_classes(class_names: Sequence[str]) -> np.ndarray:
    """(K,) bool: which classes an overlay colours (all but "background")."""
    return np.array([name != "background" for name in class_names], dtype=bool)
