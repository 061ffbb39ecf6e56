"""Attention is observable, not stored: recording on/off leaves outputs unchanged; off keeps no tensors."""

import gc

import pytest
import torch
from torch import nn

from annkit.nn import AFNB, APNB, NonLocal2d, PyramidSampler, record_attention


class TwoBlocks(nn.Module):
    def __init__(self):
        super().__init__()
        self.fusion = AFNB(6, 8, key_channels=4, value_channels=4, dropout=0.0, zero_init_out=False)
        self.context = APNB(8, key_channels=4, value_channels=4, dropout=0.0, zero_init_out=False)
        self.nonlocal_block = NonLocal2d(8, zero_init=False)

    def forward(self, low, high):
        return self.nonlocal_block(self.context(self.fusion(low, high)))


def tensors_held_by(module: nn.Module) -> list[str]:
    """Every tensor attribute of every submodule that is not a parameter or buffer."""
    held = []
    for name, m in module.named_modules():
        for key, value in vars(m).items():
            if isinstance(value, torch.Tensor):
                held.append(f"{name}.{key}")
    return held


def test_recording_leaves_outputs_unchanged_and_captures_every_block():
    torch.manual_seed(0)
    model = TwoBlocks().eval()
    low, high = torch.randn(2, 6, 11, 13), torch.randn(2, 8, 11, 13)
    plain = model(low, high)
    with record_attention(model) as rec:
        recorded = model(low, high)
    assert torch.allclose(plain, recorded, atol=1e-6)
    assert set(rec) == {"fusion", "context", "nonlocal_block"}
    fusion, context, full = rec["fusion"][0], rec["context"][0], rec["nonlocal_block"][0]
    assert fusion.weights.shape == context.weights.shape == (2, 11 * 13, 110)
    assert full.weights.shape == (2, 143, 143)
    for entry in (fusion, context, full):
        assert torch.allclose(entry.weights.sum(-1), torch.ones(2, 143), atol=1e-5)  # softmax rows
        assert not entry.weights.requires_grad and entry.query_size == (11, 13)
    assert len(context.geometry) == 110 and context.key_size == (11, 13)
    # the recorded map is the one the block used: re-aggregate by hand
    block = model.context
    x = model.fusion(low, high)
    value = block.value(x)
    pooled = block.sampler(value)  # (B, c, S)
    expected = block.out((context.weights @ pooled.transpose(1, 2)).transpose(1, 2).reshape(2, -1, 11, 13))
    assert torch.allclose(block.context(x), expected, atol=1e-5)


def test_recording_off_keeps_no_tensors():
    model = TwoBlocks().eval()
    low, high = torch.randn(1, 6, 9, 9), torch.randn(1, 8, 9, 9)
    model(low, high)
    assert tensors_held_by(model) == []
    with record_attention(model) as rec:
        model(low, high)
    assert all(not b.recording for b in (model.fusion, model.context, model.nonlocal_block))
    model(low, high)
    assert tensors_held_by(model) == [] and len(rec["context"]) == 1  # closed: nothing added
    gc.collect()


def test_reference_formulation_is_observable_too():
    block = APNB(8, key_channels=4, value_channels=4, sampler=PyramidSampler((2, 4)), dropout=0.0).eval()
    x = torch.randn(1, 8, 10, 10)
    with record_attention(block) as rec:
        block(x)
        block.reference(x)
    fast, reference = rec[""]
    assert fast.weights.shape == (1, 100, 20) and torch.allclose(fast.weights, reference.weights, atol=1e-6)


def test_record_requires_an_attention_block():
    with pytest.raises(ValueError, match="no attention block"):
        with record_attention(nn.Conv2d(3, 3, 1)):
            pass
