"""The ``annkit`` command. Each subcommand is a thin call into the modules that do the work.

Subcommand groups register themselves in ``_GROUPS``; a group is a function that adds its parsers to the
top-level subparsers and sets ``func`` (called with the parsed namespace, returns an exit code).

Exit codes: 0 success; 1 ``data check`` found problems (or an internal error, with its traceback); 2 a user
error (bad argument, config, file or data; a refused request; a full disk): one line ``annkit: error: …`` on
stderr naming the thing and what was expected; 128 + N stopped by signal N (130 Ctrl-C, 143 SIGTERM).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence


def _command(parsers: argparse._SubParsersAction, name: str, run, **options) -> argparse.ArgumentParser:
    """Subcommand ``name`` (``options``: help, description) that calls ``run(args)`` and exits with what it
    returns. ``run`` is a function or ``"module:function"``, imported only when the command runs, so that
    ``annkit --help`` and the other commands do not import what this one needs."""
    parser = parsers.add_parser(name, **options)
    parser.set_defaults(func=run if callable(run) else _deferred(run))
    return parser


def _deferred(target: str) -> Callable[[argparse.Namespace], int]:
    """A ``run`` for ``_command`` that imports ``"module:function"`` when it is called."""
    module, function = target.split(":")

    def run(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module(module), function)(args)

    return run


def _group(parsers: argparse._SubParsersAction, name: str, metavar: str, help: str) -> argparse._SubParsersAction:
    """Command ``name`` whose subcommands (``annkit bench blocks``, …) are added with ``_command`` to what it
    returns; ``metavar`` names them in the usage line."""
    return parsers.add_parser(name, help=help).add_subparsers(
        dest=f"{name}_{metavar.lower()}", required=True, metavar=metavar
    )


def _size(text: str) -> tuple[int, int]:
    """The one parser of ``HxW`` option values: '64x128' → (64, 128); argparse names the option in its error."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(part.isdigit() and int(part) > 0 for part in parts):
        raise argparse.ArgumentTypeError(f"expected HxW with positive integers, e.g. 64x128; got {text!r}")
    return int(parts[0]), int(parts[1])


def _add_bench(subparsers: argparse._SubParsersAction) -> None:
    kinds = _group(
        subparsers, "bench", "KIND", help="measurements: blocks, whole models, ONNX, the training step, data loading"
    )

    blocks = _command(
        kinds,
        "blocks",
        "annkit.bench.blocks:main",
        help="non-local vs APNB/AFNB: time, peak memory, multiply-adds",
        description="Time (torch.utils.benchmark, median after warm-up), peak memory and FLOPs "
        "(torch.utils.flop_counter) of non-local, APNB and AFNB blocks, reference vs annkit.",
    )
    blocks.add_argument("--quick", action="store_true", help="one small size, few repeats (seconds)")
    blocks.add_argument(
        "--sizes",
        nargs="+",
        type=_size,
        default=None,
        metavar="HxW",
        help="feature sizes (default: 64x128 96x96 128x256)",
    )
    blocks.add_argument(
        "--suite",
        choices=["mmseg", "official", "all"],
        default="all",
        help="mmseg: the ANN head's blocks (512/1024/2048 ch, fusion included); "
        "official: the official benchmark's 2048-channel context block vs non-local",
    )
    blocks.add_argument("--channels", type=int, default=None, help="override in/out channels of every block")
    blocks.add_argument("--key-channels", type=int, default=256)
    blocks.add_argument("--batch", type=int, default=1)
    blocks.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    blocks.add_argument("--device", default="cpu")
    blocks.add_argument(
        "--mode",
        choices=["suite", "forward", "backward", "both"],
        default="suite",
        help="forward = inference (no grad); backward = forward+backward in train mode; "
        "suite (default) = each suite's own mode (mmseg: backward, official: forward)",
    )
    blocks.add_argument(
        "--max-map-gib",
        type=float,
        default=8.0,
        help="skip explicit non-local cases whose N×N maps would need more than this (GiB)",
    )
    blocks.add_argument(
        "--max-gmac",
        type=float,
        default=1000.0,
        help="skip non-local cases whose attention needs more multiply-adds than this (×1e9)",
    )
    blocks.add_argument(
        "--min-run-time",
        type=float,
        default=None,
        help="seconds of timing per case (torch.utils.benchmark blocked_autorange)",
    )
    blocks.add_argument("--json", default=None, metavar="PATH", help="write the results as JSON here")

    model = _command(
        kinds,
        "model",
        "annkit.bench.model:main",
        help="whole model: images/s, peak memory, FLOPs, fraction of GEMM throughput",
        description="Time a whole Segmentor (inference or a training step), count its FLOPs "
        "(torch.utils.flop_counter, 2 per multiply-add) and compare its FLOP/s with a GEMM timed in the same run.",
    )
    model.add_argument("--preset", default="mmseg_ann_r50_d8_voc12aug", help="model preset (annkit presets list)")
    model.add_argument("--size", type=_size, default="512x512", metavar="HxW", help="input image size")
    model.add_argument("--batch", type=int, default=1)
    model.add_argument("--mode", choices=["inference", "train"], default="inference")
    model.add_argument("--device", default="cpu")
    model.add_argument(
        "--dtype",
        choices=["float32", "bfloat16", "float16"],
        default="float32",
        help="autocast dtype (float32 = no autocast); the GEMM uses the same dtype",
    )
    model.add_argument("--channels-last", action="store_true", help="NHWC memory format")
    model.add_argument("--compile", action="store_true", help="torch.compile the model")
    model.add_argument("--no-fold-bn", action="store_true", help="keep BatchNorm separate at inference")
    model.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    model.add_argument("--repeats", type=int, default=5, help="timed steps (median reported)")
    model.add_argument("--warmup", type=int, default=2)
    model.add_argument("--gemm-size", type=int, default=None, help="square GEMM size (default 2048 CPU, 8192 CUDA)")
    model.add_argument("--json", default=None, metavar="PATH", help="write the result as JSON here")

    onnx = _command(
        kinds,
        "onnx",
        "annkit.bench.onnx:main",
        help="onnxruntime vs PyTorch eager: same model, same inputs, CPU, fp32, interleaved",
        description="Exports each preset (random weights) with dynamic H, W and times PyTorch eager, eager with "
        "BN folded, and onnxruntime (CPU EP) call by call in rotating order; reports medians and per-round ratios.",
    )
    onnx.add_argument("--presets", nargs="+", default=["tiny_ann", "mmseg_ann_r50_d8_voc12aug"], metavar="PRESET")
    onnx.add_argument("--size", type=_size, default="512x512", metavar="HxW", help="input image size")
    onnx.add_argument("--threads", type=int, default=None, help="CPU threads of both runtimes (default: torch's)")
    onnx.add_argument("--repeats", type=int, default=7, help="interleaved rounds (median reported)")
    onnx.add_argument("--warmup", type=int, default=2)
    onnx.add_argument("--seed", type=int, default=0)
    onnx.add_argument("--json", default=None, metavar="PATH", help="write the results as JSON here")

    train = _command(
        kinds,
        "train",
        "annkit.bench.train:main",
        help="the trainer's own training step on random data: images/s at the preset's crop size and batch",
        description="Times annkit train's step (forward, OHEM/CE loss, backward, optimiser step; autocast on CUDA "
        "as configured) on random images; data loading left out (annkit bench data). Prints JSON.",
    )
    train.add_argument("--preset", "--config", dest="preset", required=True, help="preset name or YAML file")
    train.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="train config overrides: crop_size=[128,128] batch_size=8"
    )
    train.add_argument("--steps", type=int, default=5, help="timed steps, after 2 warm-up steps (median reported)")
    train.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: CUDA if available)")
    train.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")

    data = _command(
        kinds, "data", "annkit.bench.data:main", help="loading + augmentation images/s of one DataLoader worker"
    )
    data.add_argument("--root", default=None, help="data root with VOC 2012 (default: synthetic stand-ins)")
    data.add_argument("--crop", type=int, default=512)
    data.add_argument("--images", type=int, default=100)


def _converter(
    sources, name: str, run, checkpoint: str, preset: str, fixed: bool, **options
) -> argparse.ArgumentParser:
    """``annkit convert NAME CKPT OUT [--preset P]``, the arguments of every converter: ``checkpoint`` describes CKPT;
    ``preset`` is the default preset when ``fixed``, else an example (the weights then say the architecture)."""
    parser = _command(sources, name, run, **options)
    parser.add_argument("checkpoint", metavar="CKPT", help=checkpoint)
    parser.add_argument("output", metavar="OUT", help="annkit model file to write")
    parser.add_argument(
        "--preset",
        default=preset if fixed else None,
        help="annkit preset the weights must fit" + (f" (default {preset})" if fixed else f", e.g. {preset}"),
    )
    return parser


def _add_convert(subparsers: argparse._SubParsersAction) -> None:
    sources = _group(subparsers, "convert", "SOURCE", help="convert checkpoints from other implementations")
    mmseg = _converter(
        sources,
        "mmseg",
        _run_convert_mmseg,
        "mmsegmentation .pth file",
        "mmseg_ann_r50_d8_voc12aug",
        False,
        help="mmsegmentation ANN/FCN/PSP/DeepLabV3/NonLocal ResNetV1c checkpoint -> annkit model file",
        description="Map an mmsegmentation checkpoint's keys onto annkit's model, load it strictly and save "
        "{config, state_dict} (load with annkit.models.load). The architecture is read from the weights "
        "unless --preset names it.",
    )
    mmseg.add_argument(
        "--align-corners",
        action="store_true",
        help="resize logits with align_corners=True (mmsegmentation's 769x769 Cityscapes models)",
    )
    mmseg.add_argument(
        "--protocol",
        default=None,
        help="evaluation protocol to store with the model (annkit.protocols.PROTOCOLS), e.g. "
        "mmseg_cityscapes_769x769; `annkit eval` then applies it",
    )
    _converter(
        sources,
        "official",
        _run_convert_official,
        "official .pth file (e.g. fs_annn_cityscapes_segohem_latest.pth)",
        "official_ann_r101_cityscapes",
        True,
        help="official ANN (MendelXu/ANN) checkpoint -> annkit model file",
        description="Map an official ANN checkpoint (deep-base ResNet, 'module.' keys) onto annkit's model, fold "
        "its conv biases into BN, load strictly and save {config, state_dict} with the BGR input contract.",
    )
    _converter(
        sources,
        "paddleseg",
        _run_convert_paddleseg,
        "PaddleSeg model.pdparams file (an existing OUT is kept)",
        "paddleseg_ann_r50_vd_voc12aug",
        False,
        help="PaddleSeg ANN (ResNet-vd) model.pdparams -> annkit model file",
        description="Read a PaddleSeg .pdparams file without running pickled code (numpy arrays only), map its "
        "keys onto annkit's model (conv biases folded into BN), load it strictly and save {config, state_dict} "
        "(load with annkit.models.load). The architecture is read from the weights unless --preset names it.",
    )


def _run_convert_paddleseg(args: argparse.Namespace) -> int:
    from pathlib import Path

    from annkit.errors import ConfigError
    from annkit.models.pretrained import convert_paddleseg_checkpoint

    if Path(args.output).exists():
        raise ConfigError(f"annkit convert paddleseg: {args.output} exists; choose another OUT or remove it first")
    model = convert_paddleseg_checkpoint(args.checkpoint, args.output, config=args.preset)
    print(
        f"wrote {args.output}: {model.config.name}, {model.config.num_classes} classes, "
        f"ResNet{model.config.backbone.depth}_vd + {model.config.head.name} head"
    )
    return 0


def _run_convert_mmseg(args: argparse.Namespace) -> int:
    from annkit.errors import UserError
    from annkit.models.pretrained import convert_mmseg_checkpoint
    from annkit.torchfile import CheckpointError

    try:
        model = convert_mmseg_checkpoint(
            args.checkpoint, args.output, config=args.preset, align_corners=args.align_corners, protocol=args.protocol
        )
    except ValueError as error:  # the converter's refusals are about the input file (UserErrors pass through)
        if isinstance(error, UserError):
            raise
        raise CheckpointError(f"cannot convert {args.checkpoint}: {error}") from error
    print(
        f"wrote {args.output}: {model.config.name}, {model.config.num_classes} classes, "
        f"ResNet-{model.config.backbone.depth} + {model.config.head.name} head"
    )
    return 0


def _run_convert_official(args: argparse.Namespace) -> int:
    from annkit.models.pretrained import convert_official_checkpoint

    model = convert_official_checkpoint(args.checkpoint, args.output, config=args.preset)
    print(
        f"wrote {args.output}: {model.config.name}, {model.config.num_classes} classes, "
        f"ResNet-{model.config.backbone.depth} ({model.config.backbone.stem}) + {model.config.head.name} head, "
        f"{model.config.channel_order} input"
    )
    return 0


def _add_models(subparsers: argparse._SubParsersAction) -> None:
    actions = _group(subparsers, "models", "ACTION", help="the registry of trained models")
    listing = _command(
        actions,
        "list",
        _run_models_list,
        help="name, family, dataset, backbone, crop, published mIoU, source",
        description="Every checkpoint annkit.models.from_pretrained knows.",
    )
    listing.add_argument("--family", default=None, help="only this family (ann, fcn, psp, deeplabv3, nonlocal)")
    listing.add_argument("--dataset", default=None, help="only this dataset (voc12aug, cityscapes, ade20k)")
    listing.add_argument("--markdown", action="store_true", help="the README's Markdown table")


def _run_models_list(args: argparse.Namespace) -> int:
    from annkit.models.zoo import list_pretrained, markdown_table

    rows = list_pretrained(args.family, args.dataset)
    if args.markdown:
        print(markdown_table(rows))
        return 0
    columns = ("name", "family", "dataset", "backbone", "crop", "miou", "miou_ms", "split", "size_mb", "url")

    def cell(value) -> str:
        return "-" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)

    table = [columns] + [tuple(cell(row[c]) for c in columns) for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns) - 1)]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)) + "  " + line[-1])
    return 0


def _add_export(subparsers: argparse._SubParsersAction) -> None:
    actions = _group(subparsers, "export", "ACTION", help="deploy outside PyTorch: ONNX, exact at any input size")

    def add_source(parser: argparse.ArgumentParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--preset", help="a preset's architecture with random weights (--seed; no download)")
        source.add_argument("--checkpoint", metavar="PATH", help="an annkit model file (train output or convert)")
        source.add_argument("--pretrained", metavar="NAME", help="a trained model from annkit.models.CHECKPOINTS")
        parser.add_argument("--seed", type=int, default=0, help="random weights of --preset and test images")
        parser.add_argument("--opset", type=int, default=None, help="ONNX opset (default: torch's exporter's)")

    onnx = _command(
        actions,
        "onnx",
        _run_export_onnx,
        help="write the whole segmentor (normalisation, backbone, head, resize) as an ONNX file",
        description="Input 'images' (B, 3, H, W): RGB floats in [0, 1]; output 'logits' (B, K, H, W) at input "
        "size. With --dynamic one file serves any batch, height and width, pyramid pooling exact at each.",
    )
    add_source(onnx)
    onnx.add_argument("output", metavar="OUT.onnx")
    onnx.add_argument(
        "--size",
        type=int,
        nargs=2,
        default=None,
        metavar=("H", "W"),
        help="the fixed input size (the tracing example with --dynamic; default 512 512)",
    )
    onnx.add_argument("--dynamic", action="store_true", help="dynamic batch, height and width")
    onnx.add_argument("--force", action="store_true", help="replace OUT.onnx if it exists")

    check = _command(
        actions,
        "check",
        "annkit.export.check:main",
        help="onnxruntime (CPU) vs PyTorch logits at several sizes, from one dynamic export",
        description="Pass per size: max |logit difference| <= 1e-4 and argmax agreement >= 99.99%% (fp32). "
        "Exit 1 if any size fails.",
    )
    add_source(check)
    check.add_argument(
        "--sizes",
        nargs="+",
        type=_size,
        default=None,
        metavar="HxW",
        help="input sizes (default: 512x512 97x131 321x481 200x75 769x769 1024x2048)",
    )
    check.add_argument("--onnx", default=None, metavar="FILE", help="check this file instead of exporting anew")
    check.add_argument("--threads", type=int, default=None, help="CPU threads for both runtimes")
    check.add_argument("--json", default=None, metavar="PATH", help="also write the results as JSON here")


def _run_export_onnx(args: argparse.Namespace) -> int:
    from annkit.errors import ConfigError
    from annkit.export import UnexportableError, to_onnx
    from annkit.export.check import model_from

    if args.size is None and not args.dynamic:
        raise ConfigError("annkit export onnx: give --size H W (fixed size) or --dynamic (any size)")
    name, model = model_from(args)
    try:
        path = to_onnx(model, args.output, size=args.size, dynamic=args.dynamic, opset=args.opset, overwrite=args.force)
    except (UnexportableError, FileExistsError) as error:
        raise ConfigError(f"annkit export onnx: {error}") from None
    shape = "(B, 3, H, W), any B, H, W" if args.dynamic else f"(1, 3, {args.size[0]}, {args.size[1]})"
    print(
        f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB): {name}; input 'images' {shape}, RGB in [0, 1]; "
        f"output 'logits' at input size"
    )
    return 0


_SYNTH_KNOBS = {
    "size": "image height = width, px",
    "num_classes": "object classes K (cue colours, at most 6)",
    "min_objects": "fewest objects per image",
    "max_objects": "most objects per image",
    "object_min": "smallest object side, px",
    "object_max": "largest object side, px",
    "cue_size": "thickness of the cue band, px",
    "cue_distance": "min Chebyshev distance cue ↔ object pixels, px",
    "num_train": "training images",
    "num_val": "validation images",
    "seed": "random seed",
}


def _add_data(subparsers: argparse._SubParsersAction) -> None:
    actions = _group(
        subparsers, "data", "ACTION", help="datasets: download VOC/SBD, check a folder, write the synthetic set"
    )

    download = _command(
        actions,
        "download",
        _run_data_download,
        help="download + extract VOC 2012, SBD, ADE20K, VOC 2010 (resumable, "
        "MD5-checked); Cityscapes / PASCAL Context: print the steps",
    )
    download.add_argument("dataset", choices=["voc", "sbd", "ade20k", "voc2010", "cityscapes", "pascal_context"])
    download.add_argument("--root", default="data", help="data root (default: data)")
    download.add_argument("--remove-archive", action="store_true", help="delete the archive after extracting")

    check = _command(
        actions,
        "check",
        _run_data_check,
        help="validate a dataset folder (VOC layout, Cityscapes, ADE20K, PASCAL Context); exit 1 if broken",
    )
    check.add_argument("path", help="dataset folder, or a data root holding it")
    check.add_argument(
        "--dataset",
        default=None,
        choices=["cityscapes", "ade20k", "pascal_context_59", "pascal_context"],
        help="check as this dataset (default: recognised by its folders, else VOC layout)",
    )

    synth = _command(actions, "synth", _run_data_synth, help="write the synthetic long-range set in VOC layout")
    synth.add_argument("--root", default="data/synthetic", help="output folder (default: data/synthetic)")
    for knob, meaning in _SYNTH_KNOBS.items():  # defaults: annkit.data.SynthConfig
        synth.add_argument(f"--{knob.replace('_', '-')}", type=int, default=None, help=meaning)


def _run_data_download(args: argparse.Namespace) -> int:
    from annkit.data.download import download

    print(f"{args.dataset} ready at {download(args.dataset, args.root, keep_archive=not args.remove_archive)}")
    return 0


def _run_data_check(args: argparse.Namespace) -> int:
    from annkit.data.check import check_dataset

    report = check_dataset(args.path, args.dataset)
    print(report.summary())
    return 0 if report.ok else 1


def _run_data_synth(args: argparse.Namespace) -> int:
    from annkit.data.synthetic import SynthConfig, describe, write_synthetic
    from annkit.errors import ConfigError

    try:
        config = SynthConfig(**{knob: getattr(args, knob) for knob in _SYNTH_KNOBS if getattr(args, knob) is not None})
    except ValueError as error:  # SynthConfig checks its own ranges
        raise ConfigError(f"annkit data synth: {error}") from None
    print(describe(write_synthetic(args.root, config, progress=True)))
    return 0


def _add_viz(subparsers: argparse._SubParsersAction) -> None:
    kinds = _group(subparsers, "viz", "KIND", help="attention maps: where does each pixel look?")
    attention = _command(
        kinds,
        "attention",
        _run_viz_attention,
        help="where a query pixel looks: a PNG figure (--out) and/or an interactive page (--html)",
        description="Run a model once on an image, record its attention blocks, and draw where a query pixel "
        "looks (back-projection, top-k anchors, per-level grids). --html writes one self-contained "
        "page that answers every hover in the browser, with no Python behind it.",
    )
    source = attention.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", metavar="PATH", help="an annkit model file (train output or convert)")
    source.add_argument("--pretrained", metavar="NAME", help="a trained model from annkit.models.CHECKPOINTS")
    attention.add_argument(
        "--image", required=True, metavar="IMG", help="the input image (any format Pillow reads; converted to RGB)"
    )
    attention.add_argument(
        "--point",
        nargs=2,
        type=float,
        default=None,
        metavar=("X", "Y"),
        help="the query pixel, in image pixels (needed by --out; the page starts there too)",
    )
    attention.add_argument("--out", metavar="FIG.png", help="write the static figure for --point here")
    attention.add_argument(
        "--html",
        metavar="PAGE.html",
        help="write the interactive explorer as one self-contained HTML file (no kernel, no "
        "network): hover over the image to move the query pixel",
    )
    attention.add_argument(
        "--block",
        default=None,
        help="attention block to show (default: head.fusion, the AFNB that reads the far cue; "
        "ANN models also have head.context, the APNB); --list-blocks prints them",
    )
    attention.add_argument(
        "--versus",
        metavar="BLOCK",
        default=None,
        help="--html only: a second block side by side, on the same query pixel",
    )
    attention.add_argument("--list-blocks", action="store_true", help="print the model's attention blocks and exit")
    attention.add_argument(
        "--level",
        type=int,
        default=None,
        help="one pyramid level, numbered from the coarsest (0 = 1×1, 3 = 8×8); default all",
    )
    attention.add_argument(
        "--normalize",
        choices=["overall", "level"],
        default="overall",
        help="overall: weights as they are; level: each level rescaled to sum to 1",
    )
    attention.add_argument(
        "--scale",
        choices=["shared", "level"],
        default="shared",
        help="level grids' colour scale: one for all levels, or each level to its own max",
    )
    attention.add_argument(
        "--overlay",
        action="store_true",
        help="show the prediction over the image, in the dataset's class colours, with a legend",
    )
    attention.add_argument(
        "--top-k",
        type=int,
        default=5,
        metavar="K",
        help="how many of the most attended anchors to draw and list (default 5)",
    )
    attention.add_argument("--device", default="cpu", help="where the model runs: cpu, cuda, cuda:1, … (default cpu)")


def _run_viz_attention(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from annkit import models, viz
    from annkit.data import read_image
    from annkit.engine.commands import check_output_file
    from annkit.engine.distributed import resolve_device
    from annkit.errors import ConfigError

    if not (args.out or args.html or args.list_blocks):
        raise ConfigError("annkit viz attention: say what to write: --out FIG.png, --html PAGE.html (or both)")
    if args.out and args.point is None:
        raise ConfigError("annkit viz attention: --out needs the query pixel: --point X Y")
    if args.top_k < 1:
        raise ConfigError(f"annkit viz attention: --top-k must be at least 1, got {args.top_k}")
    for path in (args.out, args.html):
        if path:
            check_output_file(path)
    device = resolve_device(args.device)
    model = models.load(args.checkpoint) if args.checkpoint else models.from_pretrained(args.pretrained)
    image = read_image(args.image)  # (3, H, W) uint8, upright
    height, width = image.shape[-2:]
    if args.point is not None and not (0 <= args.point[0] < width and 0 <= args.point[1] < height):
        raise ConfigError(
            f"annkit viz attention: --point {args.point[0]:g} {args.point[1]:g} is outside the {width}×{height} image"
        )
    capture = viz.capture_attention(model, image, device=device)
    if not capture.blocks:
        raise ConfigError("annkit viz attention: the model has no attention block (APNB, AFNB or non-local)")
    listing = ", ".join(f"{name} ({block.kind})" for name, block in capture.blocks.items())
    if args.list_blocks:
        print(listing)
        return 0
    block = args.block or ("head.fusion" if "head.fusion" in capture.blocks else next(iter(capture.blocks)))
    for name in (block, args.versus):
        if name is not None and name not in capture.blocks:
            raise ConfigError(f"annkit viz attention: no block {name!r}; blocks: {listing}")
    levels = len(capture.blocks[block].geometry.grids)
    if args.level is not None and not 0 <= args.level < levels:
        raise ConfigError(f"annkit viz attention: --level must be in 0..{levels - 1} for block {block!r}")
    if args.out:
        figure = viz.plot_query(
            capture, block, tuple(args.point), args.level, args.normalize, args.overlay, args.top_k, args.scale
        )
        figure.savefig(args.out, dpi=120)
        print(f"wrote {args.out} (block {block}, query pixel x={args.point[0]:g}, y={args.point[1]:g})")
    if args.html:
        panels = [(capture, block)] + ([(capture, args.versus)] if args.versus else [])
        viz.write_html(
            args.html,
            *panels,
            k=args.top_k,
            point=tuple(args.point) if args.point else None,
            title=f"annkit attention explorer: {args.image}",
        )
        print(f"wrote {args.html} (blocks {', '.join(name for _, name in panels)}; open it in a browser and hover)")
    print(f"blocks: {listing}")
    return 0


def _add_engine(subparsers: argparse._SubParsersAction) -> None:
    def add_model_source(parser: argparse.ArgumentParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--checkpoint", metavar="PATH", help="an annkit model file (a run's best.pt / final.pt)")
        source.add_argument("--pretrained", metavar="NAME", help="a trained model from annkit.models.CHECKPOINTS")

    def add_runtime_flags(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: CUDA if available)")
        parser.add_argument(
            "--threads", type=int, default=None, help="CPU threads (default: torch's; 1 is fastest on a busy machine)"
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    train = _command(
        subparsers,
        "train",
        "annkit.engine.commands:main",
        help="train a preset with the paper's recipe (SGD, poly LR, OHEM, aux 0.4); torchrun for DDP",
        description="Iteration-based training: evaluation every eval_every iterations, best model kept, atomic "
        "checkpoints every checkpoint_every iterations, exact --resume. Multi-GPU/multi-node: "
        "torchrun --nproc-per-node N -m annkit train ...",
    )
    train.add_argument(
        "--preset",
        "--config",
        dest="preset",
        default=None,
        help="preset name (annkit presets list), e.g. tiny_ann, voc_ann_r50, or your own YAML file laid out "
        "like them (required unless --resume)",
    )
    train.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="config overrides, YAML values: iterations=200 optimizer.lr=0.02 dataset=synthetic "
        "model.head.dropout=0 (keys without model./train. are train keys)",
    )
    train.add_argument("--out", default=None, help="run directory (default: runs/<preset>)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its last.pt")
    train.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run already in --out (its config, metrics and checkpoints are deleted first); "
        "without it (or --resume) a folder holding a run is refused",
    )
    add_runtime_flags(train)

    evaluate = _command(
        subparsers,
        "eval",
        "annkit.engine.commands:main",
        help="mIoU, per-class IoU, pixel accuracy of a model file or pretrained model",
        description="Confusion-matrix metrics on a data set; whole-image or sliding-window inference, multi-scale "
        "+ flip. The data set and inference come from the run's config.yaml next to --checkpoint (or --preset's "
        "train section), else from the evaluation protocol stored with the model (every --pretrained one: "
        "`annkit eval --pretrained NAME --data ROOT` reproduces its published setting), changed with KEY=VALUE.",
    )
    add_model_source(evaluate)
    evaluate.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="train-section keys: dataset=synthetic data_root=data val_split=val eval.mode=slide "
        "eval.crop=[512,512] eval.stride=[341,341] eval.scales=[0.75,1.0,1.25] eval.flip=true "
        "eval.max_images=100",
    )
    evaluate.add_argument(
        "--preset",
        "--config",
        dest="preset",
        default=None,
        help="take the data settings from this preset's (or YAML file's) train section",
    )
    evaluate.add_argument(
        "--data", default=None, metavar="ROOT", help="data root holding the data set (default: the config's, else data)"
    )
    evaluate.add_argument(
        "--multi-scale",
        action="store_true",
        help="the model's published multi-scale + flip protocol instead of single scale",
    )
    evaluate.add_argument("--json", default=None, metavar="PATH", help="also write the metrics as JSON here")
    add_runtime_flags(evaluate)

    predict = _command(
        subparsers, "predict", "annkit.engine.commands:main", help="segment image files: palette PNGs + overlays"
    )
    predict.add_argument("images", nargs="+", metavar="IMAGE")
    add_model_source(predict)
    predict.add_argument(
        "--out", default="runs/predict", help="output folder (default: runs/predict); inputs are never overwritten"
    )
    predict.add_argument("--mode", choices=["whole", "slide"], default="whole")
    predict.add_argument("--crop", type=int, nargs=2, default=(512, 512), metavar=("H", "W"))
    predict.add_argument("--stride", type=int, nargs=2, default=(341, 341), metavar=("H", "W"))
    predict.add_argument("--scales", type=float, nargs="+", default=(1.0,))
    predict.add_argument("--flip", action="store_true", help="average with the left-right flipped image")
    add_runtime_flags(predict)

    quickstart = _command(
        subparsers,
        "quickstart",
        "annkit.engine.commands:main",
        help="the main job: ANN vs a local baseline on the synthetic long-range set, CPU, minutes",
        description="Writes the synthetic set if missing, trains tiny_ann and tiny_fcn side by side (one CPU "
        "thread each), evaluates both and writes report.md + PNGs (learning curves, mIoU table, sample "
        "predictions, one attention map).",
    )
    quickstart.add_argument("--out", default="runs/quickstart", help="report folder (default: runs/quickstart)")
    quickstart.add_argument("--data-root", default="data", help="data root holding synthetic/ (default: data)")
    quickstart.add_argument("--iterations", type=int, default=None, help="training iterations per model")
    quickstart.add_argument("--sequential", action="store_true", help="train one model after the other")
    add_runtime_flags(quickstart)


def _add_presets(subparsers: argparse._SubParsersAction) -> None:
    actions = _group(subparsers, "presets", "ACTION", help="the named recipes (model + train sections)")
    _command(actions, "list", _presets_list, help="every preset's name and what it is")
    show = _command(
        actions,
        "show",
        _presets_show,
        help="a preset as YAML: `annkit presets show tiny_ann > my.yaml`, edit, `annkit train --config my.yaml`",
    )
    show.add_argument("name", help="a preset name (annkit presets list)")


def _presets_list(args: argparse.Namespace) -> int:
    from annkit.presets import PRESETS, preset_names

    for name in preset_names():
        print(f"{name:34} {(PRESETS[name].__doc__ or '').splitlines()[0]}")
    return 0


def _presets_show(args: argparse.Namespace) -> int:
    from annkit.presets import load_preset, preset_yaml

    load_preset(args.name)  # an unknown name: the one-line error with the closest names
    print(preset_yaml(args.name), end="")
    return 0


def _add_ablation(subparsers: argparse._SubParsersAction) -> None:
    """``annkit ablation``: the pyramid ablation on the sides set (``annkit.engine.ablation``)."""
    ablation = _command(
        subparsers,
        "ablation",
        _run_ablation,
        help="why APNB samples a pyramid: ANN vs S = 1 vs the local baseline and design variants, several seeds",
        description="Writes the sides set (data/synthetic_sides) if missing, trains every variant with every seed in "
        "parallel single-thread processes (runs already finished in --out are kept), and writes ablation.json + "
        "ablation.png to --out.",
    )
    ablation.add_argument("--out", default="runs/ablation", help="runs and results (default: runs/ablation)")
    ablation.add_argument("--data-root", default="data", help="data root holding synthetic_sides/ (default: data)")
    ablation.add_argument("--iterations", type=int, default=None, help="per run (default: ablation.ITERATIONS)")
    ablation.add_argument("--seeds", type=int, nargs="+", default=None, help="training seeds (default: ablation.SEEDS)")
    ablation.add_argument("--variants", nargs="+", default=None, help="labels of ablation.VARIANTS (default: all)")
    ablation.add_argument("--workers", type=int, default=None, help="parallel trainings (default: CPU count)")


def _run_ablation(args: argparse.Namespace) -> int:
    from annkit.engine.ablation import ITERATIONS, SEEDS, run

    variants = tuple(args.variants) if args.variants else None
    seeds = tuple(args.seeds) if args.seeds else SEEDS
    run(args.out, args.data_root, args.iterations or ITERATIONS, seeds, variants, args.workers)
    return 0


_GROUPS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_bench,
    _add_viz,
    _add_convert,
    _add_data,
    _add_engine,
    _add_models,
    _add_export,
    _add_presets,
    _add_ablation,
]


def _set_threads(threads: int) -> None:
    """``--threads N``: the CPU threads torch uses for the whole command."""
    import torch

    from annkit.errors import ConfigError

    if threads < 1:
        raise ConfigError(f"--threads {threads}: expected a number of CPU threads, at least 1")
    torch.set_num_threads(threads)


def build_parser() -> argparse.ArgumentParser:
    """The ``annkit`` argument parser with every registered subcommand group."""
    parser = argparse.ArgumentParser(
        prog="annkit",
        description="Asymmetric Non-local Neural Networks: blocks, models, data, training, attention maps.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_group in _GROUPS:
        add_group(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``annkit`` console script; returns the process exit code (see the module docstring).

    A user error (``annkit.errors.UserError``, or an OSError about a named file) prints one line and returns 2;
    any other exception is a bug and propagates with its traceback.
    """
    from annkit.errors import EXIT_USER_ERROR, UserError, os_error

    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "threads", None) is not None:  # every command's --threads: torch's CPU threads
            _set_threads(args.threads)
        return int(args.func(args) or 0)
    except UserError as error:
        message = str(error)
    except OSError as error:  # the OS refused a file the user named: not a bug of annkit
        if error.filename is None:
            raise
        message = str(os_error(error, error.filename, "accessing"))
    print(f"annkit: error: {message}", file=sys.stderr)
    return EXIT_USER_ERROR
