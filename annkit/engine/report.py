"""The quickstart's report: ``report.md`` with learning curves, the mIoU table, sample predictions and one
attention map (where an object pixel of ANN's AFNB looks — in the trained quickstart model, largely at the
far-away colour cue; its APNB then looks mostly at other objects).

It is the one place the engine draws (matplotlib, ``annkit.viz``): the quickstart writes the report, notebook 04
shows the same curves and samples. Figures are returned, never shown; the caller picks the backend.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from annkit import models, viz
from annkit.data import colorize, segmentation_folder
from annkit.engine.trainer import read_metrics


def plot_curves(runs: dict[str, Path], ceiling: float, eval_images: int) -> plt.Figure:
    """Training loss and validation mIoU (on ``eval_images`` images) against iteration, one line per model."""
    fig, (loss_ax, miou_ax) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    for label, run in runs.items():
        train = read_metrics(run, "train")
        loss_ax.plot([r["iteration"] for r in train], [r["loss"] for r in train], label=label)
        evals = read_metrics(run, "eval")
        miou_ax.plot([r["iteration"] for r in evals], [r["miou"] for r in evals], marker="o", label=label)
    miou_ax.axhline(ceiling, color="grey", linestyle="--", label=f"local ceiling {ceiling:.3f}")
    loss_ax.set(
        xlabel="iteration", ylabel="training loss", yscale="log", title="training loss (OHEM: hard pixels only)"
    )
    miou_ax.set(xlabel="iteration", ylabel="mIoU", ylim=(0, 1), title=f"validation mIoU ({eval_images} images)")
    for ax in (loss_ax, miou_ax):
        ax.legend(fontsize=8)
    return fig


def plot_samples(
    images: list[np.ndarray], truths: list[np.ndarray], predictions: dict[str, list[np.ndarray]]
) -> plt.Figure:
    """Rows = samples; columns = image, ground truth, each model's prediction (VOC palette colours)."""
    columns = ["image", "ground truth", *predictions]
    fig, axes = plt.subplots(
        len(images), len(columns), figsize=(2.6 * len(columns), 2.6 * len(images)), layout="constrained", squeeze=False
    )
    for row, (image, truth) in enumerate(zip(images, truths)):
        panels = [image, colorize(truth), *(colorize(p[row]) for p in predictions.values())]
        for col, (panel, title) in enumerate(zip(panels, columns)):
            axes[row, col].imshow(panel)
            axes[row, col].set_axis_off()
            if row == 0:
                axes[row, col].set_title(title, fontsize=9)
    return fig


def _object_pixel(mask: np.ndarray) -> tuple[float, float]:
    """(x, y) of the object pixel nearest the centroid of all object pixels."""
    ys, xs = np.nonzero(mask > 0)
    nearest = np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2)
    return float(xs[nearest]), float(ys[nearest])


def _distinct_samples(dataset, count: int) -> list[dict]:
    """The first ``count`` samples whose object classes differ from each other (first of each class)."""
    chosen, seen = [], set()
    for index in range(len(dataset)):
        sample = dataset.load(index)
        classes = frozenset(sample["mask"].unique().tolist()) - {0, 255}
        if classes not in seen or len(dataset) - index <= count - len(chosen):
            chosen.append(sample)
            seen.add(classes)
        if len(chosen) == count:
            break
    return chosen


def write_report(out: Path, results: dict, data_dir: Path, samples: int = 3) -> Path:
    """Write ``report.md`` and its PNGs under ``out`` from the runs in ``out/<preset>``; returns the path."""
    runs = {label: out / entry["preset"] for label, entry in results["models"].items()}
    val = segmentation_folder(data_dir, "val")
    curve_images = min(results["curve_images"], len(val))
    plot_curves(runs, results["local_ceiling"], curve_images).savefig(out / "learning_curves.png", dpi=110)
    trained = {label: models.load(run / "final.pt") for label, run in runs.items()}
    raw = _distinct_samples(val, samples)
    images = [s["image"].permute(1, 2, 0).numpy() for s in raw]
    truths = [s["mask"].numpy() for s in raw]
    predictions = {}
    with torch.no_grad():
        for label, model in trained.items():
            batch = model.normalize(torch.stack([s["image"] for s in raw]).float() / 255)
            predictions[label] = list(model(batch).argmax(1).byte().numpy())
    plot_samples(images, truths, predictions).savefig(out / "samples.png", dpi=110)
    ann = next(model for model in trained.values() if model.config.head.name == "ann")
    capture = viz.capture_attention(ann, raw[0]["image"])
    block = list(capture.blocks)[0]  # AFNB, the head's first attention block: where the cue is fetched
    point = _object_pixel(truths[0])
    viz.plot_query(capture, block, point).savefig(out / "attention.png", dpi=100)
    plt.close("all")

    names = list(next(iter(results["models"].values()))["iou"])
    header = "| model | mIoU | pixel acc. | " + " | ".join(names) + " |"
    rows = [header, "|" + "---|" * (len(names) + 3)]
    for label, entry in results["models"].items():
        ious = " | ".join(f"{entry['iou'][n]:.3f}" for n in names)
        rows.append(
            f"| {label} (`{entry['preset']}`) | **{entry['miou']:.3f}** | {entry['pixel_accuracy']:.3f} | {ious} |"
        )
    text = f"""# annkit quickstart: does long-range context need attention?

Each synthetic image holds grey checkerboard objects whose class is written only in a coloured band along one edge,
at least {results["cue_distance"]} px away. The tiny backbone + FCN head (the local baseline) sees at most
{results["baseline_radius"]} px around a pixel, so it
cannot know an object's class: its best possible mIoU is the **local ceiling, {results["local_ceiling"]:.3f}**.
ANN adds AFNB and APNB (Zhu et al., ICCV 2019): every pixel attends to 110 pyramid-pooled anchors covering the
whole image, the cue included. Both models: same backbone, data, recipe and {results["iterations"]} iterations
(batch 8, AdamW + poly, OHEM cross-entropy, CPU).

## Validation ({len(val)} images, whole-image inference)

{chr(10).join(rows)}

Wall time of data check, both trainings (side by side) and both evaluations: {results["train_wall_s"]:.0f} s.

## Learning curves

![learning curves](learning_curves.png)

## Sample predictions

![samples](samples.png)

## Where does an object pixel look?

AFNB attention (block `{block}`, the first of ANN's two blocks) of the object pixel x={point[0]:.0f},
y={point[1]:.0f} of `{raw[0]["name"]}`: the heat map back-projects its attention over the 110 pyramid anchors
onto the image. Look for weight on the coloured band at the image edge — the only place the class is written.
(The second block, APNB `head.context`, tends to look at the other objects instead; try `--block head.context`.)

![attention](attention.png)

Reproduce: `annkit quickstart`; explore: `annkit viz attention --checkpoint {runs[next(iter(runs))] / "final.pt"} \
--image {data_dir / "JPEGImages" / (raw[0]["name"] + ".jpg")} --point {point[0]:.0f} {point[1]:.0f} --out attention.png`.
"""
    path = out / "report.md"
    path.write_text(text)
    return path


def plot_ablation(results: dict) -> plt.Figure:
    """The ablation (``annkit.engine.ablation``) on one axis: per variant every seed's mIoU (dots), the mean (bar)
    and the seeds' range (whisker), with the set's local and one-global-average ceilings as dashed lines."""
    variants = results["variants"]
    fig, ax = plt.subplots(figsize=(10, 4.2), layout="constrained")
    x = np.arange(len(variants))
    means = [entry["mean"] for entry in variants.values()]
    spread = np.array([[e["mean"] - e["min"], e["max"] - e["mean"]] for e in variants.values()]).T  # (2, V)
    ax.bar(x, means, color="#bcd4e6", edgecolor="#4a7fa8", width=0.6, label="mean over seeds")
    ax.errorbar(x, means, yerr=spread, fmt="none", ecolor="black", capsize=5, label="seeds' range (min–max)")
    for i, entry in enumerate(variants.values()):
        offsets = np.linspace(-0.15, 0.15, len(entry["miou"])) if len(entry["miou"]) > 1 else [0.0]
        ax.plot(i + np.asarray(offsets), entry["miou"], "o", color="#c0392b", markersize=4, zorder=3)
    ax.plot([], [], "o", color="#c0392b", markersize=4, label="one seed")
    ceilings = results["set"]
    ax.axhline(ceilings["val_local_ceiling"], color="grey", linestyle="--", label="local ceiling")
    ax.axhline(ceilings["val_global_ceiling"], color="#8e44ad", linestyle="--", label="one-global-average ceiling")
    ax.set_xticks(x, list(variants), rotation=25, ha="right", fontsize=8)
    ax.set(
        ylabel="validation mIoU",
        ylim=(0, 1),
        title=f"ablation on the sides set: {results['iterations']} iterations, seeds {results['seeds']}",
    )
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: bars reach the top
    return fig
