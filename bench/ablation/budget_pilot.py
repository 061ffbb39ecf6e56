"""Can ``annkit ablation`` fit ~10 minutes on 2 CPU cores? Learning curves of ANN on the sides set under cheaper
recipes (a half-width model, larger learning rates, batch 4, 1,000 half-width iterations) and easier variants of
the set (taller cues, two classes, 96-px images, more and smaller objects) or of the model (out conv not
zero-initialised).

    PYTHONPATH=. python bench/ablation/budget_pilot.py train [--out runs/ablation_budget] [--groups lr ...]
    PYTHONPATH=. python bench/ablation/budget_pilot.py summary [--out runs/ablation_budget]  # → budget_pilot.json

Every run is ``tiny_ann`` (AFNB + APNB, pyramid (1, 3, 6, 8)) under the ablation's recipe
(``annkit.engine.ablation.recipe``, the quickstart's: AdamW, poly decay to 0 at the last iteration, OHEM, batch 8)
with the changes in ``GRID``, evaluated every 100 (or 50) iterations on the first 100 validation images. ``half`` =
backbone channels (16, 16, 32, 32, 64, 64) and head 32 / key 16 / value 16 (0.125 CPU-s per training step vs 0.304
at full width, batch 8, one thread); ``set`` = the ``SIDES`` knobs changed (``{}``: SIDES itself). Ceilings of the
changed sets (validation, exact, local and global): cue 32 px 0.314 and 0.477; two classes 0.556 and 0.556 (with two
colours a global average knows nothing); 96 px, four classes 0.314 and 0.468; 6–8 objects of 12–20 px 0.314 and
0.471. The question is whether ANN leaves the S = 1 plateau (~0.35–0.45) within the budget for *every* seed:
10 min × 2 cores / 27 runs = 44 CPU-s per run, of which ~10 go to starting Python + torch + torchvision and to
evaluation, leaving ~270 half-width steps. Measured cost (one thread, load 1–2): 300 half-width iterations 40–60
CPU-s, 300 full-width ~110, 400 full-width 135–145, 1,000 half-width 165–180 (evaluations included); the whole grid
≈ 2.5 h on 2 cores.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from annkit.data.synthetic import SIDES, ensure_synthetic
from annkit.engine.ablation import recipe
from annkit.engine.launch import train_runs
from annkit.engine.rundir import read_metrics

HALF = {
    "model.backbone.channels": [16, 16, 32, 32, 64, 64],
    "model.head.channels": 32,
    "model.head.key_channels": 16,
    "model.head.value_channels": 16,
}
BACKBONE_HALF = {"model.backbone.channels": [16, 16, 32, 32, 64, 64]}
B4 = {"batch_size": 4, "loss.min_kept": 5000}  # half the batch, half OHEM's floor
NONZERO_OUT = {"model.head.zero_init_out": False}  # W_o random (PaddleSeg) instead of zero (official, mmseg)
CUE32, CUE40 = {"cue_size": 32}, {"cue_size": 40}
TWO = {"num_classes": 2}
PX96 = {"size": 96, "cue_size": 16, "object_min": 14, "object_max": 28}  # SMALL's geometry, sides layout
DENSE = {"min_objects": 6, "max_objects": 8, "object_min": 12, "object_max": 20}  # more object pixels per image
#: (group, iterations, evaluate every, name, model overrides, train overrides, SIDES knobs changed)
GRID = [
    *[
        ("lr", 400, 100, f"half_lr{lr}_s0", HALF, {"optimizer.lr": lr, "seed": 0}, {})
        for lr in (0.003, 0.006, 0.01, 0.02)
    ],
    ("lr", 300, 100, "half_lr0.02_s1", HALF, {"optimizer.lr": 0.02, "seed": 1}, {}),
    ("lr", 300, 100, "half_lr0.03_s0", HALF, {"optimizer.lr": 0.03, "seed": 0}, {}),
    ("lr", 300, 100, "half_lr0.03_s1", HALF, {"optimizer.lr": 0.03, "seed": 1}, {}),
    ("lr", 300, 100, "half_lr0.05_s0", HALF, {"optimizer.lr": 0.05, "seed": 0}, {}),
    ("seeds", 400, 100, "half_lr0.02_s1", HALF, {"optimizer.lr": 0.02, "seed": 1}, {}),
    ("seeds", 400, 100, "half_lr0.02_s2", HALF, {"optimizer.lr": 0.02, "seed": 2}, {}),
    ("seeds", 400, 100, "backbone_half_lr0.02_s0", BACKBONE_HALF, {"optimizer.lr": 0.02, "seed": 0}, {}),
    ("seeds", 400, 100, "backbone_half_lr0.02_s1", BACKBONE_HALF, {"optimizer.lr": 0.02, "seed": 1}, {}),
    ("seeds", 400, 100, "half_b4_lr0.01_s0", HALF, {"optimizer.lr": 0.01, "seed": 0, **B4}, {}),
    ("seeds", 400, 100, "half_b4_lr0.02_s0", HALF, {"optimizer.lr": 0.02, "seed": 0, **B4}, {}),
    ("600", 600, 100, "half_lr0.02_s1", HALF, {"optimizer.lr": 0.02, "seed": 1}, {}),
    ("600", 600, 100, "half_lr0.02_s2", HALF, {"optimizer.lr": 0.02, "seed": 2}, {}),
    ("600", 600, 100, "half_lr0.01_s1", HALF, {"optimizer.lr": 0.01, "seed": 1}, {}),
    (
        "600",
        600,
        100,
        "half_lr0.02_nodropout_s1",
        HALF | {"model.head.dropout": 0.0},
        {"optimizer.lr": 0.02, "seed": 1},
        {},
    ),
    ("600", 600, 100, "half_lr0.01_s0", HALF, {"optimizer.lr": 0.01, "seed": 0}, {}),
    ("600", 600, 100, "half_lr0.01_s2", HALF, {"optimizer.lr": 0.01, "seed": 2}, {}),
    ("600", 600, 100, "half_b4_lr0.01_s2", HALF, {"optimizer.lr": 0.01, "seed": 2, **B4}, {}),
    ("600", 600, 100, "cue32_half_lr0.01_s2", HALF, {"optimizer.lr": 0.01, "seed": 2}, CUE32),
    ("cue", 400, 100, "cue32_half_lr0.01_s0", HALF, {"optimizer.lr": 0.01, "seed": 0}, CUE32),
    ("cue", 400, 100, "cue32_half_lr0.01_s1", HALF, {"optimizer.lr": 0.01, "seed": 1}, CUE32),
    ("cue", 400, 100, "cue40_half_lr0.01_s1", HALF, {"optimizer.lr": 0.01, "seed": 1}, CUE40),
    ("cue", 400, 100, "cue40_half_lr0.01_s2", HALF, {"optimizer.lr": 0.01, "seed": 2}, CUE40),
    *[
        ("1000", 1000, 100, f"half_lr{lr}_s{s}", HALF, {"optimizer.lr": lr, "seed": s}, {})
        for s in (0, 1, 2)
        for lr in (0.003, 0.01)
    ],
    *[
        ("task", 300, 100, f"two_classes_half_lr0.01_s{s}", HALF, {"optimizer.lr": 0.01, "seed": s}, TWO)
        for s in (0, 1, 2)
    ],
    *[
        ("task", 300, 50, f"px96_two_half_lr0.01_s{s}", HALF, {"optimizer.lr": 0.01, "seed": s}, PX96 | TWO)
        for s in (0, 1)
    ],
    ("task", 300, 50, "px96_two_full_s0", {}, {"seed": 0}, PX96 | TWO),
    *[("task", 300, 50, f"px96_half_lr0.01_s{s}", HALF, {"optimizer.lr": 0.01, "seed": s}, PX96) for s in (0, 1)],
    ("task", 300, 50, "px96_full_s0", {}, {"seed": 0}, PX96),
    *[
        ("task", 300, 50, f"nonzero_out_half_lr0.01_s{s}", HALF | NONZERO_OUT, {"optimizer.lr": 0.01, "seed": s}, {})
        for s in (0, 1, 2)
    ],
    *[("task", 300, 50, f"nonzero_out_full_s{s}", NONZERO_OUT, {"seed": s}, {}) for s in (0, 1)],
    *[("task", 400, 100, f"dense_full_s{s}", {}, {"seed": s}, DENSE) for s in (0, 1)],
    *[("task", 400, 100, f"dense_half_lr0.01_s{s}", HALF, {"optimizer.lr": 0.01, "seed": s}, DENSE) for s in (0, 1)],
]


def folder(out: Path, group: str, name: str) -> Path:
    """The run folder of one grid entry."""
    return out / group / name


def set_name(knobs: dict) -> str:
    """The data/<name> folder of SIDES with ``knobs`` changed."""
    return "synthetic_sides" + "".join(f"_{key}{value}" for key, value in sorted(knobs.items()))


def train(out: Path, data_root: Path, groups: list[str] | None = None) -> None:
    """Train every grid entry of ``groups`` (default: all), two single-thread processes at a time, group by group."""
    chosen = [entry for entry in GRID if groups is None or entry[0] in groups]
    sets = {set_name(entry[6]): entry[6] for entry in chosen}  # folder name → SIDES knobs, each set once
    for name, knobs in sets.items():
        ensure_synthetic(data_root / name, replace(SIDES, **knobs))
    for group in dict.fromkeys(entry[0] for entry in chosen):
        entries = [entry for entry in chosen if entry[0] == group]
        runs = {}
        for _, iterations, every, name, model, changes, knobs in entries:
            settings = recipe(data_root / set_name(knobs), iterations, every, 100) | {
                f"train.{k}": v for k, v in changes.items()
            }
            runs[folder(out, group, name)] = ("tiny_ann", settings | model)
        train_runs(runs, max(entry[1] for entry in entries), workers=2)


def summary(out: Path) -> dict:
    """Every run's mIoU at each evaluation, read from its metrics.jsonl; written to budget_pilot.json."""
    rows = []
    for group, iterations, _, name, model, changes, knobs in GRID:
        evals = read_metrics(folder(out, group, name), "eval")
        curve = {e["iteration"]: round(e["miou"], 3) for e in evals}
        rows.append(
            {
                "group": group,
                "iterations": iterations,
                "name": name,
                "set": knobs,
                "model": model,
                "train": changes,
                "miou": curve,
            }
        )
        print(f"{group:5s} {iterations:4d} it  {name:30s} " + "  ".join(f"{it}: {m:.3f}" for it, m in curve.items()))
    left = [row for row in rows if max(row["miou"].values()) >= 0.85]
    print(f"{len(left)} of {len(rows)} runs left the plateau (≥ 0.85): {[row['name'] for row in left]}")
    return {"runs": rows}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=("train", "summary"))
    parser.add_argument("--out", type=Path, default=Path("runs/ablation_budget"))
    parser.add_argument("--data-root", type=Path, default=Path("data"))
    parser.add_argument(
        "--groups", nargs="+", choices=sorted({entry[0] for entry in GRID}), help="(train) default: all"
    )
    args = parser.parse_args()
    if args.step == "train":
        train(args.out, args.data_root, args.groups)
    else:
        result = summary(args.out)
        (Path(__file__).parent / "budget_pilot.json").write_text(json.dumps(result, indent=1) + "\n")
