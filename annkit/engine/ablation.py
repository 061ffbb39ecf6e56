"""``annkit ablation``: why APNB samples a *pyramid* — the paper's ablation on a task where anchor positions matter.

On the sides set (``annkit.data.synthetic.SIDES``: two cues of distinct colours, one per half; each object takes
its own half's cue) a single global anchor (S = 1) knows which two colours are present but not which half holds
which, so it cannot beat the set's global ceiling (0.47 mIoU for 4 classes), while spatially resolved anchors
can: an object's query matches the anchors of its own half (they share its stripes) and reads that half's cue.
The local FCN baseline cannot see any cue and stays at the local ceiling (0.31).

Variants (Zhu et al. 2019, Tables 1–3, on a CPU scale): ANN (AFNB + APNB, average pooling, pyramid (1, 3, 6, 8)),
the local baseline, max pooling, AFNB only, APNB only, and the pyramids (1,) (= S = 1), (1, 2), (1, 3),
(1, 3, 6, 8) (= ANN) and (2, 4, 8); each trained with several seeds (``train.seed``: initialisation and data
order) under the quickstart's recipe (``annkit.engine.quickstart.QUICK``) with a shorter budget (``ITERATIONS``),
all in parallel single-thread processes (``annkit.engine.launch.train_runs``), and scored on the whole validation
split. ``ablation.json`` holds every seed's mIoU, the mean and spread per variant, the two ceilings and the cost
(wall time, CPU-seconds, load); ``ablation.png`` plots it.
"""

from __future__ import annotations

import json
import os
import re
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

from annkit.data.synthetic import SIDES, SynthConfig, ensure_synthetic
from annkit.engine.launch import train_runs
from annkit.engine.quickstart import QUICK
from annkit.engine.rundir import read_metrics
from annkit.engine.trainer import check_writable
from annkit.errors import ConfigError

#: label → (preset, model overrides); every ANN variant changes one thing of "ANN (1, 3, 6, 8)"
VARIANTS: dict[str, tuple[str, dict]] = {
    "ANN (1, 3, 6, 8)": ("tiny_ann", {}),
    "S = 1, pyramid (1,)": ("tiny_ann", {"model.head.pool_sizes": [1]}),
    "local baseline (FCN)": ("tiny_fcn", {}),
    "max pooling": ("tiny_ann", {"model.head.pool_mode": "max"}),
    "AFNB only": ("tiny_ann", {"model.head.apnb": False}),
    "APNB only": ("tiny_ann", {"model.head.afnb": False}),
    "pyramid (1, 2)": ("tiny_ann", {"model.head.pool_sizes": [1, 2]}),
    "pyramid (1, 3)": ("tiny_ann", {"model.head.pool_sizes": [1, 3]}),
    "pyramid (2, 4, 8)": ("tiny_ann", {"model.head.pool_sizes": [2, 4, 8]}),
}
#: the training budget per run (the quickstart's recipe otherwise). Measured: on the sides set ANN leaves the S = 1
#: plateau late (its OHEM loss stays at the plateau's ~1.4 until iteration 300–600 of 1,000; a 1,500-iteration
#: pilot was at 0.38 mIoU at 750 and 0.92 at 1,000), so 1,000 it is — about 300 CPU-s per run, ~70 min for all 27
#: runs on 2 cores. Cheaper recipes and easier sets (``bench/ablation/budget_pilot.py``: half width, larger learning
#: rates, batch 4, taller cues, two classes, 96-px images, denser objects, a non-zero out conv) left the plateau with
#: some seeds, never with all three (README, "Ablation: why a pyramid")
ITERATIONS = 1000
SEEDS = (0, 1, 2)


def recipe(data_root: str | Path, iterations: int, eval_every: int, eval_images: int) -> dict[str, Any]:
    """The ablation's training settings as dotted ``train.*`` overrides: the quickstart's recipe (``QUICK``) on the
    folder set at ``data_root`` for ``iterations``, evaluated every ``eval_every`` on ``eval_images`` images."""
    settings = {
        **QUICK,
        "dataset": "folder",
        "data_root": str(data_root),
        "iterations": iterations,
        "eval_every": eval_every,
        "eval.max_images": eval_images,
        "checkpoint_every": iterations,
    }
    return {f"train.{key}": value for key, value in settings.items()}


def run_name(label: str, seed: int) -> str:
    """The folder of one run: the label in lower case with non-word runs as '_', then the seed."""
    return re.sub(r"\W+", "_", label.lower()).strip("_") + f"_seed{seed}"


def finished(folder: Path, iterations: int) -> bool:
    """Whether ``folder`` holds a run evaluated at ``iterations`` with its final weights (an extended or interrupted
    ablation trains only what is missing; ``cost`` then counts only the runs it trained)."""
    if not (folder / "final.pt").is_file() or not (folder / "metrics.jsonl").is_file():
        return False
    evals = read_metrics(folder, "eval")
    return bool(evals) and evals[-1]["iteration"] == iterations


def run(
    out: str | Path = "runs/ablation",
    data_root: str | Path = "data",
    iterations: int = ITERATIONS,
    seeds: tuple[int, ...] = SEEDS,
    variants: tuple[str, ...] | None = None,
    workers: int | None = None,
    progress: bool = True,
    synth: SynthConfig = SIDES,
) -> dict:
    """Train every variant with every seed on the sides set and write ``out/ablation.json`` + ``ablation.png``.

    ``variants``: labels of ``VARIANTS`` (default: all); ``workers``: parallel single-thread trainings (default:
    the CPU count); ``synth``: the set (a sides layout; tests use a tiny one). Returns what ``ablation.json`` holds.
    """
    start, load_before = time.perf_counter(), os.getloadavg()
    out, data_root = Path(out), Path(data_root)
    chosen = tuple(VARIANTS) if variants is None else variants
    unknown = [label for label in chosen if label not in VARIANTS]
    if unknown:
        raise ConfigError(f"annkit ablation: unknown variants {unknown}; expected labels of {list(VARIANTS)}")
    if not seeds or synth.layout != "sides":
        raise ConfigError(f"annkit ablation: needs at least one seed and a sides set, got {seeds}, {synth.layout!r}")
    check_writable(out)
    folder = data_root / "synthetic_sides"
    meta = ensure_synthetic(folder, synth, progress=progress)
    settings = recipe(folder, iterations, iterations, synth.num_val)
    runs = {}
    for label in chosen:
        preset, change = VARIANTS[label]
        for seed in seeds:
            runs[out / run_name(label, seed)] = (preset, settings | {"train.seed": seed} | change)
    reused = [folder for folder in runs if finished(folder, iterations)]
    to_train = {folder: job for folder, job in runs.items() if folder not in reused}
    if reused:
        print(f"{len(reused)} of {len(runs)} runs already finished in {out}: kept, not retrained")
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    if to_train:
        train_runs(to_train, iterations, workers=workers or os.cpu_count() or 1, progress=progress)
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    results = {
        "set": {"root": str(folder), **{k: meta[k] for k in ("config", "val_local_ceiling", "val_global_ceiling")}},
        "iterations": iterations,
        "seeds": list(seeds),
        "variants": {},
    }
    for label in chosen:
        scores = [read_metrics(out / run_name(label, seed), "eval")[-1]["miou"] for seed in seeds]
        results["variants"][label] = {
            "overrides": VARIANTS[label][1],
            "preset": VARIANTS[label][0],
            "miou": scores,
            "mean": float(np.mean(scores)),
            "min": float(np.min(scores)),
            "max": float(np.max(scores)),
        }
    results["cost"] = {
        "wall_s": round(time.perf_counter() - start, 1),
        "cpu_s": round(cpu_s, 1),
        "cpu_s_per_run": round(cpu_s / len(to_train), 1) if to_train else None,
        "runs": len(runs),
        "runs_trained": len(to_train),
        "workers": workers or os.cpu_count() or 1,
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
    }
    (out / "ablation.json").write_text(json.dumps(results, indent=2) + "\n")
    from annkit.engine.report import plot_ablation  # plotting (matplotlib) only here

    plot_ablation(results).savefig(out / "ablation.png", dpi=110)
    for label, entry in results["variants"].items():
        print(f"{label:>22s}: mIoU {entry['mean']:.3f} (seeds {', '.join(f'{s:.3f}' for s in entry['miou'])})")
    print(
        f"ceilings: local {meta['val_local_ceiling']:.3f}, one global average {meta['val_global_ceiling']:.3f}; "
        f"{results['cost']['wall_s']:.0f} s wall for {len(to_train)} trained runs; "
        f"{out / 'ablation.json'}, {out / 'ablation.png'}"
    )
    return results
