"""The live loss curve of a training run (train and validation loss against tokens seen), in the app's theme.

textual-plotext is imported only here, so it loads when the Train screen is first shown.
"""

from __future__ import annotations

from textual_plotext import PlotextPlot


REDRAW_S = 0.25  # evals can arrive faster than a plot is worth redrawing


class LossPlot(PlotextPlot):
    DEFAULT_CSS = """
    LossPlot { height: 1fr; min-height: 6; }
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.tokens: list[float] = []
        self.train: list[float] = []
        self.val: list[float] = []
        self._draw_pending = False
        self.x_label = "tokens seen"  # classification plots against examples seen

    def on_mount(self) -> None:
        self._draw()

    def clear(self) -> None:
        self.tokens, self.train, self.val = [], [], []
        self._draw()

    def add_eval(self, tokens_seen: float, train_loss: float, val_loss: float) -> None:
        self.tokens.append(tokens_seen)
        self.train.append(train_loss)
        self.val.append(val_loss)
        if not self._draw_pending:
            self._draw_pending = True
            self.set_timer(REDRAW_S, self._draw)

    def _draw(self) -> None:
        self._draw_pending = False
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("Loss")
        plt.xlabel(self.x_label)
        if self.tokens:
            plt.plot(self.tokens, self.train, label="train", marker="braille")
            plt.plot(self.tokens, self.val, label="val", marker="braille")
        self.refresh()
