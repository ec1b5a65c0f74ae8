"""Checkpoints of our runs: one `torch.save`d dict of tensors and plain values, written atomically.

A checkpoint loads with `torch.load(path, weights_only=True)` (no pickled code). It holds the model's
*parameters* only, by name: buffers such as the causal mask are rebuilt by the model, and the curriculum lets
the learner make them persistent or not, so they must not decide whether a checkpoint loads.
"""

from __future__ import annotations

import contextlib
import os
import random
from pathlib import Path
from typing import Iterator

FORMAT = "tutor-checkpoint"
VERSION = 1
FILENAME = "checkpoint.pt"


class CheckpointError(RuntimeError):
    pass


def checkpoint_file(path: Path | str) -> Path:
    """A checkpoint file, given the file itself or a run folder that holds `checkpoint.pt`."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / FILENAME
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}.")
    return path


def rng_state() -> dict:
    import torch

    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    state = {"torch": torch.get_rng_state(), "cuda": list(cuda), "python": random.getstate()}
    mps = getattr(torch, "mps", None)
    if mps is not None and torch.backends.mps.is_available():  # dropout on Apple GPUs draws from this one
        state["mps"] = mps.get_rng_state()
    return state


def set_rng_state(state: dict) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if state.get("mps") is not None and torch.backends.mps.is_available():
        torch.mps.set_rng_state(state["mps"])
    py = state.get("python")
    if py is not None:
        random.setstate((py[0], tuple(py[1]), py[2]))


@contextlib.contextmanager
def rng_preserved() -> Iterator[None]:
    """Run the block without changing the random state seen by the code after it."""
    state = rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


def parameters(model) -> dict:
    """The model's parameters by name, on the CPU (what a checkpoint stores)."""
    return {name: p.detach().to("cpu") for name, p in model.named_parameters()}


def load_parameters(model, params: dict) -> None:
    """Copy saved parameters into `model`; every parameter must be there with the same shape."""
    import torch

    own = dict(model.named_parameters())
    missing = sorted(own.keys() - params.keys())
    unexpected = sorted(params.keys() - own.keys())
    if missing or unexpected:
        def names(keys: list[str]) -> str:
            return ", ".join(keys[:5]) + (" …" if len(keys) > 5 else "")

        parts = []
        if missing:
            parts.append(f"missing {names(missing)}")
        if unexpected:
            parts.append(f"unexpected {names(unexpected)}")
        raise CheckpointError(f"The checkpoint does not fit this model: {'; '.join(parts)}. Parameter names "
                              f"follow the curriculum (tok_emb, trf_blocks.0.att.W_query, …).")
    for name, p in own.items():
        if tuple(p.shape) != tuple(params[name].shape):
            raise CheckpointError(f"{name}: the checkpoint has shape {tuple(params[name].shape)}, "
                                  f"the model {tuple(p.shape)}.")
    with torch.no_grad():
        for name, p in own.items():
            p.copy_(params[name])


def optimizer_state_for(saved: dict, saved_names: list[str], names: list[str]) -> dict:
    """Re-key a one-group optimizer state dict saved for parameters `saved_names` to the order `names`.

    The optimizer knows parameters by position; if the assembled modules changed since the checkpoint
    (the learner passed another exercise), the same parameters may come in another order.
    """
    if list(saved_names) == list(names):
        return saved
    if sorted(saved_names) != sorted(names) or len(saved["param_groups"]) != 1:
        raise CheckpointError("The optimizer state does not fit this model's parameters.")
    new_index = {n: i for i, n in enumerate(names)}
    old_to_new = {i: new_index[n] for i, n in enumerate(saved_names)}
    state = {old_to_new[int(k)]: v for k, v in saved["state"].items()}
    group = dict(saved["param_groups"][0], params=list(range(len(names))))
    return {"state": state, "param_groups": [group]}


def save_checkpoint(path: Path, payload: dict) -> Path:
    """`torch.save` to a temporary file in the same folder, flush it to disk, then rename it into place."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save({"format": FORMAT, "version": VERSION, **payload}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # a reader sees the old checkpoint or the new one, never half of one
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_checkpoint(path: Path | str, *, mmap: bool = False) -> dict:
    """Load one of our checkpoints on the CPU with `weights_only=True`."""
    import torch

    file = checkpoint_file(path)
    not_ours = (f"This is not a tutor checkpoint: {file} (`tutor run pretrain` writes one, checkpoint.pt in "
                f"its run folder).")
    try:
        data = torch.load(file, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as e:
        # torch's own message is about zip archives, pickles and mmap: nothing a learner can act on.
        raise CheckpointError(not_ours) from e
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(not_ours)
    if data.get("version", 0) > VERSION:
        raise CheckpointError(f"{file} was written by a newer tutor (format {data['version']}); upgrade tutor.")
    return data
