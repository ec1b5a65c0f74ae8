"""`tutor run instruct --model RUN --instruction TEXT [--input TEXT]`: ask an instruction-tuned model one thing.

The prompt is the learner's `format_input` (the reference's while `instruction_data` does not pass; the run's
assembly note says which) followed by instruct's response header, exactly what `tutor run instruct` trained
on and answered its test set with. The answer is `tutor run generate`'s greedy continuation of that prompt
(the learner's `generate`, one `token` event per piece of text as it is produced, stopping at end-of-text),
then cleaned as instruct's `responses.json` answers are (`instruct.extract_response`). Each call is one
independent turn: the course's model has no memory of earlier questions. Nothing here prints or imports a UI.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from tutor.runs import checkpoint as ckpt
from tutor.runs.common import RunError, import_piece, prepare_assembly
from tutor.runs.events import Emit
from tutor.runs.generate import PRETRAINED, GenerateConfig, generate_text
from tutor.runs.instruct import RESPONSE_HEADER, extract_response

DEFAULT_RESPONSE_TOKENS = 256  # instruct's default, cut to the model's context


@dataclass(frozen=True)
class ChatConfig:
    model: str  # an instruct run folder or its checkpoint.pt (any of our GPT checkpoints, or gpt2-*, also works)
    instruction: str
    input: str = ""
    response_tokens: Optional[int] = None  # None: the run's own --response-tokens, else 256 (at most the context)
    device: str = "auto"
    workspace: Any = None
    use_reference: bool = False


def _saved_run(model: str) -> Optional[dict]:
    """The checkpoint's own fields (memory-mapped: cheap), or None for GPT-2 weights; a classifier is refused."""
    if model in PRETRAINED or model.endswith(".safetensors"):
        return None
    path = Path(model).expanduser()
    if path.is_dir() and (path / "classifier.pt").is_file() or path.name == "classifier.pt":
        raise RunError(f"--model {model} is a spam classifier (tutor run classify); chat needs the folder of a "
                       "`tutor run instruct` run.")
    try:
        saved = ckpt.load_checkpoint(model, mmap=True)
    except ckpt.CheckpointError as e:
        raise RunError(f"--model {model}: {e} Give the folder of a `tutor run instruct` run.") from None
    if saved.get("run") == "classify":
        raise RunError(f"--model {model} is a spam classifier's checkpoint; chat needs a `tutor run instruct` run.")
    return saved


def answer_instruction(cfg: ChatConfig, emit: Emit = lambda e: None, download_progress=None) -> str:
    """Answer one instruction (and optional input) with the model; emit start, token…, done (with `response`).
    Returns the cleaned response."""
    if not cfg.instruction.strip():
        raise RunError("--instruction is empty: say what the model should do.")
    if cfg.response_tokens is not None and cfg.response_tokens < 1:
        raise RunError(f"--response-tokens must be positive (got {cfg.response_tokens}).")
    saved = _saved_run(str(cfg.model))
    notices = []
    if saved is not None and saved.get("run") != "instruct":
        notices.append(f"This checkpoint comes from `tutor run {saved.get('run', '?')}`, not instruct: expect it "
                       "to continue the template rather than answer.")
    assembly, _ = prepare_assembly(cfg.workspace, cfg.use_reference)
    format_input = import_piece(assembly, "instruction_data", "format_input")
    entry = {"instruction": cfg.instruction, "input": cfg.input}
    try:
        prompt = format_input(entry) + RESPONSE_HEADER
    except Exception as e:  # the learner's function can fail in any way: say whose
        raise RunError(f"format_input failed on this instruction: {type(e).__name__}: {e}. Run "
                       "`tutor grade instruction_data`, or add --reference.") from e
    tokens = cfg.response_tokens
    if tokens is None:
        tokens = (saved or {}).get("settings", {}).get("response_tokens") or DEFAULT_RESPONSE_TOKENS
        if saved is not None and "model_cfg" in saved:
            tokens = min(tokens, int(saved["model_cfg"]["context_length"]))

    def relay(ev: dict) -> None:  # generate's events, told as a chat turn
        if ev["event"] == "start":
            ev = {**ev, "run": "chat", "instruction": cfg.instruction, "input": cfg.input,
                  "notices": [*notices, *ev.get("notices", [])]}
        elif ev["event"] == "done":
            ev = {**ev, "response": extract_response(ev.get("text", ""))}
        emit(ev)

    gen = GenerateConfig(prompt=prompt, weights=str(cfg.model), max_new_tokens=tokens, temperature=0.0, top_k=None,
                         device=cfg.device, workspace=cfg.workspace, use_reference=cfg.use_reference)
    return extract_response(generate_text(gen, relay, download_progress=download_progress))
