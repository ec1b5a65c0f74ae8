"""Instruction examples and multiple-choice questions for `tutor run instruct`, `judge` and `mmlu`.

`load_instructions("builtin" | "book" | PATH)` returns a list of `{"instruction", "input", "output"}` dicts
(the built-in ~150 ship with the package; `book` is the course's 1,100, a pinned remote file fetched through
`tutor.data.datasets`). `load_mcq("builtin" | PATH)` returns four-choice questions
`{"question", "choices": {"A".."D"}, "answer", "subject"}`. Every file is checked for that shape, with a
message that names the first bad entry. No torch, no UI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from tutor.data.datasets import BUILTIN_DIR, REMOTE_FILES, DataError, fetch
from tutor.data.download import Progress

BUILTIN_INSTRUCTIONS = BUILTIN_DIR / "instructions.json"
BUILTIN_MCQ = BUILTIN_DIR / "mcq.json"
INSTRUCTION_SOURCES = ("builtin", "book")
LETTERS = ("A", "B", "C", "D")


@dataclass(frozen=True)
class InstructionSource:
    spec: str  # "builtin", "book" or an absolute path
    label: str
    entries: list


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start}).") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{path} is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}.") from None


def check_instructions(data: object, where: str) -> list[dict]:
    """The entries of an instruction file, each with string `instruction`, `input` (default "") and `output`."""
    if not isinstance(data, list) or not data:
        raise DataError(f"{where} must hold a non-empty JSON list of {{instruction, input, output}} objects.")
    entries = []
    for i, e in enumerate(data):
        if not isinstance(e, dict):
            raise DataError(f"{where}: entry {i} is a {type(e).__name__}, not an object.")
        e = dict(e)
        e.setdefault("input", "")
        bad = [k for k in ("instruction", "input", "output") if not isinstance(e.get(k), str)]
        if bad:
            raise DataError(f"{where}: entry {i} has no text for {', '.join(bad)} "
                            f"(each entry needs \"instruction\", \"output\" and optionally \"input\").")
        entries.append(e)
    return entries


def load_instructions(spec: str, *, progress: Optional[Progress] = None) -> InstructionSource:
    """The instruction examples for `--data SPEC`: `builtin`, `book` (downloaded once, verified) or a JSON file."""
    if spec == "builtin":
        path, label = BUILTIN_INSTRUCTIONS, "built-in instructions (tutor/data/builtin/instructions.json)"
    elif spec in REMOTE_FILES and spec in INSTRUCTION_SOURCES:
        path, label = fetch(spec, progress=progress), REMOTE_FILES[spec].filename
    else:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise DataError(f"--data {spec}: no such file, and not one of {', '.join(INSTRUCTION_SOURCES)}.")
        spec, label = str(path.resolve()), str(path)
    return InstructionSource(spec, label, check_instructions(_read_json(path), label))


def check_mcq(data: object, where: str) -> list[dict]:
    if not isinstance(data, list) or not data:
        raise DataError(f"{where} must hold a non-empty JSON list of questions.")
    for i, q in enumerate(data):
        ok = (isinstance(q, dict) and isinstance(q.get("question"), str) and isinstance(q.get("choices"), dict)
              and sorted(q["choices"]) == list(LETTERS) and all(isinstance(v, str) for v in q["choices"].values())
              and q.get("answer") in LETTERS)
        if not ok:
            raise DataError(f"{where}: question {i} must have \"question\", \"choices\" (A, B, C, D), an "
                            f"\"answer\" letter and optionally a \"subject\".")
    return [{**q, "subject": q.get("subject") or "all"} for q in data]


def load_mcq(spec: str) -> tuple[str, list[dict]]:
    """(label, questions) for `tutor run mmlu --data SPEC`: `builtin` or a JSON file of questions."""
    if spec == "builtin":
        path, label = BUILTIN_MCQ, "built-in questions (tutor/data/builtin/mcq.json)"
    else:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise DataError(f"--data {spec}: no such file, and not builtin or mmlu (the public test set, "
                            f"downloaded once).")
        label = str(path)
    return label, check_mcq(_read_json(path), label)
