"""The `tutor` command line: parse arguments, call the domain code, print with rich.

Thin by design: no course logic lives here. Heavy imports (torch, tiktoken, textual) happen inside the
commands that need them, so `tutor --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

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


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]Error:[/] {message}")
    raise typer.Exit(code)


def _workspace(explicit: Optional[Path]):
    from tutor.workspace import WorkspaceError, require_workspace

    try:
        return require_workspace(explicit)
    except WorkspaceError as e:
        _fail(str(e))


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
    """Without a command: open the app (Learn, Grade, Train, Playground)."""
    if ctx.invoked_subcommand is not None:
        return
    from tutor.workspace import WorkspaceError, find_workspace

    try:
        ws = find_workspace(workspace)
    except WorkspaceError as e:
        _fail(str(e))
    from tutor.ui.app import make_app

    make_app(ws).run()


# -- workspace ---------------------------------------------------------------------------------------------
@app.command()
def init(directory: Path = typer.Argument(Path("gpt-workspace"), help="Folder to create.")) -> None:
    """Create a workspace with fresh copies of every exercise stub."""
    from tutor.workspace import WorkspaceError, init_workspace

    try:
        ws = init_workspace(directory)
    except WorkspaceError as e:
        _fail(str(e))
    from tutor import curriculum

    first = curriculum.load().exercises[0]
    console.print(f"[green]Created[/] {ws.root}")
    console.print(f"  {len(curriculum.load().exercises)} exercises in {ws.exercises_dir}")
    console.print("\nNext:")
    console.print(f"  cd {directory}")
    grade_cmd = f"tutor grade {first.id}"
    console.print(f"  {'tutor':<26} # the app: read lesson 1, edit, grade")
    console.print(f"  {grade_cmd:<26} # or grade from the shell")


@app.command()
def status(workspace: Optional[Path] = WorkspaceOpt) -> None:
    """Show every exercise with its status and what to do next."""
    from rich.table import Table

    from tutor import curriculum
    from tutor.progress import ProgressStore

    ws = _workspace(workspace)
    cur = curriculum.load()
    progress = ProgressStore(ws.state_dir).load()
    icons = {"passed": "[green]✔ passed[/]", "failed": "[red]✘ failing[/]", "not_started": "[dim]· not started[/]",
             "error": "[red]! error[/]", "timeout": "[yellow]⏱ timeout[/]", "crashed": "[red]☠ crashed[/]"}
    table = Table(title=f"Your progress ({ws.root})", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("Exercise")
    table.add_column("Title")
    table.add_column("Status")
    table.add_column("Attempts", justify="right")
    table.add_column("Hints", justify="right")
    done = 0
    next_ex = None
    for stage, exercises in cur.by_stage().items():
        table.add_section()
        table.add_row("", f"[bold]{stage}[/]", "", "", "", "")
        for ex in exercises:
            p = progress.get(ex.id)
            state = "passed" if p.passed_ever and p.status == "passed" else p.status
            if p.passed_ever:
                done += 1
            elif next_ex is None:
                next_ex = ex
            label = icons.get(state, state)
            if p.passed_ever and p.status != "passed":
                label = f"[yellow]✔ passed before, now {p.status}[/]"
            hints = f"{p.hints_used}/{len(ex.hints)}" if p.hints_used else ""
            table.add_row(str(ex.number), ex.id, ex.title, label, str(p.attempts or ""), hints)
    console.print(table)
    console.print(f"\n{done} of {len(cur.exercises)} exercises passed.")
    if next_ex:
        console.print(f"Next: read [bold]{next_ex.lesson_link()}[/], edit [bold]exercises/{next_ex.module}[/], "
                      f"then [bold]tutor grade {next_ex.id}[/]")
    else:
        console.print("Every exercise passes. Try [bold]tutor run pretrain[/].")


@app.command()
def hint(exercise_id: str = typer.Argument(..., metavar="ID"), workspace: Optional[Path] = WorkspaceOpt) -> None:
    """Reveal the next hint for an exercise (gentle first, then more specific)."""
    from tutor.progress import ProgressStore

    ex = _exercise(exercise_id)
    ws = _workspace(workspace)
    shown = ProgressStore(ws.state_dir).use_hint(ex.id, len(ex.hints))
    for i, text in enumerate(ex.hints[:shown], start=1):
        style = "bold" if i == shown else "dim"
        console.print(f"[{style}]Hint {i}/{len(ex.hints)}:[/] {text}")
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

    from tutor.progress import ProgressStore

    ex = _exercise(exercise_id)
    ws = _workspace(workspace)
    store = ProgressStore(ws.state_dir)
    passed = store.load().get(ex.id).passed_ever
    if not passed and not force:
        _fail(f"{ex.id} has not passed yet. Try `tutor hint {ex.id}` first; `--force` shows the solution "
              "anyway (and notes it in your progress).", code=1)
    store.record("solution", ex.id, forced=not passed)
    console.print(Syntax(ex.solution_path.read_text(encoding="utf-8"), "python", line_numbers=True))


@app.command()
def reset(
    exercise_id: str = typer.Argument(..., metavar="ID"),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Put an exercise's stub back (your file is backed up in .tutor/backups/)."""
    from tutor.progress import ProgressStore

    ex = _exercise(exercise_id)
    ws = _workspace(workspace)
    if not yes:
        if not sys.stdin.isatty():
            _fail("refusing to reset without confirmation; pass --yes.")
        if not typer.confirm(f"Replace exercises/{ex.module} with the original stub?", default=False):
            raise typer.Exit(1)
    backup = ws.reset(ex.id)
    ProgressStore(ws.state_dir).record("reset", ex.id)
    console.print(f"[green]Restored[/] exercises/{ex.module}")
    if backup:
        console.print(f"Your previous version is in {backup}")


# -- grading -----------------------------------------------------------------------------------------------
def _grade_ids(ids: list[str], ws, server, store, as_json: bool, quiet: bool = False):
    from tutor.grading.report import print_result

    results = []
    for ex_id in ids:
        file = ws.exercise_file(ex_id)
        if not as_json and not quiet:
            with console.status(f"Grading {ex_id}…"):
                r = server.grade_file(ex_id, file)
        else:
            r = server.grade_file(ex_id, file)
        store.record_grade(ex_id, r.status)
        results.append(r)
        if not as_json:
            print_result(console, r)
    return results


@app.command()
def grade(
    exercise_ids: Optional[list[str]] = typer.Argument(None, metavar="[ID]...", help="Exercises (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (for scripts)."),
    assembled: bool = typer.Option(False, "--assembled", help="Also check that your modules work together."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds allowed per exercise."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Run the hidden checks on your code. Exit 0 only if every graded exercise passed."""
    from tutor import curriculum
    from tutor.grading.runner import GradingServer
    from tutor.progress import ProgressStore

    ids = list(exercise_ids or [])
    for ex_id in ids:
        _exercise(ex_id)
    ws = _workspace(workspace)
    ids = ids or curriculum.load().ids()
    store = ProgressStore(ws.state_dir)
    try:
        with GradingServer(timeout=timeout) as server:
            if not as_json:
                with console.status("Starting the grader (importing torch)…"):
                    server.start()
            results = _grade_ids(ids, ws, server, store, as_json)
            if assembled:
                from tutor.grading.assembly import check_assembly

                results.append(check_assembly(server, ws))
                if not as_json:
                    from tutor.grading.report import print_result

                    print_result(console, results[-1])
    except KeyboardInterrupt:
        err.print("Interrupted.")
        raise typer.Exit(130)
    passed = sum(r.passed for r in results)
    if as_json:
        print(json.dumps({"exercises": [r.to_json() for r in results], "passed": passed, "total": len(results)}))
    else:
        from tutor.grading.report import print_summary

        print_summary(console, results)
    raise typer.Exit(0 if passed == len(results) else 1)


@app.command()
def watch(
    exercise_id: str = typer.Argument(..., metavar="ID"),
    poll: bool = typer.Option(False, "--poll", help="Poll for changes instead of file-system events."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Re-grade an exercise every time you save it. Ctrl-C to stop."""
    from tutor.grading.report import print_result
    from tutor.grading.runner import GradingServer
    from tutor.grading.watch import watch_file
    from tutor.progress import ProgressStore

    ex = _exercise(exercise_id)
    ws = _workspace(workspace)
    store = ProgressStore(ws.state_dir)
    file = ws.exercise_file(ex.id)
    try:
        with GradingServer() as server:
            def regrade() -> None:
                console.rule(f"[bold]{ex.id}[/]")
                r = server.grade_file(ex.id, file)
                store.record_grade(ex.id, r.status)
                print_result(console, r)
                console.print(f"[dim]Watching exercises/{ex.module}; save to re-grade, Ctrl-C to stop.[/]")

            with console.status("Starting the grader (importing torch)…"):
                server.start()
            regrade()
            for note in watch_file(file, force_polling=poll):
                if note:
                    console.print(f"[yellow]{note}[/]")
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

app.add_typer(run_app, name="run")
app.command("download")(_download)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
