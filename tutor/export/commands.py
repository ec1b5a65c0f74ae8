"""`tutor export` and `tutor import`: a checkpoint to a Hugging Face folder or a GGUF file, and back.

They read checkpoints as `tutor run …` writes them (tutor.runs.checkpoint) and never run learner code.
Errors are `RunError`s with a sentence for the learner. No torch at import.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from tutor.runs import checkpoint as ckpt
from tutor.runs.common import RunError

FORMATS = ("hf", "gguf")
TEMPLATES = ("auto", "alpaca", "raw")
INSTRUCTION_RUNS = ("instruct",)  # checkpoints of these runs get the Alpaca template in their Modelfile


@dataclass
class ExportResult:
    format: str
    out: Path
    files: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    note: str = ""

    @property
    def total_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.files)


def load_source(source: Path | str) -> tuple[Path, dict]:
    """The checkpoint file for a run folder or file, and the checkpoint itself."""
    try:
        file = ckpt.checkpoint_file(source)
        return file, ckpt.load_checkpoint(file)
    except ckpt.CheckpointError as e:
        raise RunError(f"{e} Pass a run folder (it holds checkpoint.pt) or a checkpoint file.") from None


def _model(saved: dict, file: Path) -> tuple[dict, dict]:
    params, cfg = saved.get("model"), saved.get("model_cfg")
    if not isinstance(params, dict) or not isinstance(cfg, dict):
        raise RunError(f"{file} holds no language model (no model parameters or model_cfg).")
    from tutor.runs.models import plain_parameters

    return plain_parameters(saved), cfg  # a LoRA run's updates merged into the weights


def default_out(file: Path, fmt: str) -> Path:
    return file.parent / ("hf" if fmt == "hf" else "gguf")


def export_model(source: Path | str, fmt: str, out: Optional[Path] = None, dtype: str = "f16",
                 template: str = "auto") -> ExportResult:
    """Export a checkpoint. `hf`: `out` is a folder. `gguf`: `out` is a `.gguf` file, or a folder that gets
    `model-<dtype>.gguf` and a `Modelfile` for Ollama (beside the file in both cases)."""
    from tutor.export.hf import ExportError, export_hf
    from tutor.export.gguf_file import DTYPES, export_gguf, modelfile

    if fmt not in FORMATS:
        raise RunError(f"--format {fmt}: choose one of {', '.join(FORMATS)}.")
    if template not in TEMPLATES:
        raise RunError(f"--template {template}: choose one of {', '.join(TEMPLATES)}.")
    if fmt == "gguf" and dtype not in DTYPES:
        raise RunError(f"--dtype {dtype}: choose one of {', '.join(DTYPES)}.")
    file, saved = load_source(source)
    params, cfg = _model(saved, file)
    out = Path(out).expanduser() if out is not None else default_out(file, fmt)
    t0 = time.perf_counter()
    try:
        if fmt == "hf":
            if out.is_file():
                raise RunError(f"--out {out} is a file; the Hugging Face format is a folder.")
            files = export_hf(params, cfg, out)
            note = ("Load it with transformers.GPT2LMHeadModel.from_pretrained and AutoTokenizer.from_pretrained "
                    f"on {out}.")
            return ExportResult(fmt, out, files, time.perf_counter() - t0, note)
        gguf_path = out if out.suffix == ".gguf" else out / f"model-{dtype}.gguf"
        export_gguf(params, cfg, gguf_path, dtype=dtype, name=file.parent.name or "tutor-gpt")
        alpaca = template == "alpaca" or (template == "auto" and saved.get("run") in INSTRUCTION_RUNS)
        mf = gguf_path.parent / "Modelfile"
        mf.write_text(modelfile(gguf_path.name, alpaca, cfg["context_length"]))
        prompt = "the Alpaca instruction template" if alpaca else "raw prompts (no template)"
        note = (f"Modelfile uses {prompt}. Chat in Ollama: cd {gguf_path.parent} && ollama create my-gpt -f "
                f"Modelfile && ollama run my-gpt")
        return ExportResult(fmt, gguf_path, [gguf_path, mf], time.perf_counter() - t0, note)
    except ExportError as e:
        raise RunError(f"{file}: {e}") from None


def import_model(folder: Path | str, out: Optional[Path] = None, workspace=None) -> Path:
    """Read a Hugging Face GPT-2 folder into a tutor checkpoint (for `tutor run generate --weights` and
    `--init`). `out` is a checkpoint file or a run folder; default a new `import-<name>-<time>` run folder."""
    from tutor.export.hf import ExportError, import_hf
    from tutor.runs.common import default_out as new_run_dir

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise RunError(f"{folder} is not a folder: pass a Hugging Face model folder (config.json, "
                       f"model.safetensors).")
    try:
        params, cfg = import_hf(folder)
    except ExportError as e:
        raise RunError(str(e)) from None
    if out is None:
        out = new_run_dir(workspace, f"import-{folder.resolve().name}")
    out = Path(out).expanduser()
    target = out if out.suffix == ".pt" else out / ckpt.FILENAME
    return ckpt.save_checkpoint(target, {"run": "import", "model": params, "model_cfg": cfg,
                                         "source": str(folder.resolve())})
