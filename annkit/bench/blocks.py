"""``annkit bench blocks``: non-local vs APNB / AFNB, the straightforward formulation vs annkit's.

Two suites, each at feature sizes 64×128, 96×96 and 128×256 (the paper's 256×128 benchmark input is 128×256):

- ``mmseg``: the blocks of mmsegmentation's ANN head — APNB (512 in/out, 256 key/value, fusion conv included),
  AFNB (stage 4: 1024, stage 5: 2048 → 2048, fusion included) — next to a non-local block with the same
  budget (512 channels, 256 inner), explicit N×N map and fused SDPA. Default: forward + backward (training).
- ``official``: the official benchmark's block (2048 in/out, 256 key/value, no fusion; the paper's "6× faster,
  28× less memory" claim): non-local explicit, non-local fused SDPA, APNB reference, APNB annkit. Default:
  inference. Memory is what a block allocates beyond its input and its output, as the official measure does
  by subtracting a pass-through block.

Every case reports the median time, FLOPs (2 per multiply-add), achieved FLOP/s, peak memory, and the max abs
difference of its output from the group's reference; then the ratios between them.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from annkit.bench.common import Profile, environment, profile_call, time_callable
from annkit.nn import AFNB, APNB, NonLocal2d

FULL_SIZES = ((64, 128), (96, 96), (128, 256))
QUICK_SIZES = ((32, 64),)
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class Case:
    """One thing to measure: ``run(*inputs)`` in a suite/group, compared with the group's reference output."""

    suite: str
    group: str
    impl: str
    module: nn.Module
    run: Callable[..., Tensor]
    inputs: tuple[Tensor, ...]
    pairs: int = 0  # N·S query–anchor pairs of a non-local case, per image
    attention_macs: int = 0  # its QKᵀ + AV multiply-adds per image (2·N·S·d), forward
    explicit: bool = False  # whether it materialises the (N, S) map


@dataclass
class Result:
    suite: str
    group: str
    impl: str
    size: str
    mode: str
    time_ms: float | None
    iqr_ms: float | None
    gflop: float | None
    gflops_per_s: float | None
    peak_mib: float | None
    beyond_io_mib: float | None
    max_abs_diff: float | None
    attention_kernels: list[str]
    note: str = ""


def _nonlocal_cases(suite: str, block: NonLocal2d, x: Tensor, key: int) -> list[Case]:
    """A non-local block's two cases: the explicit N×N map (the group's reference) and fused SDPA."""
    n = x.shape[-2] * x.shape[-1]  # N = S = H·W
    pairs, macs = n * n, 2 * n * n * key
    return [
        Case(suite, "non-local", "non-local explicit N×N", block, block.reference, (x,), pairs, macs, True),
        Case(suite, "non-local", "non-local fused SDPA", block, block, (x,), pairs, macs),
    ]


def mmseg_cases(h: int, w: int, batch: int, channels: int | None, key: int) -> list[Case]:
    """The ANN head's blocks as mmsegmentation configures them (dropout off for a deterministic comparison)."""
    c = channels or 512
    low_c, high_c = (channels, channels) if channels else (1024, 2048)
    x, low, high = torch.randn(batch, c, h, w), torch.randn(batch, low_c, h, w), torch.randn(batch, high_c, h, w)
    nonlocal_block = NonLocal2d(c, inter_channels=key, zero_init=False)
    apnb = APNB(c, c, key, key, dropout=0.0, key_bias=False, zero_init_out=False)
    afnb = AFNB(low_c, high_c, high_c, key, key, dropout=0.0, key_bias=False, zero_init_out=False)
    return [
        *_nonlocal_cases("mmseg", nonlocal_block, x, key),
        Case("mmseg", "APNB", "APNB reference", apnb, apnb.reference, (x,)),
        Case("mmseg", "APNB", "APNB annkit", apnb, apnb, (x,)),
        Case("mmseg", "AFNB", "AFNB reference", afnb, afnb.reference, (low, high)),
        Case("mmseg", "AFNB", "AFNB annkit", afnb, afnb, (low, high)),
    ]


def official_cases(h: int, w: int, batch: int, channels: int | None, key: int) -> list[Case]:
    """The official benchmark's context block: 2048 in/out, 256 key/value, no fusion conv."""
    c = channels or 2048
    x = torch.randn(batch, c, h, w)
    nonlocal_block = NonLocal2d(c, inter_channels=key, residual=False, zero_init=False)
    apnb = APNB(c, c, key, key, dropout=0.0, zero_init_out=False)
    return [
        *_nonlocal_cases("official", nonlocal_block, x, key),
        Case("official", "APNB", "APNB reference", apnb, lambda t: apnb.context(t, reference=True), (x,)),
        Case("official", "APNB", "APNB annkit", apnb, apnb.context, (x,)),
    ]


def _call(case: Case, device: torch.device, dtype: torch.dtype, backward: bool) -> Callable[[], object]:
    """A zero-argument callable: inference under no_grad, or forward + backward in train mode."""
    case.module.to(device=device, dtype=dtype).train(backward)
    inputs = [t.to(device=device, dtype=dtype).requires_grad_(backward) for t in case.inputs]
    if not backward:

        def infer():
            with torch.no_grad():
                return case.run(*inputs)

        return infer
    upstream = case.run(*inputs).detach().normal_()

    def train_step():
        for p in [*case.module.parameters(), *inputs]:
            p.grad = None
        case.run(*inputs).backward(upstream)

    return train_step


def _skip_reason(case: Case, dtype: torch.dtype, backward: bool, max_map_bytes: float, max_macs: float) -> str:
    """Why a non-local case is not run (too much memory or compute for this machine), or ''."""
    batch = case.inputs[0].shape[0]
    macs = case.attention_macs * batch * (3 if backward else 1)  # ×3 with the backward pass
    # explicit attention holds ~2 maps in inference (logits, softmax) and ~4 in a train step (+ their gradients)
    map_bytes = case.explicit * case.pairs * batch * torch.finfo(dtype).bits / 8 * (4 if backward else 2)
    if map_bytes > max_map_bytes:
        return f"skipped: its N×N maps would take ~{map_bytes / 2**30:.0f} GiB (raise --max-map-gib)"
    if macs > max_macs:
        return f"skipped: its attention alone is ~{macs / 1e9:.0f} GMAC (raise --max-gmac)"
    return ""


def measure(
    case: Case,
    size: str,
    device: torch.device,
    dtype: torch.dtype,
    backward: bool,
    min_run_time: float,
    reference: Tensor | None,
    max_map_bytes: float,
    max_macs: float,
) -> tuple[Result, Tensor | None]:
    """Profile (FLOPs, memory, kernels; doubles as the warm-up) and time one case; returns its result and its
    output (float32), compared with ``reference``."""
    mode = "forward+backward" if backward else "forward"
    note = _skip_reason(case, dtype, backward, max_map_bytes, max_macs)
    if note:
        return Result(case.suite, case.group, case.impl, size, mode, *[None] * 7, [], note), None
    fn = _call(case, device, dtype, backward)
    profile: Profile = profile_call(fn, device)
    timing = time_callable(fn, device, min_run_time=min_run_time, warmup=0)
    if backward:
        with torch.no_grad():
            output = case.run(*[t.to(device=device, dtype=dtype) for t in case.inputs]).float()
    else:
        output = profile.result.float()
    diff = None if reference is None else (output - reference).abs().max().item()
    # inputs exist before the call, so the peak never includes them; inference also keeps its output
    beyond = None if backward else (profile.peak_bytes - profile.result_bytes) / 2**20
    return Result(
        case.suite,
        case.group,
        case.impl,
        size,
        mode,
        timing.median * 1e3,
        timing.iqr * 1e3,
        profile.flops / 1e9,
        profile.flops / timing.median / 1e9,
        profile.peak_bytes / 2**20,
        beyond,
        diff,
        profile.attention_kernels,
    ), output


SUITES = {"mmseg": (mmseg_cases, True), "official": (official_cases, False)}  # builder, backward by default


def run(
    sizes,
    suites,
    modes,
    batch,
    channels,
    key,
    device,
    dtype,
    min_run_time,
    max_map_gib,
    max_gmac,
    echo: Callable[[Result], None] = lambda r: None,
) -> list[Result]:
    """Measure every case of ``suites`` at ``sizes``; the first case of a group is the group's reference."""
    results = []
    for h, w in sizes:
        for suite in suites:
            build, suite_backward = SUITES[suite]
            for backward in (
                [suite_backward] if modes == "suite" else [False, True] if modes == "both" else [modes == "backward"]
            ):
                torch.manual_seed(0)
                references: dict[str, Tensor] = {}
                for case in build(h, w, batch, channels, key):
                    result, output = measure(
                        case,
                        f"{h}x{w}",
                        device,
                        dtype,
                        backward,
                        min_run_time,
                        references.get(case.group),
                        max_map_gib * 2**30,
                        max_gmac * 1e9,
                    )
                    if output is not None:
                        references.setdefault(case.group, output)
                    del output
                    results.append(result)
                    echo(result)
    return results


# (suite, mode, slower impl, faster impl, quantity, label)
RATIOS = [
    ("mmseg", "forward+backward", "APNB reference", "APNB annkit", "time", "APNB train step, annkit vs reference"),
    ("mmseg", "forward+backward", "AFNB reference", "AFNB annkit", "time", "AFNB train step, annkit vs reference"),
    ("official", "forward", "APNB reference", "APNB annkit", "time", "APNB inference, annkit vs reference"),
    ("official", "forward", "non-local explicit N×N", "APNB annkit", "time", "APNB annkit vs explicit non-local, time"),
    ("official", "forward", "non-local fused SDPA", "APNB annkit", "time", "APNB annkit vs fused-SDPA non-local, time"),
    (
        "official",
        "forward",
        "non-local explicit N×N",
        "APNB annkit",
        "memory",
        "APNB annkit vs explicit non-local, memory beyond in/out",
    ),
    (
        "official",
        "forward",
        "non-local explicit N×N",
        "APNB reference",
        "time",
        "the paper's comparison, time (paper: ~6× on a GPU)",
    ),
    (
        "official",
        "forward",
        "non-local explicit N×N",
        "APNB reference",
        "memory",
        "the paper's comparison, memory (paper: ~28× on a GPU)",
    ),
]


def ratios(results: list[Result]) -> list[dict[str, object]]:
    """Every ratio of ``RATIOS`` that the results allow (slower ÷ faster), per size in the order measured."""
    measured = {(r.suite, r.impl, r.size, r.mode): r for r in results if r.time_ms is not None}
    sizes = list(dict.fromkeys(r.size for r in results))
    out = []
    for suite, mode, slow, fast, quantity, label in RATIOS:
        for size in sizes:
            a, b = measured.get((suite, slow, size, mode)), measured.get((suite, fast, size, mode))
            if a is None or b is None:
                continue
            value = a.time_ms / b.time_ms if quantity == "time" else a.beyond_io_mib / max(b.beyond_io_mib, 1e-6)
            out.append(
                {
                    "label": label,
                    "suite": suite,
                    "size": size,
                    "mode": mode,
                    "quantity": quantity,
                    "slower": slow,
                    "faster": fast,
                    "ratio": value,
                }
            )
    return out


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def format_result(r: Result) -> str:
    """One table row."""
    diff = "ref" if r.max_abs_diff is None and r.time_ms is not None else _fmt(r.max_abs_diff, ".1e")
    kernels = ",".join(k.removeprefix("_scaled_dot_product_").removesuffix("_for_cpu") for k in r.attention_kernels)
    row = (
        f"{r.suite:8} {r.impl:24} {r.size:>8} {r.mode:16} {_fmt(r.time_ms, '10.1f')} "
        f"{_fmt(r.gflop, '9.2f')} {_fmt(r.gflops_per_s, '8.1f')} {_fmt(r.peak_mib, '9.1f')} "
        f"{_fmt(r.beyond_io_mib, '9.1f')} {diff:>8}  {kernels}"
    )
    return row + (f"  {r.note}" if r.note else "")


HEADER = (
    f"{'suite':8} {'impl':24} {'size':>8} {'mode':16} {'time ms':>10} {'GFLOP':>9} "
    f"{'GFLOP/s':>8} {'peak MiB':>9} {'>io MiB':>9} {'max|Δ|':>8}  attention kernels"
)


def main(args: argparse.Namespace) -> int:
    """``annkit bench blocks``: print the table and the ratios; write JSON when asked."""
    device = torch.device(args.device)
    dtype = DTYPES[args.dtype]
    sizes = args.sizes or list(QUICK_SIZES if args.quick else FULL_SIZES)  # (H, W) pairs, parsed by annkit.cli
    suites = list(SUITES) if args.suite == "all" else [args.suite]
    min_run_time = args.min_run_time if args.min_run_time is not None else (0.2 if args.quick else 1.0)
    env = environment(device, dtype)
    print(f"annkit bench blocks — {env['device']} {env['dtype']}, torch {env['torch']}, {env['threads']} threads")
    print(f"FLOPs: {env['flop_convention']}.  Memory: {env['memory_method']}.")
    print(
        "'>io MiB': allocated beyond the block's input and output (inference).  "
        "max|Δ|: output vs the same block's first row.\n"
    )
    print(HEADER)
    results = run(
        sizes,
        suites,
        args.mode,
        args.batch,
        args.channels,
        args.key_channels,
        device,
        dtype,
        min_run_time,
        args.max_map_gib,
        args.max_gmac,
        echo=lambda r: print(format_result(r), flush=True),
    )
    found = ratios(results)
    print("\nratios (measured in this run)")
    for r in found:
        print(f"  {r['size']:>8} {r['ratio']:8.2f}×  {r['label']}")
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    "environment": env,
                    "args": vars(args) | {"func": None},
                    "results": [asdict(r) for r in results],
                    "ratios": found,
                },
                indent=1,
            )
        )
        print(f"\nwrote {path}")
    return 0
