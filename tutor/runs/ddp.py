"""`tutor run pretrain --ddp` under `torchrun`: PyTorch's own DistributedDataParallel, one process per device.

`torchrun --nproc_per_node=N -m tutor run pretrain --ddp …` starts N copies of the run; torchrun sets RANK,
WORLD_SIZE, LOCAL_RANK and the rendezvous address in each one's environment. `run_in_group` joins them into
a process group (NCCL on CUDA GPUs, gloo on CPUs), runs the ordinary `pretrain` inside it and leaves the group
at the end. The rest is small helpers the run calls where one process is not like the others: which rank
this is, which GPU it owns, a value every rank must agree on (the run folder), and the sums and maxima the
training loop shares (the loss, a stop request). How the token file's windows are split between the ranks
and how gradients are accumulated lives in `tutor.runs.streaming`.

Nothing here imports torch at module level; without an initialised process group every helper answers as a
single process would.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any, Callable

from tutor.runs.common import RunError, resolve_device

TORCHRUN_HINT = "torchrun --nproc_per_node=N -m tutor run pretrain --ddp …"
GROUP_TIMEOUT = timedelta(minutes=60)  # long enough for rank 0 to tokenize a big corpus while the others wait


def active() -> bool:
    """Whether this process is one rank of an initialised process group."""
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if active() else 0


def world_size() -> int:
    import torch.distributed as dist

    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Rank 0 (or a single process): the one that reports, evaluates, writes checkpoints and results."""
    return rank() == 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0")) if active() else 0


def is_local_main() -> bool:
    """The first rank on this machine: it fills the machine's cache (the token file) for the others."""
    return local_rank() == 0


def local_device(device: str) -> str:
    """Under DDP every process owns one GPU, its LOCAL_RANK's; a CPU run shares the CPU."""
    if active() and device.startswith("cuda"):
        return f"cuda:{local_rank()}"
    return device


def run_in_group(fn: Callable[..., Any], cfg, emit, **kwargs) -> Any:
    """Join torchrun's process group, call `fn(cfg, emit, **kwargs)` in it (other ranks report nothing), leave.

    Raises:
        RunError: not started by torchrun, or more processes on this machine than GPUs.
    """
    missing = [name for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
    if missing:
        raise RunError(f"--ddp needs the processes torchrun starts ({', '.join(missing)} not set). Run it as:\n"
                       f"  {TORCHRUN_HINT}\n(`python -m torch.distributed.run` is the same as `torchrun`).")
    import torch
    import torch.distributed as dist

    device = resolve_device(cfg.device)
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if local >= torch.cuda.device_count():
            raise RunError(f"This machine has {torch.cuda.device_count()} GPU(s) but torchrun started local rank "
                           f"{local}: use --nproc_per_node={torch.cuda.device_count()} or fewer.")
        torch.cuda.set_device(local)
    dist.init_process_group(backend, timeout=GROUP_TIMEOUT)
    try:
        if not is_main():
            emit = _silent
            kwargs = {**kwargs, "download_progress": None}
        return fn(cfg, emit, **kwargs)
    finally:
        dist.destroy_process_group()


def _silent(ev: dict) -> None:
    pass


def same_on_all_ranks(value: Any) -> Any:
    """Rank 0's `value`, on every rank (the run folder's name holds a timestamp, which may differ)."""
    if not active():
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if active():
        import torch.distributed as dist

        dist.barrier()


def mean_over_ranks(value):
    """The mean of a scalar tensor over all ranks (gloo has no AVG, so a sum divided by the world size)."""
    if not active():
        return value
    import torch.distributed as dist

    value = value.detach().clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / world_size()


def any_rank(flag: bool, device: str) -> bool:
    """Whether `flag` is set on any rank: a Ctrl-C seen by one process stops them all at the same step."""
    if not active():
        return flag
    import torch
    import torch.distributed as dist

    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def wrap(model, device: str):
    """The model as DistributedDataParallel sees it: gradients are averaged over the ranks in `backward`.

    The GPT's buffers (the causal mask) never change, so they are not re-broadcast at every forward.
    """
    import inspect

    from torch.nn.parallel import DistributedDataParallel

    ids = [int(device.split(":")[1])] if device.startswith("cuda:") else None
    newer = "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters  # torch ≥ 2.13
    no_sync = {"forward_sync_buffers": False} if newer else {"broadcast_buffers": False}
    return DistributedDataParallel(model, device_ids=ids, **no_sync)
