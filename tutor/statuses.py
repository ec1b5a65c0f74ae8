"""How an exercise's status is shown and what the learner should do next: one table and one rule for the CLI,
the terminal report and the TUI, so every front end says the same thing. No torch, no UI.

"Passed" means the latest grading passed. An exercise that passed once and fails now counts as not passed
(its row says "failing (passed before)"); having passed once still unlocks its solution.
"""

from __future__ import annotations

from dataclasses import dataclass

from tutor.curriculum import Curriculum, Exercise
from tutor.grading.results import STATUSES
from tutor.progress import ExerciseProgress, Progress


@dataclass(frozen=True)
class StatusLook:
    glyph: str
    word: str
    tone: str  # success | error | warning | muted: each front end maps it to its own colours


LOOKS: dict[str, StatusLook] = {
    "passed": StatusLook("✔", "passed", "success"),
    "failed": StatusLook("✘", "failing", "error"),
    "not_started": StatusLook("·", "not started", "muted"),
    "error": StatusLook("!", "error", "error"),
    "timeout": StatusLook("⏱", "timed out", "error"),
    "crashed": StatusLook("☠", "crashed", "error"),
}
assert set(LOOKS) == set(STATUSES), "every grading status needs a look"


def look(status: str) -> StatusLook:
    """The glyph, word and tone of a status (an unknown one is shown as a warning, never hidden)."""
    return LOOKS.get(status) or StatusLook("?", str(status).replace("_", " "), "warning")


def passes(p: ExerciseProgress) -> bool:
    return p.status == "passed"


def progress_words(p: ExerciseProgress) -> str:
    """The status as a learner reads it in a list: `failing (passed before)` after a regression."""
    word = look(p.status).word
    if p.passed_ever and not passes(p):
        word += " (passed before)"
    return word


def count_passing(course: Curriculum, progress: Progress) -> int:
    return sum(passes(progress.get(ex.id)) for ex in course.exercises)


def next_exercise(course: Curriculum, progress: Progress) -> Exercise | None:
    """What to work on next: the exercise last worked on while it does not pass yet, else the first one in
    course order that does not pass; None when every exercise passes."""
    if progress.last_exercise in course.ids() and not passes(progress.get(progress.last_exercise)):
        return course.get(progress.last_exercise)
    return next((ex for ex in course.exercises if not passes(progress.get(ex.id))), None)
