"""The whole segmentor as one ONNX graph, exact at any input size — pyramid pooling included.

PyTorch's exporter refuses ``adaptive_avg_pool2d`` when the output size does not divide the input size
(pytorch/pytorch#42653), and the usual workaround — a fixed-kernel average pooling — changes the model. annkit
never calls it: a pyramid sampler pools with the separable operator ``rows @ x @ colsᵀ`` whose (Σn, L) factors
follow adaptive pooling's bin rule, bin i of n covering [⌊i·L/n⌋, ⌈(i+1)·L/n⌉) (``annkit.nn.bin_averaging``).
Under export L is a symbolic size, so those factors are built *in the graph* from ``Shape`` → ``Range`` →
comparisons: one file with dynamic height and width pools exactly like PyTorch at every size.

``to_onnx(model, path)`` exports ``DeployedSegmentor(model)``: RGB images in [0, 1] (B, 3, H, W) → normalisation
→ backbone → head → bilinear resize → logits (B, K, H, W), in eval mode (BN with running statistics, no dropout,
no auxiliary head). Attention capture (``record_attention``) is PyTorch-side; the exported graph holds the
attention only as an intermediate: the fast path's ``Softmax`` over (B, N, S) logits (``MatMul`` of queries and
pooled keys), consumed at once by the aggregation ``MatMul`` — it is not an output of the graph.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode

from annkit.models.segmentor import Segmentor
from annkit.nn.attention import AttentionBlock

#: the ATen ops of adaptive pooling: their bins depend on the input size, which ONNX's pooling ops cannot express
_ADAPTIVE_POOLS = (
    "_adaptive_avg_pool2d",
    "adaptive_max_pool2d",
    "_adaptive_avg_pool3d",
    "adaptive_max_pool3d",
    "adaptive_max_pool1d",
    "adaptive_avg_pool1d",
)
INPUT_NAME, OUTPUT_NAME = "images", "logits"


class UnexportableError(ValueError):
    """A part of the model has no exact ONNX form; the message names the module and what to change."""


class DeployedSegmentor(nn.Module):
    """What gets exported: ``segmentor(segmentor.normalize(images))`` — RGB in [0, 1] (B, 3, H, W) → logits
    (B, K, H, W) at input size. The segmentor must be in eval mode (its training output is a tuple)."""

    def __init__(self, segmentor: Segmentor) -> None:
        super().__init__()
        self.segmentor = segmentor

    def forward(self, images: Tensor) -> Tensor:
        return self.segmentor(self.segmentor.normalize(images))  # (B, K, H, W)


class _FindAdaptivePooling(TorchDispatchMode):
    """Records, by module name, every adaptive pooling to more than 1×1 dispatched during a forward pass."""

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.names = names
        self.found: dict[str, list[str]] = {}  # module name → "op to (s, s)", in call order, without repeats

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        op = func.overloadpacket.__name__
        if op in _ADAPTIVE_POOLS and any(int(s) != 1 for s in args[1]):
            calls = self.found.setdefault((self.names[-1] if self.names else "") or "<model>", [])
            if (call := f"{op} to {tuple(int(s) for s in args[1])}") not in calls:
                calls.append(call)
        return func(*args, **(kwargs or {}))


def check_exportable(model: nn.Module, example: Tensor) -> None:
    """Raise ``UnexportableError`` naming each module (as in ``model.named_modules()``) that would not export
    exactly; runs ``model(example)`` once (without gradients, in the mode the model is in).

    Refused: adaptive pooling to more than 1×1 — e.g. ``PyramidSampler(mode="max")`` (adaptive max pooling has
    no separable matrix form) or a foreign ``nn.AdaptiveAvgPool2d`` — and a block being recorded."""
    recording = [
        name or type(m).__name__ for name, m in model.named_modules() if isinstance(m, AttentionBlock) and m.recording
    ]
    if recording:
        raise UnexportableError(
            f"blocks {recording} are being recorded (record_attention): attention capture is "
            "PyTorch-side; close the record_attention context before exporting"
        )
    stack: list[str] = []  # names of the modules being called, innermost last
    names = {module: name for name, module in model.named_modules()}

    def enter(module, args) -> None:  # returns None: the input is kept
        if module in names:
            stack.append(names[module])

    def leave(module, args, output) -> None:
        if module in names:
            stack.pop()

    # global hooks, which only observe: a hook on a module of its own would send APNB/AFNB off their fast path
    hooks = [
        nn.modules.module.register_module_forward_pre_hook(enter),
        nn.modules.module.register_module_forward_hook(leave),
    ]
    finder = _FindAdaptivePooling(stack)
    try:
        with torch.no_grad(), finder:
            model(example)
    finally:
        for hook in hooks:
            hook.remove()
    if finder.found:
        where = "; ".join(f"{name} ({', '.join(calls)})" for name, calls in finder.found.items())
        raise UnexportableError(
            "cannot export exactly: adaptive pooling's bins depend on the input size, which ONNX pooling cannot "
            f"express — found in {where}. annkit's average pyramids pool exactly in the graph "
            "(PyramidSampler(mode='avg')); max-pooled pyramids (pool_mode='max') have no such form"
        )


def to_onnx(
    model: Segmentor,
    path: str | os.PathLike,
    *,
    size: tuple[int, int] | None = None,
    dynamic: bool = True,
    opset: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Export a ``Segmentor`` (normalisation, backbone, head, resize) to an ONNX file and return its path.

    - ``dynamic=True``: one graph for any batch, height and width; pyramid bins follow adaptive pooling's
      floor/ceil rule at run time. ``size`` (default 512×512) is then only the tracing example.
    - ``dynamic=False``: a graph for (1, 3, *size) only; ``size`` is required.
    - ``opset``: the ONNX opset (default: torch's exporter default).
    Input ``images`` (B, 3, H, W), float32 RGB in [0, 1]; output ``logits`` (B, K, H, W), float32, eval mode.
    Attention capture (``record_attention``) does not travel: the graph computes each block's (B, N, S) softmax
    as an intermediate feeding the aggregation MatMul; to inspect attention, run the PyTorch model.
    Raises ``UnexportableError`` naming any module without an exact ONNX form (see ``check_exportable``); an
    existing ``path`` is kept unless ``overwrite``. The file is written whole or not at all (temp file + rename).
    """
    path = Path(path)
    if not isinstance(model, Segmentor):
        raise TypeError(f"to_onnx exports an annkit Segmentor, got {type(model).__name__}")
    if not hasattr(torch.export, "Dim") or not hasattr(torch.export.Dim, "DYNAMIC"):
        raise UnexportableError(
            f"ONNX export needs torch >= 2.6 (torch.onnx.export(dynamo=True) with "
            f"torch.export.Dim.DYNAMIC); this is torch {torch.__version__}"
        )
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (CLI: --force) to replace it")
    if size is None and not dynamic:
        raise ValueError("a fixed-size export (dynamic=False) needs size=(H, W)")
    height, width = size if size is not None else (512, 512)
    if height < 1 or width < 1:
        raise ValueError(f"size must be positive (H, W), got {size}")
    was_training = model.training
    deployed = DeployedSegmentor(model).eval()
    try:
        device = next(model.parameters()).device
        check_exportable(model, model.normalize(torch.rand(1, 3, min(height, 64), min(width, 64), device=device)))
        example = torch.rand(2 if dynamic else 1, 3, height, width, device=device)  # B = 2: no 0/1 specialisation
        shapes = ({axis: torch.export.Dim.DYNAMIC for axis in (0, 2, 3)},) if dynamic else None  # B, H, W
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=".onnx-export-") as tmp:
            tmp_file = Path(tmp) / path.name
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the exporter's deprecation and tracing chatter
                program = torch.onnx.export(
                    deployed,
                    (example,),
                    dynamo=True,
                    dynamic_shapes=shapes,
                    input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME],
                    opset_version=opset,
                    verbose=False,
                )
            program.save(tmp_file, external_data=False)
            os.replace(tmp_file, path)
    finally:
        model.train(was_training)
    return path
