"""Attention is observable, not stored: ``record_attention`` captures each block's (B, N, S) map on demand.

    with record_attention(model) as rec:
        model(x)
    rec["head.context"][0].weights   # (B, N, S): row n = query pixel (y·W + x), column s = anchor s

Each entry also carries the query and key map sizes and the anchors' geometry (level and pooled rectangle on
the key map), enough to draw where a pixel looks. The visualisers (``annkit.viz``) build on this.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from torch import Tensor, nn

from annkit.nn.attention import AttentionBlock
from annkit.nn.samplers import AnchorGeometry


@dataclass
class RecordedAttention:
    """One block call's attention: ``weights`` (B, N, S) on the CPU-or-device it ran on, detached."""

    weights: Tensor  # (B, N, S)
    query_size: tuple[int, int]  # (H, W) of the map the N queries come from
    key_size: tuple[int, int]  # (h, w) of the map the S anchors are sampled from
    geometry: AnchorGeometry  # anchors' level and rectangle on the key map


@contextmanager
def record_attention(model: nn.Module) -> Iterator[dict[str, list[RecordedAttention]]]:
    """Record every attention block of ``model`` while the context is open.

    Yields a dict: block name (as in ``model.named_modules()``; ``""`` when ``model`` is itself a block) →
    one ``RecordedAttention`` per call, in call order. Blocks stop recording when the context closes.
    """
    blocks = {name: m for name, m in model.named_modules() if isinstance(m, AttentionBlock)}
    if not blocks:
        raise ValueError(f"{type(model).__name__} contains no attention block (APNB, AFNB or NonLocal2d) to record")
    record: dict[str, list[RecordedAttention]] = {name: [] for name in blocks}

    def observer_for(name: str):
        def observe(block: AttentionBlock, weights: Tensor, query_size, key_size) -> None:
            geometry = block.sampler.geometry(*key_size)
            record[name].append(RecordedAttention(weights.detach(), query_size, key_size, geometry))

        return observe

    for name, block in blocks.items():
        if block.recording:
            raise RuntimeError(f"block {name or type(block).__name__!r} is already being recorded")
        block._observer = observer_for(name)
    try:
        yield record
    finally:
        for block in blocks.values():
            block._observer = None
