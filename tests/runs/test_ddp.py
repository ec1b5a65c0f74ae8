"""Pretraining from the token file with gradient accumulation, and with PyTorch's DDP under torchrun (gloo on
CPU): two processes of one window-slice each take the same optimizer steps as one process accumulating both
slices (same losses, same weights), and a DDP run's checkpoint continues in one process on the trajectory the
uninterrupted run took (`--resume` across a change of world size).

Small on purpose: `tiny`, 2 steps, one loss batch per evaluation; the torchrun job is the only child process.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from tests.runs.test_pretrain_cli import child_env, parse_events
from tutor.runs import checkpoint as ckpt
from tutor.runs.events import Recorder
from tutor.runs.pretrain import PretrainConfig, pretrain
from tutor.runs.streaming import WindowOrder

STEPS, BATCH = 2, 2  # 2 optimizer steps of a global batch of 2 slices of 2 windows
COMMON = dict(data="builtin", config="tiny", batch_size=BATCH, eval_freq=1, eval_iter=1, sample_tokens=0,
              device="cpu", seed=11, use_reference=True)


def evals(events) -> dict[int, tuple[float, float, int]]:
    return {e["step"]: (e["train_loss"], e["val_loss"], e["tokens_seen"]) for e in events if e["event"] == "eval"}


def params(run_folder):
    return ckpt.load_checkpoint(run_folder / ckpt.FILENAME)["model"]


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=1e-5, rtol=1e-4, msg=name)


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """One process, two accumulated micro-batches per step (the global batch of the DDP run)."""
    out = tmp_path_factory.mktemp("single") / "run"
    rec = Recorder()
    pretrain(PretrainConfig(**COMMON, global_batch=2 * BATCH, max_steps=STEPS, out=out), rec)
    return out, rec.events


def test_a_streaming_run_says_so_and_accumulates(single):
    out, events = single
    note = next(e for e in events if e["event"] == "streaming")
    assert note["grad_accum"] == 2 and note["world_size"] == 1 and note["global_batch"] == 2 * BATCH
    assert "instead of your create_dataloader_v1" in note["message"]
    got = evals(events)
    assert sorted(got) == list(range(STEPS + 1))
    assert got[STEPS][2] == STEPS * 2 * BATCH * 64  # tokens seen: the whole global batch, context 64
    assert got[STEPS][0] < got[0][0]  # it learns
    import json

    from tutor.data.datasets import builtin_text

    data = json.loads((out / "metrics.json").read_text())["data"]
    assert data["characters"] == len(builtin_text()) and data["tokens"] == note["tokens"]


def test_two_gloo_processes_match_one_and_resume_in_one_process(single, tmp_path):
    single_out, single_events = single
    out = tmp_path / "ddp"
    args = ["--config", "tiny", "--data", "builtin", "--batch-size", str(BATCH), "--eval-freq", "1",
            "--eval-iter", "1", "--sample-tokens", "0", "--device", "cpu", "--seed", "11", "--reference"]
    env = {**child_env(tmp_path), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "tutor", "run", "pretrain", "--ddp", *args, "--max-steps", str(STEPS - 1),
                           "--out", str(out), "--events"],
                          capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = parse_events(proc.stdout)  # rank 0 alone reports: one start, one done
    assert [e["event"] for e in events].count("start") == 1 and events[-1]["event"] == "done"
    note = next(e for e in events if e["event"] == "streaming")
    assert note["world_size"] == 2 and note["grad_accum"] == 1
    expected, got = evals(single_events), evals(events)
    assert sorted(got) == list(range(STEPS))
    for step in got:
        assert got[step][2] == expected[step][2]
        assert got[step][:2] == pytest.approx(expected[step][:2], abs=2e-4), f"step {step}"

    rec = Recorder()  # the DDP checkpoint (2 processes) continues in one process, accumulating 2 slices
    pretrain(PretrainConfig(resume=out, max_steps=STEPS, device="cpu", use_reference=True), rec)
    assert not next(e for e in rec.events if e["event"] == "start")["warnings"]
    assert next(e for e in rec.events if e["event"] == "streaming")["reused"]  # `single` tokenized this text
    assert evals(rec.events)[STEPS] == pytest.approx(expected[STEPS], abs=2e-4)
    assert_same_weights(params(out), params(single_out))


def test_ranks_take_different_windows_and_together_the_single_process_ones():
    order = WindowOrder(windows=range(40), global_batch=8, batch_size=2, seed=3)
    perm = order.permutation(0)
    assert sorted(perm.tolist()) == list(range(40)) and perm.tolist() != list(range(40))
    assert torch.equal(perm, order.permutation(0)) and not torch.equal(perm, order.permutation(1))
    one = order.slices(perm, 1, rank=0, world=1)  # 4 micro-batches
    two = [order.slices(perm, 1, rank=r, world=2) for r in range(2)]  # 2 each
    four = [order.slices(perm, 1, rank=r, world=4) for r in range(4)]  # 1 each
    assert len(one) == 4 and all(len(s) == 2 for s in two) and all(len(s) == 1 for s in four)
    by_slice = dict(one)
    for layout in (two, four):
        spread = dict(s for rank in layout for s in rank)
        assert spread == by_slice  # the same windows under the same slice number (so the same dropout seed)
    windows = [w for s in by_slice.values() for w in s]
    assert len(set(windows)) == 8 and set(windows) == set(perm[8:16].tolist())


def test_ddp_outside_torchrun_says_how_to_start_it(monkeypatch, tmp_path):
    from tutor.runs.common import RunError

    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RunError, match=r"torchrun --nproc_per_node=N -m tutor run pretrain --ddp"):
        pretrain(PretrainConfig(**COMMON, ddp=True, out=tmp_path / "x"))


def test_a_global_batch_must_split_into_the_processes_batches(tmp_path):
    from tutor.runs.common import RunError

    with pytest.raises(RunError, match="must be a multiple of --batch-size"):
        pretrain(PretrainConfig(**COMMON, global_batch=3, out=tmp_path / "x"))
    assert not (tmp_path / "x").exists()


def test_the_console_shows_tokenizing_and_says_the_run_streams():
    import io

    from rich.console import Console

    from tutor.runs.render import PretrainConsole

    buffer = io.StringIO()
    show = PretrainConsole(Console(file=buffer, width=200, force_terminal=False))
    for done in (0, 500, 1000):
        show({"event": "tokenize", "done_bytes": done, "total_bytes": 1000})
    show({"event": "streaming", "message": "The run streams windows from the token file [x].bin"})
    assert "Note: The run streams windows from the token file [x].bin" in buffer.getvalue()  # markup escaped
    assert show.progress is None  # the tokenizing bar is gone before the run's own starts
