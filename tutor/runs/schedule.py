"""`tutor run pretrain --warmup STEPS --min-lr LR --clip NORM`: the learning rate of every optimizer step,
taken from the learner's `learning_rate` (the `schedules` exercise), and gradient-norm clipping.

`Schedule` is what the training loop calls between `loss.backward()` and `optimizer.step()`: it writes the
step's learning rate into every parameter group and, with a clip norm, rescales the gradients so that their
overall norm is at most that. The step index is the number of optimizer steps already taken (0 for the first),
so a resumed run asks for exactly the learning rates an uninterrupted one would have used. Without a schedule
the learning rate is left alone (the run's `--lr`, constant, as `train_model_simple` does).

The warm-up starts from `min_lr` and climbs to the run's `--lr` (the peak); the cosine then decays back to
`min_lr` at the last step. torch is imported only when clipping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

from tutor.runs.common import RunError

MIN_LR_FRACTION = 0.1  # --min-lr's default: a tenth of the peak (--lr)


def default_min_lr(peak_lr: float) -> float:
    return peak_lr * MIN_LR_FRACTION


def check_options(warmup: Optional[int], min_lr: Optional[float], clip: Optional[float], peak_lr: float) -> None:
    """Raise RunError for a negative warm-up, a floor above the peak, or a clip norm that is not positive."""
    if warmup is not None and warmup < 0:
        raise RunError(f"--warmup must be 0 or more steps (got {warmup}).")
    if min_lr is not None and not 0 <= min_lr <= peak_lr:
        raise RunError(f"--min-lr must be between 0 and --lr ({peak_lr:g}); got {min_lr:g}.")
    if clip is not None and not clip > 0:
        raise RunError(f"--clip must be a positive gradient norm (got {clip:g}).")


@dataclass(frozen=True)
class Schedule:
    """The learning rate per step (None: constant `peak_lr`) and the clip norm (None: no clipping)."""

    peak_lr: float
    total_steps: int
    warmup: Optional[int] = None  # None: no schedule, the learning rate stays at peak_lr
    min_lr: Optional[float] = None
    clip: Optional[float] = None
    learning_rate: Optional[Callable] = None  # the assembled schedules.learning_rate
    yours: bool = False  # whether learning_rate is the learner's (else the reference's)
    filled_in: bool = False  # the reference's because the learner's schedules does not pass yet

    @property
    def scheduled(self) -> bool:
        return self.warmup is not None

    def lr_at(self, step: int) -> float:
        """The learning rate of optimizer step `step` (0 for the first), checked to be a positive number."""
        if not self.scheduled:
            return self.peak_lr
        try:
            lr = self.learning_rate(step, self.total_steps, self.warmup, self.peak_lr, initial_lr=self.min_lr,
                                    min_lr=self.min_lr)
            value = float(lr)
        except Exception as e:  # the learner's function may fail in any way
            raise RunError(f"{self._whose()} learning_rate({step}, {self.total_steps}, {self.warmup}, "
                           f"{self.peak_lr:g}, initial_lr={self.min_lr:g}, min_lr={self.min_lr:g}) failed: "
                           f"{type(e).__name__}: {e}.{self._hint()}") from e
        if isinstance(lr, bool) or not math.isfinite(value) or value < 0:
            raise RunError(f"{self._whose()} learning_rate({step}, {self.total_steps}, {self.warmup}, "
                           f"{self.peak_lr:g}, …) returned {lr!r}; a learning rate is a finite number ≥ 0."
                           f"{self._hint()}")
        return value

    def before_step(self, optimizer, parameters, step: int) -> None:
        """Between backward() and optimizer.step(): set the step's learning rate, then clip the gradients."""
        if self.scheduled:
            lr = self.lr_at(step)
            for group in optimizer.param_groups:
                group["lr"] = lr
        if self.clip is not None:
            import torch

            torch.nn.utils.clip_grad_norm_(parameters, max_norm=self.clip)

    def describe(self) -> Optional[str]:
        """One sentence for the run's start, or None when the run has neither a schedule nor clipping."""
        parts = []
        if self.scheduled:
            whose = ("your learning_rate" if self.yours else "the reference learning_rate"
                     + (" (filled in: schedules does not pass yet)" if self.filled_in else ""))
            warmup = (f"warm-up over {self.warmup} steps from {self.min_lr:.2g} to {self.peak_lr:.2g}, then "
                      if self.warmup else f"no warm-up, {self.peak_lr:.2g} at first, then ")
            parts.append(f"Learning rate from {whose}: {warmup}cosine decay to {self.min_lr:.2g} at step "
                         f"{self.total_steps}")
        if self.clip is not None:
            parts.append(f"gradient norm clipped to {self.clip:g} before every optimizer step")
        if not parts:
            return None
        text = "; ".join(parts)
        return text[0].upper() + text[1:] + "."

    def _whose(self) -> str:
        return "Your" if self.yours else "The reference"

    def _hint(self) -> str:
        return " Fix exercises/schedules.py, or run with --reference." if self.yours else ""


def build_schedule(settings, total_steps: int, assembly, workspace=None, use_reference: bool = False
                   ) -> Optional[Schedule]:
    """The run's `Schedule` from its settings (warmup, min_lr, clip, lr), or None when none of them is set.

    With a warm-up or a floor, `learning_rate` comes from the assembled `schedules` module: the learner's if
    it passes, else the reference's (and the description says it was filled in).
    """
    warmup, min_lr, clip = getattr(settings, "warmup", None), getattr(settings, "min_lr", None), \
        getattr(settings, "clip", None)
    if warmup is None and clip is None:
        return None
    learning_rate, yours = None, False
    if warmup is not None:
        from tutor.runs.common import import_piece

        learning_rate = import_piece(assembly, "schedules", "learning_rate")
        yours = "schedules" in assembly.learner
    return Schedule(peak_lr=settings.lr, total_steps=total_steps, warmup=warmup, min_lr=min_lr, clip=clip,
                    learning_rate=learning_rate, yours=yours,
                    filled_in=not yours and workspace is not None and not use_reference)


def schedule_warnings(schedule: Optional[Schedule], saved: Optional[dict]) -> list[str]:
    """Notes for the run's start: a warm-up as long as the run, a resumed schedule stretched or shrunk."""
    notes = []
    if schedule is None or not schedule.scheduled:
        return notes
    if schedule.warmup >= schedule.total_steps:
        notes.append(f"--warmup {schedule.warmup} covers the whole run ({schedule.total_steps} steps): the learning "
                     f"rate never reaches --lr and never decays.")
    before = (saved or {}).get("total_steps")
    if before is not None and before != schedule.total_steps:
        notes.append(f"The schedule now spans {schedule.total_steps} steps (it spanned {before}): from here on "
                     f"the learning rate follows the new curve, not the one the run started on.")
    return notes
