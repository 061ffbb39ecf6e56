"""APNB / AFNB / NonLocal2d: the fast path equals the reference, APNB ∘ identity sampler = non-local, bad input."""

import pytest
import torch
import torch.nn.functional as F

from annkit.nn import AFNB, APNB, PAIRWISE, IdentitySampler, NonLocal2d, PyramidSampler, attend

TOL = 1e-5  # fp32, max abs diff (issue 2)


def randomise(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Non-trivial weights everywhere, BN affine included — a zero-initialised out conv would hide every bug."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            offset = 1.0 if name.endswith("norm.weight") else 0.0  # BN scales near 1
            p.copy_(torch.randn(p.shape, generator=g) * 0.3 + offset)
    return module


def small_apnb(sampler=None, **kw):
    kw = dict(key_channels=8, value_channels=6, dropout=0.0, sampler=sampler) | kw
    return randomise(APNB(12, 10, **kw))


def small_afnb(sampler=None, **kw):
    kw = dict(key_channels=8, value_channels=6, dropout=0.0, sampler=sampler) | kw
    return randomise(AFNB(9, 12, 10, **kw))


def compare_with_grads(fast_fn, ref_fn, inputs, params, mean_loss=True):
    """Max abs diff of outputs and of the gradients w.r.t. inputs and parameters, for a random upstream grad.

    ``mean_loss``: the upstream gradient of a per-element mean (how segmentation losses reduce); otherwise
    unit-scale — used in float64, where it makes parameter gradients large and the comparison strict.
    """
    out_fast = fast_fn(*inputs)
    upstream = torch.randn_like(out_fast) / (out_fast.numel() if mean_loss else 1)
    grads_fast = torch.autograd.grad(out_fast, [*inputs, *params], upstream)
    out_ref = ref_fn(*inputs)
    grads_ref = torch.autograd.grad(out_ref, [*inputs, *params], upstream)
    diffs = [(a - b).abs().max().item() for a, b in zip(grads_fast, grads_ref)]
    return (out_fast - out_ref).abs().max().item(), max(diffs)


SIZES = [(97, 193), (5, 7), (8, 8), (1, 1)]  # pool sizes don't divide 97×193; 5×7 and 1×1 are smaller than 8


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("mode", ["avg", "max"])
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_apnb_fast_path_equals_reference(size, mode, train):
    torch.manual_seed(1)
    block = small_apnb(PyramidSampler((1, 3, 6, 8), mode)).train(train)
    x = torch.randn(3, 12, *size, requires_grad=True)
    out_diff, grad_diff = compare_with_grads(block, block.reference, [x], list(block.parameters()))
    assert out_diff <= TOL and grad_diff <= TOL, (out_diff, grad_diff)


@pytest.mark.parametrize("size", [(97, 193), (5, 7)], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_afnb_fast_path_equals_reference(size, train):
    torch.manual_seed(2)
    block = small_afnb().train(train)
    low = torch.randn(2, 9, *size, requires_grad=True)
    high = torch.randn(2, 12, size[0] // 2 + 1, size[1] // 2 + 1, requires_grad=True)  # queries on another grid
    out_diff, grad_diff = compare_with_grads(block, block.reference, [low, high], list(block.parameters()))
    assert out_diff <= TOL and grad_diff <= TOL, (out_diff, grad_diff)


@pytest.mark.parametrize("mode", ["avg", "max"])
def test_fast_path_is_exact_algebra_in_float64(mode):
    """Unit-scale upstream gradients, odd size, both blocks: agreement to 1e-10 leaves room only for rounding."""
    torch.manual_seed(8)
    apnb = small_apnb(PyramidSampler((1, 3, 6, 8), mode)).double().train()
    x = torch.randn(2, 12, 37, 61, dtype=torch.float64, requires_grad=True)
    diffs = compare_with_grads(apnb, apnb.reference, [x], list(apnb.parameters()), mean_loss=False)
    assert max(diffs) <= 1e-10, diffs
    afnb = small_afnb(PyramidSampler((1, 3, 6, 8), mode)).double().eval()
    low = torch.randn(2, 9, 37, 61, dtype=torch.float64, requires_grad=True)
    high = torch.randn(2, 12, 37, 61, dtype=torch.float64, requires_grad=True)
    diffs = compare_with_grads(afnb, afnb.reference, [low, high], list(afnb.parameters()), mean_loss=False)
    assert max(diffs) <= 1e-10, diffs


def test_channels_last_input_and_eval_mode():
    torch.manual_seed(3)
    block = small_apnb().eval()
    x = torch.randn(2, 12, 33, 47).to(memory_format=torch.channels_last).requires_grad_()
    out_diff, grad_diff = compare_with_grads(block, block.reference, [x], list(block.parameters()))
    assert out_diff <= TOL and grad_diff <= TOL
    expected = block.reference(x.detach().contiguous())
    assert torch.allclose(block(x), expected, atol=TOL)


def test_context_equals_reference_context():
    torch.manual_seed(4)
    block = small_apnb().eval()
    x = torch.randn(2, 12, 20, 30)
    reference = block.context(x, reference=True)
    assert (block.context(x) - reference).abs().max() <= TOL


def test_gradcheck_float64():
    torch.manual_seed(5)
    apnb = small_apnb(key_channels=3, value_channels=2).double().eval()
    x = torch.randn(2, 12, 3, 5, dtype=torch.float64, requires_grad=True)  # 3×5: smaller than the 6×6, 8×8 pools
    assert torch.autograd.gradcheck(apnb, (x,), fast_mode=True)
    afnb = small_afnb(key_channels=3, value_channels=2).double().eval()
    low = torch.randn(1, 9, 4, 3, dtype=torch.float64, requires_grad=True)
    high = torch.randn(1, 12, 3, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(afnb, (low, high), fast_mode=True)


def test_apnb_with_identity_sampler_is_the_embedded_gaussian_non_local_block():
    torch.manual_seed(6)
    apnb = small_apnb(IdentitySampler()).eval()
    nonlocal_block = NonLocal2d(12, inter_channels=8, pairwise="embedded_gaussian", scale=True).eval()
    # the same weights: θ = φ = APNB's shared projection, g = its value conv, W_z = its out conv
    nonlocal_block.theta = nonlocal_block.phi = apnb.query_key
    nonlocal_block.g = torch.nn.Conv2d(12, 6, 1)
    nonlocal_block.g.load_state_dict(apnb.value.state_dict())
    nonlocal_block.out = torch.nn.Conv2d(6, 12, 1)
    nonlocal_block.out.load_state_dict(apnb.out.state_dict())
    x = torch.randn(2, 12, 7, 9)
    context = nonlocal_block(x) - x  # z - x = W_z y
    assert (apnb.context(x) - context).abs().max() <= TOL
    # and the fused output is APNB's fusion of exactly that context
    fused = apnb.fuse(torch.cat([context, x], dim=1))
    assert (apnb(x) - fused).abs().max() <= TOL


@pytest.mark.parametrize("pairwise", PAIRWISE)
@pytest.mark.parametrize("sub_sample", [False, True])
def test_non_local_pairwise_functions(pairwise, sub_sample):
    torch.manual_seed(7)
    block = randomise(NonLocal2d(8, pairwise=pairwise, sub_sample=sub_sample, norm=True)).eval()
    x = torch.randn(2, 8, 6, 10)
    assert torch.allclose(block(x), block.reference(x), atol=TOL)
    # against Wang et al.'s formula written out for one query pixel i
    query = x if pairwise == "gaussian" else block.theta(x)
    key_map = x if pairwise == "gaussian" else block.phi(x)
    g = block.g(x)
    if sub_sample:
        key_map, g = F.max_pool2d(key_map, 2), F.max_pool2d(g, 2)
    q_i = query[:, :, 2, 3]  # (B, d)
    keys, values = key_map.flatten(2), g.flatten(2)  # (B, d, S), (B, c, S)
    logits = torch.einsum("bd,bds->bs", q_i, keys)
    if pairwise in ("embedded_gaussian", "gaussian"):
        f = torch.softmax(logits * q_i.shape[1] ** -0.5, dim=-1)
    elif pairwise == "dot_product":
        f = logits / keys.shape[-1]
    else:
        w = block.concat_project.weight.flatten()
        d = q_i.shape[1]
        f = torch.relu((q_i @ w[:d])[:, None] + torch.einsum("d,bds->bs", w[d:], keys)) / keys.shape[-1]
    y_i = torch.einsum("bs,bcs->bc", f, values)
    z_i = block.out_norm(block.out(y_i[:, :, None, None]))[:, :, 0, 0] + x[:, :, 2, 3]
    assert torch.allclose(block(x)[:, :, 2, 3], z_i, atol=TOL)


def test_non_local_starts_as_identity():
    x = torch.randn(1, 8, 5, 5)
    assert torch.equal(NonLocal2d(8)(x), x)
    assert torch.equal(NonLocal2d(8, norm=True).eval()(x), x)


def test_zero_initialised_out_means_no_context_at_start():
    block = APNB(12, key_channels=8, value_channels=6, dropout=0.0).eval()
    x = torch.randn(2, 12, 9, 9)
    assert torch.allclose(block(x), block.fuse(torch.cat([torch.zeros_like(x), x], dim=1)), atol=1e-6)


def test_attend_sdpa_equals_explicit_softmax():
    q, k, v = torch.randn(2, 8, 50), torch.randn(2, 8, 11), torch.randn(2, 8, 11)  # (B, d, N), (B, d, S), (B, c, S)
    fused, none = attend(q, k, v)  # c = d: the fused SDPA kernel
    explicit, weights = attend(q, k, v, need_weights=True)
    assert none is None and weights.shape == (2, 50, 11) and fused.shape == (2, 8, 50)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 50))
    assert torch.allclose(fused, explicit, atol=1e-6)
    by_hand = torch.einsum("bns,bcs->bcn", torch.softmax(torch.einsum("bdn,bds->bns", q, k) / 8**0.5, -1), v)
    assert torch.allclose(explicit, by_hand, atol=1e-6)
    onto = torch.randn(2, 8, 50)
    assert torch.allclose(attend(q, k, v, onto=onto)[0], onto + by_hand, atol=1e-6)


def test_options_follow_the_implementations():
    official = APNB(16)
    assert official.query_key.conv.bias is not None and isinstance(official.dropout, torch.nn.Dropout2d)
    assert official.dropout.p == 0.05 and torch.all(official.out.weight == 0)
    mmseg = APNB(16, key_bias=False, dropout=0.0)
    assert mmseg.query_key.conv.bias is None and isinstance(mmseg.dropout, torch.nn.Identity)
    paddle = AFNB(8, 16, dropout_kind="element", zero_init_out=False)
    assert type(paddle.dropout) is torch.nn.Dropout and paddle.out.weight.abs().sum() > 0
    assert isinstance(AFNB(8, 16).fuse.act, torch.nn.Identity) and isinstance(APNB(8).fuse.act, torch.nn.ReLU)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: APNB(12)(torch.randn(1, 11, 8, 8)), r"12 channels.*got 11"),
        (lambda: APNB(12)(torch.randn(12, 8, 8)), r"\(B, 12, H, W\), got \(12, 8, 8\)"),
        (lambda: NonLocal2d(4)(torch.randn(1, 4, 8)), r"NonLocal2d expects.*got \(1, 4, 8\)"),
        (lambda: AFNB(4, 6)(torch.randn(2, 4, 5, 5), torch.randn(3, 6, 5, 5)), r"same batch size.*\(2, 4, 5, 5\)"),
        (lambda: AFNB(4, 6)(torch.randn(2, 5, 5, 5), torch.randn(2, 6, 5, 5)), r"low-level input with 4 channels"),
        (lambda: PyramidSampler(()), r"non-empty sequence of positive ints, got \(\)"),
        (lambda: PyramidSampler((1, 0, 3)), r"positive ints, got \(1, 0, 3\)"),
        (lambda: PyramidSampler((1, -2)), r"positive ints"),
        (lambda: PyramidSampler((1, 3), mode="median"), r"'avg' or 'max', got 'median'"),
        (lambda: APNB(8, dropout=1.5), r"dropout must be in \[0, 1\), got 1.5"),
        (lambda: NonLocal2d(8, pairwise="cosine"), r"pairwise must be one of"),
        (lambda: APNB(8, sampler="avg"), r"annkit.nn.Sampler, got str"),
    ],
)
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
