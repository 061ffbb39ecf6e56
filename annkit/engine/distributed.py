"""Many processes, one model: DDP through ``torchrun`` (nccl on GPU, gloo on CPU), SyncBN on request.

``torchrun --nproc-per-node N -m annkit train …`` starts N copies; each reads RANK, LOCAL_RANK and WORLD_SIZE
from the environment, joins the process group, takes its share of every global batch (``annkit.engine.data``)
and averages gradients in ``DistributedDataParallel``'s backward. Without those variables the run is a single
process and nothing here does anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from annkit.errors import ConfigError


@dataclass(frozen=True)
class Context:
    """Where this process sits: ``rank`` of ``world_size`` and the device it computes on."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Rank 0 writes logs, checkpoints and progress bars."""
        return self.rank == 0


def resolve_device(device: str | None = None, local_rank: int = 0, world_size: int = 1) -> torch.device:
    """The device a ``--device`` value names: ``cpu``, ``cuda`` (this process's GPU: ``cuda:LOCAL_RANK``) or
    ``cuda:N`` (that GPU, single process only); ``None``: CUDA if available. Anything else is a ConfigError."""
    if device is None:
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    try:
        target = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"--device {device!r} is not a device; expected cpu, cuda or cuda:N") from None
    if target.type == "cpu":
        return torch.device("cpu")
    if target.type != "cuda":
        raise ConfigError(f"--device {device!r}: annkit trains and evaluates on cpu or cuda, not {target.type}")
    if not torch.cuda.is_available():
        raise ConfigError(
            f"--device {device!r}: CUDA is not available here (torch {torch.__version__}); use --device cpu"
        )
    if target.index is not None and world_size > 1:
        raise ConfigError(
            f"--device {device!r} names one GPU, but under torchrun each process uses "
            "cuda:LOCAL_RANK; pass --device cuda"
        )
    index = local_rank if target.index is None else target.index
    count = torch.cuda.device_count()
    if index >= count:
        raise ConfigError(f"--device {device!r}: this machine has {count} CUDA device(s), cuda:0 … cuda:{count - 1}")
    return torch.device("cuda", index)


def setup(device: str | None = None) -> Context:
    """Join the process group if launched by torchrun (WORLD_SIZE > 1); pick the device (``resolve_device``:
    ``device``, or CUDA if available, one GPU per local rank)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    target = resolve_device(device, local_rank, world_size)
    use_cuda = target.type == "cuda"
    if use_cuda:
        torch.cuda.set_device(target)
    if world_size > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if use_cuda else "gloo")
    rank = torch.distributed.get_rank() if world_size > 1 else 0
    return Context(rank, world_size, target)


def cleanup(context: Context) -> None:
    """Leave the process group (end of a torchrun run)."""
    if context.world_size > 1 and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def wrap(model: nn.Module, context: Context, sync_bn: bool) -> nn.Module:
    """``model`` on its device; under torchrun wrapped in DDP, with BatchNorm → SyncBatchNorm if ``sync_bn``."""
    model = model.to(context.device)
    if sync_bn:
        if context.device.type != "cuda":
            raise ConfigError(
                "train.sync_bn needs CUDA devices (torch's SyncBatchNorm has no CPU kernel); set sync_bn=false on CPU"
            )
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if context.world_size == 1:
        return model
    ids = [context.device.index] if context.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def any_true(flag: bool, context: Context) -> bool:
    """True on every process if ``flag`` is true on any (e.g. a non-finite loss on one rank stops all)."""
    if context.world_size == 1:
        return flag
    value = torch.tensor([float(flag)], device=context.device)
    torch.distributed.all_reduce(value)
    return bool(value.item() > 0)


def mean(values: torch.Tensor, context: Context) -> torch.Tensor:
    """``values`` averaged over processes (logged losses then describe the global batch)."""
    if context.world_size == 1:
        return values
    values = values.detach().clone()
    torch.distributed.all_reduce(values)
    return values / context.world_size
