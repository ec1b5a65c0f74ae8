"""What every run needs: the learner's assembled modules, a device, a run folder, Ctrl-C, resuming, progress.

`tutor run pretrain` is the model the other training runs follow; the pieces they share live here:
`prepare_assembly` and `import_piece` (whose code runs), `resolve_device`, `run_folder` (created for the run,
removed again if the run fails before writing anything), `stop_on_sigint` (Ctrl-C asks to stop and save),
`load_resume` (a checkpoint of the right kind), `TrainState` and `epoch_batches` (where a run stands, and how
to continue mid-epoch on the very batches an uninterrupted run would have seen), `ProgressMeter` (throttled
progress events with tokens/s and ETA), `write_json`, and `TrainConfig` / `FineTuneConfig` (the options
every training run has; LoRA's too for the fine-tuning runs). torch is imported inside the functions that need
it, so importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

from tutor import portable
from tutor.assemble import Assembly, assemble
from tutor.exercise_imports import install_exercises_mapping
from tutor.runs.configs import DEVICES


class RunError(RuntimeError):
    """A run cannot go on; the message says why and what to do. (The CLI prints it without a traceback.)"""


def resolve_device(name: str) -> str:
    """`auto` picks cuda, then mps, then cpu; an explicit choice that is not available is an error."""
    import torch

    if name not in DEVICES and not name.startswith("cuda:"):
        raise RunError(f"--device {name}: choose one of {', '.join(DEVICES)}.")
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if name.startswith("cuda") and not cuda:
        raise RunError("--device cuda: this PyTorch build sees no CUDA GPU. Use --device cpu (or auto).")
    if name == "mps" and not mps:
        raise RunError("--device mps: Apple's Metal backend is not available here. Use --device cpu (or auto).")
    return name


def autocast(device: str):
    """bf16 autocast on CUDA GPUs that support it; fp32 elsewhere. (`--fast` on a CPU with bf16 instructions
    autocasts inside the model's own forward instead: tutor.runs.fast.cpu_bf16.)"""
    import torch

    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def prepare_assembly(workspace, use_reference: bool) -> tuple[Assembly, str]:
    """Choose the learner's or the reference's file for each module and make `import exercises.X` load it.

    Returns the assembly and a sentence for the learner saying whose code runs.
    """
    assembly = assemble(workspace, use_reference=use_reference)
    if assembly.learner:
        check_assembled(assembly)
    install_exercises_mapping(assembly.mapping)
    if workspace is None and not use_reference:
        note = "No workspace found (tutor init makes one): using the reference solution for every module."
    elif use_reference:
        note = "--reference: using the reference solution for every module."
    else:
        note = assembly.describe()
    return assembly, note


def check_assembled(assembly: Assembly) -> None:
    """The assembly check before a run: the learner's modules must give the reference GPT's logits together."""
    from tutor.grading.assembly import run_assembly

    result = run_assembly(assembly.mapping)
    if result.status != "passed":
        detail = "\n".join(x for x in [result.message] + [c.message for c in result.checks if not c.passed] if x)
        raise RunError("Your modules pass one by one but do not work together as a GPT yet:\n" + detail
                       + "\nRun `tutor grade --assembled` to see it again, or add --reference to use the "
                       "reference modules for this run.")


def import_piece(assembly: Assembly, module: str, name: str):
    """`exercises.<module>.<name>`, with a message that names the file (the learner's or the reference)."""
    try:
        return getattr(importlib.import_module(f"exercises.{module}"), name)
    except Exception as e:  # the learner's file may fail in any way at import
        file = assembly.mapping.get(module)
        whose = "reference" if file is None or "solutions" in file.parts[-2:] else "your"
        hint = " Fix it, or run with --reference to use the reference modules." if whose == "your" else ""
        detail = f"{type(e).__name__}: {e}"
        if isinstance(e, AttributeError):
            detail = f"it does not define {name}"
        raise RunError(f"Could not use {name} from {whose} exercises/{module}.py ({file}): {detail}.{hint}") from e


def where_it_failed(exc: BaseException, assembly: Optional[Assembly]) -> str:
    """'exercises/layers.py line 12 (in forward)' for the deepest frame in an exercise file, else ''."""
    if assembly is None:
        return ""
    def key(path) -> str:  # as the OS compares paths (case-insensitively on Windows)
        return os.path.normcase(str(Path(path).resolve()))

    files = {key(p): name for name, p in assembly.mapping.items()}
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        name = files.get(key(frame.filename))
        if name:
            found = (name, frame)
    if not found:
        return ""
    name, frame = found
    whose = "reference" if "solutions" in Path(frame.filename).parts[-2:] else "your"
    return f"{whose} exercises/{name}.py line {frame.lineno} (in {frame.name})"


def default_out(workspace, name: str) -> Path:
    """`<workspace>/.tutor/runs/<name>-<timestamp>`, or `./tutor-runs/…` without a workspace; never reused."""
    base = workspace.runs_dir if workspace is not None else Path.cwd() / "tutor-runs"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = base / f"{name}-{stamp}"
    n = 1
    while out.exists():
        n += 1
        out = base / f"{name}-{stamp}-{n}"
    return out


@contextlib.contextmanager
def run_folder(out: Path) -> Iterator[Path]:
    """Create the run folder for the block; if the block fails and the folder holds nothing, remove it again.

    A run that cannot start (text too short, a learner's module that fails) then leaves no empty folder
    behind in `.tutor/runs/`. A folder that existed before (a resumed run) is never removed.
    """
    out = Path(out).expanduser()
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        yield out
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()  # only succeeds when it is empty
        raise


def load_resume(path: Optional[Path], run: str) -> Optional[dict]:
    """The checkpoint `--resume PATH` names (file or run folder), which must be one of a `run` run; None without."""
    from tutor.runs import checkpoint as ckpt

    if path is None:
        return None
    try:
        saved = ckpt.load_checkpoint(path)
    except ckpt.CheckpointError as e:
        raise RunError(str(e)) from None
    if saved.get("run") != run:
        made_by = f"`tutor run {saved['run']}`" if saved.get("run") else "another program"
        raise RunError(f"{path} is not a checkpoint of `tutor run {run}` (it was made by {made_by}).")
    return saved


@dataclass(frozen=True)
class TrainConfig:
    """What the learner asked a training run for: the options every training run has.

    Each run's config adds its own options and says which `data` and `init` it takes. `None` means: the
    checkpoint's value when resuming, else the run's default.
    """

    data: Optional[str] = None  # builtin | a corpus the run knows | path of a file
    init: Optional[str] = None  # scratch | CHECKPOINT | gpt2-small …: the weights to start from
    config: Optional[str] = None  # the model size for --init scratch (a key of PRESETS)
    epochs: Optional[int] = None
    batch_size: Optional[int] = None
    lr: Optional[float] = None
    weight_decay: Optional[float] = None
    eval_freq: Optional[int] = None
    eval_iter: Optional[int] = None
    max_steps: Optional[int] = None
    seed: Optional[int] = None
    device: str = "auto"
    out: Optional[Path] = None
    resume: Optional[Path] = None
    workspace: Any = None
    use_reference: bool = False
    fast: bool = False  # --fast: fused kernels after a probe check (tutor.runs.fast)
    compile: Optional[bool] = None  # --compile / --no-compile; None: only with --fast on CUDA

    def option(self, key: str, saved: dict, default):
        """The value of option `key`: as given, else the resumed checkpoint's setting (`saved`), else `default`."""
        explicit = getattr(self, key)
        if explicit is not None:
            return explicit
        return saved[key] if key in saved else default

    def out_folder(self, name: str) -> Path:
        """--out, else the resumed run's own folder, else a new `default_out(workspace, name)`."""
        from tutor.runs import checkpoint as ckpt

        if self.out is not None:
            return Path(self.out).expanduser()
        if self.resume is not None:
            return ckpt.checkpoint_file(self.resume).parent
        return default_out(self.workspace, name)


@dataclass(frozen=True)
class FineTuneConfig(TrainConfig):
    """The options of a fine-tuning run (`classify`, `instruct`): a training run's, and LoRA."""

    lora_rank: Optional[int] = None  # --lora RANK: train LoRA updates (tutor.runs.lora_wiring) instead
    lora_alpha: Optional[float] = None  # default: the rank (a scale of 1)


@dataclass
class TrainState:
    """Where a training run stands: what a checkpoint stores besides the model and the optimizer.

    `epoch_rng` is the random state the current epoch's shuffle started from; `resume_epoch_rng` is set only
    by a restore, until the first epoch after it has been replayed.
    """

    step: int = 0
    tokens_seen: int = 0
    train_time_s: float = 0.0  # time spent in training steps, this session and earlier ones
    history: dict[str, list] = field(default_factory=dict)
    epoch_rng: Any = None
    resume_epoch_rng: Any = None

    def checkpoint_fields(self) -> dict:
        return {"step": self.step, "tokens_seen": self.tokens_seen, "train_time_s": self.train_time_s,
                "history": self.history, "epoch_rng": self.epoch_rng}

    @classmethod
    def from_checkpoint(cls, saved: dict) -> "TrainState":
        return cls(step=int(saved["step"]), tokens_seen=int(saved["tokens_seen"]),
                   train_time_s=float(saved.get("train_time_s", 0.0)),
                   history={k: list(v) for k, v in saved["history"].items()},
                   resume_epoch_rng=saved.get("epoch_rng"))


def epoch_batches(loader, state: TrainState, steps_per_epoch: int) -> Iterator:
    """The batches of the epoch `state.step` is in, from the first one not trained on yet.

    Mid-epoch after a restore, the epoch's shuffle is replayed from the random state it started with (the
    checkpoint's `epoch_rng`) and the batches already trained on are skipped; the random state saved at the
    stop then continues. So a resumed run sees the batches an uninterrupted one would have seen.
    """
    from tutor.runs import checkpoint as ckpt

    skip = state.step % steps_per_epoch
    if skip and state.resume_epoch_rng is not None:
        rng_now = ckpt.rng_state()
        ckpt.set_rng_state(state.resume_epoch_rng)
        batches = iter(loader)
        for _ in range(skip):
            next(batches)
        ckpt.set_rng_state(rng_now)
        state.epoch_rng = state.resume_epoch_rng
    else:
        state.epoch_rng = ckpt.rng_state()
        batches = iter(loader)
        for _ in range(skip):  # no record of the epoch's shuffle: skip batches of a fresh one
            next(batches)
    state.resume_epoch_rng = None
    return batches


class ProgressMeter:
    """Turns finished steps into `progress` events, at most every `every_s` seconds (and at the last step)."""

    def __init__(self, emit, total_steps: int, every_s: float = 0.1):
        self.emit, self.total_steps, self.every_s = emit, total_steps, every_s
        self.started = time.perf_counter()
        self.steps = self.tokens = 0  # this session's
        self.step_time = 0.0  # this session's time inside training steps
        self._last = 0.0

    def step_done(self, step: int, tokens: int, seconds: float, **fields) -> None:
        self.steps += 1
        self.tokens += tokens
        self.step_time += seconds
        now = time.perf_counter()
        if now - self._last < self.every_s and step != self.total_steps:
            return
        self._last = now
        per_step = (now - self.started) / self.steps
        from tutor.runs.events import event

        self.emit(event("progress", step=step, total_steps=self.total_steps, tokens_per_s=self.tokens_per_s or 0.0,
                        eta_s=per_step * (self.total_steps - step), **fields))

    @property
    def tokens_per_s(self) -> Optional[float]:
        return self.tokens / self.step_time if self.step_time else None

    @property
    def wall_s(self) -> float:
        return time.perf_counter() - self.started


def write_json(path: Path, data: dict) -> None:
    """Write `data` as indented JSON, atomically (a reader sees the old file or the new one)."""
    from tutor.runs.events import _clean

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_clean(data), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


@contextlib.contextmanager
def stop_on_sigint(stop: threading.Event) -> Iterator[None]:
    """While the block runs, Ctrl-C sets `stop` (the run saves and returns); a second Ctrl-C aborts at once.

    The same for SIGBREAK on Windows, which is what the TUI sends a run there (`portable.interrupt`).
    Only the main thread can own signal handlers; elsewhere (a TUI worker) the caller sets `stop` itself.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in portable.stop_signals()}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
