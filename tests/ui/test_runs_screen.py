"""The Runs mode (key 5): the workspace's runs in a table, several selected with space and compared side by
side, the plot of their curves written in a worker. Run folders are fabricated (tests/runs/fake_runs.py)."""

from __future__ import annotations

from textual.widgets import DataTable

from tests.runs.fake_runs import make_runs
from tutor.ui.app import make_app
from tutor.ui.screens.runs import RunsScreen

from .conftest import drive, text_of, wait_until


def test_runs_mode_lists_selects_compares_and_plots(workspace, monkeypatch, tmp_path):
    make_runs(workspace.runs_dir)

    async def scenario():
        app = make_app(workspace, start_grader=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("5")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, RunsScreen)
            table = screen.query_one("#runs-table", DataTable)
            await wait_until(pilot, lambda: table.row_count == 9, what="the nine runs")
            assert "9 runs in" in text_of(screen.query_one("#runs-title"))
            assert "notes: not a run" in text_of(screen.query_one("#runs-skipped"))
            assert not screen.query_one("#compare-table").display

            names = [r.name for r in screen.runs]
            low, high = names.index("pretrain-tiny-20261201-100000"), names.index("pretrain-tiny-20261201-110000")
            table.move_cursor(row=high)
            await pilot.press("space")
            table.move_cursor(row=low)
            await pilot.press("space")
            await pilot.pause()
            assert screen.selected == ["pretrain-tiny-20261201-110000", "pretrain-tiny-20261201-100000"]
            assert str(table.get_cell_at((low, 0))) == "✓"
            compare = screen.query_one("#compare-table", DataTable)
            assert compare.display and len(compare.columns) == 3
            rows = {str(compare.get_row_at(i)[0]): [str(c) for c in compare.get_row_at(i)[1:]]
                    for i in range(compare.row_count)}
            assert rows["lr"] == ["0.004", "0.001"] and rows["val_loss"] == ["8.25", "9.5"]
            lr_row = next(i for i in range(compare.row_count) if str(compare.get_row_at(i)[0]) == "lr")
            assert "bold" in str(compare.get_row_at(lr_row)[0].style), "a row that differs is highlighted"

            await pilot.press("p")
            await wait_until(pilot, lambda: screen.plot_path is not None, what="the plot")
            note = text_of(screen.query_one("#plot-note"))
            assert "Plotted loss against tokens seen for pretrain (2 runs" in note and str(screen.plot_path) in note
            assert screen.plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert screen.plot_path.parent == workspace.state_dir / "compare"

            await pilot.press("space")  # unselect the run under the cursor
            await pilot.pause()
            assert screen.selected == ["pretrain-tiny-20261201-110000"]

    drive(scenario)
