"""``annkit quickstart``: the paper's point in minutes on a CPU — long-range context needs non-local attention.

On the synthetic long-range set (``annkit.data.synthetic``) every object's class is written only in a colour cue
at least 48 px away, beyond the 40-px reach of a purely convolutional tiny network. The quickstart trains

- **ANN** (``tiny_ann``: tiny backbone + AFNB + APNB, Zhu et al. 2019) and
- the **local baseline** (``tiny_fcn``: the same backbone + an FCN head, no context),

with the same recipe and budget, evaluates both on the validation split and writes ``runs/quickstart/report.md``
with learning curves, the mIoU table, sample predictions and one attention map. The baseline cannot beat the
set's local ceiling (0.314 mIoU for 4 classes); ANN can, because each APNB query attends to pooled anchors that
cover the cue.

Quick mode keeps the paper's OHEM cross-entropy (threshold 0.7; at least 10,000 of a batch's 131,072 pixels):
with plain cross-entropy the ~88 % easy background pixels dominate and ANN learned nothing but background in
200 iterations (batch 16), while with OHEM it reached 0.66 mIoU by then. It deviates from the recipe where a
from-scratch CPU run needs it: AdamW (lr 3e-3, poly) instead of SGD (SGD lr 0.05 stayed at 0.24 mIoU after 300
iterations), batch 8 × 600 iterations (measured: 0.90 mIoU at iteration 400, 0.91 at 500 on 100 validation
images; batch 16 with lr 2e-3 stalled at 0.68 with red objects taken for yellow), no random scaling, cropping
or colour jitter (they would move or recolour the cue).
The two trainings run side by side, one CPU thread each (small convolutions scale poorly across threads).

Why not the sides set (``annkit ablation``), which could compare ANN, S = 1 and the local baseline in one report:
there ANN needs ~1,000 iterations to leave the S = 1 plateau — three such runs on 2 cores take ~10 min, twice the
quickstart's 5-minute budget — so the quickstart keeps the band set and its two models.
"""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path

import torch

from annkit import models
from annkit.config import EvalConfig, TrainConfig, merge
from annkit.data import write_synthetic
from annkit.engine.data import build_dataset
from annkit.engine.evaluate import evaluate
from annkit.engine.launch import train_runs
from annkit.engine.trainer import check_writable

#: the two models compared: label → preset
MODELS = {"ANN (AFNB + APNB)": "tiny_ann", "local baseline (FCN)": "tiny_fcn"}
#: quick-mode overrides of the train section (see the module docstring for why they differ from the paper's)
QUICK = {
    "dataset": "synthetic",
    "train_split": "train",
    "val_split": "val",
    "crop_size": None,
    "scale_range": None,
    "photometric": False,
    "flip": True,
    "batch_size": 8,
    "iterations": 600,
    "optimizer.name": "adamw",
    "optimizer.lr": 0.003,
    "optimizer.momentum": 0.9,
    "optimizer.weight_decay": 0.0001,
    "loss.name": "ohem",
    "loss.min_kept": 10000,
    "eval_every": 100,
    "eval.max_images": 100,
    "checkpoint_every": 100,
    "log_every": 10,
    "num_workers": 0,
    "seed": 0,
}


def train_models(out: Path, overrides: dict, iterations: int, parallel: bool, progress: bool) -> None:
    """Train every model of ``MODELS`` into ``out/<preset>`` (side by side if ``parallel``)."""
    runs = {out / preset: (preset, overrides) for preset in MODELS.values()}
    train_runs(runs, iterations, workers=len(runs) if parallel else 1, progress=progress)


def run(
    out: str | Path = "runs/quickstart",
    data_root: str | Path = "data",
    iterations: int | None = None,
    parallel: bool = True,
    progress: bool = True,
) -> dict:
    """The whole quickstart; returns the results written to ``out/results.json`` (see the module docstring)."""
    start = time.perf_counter()
    out, data_root = Path(out), Path(data_root)
    check_writable(out)
    if not (data_root / "synthetic" / "synthetic.json").is_file():
        print(f"writing the synthetic long-range set to {data_root / 'synthetic'} (once)")
        write_synthetic(data_root / "synthetic", progress=progress)
    settings = {**QUICK, "data_root": str(data_root), **({"iterations": iterations} if iterations else {})}
    overrides = {f"train.{key}": value for key, value in settings.items()}
    train_models(out, overrides, settings["iterations"], parallel, progress)
    config = TrainConfig.from_dict(merge({"train": {}}, overrides)["train"])
    results = {"models": {}, "iterations": settings["iterations"], "curve_images": settings["eval.max_images"]}
    for label, preset in MODELS.items():
        model = models.load(out / preset / "final.pt")
        val = build_dataset(config, "val", False, model.config)
        scores = evaluate(model, val, EvalConfig(), model.config.num_classes, class_names=val.class_names)
        results["models"][label] = {"preset": preset, **scores}
        print(f"{label:>22s}: mIoU {scores['miou']:.3f} on {len(val)} validation images")
    meta = json.loads((data_root / "synthetic" / "synthetic.json").read_text())
    results["local_ceiling"] = meta["val_local_ceiling"]
    results["cue_distance"], results["baseline_radius"] = meta["config"]["cue_distance"], meta["baseline_radius"]
    ann, local = (results["models"][label]["miou"] for label in MODELS)
    results["train_wall_s"] = round(time.perf_counter() - start, 1)
    from annkit.engine.report import write_report  # plotting (matplotlib, annkit.viz) only here

    write_report(out, results, data_root / "synthetic")
    results["wall_s"] = round(time.perf_counter() - start, 1)
    results["threads"] = torch.get_num_threads()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the two trainings
    results["cpu_s"] = round(time.process_time() + children.ru_utime + children.ru_stime, 1)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"ANN {ann:.3f} vs local baseline {local:.3f} mIoU (local ceiling {results['local_ceiling']:.3f}); "
        f"{results['wall_s']:.0f} s wall, {results['cpu_s']:.0f} CPU-s; report: {out / 'report.md'}"
    )
    return results
