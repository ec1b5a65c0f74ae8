"""The judge's scores as they come in: a text histogram of 0-100 in ten bins (two columns of five, so that it
fits beside the worst answers on a 24-line terminal), the running average, and how many replies had no usable
score."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from tutor.runs.judge import histogram

BAR_WIDTH = 22


class ScoreHistogram(Static):
    DEFAULT_CSS = """
    ScoreHistogram { height: auto; padding: 0 1; }
    """

    def __init__(self, **kwargs):
        super().__init__("", **kwargs)
        self.scores: dict[int, int | None] = {}  # entry index -> score (None: missing)
        self.total = 0

    def clear(self, total: int = 0) -> None:
        self.scores, self.total = {}, total
        self._draw()

    def add(self, index: int, score: int | float | None) -> None:
        self.scores[index] = score
        self._draw()

    @property
    def counts(self) -> list[tuple[str, int]]:
        return histogram(list(self.scores.values()))

    @property
    def have(self) -> list:
        return [s for s in self.scores.values() if s is not None]

    @property
    def missing(self) -> int:
        return sum(s is None for s in self.scores.values())

    @property
    def average(self) -> float | None:
        have = self.have
        return sum(have) / len(have) if have else None

    def _draw(self) -> None:
        counts = self.counts
        top = max((n for _, n in counts), default=0) or 1
        avg = self.average
        parts: list[Content | str] = [
            Content.styled("Scores ", "bold"),
            Content.styled(f"{len(self.scores)}/{self.total} judged · ", "$text-muted") if self.total else "",
            Content.styled(f"average {avg:.1f}" if avg is not None else "no score yet", "bold"),
            Content.styled(f" · {self.missing} missing or unparsable", "$text-warning" if self.missing else
                           "$text-muted"),
        ]
        best_first = list(reversed(counts))  # 90-100 on top; two columns of five bins keep it short
        half = len(best_first) // 2
        for left, right in zip(best_first[:half], best_first[half:]):
            parts.append("\n")
            for col, (label, n) in enumerate((left, right)):
                bar = "█" * round(BAR_WIDTH * n / top)
                parts += ["    " if col else "", Content.styled(f"{label:>6} ", "$text-muted"),
                          Content.styled(f"{bar:<{BAR_WIDTH}}", "$text-accent"), f" {n:>3}"]
        self.update(Content.assemble(*parts))
