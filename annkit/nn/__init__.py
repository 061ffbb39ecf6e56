"""annkit.nn — the paper's ideas as modules: anchor samplers, one attention core, NonLocal2d, APNB, AFNB.

Teaching line made literal: ``APNB(c, sampler=IdentitySampler())`` is a non-local block; the default
``PyramidSampler((1, 3, 6, 8))`` makes it the paper's APNB. Nothing here imports the rest of annkit.
"""

from annkit.nn.asymmetric import AFNB, APNB
from annkit.nn.attention import AttentionBlock, attend, attention_weights, project
from annkit.nn.layers import ConvNormAct
from annkit.nn.nonlocal_block import PAIRWISE, NonLocal2d
from annkit.nn.recording import RecordedAttention, record_attention
from annkit.nn.samplers import (
    AnchorGeometry,
    GridSampler,
    IdentitySampler,
    PyramidSampler,
    Sampler,
    adaptive_bins,
    anchor_count,
    bin_averaging,
    cost_ratio,
)

__all__ = [
    "AFNB",
    "APNB",
    "AttentionBlock",
    "ConvNormAct",
    "NonLocal2d",
    "PAIRWISE",
    "RecordedAttention",
    "AnchorGeometry",
    "GridSampler",
    "IdentitySampler",
    "PyramidSampler",
    "Sampler",
    "adaptive_bins",
    "anchor_count",
    "attend",
    "bin_averaging",
    "attention_weights",
    "cost_ratio",
    "project",
    "record_attention",
]
