"""What ``annkit train|eval|predict|quickstart`` do, behind ``annkit.cli``'s parsers.

Each command turns its parsed arguments into calls of the engine modules; configuration and training errors
become one ``error: …`` line and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch
import yaml

from annkit import models
from annkit.config import load_preset
from annkit.engine.config import ConfigError, EvalConfig, TrainConfig, merge, parse_overrides, resolve
from annkit.engine.trainer import TrainingError


def _model(args: argparse.Namespace) -> models.Segmentor:
    return models.load(args.checkpoint) if args.checkpoint else models.from_pretrained(args.pretrained)


def _device(args: argparse.Namespace) -> str:
    return args.device or ("cuda" if torch.cuda.is_available() else "cpu")


def train(args: argparse.Namespace) -> int:
    """``annkit train``: resolve preset + overrides, then train (or time the step with --throughput)."""
    from annkit.engine.trainer import train as run

    overrides = parse_overrides(args.overrides)
    model_config, config = resolve(args.preset, overrides)
    if args.throughput is not None:
        from annkit.engine.throughput import measure

        print(json.dumps(measure(model_config, config, args.throughput, _device(args)), indent=2))
        return 0
    out = Path(args.out or Path("runs") / args.preset)
    if args.resume and overrides:
        raise ConfigError("--resume continues a run with the config saved in its last.pt; drop the KEY=VALUE "
                          f"overrides {sorted(overrides)}")
    summary = run(model_config, config, out, resume=args.resume, progress=not args.no_progress, device=args.device)
    if os.environ.get("RANK", "0") == "0":  # under torchrun only rank 0 tracks the best model
            print(f"best mIoU {summary['best']['miou']:.4f} at iteration {summary['best']['iteration']}; "
              f"model files {out / 'best.pt'}, {out / 'final.pt'}")
    return 0


def _eval_config(args: argparse.Namespace, protocol) -> TrainConfig:
    """The data/inference settings: --preset's train section, else the run's config.yaml, else the model's
    evaluation protocol, else the defaults; --data sets the data root; KEY=VALUE overrides come last."""
    from annkit.engine.reproduce import protocol_section

    base: dict = {}
    run_config = Path(args.checkpoint).with_name("config.yaml") if args.checkpoint else None
    if args.preset:
        base = load_preset(args.preset).get("train", {})
    elif run_config is not None and run_config.is_file():
        base = yaml.safe_load(run_config.read_text()).get("train", {})
    elif protocol is not None:
        base = protocol_section(protocol, args.data or "data")
    if args.data:
        base = {**base, "data_root": args.data}
    overrides = parse_overrides(args.overrides)
    if any(key.startswith("model.") for key in overrides):
        raise ConfigError(f"eval takes data and inference keys only; the model comes from the file, not "
                          f"{sorted(k for k in overrides if k.startswith('model.'))}")
    return TrainConfig.from_dict(merge({"train": base}, overrides)["train"])


def evaluate(args: argparse.Namespace) -> int:
    """``annkit eval``: metrics of a model file or pretrained model on the configured validation split; with a
    stored protocol (every zoo checkpoint) it needs only ``--data``, and reports the published figure and every
    remaining protocol difference."""
    from annkit.engine.data import build_dataset
    from annkit.engine.evaluate import evaluate as score
    from annkit.engine.reproduce import summary

    model = _model(args).to(_device(args))
    protocol = model.config.protocol
    if args.multi_scale:
        if protocol is None:
            raise ConfigError("--multi-scale needs a model with a stored evaluation protocol; set eval.scales "
                              "and eval.flip instead")
        protocol = protocol.multi_scale()
    config = _eval_config(args, protocol)
    dataset = build_dataset(config, config.val_split, False, model.config.mean, model.config.std)
    if dataset.num_classes != model.config.num_classes:
        raise ConfigError(f"the model predicts {model.config.num_classes} classes but {config.dataset} "
                          f"{config.val_split} has {dataset.num_classes}")
    scores = score(model, dataset, config.eval, model.config.num_classes, device=_device(args),
                   class_names=dataset.class_names)
    for name, iou in scores["iou"].items():
        print(f"  {name:>20s}  IoU {iou:.4f}")
    print(f"mIoU {scores['miou']:.4f}  pixel accuracy {scores['pixel_accuracy']:.4f}  "
          f"({config.dataset} {config.val_split}, {config.eval.mode}, resize {list(config.eval.resize or []) or None}, "
          f"scales {list(config.eval.scales)}, flip {config.eval.flip})")
    entry = models.CHECKPOINTS.get(args.pretrained) if args.pretrained else None
    published = entry.miou if entry is not None and not args.multi_scale else None
    for line in summary(protocol, config, model.config.align_corners, published, scores["miou"]):
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps({**scores, "protocol": protocol.name if protocol else None,
                                               "published_miou": published}, indent=2) + "\n")
    return 0


def predict(args: argparse.Namespace) -> int:
    """``annkit predict``: palette PNG + overlay per image."""
    from annkit.engine.predict import predict_images

    config = EvalConfig(mode=args.mode, crop=tuple(args.crop), stride=tuple(args.stride),
                        scales=tuple(args.scales), flip=args.flip)
    written = predict_images(_model(args), args.images, args.out, config, _device(args))
    print(f"wrote {len(written)} files to {args.out}")
    return 0


def quickstart(args: argparse.Namespace) -> int:
    """``annkit quickstart``: the synthetic long-range experiment and its report."""
    import matplotlib

    matplotlib.use("Agg")  # the report is written to files, never shown
    from annkit.engine.quickstart import run

    if args.threads is None:  # the evaluation after training: one thread is fastest for tiny models on a busy CPU
        torch.set_num_threads(1)
    run(args.out, args.data_root, args.iterations, parallel=not args.sequential, progress=not args.no_progress)
    return 0


COMMANDS = {"train": train, "eval": evaluate, "predict": predict, "quickstart": quickstart}


def main(args: argparse.Namespace) -> int:
    """Run ``args.command``; bad configs, files or data and training errors print ``error: …`` and return 2."""
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    try:
        return COMMANDS[args.command](args)
    except (ValueError, TrainingError, FileNotFoundError) as error:  # ConfigError is a ValueError
        print(f"error: {error}", file=sys.stderr)
        return 2
