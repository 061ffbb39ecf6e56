"""Measuring fairly: time, peak memory, FLOPs and GEMM throughput, the same way for every benchmark.

- time: ``torch.utils.benchmark`` (warm-up, then the median of ``blocked_autorange``) with all threads;
- FLOPs: ``torch.utils.flop_counter`` — it counts **2 FLOPs per multiply-add** (fvcore/ptflops count 1) — plus
  formulas for the kernels it does not know on every torch version (``flop_counter``);
- peak memory: on CUDA ``max_memory_allocated`` after ``reset_peak_memory_stats``; on CPU, which has no
  allocator statistics, the peak total size of live tensor storages created during the call, tracked at the
  ATen dispatch level (kernel-internal scratch buffers are not seen) — the method is named in every report;
- which attention kernel ran (fused SDPA backend or explicit matmuls), seen from the dispatched ops.
"""

from __future__ import annotations

import logging
import platform
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

# torch.utils.benchmark imports cpp_extension, which warns that a CUDA build finds no CUDA runtime: irrelevant here
logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
from torch.utils import benchmark  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402
from torch.utils._pytree import tree_flatten  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode, flop_registry  # noqa: E402

CPU_MEMORY_METHOD = "CPU: peak bytes of live tensor storages allocated during the call (ATen dispatch level)"
CUDA_MEMORY_METHOD = "CUDA: torch.cuda.max_memory_allocated after reset_peak_memory_stats, minus the baseline"
FLOP_CONVENTION = "torch.utils.flop_counter: 2 FLOPs per multiply-add"


def _attention_flops(query, key, value, *args, out_shape=None, **kwargs) -> int:
    """softmax(QKᵀ)V: queries (B, H, L, E) over keys (B, H, S, E) and values (B, H, S, Ev) — two GEMMs."""
    b, h, length, e = query
    s, ev = key[-2], value[-1]
    return 2 * b * h * length * s * (e + ev)


def _attention_backward_flops(grad_out, query, key, value, *args, out_shape=None, **kwargs) -> int:
    """Its backward, counted as torch counts the CUDA kernels: QKᵀ recomputed, then dV, dP, dQ, dK — five GEMMs."""
    b, h, length, e = query
    s, ev = key[-2], value[-1]
    return 2 * b * h * length * s * (3 * e + 2 * ev)


# Fused attention kernels that some torch versions' flop counter does not count: torch 2.14 counts
# F.scaled_dot_product_attention on CPU as 0 FLOPs (the flash kernel for CPU has no formula there).
_MISSING_FORMULAS = {
    "_scaled_dot_product_flash_attention_for_cpu": _attention_flops,
    "_scaled_dot_product_flash_attention_for_cpu_backward": _attention_backward_flops,
}


def flop_counter() -> FlopCounterMode:
    """``FlopCounterMode`` (2 FLOPs per multiply-add) that also counts fused attention on every supported torch.

    Use it instead of a bare ``FlopCounterMode``: ``with flop_counter() as counter: fn()``, then
    ``counter.get_total_flops()``. The added formulas replace none the counter has; they fill its gaps.
    """
    ops = {
        getattr(torch.ops.aten, name): formula
        for name, formula in _MISSING_FORMULAS.items()
        if hasattr(torch.ops.aten, name)
    }
    mapping = {op: formula for op, formula in ops.items() if op not in flop_registry}
    return FlopCounterMode(display=False, custom_mapping=mapping)


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels on ``device`` (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def clock(fn: Callable[[], object], device: torch.device) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one call, synchronised on CUDA — for interleaved comparisons, where
    each side is timed call by call; process CPU time is not inflated by other processes' time slices."""
    synchronize(device)
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    synchronize(device)
    return time.perf_counter() - wall, time.process_time() - cpu


@dataclass
class Timing:
    """Median and interquartile range of one call, in seconds, over ``runs`` timed calls."""

    median: float
    iqr: float
    runs: int


def time_callable(fn: Callable[[], object], device: torch.device, min_run_time: float = 1.0, warmup: int = 1) -> Timing:
    """Median wall time of ``fn()`` after ``warmup`` calls, with torch.utils.benchmark on all threads."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    measurement = timer.blocked_autorange(min_run_time=min_run_time)
    return Timing(measurement.median, measurement.iqr, len(measurement.times))


class _Instrument(TorchDispatchMode):
    """Tracks live tensor storages (bytes now and at peak) and the attention kernels dispatched."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self.attention_ops: set[str] = set()
        self._tracked: set[int] = set()

    def _release(self, key: int, nbytes: int) -> None:
        self._tracked.discard(key)
        self.live -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func.__name__
        if "attention" in name or "softmax" in name:
            self.attention_ops.add(func.overloadpacket.__name__)
        # a view or an in-place result shares an input's storage: only storages no input has are new
        inputs = {id(t.untyped_storage()) for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)}
        for value in tree_flatten(out)[0]:
            if isinstance(value, torch.Tensor) and value.device.type == "cpu":
                storage = value.untyped_storage()
                key, nbytes = id(storage), storage.nbytes()
                if key not in self._tracked and key not in inputs and nbytes:
                    self._tracked.add(key)
                    self.live += nbytes
                    self.peak = max(self.peak, self.live)
                    weakref.finalize(storage, self._release, key, nbytes)
        return out


@dataclass
class Profile:
    """One instrumented call: FLOPs, peak bytes above the baseline, attention kernels, bytes of the result."""

    flops: int
    peak_bytes: int
    result_bytes: int
    attention_kernels: list[str] = field(default_factory=list)
    memory_method: str = CPU_MEMORY_METHOD
    result: object = None


def tensor_bytes(value: object) -> int:
    """Total bytes of the tensors in a (nested) result."""
    return sum(t.numel() * t.element_size() for t in tree_flatten(value)[0] if isinstance(t, torch.Tensor))


def profile_call(fn: Callable[[], object], device: torch.device) -> Profile:
    """Run ``fn()`` once, counting FLOPs, peak memory above the baseline and the attention kernels used."""
    instrument = _Instrument()
    counter = flop_counter()
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        baseline = torch.cuda.memory_allocated(device)
    with counter, instrument:
        result = fn()
    synchronize(device)
    if device.type == "cuda":
        peak, method = torch.cuda.max_memory_allocated(device) - baseline, CUDA_MEMORY_METHOD
    else:
        peak, method = instrument.peak, CPU_MEMORY_METHOD
    kernels = sorted(instrument.attention_ops)
    return Profile(counter.get_total_flops(), peak, tensor_bytes(result), kernels, method, result)


def gemm_flops_per_second(
    device: torch.device, dtype: torch.dtype = torch.float32, n: int = 2048, min_run_time: float = 1.0
) -> float:
    """The machine's dense matmul throughput (FLOP/s, 2 per multiply-add) for n×n @ n×n, measured now."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    timing = time_callable(lambda: torch.mm(a, b), device, min_run_time=min_run_time)
    return 2 * n**3 / timing.median


def environment(device: torch.device, dtype: torch.dtype) -> dict[str, object]:
    """What the numbers were measured on."""
    info: dict[str, object] = {
        "torch": torch.__version__,
        "device": str(device),
        "dtype": str(dtype).removeprefix("torch."),
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "flop_convention": FLOP_CONVENTION,
        "memory_method": CUDA_MEMORY_METHOD if device.type == "cuda" else CPU_MEMORY_METHOD,
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info
