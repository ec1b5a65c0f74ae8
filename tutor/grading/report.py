"""Rich rendering of grading results for the terminal. No torch, no Textual."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from tutor.grading.results import ExerciseResult

STATUS_STYLE = {
    "passed": ("✔", "green", "passed"),
    "failed": ("✘", "red", "failed"),
    "not_started": ("·", "yellow", "not started"),
    "error": ("!", "red", "error"),
    "timeout": ("⏱", "red", "timed out"),
    "crashed": ("☠", "red", "crashed"),
}


def print_result(console: Console, r: ExerciseResult) -> None:
    icon, color, word = STATUS_STYLE.get(r.status, ("?", "white", r.status))
    n_pass = sum(c.passed for c in r.checks)
    counts = f"{n_pass}/{len(r.checks)} checks, " if r.checks else ""
    console.print(f"[bold {color}]{icon} {r.id}: {word}[/] [dim]({counts}{r.duration_s:.1f} s)[/]")
    if r.message:
        console.print("  " + escape(r.message).replace("\n", "\n  "))
    if r.status == "not_started":
        return  # every check says the same thing: the message above is enough
    shown: set[str] = set()
    for c in r.checks:
        if c.passed:
            console.print(f"  [green]✔[/] {escape(c.name)}")
        else:
            console.print(f"  [red]✘ {escape(c.name)}[/]")
            if c.message in shown:  # one cause often fails several checks: say it once
                console.print("      [dim](same problem as above)[/]")
            elif c.message:
                shown.add(c.message)
                console.print("      " + escape(c.message).replace("\n", "\n      "))
    if r.output and r.status != "passed":
        console.print("  [dim]Your code printed:[/]")
        console.print("  [dim]" + escape(r.output.strip()[-1500:]).replace("\n", "\n  ") + "[/]")


def print_summary(console: Console, results: list[ExerciseResult]) -> None:
    if len(results) < 2:
        return
    passed = sum(r.passed for r in results)
    color = "green" if passed == len(results) else "yellow"
    console.print(f"\n[bold {color}]{passed} of {len(results)} exercises pass.[/]")
    first = next((r for r in results if not r.passed), None)
    if first:
        console.print(f"Next to work on: [bold]{first.id}[/] (tutor grade {first.id})")
