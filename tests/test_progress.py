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
