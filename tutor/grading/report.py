"""Rich rendering of grading results for the terminal. No torch, no Textual."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from tutor.grading.results import ExerciseResult
from tutor.statuses import look

# The tones of tutor.statuses in Rich colours.
TONE = {"success": "green", "error": "red", "warning": "yellow", "muted": "dim"}

MAX_DETAILED = 3  # failing checks shown in full; the rest get their first line


def status_markup(status: str, words: str | None = None) -> str:
    """`[green]✔ passed[/]`: a status with its glyph, as Rich markup (`words` replaces the usual word)."""
    s = look(status)
    return f"[{TONE[s.tone]}]{s.glyph} {escape(words or s.word)}[/]"


def print_result(console: Console, r: ExerciseResult) -> None:
    s = look(r.status)
    n_pass = sum(c.passed for c in r.checks)
    counts = f"{n_pass}/{len(r.checks)} checks, " if r.checks else ""
    console.print(f"[bold {TONE[s.tone]}]{s.glyph} {escape(r.id)}: {escape(s.word)}[/] "
                  f"[dim]({counts}{r.duration_s:.1f} s)[/]")
    if r.message:
        console.print("  " + escape(r.message).replace("\n", "\n  "))
    if r.status == "not_started":
        return  # every check says the same thing: the message above is enough
    # One cause usually fails several checks: name the diagnosed mistake once, up front.
    mistakes: dict[str, str | None] = {}
    for c in r.checks:
        if not c.passed and c.mistake and c.mistake not in mistakes:
            mistakes[c.mistake] = c.lesson
    for description, lesson in mistakes.items():
        console.print(f"  [bold yellow]Likely mistake:[/] {escape(description)}")
        if lesson:
            console.print(f"  [bold yellow]Read:[/] {escape(lesson)}")
    shown: set[str] = set()
    details = 0
    for c in r.checks:
        if c.passed:
            console.print(f"  [green]✔[/] {escape(c.name)}")
            continue
        console.print(f"  [red]✘ {escape(c.name)}[/]")
        text = c.message
        if c.lesson and not c.mistake and not c.not_implemented:
            text += f"\n  Read: {c.lesson}"
        if text in shown:
            console.print("      [dim](same problem as above)[/]")
        elif details >= MAX_DETAILED:
            console.print("      " + escape(text.splitlines()[0] if text else ""))
        elif text:
            shown.add(text)
            details += 1
            console.print("      " + escape(text).replace("\n", "\n      "))
    if r.output and r.status != "passed":
        console.print("  [dim]Your code printed:[/]")
        console.print("  [dim]" + escape(r.output.strip()[-1500:]).replace("\n", "\n  ") + "[/]")


def print_summary(console: Console, results: list[ExerciseResult], next_id: str | None = None) -> None:
    """`3 of 12 exercises pass.` and what to work on next (`next_id`, from `tutor.statuses.next_exercise`)."""
    if len(results) < 2:
        return
    passed = sum(r.passed for r in results)
    color = "green" if passed == len(results) else "yellow"
    console.print(f"\n[bold {color}]{passed} of {len(results)} exercises pass.[/]")
    if next_id and passed < len(results):
        console.print(f"Next to work on: [bold]{escape(next_id)}[/] (tutor grade {escape(next_id)})")
