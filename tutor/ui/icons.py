"""How a status looks in the TUI: the shared glyphs and words of `tutor.statuses`, in theme colours (no logic:
the status comes from progress and grading results)."""

from __future__ import annotations

from textual.content import Content

from tutor.progress import ExerciseProgress
from tutor.statuses import look, progress_words

TONE = {"success": "$text-success", "error": "$text-error", "warning": "$text-warning", "muted": "$text-muted"}


def status_glyph(status: str) -> Content:
    s = look(status)
    return Content.styled(s.glyph, f"bold {TONE[s.tone]}")


def status_label(status: str) -> Content:
    s = look(status)
    return Content.styled(f"{s.glyph} {s.word}", f"bold {TONE[s.tone]}")


def progress_label(p: ExerciseProgress) -> Content:
    """`✘ failing (passed before)`: a status as the learner's list shows it."""
    s = look(p.status)
    return Content.styled(f"{s.glyph} {progress_words(p)}", f"bold {TONE[s.tone]}")


def hints_label(p: ExerciseProgress, n_hints: int) -> Content:
    """`hint 2/3` when the learner revealed hints, else nothing."""
    if not p.hints_used:
        return Content("")
    return Content.styled(f"hint {p.hints_used}/{n_hints}", "$text-warning")
