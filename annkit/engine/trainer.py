"""The training loop: the paper's recipe, iteration by iteration, safe to interrupt and to resume exactly.

One iteration: a global batch from the seeded stream → the training step (``annkit.engine.step``: forward with
autocast on GPU → OHEM CE on the main logits + 0.4 · CE on the auxiliary logits → backward with gradient scaling for
fp16, optional clipping → SGD step) → poly learning-rate step. Every ``eval_every`` iterations the model is scored (mIoU) and the best one is kept;
every ``checkpoint_every`` iterations the whole training state is written atomically to ``last.pt``.

A run directory holds: ``config.yaml`` (resolved), ``metrics.jsonl`` (one JSON object a line: kind ``train``
or ``eval``), ``last.pt`` (training state, for ``--resume``), ``best.pt`` and ``final.pt`` (model files for
``annkit eval`` / ``predict``, ``annkit.models.load``), ``summary.json``; TensorBoard events if installed.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import torch
import yaml
from tqdm import tqdm

from annkit import models
from annkit.atomic import write_text
from annkit.config import ModelConfig, TrainConfig
from annkit.engine import distributed
from annkit.engine.checkpoint import FORMAT, load_checkpoint, rng_state, seed_everything, set_rng_state
from annkit.engine.data import build_dataset, stream_loader
from annkit.engine.evaluate import evaluate, non_finite
from annkit.engine.rundir import MetricLog, RunLock, TrainingError, claim, read_metrics
from annkit.engine.schedule import build_scheduler
from annkit.engine.step import TrainStep, amp_dtype
from annkit.torchfile import atomic_save

__all__ = ["MetricLog", "TrainingError", "check_writable", "read_metrics", "set_training_mode", "train"]


def check_writable(out_dir: Path) -> None:
    """Create ``out_dir`` and prove a file can be written there, before any work starts."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise TrainingError(
            f"output directory {out_dir} is not writable ({err.strerror or err}); "
            "expected a directory this user can create files in (choose another --out)"
        ) from err


def _diverged(what: str, iteration: int, out_dir: Path) -> TrainingError:
    """The error for a diverged run: what went non-finite, when, and which checkpoint survives."""
    kept = [f"the last good checkpoint {out_dir / 'last.pt'}", f"the best model {out_dir / 'best.pt'}"]
    kept = [text for text, name in zip(kept, ("last.pt", "best.pt")) if (out_dir / name).exists()]
    survivors = (
        f"{' and '.join(kept)} {'is' if len(kept) == 1 else 'are'} kept" if kept else "no checkpoint was written yet"
    )
    return TrainingError(
        f"{what} at iteration {iteration}; training stopped ({survivors}). "
        "Lower optimizer.lr, set grad_clip, or check the data for bad labels"
    )


def set_training_mode(model: torch.nn.Module, norm_eval: bool) -> None:
    """``model.train()``, except BatchNorm layers stay in eval mode when ``norm_eval`` (frozen statistics)."""
    model.train()
    if norm_eval:
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()


def train(
    model_config: ModelConfig,
    config: TrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    device: str | None = None,
) -> dict:
    """Train ``model_config`` with ``config``, writing the run to ``out_dir``; returns the summary dict.

    ``resume``: continue from ``out_dir/last.pt`` (model, optimiser, scheduler, scaler, RNG states, data position).
    A folder that already holds a run is refused unless ``resume`` or ``overwrite`` (its old run files are deleted
    first); a folder another training is using is refused (``annkit.engine.rundir``).
    """
    out_dir = Path(out_dir)
    context = distributed.setup(device)
    lock = None
    if context.is_main:
        check_writable(out_dir)
        lock = RunLock(out_dir)
    try:
        if context.is_main:
            claim(out_dir, resume, overwrite)
        return _train(model_config, config, out_dir, context, resume, progress)
    finally:
        if lock is not None:
            lock.release()


def _train(
    model_config: ModelConfig,
    config: TrainConfig,
    out_dir: Path,
    context: distributed.Context,
    resume: bool,
    progress: bool,
) -> dict:
    """The loop of ``train``, in a folder this process holds."""
    checkpoint = None
    if resume:
        checkpoint = load_checkpoint(out_dir / "last.pt")
        model_config = ModelConfig.from_dict(checkpoint["model_config"])
        config = TrainConfig.from_dict(checkpoint["train_config"])
    seed_everything(config.seed)
    train_set = build_dataset(config, config.train_split, True, model_config)
    val_set = build_dataset(config, config.val_split, False, model_config)
    if model_config.num_classes != train_set.num_classes:  # the data set decides the classifier width
        if context.is_main:
            print(
                f"model.num_classes: {model_config.name} has {model_config.num_classes}, the data set "
                f"{train_set.num_classes} ({', '.join(train_set.class_names)}); using {train_set.num_classes}",
                file=sys.stderr,
            )
        model_config = models.model_config(model_config, num_classes=train_set.num_classes)
    model = models.build(model_config, backbone_weights=checkpoint is None)
    net = distributed.wrap(model, context, config.sync_bn)
    step = TrainStep.of(model, config, amp_dtype(config, model_config, context.device), net)
    optimizer, scaler = step.optimizer, step.scaler
    scheduler = build_scheduler(optimizer, config)
    start, best = 0, {"miou": -math.inf, "iteration": 0}
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        scaler.load_state_dict(checkpoint["scaler"])
        set_rng_state(checkpoint["rng"])
        start, best = checkpoint["iteration"], checkpoint["best"]
    if context.is_main:
        write_text(
            out_dir / "config.yaml",
            yaml.safe_dump({"model": model_config.to_dict(), "train": config.to_dict()}, sort_keys=False),
        )
    log = MetricLog(out_dir / "metrics.jsonl", start if checkpoint is not None else None) if context.is_main else None

    def save_state(iteration: int) -> None:
        atomic_save(
            {
                "format": FORMAT,
                "iteration": iteration,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "rng": rng_state(),
                "best": best,
                "model_config": model_config.to_dict(),
                "train_config": config.to_dict(),
            },
            out_dir / "last.pt",
        )

    batches = iter(stream_loader(train_set, config, start, context.rank, context.world_size))
    bar = tqdm(
        total=config.iterations,
        initial=start,
        desc="train",
        unit="it",
        disable=not (progress and context.is_main),
        dynamic_ncols=True,
        mininterval=1.0,
    )
    set_training_mode(net, config.norm_eval)
    tick, images = time.perf_counter(), 0
    for iteration in range(start + 1, config.iterations + 1):
        batch = next(batches)
        inputs = batch["image"].to(context.device, non_blocking=True)
        target = batch["mask"].to(context.device, non_blocking=True)
        loss, parts = step.loss(inputs, target)
        if distributed.any_true(not bool(torch.isfinite(loss)), context):
            bar.close()
            raise _diverged(f"loss became {loss.item()}", iteration, out_dir)
        step.update(loss)
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        images += config.batch_size
        bar.update(1)
        if iteration % config.log_every == 0:
            names = ["loss", *parts]
            values = distributed.mean(torch.stack([loss.detach(), *parts.values()]), context).tolist()
            record = {
                "kind": "train",
                "iteration": iteration,
                **dict(zip(names, values)),
                "lr": lr,
                "images_per_s": images / (time.perf_counter() - tick),
            }
        if iteration % config.log_every == 0 and context.is_main:
            log.write(record)
            bar.set_postfix(loss=f"{record['loss']:.3f}", lr=f"{lr:.2e}")
            tick, images = time.perf_counter(), 0
        evaluate_now = iteration % config.eval_every == 0 or iteration == config.iterations
        if evaluate_now or iteration % config.checkpoint_every == 0:  # never score, keep or save broken weights
            if non_finite(model):
                bar.close()
                raise _diverged("weights became non-finite", iteration, out_dir)
        if evaluate_now:
            with step.autocast():
                scores = evaluate(
                    model,
                    val_set,
                    config.eval,
                    model_config.num_classes,
                    device=context.device,
                    class_names=val_set.class_names,
                    rank=context.rank,
                    world_size=context.world_size,
                )
            if context.is_main:
                log.write({"kind": "eval", "iteration": iteration, **scores})
                bar.write(
                    f"iteration {iteration}: mIoU {scores['miou']:.4f}, pixel accuracy {scores['pixel_accuracy']:.4f}"
                )
                if scores["miou"] > best["miou"]:
                    best = {"miou": scores["miou"], "iteration": iteration}
                    models.save(model, out_dir / "best.pt")
            set_training_mode(net, config.norm_eval)
        if (iteration % config.checkpoint_every == 0 or iteration == config.iterations) and context.is_main:
            save_state(iteration)
    bar.close()
    summary = {"iterations": config.iterations, "best": best, "out_dir": str(out_dir)}
    if context.is_main:
        models.save(model, out_dir / "final.pt")
        write_text(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
        log.close()
    distributed.cleanup(context)
    return summary
