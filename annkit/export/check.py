"""Is the exported graph the model? onnxruntime (CPU execution provider) against PyTorch, size by size.

``compare(model, onnx_path, sizes)`` feeds the same random RGB images in [0, 1] to both and reports, per size, the
largest absolute logit difference and the fraction of pixels whose argmax class agrees — pass when ≤ 1e-4 and
≥ 99.99 % (fp32). ``annkit export check`` exports once with dynamic height and width, then checks every size
with that one file: the pyramid bins of each size are computed by the graph itself.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from annkit.export.onnx import INPUT_NAME, to_onnx
from annkit.models import Segmentor, build, from_pretrained, load

MAX_ABS_DIFF = 1e-4
MIN_ARGMAX_AGREEMENT = 0.9999
DEFAULT_SIZES = ((512, 512), (97, 131), (321, 481), (200, 75), (769, 769), (1024, 2048))


@dataclass
class SizeCheck:
    """One input size: logits of onnxruntime vs PyTorch on the same images."""

    height: int
    width: int
    max_abs_diff: float  # max |ONNX − PyTorch| over all logits
    argmax_agreement: float  # fraction of pixels with the same argmax class
    max_abs_logit: float  # scale of the logits, for reading the difference
    passed: bool


def session(path: str | Path, threads: int | None = None):
    """An onnxruntime CPU session with all graph optimisations (conv+BN folding, fusions), ``threads`` intra-op
    threads (default: torch's) and no spin-waiting, so it leaves the cores free between calls."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def compare(
    model: Segmentor, onnx_path: str | Path, sizes, *, batch: int = 1, seed: int = 0, threads: int | None = None
) -> list[SizeCheck]:
    """Run ``model`` (eval, fp32, normalisation included) and the ONNX file on the same images at each (H, W)."""
    runner = session(onnx_path, threads)
    generator = torch.Generator().manual_seed(seed)
    model = model.eval()
    checks = []
    for height, width in sizes:
        images = torch.rand(batch, 3, height, width, generator=generator)  # RGB in [0, 1]
        with torch.no_grad():
            expected = model(model.normalize(images)).numpy()  # (B, K, H, W)
        got = runner.run(None, {INPUT_NAME: images.numpy()})[0]
        if got.shape != expected.shape:
            raise AssertionError(f"ONNX logits have shape {got.shape}, PyTorch's {expected.shape}")
        diff = float(np.abs(got - expected).max())
        agreement = float((got.argmax(1) == expected.argmax(1)).mean())
        checks.append(
            SizeCheck(
                height,
                width,
                diff,
                agreement,
                float(np.abs(expected).max()),
                diff <= MAX_ABS_DIFF and agreement >= MIN_ARGMAX_AGREEMENT,
            )
        )
    return checks


def report(name: str, checks: list[SizeCheck]) -> str:
    """One line per size and a verdict."""
    lines = [
        f"{name}: onnxruntime (CPU EP) vs PyTorch eager, fp32; pass = max |diff| <= {MAX_ABS_DIFF:g} and "
        f"argmax agreement >= {MIN_ARGMAX_AGREEMENT:.2%}"
    ]
    for c in checks:
        lines.append(
            f"  {c.height:>5}x{c.width:<5} max |diff| {c.max_abs_diff:.2e} (logits up to "
            f"{c.max_abs_logit:.2e})  argmax agreement {c.argmax_agreement:.6%}  "
            f"{'pass' if c.passed else 'FAIL'}"
        )
    lines.append(f"  {'all sizes pass' if all(c.passed for c in checks) else 'FAILED'}")
    return "\n".join(lines)


@torch.no_grad()
def randomize_weights(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every layer random, non-degenerate weights (in place) so every path reaches the logits: a fresh model
    has zero-initialised attention out-convs (APNB/AFNB add no context) and identity BatchNorm statistics, which
    would leave the pyramid pooling untested. Conv/linear weights ~ N(0, 1/fan_in), biases ~ N(0, 0.1²); BN γ, σ²
    ~ U(0.5, 1.5), β, μ ~ N(0, 0.1²)."""
    generator = torch.Generator().manual_seed(seed)

    def normal(t: Tensor, std: float) -> None:
        t.copy_(torch.randn(t.shape, generator=generator) * std)

    def uniform(t: Tensor, low: float, high: float) -> None:
        t.copy_(low + (high - low) * torch.rand(t.shape, generator=generator))

    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            normal(module.weight, module.weight[0].numel() ** -0.5)
            if module.bias is not None:
                normal(module.bias, 0.1)
        elif isinstance(module, nn.BatchNorm2d):
            uniform(module.weight, 0.5, 1.5)
            uniform(module.running_var, 0.5, 1.5)
            normal(module.bias, 0.1)
            normal(module.running_mean, 0.1)
    return model


def model_from(args: argparse.Namespace) -> tuple[str, Segmentor]:
    """The model a CLI call names: ``--preset`` (its architecture with ``randomize_weights(seed)``: nothing is
    downloaded), ``--checkpoint`` (an annkit model file) or ``--pretrained`` (mmsegmentation's zoo)."""
    if args.checkpoint:
        return str(args.checkpoint), load(args.checkpoint)
    if args.pretrained:
        return args.pretrained, from_pretrained(args.pretrained)
    model = randomize_weights(build(args.preset, backbone_weights=False), args.seed).eval()
    return f"{args.preset} (random weights, seed {args.seed})", model


def main(args: argparse.Namespace) -> int:
    """Entry point of ``annkit export check``: export dynamic (or take ``--onnx``), compare at every size."""
    sizes = args.sizes or list(DEFAULT_SIZES)  # (H, W) pairs, parsed by annkit.cli
    name, model = model_from(args)
    with tempfile.TemporaryDirectory() as tmp:
        path = (
            Path(args.onnx) if args.onnx else to_onnx(model, Path(tmp) / "model.onnx", dynamic=True, opset=args.opset)
        )
        checks = compare(model, path, sizes, seed=args.seed, threads=args.threads)
    text = report(name, checks)
    print(text)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                dict(
                    model=name,
                    torch=torch.__version__,
                    onnxruntime=_ort_version(),
                    threads=torch.get_num_threads(),
                    checks=[asdict(c) for c in checks],
                ),
                indent=2,
            )
        )
    return 0 if all(c.passed for c in checks) else 1


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__
