"""`tutor runs` and `tutor compare` on run folders fabricated in the shape the runs write (tests/runs/fake_runs.py):
what is listed and in which order, statuses, headline metrics, what differs, odd folders skipped with a note,
names resolved under the workspace, the overlaid plot and what it says it plotted; and the finders the TUI's
pickers use (which checkpoints, classifiers, instruct runs and responses there are, newest first)."""

from __future__ import annotations

import json
import os

import pytest

from tests.runs.fake_runs import make_runs
from tests.test_cli import invoke
from tutor.runs.registry import (RegistryError, compare_rows, differing_settings, model_checkpoints, newest_first,
                                 plotted, resolve_run, responses_files, run_folders, run_kind, scan_runs)
from tutor.workspace import init_workspace


@pytest.fixture
def workspace(tmp_path):
    ws = init_workspace(tmp_path / "ws")
    made = make_runs(ws.runs_dir)
    return ws, made


def test_scan_reads_every_kind_newest_first_and_skips_what_is_not_a_run(workspace):
    ws, made = workspace
    scan = scan_runs(ws.runs_dir)
    by_name = {r.name: r for r in scan.runs}
    judge = "instruct-gpt2-medium-20261201-140000/responses.judge-llama3"
    assert [r.name for r in scan.runs][1:] == [  # the judge summary was written just now: newest
        "mmlu-20261201-180000", "pretrain-small-20261201-160000", "mmlu-20261201-150000", "instruct-gpt2-medium-20261201-140000",
        "classify-gpt2-small-20261201-130000", "pretrain-tiny-20261201-120000", "pretrain-tiny-20261201-110000",
        "pretrain-tiny-20261201-100000"]
    assert scan.runs[0].name == judge
    assert {r.name: (r.kind, r.status) for r in scan.runs} == {
        judge: ("judge", "finished"),
        "mmlu-20261201-180000": ("mmlu", "incomplete"),
        "pretrain-small-20261201-160000": ("pretrain", "incomplete"),
        "mmlu-20261201-150000": ("mmlu", "finished"),
        "instruct-gpt2-medium-20261201-140000": ("instruct", "finished"),
        "classify-gpt2-small-20261201-130000": ("classify", "finished"),
        "pretrain-tiny-20261201-120000": ("pretrain", "interrupted"),
        "pretrain-tiny-20261201-110000": ("pretrain", "finished"),
        "pretrain-tiny-20261201-100000": ("pretrain", "finished")}
    assert [by_name[n].headline_text() for n in (judge, "mmlu-20261201-150000", "instruct-gpt2-medium-20261201-140000",
                                                 "classify-gpt2-small-20261201-130000",
                                                 "pretrain-tiny-20261201-110000")] == [
        "judge score 61.5", "accuracy 35.0%", "val loss 0.65", "test accuracy 90.0%", "val loss 8.25"]
    assert by_name["pretrain-small-20261201-160000"].headline_text() == ""
    assert "stopped at step 1 of 7" in by_name["pretrain-tiny-20261201-120000"].note
    skipped = "\n".join(scan.skipped)
    assert len(scan.skipped) == 3, skipped
    assert "notes: not a run" in skipped and "broken-20261201-170000: metrics.json cannot be read" in skipped
    assert "foreign: metrics.json was not written by a tutor run" in skipped


def test_the_settings_that_differ_are_found_within_each_kind(workspace):
    ws, _ = workspace
    differ = differing_settings(scan_runs(ws.runs_dir).runs)
    assert differ["pretrain-tiny-20261201-100000"] == ["lr", "min_lr", "warmup"]
    assert differ["pretrain-small-20261201-160000"] == []  # checkpoint only: nothing known to differ
    assert differ["classify-gpt2-small-20261201-130000"] == ["init", "trainable", "lr", "epochs"]  # alone: main ones
    assert differ["mmlu-20261201-150000"] == ["model", "shots"]


def test_tutor_runs_lists_them_as_a_table_with_notes(workspace):
    ws, _ = workspace
    r = invoke("runs", ws=ws.root, width=250)
    assert r.exit_code == 0, r.output
    for text in ("pretrain-tiny-20261201-110000", "2026-12-01 11:00", "val loss 8.25", "test accuracy 90.0%",
                 "judge score 61.5", "interrupted", "incomplete", "lr=0.004", "warmup=2", "lr=0.001",
                 "Skipped 3 folder(s)", "notes: not a run"):
        assert text in r.output, f"{text!r} missing from:\n{r.output}"
    assert "Traceback" not in r.output
    empty = init_workspace(ws.root.parent / "empty")
    r = invoke("runs", ws=empty.root)
    assert r.exit_code == 0 and "No runs in" in r.output and "tutor run pretrain" in r.output


def test_compare_resolves_names_and_marks_what_differs(workspace):
    ws, made = workspace
    runs = [resolve_run(n, ws.runs_dir) for n in ("pretrain-tiny-20261201-100000", str(made["lr-high"]),
                                                 "classify")]  # a name, a path, a unique start of a name
    assert [r.kind for r in runs] == ["pretrain", "pretrain", "classify"]
    judge = resolve_run("instruct-gpt2-medium-20261201-140000/responses.judge-llama3", ws.runs_dir)
    assert judge.kind == "judge" and judge.metrics["average"] == 61.5
    rows = {label: (values, differ) for label, values, differ in compare_rows(runs[:2]).settings}
    assert rows["lr"] == (["0.001", "0.004"], True) and rows["warmup"] == (["–", "2"], True)
    assert rows["config"] == (["tiny", "tiny"], False)
    metrics = {label: (values, differ) for label, values, differ in compare_rows(runs[:2]).metrics}
    assert metrics["val_loss"] == (["9.5", "8.25"], True)
    with pytest.raises(RegistryError, match="matches 3 runs"):
        resolve_run("pretrain-tiny", ws.runs_dir)
    with pytest.raises(RegistryError, match="No run 'nope'"):
        resolve_run("nope", ws.runs_dir)
    with pytest.raises(RegistryError, match="notes: not a run"):
        resolve_run("notes", ws.runs_dir)


def test_tutor_compare_prints_the_table_and_writes_one_plot(workspace, tmp_path):
    ws, _ = workspace
    out = tmp_path / "cmp.png"
    r = invoke("compare", "pretrain-tiny-20261201-100000", "pretrain-tiny-20261201-110000", "classify",
               "mmlu-20261201-15", "--out", str(out), ws=ws.root, width=250)
    assert r.exit_code == 0, r.output
    assert "Comparing pretrain-tiny-20261201-100000, pretrain-tiny-20261201-110000" in r.output
    assert "test_accuracy" in r.output and "90.0%" in r.output
    assert "Plotted loss against tokens seen for pretrain (2 runs" in r.output, r.output
    assert "accuracy against examples seen for classify (1 run;" in r.output
    assert "Not plotted (no curve): mmlu-20261201-150000 (mmlu)" in r.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    panels, left_out = plotted([resolve_run(n, ws.runs_dir) for n in ("pretrain-small", "mmlu-20261201-18")])
    assert panels == {} and len(left_out) == 2  # runs with no metrics yet have no curve either
    assert left_out[1].status == "incomplete" and "nothing written yet" in left_out[1].note
    r = invoke("compare", "nope", ws=ws.root)
    assert r.exit_code == 2 and "No run 'nope'" in r.output and "Traceback" not in r.output


def test_the_finders_sort_the_files_runs_leave_by_kind_newest_first(tmp_path):
    runs = tmp_path / "runs"
    stamp = [1_700_000_000]

    def put(folder: str, *names: str, metrics=None):
        for name in names:
            path = runs / folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x")
            os.utime(path, (stamp[0], stamp[0]))
            stamp[0] += 10
        if metrics is not None:
            (runs / folder / "metrics.json").write_text(json.dumps(metrics) if isinstance(metrics, dict) else metrics)
        os.utime(runs / folder, (stamp[0], stamp[0]))
        stamp[0] += 10
        return runs / folder

    old = put("pretrain-tiny-20261201-100000", "checkpoint.pt")
    clf = put("mine", "checkpoint.pt", "classifier.pt", metrics={"run": "classify", "test_accuracy": 0.9})
    named_clf = put("classify-tiny-20261201-110000", "checkpoint.pt")  # still running: no metrics.json yet
    ins = put("instruct-gpt2-small-20261201-120000", "checkpoint.pt", "responses.json", metrics="{not json")
    nested = put("pretrain-tiny-20261201-130000/extra", "model.pth")
    renamed_ins = put("chatty", "checkpoint.pt", metrics={"run": "instruct"})

    assert run_kind(clf) == run_kind(named_clf) == "classify" and run_kind(ins) == "instruct"
    assert run_kind(renamed_ins) == "instruct" and run_kind(runs / "chatty-notes") is None
    # Train: each run folder's checkpoint.pt, classifiers' left out (their head has two outputs)
    assert model_checkpoints(runs) == [renamed_ins / "checkpoint.pt", ins / "checkpoint.pt", old / "checkpoint.pt"]
    # the Playground's continue mode: any .pt/.pth below, a nested one included, classifier.pt never
    assert model_checkpoints(runs, anywhere=True) == [renamed_ins / "checkpoint.pt", nested / "model.pth",
                                                      ins / "checkpoint.pt", old / "checkpoint.pt"]
    assert run_folders(runs, "classifier.pt") == [clf]
    assert run_folders(runs, "checkpoint.pt", kind="instruct") == [renamed_ins, ins]
    assert responses_files(runs) == [ins / "responses.json"]
    gone = runs / "gone.pt"
    assert newest_first([gone, old / "checkpoint.pt"]) == [old / "checkpoint.pt"]  # removed while we looked
    missing = tmp_path / "no-runs-yet"
    assert model_checkpoints(missing) == run_folders(missing, "classifier.pt") == responses_files(missing) == []
