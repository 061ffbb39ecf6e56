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
    blocks.add_argument("--mode", choices=["forward", "backward", "both"], default="both",
                        help="forward = inference (no grad); backward = forward+backward in train mode")
    blocks.add_argument("--min-run-time", type=float, default=None,
                        help="seconds of timing per case (torch.utils.benchmark blocked_autorange)")
    blocks.add_argument("--json", default=None, metavar="PATH", help="write the results as JSON here")
    blocks.set_defaults(func=_run_bench_blocks)


def _run_bench_blocks(args: argparse.Namespace) -> int:
    from annkit import bench

    return bench.main_blocks(args)


_GROUPS: list[Callable[[argparse._SubParsersAction], None]] = [_add_bench]


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
