"""Reading dataset files: images (``annkit.data.image_io``), masks (palette PNGs, SBD ``.mat``), split lists,
and image/mask pairing.

Every reader fails with an error from ``annkit.data.errors`` that names the file and the expected form.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.io import loadmat

from annkit.data.errors import CorruptFileError, DatasetNotFoundError, EmptySplitError, UnpairedFileError
from annkit.data.image_io import read_image  # noqa: F401  (the one image reader; kept importable from here)
from annkit.data.palette import load_mask


def load_sbd_mask(path: str | Path) -> np.ndarray:
    """Class ids (H, W) uint8 from an SBD ``cls/<name>.mat`` file (struct ``GTcls``, field ``Segmentation``)."""
    try:
        segmentation = np.asarray(loadmat(path, squeeze_me=True, struct_as_record=False)["GTcls"].Segmentation)
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as error:
        raise CorruptFileError(
            f"{path}: cannot read an SBD mask ({error!r}); expected a MATLAB file with "
            "struct GTcls holding an (H, W) array GTcls.Segmentation"
        ) from error
    if segmentation.ndim != 2:
        raise CorruptFileError(f"{path}: GTcls.Segmentation has shape {segmentation.shape}; expected (H, W)")
    return segmentation.astype(np.uint8)


def read_mask(path: str | Path) -> np.ndarray:
    """Class ids (H, W) uint8 from a palette/greyscale PNG or an SBD ``.mat`` file."""
    return load_sbd_mask(path) if Path(path).suffix == ".mat" else load_mask(path)


def read_split(path: Path, hint: str) -> list[str]:
    """Names listed in a split file, one a line; ``hint`` is the command that creates the file."""
    if not path.is_file():
        raise DatasetNotFoundError(
            f"split file {path} not found; expected a text file of sample names (get the dataset with `{hint}`)"
        )
    names = [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
    if not names:
        raise EmptySplitError(f"split file {path} lists no samples; expected one sample name per line")
    return names


def pair_files(
    names: Sequence[str],
    image_dirs: Sequence[Path],
    mask_dirs: Sequence[tuple[Path, str]],
) -> tuple[list[tuple[str, Path, Path]], list[Exception]]:
    """Match each name to an image (``<dir>/<name>.jpg``, first dir that has it) and a mask (first
    ``(dir, suffix)`` that has it). Returns the (name, image, mask) pairs and one error per incomplete name."""
    listings = {
        folder: set(os.listdir(folder)) if folder.is_dir() else set()
        for folder in [*image_dirs, *(folder for folder, _ in mask_dirs)]
    }

    def find(name: str, candidates: Sequence[tuple[Path, str]]) -> Path | None:
        return next(
            (folder / f"{name}{suffix}" for folder, suffix in candidates if f"{name}{suffix}" in listings[folder]), None
        )

    pairs, errors = [], []
    for name in names:
        image = find(name, [(folder, ".jpg") for folder in image_dirs])
        mask = find(name, mask_dirs)
        expected_mask = " or ".join(str(folder / f"{name}{suffix}") for folder, suffix in mask_dirs)
        expected_image = " or ".join(str(folder / f"{name}.jpg") for folder in image_dirs)
        if image and mask:
            pairs.append((name, image, mask))
        elif image:
            errors.append(UnpairedFileError(f"image {image} has no mask; expected {expected_mask}"))
        elif mask:
            errors.append(UnpairedFileError(f"mask {mask} has no image; expected {expected_image}"))
        else:
            errors.append(
                DatasetNotFoundError(
                    f"sample {name!r} is listed but has neither image nor mask; "
                    f"expected {expected_image} and {expected_mask}"
                )
            )
    return pairs, errors
