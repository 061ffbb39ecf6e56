"""Reproducing a published score: the evaluation settings a model's protocol implies, and what still differs.

``annkit eval --pretrained NAME --data ROOT`` takes the dataset, split and inference settings from the protocol
stored with the model (``annkit.protocols``); this module turns the protocol into the ``train`` section the
evaluator reads and, after the run, lists every way the run departed from the protocol (overrides, a partial
set, a model whose ``align_corners`` disagrees) beside the protocol's own remaining differences.
"""

from __future__ import annotations

from annkit.config import EvalConfig, TrainConfig
from annkit.protocols import EvalProtocol

_COMPARED = ("resize", "keep_ratio", "pad", "mode", "crop", "stride", "align_corners", "scales", "flip")


def protocol_section(protocol: EvalProtocol, data_root: str) -> dict:
    """The ``train`` section (dataset, data root, split, ``eval``) that evaluates as ``protocol`` says."""
    eval_config = EvalConfig.from_protocol(protocol)
    return {
        "dataset": protocol.dataset,
        "data_root": data_root,
        "val_split": protocol.split,
        "eval": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(eval_config).items()},
    }


def departures(protocol: EvalProtocol, config: TrainConfig, model_align_corners: bool) -> list[str]:
    """How this evaluation differs from ``protocol`` (empty when it follows it exactly, partial sets aside)."""
    found = []
    if (config.dataset, config.val_split) != (protocol.dataset, protocol.split):
        found.append(f"data set {config.dataset} {config.val_split}, protocol: {protocol.dataset} {protocol.split}")
    used = config.eval
    for name in _COMPARED:
        ours, theirs = getattr(used, name), getattr(protocol, name)
        if name == "align_corners" and ours is None:
            ours = model_align_corners
        if name in ("crop", "stride") and protocol.mode != "slide":
            continue
        if (tuple(ours) if isinstance(ours, (list, tuple)) else ours) != theirs:
            found.append(f"eval.{name} = {ours}, protocol: {theirs}")
    if model_align_corners != protocol.align_corners:
        found.append(
            f"the model resizes its logits with align_corners={model_align_corners}, the protocol's "
            f"model with {protocol.align_corners}"
        )
    if used.max_images is not None:
        found.append(f"only the first {used.max_images} images were scored: not comparable with the published figure")
    return found


def summary(
    protocol: EvalProtocol | None, config: TrainConfig, model_align_corners: bool, published: float | None, miou: float
) -> list[str]:
    """Lines printed after the scores: the published figure, the protocol, and every remaining difference."""
    if protocol is None:
        return [
            "no evaluation protocol is stored with this model: settings from the run's config / --preset / "
            "the command line"
        ]
    lines = [f"protocol {protocol.name}: {protocol.source}"]
    if published is not None:
        lines.append(
            f"published mIoU {published:.2f} (single scale); this run {100 * miou:.2f}, difference "
            f"{100 * miou - published:+.2f}. The zoo lists no per-class IoU to compare with."
        )
    lines += [f"note: differs from the protocol: {item}" for item in departures(protocol, config, model_align_corners)]
    lines += [f"note: remaining difference from the original evaluation: {item}" for item in protocol.notes]
    return lines
