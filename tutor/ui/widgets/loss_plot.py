"""Live curves of a training run, in the app's theme: the loss (train and validation against tokens seen, or
examples seen for a classifier) and a classifier's accuracy beside it.

textual-plotext is imported only here, so it loads when the Train screen is first shown.
"""

from __future__ import annotations

from typing import Optional

from textual_plotext import PlotextPlot

REDRAW_S = 0.25  # evals can arrive faster than a plot is worth redrawing


class CurvePlot(PlotextPlot):
    """A train and a validation curve, added one evaluation at a time and redrawn a few times a second."""

    TITLE = ""
    SCALE = 1.0  # each value is multiplied by this before it is drawn
    Y_LIMITS: Optional[tuple[float, float]] = None

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.x: list[float] = []
        self.train: list[float] = []
        self.val: list[float] = []
        self._draw_pending = False
        self.x_label = "tokens seen"

    def on_mount(self) -> None:
        self._draw()

    def clear(self) -> None:
        self.x, self.train, self.val = [], [], []
        self._draw()

    def add_eval(self, x: float, train: float, val: float) -> None:
        self.x.append(x)
        self.train.append(self.SCALE * train)
        self.val.append(self.SCALE * val)
        if not self._draw_pending:
            self._draw_pending = True
            self.set_timer(REDRAW_S, self._draw)

    def _draw(self) -> None:
        self._draw_pending = False
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.TITLE)
        plt.xlabel(self.x_label)
        if self.Y_LIMITS:
            plt.ylim(*self.Y_LIMITS)
        if self.x:
            plt.plot(self.x, self.train, label="train", marker="braille")
            plt.plot(self.x, self.val, label="val", marker="braille")
        self.refresh()


class LossPlot(CurvePlot):
    """Loss against tokens seen (`x_label` says examples seen for a classifier)."""

    DEFAULT_CSS = """
    LossPlot { height: 1fr; min-height: 6; }
    """
    TITLE = "Loss"


class AccuracyPlot(CurvePlot):
    """A classifier's train and validation accuracy (0-100%) against examples seen, beside the loss."""

    DEFAULT_CSS = """
    AccuracyPlot { height: 1fr; min-height: 6; }
    """
    TITLE = "Accuracy %"
    SCALE = 100.0
    Y_LIMITS = (0.0, 100.0)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.x_label = "examples seen"
