"""The synthetic long-range set: deterministic bytes, the cue stays out of the local baseline's reach, and
no local predictor beats the stated ceiling (while the same predictor does when the cue is near)."""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from annkit.cli import main
from annkit.data import SMALL as CI_SET
from annkit.data import (
    SynthConfig,
    ensure_synthetic,
    local_ceiling,
    segmentation_folder,
    write_synthetic,
)
from annkit.data.ceilings import global_ceiling, miou_of_fractions, type_counts
from annkit.data.synthetic import BASELINE_RADIUS, CUE_COLORS, MIDLINE_MARGIN, SIDES, render, sample

SMALL = SynthConfig(num_train=12, num_val=6, seed=7)


def digests(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    first, second = digests(write_synthetic(tmp_path / "a", SMALL)), digests(write_synthetic(tmp_path / "b", SMALL))
    assert first == second and len(first) == 2 * 18 + 3
    other = digests(write_synthetic(tmp_path / "c", SynthConfig(num_train=12, num_val=6, seed=8)))
    assert other["JPEGImages/train_000000.jpg"] != first["JPEGImages/train_000000.jpg"]


def test_ensure_synthetic_writes_reuses_and_replaces_only_synthetic_sets(tmp_path: Path) -> None:
    root = tmp_path / "set"
    meta = ensure_synthetic(root, SMALL)
    stamp = (root / "synthetic.json").stat().st_mtime_ns
    assert ensure_synthetic(root, SMALL) == meta and (root / "synthetic.json").stat().st_mtime_ns == stamp
    older = {**meta, "config": {k: v for k, v in meta["config"].items() if k != "layout"}}  # before layouts
    (root / "synthetic.json").write_text(json.dumps(older))
    assert ensure_synthetic(root, SMALL) == older  # a band set from before layouts is kept, not rewritten
    other = SynthConfig(num_train=3, num_val=2, seed=7)
    assert ensure_synthetic(root, other)["config"]["num_train"] == 3
    assert len(list((root / "JPEGImages").iterdir())) == 5  # the first set's 18 images are gone
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(FileExistsError, match=r"mine holds files but no synthetic.json"):
        ensure_synthetic(tmp_path / "mine", other)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_written_set_loads_in_voc_layout(tmp_path: Path) -> None:
    root = write_synthetic(tmp_path, SMALL)
    train = segmentation_folder(root, "train")
    assert len(train) == 12 and train.class_names == ("background", "red", "green", "blue", "yellow")
    item = train[0]
    assert item["image"].shape == (3, 128, 128) and item["name"] == "train_000000"
    assert np.array_equal(item["mask"].numpy(), render(SMALL, "train", 0)[1])  # rendered = on disk


def cue_cells(image: np.ndarray) -> np.ndarray:
    """The cue's checker cells, found in the image itself by their saturation: (H, W) bool.
    (Some dark cells may be missed: they extend the cue by < 3 px; background and objects are never this
    saturated.)"""
    rgb = image.astype(np.int16)
    return (rgb.max(-1) - rgb.min(-1)) > 100


@pytest.mark.parametrize(
    "config", [SynthConfig(), SynthConfig(size=96, cue_size=16, object_max=28, num_classes=6), CI_SET]
)
def test_cue_is_beyond_the_baseline_reach_of_every_object_pixel(config: SynthConfig) -> None:
    for index in range(40):
        image, mask = render(config, "val", index)
        labels = set(np.unique(mask)) - {0}
        assert len(labels) == 1  # one class per image …
        cue = cue_cells(image)
        assert np.array_equal(image[cue].max(0), CUE_COLORS[labels.pop() - 1])  # … named by the cue's colour
        slack = 3  # dark cells at the cue's edge
        reach = ndimage.maximum_filter(cue, size=2 * (config.cue_distance - slack) - 1)  # distance < 45 px
        assert not (reach & (mask > 0)).any()
        assert config.cue_distance - slack > BASELINE_RADIUS


def oracle_local_predictions(config: SynthConfig, count: int, radius: int = BASELINE_RADIUS) -> list[tuple]:
    """The best local predictor we can build: it knows the true background (perfect), and for an object
    pixel it reads the class off the cue's colour whenever any cue pixel lies within ``radius``; otherwise
    it must guess, and guesses uniformly at random (the optimum for balanced classes)."""
    rng = np.random.default_rng(0)
    colours = np.array(CUE_COLORS[: config.num_classes], dtype=np.float64)
    pairs = []
    for index in range(count):
        image, mask = render(config, "val", index)
        cue = cue_cells(image)
        seen = ndimage.maximum_filter(cue, size=2 * (radius + 3) + 1)  # generous: the cue's dark edge too
        cue_class = 1 + np.argmin(np.abs(colours - image[cue].max(0)).sum(1))
        guess = rng.integers(1, config.num_classes + 1, mask.shape)
        prediction = np.where(mask == 0, 0, np.where(seen, cue_class, guess))
        pairs.append((prediction, mask))
    return pairs


def miou(pairs: list[tuple], num_classes: int) -> float:
    k = num_classes + 1
    confusion = sum(np.bincount(gt.ravel().astype(int) * k + pred.ravel(), minlength=k * k) for pred, gt in pairs)
    confusion = confusion.reshape(k, k).astype(np.float64)
    iou = np.diag(confusion) / (confusion.sum(0) + confusion.sum(1) - np.diag(confusion))
    return float(np.nanmean(iou))


def test_local_oracle_stays_at_the_ceiling_and_beats_it_when_the_cue_is_near() -> None:
    config = SynthConfig(num_val=200)
    pairs = oracle_local_predictions(config, 200)
    ceiling = local_ceiling([gt for _, gt in pairs], config.num_classes)
    assert abs(ceiling - (1 + 4 / 7) / 5) < 0.005  # balanced classes: (1 + K/(2K−1)) / (K+1)
    assert ceiling - 0.03 < miou(pairs, config.num_classes) <= ceiling + 0.01
    near = SynthConfig(cue_distance=4)  # positive control: the same oracle, cue within reach
    near_pairs = oracle_local_predictions(near, 200)
    assert miou(near_pairs, 4) > local_ceiling([gt for _, gt in near_pairs], 4) + 0.1


def test_ceiling_formula_properties() -> None:
    mask = np.zeros((4, 8), dtype=np.uint8)
    mask[0, :4], mask[1, :4], mask[2, :4] = 1, 2, 3
    assert local_ceiling([mask], 3) == pytest.approx((1 + 3 / 5) / 4)
    assert local_ceiling([mask], 1) == 1.0


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="num_classes must be in 1..6"):
        SynthConfig(num_classes=7)
    with pytest.raises(ValueError, match="size 64 too small"):
        SynthConfig(size=64)
    assert main(["data", "synth", "--size", "64", "--root", "unused"]) == 2
    with pytest.raises(ValueError, match="20 objects of up to 34 px do not fit"):
        render(SynthConfig(min_objects=20, max_objects=20), "train", 0)


def test_cli_synth_and_check(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["data", "synth", "--root", str(tmp_path), "--num-train", "8", "--num-val", "4", "--seed", "1"]) == 0
    assert "local ceiling" in capsys.readouterr().out
    assert main(["data", "check", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "split train: 8 samples" in out and "OK" in out


def test_sides_layout_each_object_takes_its_halfs_cue_out_of_local_reach() -> None:
    half = SIDES.size // 2
    for index in range(40):
        image, mask, cues = sample(SIDES, "val", index)
        assert len(cues) == 2 and cues[0] != cues[1]
        cue = cue_cells(image)
        for side, columns in enumerate((slice(0, half), slice(half, None))):
            labels = set(np.unique(mask[:, columns])) - {0}
            assert labels <= {cues[side]}  # an object takes the class of the cue in its own half …
            cue_half = np.zeros_like(cue)
            cue_half[:, columns] = cue[:, columns]
            assert np.array_equal(image[cue_half].max(0), CUE_COLORS[cues[side] - 1])  # … named by its colour
        objects = mask > 0
        assert not objects[:, half - MIDLINE_MARGIN : half + MIDLINE_MARGIN].any()  # no object at the midline
        reach = ndimage.maximum_filter(cue, size=2 * (SIDES.cue_distance - 3) - 1)
        assert not (reach & objects).any()  # both cues beyond the baseline's 40 px


def test_sides_colours_say_nothing_about_the_half() -> None:
    """Every ordered pair of cue classes is (about) equally frequent, so a colour does not tell its half."""
    pairs = np.array([sample(SIDES, "train", index)[2] for index in range(600)])
    table = np.zeros((SIDES.num_classes, SIDES.num_classes))
    np.add.at(table, (pairs[:, 0] - 1, pairs[:, 1] - 1), 1)
    assert np.all(np.diag(table) == 0)
    off = table[~np.eye(SIDES.num_classes, dtype=bool)]  # 12 ordered pairs, 50 expected each
    assert ((off - 50) ** 2 / 50).sum() < 32.9  # χ² with 11 degrees of freedom, p = 0.0005


def brute_force_global_ceiling(masks: list, cue_sets: list, num_classes: int, steps: int = 26) -> float:
    """The best mIoU over a grid of per-type fractions (pairs only): what ``global_ceiling`` optimises."""
    counts = type_counts(masks, cue_sets, num_classes)
    kinds = list(counts)
    grid = np.linspace(0, 1, steps)
    best = 0.0
    for values in itertools.product(grid, repeat=len(kinds)):
        fractions = {}
        for kind, q in zip(kinds, values):
            fractions[kind] = np.zeros(num_classes)
            fractions[kind][kind[0] - 1], fractions[kind][kind[1] - 1] = q, 1 - q
        best = max(best, miou_of_fractions(counts, fractions, num_classes))
    return best


def test_global_ceiling_matches_brute_force_and_bounds_a_set_aware_oracle() -> None:
    config = SynthConfig(layout="sides", num_classes=3, min_objects=2, max_objects=4, object_min=16, object_max=28)
    made = [sample(config, "val", index) for index in range(30)]
    masks, cue_sets = [m for _, m, _ in made], [c for *_, c in made]
    rng = np.random.default_rng(1)
    for trial in range(3):  # unbalanced subsets too: the optimum is then away from ½
        chosen = rng.choice(30, 8 + 6 * trial, replace=False)
        subset = [masks[i] for i in chosen], [cue_sets[i] for i in chosen]
        exact, grid = global_ceiling(*subset, 3), brute_force_global_ceiling(*subset, 3)
        assert exact - 0.01 < grid <= exact + 1e-9  # the grid (step 0.04) comes close, never passes it
    ceiling = global_ceiling(masks, cue_sets, 3)
    assert local_ceiling(masks, 3) < ceiling < 1.0
    # an oracle that knows each image's two colours (not their halves) and guesses between them stays at the
    # ceiling; one that also knows the halves is perfect — the ceiling is about places, not colours
    guesses = [np.where(m > 0, rng.choice(c, m.shape), 0) for m, c in zip(masks, cue_sets)]
    assert miou(list(zip(guesses, masks)), 3) <= ceiling + 0.01


def test_global_ceiling_special_cases() -> None:
    made = [sample(SIDES, "val", index) for index in range(20)]
    masks = [m for _, m, _ in made]
    nothing_known = [tuple(range(1, SIDES.num_classes + 1))] * len(masks)  # one type: the local ceiling
    assert global_ceiling(masks, nothing_known, SIDES.num_classes) == pytest.approx(
        local_ceiling(masks, SIDES.num_classes), abs=1e-6
    )
    band = [sample(SynthConfig(), "val", index) for index in range(10)]  # band: the colour is the class
    assert global_ceiling([m for _, m, _ in band], [c for *_, c in band], 4) == pytest.approx(1.0)
