"""The learner's workspace: their copies of the stubs in `exercises/`, state in `.tutor/`, and read-only copies
of the lessons in `lessons/` (so the `lessons/NN-….md` links that messages print exist where the learner is).

Finding it, creating or repairing it, resetting one exercise (with a backup). No torch, no UI.
"""

from __future__ import annotations

import os
import shutil
import stat
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
    def lessons_dir(self) -> Path:
        return self.root / "lessons"

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
        """Copy stubs of exercises added to the course since the workspace was made (and refresh the lessons);
        return the new exercises' ids."""
        added = []
        for ex in curriculum.load().exercises:
            target = self.exercises_dir / ex.module
            if not target.exists():
                shutil.copyfile(ex.stub_path, target)
                added.append(ex.id)
        self.sync_lessons()
        return added

    def sync_lessons(self) -> list[str]:
        """Make `lessons/` hold the course's lessons, read-only, as this version of tutor has them; return the
        names of the files written (none when they are already up to date)."""
        written = []
        try:
            self.lessons_dir.mkdir(exist_ok=True)
            for ex in curriculum.load().exercises:
                target = self.lessons_dir / ex.lesson
                data = ex.lesson_path.read_bytes()
                if target.is_file() and target.read_bytes() == data:
                    continue
                tmp = target.with_name(f".{target.name}.tmp")
                tmp.write_bytes(data)
                tmp.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
                if target.exists():
                    target.chmod(stat.S_IRUSR | stat.S_IWUSR)  # Windows refuses to replace a read-only file
                os.replace(tmp, target)
                written.append(ex.lesson)
        except OSError:
            pass  # a read-only workspace still works: the lessons are in the package, and `tutor lesson` shows them
        return written

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
        self.sync_lessons()
        return backup


def init_workspace(directory: Path | str = DEFAULT_DIR) -> Workspace:
    """Create a workspace with the pristine stubs; refuse to touch an existing one."""
    root = Path(directory).expanduser().resolve()
    if (root / STATE_DIR).exists() or (root / "exercises").exists():
        raise WorkspaceError(f"{root} already holds a workspace; refusing to overwrite it. "
                             f"Use `tutor reset ID` to restore one exercise.")
    if root.exists() and any(root.iterdir()):
        raise WorkspaceError(f"{root} exists and is not empty; choose a new folder.")
    return _fill(root)[0]


def needs_repair(directory: Path | str) -> bool:
    """A folder with `exercises/` but no `.tutor/`: a workspace whose state was deleted."""
    root = Path(directory).expanduser().resolve()
    return (root / "exercises").is_dir() and not (root / STATE_DIR).exists()


def repair_workspace(directory: Path | str) -> tuple[Workspace, list[str]]:
    """Recreate the state of a workspace that lost `.tutor/`, keeping every file; return it and the exercises
    whose missing stub was put back. The progress starts afresh (it lived in `.tutor/`)."""
    root = Path(directory).expanduser().resolve()
    if not needs_repair(root):
        raise WorkspaceError(f"{root} has no exercises/ folder without a {STATE_DIR}/ to repair.")
    return _fill(root)


def _fill(root: Path) -> tuple[Workspace, list[str]]:
    """Add whatever of a workspace is missing under `root` (never overwriting a file); return the exercises
    whose stub was copied."""
    (root / STATE_DIR).mkdir(parents=True, exist_ok=True)
    exercises = root / "exercises"
    exercises.mkdir(exist_ok=True)
    if not (exercises / "__init__.py").exists():
        (exercises / "__init__.py").write_text(_INIT_PY, encoding="utf-8")
    copied = []
    for ex in curriculum.load().exercises:
        if not (exercises / ex.module).exists():
            shutil.copyfile(ex.stub_path, exercises / ex.module)
            copied.append(ex.id)
    if not (root / STATE_DIR / ".gitignore").exists():
        (root / STATE_DIR / ".gitignore").write_text("runs/\nbackups/\n", encoding="utf-8")
    ws = Workspace(root)
    ws.sync_lessons()
    return ws, copied


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
        here = Path.cwd().resolve()
        lost = next((f for f in (here, *here.parents) if needs_repair(f)), None)
        if lost is not None:
            target = "." if lost == here else str(lost)
            raise WorkspaceError(f"{lost} has exercises/ but no {STATE_DIR}/ folder (its state was deleted). "
                                 f"`tutor init {target}` repairs it and keeps every file.")
        raise WorkspaceError("No tutor workspace here. Create one with `tutor init` (it makes ./gpt-workspace), "
                             "then `cd gpt-workspace`; or pass --workspace DIR, or set TUTOR_WORKSPACE.")
    return ws
