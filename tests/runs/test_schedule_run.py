"""`tutor run pretrain --warmup/--min-lr/--clip`: every optimizer step uses the learning rate the assembled
`learning_rate` gives for it, the gradients are clipped before `optimizer.step()` reads them, the settings
come back on `--resume`, and a stopped and resumed run repeats the uninterrupted one (learning rates and
losses). The training loop is driven directly where that is enough; one tiny in-process run (4 steps) and
its stopped-and-resumed twin cover the rest.
"""

from __future__ import annotations

import json
import math
import threading
from types import SimpleNamespace

import pytest

from tutor.runs.common import RunError, TrainState
from tutor.runs.pretrain import PretrainConfig, TrainingLoop, resolve_settings
from tutor.runs.schedule import Schedule


def toy_lr(step, total_steps, warmup_steps, peak_lr, initial_lr=3e-05, min_lr=1e-6):
    """A schedule no real run would use, so its values are recognisable: peak / (step + 1), floored."""
    return max(peak_lr / (step + 1), min_lr)


class SpyAdamW:
    """Records what `step()` sees: the learning rate and the gradient norm at that moment."""

    def __init__(self, params, lr):
        import torch

        self.inner = torch.optim.AdamW(params, lr=lr)
        self.param_groups = self.inner.param_groups
        self.seen: list[tuple[float, float]] = []

    def zero_grad(self, set_to_none=True):
        self.inner.zero_grad(set_to_none=set_to_none)

    def step(self):
        import torch

        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        norm = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(x) for x in grads])))
        self.seen.append((self.param_groups[0]["lr"], norm))
        self.inner.step()


def toy_loop(schedule):
    """A TrainingLoop around a linear model whose gradients are large (norm far above 1)."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Linear(8, 8)
    opt = SpyAdamW(model.parameters(), lr=0.01)

    def calc_loss_batch(x, y, m, device):
        return ((m(x) - y) ** 2).sum() * 100

    loop = TrainingLoop(settings=None, data=None, pieces=SimpleNamespace(calc_loss_batch=calc_loss_batch),
                        model=model, train_model=model, optimizer=opt, tokenizer=None, device="cpu",
                        state=TrainState(), assembly=None, checkpoint_path=None, emit=lambda e: None,
                        schedule=schedule)
    return loop, opt


def test_every_step_uses_learning_rate_of_its_index_and_clipped_gradients():
    import torch

    schedule = Schedule(peak_lr=0.01, total_steps=5, warmup=2, min_lr=1e-4, clip=0.5, learning_rate=toy_lr)
    loop, opt = toy_loop(schedule)
    x, y = torch.randn(4, 8), torch.randn(4, 8)
    for _ in range(5):
        loop.train_step(x, y)
    lrs = [lr for lr, _ in opt.seen]
    assert lrs == pytest.approx([toy_lr(s, 5, 2, 0.01, 1e-4, 1e-4) for s in range(5)]), lrs
    assert all(norm <= 0.5 + 1e-4 for _, norm in opt.seen), f"optimizer.step() saw unclipped gradients: {opt.seen}"

    unclipped, opt2 = toy_loop(None)  # the same steps without the flags: constant lr, gradients left alone
    for _ in range(2):
        unclipped.train_step(x, y)
    assert [lr for lr, _ in opt2.seen] == [0.01, 0.01]
    assert opt2.seen[0][1] > 5, f"the toy gradients must be large for the clipping check to mean anything: {opt2.seen}"


def test_clip_alone_keeps_the_learning_rate_and_a_bad_learning_rate_is_named():
    import torch

    loop, opt = toy_loop(Schedule(peak_lr=0.01, total_steps=3, clip=1.0))
    loop.train_step(torch.randn(4, 8), torch.randn(4, 8))
    assert opt.seen[0][0] == 0.01 and opt.seen[0][1] <= 1.0 + 1e-4

    broken = Schedule(peak_lr=0.01, total_steps=3, warmup=1, min_lr=0.0, learning_rate=lambda *a, **k: None,
                      yours=True)
    with pytest.raises(RunError, match=r"Your learning_rate\(0, 3, 1, 0.01.*failed: TypeError.*schedules.py"):
        broken.lr_at(0)
    nan = Schedule(peak_lr=0.01, total_steps=3, warmup=1, min_lr=0.0, learning_rate=lambda *a, **k: math.nan)
    with pytest.raises(RunError, match="returned nan"):
        nan.lr_at(2)


def test_schedule_settings_default_validate_and_come_back_on_resume():
    plain = resolve_settings(PretrainConfig(), None)
    assert (plain.warmup, plain.min_lr, plain.clip) == (None, None, None)  # no flags: the run of today
    s = resolve_settings(PretrainConfig(warmup=5), None)
    assert (s.warmup, s.min_lr, s.clip) == (5, pytest.approx(s.lr / 10), None)
    assert resolve_settings(PretrainConfig(min_lr=1e-5), None).warmup == 0  # a floor alone: cosine from step 0
    resumed = resolve_settings(PretrainConfig(), {**s.__dict__, "clip": 0.7})
    assert (resumed.warmup, resumed.min_lr, resumed.clip) == (5, s.min_lr, 0.7)
    for cfg, message in ((PretrainConfig(warmup=-1), "--warmup must be 0 or more"),
                         (PretrainConfig(lr=1e-3, min_lr=2e-3), "--min-lr must be between 0 and --lr"),
                         (PretrainConfig(clip=0.0), "--clip must be a positive")):
        with pytest.raises(RunError, match=message):
            resolve_settings(cfg, None)


LEARNER_SCHEDULES = '''
def learning_rate(step, total_steps, warmup_steps, peak_lr, initial_lr=3e-05, min_lr=1e-6):
    return max(peak_lr / (step + 1), min_lr)  # not the course's schedule: recognisable in the run
'''


@pytest.fixture(scope="module")
def schedule_runs(tmp_path_factory):
    """A 4-step run with the learner's learning_rate and clipping, and the same run stopped at step 3 and resumed."""
    from tutor.progress import ProgressStore
    from tutor.runs.pretrain import pretrain
    from tutor.workspace import init_workspace

    tmp = tmp_path_factory.mktemp("sched")
    ws = init_workspace(tmp / "ws")
    (ws.exercises_dir / "schedules.py").write_text(LEARNER_SCHEDULES)
    ProgressStore(ws.state_dir).record_grade("schedules", "passed")
    base = dict(config="tiny", data="builtin", max_steps=4, batch_size=2, eval_freq=2, eval_iter=1, sample_tokens=0,
                device="cpu", seed=3, workspace=ws, warmup=2, min_lr=4e-4, clip=0.5)
    full_events: list[dict] = []
    full = pretrain(PretrainConfig(**base, out=tmp / "full"), full_events.append)

    stop = threading.Event()

    def stop_at_3(ev):
        if ev["event"] == "checkpoint" and ev["step"] == 3:
            stop.set()

    stopped = pretrain(PretrainConfig(**base, out=tmp / "part"), stop_at_3, stop=stop)
    assert stopped.interrupted and stopped.step == 3
    resumed_events: list[dict] = []
    resumed = pretrain(PretrainConfig(resume=tmp / "part", device="cpu", workspace=ws), resumed_events.append)
    return full, full_events, resumed, resumed_events


def test_a_run_uses_the_learners_learning_rate_and_says_so(schedule_runs):
    full, events, _, _ = schedule_runs
    start = events[0]
    assert "your learning_rate" in start["schedule"] and "clipped to 0.5" in start["schedule"], start["schedule"]
    assert {"exercise": "schedules", "name": "learning_rate", "yours": True} in start["pieces"]
    metrics = json.loads(full.metrics.read_text())
    assert metrics["settings"]["warmup"] == 2 and metrics["settings"]["clip"] == 0.5
    peak = metrics["settings"]["lr"]
    got = {e["step"]: e["lr"] for e in metrics["evals"]}
    assert sorted(got) == [0, 1, 3, 4]
    for step, lr in got.items():  # the lr of the last step taken (index step - 1), of the first at step 0
        assert lr == pytest.approx(max(peak / max(step, 1), 4e-4)), (step, got)


def test_a_stopped_and_resumed_schedule_repeats_the_uninterrupted_run(schedule_runs):
    full, _, resumed, resumed_events = schedule_runs
    assert resumed_events[0]["start_step"] == 3 and "your learning_rate" in resumed_events[0]["schedule"]
    want = json.loads(full.metrics.read_text())["evals"]
    got = json.loads(resumed.metrics.read_text())["evals"]
    assert [e["step"] for e in got] == [e["step"] for e in want]
    for a, b in zip(got, want):
        assert (a["lr"], a["train_loss"], a["val_loss"]) == pytest.approx(
            (b["lr"], b["train_loss"], b["val_loss"]), rel=1e-5, abs=1e-6), f"step {a['step']}: {a} vs {b}"


def test_the_loss_plot_gets_a_learning_rate_axis_only_when_the_rate_changes(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from tutor.runs import plot

    axes_made = []
    real_savefig = Figure.savefig

    def savefig(fig, *args, **kwargs):
        axes_made.append([ax.get_ylabel() for ax in fig.axes])
        return real_savefig(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    common = ([0.0, 0.5, 1.0], [0, 100, 200], [3.0, 2.0, 1.5], [3.1, 2.2, 1.9])
    plot.plot_losses(tmp_path / "a.png", *common, lrs=[4e-4, 4e-3, 1e-3])
    plot.plot_losses(tmp_path / "b.png", *common, lrs=[4e-3, 4e-3, 4e-3])
    plot.plot_losses(tmp_path / "c.png", *common)
    assert "Learning rate" in axes_made[0], axes_made
    assert all("Learning rate" not in labels for labels in axes_made[1:]), axes_made
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
