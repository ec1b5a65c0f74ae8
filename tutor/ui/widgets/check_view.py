"""One check of a grading result: pass or fail, its message, and for a diagnosed mistake a highlighted
explanation with a link to the lesson section."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from tutor.grading.results import KNOWN_MISTAKE, CheckResult
from tutor.lessons import LINK

def lesson_target(link: str | None, exercise_of_lesson: dict[str, str]) -> tuple[str, str] | None:
    """(exercise id, anchor) for a `lessons/NN-x.md#anchor` link, if it names a lesson of the course."""
    m = LINK.search(link or "")
    if not m or m.group(1) not in exercise_of_lesson:
        return None
    return exercise_of_lesson[m.group(1)], (m.group(2) or "#")[1:]


def lesson_action(link: str | None, exercise_of_lesson: dict[str, str]) -> str | None:
    """The click action that opens the lesson at that section."""
    target = lesson_target(link, exercise_of_lesson)
    return f"app.open_lesson('{target[0]}','{target[1]}')" if target else None


class CheckView(Static):
    DEFAULT_CSS = """
    CheckView {
        height: auto;
        padding: 0 1;
        &.-failed { border-left: thick $error; }
        &.-diagnosed { border-left: thick $warning; background: $warning 10%; }
    }
    """

    def __init__(self, check: CheckResult, exercise_of_lesson: dict[str, str], show_message: bool = True):
        super().__init__()
        self.check = check
        self.lesson_action = lesson_action(check.lesson, exercise_of_lesson)
        self.set_class(not check.passed, "-failed")
        self.set_class(bool(check.diagnosis) and not check.passed, "-diagnosed")
        self.update(self._render_check(show_message))

    def _render_check(self, show_message: bool) -> Content:
        c = self.check
        if c.passed:
            return Content.assemble(Content.styled("✔ ", "bold $text-success"), c.name)
        parts: list[Content | str] = [Content.styled("✘ ", "bold $text-error"), Content.styled(c.name, "bold")]
        if show_message and c.message:
            parts += ["\n", Content(c.message.rstrip())]
        if show_message and c.mistake:
            parts += ["\n", Content.styled(f"{KNOWN_MISTAKE} {c.mistake}", "bold $text-warning")]
        if show_message and self.lesson_action and c.lesson:
            parts += ["\n", Content.styled(f"→ read {c.lesson}", f"underline $text-accent @click={self.lesson_action}"),
                      Content.styled("  (l)", "$text-muted")]
        return Content.assemble(*parts)
