"""The hints the learner has revealed for one exercise, gentlest first; the newest stands out."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static


class HintPanel(Static):
    DEFAULT_CSS = """
    HintPanel {
        height: auto;
        max-height: 40%;
        overflow-y: auto;
        border-top: solid $warning;
        padding: 0 1;
        display: none;
        &.-shown { display: block; }
    }
    """

    def show_hints(self, hints: tuple[str, ...], revealed: int) -> None:
        self.set_class(revealed > 0, "-shown")
        lines = []
        for i, text in enumerate(hints[:revealed], start=1):
            style = "bold" if i == revealed else "$text-muted"
            lines.append(Content.assemble(Content.styled(f"Hint {i}/{len(hints)}: ", "bold $text-warning"),
                                          Content.styled(text, style)))
        self.update(Content("\n").join(lines))
