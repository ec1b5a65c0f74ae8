"""LoRA for the fine-tuning runs (`classify --lora RANK`, `instruct --lora RANK`), through the learner's lora
exercise.

`add_lora` freezes the whole model, wraps its Linear layers with the learner's `replace_linear_with_lora`
(the reference's while lora does not pass, which the run's `filled_in` says) and leaves trainable only the
low-rank matrices it added, plus whatever the run names (classify: its new head, which starts random). A
run records rank and alpha in its settings; rebuilding the model the same way gives the same parameter
names, so a LoRA checkpoint resumes and a LoRA classifier loads. `merge_lora` folds the updates into plain
`nn.Linear` weights (W + (alpha / rank) · (A @ B)ᵀ, the lesson's formula), for code that wants the plain
`GPTModel`'s names. torch is imported inside the functions; nothing here prints or imports a UI.
"""

from __future__ import annotations

from typing import Iterable, Optional

from tutor.runs.common import RunError, import_piece, where_it_failed


def check_options(rank: Optional[int], alpha: Optional[float]) -> None:
    """Clear errors for --lora / --lora-alpha before anything is loaded."""
    if rank is None:
        if alpha is not None:
            raise RunError("--lora-alpha needs --lora RANK.")
        return
    if rank < 1:
        raise RunError(f"--lora must be a positive rank (got {rank}); the course uses 8 or 16.")
    if alpha is not None and not alpha > 0:
        raise RunError(f"--lora-alpha must be positive (got {alpha}).")


def resolve_options(rank: Optional[int], alpha: Optional[float], saved: dict) -> dict:
    """The run's `lora_rank` / `lora_alpha` settings from --lora / --lora-alpha; a resumed run (`saved`: its
    settings) keeps its own, since its parameter names depend on them. alpha defaults to the rank (scale 1)."""
    check_options(rank, alpha)
    if saved:
        kept_rank, kept_alpha = saved.get("lora_rank"), saved.get("lora_alpha")
        if rank not in (None, kept_rank) or alpha not in (None, kept_alpha):
            raise RunError("--lora and --lora-alpha cannot change when resuming; leave them out.")
        return {"lora_rank": kept_rank, "lora_alpha": kept_alpha}
    alpha = alpha if alpha is not None else rank
    return {"lora_rank": rank, "lora_alpha": float(alpha) if alpha is not None else None}


def add_lora(model, assembly, rank: int, alpha: float, *, inside=None, keep_trainable: Iterable = ()) -> dict:
    """Freeze `model`, wrap the Linear layers of `inside` (default: all of `model`) with LoRA, train only those.

    Args:
        model: the learner's GPTModel (changed in place).
        assembly: whose `replace_linear_with_lora` to call.
        rank, alpha: LoRA's rank and scale (the update is multiplied by alpha / rank).
        inside: the submodule whose Linear layers get LoRA (classify: `model.trf_blocks`, so that its new head
            is trained in full instead).
        keep_trainable: modules whose own parameters train too.

    Returns:
        {"rank", "alpha", "trainable", "parameters"} (parameter counts after wrapping).

    Raises:
        RunError: the learner's function failed, or added nothing trainable.
    """
    replace_linear_with_lora = import_piece(assembly, "lora", "replace_linear_with_lora")
    keep = [p for module in keep_trainable for p in module.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)  # freeze first: the new A and B must stay trainable
    before = {id(p) for p in model.parameters()}
    try:
        replace_linear_with_lora(model if inside is None else inside, rank, alpha)
    except Exception as e:
        where = where_it_failed(e, assembly)
        raise RunError(f"replace_linear_with_lora failed: {type(e).__name__}: {e}"
                       + (f" (raised in {where})" if where else "")
                       + ". Run `tutor grade lora`, or add --reference.") from e
    added = [p for p in model.parameters() if id(p) not in before]
    if not added:
        raise RunError("replace_linear_with_lora added no parameters to the model, so LoRA has nothing to "
                       "train. Run `tutor grade lora`, or add --reference.")
    for p in added + keep:
        p.requires_grad_(True)
    return {"rank": rank, "alpha": alpha, "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "parameters": sum(p.numel() for p in model.parameters())}


def describe(trainable: int, total: int) -> str:
    """'trainable 1,333,264 of 125,774,594 (1.06%)'."""
    return f"trainable {trainable:,} of {total:,} ({trainable / total:.2%})" if total else "no parameters"


def merge_lora(params: dict, rank: int, alpha: float) -> dict:
    """A LoRA model's parameters under the plain model's names: each `X.linear.weight` with `X.lora.A` and
    `X.lora.B` beside it becomes `X.weight` = W + (alpha / rank) · (A @ B)ᵀ; `X.linear.bias` becomes `X.bias`.
    Names without LoRA pass unchanged."""
    import torch

    out = {}
    for name, value in params.items():
        if name.endswith((".lora.A", ".lora.B")):
            continue
        if name.endswith(".linear.weight") and f"{name[:-len('.linear.weight')]}.lora.A" in params:
            base = name[:-len(".linear.weight")]
            A, B = params[f"{base}.lora.A"], params[f"{base}.lora.B"]
            with torch.no_grad():
                out[f"{base}.weight"] = value + (alpha / rank) * (A.to(value.dtype) @ B.to(value.dtype)).T
        elif name.endswith(".linear.bias") and f"{name[:-len('.linear.bias')]}.lora.A" in params:
            out[f"{name[:-len('.linear.bias')]}.bias"] = value
        else:
            out[name] = value
    return out
