"""The live accuracy of a classification run (train and validation, 0-100%) against examples seen, beside the
loss curve."""

from __future__ import annotations

from textual_plotext import PlotextPlot

REDRAW_S = 0.25


class AccuracyPlot(PlotextPlot):
    DEFAULT_CSS = """
    AccuracyPlot { height: 1fr; min-height: 6; }
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen: list[float] = []
        self.train: list[float] = []
        self.val: list[float] = []
        self._draw_pending = False

    def on_mount(self) -> None:
        self._draw()

    def clear(self) -> None:
        self.seen, self.train, self.val = [], [], []
        self._draw()

    def add_eval(self, examples_seen: float, train_acc: float, val_acc: float) -> None:
        self.seen.append(examples_seen)
        self.train.append(100 * train_acc)
        self.val.append(100 * val_acc)
        if not self._draw_pending:
            self._draw_pending = True
            self.set_timer(REDRAW_S, self._draw)

    def _draw(self) -> None:
        self._draw_pending = False
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("Accuracy %")
        plt.xlabel("examples seen")
        plt.ylim(0, 100)
        if self.seen:
            plt.plot(self.seen, self.train, label="train", marker="braille")
            plt.plot(self.seen, self.val, label="val", marker="braille")
        self.refresh()
