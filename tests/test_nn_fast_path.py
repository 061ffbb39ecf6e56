"""The fast path never hides a module: hooks, pruning and wrappers on the projections it reads are always seen."""

import copy

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from annkit.nn import AFNB, APNB
from annkit.nn.asymmetric_fast import anchors_first

TOL = 1e-5


def randomised(block: nn.Module) -> nn.Module:
    """Non-zero weights everywhere (the zero-initialised out conv would hide the context), eval mode."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in block.named_parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3 + (1.0 if name.endswith("norm.weight") else 0.0))
    return block.eval()


def small_apnb() -> APNB:
    return randomised(APNB(12, 10, key_channels=8, value_channels=6, dropout=0.0))


def small_afnb() -> AFNB:
    return randomised(AFNB(9, 12, 10, key_channels=8, value_channels=6, dropout=0.0))


def forbid_reference(block: nn.Module, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args):
        raise AssertionError("the plain block left the fast path")

    monkeypatch.setattr(block, "reference", refuse)


def test_plain_blocks_take_the_fast_path(monkeypatch):
    apnb, afnb = small_apnb(), small_afnb()
    expected = apnb.reference(x := torch.randn(2, 12, 9, 11)), afnb.reference(low := torch.randn(2, 9, 7, 5), x)
    for block in (apnb, afnb):
        forbid_reference(block, monkeypatch)
    assert torch.allclose(apnb(x), expected[0], atol=TOL) and torch.allclose(afnb(low, x), expected[1], atol=TOL)


@pytest.mark.parametrize("where", ["query_key.conv", "fuse.conv", "value", "out"])
def test_a_forward_hook_fires_and_its_output_is_used(where):
    """A hook that doubles a 1×1 conv's output is the same block with that conv's weight and bias doubled."""
    block, doubled = small_apnb(), small_apnb()
    with torch.no_grad():
        for p in doubled.get_submodule(where).parameters():
            p.mul_(2)
    calls = []
    block.get_submodule(where).register_forward_hook(lambda module, args, out: calls.append(1) or 2 * out)
    x = torch.randn(2, 12, 9, 11)
    assert torch.allclose(block(x), doubled(x), atol=TOL) and calls  # ``doubled`` takes the fast path
    assert not torch.allclose(doubled(x), small_apnb()(x), atol=1e-3)  # the hook changes the result


def test_afnb_query_hook_fires():
    block, doubled = small_afnb(), small_afnb()
    with torch.no_grad():
        for p in doubled.query.conv.parameters():
            p.mul_(2)
    handle = block.query.conv.register_forward_hook(lambda module, args, out: 2 * out)
    low, high = torch.randn(2, 9, 7, 5), torch.randn(2, 12, 9, 11)
    assert torch.allclose(block(low, high), doubled(low, high), atol=TOL)
    handle.remove()  # and without the hook, the original block again
    assert torch.allclose(block(low, high), small_afnb()(low, high), atol=TOL)


class LowRankConv(nn.Module):
    """A LoRA-style wrapper: conv(x) + B·A·x, with B·A of rank 2."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv
        self.down = nn.Conv2d(conv.in_channels, 2, 1, bias=False)
        self.up = nn.Conv2d(2, conv.out_channels, 1, bias=False)

    def forward(self, x):
        return self.conv(x) + self.up(self.down(x))

    def merged(self) -> torch.Tensor:
        return self.conv.weight + (self.up.weight.flatten(1) @ self.down.weight.flatten(1))[:, :, None, None]


@pytest.mark.parametrize("where", ["query_key", "fuse"])
def test_a_wrapped_conv_is_used(where):
    block = small_apnb()
    wrapper = LowRankConv(block.get_submodule(where).conv)
    block.get_submodule(where).conv = wrapper
    merged = small_apnb()
    with torch.no_grad():
        merged.get_submodule(where).conv.weight.copy_(wrapper.merged())
    x = torch.randn(2, 12, 9, 11)
    assert torch.allclose(block(x), merged(x), atol=TOL)
    assert torch.allclose(block.context(x), merged.context(x), atol=TOL)


def test_pruned_weights_are_recomputed_each_call():
    """Pruning keeps weight = weight_orig · mask up to date in a pre-hook; reading ``.weight`` would go stale."""
    block = small_apnb()
    prune.random_unstructured(block.query_key.conv, "weight", amount=0.5)
    with torch.no_grad():
        block.query_key.conv.weight_orig.add_(1.0)  # as an optimizer step would
    expected = copy.deepcopy(small_apnb())
    with torch.no_grad():
        expected.query_key.conv.weight.copy_(block.query_key.conv.weight_orig * block.query_key.conv.weight_mask)
    x = torch.randn(2, 12, 9, 11)
    assert torch.allclose(block(x), expected(x), atol=TOL)


def test_quantization_aware_training_fake_quantizes_the_weights_it_reads():
    from torch.ao.nn import qat
    from torch.ao.quantization import get_default_qat_qconfig

    block, plain = small_apnb(), small_apnb()
    block.query_key.conv.qconfig = get_default_qat_qconfig("x86")
    block.query_key.conv = quantized = qat.Conv2d.from_float(block.query_key.conv)
    expected = small_apnb()
    with torch.no_grad():
        expected.query_key.conv.weight.copy_(quantized.weight_fake_quant(quantized.weight))
    x = torch.randn(2, 12, 9, 11)
    assert torch.allclose(block(x), expected(x), atol=1e-6)
    assert (block(x) - plain(x)).abs().max() > TOL  # 8-bit weights: a visible difference


def test_a_backward_hook_fires():
    block, grads = small_apnb(), []
    block.out.register_full_backward_hook(lambda m, grad_in, grad_out: grads.append(grad_out[0].shape))
    block(torch.randn(1, 12, 6, 7, requires_grad=True)).sum().backward()
    assert grads == [(1, 12, 6, 7)]


def test_anchors_first_is_the_cost_model_of_the_fast_path():
    # 2048-wide maps at 128×256 onto 110 anchors: the 256→2048 out conv is cheaper on the anchors; with
    # S = N (a non-local block) only a map that narrows the values is
    assert anchors_first(128 * 256, 110, 256, 2048)
    assert not anchors_first(128 * 256, 128 * 256, 256, 2048) and anchors_first(128 * 256, 128 * 256, 256, 64)
