"""What every run needs: the learner's assembled modules, a device, an output folder, messages on failure.

torch is imported inside the functions that need it, so importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import importlib
import signal
import threading
import time
import traceback
from pathlib import Path
from typing import Iterator, Optional

from tutor.assemble import Assembly, assemble, install_exercises_mapping
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
    """bf16 autocast on CUDA GPUs that support it; fp32 elsewhere (bf16 is much slower on most CPUs)."""
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
    files = {str(p.resolve()): name for name, p in assembly.mapping.items()}
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        name = files.get(str(Path(frame.filename).resolve()))
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
def stop_on_sigint(stop: threading.Event) -> Iterator[None]:
    """While the block runs, Ctrl-C sets `stop` (the run saves and returns); a second Ctrl-C aborts at once.

    Only the main thread can own signal handlers; elsewhere (a TUI worker) the caller sets `stop` itself.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
