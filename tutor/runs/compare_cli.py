"""`tutor runs` and `tutor compare`: the workspace's runs as a table, and runs side by side with their curves.

Thin: `tutor.runs.registry` reads the runs; this renders them with rich. No torch (matplotlib only when a
comparison plot is written).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from tutor.runs.cli import WorkspaceOpt, _find_workspace, _usage, console, err

STATUS_STYLE = {"finished": "green", "interrupted": "yellow", "incomplete": "red"}


def _runs_dir(workspace: Optional[Path]) -> Optional[Path]:
    """The workspace's `.tutor/runs`, or `./tutor-runs` (where runs go without a workspace) if there is one."""
    ws = _find_workspace(workspace)
    if ws is not None:
        return ws.runs_dir
    loose = Path.cwd() / "tutor-runs"
    return loose if loose.is_dir() else None


def _status(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{escape(status)}[/]"


def _date(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds))


def runs(workspace: Optional[Path] = WorkspaceOpt) -> None:
    """List the workspace's runs, newest first: kind, date, the settings that differ, the headline result, status.

    [bold]tutor compare NAME…[/] puts some of them side by side.
    """
    from tutor.runs.registry import differing_settings, format_value, scan_runs

    runs_dir = _runs_dir(workspace)
    if runs_dir is None:
        _usage("No tutor workspace here (and no ./tutor-runs folder): pass --workspace, or run this inside one.")
    scan = scan_runs(runs_dir)
    if not scan.runs:
        console.print(f"No runs in {escape(str(runs_dir))} yet. Start one with [bold]tutor run pretrain[/].")
    else:
        differ = differing_settings(scan.runs)
        table = Table(title=f"Runs in {escape(str(runs_dir))}", title_justify="left")
        for name, kw in (("Name", {"overflow": "fold"}), ("Kind", {}), ("Started", {"no_wrap": True}), ("Settings", {}),
                         ("Result", {"justify": "right"}), ("Status", {})):
            table.add_column(name, **kw)
        for r in scan.runs:
            settings = "\n".join(f"{k}={format_value(r.settings.get(k))}" for k in differ.get(r.name, []))
            status = _status(r.status) + (f"\n[dim]{escape(r.note)}[/]" if r.note else "")
            table.add_row(escape(r.name), escape(r.kind), _date(r.started), escape(settings),
                          escape(r.headline_text()), status)
        console.print(table)
        console.print("[dim]Settings: those that differ between runs of the same kind (a lone run: its main "
                      "ones). `tutor compare NAME NAME…` shows everything side by side.[/]")
    if scan.skipped:
        console.print(f"[yellow]Skipped {len(scan.skipped)} folder(s) that are not runs tutor can read:[/]")
        for note in scan.skipped:
            console.print(f"  [dim]{escape(note)}[/]", soft_wrap=True)


def compare(
    names: list[str] = typer.Argument(..., metavar="RUN...", help="Run folders, or names under the workspace's "
                                      ".tutor/runs (a unique start of a name is enough)."),
    out: Optional[Path] = typer.Option(None, "--out", help="The plot (default .tutor/compare/compare-<time>.png)."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Put runs side by side: settings (those that differ highlighted), metrics, and one PNG of their curves."""
    from tutor.runs.registry import RegistryError, compare_rows, default_plot_path, plot_comparison, resolve_run

    runs_dir = _runs_dir(workspace)
    try:
        found = [resolve_run(name, runs_dir) for name in names]
    except RegistryError as e:
        _usage(str(e))
    comparison = compare_rows(found)
    table = Table(title="Comparing " + ", ".join(escape(r.name) for r in found), title_justify="left")
    table.add_column("")
    for r in found:
        table.add_column(escape(r.name), overflow="fold")
    for section, rows in (("settings", comparison.settings), ("metrics", comparison.metrics)):
        table.add_section()
        table.add_row(f"[bold]{section}[/]", *[""] * len(found))
        for label, values, differ in rows:
            style = "bold yellow" if differ else "dim"
            table.add_row(f"[{style}]{escape(label)}[/]",
                          *[f"[{style}]{escape(v)}[/]" if differ else escape(v) for v in values])
    console.print(table)
    console.print("[dim]Highlighted: the rows where the runs differ.[/]")
    path, said = plot_comparison(out or default_plot_path(runs_dir), found,
                                 title="tutor compare: " + ", ".join(r.name for r in found))
    console.print(escape(said), soft_wrap=True)
    if path is not None:
        console.print(f"[green]Plot[/] {escape(str(path))}", soft_wrap=True)
