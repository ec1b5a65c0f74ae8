"""Help: the keys of the screen underneath and of the whole app, and what each mode is for."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

MODES_TEXT = (
    "1 Learn: the course, lessons and exercises.   2 Grade: the checks of the current exercise; it re-grades "
    "each time you save the file.   3 Train: pretrain your GPT and watch the loss.   4 Playground: prompt a "
    "checkpoint or GPT-2 weights.   5 Runs: your runs side by side (space selects, p plots their curves)."
)


def _key_name(app, key: str) -> str:
    return app.get_key_display(Binding(key, ""))


def _declared(node) -> list[Binding]:
    """Bindings declared by the tutor classes of `node` (its own, then inherited ones)."""
    found: list[Binding] = []
    for cls in type(node).__mro__:
        if cls.__module__.startswith("tutor.") and "BINDINGS" in vars(cls):
            found += [b if isinstance(b, Binding) else Binding(*b) for b in vars(cls)["BINDINGS"]]
    return found


class HelpScreen(ModalScreen[None]):
    CSS_PATH = "dialogs.tcss"
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self, under: Screen):
        super().__init__()
        self.under = under

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("Keys", classes="title")
            with VerticalScroll():
                yield Static(self._keys(), id="help-keys")
                yield Static(Content.styled(MODES_TEXT, "$text-muted"), classes="hint")
            yield Static("Esc closes. Ctrl+T switches light/dark; Ctrl+P opens the command palette.",
                         classes="hint")

    def _keys(self) -> Content:
        """The keys this app declares for the screen underneath, then the app-wide ones (not the widgets'
        generic scrolling and focus keys, which every Textual app has)."""

        def rows(node) -> list[Content]:
            out = []
            for binding in _declared(node):
                if not binding.description:
                    continue
                keys = " / ".join(_key_name(self.app, k.strip()) for k in binding.key.split(","))
                out.append(Content.assemble(Content.styled(f"{keys:>10}", "bold $text-accent"), "  ",
                                            binding.description))
            return out

        title = type(self.under).__name__.removesuffix("Screen")
        lines = [Content.styled(f"On this screen ({title})", "bold"), *rows(self.under)]
        lines += [Content(""), Content.styled("Everywhere", "bold"), *rows(self.app)]
        return Content("\n").join(lines)

    def action_close(self) -> None:
        self.dismiss(None)
