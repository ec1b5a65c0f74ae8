"""The course by stage, one line per exercise with its status icon and hints used; Enter opens the lesson."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tutor.curriculum import Curriculum, Exercise
from tutor.progress import Progress
from tutor.ui.icons import hints_label, status_glyph


def exercise_prompt(ex: Exercise, progress: Progress) -> Content:
    p = progress.get(ex.id)
    hints = hints_label(p, len(ex.hints))
    return Content.assemble(" ", status_glyph(p.status), f" {ex.number:>2}  ", ex.title,
                            *(("  ", hints) if hints.plain else ()))


class CurriculumList(OptionList):
    """Stages as headings (not selectable), exercises as options whose id is the exercise id."""

    DEFAULT_CSS = """
    CurriculumList {
        height: 1fr;
        border: none;
        padding: 0 1;
        & > .option-list--option-disabled { color: $text-accent; text-style: bold; }
    }
    """

    def __init__(self, course: Curriculum, progress: Progress, **kwargs):
        self.course = course
        self._shown = {ex.id: progress.get(ex.id) for ex in course.exercises}
        options: list[Option] = []
        for stage, exercises in course.by_stage().items():
            options.append(Option(Content.styled(stage, "bold $text-accent"), id=f"stage:{stage}", disabled=True))
            options.extend(Option(exercise_prompt(ex, progress), id=ex.id) for ex in exercises)
        super().__init__(*options, **kwargs)

    def show_progress(self, progress: Progress) -> None:
        for ex in self.course.exercises:
            p = progress.get(ex.id)
            if p != self._shown.get(ex.id):  # redraw only the lines that changed
                self._shown[ex.id] = p
                self.replace_option_prompt(ex.id, exercise_prompt(ex, progress))

    def highlight_exercise(self, exercise_id: str) -> None:
        self.highlighted = self.get_option_index(exercise_id)
