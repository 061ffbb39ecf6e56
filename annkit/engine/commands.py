"""What ``annkit train|eval|predict|quickstart`` do, behind ``annkit.cli``'s parsers.

Each command turns its parsed arguments into calls of the engine modules. Bad input raises a
``annkit.errors.UserError`` (``ConfigError``, ``TrainingError``, …), which ``annkit.cli`` prints as one line
with exit code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

from annkit import models
from annkit.atomic import write_text
from annkit.config import ConfigError, EvalConfig, TrainConfig, merge, parse_overrides
from annkit.engine.checkpoint import load_checkpoint
from annkit.engine.distributed import resolve_device
from annkit.errors import FileAccessError
from annkit.presets import load_preset, resolve


def _model(args: argparse.Namespace) -> models.Segmentor:
    return models.load(args.checkpoint) if args.checkpoint else models.from_pretrained(args.pretrained)


def _device(args: argparse.Namespace) -> torch.device:
    return resolve_device(args.device)


def check_output_file(path: str | Path) -> None:
    """Fail now, not after minutes of work, if ``path`` cannot be written: its folder must exist and be writable."""
    folder = Path(path).absolute().parent
    if Path(path).is_dir():
        raise FileAccessError(f"cannot write {path}: it is a folder; expected a file name")
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise FileAccessError(f"cannot write {path}: {folder} is not a folder this user can write to")


def _resume_preset(args: argparse.Namespace, out: Path) -> None:
    """Under --resume the run's own config is used: a --preset naming another model is an error, not ignored."""
    saved = load_checkpoint(out / "last.pt")["model_config"]["name"]
    if args.preset is not None and load_preset(args.preset)["model"]["name"] != saved:
        raise ConfigError(
            f"--resume continues {out} with its saved config ({saved}); --preset {args.preset} "
            "names another model: drop --preset, or train it into another --out"
        )


def _check_num_classes(model_config, config: TrainConfig, overrides: dict) -> None:
    """An explicit model.num_classes must match the data set's class count (which otherwise decides it)."""
    from annkit.engine.data import build_dataset

    if "model.num_classes" not in overrides:
        return
    data = build_dataset(config, config.train_split, False, model_config)
    if data.num_classes != model_config.num_classes:
        raise ConfigError(
            f"model.num_classes={model_config.num_classes}, but the {config.dataset} data set's "
            f"{config.train_split} split has {data.num_classes} classes ({', '.join(data.class_names)});"
            " drop model.num_classes: the classifier takes the data set's count"
        )


def train(args: argparse.Namespace) -> int:
    """``annkit train``: resolve preset + overrides, then train."""
    from annkit.engine.trainer import train as run

    overrides = parse_overrides(args.overrides)
    if args.resume:
        if overrides:
            raise ConfigError(
                "--resume continues a run with the config saved in its last.pt; drop the KEY=VALUE "
                f"overrides {sorted(overrides)}"
            )
        if args.out is None:
            raise ConfigError("--resume needs --out, the run folder to continue")
        out = Path(args.out)
        if (out / "last.pt").is_file():
            _resume_preset(args, out)
        summary = run(
            None, None, out, resume=True, overwrite=args.overwrite, progress=not args.no_progress, device=args.device
        )
    else:
        if args.preset is None:
            raise ConfigError("--preset (a preset name or a YAML file) is required to start a run")
        model_config, config = resolve(args.preset, overrides)
        models.check_heads(model_config)  # a misspelt head option fails now, before data loads
        _check_num_classes(model_config, config, overrides)
        out = Path(args.out or Path("runs") / Path(args.preset).stem)
        summary = run(
            model_config, config, out, overwrite=args.overwrite, progress=not args.no_progress, device=args.device
        )
    if os.environ.get("RANK", "0") == "0":  # under torchrun only rank 0 tracks the best model
        print(
            f"best mIoU {summary['best']['miou']:.4f} at iteration {summary['best']['iteration']}; "
            f"model files {out / 'best.pt'}, {out / 'final.pt'}"
        )
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
        base = load_preset(run_config).get("train", {})
    elif protocol is not None:
        base = protocol_section(protocol, args.data or "data")
    if args.data:
        base = {**base, "data_root": args.data}
    overrides = parse_overrides(args.overrides)
    if any(key.startswith("model.") for key in overrides):
        raise ConfigError(
            f"eval takes data and inference keys only; the model comes from the file, not "
            f"{sorted(k for k in overrides if k.startswith('model.'))}"
        )
    return TrainConfig.from_dict(merge({"train": base}, overrides)["train"])


def evaluate(args: argparse.Namespace) -> int:
    """``annkit eval``: metrics of a model file or pretrained model on the configured validation split; with a
    stored protocol (every zoo checkpoint) it needs only ``--data``, and reports the published figure and every
    remaining protocol difference."""
    from annkit.engine.data import build_dataset
    from annkit.engine.evaluate import evaluate as score
    from annkit.engine.reproduce import summary

    if args.json:
        check_output_file(args.json)
    model = _model(args).to(_device(args))
    protocol = model.config.protocol
    if args.multi_scale:
        if protocol is None:
            raise ConfigError(
                "--multi-scale needs a model with a stored evaluation protocol; set eval.scales and eval.flip instead"
            )
        protocol = protocol.multi_scale()
    config = _eval_config(args, protocol)
    dataset = build_dataset(config, config.val_split, False, model.config)
    if dataset.num_classes != model.config.num_classes:
        raise ConfigError(
            f"the model predicts {model.config.num_classes} classes but {config.dataset} "
            f"{config.val_split} has {dataset.num_classes}"
        )
    scores = score(
        model, dataset, config.eval, model.config.num_classes, device=_device(args), class_names=dataset.class_names
    )
    for name, iou in scores["iou"].items():
        print(f"  {name:>20s}  IoU {iou:.4f}")
    print(
        f"mIoU {scores['miou']:.4f}  pixel accuracy {scores['pixel_accuracy']:.4f}  "
        f"({config.dataset} {config.val_split}, {config.eval.mode}, resize {list(config.eval.resize or []) or None}, "
        f"scales {list(config.eval.scales)}, flip {config.eval.flip})"
    )
    entry = models.CHECKPOINTS.get(args.pretrained) if args.pretrained else None
    published = entry.miou if entry is not None and not args.multi_scale else None
    for line in summary(protocol, config, model.config.align_corners, published, scores["miou"]):
        print(line)
    if args.json:
        write_text(
            args.json,
            json.dumps(
                {**scores, "protocol": protocol.name if protocol else None, "published_miou": published}, indent=2
            )
            + "\n",
        )
    return 0


def predict(args: argparse.Namespace) -> int:
    """``annkit predict``: palette PNG + overlay per image."""
    from annkit.engine.predict import predict_images

    config = EvalConfig(
        mode=args.mode, crop=tuple(args.crop), stride=tuple(args.stride), scales=tuple(args.scales), flip=args.flip
    )
    written = predict_images(_model(args), args.images, args.out, config, _device(args))
    print(f"wrote {len(written)} files to {args.out}: {', '.join(path.name for path in written)}")
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
    """Run ``args.command``; user errors propagate as ``annkit.errors.UserError`` to ``annkit.cli``."""
    return COMMANDS[args.command](args)
