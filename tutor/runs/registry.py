"""The runs of a workspace, read back from what they wrote: for `tutor runs`, `tutor compare` and the TUI's
Runs view.

Every run leaves a folder under `.tutor/runs/` (pretrain, classify, instruct: `metrics.json`; mmlu:
`mmlu.json`; a stopped or still running one: only `checkpoint.pt`), and `tutor run judge` leaves
`<responses>.judge-<model>.summary.json` next to the responses it scored (usually inside an instruct run's
folder). `scan_runs` turns each into a `RunRecord`: its kind, when it started, its status, its settings
flattened to one level, its headline metric and its curve. Folders that hold none of these, or files that do
not parse, are skipped with a note, never with a traceback. `compare_rows` lines runs up side by side and
`plot_comparison` overlays their curves in one PNG (matplotlib, imported there only). The TUI's pickers (the
Train screen's inputs, the Playground's models) find the files runs leave with the finders at the end
(`model_checkpoints`, `run_folders`, `responses_files`): file names, mtimes and metrics.json only, never a
checkpoint opened.

No torch, no textual, no printing: the CLI and the TUI render what this returns.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

from tutor.runs.checkpoint import FILENAME as CHECKPOINT_FILE

FINISHED, INTERRUPTED, INCOMPLETE = "finished", "interrupted", "incomplete"
KINDS = ("pretrain", "classify", "instruct", "judge", "mmlu", "import")
_STAMP = re.compile(r"(\d{8}-\d{6})(?:-\d+)?$")  # default_out's `<name>-YYYYmmdd-HHMMSS[-n]`
# Settings shown for a kind when no other run of that kind differs from it (so a lone run still says something).
KEY_SETTINGS = {
    "pretrain": ("config", "lr", "epochs", "max_steps", "warmup", "clip"),
    "classify": ("init", "trainable", "lr", "epochs"),
    "instruct": ("init", "lr", "epochs", "mask_prompt"),
    "judge": ("judge", "responses"),
    "mmlu": ("model", "shots"),
    "import": (),
}
CLASSIFIER_FILE = "classifier.pt"  # what a finished `tutor run classify` leaves next to its checkpoint.pt
RESPONSES_FILE = "responses.json"  # what `tutor run instruct` writes into its run folder
WEIGHT_SUFFIXES = (".pt", ".pth")  # files the Playground offers as weights to continue text with
# Settings that never explain a difference in results: left out of "what differs".
IGNORED = {"sample_prompt", "sample_tokens", "out", "resume"}
HEADLINE = {  # kind: (metrics key, label, as percent)
    "pretrain": ("val_loss", "val loss", False),
    "classify": ("test_accuracy", "test accuracy", True),
    "instruct": ("val_loss", "val loss", False),
    "judge": ("average", "judge score", False),
    "mmlu": ("accuracy", "accuracy", True),
}


class RegistryError(RuntimeError):
    """A name or path given to `tutor compare` is not a run; the message says what was looked for."""


@dataclass(frozen=True)
class Curve:
    """One run's curve: the x values and, by label, the y series (same length)."""

    x_label: str
    y_label: str
    x: list
    series: dict[str, list]


@dataclass(frozen=True)
class RunRecord:
    name: str  # the folder's name under the runs folder (judge: `<folder>/<summary stem>`)
    path: Path  # the run folder (judge: the summary file)
    kind: str
    started: float  # seconds since the epoch: the folder name's time stamp, else the newest file's mtime
    status: str  # finished | interrupted | incomplete
    settings: dict[str, Any] = field(default_factory=dict)  # flat: model.emb_dim, lr, …
    metrics: dict[str, Any] = field(default_factory=dict)  # flat numbers worth comparing
    curve: Optional[Curve] = None
    note: str = ""  # why a run is incomplete, or what is odd about it

    @property
    def headline(self) -> Optional[float]:
        key = HEADLINE.get(self.kind, (None,))[0]
        value = self.metrics.get(key) if key else None
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def headline_text(self) -> str:
        """'val loss 5.123', 'test accuracy 95.0%', or '' when the run has none (yet)."""
        if self.kind not in HEADLINE or self.headline is None:
            return ""
        _, label, percent = HEADLINE[self.kind]
        return f"{label} {format_value(self.headline, percent=percent)}"


@dataclass(frozen=True)
class Scan:
    runs: list[RunRecord]  # newest first
    skipped: list[str]  # one note per folder or file that is not a run we can read


# -- reading ------------------------------------------------------------------------------------------------------
def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _started(folder: Path, files: Iterable[Path]) -> float:
    m = _STAMP.search(folder.name)
    if m:
        try:
            return time.mktime(time.strptime(m.group(1), "%Y%m%d-%H%M%S"))
        except ValueError:
            pass
    times = [f.stat().st_mtime for f in files if f.exists()]
    return max(times) if times else folder.stat().st_mtime


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _flat(settings: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, name + "."))
        elif isinstance(value, (list, tuple)):
            out[name] = ", ".join(map(str, value))
        else:
            out[name] = value
    return out


def _series(evals: list, key: str) -> list:
    return [e.get(key) if isinstance(e, dict) else None for e in evals]


def _training_run(folder: Path, metrics: dict) -> RunRecord:
    """pretrain, instruct or classify from its metrics.json."""
    kind = metrics["run"]
    settings = _flat(metrics.get("settings") or {})
    data = metrics.get("data") if isinstance(metrics.get("data"), dict) else {}
    if data.get("label"):
        settings["data"] = data["label"]  # the label reads better than an absolute path
    for key in ("device", "parameters", "trainable_parameters"):
        if metrics.get(key) is not None:
            settings[key] = metrics[key]
    if kind == "classify" and metrics.get("init"):
        settings["init"] = metrics["init"]
    filled = metrics.get("filled_in")
    if isinstance(filled, list):
        settings["modules filled in"] = len(filled)
    numbers = {k: v for k, v in metrics.items() if _number(v) and k not in ("parameters", "trainable_parameters")}
    evals = metrics.get("evals") if isinstance(metrics.get("evals"), list) else []
    curve = None
    if evals:
        if kind == "classify":
            curve = Curve("examples seen", "accuracy", _series(evals, "examples_seen"),
                          {"validation accuracy": _series(evals, "val_acc"),
                           "training accuracy": _series(evals, "train_acc")})
        else:
            curve = Curve("tokens seen", "loss", _series(evals, "tokens_seen"),
                          {"validation loss": _series(evals, "val_loss"),
                           "training loss": _series(evals, "train_loss")})
            if any(_number(v) for v in _series(evals, "lr")):
                curve.series["learning rate"] = _series(evals, "lr")
    status = INTERRUPTED if metrics.get("interrupted") else FINISHED
    note = ""
    if status == INTERRUPTED:
        note = f"stopped at step {metrics.get('step')} of {metrics.get('total_steps')}"
    files = [folder / "metrics.json"]
    return RunRecord(folder.name, folder, kind, _started(folder, files), status, settings, numbers, curve, note)


def _mmlu_run(folder: Path, metrics: dict) -> RunRecord:
    settings = {"model": metrics.get("model"), "shots": metrics.get("shots"), "data": metrics.get("data"),
                "device": metrics.get("device")}
    numbers = {k: metrics[k] for k in ("accuracy", "correct", "total", "chance", "wall_s") if _number(metrics.get(k))}
    return RunRecord(folder.name, folder, "mmlu", _started(folder, [folder / "mmlu.json"]), FINISHED, settings,
                     numbers)


def _judge_run(summary_path: Path, runs_dir: Path, summary: dict) -> RunRecord:
    try:
        name = summary_path.relative_to(runs_dir).as_posix()
    except ValueError:
        name = summary_path.name
    name = name.removesuffix(".summary.json")
    responses = summary.get("responses")
    settings = {"judge": summary.get("model"), "responses": Path(responses).parent.name if responses else None,
                "host": summary.get("host")}
    numbers = {k: summary[k] for k in ("average", "scored", "entries") if _number(summary.get(k))}
    not_judged = summary.get("not_judged") or []
    status = INTERRUPTED if summary.get("interrupted") else INCOMPLETE if not_judged else FINISHED
    note = f"{len(not_judged)} entries not judged yet" if not_judged else ""
    return RunRecord(name, summary_path, "judge", summary_path.stat().st_mtime, status, settings, numbers,
                     None, note)


def kind_from_name(folder: Path) -> Optional[str]:
    """The kind a run's default folder name says (`classify-tiny-<time>` → classify), or None."""
    prefix = folder.name.split("-", 1)[0]
    return prefix if prefix in KINDS else None


def read_run(folder: Path, runs_dir: Optional[Path] = None) -> tuple[list[RunRecord], Optional[str]]:
    """The run(s) one folder holds (a training run plus any judge results inside it), or a note saying why none."""
    runs_dir = runs_dir or folder.parent
    records: list[RunRecord] = []
    problems: list[str] = []
    metrics_file, mmlu_file = folder / "metrics.json", folder / "mmlu.json"
    for file in (metrics_file, mmlu_file):
        if not file.is_file():
            continue
        try:
            data = _read_json(file)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            if data.get("run") in ("pretrain", "classify", "instruct"):
                records.append(_training_run(folder, data))
            elif data.get("run") == "mmlu":
                records.append(_mmlu_run(folder, data))
            else:
                problems.append(f"{file.name} was not written by a tutor run (run: {data.get('run')!r})")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            problems.append(f"{file.name} cannot be read ({type(e).__name__}: {e})")
    for summary_path in sorted(folder.glob("*.summary.json")):
        try:
            summary = _read_json(summary_path)
            if not isinstance(summary, dict) or "average" not in summary or "scores" not in summary:
                raise ValueError("not a judge summary")
            records.append(_judge_run(summary_path, runs_dir, summary))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            problems.append(f"{summary_path.name} cannot be read ({type(e).__name__}: {e})")
    if not any(r.path == folder for r in records) and (folder / CHECKPOINT_FILE).is_file() and not problems:
        kind = kind_from_name(folder) or "unknown"
        imported = kind == "import"
        records.append(RunRecord(
            folder.name, folder, kind, _started(folder, [folder / CHECKPOINT_FILE]),
            FINISHED if imported else INCOMPLETE,
            note="" if imported else "no metrics.json yet: running, or stopped early (--resume continues it)"))
    if records:
        return records, "; ".join(f"{folder.name}: {p}" for p in problems) or None
    if problems:
        return [], f"{folder.name}: " + "; ".join(problems)
    kind = kind_from_name(folder)
    if kind and _STAMP.search(folder.name):  # a run's own folder with nothing in it yet
        return [RunRecord(folder.name, folder, kind, _started(folder, []), INCOMPLETE,
                          note="nothing written yet: running, or it failed before its first checkpoint")], None
    return [], f"{folder.name}: not a run (no metrics.json, mmlu.json or checkpoint.pt)"


def scan_runs(runs_dir: Path) -> Scan:
    """Every run under `runs_dir`, newest first, and a note for each folder that is not one."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return Scan([], [])
    runs, skipped = [], []
    for entry in sorted(runs_dir.iterdir()):
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        try:
            found, note = read_run(entry, runs_dir)
        except OSError as e:  # a folder removed or unreadable while we look
            found, note = [], f"{entry.name}: cannot be read ({e})"
        runs.extend(found)
        if note:
            skipped.append(note)
    runs.sort(key=lambda r: (r.started, r.name), reverse=True)
    return Scan(runs, skipped)


def resolve_run(arg: str, runs_dir: Optional[Path]) -> RunRecord:
    """A run from a path (folder, its metrics.json, a judge summary) or a name under `runs_dir` (or a unique
    prefix of one)."""
    candidates = [Path(arg).expanduser()]
    if runs_dir is not None:
        candidates.append(Path(runs_dir) / arg)
    for path in candidates:
        summary = path if path.name.endswith(".summary.json") else path.with_name(path.name + ".summary.json")
        if summary.is_file():
            runs, note = read_run(summary.parent, runs_dir or summary.parent.parent)
            for r in runs:
                if r.path == summary:
                    return r
            raise RegistryError(note or f"{summary} is not a judge summary.")
        if path.is_file() and path.name in ("metrics.json", "mmlu.json", CHECKPOINT_FILE):
            path = path.parent
        if path.is_dir():
            runs, note = read_run(path, runs_dir if runs_dir and path.parent == Path(runs_dir) else path.parent)
            own = [r for r in runs if r.path == path]
            if own:
                return own[0]
            raise RegistryError(note or f"{path} is not a run.")
    if runs_dir is not None and Path(runs_dir).is_dir():
        names = sorted(p.name for p in Path(runs_dir).iterdir() if p.is_dir() and p.name.startswith(arg))
        if len(names) == 1:
            return resolve_run(names[0], runs_dir)
        if len(names) > 1:
            raise RegistryError(f"{arg!r} matches {len(names)} runs ({', '.join(names[:5])}"
                                f"{', …' if len(names) > 5 else ''}): give more of the name.")
        raise RegistryError(f"No run {arg!r}: not a folder, and nothing in {runs_dir} is called that "
                            f"(`tutor runs` lists them).")
    raise RegistryError(f"No run {arg!r}: not a folder (and no workspace to look in).")


# -- comparing ------------------------------------------------------------------------------------------------------
def _same(a, b) -> bool:
    if _number(a) and _number(b):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)
    return a == b


def differing_settings(runs: list[RunRecord]) -> dict[str, list[str]]:
    """For each run name, the setting keys that differ from another run of the same kind (or, for the only run of
    its kind, its kind's key settings); none for a run that has no settings yet."""
    by_kind: dict[str, list[RunRecord]] = {}
    out: dict[str, list[str]] = {r.name: [] for r in runs}
    for r in runs:
        if r.settings:  # a run that wrote no settings yet (checkpoint only) differs in nothing we know
            by_kind.setdefault(r.kind, []).append(r)
    for kind, group in by_kind.items():
        keys = sorted({k for r in group for k in r.settings} - IGNORED)
        if len(group) == 1:
            differ = [k for k in KEY_SETTINGS.get(kind, ()) if group[0].settings.get(k) is not None]
        else:
            differ = [k for k in keys if any(not _same(r.settings.get(k), group[0].settings.get(k)) for r in group)]
        for r in group:
            out[r.name] = [k for k in differ if k in r.settings]
    return out


def format_value(value, percent: bool = False) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if percent:
            return f"{value:.1%}"
        if not math.isfinite(value):
            return str(value)
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.2e}"
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    return str(value)


@dataclass(frozen=True)
class Comparison:
    """Runs side by side: rows of (label, one value per run, whether they differ), settings then metrics."""

    runs: list[RunRecord]
    settings: list[tuple[str, list[str], bool]]
    metrics: list[tuple[str, list[str], bool]]


PERCENT_METRICS = {"train_accuracy", "val_accuracy", "test_accuracy", "accuracy", "chance"}


def compare_rows(runs: list[RunRecord]) -> Comparison:
    def rows(key_lists: list[dict], percent: set[str] = frozenset()) -> list[tuple[str, list[str], bool]]:
        keys: list[str] = []
        for d in key_lists:
            keys += [k for k in d if k not in keys]
        out = []
        for k in keys:
            values = [d.get(k) for d in key_lists]
            differ = any(not _same(v, values[0]) for v in values[1:])
            out.append((k, [format_value(v, percent=k in percent) for v in values], differ))
        return out

    settings = rows([{"kind": r.kind, "status": r.status, **r.settings} for r in runs])
    metrics = rows([r.metrics for r in runs], PERCENT_METRICS)
    return Comparison(runs, settings, metrics)


def plotted(runs: list[RunRecord]) -> tuple[dict[str, list[RunRecord]], list[RunRecord]]:
    """The runs with a curve, by y axis ('loss', 'accuracy'), and those without one."""
    panels: dict[str, list[RunRecord]] = {}
    left_out = []
    for r in runs:
        if r.curve is None or not any(_number(v) for v in r.curve.series.get(_main(r.curve), [])):
            left_out.append(r)
        else:
            panels.setdefault(r.curve.y_label, []).append(r)
    return panels, left_out


def _main(curve: Curve) -> str:
    return next(iter(curve.series))


def plot_comparison(path: Path, runs: list[RunRecord], title: str = "") -> tuple[Optional[Path], str]:
    """One PNG with the runs' curves overlaid (a panel per kind of curve: loss vs tokens seen, accuracy vs
    examples seen); return it (None if no run has a curve) and a sentence saying what was plotted."""
    panels, left_out = plotted(runs)
    skipped = (" Not plotted (no curve): " + ", ".join(f"{r.name} ({r.kind})" for r in left_out) + "."
               if left_out else "")
    if not panels:
        return None, "No run has a curve to plot." + skipped
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4 * len(panels), 4.4), dpi=120)
    FigureCanvasAgg(fig)
    said = []
    for i, (y_label, group) in enumerate(panels.items()):
        ax = fig.add_subplot(1, len(panels), i + 1)
        for j, r in enumerate(group):
            color = f"C{j % 10}"
            series = list(r.curve.series.items())
            main_label, main = series[0]
            ax.plot(r.curve.x, main, color=color, marker="." if len(main) < 30 else None,
                    label=f"{r.name} ({main_label})")
            if len(series) > 1:  # the training curve, dashed, in the same colour
                ax.plot(r.curve.x, series[1][1], color=color, linestyle="--", alpha=0.5)
        ax.set_xlabel(group[0].curve.x_label.capitalize())
        ax.set_ylabel(y_label.capitalize())
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=7)
        kinds = sorted({r.kind for r in group})
        said.append(f"{y_label} against {group[0].curve.x_label} for {', '.join(kinds)} "
                    f"({len(group)} run{'s' if len(group) != 1 else ''}; solid: validation, dashed: training)")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fig.savefig(tmp, format="png")
    os.replace(tmp, path)
    return path, "Plotted " + "; ".join(said) + "." + skipped


def default_plot_path(runs_dir: Optional[Path]) -> Path:
    """`<workspace>/.tutor/compare/compare-<time>.png`, or `./compare-<time>.png` without a workspace."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(runs_dir).parent / "compare" if runs_dir is not None else Path.cwd()
    return base / f"compare-{stamp}.png"


# -- finding the files runs leave (the TUI's pickers) ---------------------------------------------------------------
def read_metrics(folder: Path) -> dict:
    """A run folder's metrics.json, or {} when it has none (yet: a run writes it when it ends) or it does not parse."""
    try:
        data = _read_json(folder / "metrics.json")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def run_kind(folder: Path) -> Optional[str]:
    """pretrain | classify | instruct | … for a run folder: its metrics.json says, else its default name does."""
    kind = read_metrics(folder).get("run")
    return kind if isinstance(kind, str) else kind_from_name(folder)


def newest_first(paths: Iterable[Path]) -> list[Path]:
    """`paths` by modification time, newest first (ties keep their order); one removed while we look is left out."""
    found = []
    for p in paths:
        try:
            found.append((p.stat().st_mtime, p))
        except OSError:
            continue
    return [p for _, p in sorted(found, key=lambda t: t[0], reverse=True)]


def model_checkpoints(runs_dir: Path, anywhere: bool = False) -> list[Path]:
    """Checkpoints of a whole GPT, newest first: each run folder's checkpoint.pt, or with `anywhere` every .pt or
    .pth file below `runs_dir`. Never a classify run's (its head has two outputs) nor a classifier.pt."""
    if not runs_dir.is_dir():
        return []
    if anywhere:
        files = (p for p in runs_dir.rglob("*")
                 if p.suffix in WEIGHT_SUFFIXES and p.is_file() and p.name != CLASSIFIER_FILE)
    else:
        files = runs_dir.glob(f"*/{CHECKPOINT_FILE}")
    return newest_first(p for p in files if run_kind(p.parent) != "classify")


def run_folders(runs_dir: Path, holding: str, kind: Optional[str] = None) -> list[Path]:
    """The folders below `runs_dir` that hold a file called `holding` (and, given `kind`, are runs of that kind),
    newest first: `run_folders(runs, CLASSIFIER_FILE)` are the finished classifiers."""
    if not runs_dir.is_dir():
        return []
    return newest_first(p.parent for p in runs_dir.rglob(holding)
                        if p.is_file() and (kind is None or run_kind(p.parent) == kind))


def responses_files(runs_dir: Path) -> list[Path]:
    """The responses.json that instruct runs wrote into their folders, newest first."""
    if not runs_dir.is_dir():
        return []
    return newest_first(p for p in runs_dir.glob(f"*/{RESPONSES_FILE}") if p.is_file())
