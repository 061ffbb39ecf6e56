"""The ``annkit`` command. Each subcommand is a thin call into the modules that do the work.

Subcommand groups register themselves in ``_GROUPS``; a group is a function that adds its parsers to the
top-level subparsers and sets ``func`` (called with the parsed namespace, returns an exit code).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence


def _add_bench(subparsers: argparse._SubParsersAction) -> None:
    bench = subparsers.add_parser("bench", help="efficiency measurements (blocks and whole models)")
    kinds = bench.add_subparsers(dest="bench_kind", required=True, metavar="KIND")

    blocks = kinds.add_parser(
        "blocks",
        help="non-local vs APNB/AFNB: time, peak memory, multiply-adds",
        description="Time (torch.utils.benchmark, median after warm-up), peak memory and FLOPs "
        "(torch.utils.flop_counter) of non-local, APNB and AFNB blocks, reference vs annkit.",
    )
    blocks.add_argument("--quick", action="store_true", help="one small size, few repeats (seconds)")
    blocks.add_argument("--sizes", nargs="+", default=None, metavar="HxW",
                        help="feature sizes (default: 64x128 96x96 128x256)")
    blocks.add_argument("--suite", choices=["mmseg", "official", "all"], default="all",
                        help="mmseg: the ANN head's blocks (512/1024/2048 ch, fusion included); "
                        "official: the official benchmark's 2048-channel context block vs non-local")
    blocks.add_argument("--channels", type=int, default=None, help="override in/out channels of every block")
    blocks.add_argument("--key-channels", type=int, default=256)
    blocks.add_argument("--batch", type=int, default=1)
    blocks.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    blocks.add_argument("--device", default="cpu")
    blocks.add_argument("--mode", choices=["suite", "forward", "backward", "both"], default="suite",
                        help="forward = inference (no grad); backward = forward+backward in train mode; "
                        "suite (default) = the mode each suite's targets use (mmseg: backward, official: forward)")
    blocks.add_argument("--max-map-gib", type=float, default=8.0,
                        help="skip explicit non-local cases whose N×N maps would need more than this (GiB)")
    blocks.add_argument("--max-gmac", type=float, default=1000.0,
                        help="skip non-local cases whose attention needs more multiply-adds than this (×1e9)")
    blocks.add_argument("--min-run-time", type=float, default=None,
                        help="seconds of timing per case (torch.utils.benchmark blocked_autorange)")
    blocks.add_argument("--json", default=None, metavar="PATH", help="write the results as JSON here")
    blocks.set_defaults(func=_run_bench_blocks)

    model = kinds.add_parser(
        "model",
        help="whole model: images/s, peak memory, FLOPs, fraction of GEMM throughput",
        description="Time a whole Segmentor (inference or a training step), count its FLOPs "
        "(torch.utils.flop_counter, 2 per multiply-add) and compare its FLOP/s with a GEMM timed in the same run.",
    )
    model.add_argument("--preset", default="mmseg_ann_r50_d8_voc12aug", help="model preset (annkit/configs)")
    model.add_argument("--size", default="512x512", metavar="HxW", help="input image size")
    model.add_argument("--batch", type=int, default=1)
    model.add_argument("--mode", choices=["inference", "train"], default="inference")
    model.add_argument("--device", default="cpu")
    model.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32",
                       help="autocast dtype (float32 = no autocast); the GEMM uses the same dtype")
    model.add_argument("--channels-last", action="store_true", help="NHWC memory format")
    model.add_argument("--compile", action="store_true", help="torch.compile the model")
    model.add_argument("--no-fold-bn", action="store_true", help="keep BatchNorm separate at inference")
    model.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    model.add_argument("--repeats", type=int, default=5, help="timed steps (median reported)")
    model.add_argument("--warmup", type=int, default=2)
    model.add_argument("--gemm-size", type=int, default=None, help="square GEMM size (default 2048 CPU, 8192 CUDA)")
    model.add_argument("--json", default=None, metavar="PATH", help="write the result as JSON here")
    model.set_defaults(func=_run_bench_model)


def _run_bench_model(args: argparse.Namespace) -> int:
    from annkit.bench.model import main

    return main(args)


def _run_bench_blocks(args: argparse.Namespace) -> int:
    from annkit.bench import blocks

    return blocks.main(args)


def _add_convert(subparsers: argparse._SubParsersAction) -> None:
    convert = subparsers.add_parser("convert", help="convert checkpoints from other implementations")
    sources = convert.add_subparsers(dest="convert_source", required=True, metavar="SOURCE")
    mmseg = sources.add_parser(
        "mmseg",
        help="mmsegmentation ANN/FCN/PSP ResNetV1c checkpoint -> annkit model file",
        description="Map an mmsegmentation checkpoint's keys onto annkit's model, load it strictly and save "
        "{config, state_dict} (load with annkit.models.load). The architecture is read from the weights "
        "unless --preset names it.",
    )
    mmseg.add_argument("checkpoint", metavar="CKPT", help="mmsegmentation .pth file")
    mmseg.add_argument("output", metavar="OUT", help="annkit model file to write")
    mmseg.add_argument("--preset", default=None,
                       help="annkit preset the weights must fit, e.g. mmseg_ann_r50_d8_voc12aug")
    mmseg.add_argument("--align-corners", action="store_true",
                       help="resize logits with align_corners=True (mmsegmentation's 769x769 Cityscapes models)")
    mmseg.set_defaults(func=_run_convert_mmseg)
    _add_convert_paddleseg(sources)


def _add_convert_paddleseg(sources: argparse._SubParsersAction) -> None:
    paddleseg = sources.add_parser(
        "paddleseg",
        help="PaddleSeg ANN (ResNet-vd) model.pdparams -> annkit model file",
        description="Read a PaddleSeg .pdparams file without running pickled code (numpy arrays only), map its "
        "keys onto annkit's model (conv biases folded into BN), load it strictly and save {config, state_dict} "
        "(load with annkit.models.load). The architecture is read from the weights unless --preset names it.",
    )
    paddleseg.add_argument("checkpoint", metavar="IN", help="PaddleSeg model.pdparams file")
    paddleseg.add_argument("output", metavar="OUT", help="annkit model file to write (an existing file is kept)")
    paddleseg.add_argument("--preset", default=None,
                           help="annkit preset the weights must fit, e.g. paddleseg_ann_r50_vd_voc12aug")
    paddleseg.set_defaults(func=_run_convert_paddleseg)


def _run_convert_paddleseg(args: argparse.Namespace) -> int:
    from pathlib import Path

    from annkit.models.pretrained import convert_paddleseg_checkpoint

    if Path(args.output).exists():
        print(f"error: {args.output} exists; choose another OUT or remove it first", file=sys.stderr)
        return 1
    model = convert_paddleseg_checkpoint(args.checkpoint, args.output, config=args.preset)
    print(f"wrote {args.output}: {model.config.name}, {model.config.num_classes} classes, "
          f"ResNet{model.config.backbone.depth}_vd + {model.config.head.name} head")
    return 0


def _run_convert_mmseg(args: argparse.Namespace) -> int:
    from annkit.models.pretrained import convert_mmseg_checkpoint

    model = convert_mmseg_checkpoint(args.checkpoint, args.output, config=args.preset,
                                     align_corners=args.align_corners)
    print(f"wrote {args.output}: {model.config.name}, {model.config.num_classes} classes, "
          f"ResNet-{model.config.backbone.depth} + {model.config.head.name} head")
    return 0


_SYNTH_KNOBS = {
    "size": "image height = width, px", "num_classes": "object classes K (cue colours, at most 6)",
    "min_objects": "fewest objects per image", "max_objects": "most objects per image",
    "object_min": "smallest object side, px", "object_max": "largest object side, px",
    "cue_size": "thickness of the cue band, px", "cue_distance": "min Chebyshev distance cue ↔ object pixels, px",
    "num_train": "training images", "num_val": "validation images", "seed": "random seed",
}


def _add_data(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="datasets: download VOC/SBD, check a folder, write the synthetic set")
    actions = data.add_subparsers(dest="data_action", required=True, metavar="ACTION")

    download = actions.add_parser("download", help="download + extract Pascal VOC 2012 or SBD (resumable, MD5-checked)")
    download.add_argument("dataset", choices=["voc", "sbd"])
    download.add_argument("--root", default="data", help="data root (default: data)")
    download.add_argument("--remove-archive", action="store_true", help="delete the archive after extracting")
    download.set_defaults(func=_run_data_download)

    check = actions.add_parser("check", help="validate a VOC-layout dataset folder; exit 1 if broken")
    check.add_argument("path", help="VOC-layout folder, or a data root holding VOCdevkit/VOC2012")
    check.set_defaults(func=_run_data_check)

    synth = actions.add_parser("synth", help="write the synthetic long-range set in VOC layout")
    synth.add_argument("--root", default="data/synthetic", help="output folder (default: data/synthetic)")
    for knob, meaning in _SYNTH_KNOBS.items():  # defaults: annkit.data.SynthConfig
        synth.add_argument(f"--{knob.replace('_', '-')}", type=int, default=None, help=meaning)
    synth.set_defaults(func=_run_data_synth)

    bench = actions.add_parser("bench", help="loading + augmentation images/s of one DataLoader worker")
    bench.add_argument("--root", default=None, help="data root with VOC 2012 (default: synthetic stand-ins)")
    bench.add_argument("--crop", type=int, default=512)
    bench.add_argument("--images", type=int, default=100)
    bench.set_defaults(func=_run_data_bench)


def _run_data_download(args: argparse.Namespace) -> int:
    from annkit.data.download import download
    from annkit.data.errors import DownloadError

    try:
        print(f"{args.dataset} ready at {download(args.dataset, args.root, keep_archive=not args.remove_archive)}")
    except DownloadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _run_data_check(args: argparse.Namespace) -> int:
    from annkit.data.check import check_dataset
    from annkit.data.errors import DatasetNotFoundError

    try:
        report = check_dataset(args.path)
    except DatasetNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0 if report.ok else 1


def _run_data_synth(args: argparse.Namespace) -> int:
    from annkit.data.synthetic import SynthConfig, describe, write_synthetic

    try:
        config = SynthConfig(**{knob: getattr(args, knob) for knob in _SYNTH_KNOBS if getattr(args, knob) is not None})
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(describe(write_synthetic(args.root, config, progress=True)))
    return 0


def _run_data_bench(args: argparse.Namespace) -> int:
    from annkit.data.throughput import bench

    print(bench(args.root, args.crop, args.images))
    return 0


def _add_viz(subparsers: argparse._SubParsersAction) -> None:
    viz = subparsers.add_parser("viz", help="attention maps: where does each pixel look?")
    kinds = viz.add_subparsers(dest="viz_kind", required=True, metavar="KIND")
    attention = kinds.add_parser(
        "attention", help="one query pixel: where it looks, per block and pyramid level, as a PNG figure")
    source = attention.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", metavar="PATH", help="an annkit model file (train output or convert)")
    source.add_argument("--pretrained", metavar="NAME", help="a trained model from annkit.models.CHECKPOINTS")
    attention.add_argument("--image", required=True, metavar="IMG")
    attention.add_argument("--point", nargs=2, type=float, required=True, metavar=("X", "Y"),
                           help="the query pixel, in image pixels")
    attention.add_argument("--out", required=True, metavar="FIG.png")
    attention.add_argument("--block", default=None, help="block name (default: the last attention block)")
    attention.add_argument("--level", type=int, default=None, help="one pyramid level (0 = 1×1); default all")
    attention.add_argument("--normalize", choices=["overall", "level"], default="overall")
    attention.add_argument("--overlay", action="store_true", help="show the prediction over the image")
    attention.add_argument("--top-k", type=int, default=5)
    attention.add_argument("--device", default="cpu")
    attention.set_defaults(func=_run_viz_attention)


def _run_viz_attention(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from annkit import models, viz

    model = models.load(args.checkpoint) if args.checkpoint else models.from_pretrained(args.pretrained)
    image = viz.load_image(args.image)
    height, width = image.shape[-2:]
    x, y = args.point
    if not (0 <= x < width and 0 <= y < height):
        raise SystemExit(f"annkit viz attention: --point {x:g} {y:g} is outside the {width}×{height} image")
    capture = viz.capture_attention(model, image, device=args.device)
    if not capture.blocks:
        raise SystemExit("annkit viz attention: the model has no attention block (APNB, AFNB or non-local)")
    block = args.block or list(capture.blocks)[-1]
    if block not in capture.blocks:
        raise SystemExit(f"annkit viz attention: no block {block!r}; blocks: {', '.join(capture.blocks)}")
    levels = len(capture.blocks[block].geometry.grids)
    if args.level is not None and not 0 <= args.level < levels:
        raise SystemExit(f"annkit viz attention: --level must be in 0..{levels - 1} for block {block!r}")
    figure = viz.plot_query(capture, block, (x, y), args.level, args.normalize, args.overlay, args.top_k)
    figure.savefig(args.out, dpi=120)
    print(f"wrote {args.out} (block {block}, query pixel x={x:g}, y={y:g})")
    return 0


def _add_engine(subparsers: argparse._SubParsersAction) -> None:
    def add_model_source(parser: argparse.ArgumentParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--checkpoint", metavar="PATH", help="an annkit model file (a run's best.pt / final.pt)")
        source.add_argument("--pretrained", metavar="NAME", help="a trained model from annkit.models.CHECKPOINTS")

    def add_runtime_flags(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: CUDA if available)")
        parser.add_argument("--threads", type=int, default=None,
                            help="CPU threads (default: torch's; 1 is fastest on a busy machine)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    train = subparsers.add_parser(
        "train", help="train a preset with the paper's recipe (SGD, poly LR, OHEM, aux 0.4); torchrun for DDP",
        description="Iteration-based training: evaluation every eval_every iterations, best model kept, atomic "
        "checkpoints every checkpoint_every iterations, exact --resume. Multi-GPU/multi-node: "
        "torchrun --nproc-per-node N -m annkit train ...")
    train.add_argument("--preset", required=True, help="preset name (annkit/configs), e.g. tiny_ann, voc_ann_r50")
    train.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                       help="config overrides, YAML values: iterations=200 optimizer.lr=0.02 dataset=synthetic "
                       "model.head.dropout=0 (keys without model./train. are train keys)")
    train.add_argument("--out", default=None, help="run directory (default: runs/<preset>)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its last.pt")
    train.add_argument("--throughput", type=int, default=None, metavar="STEPS",
                       help="only time STEPS training steps on random data at the preset's crop size; print images/s")
    add_runtime_flags(train)
    train.set_defaults(func=_run_engine)

    evaluate = subparsers.add_parser(
        "eval", help="mIoU, per-class IoU, pixel accuracy of a model file or pretrained model",
        description="Confusion-matrix metrics on a data set; whole-image or sliding-window inference, multi-scale "
        "+ flip. The data set and inference come from the run's config.yaml next to --checkpoint (or --preset's "
        "train section), changed with KEY=VALUE.")
    add_model_source(evaluate)
    evaluate.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                          help="train-section keys: dataset=synthetic data_root=data val_split=val eval.mode=slide "
                          "eval.crop=[512,512] eval.stride=[341,341] eval.scales=[0.75,1.0,1.25] eval.flip=true "
                          "eval.max_images=100")
    evaluate.add_argument("--preset", default=None, help="take the data settings from this preset's train section")
    evaluate.add_argument("--json", default=None, metavar="PATH", help="also write the metrics as JSON here")
    add_runtime_flags(evaluate)
    evaluate.set_defaults(func=_run_engine)

    predict = subparsers.add_parser("predict", help="segment image files: palette PNGs + overlays")
    predict.add_argument("images", nargs="+", metavar="IMAGE")
    add_model_source(predict)
    predict.add_argument("--out", default="runs/predict", help="output folder (default: runs/predict)")
    predict.add_argument("--mode", choices=["whole", "slide"], default="whole")
    predict.add_argument("--crop", type=int, nargs=2, default=(512, 512), metavar=("H", "W"))
    predict.add_argument("--stride", type=int, nargs=2, default=(341, 341), metavar=("H", "W"))
    predict.add_argument("--scales", type=float, nargs="+", default=(1.0,))
    predict.add_argument("--flip", action="store_true", help="average with the left-right flipped image")
    add_runtime_flags(predict)
    predict.set_defaults(func=_run_engine)

    quickstart = subparsers.add_parser(
        "quickstart", help="the main job: ANN vs a local baseline on the synthetic long-range set, CPU, minutes",
        description="Writes the synthetic set if missing, trains tiny_ann and tiny_fcn side by side (one CPU "
        "thread each), evaluates both and writes report.md + PNGs (learning curves, mIoU table, sample "
        "predictions, one attention map).")
    quickstart.add_argument("--out", default="runs/quickstart", help="report folder (default: runs/quickstart)")
    quickstart.add_argument("--data-root", default="data", help="data root holding synthetic/ (default: data)")
    quickstart.add_argument("--iterations", type=int, default=None, help="training iterations per model")
    quickstart.add_argument("--sequential", action="store_true", help="train one model after the other")
    add_runtime_flags(quickstart)
    quickstart.set_defaults(func=_run_engine)


def _run_engine(args: argparse.Namespace) -> int:
    from annkit.engine.commands import main

    return main(args)


_GROUPS: list[Callable[[argparse._SubParsersAction], None]] = [_add_bench, _add_viz, _add_convert, _add_data, _add_engine]


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
    """Entry point of the ``annkit`` console script; returns the process exit code."""
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
