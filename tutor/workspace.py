"""The learner's workspace: a folder with their copies of the stubs in `exercises/` and state in `.tutor/`.

Finding it, creating it, resetting one exercise (with a backup). No torch, no UI.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from tutor import curriculum

STATE_DIR = ".tutor"
DEFAULT_DIR = "gpt-workspace"

_INIT_PY = '''"""Your GPT, one module per exercise. Modules import each other: `from exercises.layers import LayerNorm`."""

try:  # make tiktoken's GPT-2 encoding available offline (tutor ships the BPE files)
    from tutor.data.bpe import ensure_gpt2_bpe as _ensure_gpt2_bpe

    _ensure_gpt2_bpe()
except Exception:  # tutor not importable here: tiktoken downloads the files itself when online
    pass
'''


class WorkspaceError(Exception):
    """Something about the workspace the learner must fix; the message says how."""


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def exercises_dir(self) -> Path:
        return self.root / "exercises"

    @property
    def backups_dir(self) -> Path:
        return self.state_dir / "backups"

    @property
    def runs_dir(self) -> Path:
        return self.state_dir / "runs"

    def exercise_file(self, exercise_id: str) -> Path:
        return self.exercises_dir / curriculum.load().get(exercise_id).module

    def is_untouched(self, exercise_id: str) -> bool:
        ex = curriculum.load().get(exercise_id)
        f = self.exercise_file(exercise_id)
        return f.is_file() and f.read_bytes() == ex.stub_path.read_bytes()

    def sync_new_stubs(self) -> list[str]:
        """Copy stubs of exercises added to the course since the workspace was made; return their ids."""
        added = []
        for ex in curriculum.load().exercises:
            target = self.exercises_dir / ex.module
            if not target.exists():
                shutil.copyfile(ex.stub_path, target)
                added.append(ex.id)
        return added

    def reset(self, exercise_id: str) -> Path | None:
        """Put the pristine stub back; return the backup of the learner's file (None if there was none)."""
        ex = curriculum.load().get(exercise_id)
        target = self.exercises_dir / ex.module
        backup = None
        if target.exists():
            self.backups_dir.mkdir(parents=True, exist_ok=True)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            backup = self.backups_dir / f"{ex.module_name}-{stamp}.py"
            n = 1
            while backup.exists():
                n += 1
                backup = self.backups_dir / f"{ex.module_name}-{stamp}-{n}.py"
            shutil.copy2(target, backup)
        tmp = target.with_suffix(".py.tmp")
        shutil.copyfile(ex.stub_path, tmp)
        os.replace(tmp, target)
        return backup


def init_workspace(directory: Path | str = DEFAULT_DIR) -> Workspace:
    """Create a workspace with the pristine stubs; refuse to touch an existing one."""
    root = Path(directory).expanduser().resolve()
    if (root / STATE_DIR).exists() or (root / "exercises").exists():
        raise WorkspaceError(f"{root} already holds a workspace; refusing to overwrite it. "
                             f"Use `tutor reset ID` to restore one exercise.")
    if root.exists() and any(root.iterdir()):
        raise WorkspaceError(f"{root} exists and is not empty; choose a new folder.")
    (root / STATE_DIR).mkdir(parents=True)
    exercises = root / "exercises"
    exercises.mkdir()
    (exercises / "__init__.py").write_text(_INIT_PY, encoding="utf-8")
    for ex in curriculum.load().exercises:
        shutil.copyfile(ex.stub_path, exercises / ex.module)
    (root / STATE_DIR / ".gitignore").write_text("runs/\nbackups/\n", encoding="utf-8")
    return Workspace(root)


def find_workspace(explicit: Path | str | None = None, start: Path | None = None) -> Workspace | None:
    """`--workspace`, else $TUTOR_WORKSPACE, else the nearest folder at or above `start` with a `.tutor/`."""
    for candidate in (explicit, os.environ.get("TUTOR_WORKSPACE")):
        if candidate:
            root = Path(candidate).expanduser().resolve()
            if not (root / STATE_DIR).is_dir():
                raise WorkspaceError(f"{root} is not a tutor workspace (no {STATE_DIR}/ folder). "
                                     f"Create one with: tutor init {candidate}")
            return Workspace(root)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / STATE_DIR).is_dir() and (folder / "exercises").is_dir():
            return Workspace(folder)
    return None


def require_workspace(explicit: Path | str | None = None) -> Workspace:
    ws = find_workspace(explicit)
    if ws is None:
        raise WorkspaceError("No tutor workspace here. Create one with `tutor init` (it makes ./gpt-workspace), "
                             "then `cd gpt-workspace`; or pass --workspace DIR, or set TUTOR_WORKSPACE.")
    return ws
