"""Rich rendering of grading results for the terminal. No torch, no Textual."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from tutor.grading.results import KNOWN_MISTAKE, ExerciseResult

STATUS_STYLE = {
    "passed": ("✔", "green", "passed"),
    "failed": ("✘", "red", "failed"),
    "not_started": ("·", "yellow", "not started"),
    "error": ("!", "red", "error"),
    "timeout": ("⏱", "red", "timed out"),
    "crashed": ("☠", "red", "crashed"),
}


MAX_DETAILED = 3  # failing checks shown in full; the rest get their first line


def print_result(console: Console, r: ExerciseResult) -> None:
    icon, color, word = STATUS_STYLE.get(r.status, ("?", "white", r.status))
    n_pass = sum(c.passed for c in r.checks)
    counts = f"{n_pass}/{len(r.checks)} checks, " if r.checks else ""
    console.print(f"[bold {color}]{icon} {r.id}: {word}[/] [dim]({counts}{r.duration_s:.1f} s)[/]")
    if r.message:
        console.print("  " + escape(r.message).replace("\n", "\n  "))
    if r.status == "not_started":
        return  # every check says the same thing: the message above is enough
    # One cause usually fails several checks: name the diagnosed mistake once, up front.
    diagnoses: dict[str, tuple[str, str | None]] = {}
    for c in r.checks:
        if not c.passed and c.diagnosis and c.diagnosis not in diagnoses:
            line = next((ln for ln in c.message.splitlines() if ln.startswith(KNOWN_MISTAKE)), "")
            diagnoses[c.diagnosis] = (line.removeprefix(KNOWN_MISTAKE).strip(), c.lesson)
    for description, lesson in diagnoses.values():
        console.print(f"  [bold yellow]Likely mistake:[/] {escape(description)}")
        if lesson:
            console.print(f"  [bold yellow]Read:[/] {lesson}")
    shown: set[str] = set()
    details = 0
    for c in r.checks:
        if c.passed:
            console.print(f"  [green]✔[/] {escape(c.name)}")
            continue
        console.print(f"  [red]✘ {escape(c.name)}[/]")
        text = "\n".join(ln for ln in c.message.splitlines()
                         if not (c.diagnosis and (ln.startswith(KNOWN_MISTAKE) or ln.strip().startswith("Read:"))))
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


def print_summary(console: Console, results: list[ExerciseResult]) -> None:
    if len(results) < 2:
        return
    passed = sum(r.passed for r in results)
    color = "green" if passed == len(results) else "yellow"
    console.print(f"\n[bold {color}]{passed} of {len(results)} exercises pass.[/]")
    first = next((r for r in results if not r.passed), None)
    if first:
        console.print(f"Next to work on: [bold]{first.id}[/] (tutor grade {first.id})")
