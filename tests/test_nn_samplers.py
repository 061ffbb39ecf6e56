"""Samplers: the pooling matrix is adaptive average pooling, and the geometry rectangles agree with it."""

import pytest
import torch
import torch.nn.functional as F

from annkit.nn import GridSampler, IdentitySampler, PyramidSampler, adaptive_bins, anchor_count, cost_ratio

SIZES = [(97, 193), (5, 7), (8, 8), (1, 1), (64, 128)]


def test_paper_pyramid_has_110_anchors():
    assert anchor_count((1, 3, 6, 8)) == 110 == PyramidSampler().num_anchors(64, 128)
    assert cost_ratio(128, 256) == pytest.approx(32768 / 110)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_matrix_equals_adaptive_average_pooling(size):
    h, w = size
    x = torch.randn(2, 5, h, w, dtype=torch.float64)
    sampler = PyramidSampler((1, 3, 6, 8))
    matrix = sampler.matrix(h, w).double()  # (S, N)
    assert matrix.shape == (110, h * w)
    assert torch.allclose(matrix.sum(1), torch.ones(110, dtype=torch.float64))  # rows sum to 1
    expected = torch.cat([F.adaptive_avg_pool2d(x, n).flatten(2) for n in (1, 3, 6, 8)], dim=2)
    assert torch.allclose(x.flatten(2) @ matrix.t(), expected)
    assert torch.allclose(sampler(x), expected)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("mode", ["avg", "max"])
def test_geometry_rectangles_agree_with_pooling(size, mode):
    h, w = size
    sampler = PyramidSampler((1, 3, 6, 8), mode)
    geometry = sampler.geometry(h, w)
    assert len(geometry) == 110 and geometry.grids == ((1, 1), (3, 3), (6, 6), (8, 8))
    assert geometry.level.tolist() == [0] + [1] * 9 + [2] * 36 + [3] * 64
    x = torch.randn(1, 3, h, w)
    anchors = sampler(x)[0]  # (C, S)
    reduce = torch.mean if mode == "avg" else torch.amax
    for s, (y0, x0, y1, x1) in enumerate(geometry.boxes.tolist()):
        assert 0 <= y0 < y1 <= h and 0 <= x0 < x1 <= w
        assert torch.allclose(anchors[:, s], reduce(x[0, :, y0:y1, x0:x1], dim=(1, 2)), atol=1e-6)
    if mode == "avg":  # the matrix row of an anchor is uniform on its rectangle and zero elsewhere
        matrix = sampler.matrix(h, w).view(110, h, w)
        for s, (y0, x0, y1, x1) in enumerate(geometry.boxes.tolist()):
            inside = torch.zeros(h, w, dtype=torch.bool)
            inside[y0:y1, x0:x1] = True
            assert torch.all(matrix[s][~inside] == 0) and torch.allclose(matrix[s][inside], matrix[s][inside][0])


def test_adaptive_bins_floor_ceil_rule():
    assert adaptive_bins(7, 3) == [(0, 3), (2, 5), (4, 7)]  # overlapping bins
    assert adaptive_bins(5, 8) == [(0, 1), (0, 2), (1, 2), (1, 3), (2, 4), (3, 4), (3, 5), (4, 5)]


def test_matrix_is_cached_per_shape_and_safe_to_modify():
    sampler = PyramidSampler((2, 3))
    first = sampler.matrix(9, 10)
    first.zero_()
    assert torch.allclose(sampler.matrix(9, 10).sum(1), torch.ones(13))


def test_identity_and_grid_samplers():
    x = torch.randn(2, 4, 6, 9)
    identity = IdentitySampler()
    assert torch.equal(identity(x), x.flatten(2))
    assert torch.equal(identity.matrix(6, 9), torch.eye(54))
    grid = GridSampler(2, "max")
    assert torch.equal(grid(x), F.max_pool2d(x, 2).flatten(2))
    geometry = grid.geometry(6, 9)
    assert len(geometry) == 12 and geometry.boxes[-1].tolist() == [4, 6, 6, 8]
    assert torch.allclose(x.flatten(2) @ GridSampler(2, "avg").matrix(6, 9).t(), F.avg_pool2d(x, 2).flatten(2))


def test_max_sampling_has_no_matrix():
    with pytest.raises(ValueError, match="not linear"):
        PyramidSampler(mode="max").matrix(8, 8)


@pytest.mark.parametrize("make", [lambda mode: PyramidSampler((1, 3), mode), lambda mode: GridSampler(2, mode)])
def test_pooling_samplers_check_their_mode_alike(make):
    assert make("avg").linear and not make("max").linear
    with pytest.raises(ValueError, match=r"mode must be 'avg' or 'max', got 'median'"):
        make("median")


@pytest.mark.parametrize("sampler", [PyramidSampler(), IdentitySampler(), GridSampler()])
def test_samplers_reject_non_4d_maps(sampler):
    with pytest.raises(ValueError, match=r"4-D feature map \(B, C, H, W\), got shape \(3, 8, 8\)"):
        sampler(torch.randn(3, 8, 8))


def test_channels_last_pooling_is_exact_and_needs_no_copies():
    from torch.utils._python_dispatch import TorchDispatchMode

    class CountOps(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops.append(func.__name__)
            return func(*args, **(kwargs or {}))

    x = torch.randn(2, 6, 13, 21, dtype=torch.float64)
    sampler = PyramidSampler((1, 3, 6, 8))
    channels_last = x.to(memory_format=torch.channels_last)
    assert torch.allclose(sampler(channels_last), sampler.reference(x), atol=1e-12)
    with CountOps() as counter:
        sampler(channels_last)
    # a handful of GEMMs and views; a strided matmul used to fall apart into hundreds of per-row copies
    assert len(counter.ops) < 30 and counter.ops.count("copy_") <= 1, counter.ops


def test_shape_only_tracing_never_poisons_the_eager_caches():
    # FLOP counting on shapes (FakeTensorMode) once left fake tensors in the per-shape caches: every later eager
    # call at that shape then failed. Trace at a shape first, then compute at the same shape for real.
    from torch._subclasses.fake_tensor import FakeTensorMode

    sampler = PyramidSampler((1, 3, 6, 8))
    x = torch.randn(1, 4, 17, 23, dtype=torch.float64)
    with FakeTensorMode(allow_non_fake_inputs=True):
        sampler(x)
    assert torch.allclose(sampler(x), sampler.reference(x), atol=1e-12)
    pooled = sampler.matrix(17, 23).double() @ x.flatten(2).transpose(1, 2)  # (1, S, C)
    assert torch.allclose(pooled.transpose(1, 2), sampler.reference(x), atol=1e-12)
