"""Can ``annkit ablation`` fit ~10 minutes on 2 CPU cores? Learning curves of ANN on the sides set under cheaper
recipes: a half-width model, larger learning rates, batch 4, larger cues.

    PYTHONPATH=. python bench/ablation/budget_pilot.py train [--out runs/ablation_budget]    # 26 runs, 38 min (load 3-4)
    PYTHONPATH=. python bench/ablation/budget_pilot.py summary [--out runs/ablation_budget]  # → budget_pilot.json

Every run is ``tiny_ann`` (AFNB + APNB, pyramid (1, 3, 6, 8)) under the ablation's recipe
(``annkit.engine.ablation.recipe``, the quickstart's: AdamW, poly decay to 0 at the last iteration, OHEM, batch 8,
128² images) with the changes in ``GRID``, evaluated every 100 iterations on the first 100 validation images. ``half`` = backbone
channels (16, 16, 32, 32, 64, 64) and head 32 / key 16 / value 16 (0.125 CPU-s per training step vs 0.304 at full
width, batch 8, one thread); ``cue`` = ``SIDES`` with taller cue blocks (the ceilings barely move: local 0.314,
global 0.477 at cue 32). The question is whether ANN leaves the S = 1 plateau (~0.35–0.45) within the budget for
*every* seed: 10 min × 2 cores / 27 runs = 44 CPU-s per run, of which ~10 go to starting Python + torch +
torchvision and to evaluation, leaving ~270 half-width steps.
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
#: (group, iterations, name, model overrides, train overrides, cue size)
GRID = [
    *[("lr", 400, f"half_lr{lr}_s0", HALF, {"optimizer.lr": lr, "seed": 0}, 20) for lr in (0.003, 0.006, 0.01, 0.02)],
    ("lr", 300, "half_lr0.02_s1", HALF, {"optimizer.lr": 0.02, "seed": 1}, 20),
    ("lr", 300, "half_lr0.03_s0", HALF, {"optimizer.lr": 0.03, "seed": 0}, 20),
    ("lr", 300, "half_lr0.03_s1", HALF, {"optimizer.lr": 0.03, "seed": 1}, 20),
    ("lr", 300, "half_lr0.05_s0", HALF, {"optimizer.lr": 0.05, "seed": 0}, 20),
    ("seeds", 400, "half_lr0.02_s1", HALF, {"optimizer.lr": 0.02, "seed": 1}, 20),
    ("seeds", 400, "half_lr0.02_s2", HALF, {"optimizer.lr": 0.02, "seed": 2}, 20),
    ("seeds", 400, "backbone_half_lr0.02_s0", BACKBONE_HALF, {"optimizer.lr": 0.02, "seed": 0}, 20),
    ("seeds", 400, "backbone_half_lr0.02_s1", BACKBONE_HALF, {"optimizer.lr": 0.02, "seed": 1}, 20),
    ("seeds", 400, "half_b4_lr0.01_s0", HALF, {"optimizer.lr": 0.01, "seed": 0, **B4}, 20),
    ("seeds", 400, "half_b4_lr0.02_s0", HALF, {"optimizer.lr": 0.02, "seed": 0, **B4}, 20),
    ("600", 600, "half_lr0.02_s1", HALF, {"optimizer.lr": 0.02, "seed": 1}, 20),
    ("600", 600, "half_lr0.02_s2", HALF, {"optimizer.lr": 0.02, "seed": 2}, 20),
    ("600", 600, "half_lr0.01_s1", HALF, {"optimizer.lr": 0.01, "seed": 1}, 20),
    ("600", 600, "half_lr0.02_nodropout_s1", HALF | {"model.head.dropout": 0.0}, {"optimizer.lr": 0.02, "seed": 1}, 20),
    ("600", 600, "half_lr0.01_s0", HALF, {"optimizer.lr": 0.01, "seed": 0}, 20),
    ("600", 600, "half_lr0.01_s2", HALF, {"optimizer.lr": 0.01, "seed": 2}, 20),
    ("600", 600, "half_b4_lr0.01_s2", HALF, {"optimizer.lr": 0.01, "seed": 2, **B4}, 20),
    ("600", 600, "cue32_half_lr0.01_s2", HALF, {"optimizer.lr": 0.01, "seed": 2}, 32),
    ("cue", 400, "cue32_half_lr0.01_s0", HALF, {"optimizer.lr": 0.01, "seed": 0}, 32),
    ("cue", 400, "cue32_half_lr0.01_s1", HALF, {"optimizer.lr": 0.01, "seed": 1}, 32),
    ("cue", 400, "cue40_half_lr0.01_s1", HALF, {"optimizer.lr": 0.01, "seed": 1}, 40),
    ("cue", 400, "cue40_half_lr0.01_s2", HALF, {"optimizer.lr": 0.01, "seed": 2}, 40),
]


def folder(out: Path, group: str, name: str) -> Path:
    """The run folder of one grid entry."""
    return out / group / name


def train(out: Path, data_root: Path) -> None:
    """Train every grid entry (two single-thread processes at a time), group by group."""
    roots = {}
    for cue in sorted({entry[5] for entry in GRID}):
        name = "synthetic_sides" if cue == SIDES.cue_size else f"synthetic_sides_cue{cue}"
        ensure_synthetic(data_root / name, replace(SIDES, cue_size=cue))
        roots[cue] = str(data_root / name)
    for group in dict.fromkeys(entry[0] for entry in GRID):
        entries = [entry for entry in GRID if entry[0] == group]
        iterations = entries[0][1]
        runs = {}
        for _, _, name, model, changes, cue in entries:
            settings = recipe(roots[cue], iterations, 100, 100) | {f"train.{k}": v for k, v in changes.items()}
            runs[folder(out, group, name)] = ("tiny_ann", settings | model)
        train_runs(runs, iterations, workers=2)


def summary(out: Path) -> dict:
    """Every run's mIoU at each evaluation, read from its metrics.jsonl; written to budget_pilot.json."""
    rows = []
    for group, iterations, name, model, changes, cue in GRID:
        evals = read_metrics(folder(out, group, name), "eval")
        curve = {e["iteration"]: round(e["miou"], 3) for e in evals}
        rows.append(
            {"iterations": iterations, "name": name, "cue_size": cue, "model": model, "train": changes, "miou": curve}
        )
        print(f"{iterations:4d} it  {name:28s} " + "  ".join(f"{it}: {m:.3f}" for it, m in curve.items()))
    left = [row for row in rows if max(row["miou"].values()) >= 0.85]
    print(f"{len(left)} of {len(rows)} runs left the plateau (≥ 0.85): {[row['name'] for row in left]}")
    return {"runs": rows}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=("train", "summary"))
    parser.add_argument("--out", type=Path, default=Path("runs/ablation_budget"))
    parser.add_argument("--data-root", type=Path, default=Path("data"))
    args = parser.parse_args()
    if args.step == "train":
        train(args.out, args.data_root)
    else:
        result = summary(args.out)
        (Path(__file__).parent / "budget_pilot.json").write_text(json.dumps(result, indent=1) + "\n")
