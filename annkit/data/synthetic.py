"""The synthetic long-range dataset: objects whose class can only be read from a cue far away.

Every image holds a few *objects* that all look alike (the same grey checkerboard texture; random shape and
size) and one *cue*: a band along one edge of the image wearing the same checkerboard in a saturated colour.
The cue's colour is the class of every object in the image (class k ↔ cue colour k: red, green, blue,
yellow, magenta, cyan). Background is smooth low-saturation noise. Every object
pixel is at least ``cue_distance`` px (Chebyshev) from every cue pixel, so a model that only sees a small
neighbourhood cannot tell which class an object is — the paper's point that some pixels can only be
labelled by looking far away (Zhu et al., ICCV 2019, https://arxiv.org/abs/1908.07678).

Generative rules (``SynthConfig`` holds the knobs), each image from its own seed (seed, split, index):
1. class c ~ uniform{1..K}; cue edge ~ uniform{top, bottom, left, right}; the band is ``cue_size`` px
   thick and spans the whole edge; its pixels are labelled background (0).
2. n ~ uniform{min_objects..max_objects} objects, each a rectangle, ellipse or triangle in a box with sides
   ~ uniform{object_min..object_max}, placed uniformly among the positions ≥ cue_distance from the band and
   ≥ 2 px from the other objects; if one does not fit, all objects are drawn again.
3. Every object pixel is labelled c. Shapes, sizes, positions, texture and background do not depend on c.

Why a local model fails: the tiny CPU backbone (six 3×3 convs, padding 1, strides 2,1,2,1,2,1) sees 43 px;
the FCN baseline's 3×3 conv at stride 8 adds 2·8 = 16 px, so feature cell j sees input pixels
[8j − 29, 8j + 29]. Bilinear ×8 upsampling (align_corners=False) reads output pixel x from cells
⌊(x + 0.5)/8 − 0.5⌋ and the next one, i.e. from up to 11 px behind x to 4 px ahead of it, so a logit
depends on pixels within Chebyshev distance 29 + 11 = 40 px (a gradient check on the network confirms
40 behind, 33 ahead). With the default cue_distance = 48 no object pixel's logit can see the cue, so its
prediction cannot depend on its class; ``local_ceiling`` gives the best mIoU such a predictor can reach
(0.314 for K = 4 balanced classes).
Why attention solves it: at 128 px the stride-8 map is 16×16; APNB's 8×8 pooling level has 16-px cells, so
the whole first row of 8 anchors lies inside the 20-px band, and the 6×6 level's edge row is 83 % cue.
Even uniform attention over the 110 anchors draws ≈ 13 % of its context from the cue, and the shared
checkerboard texture lets object queries match the cue's keys directly.

The **sides** layout (``layout="sides"``, the named configuration ``SIDES``, written under data/synthetic_sides)
asks *where* (notebooks 02, 05, 06; ``annkit ablation``): one half of the image is dark and the other bright
(which one: a coin flip), and each half has its own cue — a block ``cue_size`` px tall along the top (or, by a
second coin flip, the bottom) edge, inset ``CUE_INSET`` px from the side edge and the midline — of two distinct
classes in random order. Objects alternate between the halves (≥ ``MIDLINE_MARGIN`` px from the midline, ≥
``cue_distance`` from both cues) and take the class of the cue in *their* half. A global average of the image
knows which two colours are present, not which half holds which: every ordered pair is equally likely, and
shapes, positions and brightness do not depend on the colours. So one global anchor (S = 1) is bounded by the
set's *global ceiling* (``annkit.data.ceilings.global_ceiling``; 0.47 for K = 4), the local baseline by the
local one (0.31), while an anchor grid can do better: with 8-px cues every anchor of APNB's 8×8 level that
holds cue pixels holds as many of its half's background, so an object's query (which sees its half's
brightness) can prefer the anchors of its own half's cue.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from annkit.data.ceilings import global_ceiling, local_ceiling
from annkit.data.palette import save_mask

# Saturated cue colours: the first three each light one RGB channel, so classes 1–3 differ in one channel each.
CUE_COLORS: tuple[tuple[int, int, int], ...] = (
    (230, 30, 30),
    (30, 200, 40),
    (35, 70, 235),
    (225, 210, 30),
    (215, 35, 215),
    (30, 205, 215),
)
CUE_NAMES: tuple[str, ...] = ("red", "green", "blue", "yellow", "magenta", "cyan")
CUE_DARK = 0.6  # brightness of the cue's dark checker cells, as a fraction of its colour
BASELINE_RADIUS = 40  # px: Chebyshev reach of the local FCN baseline's logits (arithmetic in the module doc)
SPLITS = ("train", "val")
LAYOUTS = ("band", "sides")
HALF_SHIFT = 45.0  # sides layout: one half's background is this much darker than mid-grey, the other brighter
CUE_INSET = 8  # sides layout: px between a cue block and the image's side edge, and between it and the midline
MIDLINE_MARGIN = 4  # sides layout: px between every object and the midline (no object straddles it)


@dataclass(frozen=True)
class SynthConfig:
    """Knobs of the synthetic long-range set; the defaults are the embedded default set."""

    size: int = 128  # image height = width, px
    num_classes: int = 4  # K object classes (labels 1..K; 0 = background), at most len(CUE_COLORS)
    min_objects: int = 3
    max_objects: int = 5
    object_min: int = 18  # object side length range, px
    object_max: int = 34
    cue_size: int = 20  # thickness of the cue band, px
    cue_distance: int = 48  # min Chebyshev distance cue ↔ any object pixel, px (baseline reach: 40)
    num_train: int = 3000
    num_val: int = 300
    seed: int = 0
    layout: str = "band"  # "band": one cue, every object its class; "sides": two cues, each object its side's

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")
        if self.layout == "sides" and self.num_classes < 2:
            raise ValueError(f"the sides layout needs two cue colours, so num_classes >= 2, got {self.num_classes}")
        if (
            self.layout == "sides"
            and min(self.size // 2 - MIDLINE_MARGIN - self.object_max, self.size // 2 - 2 * CUE_INSET) < 1
        ):
            raise ValueError(
                f"sides layout: size {self.size} too small for objects of {self.object_max} px; each half must "
                f"hold an object {MIDLINE_MARGIN} px from the midline and a cue {CUE_INSET} px from its edges"
            )
        if not 1 <= self.num_classes <= len(CUE_COLORS):
            raise ValueError(f"num_classes must be in 1..{len(CUE_COLORS)}, got {self.num_classes}")
        if not 1 <= self.min_objects <= self.max_objects:
            raise ValueError(f"need 1 <= min_objects <= max_objects, got {self.min_objects}, {self.max_objects}")
        if self.cue_size + self.cue_distance + self.object_max > self.size:
            raise ValueError(
                f"size {self.size} too small: cue_size + cue_distance + object_max = "
                f"{self.cue_size + self.cue_distance + self.object_max} px must fit in the image"
            )

    @property
    def class_names(self) -> tuple[str, ...]:
        """Label names: 'background' then one per cue colour."""
        return ("background",) + CUE_NAMES[: self.num_classes]


#: a CI-sized variant (notebooks 04 and 06 in CI mode): 2 classes at 96 px, 400 + 60 images; with the quickstart's
#: recipe ANN passes its local ceiling (0.556) within ~100 iterations, where the default set needs 200–400
SMALL = SynthConfig(size=96, num_classes=2, cue_size=16, object_min=14, object_max=28, num_train=400, num_val=60)
#: the set where *where* matters (notebooks 02, 05, 06 and ``annkit ablation``): two cues, one per half, written
#: under data/synthetic_sides; a global average knows which two colours are present but not which half has which
SIDES = SynthConfig(layout="sides", min_objects=2, max_objects=4, object_min=16, object_max=28, num_train=2000)
#: the data/<name> folders of the named configurations
NAMED = {"synthetic": SynthConfig(), "synthetic_sides": SIDES}


def _gap(start: np.ndarray, length: int, other_start: int, other_length: int) -> np.ndarray:
    """Pixel distance along one axis between spans [start, start+length) and [other, other+other_length)."""
    return np.maximum.reduce(
        [np.zeros_like(start), start - (other_start + other_length - 1), other_start - (start + length - 1)]
    )


def _shape_mask(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A random rectangle, ellipse or triangle filling an (height, width) box: bool (height, width)."""
    kind = rng.integers(3)
    ys, xs = np.mgrid[0:height, 0:width]
    u, v = (xs + 0.5) / width, (ys + 0.5) / height  # box coordinates in (0, 1)
    if kind == 0:
        return np.ones((height, width), dtype=bool)
    if kind == 1:
        return (u - 0.5) ** 2 + (v - 0.5) ** 2 <= 0.25
    apex = rng.uniform()  # triangle: apex on the top edge at u = apex, base along the bottom edge
    return (u >= apex * (1 - v)) & (u <= apex + (1 - apex) * v)


def _upsample(size: int, coarse: int) -> np.ndarray:
    """Bilinear interpolation matrix (size, coarse), align_corners=False: fine = A @ coarse @ A.T."""
    position = np.clip((np.arange(size) + 0.5) * coarse / size - 0.5, 0, coarse - 1)
    low = np.floor(position).astype(int)
    weight = position - low
    matrix = np.zeros((size, coarse))
    matrix[np.arange(size), low] += 1 - weight
    matrix[np.arange(size), np.minimum(low + 1, coarse - 1)] += weight
    return matrix


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Smooth low-saturation noise: (size, size, 3) float64 around [60, 190]."""
    coarse = rng.uniform(60, 190, (6, 6, 1)) + rng.normal(0, 10, (6, 6, 3))  # grey level + a little tint
    upsample = _upsample(size, 6)  # (size, 6)
    smooth = (upsample @ coarse.transpose(2, 0, 1) @ upsample.T).transpose(1, 2, 0)  # (size, size, 3)
    return smooth + rng.normal(0, 6, (size, size, 3))


def _cues(config: SynthConfig, rng: np.random.Generator) -> list[tuple[int, int, int, int, int]]:
    """The cues of one image, (y, x, height, width, class) each; their pixels are background (0) in the mask.

    band: one band of class c ~ U{1..K} along a random edge. sides: two cue_size squares on the top (or, with
    probability ½, the bottom) edge, one in each half, ``CUE_INSET`` px from the side edge and the midline, of two
    distinct classes drawn in random order — every ordered pair equally likely, so a colour says nothing about its
    half.
    """
    size, cue = config.size, config.cue_size
    if config.layout == "band":
        label, side, far = int(rng.integers(1, config.num_classes + 1)), int(rng.integers(4)), size - cue
        return [[(0, 0, cue, size), (far, 0, cue, size), (0, 0, size, cue), (0, far, size, cue)][side] + (label,)]
    left, right = (int(c) + 1 for c in rng.choice(config.num_classes, 2, replace=False))
    row, width = 0 if rng.integers(2) == 0 else size - cue, size // 2 - 2 * CUE_INSET
    return [(row, CUE_INSET, cue, width, left), (row, size // 2 + CUE_INSET, cue, width, right)]


def _halves(image: np.ndarray, dark_left: bool) -> np.ndarray:
    """sides layout: squeeze the background's grey levels toward mid-grey, then shift one half dark and the other
    bright by ``HALF_SHIFT`` — the mark by which a pixel (and an anchor) tells which half it is in."""
    size = image.shape[1]
    left = (np.arange(size) < size // 2)[None, :, None]  # (1, W, 1)
    shift = np.where(left == dark_left, -HALF_SHIFT, HALF_SHIFT)
    return 0.4 * (image - 125.0) + 125.0 + shift


def sample(config: SynthConfig, split: str, index: int) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Sample ``index`` of ``split``: image (H, W, 3) uint8, mask (H, W) uint8 of class ids, and the cue classes
    (left to right; what a global average can know is this tuple *as a set*).

    Deterministic: the random stream is seeded by (seed, split, index), so samples are independent of each
    other and of the order in which they are made.
    """
    rng = np.random.default_rng([config.seed, SPLITS.index(split), index])
    size, half = config.size, config.size // 2
    cues = _cues(config, rng)
    sides = config.layout == "sides"
    dark_left = sides and bool(rng.integers(2))  # which half is dark (independent of the colours)
    starts = np.arange(size)
    for _attempt in range(1000):  # rejection sampling: draw the objects again until they all fit
        boxes: list[tuple[int, int, int, int, int]] = []  # (y, x, height, width, class)
        first_side = int(rng.integers(2)) if sides else 0
        for number in range(int(rng.integers(config.min_objects, config.max_objects + 1))):
            height, width = (int(v) for v in rng.integers(config.object_min, config.object_max + 1, 2))
            ys, xs = starts[: size - height + 1, None], starts[None, : size - width + 1]
            allowed = np.ones((ys.size, xs.size), dtype=bool)
            for cue_y, cue_x, cue_h, cue_w, _ in cues:  # every object pixel ≥ cue_distance from every cue pixel
                allowed &= (
                    np.maximum(_gap(ys, height, cue_y, cue_h), _gap(xs, width, cue_x, cue_w)) >= config.cue_distance
                )
            label = cues[0][4]
            if sides:  # objects alternate between the halves and take their half's cue
                side = (first_side + number) % 2
                allowed &= xs >= half + MIDLINE_MARGIN if side else xs + width <= half - MIDLINE_MARGIN
                label = cues[side][4]
            for y, x, h, w, _ in boxes:  # keep ≥ 2 px between objects
                allowed &= np.maximum(_gap(ys, height, y, h), _gap(xs, width, x, w)) >= 2
            candidates = np.flatnonzero(allowed)
            if candidates.size == 0:
                break
            y, x = np.unravel_index(rng.choice(candidates), allowed.shape)
            boxes.append((int(y), int(x), height, width, label))
        else:
            break
    else:
        raise ValueError(
            f"{config}: {config.max_objects} objects of up to {config.object_max} px do not fit "
            f"≥ {config.cue_distance} px from the cues; use fewer or smaller objects or a larger size"
        )
    image = _background(rng, size)  # (H, W, 3)
    if sides:
        image = _halves(image, dark_left)
    mask = np.zeros((size, size), dtype=np.uint8)
    ys, xs = np.mgrid[0:size, 0:size]
    checker = np.where(((ys // 3) + (xs // 3)) % 2 == 0, 200.0, 70.0)  # the shared grey object texture
    for y, x, height, width, label in boxes:
        inside = _shape_mask(rng, height, width)
        window = (slice(y, y + height), slice(x, x + width))
        shade = checker[window] + rng.normal(0, 8, (height, width))
        image[window][inside] = shade[inside][:, None]
        mask[window][inside] = label
    for cue_y, cue_x, cue_h, cue_w, label in cues:
        colour = np.array(CUE_COLORS[label - 1], dtype=np.float64)
        band = (slice(cue_y, cue_y + cue_h), slice(cue_x, cue_x + cue_w))
        light = (checker[band] > 100)[..., None]  # the cue wears the objects' checkerboard, in colour
        image[band] = np.where(light, colour, CUE_DARK * colour)
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return image, mask, tuple(label for *_, label in cues)


def render(config: SynthConfig, split: str, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``index`` of ``split``: image (H, W, 3) uint8 and mask (H, W) uint8 of class ids (see ``sample``)."""
    image, mask, _ = sample(config, split, index)
    return image, mask


def write_synthetic(
    root: str | Path = "data/synthetic", config: SynthConfig = SynthConfig(), progress: bool = False, threads: int = 4
) -> Path:
    """Write the set in VOC layout under ``root``; returns ``root``.

    Layout: JPEGImages/<name>.jpg, SegmentationClass/<name>.png (VOC palette PNG of class ids),
    ImageSets/Segmentation/{train,val}.txt, and synthetic.json (the config, class names, local ceiling).
    Same config → byte-identical files (each sample has its own seed, so the ``threads`` that write
    them in parallel — file creation is the slow part — cannot change a byte).
    """
    root = Path(root)
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / folder).mkdir(parents=True, exist_ok=True)

    def write_one(job: tuple[str, int]) -> tuple[np.ndarray, tuple[int, ...]]:
        split, index = job
        image, mask, cues = sample(config, split, index)
        name = f"{split}_{index:06d}"
        Image.fromarray(image).save(root / "JPEGImages" / f"{name}.jpg", quality=95, subsampling=0)
        save_mask(mask, root / "SegmentationClass" / f"{name}.png")
        return mask, cues

    jobs = [(split, index) for split in SPLITS for index in range(getattr(config, f"num_{split}"))]
    with ThreadPoolExecutor(threads) as pool:
        masks = pool.map(write_one, jobs)
        if progress:
            from tqdm import tqdm

            masks = tqdm(masks, total=len(jobs), desc="synthetic set", unit="img", mininterval=1.0)
        val = [made for (split, _), made in zip(jobs, masks) if split == "val"]
    for split in SPLITS:
        names = [f"{split}_{index:06d}\n" for index in range(getattr(config, f"num_{split}"))]
        (root / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("".join(names))
    meta = dict(
        config=asdict(config),
        class_names=list(config.class_names),
        baseline_radius=BASELINE_RADIUS,
        val_local_ceiling=local_ceiling([mask for mask, _ in val], config.num_classes),
        val_global_ceiling=global_ceiling([mask for mask, _ in val], [cues for _, cues in val], config.num_classes),
    )
    (root / "synthetic.json").write_text(json.dumps(meta, indent=2) + "\n")
    return root


def ensure_synthetic(root: str | Path, config: SynthConfig = SynthConfig(), progress: bool = False) -> dict:
    """The metadata (synthetic.json) of the set under ``root`` made with ``config``; the set is written first if
    it is missing or was made with other knobs (then ``root`` is emptied and rewritten — keep it for this set)."""
    root = Path(root)
    meta_file = root / "synthetic.json"
    if meta_file.is_file():
        meta = json.loads(meta_file.read_text())
        if {"layout": "band", **meta.get("config", {})} == asdict(config):  # sets from before layouts were band sets
            return meta
        shutil.rmtree(root)  # a synthetic set made with other knobs
    elif root.is_dir() and any(root.iterdir()):
        raise FileExistsError(
            f"{root} holds files but no synthetic.json; expected an empty or missing folder, "
            "or a synthetic set to replace"
        )
    write_synthetic(root, config, progress=progress)
    return json.loads(meta_file.read_text())


def describe(root: str | Path) -> str:
    """One paragraph about the synthetic set written at ``root`` (from its ``synthetic.json``)."""
    meta = json.loads((Path(root) / "synthetic.json").read_text())
    config = meta["config"]
    return (
        f"synthetic long-range set at {root}: {config['num_train']} train + {config['num_val']} val images, "
        f"{config['size']}×{config['size']} px, {config['num_classes']} object classes "
        f"({', '.join(meta['class_names'][1:])}) + background, seed {config['seed']}\n"
        f"  cue ≥ {config['cue_distance']} px from every object pixel; the local FCN baseline sees "
        f"{meta['baseline_radius']} px\n"
        f"  local ceiling (best mIoU without long-range context, val): {meta['val_local_ceiling']:.3f}\n"
        f"  one-global-average ceiling (best mIoU knowing the cue colours, not their places, val): "
        f"{meta['val_global_ceiling']:.3f}"
    )
