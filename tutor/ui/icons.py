"""How a status looks: glyph, word and theme colour, shared by every screen (no logic: the status comes from
progress and grading results)."""

from __future__ import annotations

from textual.content import Content

from tutor.progress import ExerciseProgress

# status -> (glyph, word, theme variable); glyphs match the CLI's report.
STATUS = {
    "passed": ("✔", "passed", "$text-success"),
    "failed": ("✘", "failing", "$text-error"),
    "not_started": ("·", "not started", "$text-muted"),
    "error": ("!", "does not import", "$text-error"),
    "timeout": ("⏱", "timed out", "$text-error"),
    "crashed": ("☠", "crashed", "$text-error"),
}


def status_of(p: ExerciseProgress) -> str:
    return p.status if p.status in STATUS else "failed"


def status_glyph(status: str) -> Content:
    glyph, _, colour = STATUS.get(status, ("?", status, "$text-warning"))
    return Content.styled(glyph, f"bold {colour}")


def status_label(status: str) -> Content:
    glyph, word, colour = STATUS.get(status, ("?", status, "$text-warning"))
    return Content.styled(f"{glyph} {word}", f"bold {colour}")


def hints_label(p: ExerciseProgress, n_hints: int) -> Content:
    """`hint 2/3` when the learner revealed hints, else nothing."""
    if not p.hints_used:
        return Content("")
    return Content.styled(f"hint {p.hints_used}/{n_hints}", "$text-warning")
