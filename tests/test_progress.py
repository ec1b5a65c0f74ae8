"""Progress: atomic, schema-versioned, safe across processes, rebuilt (not lost) when corrupt."""

import json
import multiprocessing as mp

from tutor.progress import SCHEMA_VERSION, ProgressStore


def _hammer(state_dir, worker, n):
    store = ProgressStore(state_dir)
    for i in range(n):
        store.record_grade(f"ex{worker}", "passed" if i == 0 else "failed")
        store.use_hint(f"ex{worker}", 3)


def test_record_and_reload(tmp_path):
    store = ProgressStore(tmp_path)
    store.record_grade("tokenizer", "failed")
    store.record_grade("tokenizer", "passed")
    store.record_grade("tokenizer", "failed")
    p = ProgressStore(tmp_path).load().get("tokenizer")
    assert (p.attempts, p.status, p.passed_ever) == (3, "failed", True)
    data = json.loads((tmp_path / "progress.json").read_text())
    assert data["schema"] == SCHEMA_VERSION


def test_hints_count_up_to_the_number_available(tmp_path):
    store = ProgressStore(tmp_path)
    assert [store.use_hint("x", 2) for _ in range(4)] == [1, 2, 2, 2]


def test_concurrent_writers_lose_nothing(tmp_path):
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_hammer, args=(tmp_path, w, 15)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    progress = ProgressStore(tmp_path).load()
    for w in range(4):
        e = progress.get(f"ex{w}")
        assert e.attempts == 15 and e.passed_ever and e.hints_used == 3, (w, e)


def test_truncated_file_is_backed_up_and_rebuilt_with_passes_kept(tmp_path):
    store = ProgressStore(tmp_path)
    store.record_grade("tokenizer", "passed")
    store.record_grade("dataloader", "failed")
    text = (tmp_path / "progress.json").read_text()
    (tmp_path / "progress.json").write_text(text[: len(text) // 2])  # a crash mid-write elsewhere
    progress = ProgressStore(tmp_path).load()
    assert progress.get("tokenizer").passed_ever
    assert progress.get("dataloader").attempts == 1
    assert list(tmp_path.glob("progress.corrupt-*.json")), "the corrupt file should be kept as a backup"
    json.loads((tmp_path / "progress.json").read_text())  # rewritten, valid


def test_torn_last_event_line_is_ignored(tmp_path):
    store = ProgressStore(tmp_path)
    store.record_grade("tokenizer", "passed")
    with open(tmp_path / "events.jsonl", "a") as fh:
        fh.write('{"kind": "graded", "exer')
    (tmp_path / "progress.json").unlink()
    assert ProgressStore(tmp_path).load().get("tokenizer").passed_ever


def test_unknown_schema_is_rebuilt_from_the_log(tmp_path):
    store = ProgressStore(tmp_path)
    store.record_grade("tokenizer", "passed")
    (tmp_path / "progress.json").write_text(json.dumps({"schema": 999, "exercises": {}}))
    assert ProgressStore(tmp_path).load().get("tokenizer").passed_ever


def test_wrong_types_are_rebuilt_from_the_log_and_reported_once(tmp_path):
    store = ProgressStore(tmp_path)
    store.record_grade("tokenizer", "passed")
    store.record_grade("dataloader", "failed")
    data = json.loads((tmp_path / "progress.json").read_text())
    data["exercises"]["tokenizer"]["status"] = 5
    data["exercises"]["dataloader"]["attempts"] = "x"
    (tmp_path / "progress.json").write_text(json.dumps(data))
    fresh = ProgressStore(tmp_path)
    progress = fresh.load()
    assert progress.get("tokenizer").status == "passed" and progress.get("dataloader").attempts == 1
    assert fresh.recovered and "events.jsonl" in fresh.recovered and "\n" not in fresh.recovered
    assert list(tmp_path.glob("progress.corrupt-*.json"))
    again = ProgressStore(tmp_path)
    again.load()
    assert again.recovered is None, "the rebuilt file is valid: nothing to report the second time"


def test_every_wrong_field_type_is_refused(tmp_path):
    from tutor.progress import Progress

    good = {"status": "failed", "attempts": 1, "first_passed_at": None, "last_graded_at": "t", "hints_used": 0,
            "solution_viewed": False, "solution_forced": False}
    Progress.from_json({"schema": SCHEMA_VERSION, "exercises": {"x": good}})
    for field, bad in [("status", 5), ("status", "weird"), ("attempts", "x"), ("attempts", True),
                       ("attempts", -1), ("hints_used", 1.5), ("solution_viewed", "yes"), ("first_passed_at", 3)]:
        data = {"schema": SCHEMA_VERSION, "exercises": {"x": {**good, field: bad}}}
        try:
            Progress.from_json(data)
        except ValueError:
            continue
        raise AssertionError(f"{field}={bad!r} was accepted")
    for bad_top in [{"exercises": []}, {"exercises": {"x": 3}}, {"last_exercise": 7}]:
        try:
            Progress.from_json({"schema": SCHEMA_VERSION, **bad_top})
        except ValueError:
            continue
        raise AssertionError(f"{bad_top} was accepted")


def test_events_of_the_wrong_shape_are_skipped_when_rebuilding(tmp_path):
    store = ProgressStore(tmp_path)
    store.record_grade("tokenizer", "passed")
    with open(tmp_path / "events.jsonl", "a") as fh:
        for event in ([1, 2], {"kind": "graded", "exercise": 5, "status": "passed"},
                      {"kind": "graded", "exercise": "dataloader", "status": 5},
                      {"kind": "hint", "exercise": "tokenizer", "count": None}):
            fh.write(json.dumps(event) + "\n")
    (tmp_path / "progress.json").unlink()
    progress = ProgressStore(tmp_path).load()
    assert progress.get("tokenizer").passed_ever and "dataloader" not in progress.exercises


def test_grading_the_same_content_again_is_not_a_new_attempt(tmp_path):
    from tutor.progress import file_digest

    f = tmp_path / "tokenizer.py"
    f.write_text("v1")
    store = ProgressStore(tmp_path / "state")
    for _ in range(2):  # the TUI's watcher and the CLI grade the same save
        store.record_grade("tokenizer", "failed", file_digest(f))
    assert store.load().get("tokenizer").attempts == 1
    f.write_text("v2")
    store.record_grade("tokenizer", "passed", file_digest(f))
    store.record_grade("tokenizer", "passed", file_digest(f))
    assert store.load().get("tokenizer").attempts == 2
    store.record("reset", "tokenizer")
    store.record_grade("tokenizer", "passed", file_digest(f))
    assert store.load().get("tokenizer").attempts == 3, "after a reset, grading is a new attempt"
    (tmp_path / "state" / "progress.json").unlink()
    assert ProgressStore(tmp_path / "state").load().get("tokenizer").attempts == 3, "the log replays the same"


def test_grading_an_untouched_stub_is_not_an_attempt(tmp_path):
    store = ProgressStore(tmp_path)
    store.record_grade("tokenizer", "not_started", "stub")
    assert store.load().get("tokenizer").attempts == 0
    store.record_grade("tokenizer", "failed", "mine")
    assert store.load().get("tokenizer").attempts == 1
