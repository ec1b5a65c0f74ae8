"""The `tutor` command line: parse arguments, call the domain code, print with rich.

Thin by design: no course logic lives here. Heavy imports (torch, tiktoken, textual) happen inside the
commands that need them, so `tutor --help` stays fast.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Optional

import click
import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperArgument, TyperOption

from tutor import __version__

app = typer.Typer(
    name="tutor",
    help="Build a GPT from scratch, one graded exercise at a time. Run `tutor` alone for the app.",
    no_args_is_help=False,
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
console = Console(highlight=False)
err = Console(stderr=True, highlight=False)

WorkspaceOpt = typer.Option(None, "--workspace", "-w", help="Workspace folder (default: $TUTOR_WORKSPACE, "
                            "else the nearest folder above the current one that holds .tutor/).")


# Older typers have no `display_type_rich` (and print click's words already): patch only where it exists.
_typer_option_type = getattr(TyperOption, "display_type_rich", None)


def _option_type(self: TyperOption, ctx: click.Context) -> str | None:
    # typer shows Python type names (`<bool>`, `<list[str]>`); click's words (FLOAT, PATH) read better, and a
    # flag needs none.
    if getattr(self, "is_flag", False) or getattr(self, "count", False):
        return None
    shown = _typer_option_type(self, ctx)
    m = re.fullmatch(r"<([\w|-]+)>(\.\.\.)?", shown) if isinstance(shown, str) else None
    if m is None:
        return shown
    return {"str": "TEXT"}.get(m.group(1), m.group(1).upper()) + (m.group(2) or "")


if _typer_option_type is not None:
    TyperOption.display_type_rich = _option_type
    TyperArgument.display_type_rich = lambda self, ctx: None  # the argument's name already says what it is


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]Error:[/] {escape(message)}", soft_wrap=True)  # unwrapped: URLs and paths stay copyable
    raise typer.Exit(code)


_global_workspace: Optional[Path] = None  # `tutor -w DIR COMMAND`: set by the callback before every command


def chosen_workspace(explicit: Optional[Path]) -> Optional[Path]:
    """The command's own --workspace, else the global one (`tutor -w DIR status`), else None."""
    return explicit if explicit is not None else _global_workspace


def _workspace(explicit: Optional[Path]):
    from tutor.workspace import WorkspaceError, require_workspace

    try:
        ws = require_workspace(chosen_workspace(explicit))
    except WorkspaceError as e:
        _fail(str(e))
    ws.sync_lessons()  # after an upgrade of tutor, the lessons the messages point to are the new ones
    return ws


def _store(ws):
    """The workspace's progress store; if its snapshot had to be rebuilt, say so in one line."""
    from tutor.progress import ProgressStore

    store = ProgressStore(ws.state_dir)
    store.load()
    if store.recovered:
        err.print(f"[yellow]Note:[/] {escape(store.recovered)}")
    return store


def _exercise(exercise_id: str):
    from tutor import curriculum

    try:
        return curriculum.load().get(exercise_id)
    except KeyError as e:
        _fail(e.args[0])


def _version(value: bool) -> None:
    if value:
        console.print(f"tutor {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def main_callback(
    ctx: typer.Context,
    workspace: Optional[Path] = WorkspaceOpt,
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Without a command: open the app (Learn, Grade, Train, Playground, Runs)."""
    from tutor.workspace import WorkspaceError, find_workspace

    global _global_workspace
    _global_workspace = workspace
    if ctx.invoked_subcommand is not None:
        if workspace is not None:  # a --workspace that is not one is an error for every command
            try:
                find_workspace(workspace)
            except WorkspaceError as e:
                _fail(str(e))
        return
    try:
        ws = find_workspace(workspace)
    except WorkspaceError as e:
        _fail(str(e))
    from tutor.ui.app import make_app

    make_app(ws).run()


# -- workspace ---------------------------------------------------------------------------------------------
@app.command()
def init(directory: Path = typer.Argument(Path("gpt-workspace"), help="Folder to create.")) -> None:
    """Create a workspace with fresh copies of every exercise stub (or repair one that lost .tutor/)."""
    from tutor import curriculum
    from tutor.workspace import WorkspaceError, init_workspace, needs_repair, repair_workspace

    try:
        if needs_repair(directory):
            ws, restored = repair_workspace(directory)
            console.print(f"[green]Repaired[/] {escape(str(ws.root))}: recreated .tutor/ and kept every file in "
                          "exercises/. Your progress starts afresh; `tutor grade` records it again.")
            if restored:
                console.print(f"  Put back the missing stubs of: {escape(', '.join(restored))}")
            return
        ws = init_workspace(directory)
    except WorkspaceError as e:
        _fail(str(e))
    cur = curriculum.load()
    first = cur.exercises[0]
    console.print(f"[green]Created[/] {escape(str(ws.root))}")
    console.print(f"  {len(cur.exercises)} exercises in {escape(str(ws.exercises_dir))}, "
                  f"their lessons in {escape(str(ws.lessons_dir))}")
    console.print("\nNext:")
    console.print(f"  cd {escape(str(directory))}")
    rows = [("tutor", "the app: read lesson 1, edit, grade"),
            (f"tutor lesson {first.id}", "or read lesson 1 in the shell"),
            (f"tutor grade {first.id}", "and grade from the shell")]
    for cmd, what in rows:
        console.print(f"  {escape(cmd):<26} # {what}")


@app.command()
def status(workspace: Optional[Path] = WorkspaceOpt) -> None:
    """Show every exercise with its status and what to do next."""
    from rich.table import Table

    from tutor import curriculum
    from tutor.grading.report import status_markup
    from tutor.statuses import count_passing, next_exercise, progress_words

    ws = _workspace(workspace)
    cur = curriculum.load()
    progress = _store(ws).load()
    table = Table(title=f"Your progress ({escape(str(ws.root))})", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("Exercise")
    table.add_column("Title")
    table.add_column("Status")
    table.add_column("Attempts", justify="right")
    table.add_column("Hints", justify="right")
    for stage, exercises in cur.by_stage().items():
        table.add_section()
        table.add_row("", f"[bold]{escape(stage)}[/]", "", "", "", "")
        for ex in exercises:
            p = progress.get(ex.id)
            hints = f"{p.hints_used}/{len(ex.hints)}" if p.hints_used else ""
            table.add_row(str(ex.number), escape(ex.id), escape(ex.title), status_markup(p.status, progress_words(p)),
                          str(p.attempts or ""), hints)
    console.print(table)
    console.print(f"\n{count_passing(cur, progress)} of {len(cur.exercises)} exercises pass.")
    nxt = next_exercise(cur, progress)
    if nxt:
        console.print(f"Next: read [bold]{escape(nxt.lesson_link())}[/] (or `tutor lesson {escape(nxt.id)}`), "
                      f"edit [bold]exercises/{escape(nxt.module)}[/], then [bold]tutor grade {escape(nxt.id)}[/]")
    else:
        console.print("Every exercise passes. Try [bold]tutor run pretrain[/].")


@app.command()
def lesson(exercise_id: str = typer.Argument(..., metavar="ID")) -> None:
    """Read an exercise's lesson in the terminal (in a pager when the output is a terminal)."""
    import os

    from rich.markdown import Markdown

    ex = _exercise(exercise_id)
    document = Markdown(ex.lesson_path.read_text(encoding="utf-8"))
    if console.is_terminal:
        os.environ.setdefault("LESS", "-R")  # less shows the colours instead of their escape codes
        with console.pager(styles=True):
            console.print(document)
    else:
        console.print(document)


@app.command()
def hint(exercise_id: str = typer.Argument(..., metavar="ID"), workspace: Optional[Path] = WorkspaceOpt) -> None:
    """Reveal the next hint for an exercise (gentle first, then more specific)."""
    ex = _exercise(exercise_id)
    ws = _workspace(workspace)
    shown = _store(ws).use_hint(ex.id, len(ex.hints))
    for i, text in enumerate(ex.hints[:shown], start=1):
        style = "bold" if i == shown else "dim"
        console.print(f"[{style}]Hint {i}/{len(ex.hints)}:[/] {escape(text)}")
    if shown == len(ex.hints):
        console.print("[dim]That was the last hint. `tutor solution` opens the reference once you pass.[/]")


@app.command()
def solution(
    exercise_id: str = typer.Argument(..., metavar="ID"),
    force: bool = typer.Option(False, "--force", help="Show it before passing (recorded in your progress)."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Show the reference solution, once your exercise has passed."""
    from rich.syntax import Syntax

    ex = _exercise(exercise_id)
    ws = _workspace(workspace)
    store = _store(ws)
    passed = store.load().get(ex.id).passed_ever
    if not passed and not force:
        _fail(f"{ex.id} has not passed yet. Try `tutor hint {ex.id}` first; `--force` shows the solution "
              "anyway (and notes it in your progress).", code=1)
    store.record("solution", ex.id, forced=not passed)
    console.print(Syntax(ex.solution_path.read_text(encoding="utf-8"), "python", line_numbers=True, word_wrap=True))


@app.command()
def reset(
    exercise_id: str = typer.Argument(..., metavar="ID"),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Put an exercise's stub back (your file is backed up in .tutor/backups/)."""
    ex = _exercise(exercise_id)
    ws = _workspace(workspace)
    if not yes:
        if not sys.stdin.isatty():
            _fail("refusing to reset without confirmation; pass --yes.")
        if not typer.confirm(f"Replace exercises/{ex.module} with the original stub?", default=False):
            raise typer.Exit(1)
    backup = ws.reset(ex.id)
    _store(ws).record("reset", ex.id)
    console.print(f"[green]Restored[/] exercises/{escape(ex.module)}")
    if backup:
        console.print(f"Your previous version is in {escape(str(backup))}")


# -- grading -----------------------------------------------------------------------------------------------
def _grade_ids(ids: list[str], ws, server, store, as_json: bool, quiet: bool = False):
    from tutor.grading.report import print_result
    from tutor.progress import file_digest

    results = []
    for ex_id in ids:
        file = ws.exercise_file(ex_id)
        digest = file_digest(file)  # before grading: a save while it runs is a new attempt
        if not as_json and not quiet:
            with console.status(f"Grading {ex_id}…"):
                r = server.grade_file(ex_id, file)
        else:
            r = server.grade_file(ex_id, file)
        store.record_grade(ex_id, r.status, digest)
        results.append(r)
        if not as_json:
            print_result(console, r)
    return results


@app.command()
def grade(
    exercise_ids: Optional[list[str]] = typer.Argument(None, metavar="ID", help="Exercises (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (for scripts)."),
    assembled: bool = typer.Option(False, "--assembled", help="Also check that your modules work together as "
                                   "one GPT (those that do not pass yet are filled in from the reference)."),
    only_mine: bool = typer.Option(False, "--only-mine", help="With --assembled: use every one of your "
                                   "modules, passing or not."),
    timeout: float = typer.Option(60.0, "--timeout", metavar="SECONDS", help="Time allowed per exercise."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Run the hidden checks on your code. Exit 0 only if every graded exercise passed."""
    from tutor import curriculum
    from tutor.grading.report import print_result, print_summary
    from tutor.grading.runner import GradingServer
    from tutor.statuses import next_exercise

    ids = list(exercise_ids or [])
    for ex_id in ids:
        _exercise(ex_id)
    ws = _workspace(workspace)
    ids = ids or curriculum.load().ids()
    store = _store(ws)
    assembly = None
    try:
        with GradingServer(timeout=timeout) as server:
            if not as_json:
                with console.status("Starting the grader (importing torch)…"):
                    server.start()
                if notice := server.take_notice():  # spawn mode (Windows, macOS): slower, said once
                    console.print(notice, style="dim", markup=False)
            results = _grade_ids(ids, ws, server, store, as_json)
            if assembled:
                from tutor.assemble import assemble
                from tutor.grading.assembly import check_assembly

                # The same choice a run makes (tutor.assemble), read after the grades above were recorded.
                filled_in = assemble(ws, only_passed=not only_mine)
                if not as_json:
                    console.rule("[bold]Your modules together[/]")
                    console.print(escape(filled_in.describe()))
                    with console.status("Checking your assembled GPT…"):
                        assembly = check_assembly(server, ws, only_mine)
                    print_result(console, assembly)
                else:
                    assembly = check_assembly(server, ws, only_mine)
    except KeyboardInterrupt:
        err.print("Interrupted.")
        raise typer.Exit(130)
    passed = sum(r.passed for r in results)
    ok = passed == len(results) and (assembly is None or assembly.passed)
    if as_json:
        out = {"exercises": [r.to_json() for r in results], "passed": passed, "total": len(results)}
        if assembly is not None:  # not an exercise: outside `exercises`, `passed` and `total`
            out["assembly"] = {**assembly.to_json(), "filled_in": list(filled_in.filled_in)}
        print(json.dumps(out))
    else:
        nxt = next_exercise(curriculum.load(), store.load())
        print_summary(console, results, next_id=nxt.id if nxt else None)
    raise typer.Exit(0 if ok else 1)


@app.command()
def watch(
    exercise_id: str = typer.Argument(..., metavar="ID"),
    poll: bool = typer.Option(False, "--poll", help="Poll for changes instead of file-system events."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Re-grade an exercise every time you save it. Ctrl-C to stop."""
    from tutor.grading.report import print_result
    from tutor.grading.runner import GradingServer
    from tutor.progress import file_digest
    from tutor.grading.watch import Polling, watch_file

    ex = _exercise(exercise_id)
    ws = _workspace(workspace)
    store = _store(ws)
    file = ws.exercise_file(ex.id)
    try:
        with GradingServer() as server:
            def regrade() -> None:
                console.rule(f"[bold]{escape(ex.id)}[/]")
                digest = file_digest(file)
                r = server.grade_file(ex.id, file)
                store.record_grade(ex.id, r.status, digest)
                print_result(console, r)
                console.print(f"[dim]Watching exercises/{escape(ex.module)}; save to re-grade, Ctrl-C to stop.[/]")

            with console.status("Starting the grader (importing torch)…"):
                server.start()
            regrade()
            for event in watch_file(file, force_polling=poll):
                if isinstance(event, Polling):
                    console.print(f"[yellow]{escape(event.describe())}[/]")
                    continue
                regrade()
    except KeyboardInterrupt:
        console.print("\nStopped watching.")


@app.command()
def doctor() -> None:
    """Check your set-up (Python, torch and its devices, tokenizer files, grader, Ollama); paste the output
    when you ask for help. Exit 1 if something tutor needs is broken."""
    from tutor.doctor import diagnose, render

    findings = diagnose()
    typer.echo(render(findings))  # plain text, no Rich markup: paths and messages are pasted as they are
    raise typer.Exit(0 if all(f.ok for f in findings) else 1)


from tutor.runs.cli import download as _download, run_app  # noqa: E402  (light: runs import torch lazily)
from tutor.runs.cli import export as _export, import_ as _import  # noqa: E402

app.add_typer(run_app, name="run")
app.command("download")(_download)
app.command("export")(_export)
app.command("import")(_import)

from tutor.runs.compare_cli import compare as _compare, runs as _runs  # noqa: E402  (light: no torch)

app.command("runs")(_runs)
app.command("compare")(_compare)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
