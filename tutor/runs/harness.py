"""`tutor run eval`: score a checkpoint with EleutherAI's lm-evaluation-harness, the field's standard tool.

The checkpoint is exported to the Hugging Face layout in a temporary folder (tutor.export.hf) and handed
to the harness's `hf` model. The harness is an optional extra (`pip install 'gpt-tutor[eval]'`): without
it the run says how to install it and stops. Its task data sets are downloaded on first use; offline the
run says so. `tutor run mmlu` stays the learner's own implementation.
"""

from __future__ import annotations

import importlib.util
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from tutor.runs.common import RunError
from tutor.runs.events import Emit, event

INSTALL = "pip install 'gpt-tutor[eval]'"


@dataclass(frozen=True)
class EvalConfig:
    source: Path  # a run folder or checkpoint file
    tasks: tuple[str, ...] = ("hellaswag",)
    limit: Optional[int] = None  # examples per task (None: all)
    device: str = "auto"
    batch_size: int = 8


def harness_installed() -> bool:
    return importlib.util.find_spec("lm_eval") is not None


def _looks_offline(e: BaseException) -> bool:
    text = f"{type(e).__name__} {e}".lower()
    return any(w in text for w in ("connection", "offline", "resolve", "network", "unreachable", "timed out",
                                   "max retries", "couldn't reach", "name or service"))


def run_eval(cfg: EvalConfig, emit: Emit = lambda e: None) -> dict:
    """Export, run the harness on `cfg.tasks`, emit `done` with its results and table; return the results."""
    if not harness_installed():
        raise RunError(f"lm-evaluation-harness is not installed; it is an optional extra: {INSTALL}")
    if not cfg.tasks:
        raise RunError("--tasks: name at least one task, e.g. --tasks hellaswag")
    if cfg.limit is not None and cfg.limit < 1:
        raise RunError("--limit must be 1 or more.")
    from tutor.export.commands import export_model
    from tutor.runs.common import resolve_device

    device = resolve_device(cfg.device)
    with tempfile.TemporaryDirectory(prefix="tutor-eval-") as tmp:
        exported = export_model(cfg.source, "hf", Path(tmp) / "hf")
        emit(event("start", run="eval", out=None, device=device, filled_in=[], total_steps=len(cfg.tasks),
                   tasks=list(cfg.tasks), limit=cfg.limit, exported=str(exported.out)))
        import lm_eval
        from lm_eval.utils import make_table

        try:
            results = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={exported.out},dtype=float32",
                                              tasks=list(cfg.tasks), limit=cfg.limit, device=device,
                                              batch_size=cfg.batch_size)
        except Exception as e:
            if _looks_offline(e):
                raise RunError(f"lm-evaluation-harness downloads each task's data set on first use, and it "
                               f"could not reach it ({type(e).__name__}: {e}). Connect once, or point "
                               f"HF_DATASETS_CACHE at a copy.") from None
            if isinstance(e, (KeyError, ValueError)) and "task" in str(e).lower():
                raise RunError(f"--tasks: the harness does not know one of {', '.join(cfg.tasks)} ({e}).") from None
            raise
    if results is None:
        raise RunError("lm-evaluation-harness returned no results.")
    table = make_table(results)
    emit(event("done", out=None, checkpoint=str(cfg.source), metrics=None, results=results.get("results"),
               table=table))
    return results
