"""Showing `tutor run judge` and `tutor run mmlu` in a terminal with rich: live progress, then the results
(average, histogram, worst answers, missing scores; accuracy per subject). No torch here.
"""

from __future__ import annotations

from typing import Optional

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

from tutor.runs.render import ProgressConsole


def _short(text: Optional[str], n: int = 70) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


class _CountingConsole(ProgressConsole):
    """A bar that counts items (`label  ━━━━  3/40  note  0:12`); `note` is a running result."""

    def _start_count(self, label: str, total: int, completed: int = 0) -> None:
        self._start(label, TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[note]}"),
                    TimeElapsedColumn(), total=total, completed=completed, note="")

    def _count(self, step: int, note: str) -> None:
        self.progress.update(self.task, completed=step, note=note)


class JudgeConsole(_CountingConsole):
    """`emit` for `judge`."""

    def __call__(self, ev: dict) -> None:
        kind = ev["event"]
        if kind == "start":
            c = self.console
            c.print(f"[bold]Judging[/] {ev['total_steps']} responses of {escape(ev['responses'])} with "
                    f"[bold]{escape(ev['model'])}[/] at {escape(ev['host'])}.")
            c.print(f"[dim]{escape(ev['assembly'])}[/]")
            if ev.get("resumed"):
                c.print(f"Resuming: {ev['resumed']} already judged in {escape(ev['out'])}.")
            c.print(f"[dim]Results: {escape(ev['out'])}   (Ctrl-C stops; run again to go on)[/]")
            self._start_count("judging", ev["total_steps"], ev.get("resumed", 0))
        elif kind == "judged" and ev["status"] != "scored":
            what = f"no score in the reply {_short(ev.get('reply'))!r}" if ev["status"] == "unparsable" \
                else ev.get("error") or "no reply"
            self._print(f"[yellow]entry {ev['index']}:[/] {escape(what)}")
        elif kind == "progress" and self.progress is not None:
            avg = ev.get("average")
            self._count(ev["step"], f"average {avg:.1f}" if avg is not None else "")
        elif kind == "done":
            self._stop()
            self._report(ev)
        elif kind == "error":
            self._stop()

    def _report(self, ev: dict) -> None:
        c = self.console
        if ev.get("interrupted"):
            c.print(f"[yellow]Stopped[/] with {ev['not_judged']} entries not judged yet; run the same command "
                    f"again to go on.")
        if ev["average"] is None:
            c.print("No usable score yet.")
        else:
            c.print(f"[bold]Average score: {ev['average']:.1f}[/] / 100 over {ev['scored']} of {ev['entries']} "
                    f"responses ({len(ev['missing'])} missing) — judged by {escape(ev['model'])}.")
            top = max(n for _, n in ev["histogram"]) or 1
            for label, n in ev["histogram"]:
                c.print(f"  {label:>6} │{'█' * round(30 * n / top):<30}│ {n}")
            c.print("[bold]The five worst-scored answers:[/]")
            for w in ev["worst"]:
                c.print(f"  [bold]{w['score']:>3}[/]  #{w['index']} {escape(_short(w['instruction'], 60))}")
                c.print(f"       [dim]reference:[/] {escape(_short(w['output']))}")
                c.print(f"       [dim]response: [/] {escape(_short(w['response']))}")
        if ev["missing"]:
            c.print(f"[yellow]{len(ev['missing'])} without a usable score[/] (not in the average):")
            for m in ev["missing"][:20]:
                why = f"reply {_short(m.get('reply'), 60)!r}" if m["status"] == "unparsable" else m.get("error")
                c.print(f"  #{m['index']} {escape(_short(m['instruction'], 40))}: {escape(str(why))}")
            if len(ev["missing"]) > 20:
                c.print(f"  … and {len(ev['missing']) - 20} more (see {escape(ev['metrics'])})")
        c.print(f"  results  {escape(ev['out'])}\n  summary  {escape(ev['metrics'])}")


class MmluConsole(_CountingConsole):
    """`emit` for `mmlu`."""

    def __call__(self, ev: dict) -> None:
        kind = ev["event"]
        if kind == "start":
            self.console.print(f"[bold]Multiple choice[/]: {ev['total_steps']} questions of "
                               f"{escape(ev['data_label'])}, model {escape(ev['model_label'])}, on {ev['device']}.")
            self.console.print(f"[dim]{escape(ev['assembly'])}[/]")
            self._start_count("scoring", ev["total_steps"])
        elif kind == "progress" and self.progress is not None:
            acc = ev.get("accuracy")
            self._count(ev["step"], f"accuracy {acc:.0%}" if acc is not None else "")
        elif kind == "done":
            self._stop()
            c = self.console
            for s in ev["subjects"]:
                c.print(f"  {escape(s['subject']):<24} {s['correct']:>4}/{s['total']:<4} {s['accuracy']:6.1%}")
            c.print(f"  [bold]{'overall':<24} {ev['correct']:>4}/{ev['total']:<4} {ev['accuracy']:6.1%}[/]   "
                    f"(chance: {ev['chance']:.0%})")
            c.print(f"  results  {escape(ev['metrics'])}")
        elif kind == "error":
            self._stop()
