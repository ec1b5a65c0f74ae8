"""Runs: the workspace's runs in a table (what `tutor runs` prints); select several with space to see them side
by side (what `tutor compare` prints), and write the plot of their curves overlaid.

Reading the runs and writing the plot happen in thread workers (a large mmlu.json, matplotlib's import);
the domain logic is `tutor.runs.registry`. No torch here.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from tutor.runs.registry import (RunRecord, Scan, compare_rows, default_plot_path, differing_settings, format_value,
                                 plot_comparison, scan_runs)
from tutor.ui.widgets.mode_tabs import ModeTabs

# DataTable sizes its columns from rich Text (not Content), so cells are Text with rich colours.
STATUS_STYLE = {"finished": "green", "interrupted": "yellow", "incomplete": "red"}
DIFFER_STYLE = "bold yellow"


class RunsScreen(Screen):
    CSS_PATH = "runs.tcss"
    BINDINGS = [
        Binding("space", "toggle", "Select"),
        Binding("p", "plot", "Plot selected"),
        Binding("o", "open_plot", "Open plot"),
        Binding("r", "refresh", "Refresh"),
    ]

    def __init__(self):
        super().__init__()
        self.runs: list[RunRecord] = []
        self.selected: list[str] = []  # run names, in the order they were picked
        self.plot_path: Path | None = None

    def compose(self) -> ComposeResult:
        yield ModeTabs("runs")
        yield Static("", id="runs-title")
        with Vertical(id="runs-body"):
            yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="runs-skipped")
            yield Static("", id="compare-title")
            yield DataTable(id="compare-table", cursor_type="none", show_cursor=False)
            yield Static("", id="plot-note")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        table = self.query_one("#runs-table", DataTable)
        table.add_columns("", "Name", "Kind", "Started", "Result", "Status", "Settings")
        self.query_one("#compare-table").display = False
        self.action_refresh()

    def on_screen_resume(self) -> None:  # back in this mode: a run may have finished meanwhile
        if self.runs_dir is not None:
            self.action_refresh()

    @property
    def runs_dir(self) -> Path | None:
        ws = self.app.workspace
        return ws.runs_dir if ws is not None else None

    # -- the list ------------------------------------------------------------------------------------------------
    def action_refresh(self) -> None:
        self.query_one("#runs-title", Static).update(Content("Reading the runs…"))
        self._scan(self.runs_dir)

    @work(thread=True, exclusive=True, exit_on_error=False, group="runs-scan")
    def _scan(self, runs_dir: Path | None) -> None:
        scan = scan_runs(runs_dir) if runs_dir is not None else Scan([], [])
        self.app.call_from_thread(self._show_runs, runs_dir, scan)

    def _show_runs(self, runs_dir: Path | None, scan: Scan) -> None:
        self.runs = scan.runs
        names = {r.name for r in scan.runs}
        self.selected = [n for n in self.selected if n in names]
        table = self.query_one("#runs-table", DataTable)
        row = table.cursor_row
        table.clear()
        differ = differing_settings(scan.runs)
        for r in scan.runs:
            settings = "  ".join(f"{k}={format_value(r.settings.get(k))}" for k in differ.get(r.name, []))
            status = Text(r.status, style=STATUS_STYLE.get(r.status, ""))
            table.add_row("✓" if r.name in self.selected else "", Text(r.name), Text(r.kind),
                          time.strftime("%Y-%m-%d %H:%M", time.localtime(r.started)), Text(r.headline_text()),
                          status, Text(settings), key=r.name)
        if scan.runs:
            table.move_cursor(row=min(row, len(scan.runs) - 1))
        where = str(runs_dir) if runs_dir is not None else "no workspace"
        if scan.runs:
            title = (f"{len(scan.runs)} runs in {where}, newest first. Space selects runs to compare; "
                     f"p writes the plot of the selected ones.")
        else:
            title = f"No runs in {where} yet: start one in Train (3) or with `tutor run pretrain`."
        self.query_one("#runs-title", Static).update(Content(title))
        skipped = self.query_one("#runs-skipped", Static)
        skipped.update(Content("Skipped (not runs tutor can read): " + "; ".join(scan.skipped))
                       if scan.skipped else Content(""))
        skipped.display = bool(scan.skipped)
        self._show_comparison()

    # -- selecting and comparing -------------------------------------------------------------------------------
    def action_toggle(self) -> None:
        table = self.query_one("#runs-table", DataTable)
        if not self.runs:
            return
        name = self.runs[table.cursor_row].name
        if name in self.selected:
            self.selected.remove(name)
        else:
            self.selected.append(name)
        table.update_cell(name, table.ordered_columns[0].key, "✓" if name in self.selected else "")
        self._show_comparison()

    def selected_runs(self) -> list[RunRecord]:
        by_name = {r.name: r for r in self.runs}
        return [by_name[n] for n in self.selected if n in by_name]

    def _show_comparison(self) -> None:
        runs = self.selected_runs()
        table = self.query_one("#compare-table", DataTable)
        title = self.query_one("#compare-title", Static)
        table.display = bool(runs)
        table.clear(columns=True)
        if not runs:
            title.update(Content("Select runs (space) to see them side by side."))
            return
        title.update(Content.assemble(Content.styled(f"Comparing {len(runs)} run(s)", "bold"),
                                      Content.styled("   highlighted: the rows where they differ", "$text-muted")))
        comparison = compare_rows(runs)
        table.add_columns("", *[Text(r.name) for r in runs])
        for section, rows in (("settings", comparison.settings), ("metrics", comparison.metrics)):
            table.add_row(Text(section, style="bold underline"), *[""] * len(runs))
            for label, values, differ in rows:
                style = DIFFER_STYLE if differ else ""
                table.add_row(Text(label, style=style), *[Text(v, style=style) for v in values])

    def action_plot(self) -> None:
        runs = self.selected_runs()
        if not runs:
            self.notify("Select runs with space first.", severity="warning")
            return
        self.query_one("#plot-note", Static).update(Content("Writing the plot…"))
        self._plot(runs, default_plot_path(self.runs_dir))

    @work(thread=True, exclusive=True, exit_on_error=False, group="runs-plot")
    def _plot(self, runs: list[RunRecord], path: Path) -> None:
        try:
            written, said = plot_comparison(path, runs, title="tutor compare: " + ", ".join(r.name for r in runs))
        except Exception as e:  # matplotlib missing or a file that cannot be written: say so, stay up
            written, said = None, f"The plot could not be written: {type(e).__name__}: {e}"
        self.app.call_from_thread(self._show_plot, written, said)

    def _show_plot(self, path: Path | None, said: str) -> None:
        self.plot_path = path
        text = said + (f"\nPlot: {path}   (o opens it)" if path is not None else "")
        self.query_one("#plot-note", Static).update(Content(text))

    def action_open_plot(self) -> None:
        if self.plot_path is None:
            self.notify("Write a plot first (p).", severity="warning")
            return
        self.app.open_url(self.plot_path.resolve().as_uri())
