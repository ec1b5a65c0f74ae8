"""The `tutor` app: modes (Learn, Grade, Train, Playground, Runs), the state they share, and the workers that grade
and watch the learner's files.

The app owns what several screens show: the workspace, the progress snapshot, the current exercise, the
latest grading result, the warm grading process and the file watcher. Screens observe these reactives and
call the app's few verbs (`open_lesson`, `grade`, `reload_progress`). Course logic stays in the domain
modules. Nothing imported here pulls in torch: the grading server imports it, in its own process, and it is
started only after the first screen is painted.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import App
from textual.binding import Binding
from textual.reactive import var
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from tutor import curriculum
from tutor.grading.results import ExerciseResult
from tutor.progress import Progress, ProgressStore
from tutor.progress import file_digest
from tutor.ui.file_watch import ExerciseWatcher, WatchFn, WatchState
from tutor.ui.messages import FileSaved, Graded, GraderFailed, GraderReady, WatchStateChanged
from tutor.ui.run_process import ChildRun, RunLauncher
from tutor.ui.threads import Cancelled, call_cancellable
from tutor.workspace import Workspace

if TYPE_CHECKING:
    from tutor.grading.runner import GradingServer

GRADER_GRACE_S = 15.0  # a grade this much over the grader's own time limit means the grading process hangs


# Screens are imported when their mode is first shown, so the first paint pays only for the Learn screen.
def _learn_screen() -> Screen:
    from tutor.ui.screens.learn import LearnScreen

    return LearnScreen()


def _grade_screen() -> Screen:
    from tutor.ui.screens.grade import GradeScreen

    return GradeScreen()


def _train_screen() -> Screen:
    from tutor.ui.screens.train import TrainScreen

    return TrainScreen()


def _playground_screen() -> Screen:
    from tutor.ui.screens.playground import PlaygroundScreen

    return PlaygroundScreen()


def _runs_screen() -> Screen:
    from tutor.ui.screens.runs import RunsScreen

    return RunsScreen()


class TutorApp(App[None]):
    """The learner's home. Build it with `make_app`."""

    # The Learn screen's styles load with the app: adding a screen's CSS later re-parses every stylesheet,
    # which the first paint should not pay for.
    CSS_PATH = ["app.tcss", "screens/learn.tcss"]
    TITLE = "tutor"
    ENABLE_COMMAND_PALETTE = True
    MODES = {"learn": _learn_screen, "grade": _grade_screen, "train": _train_screen,
             "playground": _playground_screen, "runs": _runs_screen}
    BINDINGS = [
        Binding("1", "goto('learn')", "Learn", show=False),
        Binding("2", "goto('grade')", "Grade", show=False),
        Binding("3", "goto('train')", "Train", show=False),
        Binding("4", "goto('playground')", "Playground", show=False),
        Binding("5", "goto('runs')", "Runs", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("ctrl+t", "toggle_theme", "Light/dark", show=False),
        Binding("q", "quit", "Quit"),
    ]

    workspace: var[Workspace | None] = var(None)
    progress: var[Progress] = var(Progress, always_update=True)
    exercise_id: var[str | None] = var(None)
    result: var[ExerciseResult | None] = var(None, always_update=True)  # latest result of `exercise_id`
    grading: var[str | None] = var(None)  # the exercise being graded right now
    grader_state: var[str] = var("starting")  # starting | ready | failed
    grader_note: var[str] = var("")
    watch_enabled: var[bool] = var(True)
    watch_note: var[str] = var("")
    watch_degraded: var[bool] = var(False)  # the watcher fell back to polling or stopped: say it louder

    def __init__(self, workspace: Workspace | None, *, grader: "GradingServer | None" = None,
                 launcher: RunLauncher | None = None, watch_fn: WatchFn | None = None,
                 force_polling: bool = False, start_grader: bool = True):
        if workspace is not None:
            # Start straight in the Learn mode (no blank default screen to build and switch away from).
            self.DEFAULT_MODE = "learn"
            self.set_reactive(TutorApp.progress, ProgressStore(workspace.state_dir).load())
        super().__init__()
        self._owns_grader = grader is None
        self._grader = grader
        self._grader_start_lock = threading.Lock()
        self._start_grader_on_mount = start_grader
        self.launcher = launcher or RunLauncher()
        self.watcher = ExerciseWatcher(self.post_message, watch_fn, force_polling)
        self.results: dict[str, ExerciseResult] = {}
        self.child_runs: set[ChildRun] = set()  # child runs to stop when the app quits
        self.last_grade_wall_s: float | None = None
        self._painted = False
        self.set_reactive(TutorApp.workspace, workspace)

    # -- shared objects ------------------------------------------------------------------------------------
    @property
    def grader(self) -> "GradingServer":
        if self._grader is None:
            from tutor.grading.runner import GradingServer  # the client only: no torch in this process

            self._grader = GradingServer()
        return self._grader

    @property
    def store(self) -> ProgressStore:
        assert self.workspace is not None
        return ProgressStore(self.workspace.state_dir)

    @property
    def course(self) -> curriculum.Curriculum:
        return curriculum.load()

    # -- start-up --------------------------------------------------------------------------------------------
    def on_mount(self) -> None:
        if self.workspace is None:
            from tutor.ui.screens.welcome import WelcomeScreen

            self.push_screen(WelcomeScreen(), self._workspace_created)
        else:
            self._enter_workspace()
        self.set_interval(1.0, self._check_missed_file_events)

    def _workspace_created(self, workspace: Workspace | None) -> None:
        if workspace is None:
            self.exit()
            return
        self.workspace = workspace
        self._enter_workspace()

    def _enter_workspace(self) -> None:
        assert self.workspace is not None
        added = self.workspace.sync_new_stubs()
        progress = self.progress if self.current_mode == "learn" else self.store.load()  # loaded in __init__
        if progress is not self.progress:
            self.progress = progress
        self.exercise_id = progress.last_exercise if progress.last_exercise in self.course.ids() \
            else self.course.exercises[0].id
        if self.current_mode != "learn":
            self.switch_mode("learn")
        if added:
            self.notify(f"New exercises since your workspace was made: {', '.join(added)}.", title="Course updated", markup=False)
        self.call_after_refresh(self._after_first_paint)

    def _after_first_paint(self) -> None:
        """Start what the first screen does not need: the file watcher and the grading server (torch)."""
        self._painted = True
        self._restart_watch()
        if self._start_grader_on_mount:
            self._start_grader()

    @work(thread=True, group="grader", exit_on_error=False)
    def _start_grader(self) -> None:
        t0 = time.perf_counter()
        try:
            call_cancellable(self._ensure_grader)
        except Cancelled:
            return
        except Exception as e:  # torch missing, or the server crashed on start
            self.post_message(GraderFailed(f"The grader could not start: {e}"))
            return
        self.post_message(GraderReady(time.perf_counter() - t0))

    def _ensure_grader(self) -> None:
        # One start at a time: `GradingServer.start` reads the server's hello line, which a concurrent
        # grading request would otherwise take for its result.
        with self._grader_start_lock:
            self.grader.start()

    @on(GraderReady)
    def _grader_ready(self, message: GraderReady) -> None:
        self.grader_state = "ready"
        notice = getattr(self.grader, "take_notice", lambda: None)()  # spawn mode: slower, said once
        self.grader_note = notice or f"Grader ready (warmed up in {message.seconds:.1f} s)."

    @on(GraderFailed)
    def _grader_failed(self, message: GraderFailed) -> None:
        self.grader_state = "failed"
        self.grader_note = message.text
        self.notify(message.text, severity="error", timeout=10, markup=False)

    # -- navigation ------------------------------------------------------------------------------------------
    def action_goto(self, mode: str) -> None:
        if self.workspace is None:
            return
        self.switch_mode(mode)

    def open_lesson(self, exercise_id: str, anchor: str | None = None) -> None:
        """Show an exercise's lesson in the Learn mode (at `anchor` if given) and make it the current one."""
        from tutor.ui.screens.lesson import LessonScreen

        self.exercise_id = exercise_id
        self.progress = self.store.record("visited", exercise_id)
        if self.current_mode != "learn":
            self.switch_mode("learn")
        if isinstance(self.screen, LessonScreen):
            self.screen.show(exercise_id, anchor)
        else:
            self.push_screen(LessonScreen(exercise_id, anchor))

    def action_open_lesson(self, exercise_id: str, anchor: str = "") -> None:
        self.open_lesson(exercise_id, anchor or None)

    def action_help(self) -> None:
        from tutor.ui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    def reload_progress(self) -> None:
        self.progress = self.store.load()

    # -- grading -----------------------------------------------------------------------------------------------
    def grade(self, exercise_id: str | None = None, show: bool = True) -> None:
        """Grade an exercise in the warm grading process; `show` switches to the Grade mode."""
        ex_id = exercise_id or self.exercise_id
        if self.workspace is None or ex_id is None:
            return
        self.exercise_id = ex_id
        if show and self.current_mode != "grade":
            self.switch_mode("grade")
        self.grading = ex_id
        self._grade_worker(ex_id)

    @work(thread=True, exclusive=True, group="grade", exit_on_error=False)
    def _grade_worker(self, exercise_id: str) -> None:
        assert self.workspace is not None
        file = self.workspace.exercise_file(exercise_id)
        digest = file_digest(file)  # before grading: a save while it runs is a new attempt
        t0 = time.perf_counter()
        try:
            call_cancellable(self._ensure_grader)
            # Each exercise runs under the grader's own time limit; if the answer is much later than that, the
            # grading process itself hangs: closing it makes the request fail over to a fresh process.
            result = call_cancellable(lambda: self.grader.grade_file(exercise_id, file),
                                      overdue_s=getattr(self.grader, "timeout", 60.0) + GRADER_GRACE_S,
                                      on_overdue=self.grader.close)
        except Cancelled:
            return
        self.store.record_grade(exercise_id, result.status, digest)
        self.post_message(Graded(exercise_id, result, time.perf_counter() - t0))

    @on(Graded)
    def _graded(self, message: Graded) -> None:
        r = message.result
        self.results[message.exercise_id] = r
        self.last_grade_wall_s = message.wall_s
        if self.grading == message.exercise_id:
            self.grading = None
        if self.grader_state != "ready" and r.status != "crashed":
            self.grader_state = "ready"
        self.reload_progress()
        if message.exercise_id == self.exercise_id:
            self.result = r
        if self.current_mode != "grade":
            passed = sum(c.passed for c in r.checks)
            self.notify(f"{passed}/{len(r.checks)} checks pass. Press 2 for details.",
                        title=f"{r.id}: {r.status.replace('_', ' ')}",
                        severity="information" if r.passed else "warning")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "grade" and event.state == WorkerState.ERROR:
            self.grading = None
            self.notify(f"Grading failed: {event.worker.error}", severity="error", timeout=10, markup=False)

    # -- watching the current exercise -------------------------------------------------------------------------
    def watch_exercise_id(self, exercise_id: str | None) -> None:
        self.result = self.results.get(exercise_id) if exercise_id else None
        self._restart_watch()

    def watch_watch_enabled(self, enabled: bool) -> None:
        self._restart_watch()

    def action_toggle_watch(self) -> None:
        self.watch_enabled = not self.watch_enabled

    def _stop_watch(self) -> None:
        self.watcher.stop()

    def _restart_watch(self) -> None:
        """Watch the current exercise's file (again)."""
        self._stop_watch()
        if not (self._painted and self.watch_enabled and self.workspace and self.exercise_id):
            self.watch_degraded = False
            self.watch_note = "" if self.watch_enabled else WatchState("off").note
            return
        file = self.workspace.exercise_file(self.exercise_id)
        shown = file.relative_to(self.workspace.root) if file.is_relative_to(self.workspace.root) else file
        self._show_watch_state(self.watcher.watch(self.exercise_id, file, str(shown)))

    def _show_watch_state(self, state: WatchState) -> None:
        self.watch_degraded = state.degraded
        self.watch_note = state.note

    @on(FileSaved)
    def _file_saved(self, message: FileSaved) -> None:
        if message.exercise_id != self.exercise_id or self.watcher.file is None:
            return
        self.watcher.saw_save()
        self.grade(message.exercise_id, show=False)

    @on(WatchStateChanged)
    def _watch_state_changed(self, message: WatchStateChanged) -> None:
        self._show_watch_state(message.state)

    def _check_missed_file_events(self) -> None:
        if self.watcher.check_missed_events():
            self.grade(self.exercise_id, show=False)  # the save that no event reported

    def expect_own_write(self) -> None:
        """The app itself has just rewritten the current file (reset): not a save to re-grade."""
        if self.watcher.file is not None:
            self._restart_watch()

    # -- quitting ----------------------------------------------------------------------------------------------
    async def action_quit(self) -> None:
        running = [c for c in self.child_runs if c.running]
        if not running:
            self.exit()
            return
        from tutor.ui.screens.confirm import ConfirmScreen

        def answer(yes: bool | None) -> None:
            if yes:
                self.exit()

        self.push_screen(ConfirmScreen("A run is still going. Stop it (a training run saves a checkpoint) "
                                       "and quit?", yes="Stop and quit", no="Keep going"), answer)

    def on_unmount(self) -> None:
        self._stop_watch()
        stoppers = [threading.Thread(target=c.shutdown, daemon=True) for c in self.child_runs if c.running]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join(15)
        if self._owns_grader and self._grader is not None:
            threading.Thread(target=self._grader.close, daemon=True).start()


def make_app(workspace: Workspace | None, **options) -> TutorApp:
    """The one way to build the app, for the CLI and the tests alike.

    Args:
        workspace: the learner's workspace, or None to offer creating one.
        options: for tests: `grader` (a started GradingServer to share), `launcher` (a RunLauncher whose
            prefix runs a fake `tutor run`), `watch_fn`, `force_polling`, `start_grader`.
    """
    return TutorApp(workspace, **options)
