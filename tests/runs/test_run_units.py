"""The parts of `tutor run` that need no training: option precedence, the event stream, checkpoint files,
Ctrl-C handling, streaming text, and what importing the run modules costs."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading

import pytest

from tutor.runs import checkpoint as ckpt
from tutor.runs.common import RunError, stop_on_sigint
from tutor.runs.events import JsonLines, Recorder, event
from tutor.runs.generate import _Utf8Stream
from tutor.runs.pretrain import PretrainConfig, resolve_settings


def test_settings_come_from_options_then_checkpoint_then_preset():
    s = resolve_settings(PretrainConfig(), None)
    assert (s.config, s.data, s.epochs, s.batch_size, s.lr, s.seed) == ("tiny", "builtin", 10, 8, 4e-3, 123)
    assert s.model["context_length"] == 64 and s.sample_prompt == ""  # chosen from the text, later
    big = resolve_settings(PretrainConfig(config="gpt2-124M", data="verdict"), None)
    assert (big.model["emb_dim"], big.model["n_layers"], big.model["context_length"]) == (768, 12, 256)
    assert (big.batch_size, big.lr, big.eval_freq, big.eval_iter) == (2, 4e-4, 5, 5)

    saved = {**s.__dict__, "epochs": 3, "lr": 0.01, "seed": 5}
    r = resolve_settings(PretrainConfig(epochs=7), saved)
    assert (r.epochs, r.lr, r.seed) == (7, 0.01, 5)
    with pytest.raises(RunError, match="does not match the checkpoint"):
        resolve_settings(PretrainConfig(config="small"), saved)
    with pytest.raises(RunError, match="--batch-size must be positive"):
        resolve_settings(PretrainConfig(batch_size=0), None)


def test_json_lines_are_strict_json_one_per_line():
    buf = io.StringIO()
    emit = Recorder(JsonLines(buf))
    emit(event("eval", step=1, train_loss=float("nan"), val_loss=float("inf"), tokens_seen=10))
    emit(event("token", text="a\nb"))
    lines = buf.getvalue().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0]) == {"event": "eval", "step": 1, "train_loss": None, "val_loss": None,
                                    "tokens_seen": 10}
    assert json.loads(lines[1])["text"] == "a\nb"
    assert [e["event"] for e in emit.events] == ["eval", "token"]


def test_utf8_stream_waits_for_whole_characters():
    data = "é✓".encode()  # 2 + 3 bytes
    s = _Utf8Stream()
    assert s.push(data[:1]) == ""
    assert s.push(data[1:3]) == "é"
    assert s.push(data[3:]) == "✓"
    assert s.push(b"\xff") + s.flush() == "\ufffd"


def test_save_checkpoint_is_atomic(tmp_path, monkeypatch):
    import torch

    path = tmp_path / "checkpoint.pt"
    ckpt.save_checkpoint(path, {"run": "pretrain", "step": 1, "w": torch.ones(2)})
    assert ckpt.load_checkpoint(tmp_path)["step"] == 1

    def broken_save(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        ckpt.save_checkpoint(path, {"run": "pretrain", "step": 2})
    assert ckpt.load_checkpoint(path)["step"] == 1, "a failed save must leave the previous checkpoint intact"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_load_checkpoint_rejects_other_files(tmp_path):
    import torch

    torch.save({"a": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ckpt.CheckpointError, match="not a tutor checkpoint"):
        ckpt.load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(ckpt.CheckpointError, match="No checkpoint"):
        ckpt.load_checkpoint(tmp_path / "missing")


@pytest.mark.parametrize("mmap", [False, True])
def test_a_garbage_checkpoint_is_named_not_explained_by_torch(tmp_path, mmap):
    garbage = tmp_path / "checkpoint.pt"
    garbage.write_bytes(b"this is not a checkpoint at all\n" * 40)
    with pytest.raises(ckpt.CheckpointError) as info:
        ckpt.load_checkpoint(tmp_path, mmap=mmap)
    message = str(info.value)
    assert message.startswith(f"This is not a tutor checkpoint: {garbage}"), message
    assert "mmap" not in message and "zip" not in message.lower() and "pickle" not in message.lower(), message


def test_parameters_load_by_name_and_mismatches_are_explained():
    import torch

    a = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    b = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    ckpt.load_parameters(b, ckpt.parameters(a))
    assert torch.equal(a[0].weight, b[0].weight)
    with pytest.raises(ckpt.CheckpointError, match="missing 1.bias"):
        ckpt.load_parameters(b, {k: v for k, v in ckpt.parameters(a).items() if k != "1.bias"})
    c = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Linear(5, 2))
    with pytest.raises(ckpt.CheckpointError, match=r"0.weight: the checkpoint has shape \(4, 3\)"):
        ckpt.load_parameters(c, ckpt.parameters(a))


def test_optimizer_state_follows_parameters_by_name():
    import torch

    x = torch.nn.Parameter(torch.ones(2))
    y = torch.nn.Parameter(torch.ones(3))
    opt = torch.optim.AdamW([x, y], lr=0.1)
    (x.sum() + 2 * y.sum()).backward()
    opt.step()
    saved = opt.state_dict()
    opt2 = torch.optim.AdamW([y, x], lr=0.1)  # the same parameters in another order
    opt2.load_state_dict(ckpt.optimizer_state_for(saved, ["x", "y"], ["y", "x"]))
    assert opt2.state[y]["exp_avg"].shape == (3,) and opt2.state[x]["exp_avg"].shape == (2,)


def test_first_ctrl_c_asks_to_stop_second_aborts():
    stop = threading.Event()
    with stop_on_sigint(stop):
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.wait(5)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            threading.Event().wait(5)  # the handler raises while we wait
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_run_modules_import_without_torch():
    code = ("import tutor.runs.cli, tutor.runs.pretrain, tutor.runs.generate, tutor.runs.render, "
            "tutor.data.datasets, tutor.data.download, sys; print(' '.join(sys.modules))")
    mods = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              timeout=60).stdout.split())
    assert "torch" not in mods and "textual" not in mods and "tiktoken" not in mods


def test_generate_defaults_to_the_workspaces_latest_checkpoint(tmp_path):
    from tutor.runs.generate import GenerateConfig, resolve_weights
    from tutor.workspace import init_workspace

    ws = init_workspace(tmp_path / "ws")
    with pytest.raises(RunError, match="tutor run pretrain"):
        resolve_weights(GenerateConfig(prompt="x", workspace=ws))
    for i, name in enumerate(["pretrain-tiny-1", "pretrain-tiny-2"]):
        (ws.runs_dir / name).mkdir(parents=True)
        (ws.runs_dir / name / "checkpoint.pt").write_bytes(b"x")
        os.utime(ws.runs_dir / name / "checkpoint.pt", (1000 + i, 1000 + i))
    latest = resolve_weights(GenerateConfig(prompt="x", workspace=ws))
    assert latest == ws.runs_dir / "pretrain-tiny-2" / "checkpoint.pt"
    (ws.runs_dir / "classify-tiny-3").mkdir()  # newer, but its head has two outputs: not a model to generate with
    (ws.runs_dir / "classify-tiny-3" / "checkpoint.pt").write_bytes(b"x")
    os.utime(ws.runs_dir / "classify-tiny-3" / "checkpoint.pt", (2000, 2000))
    assert resolve_weights(GenerateConfig(prompt="x", workspace=ws)) == latest
    assert resolve_weights(GenerateConfig(prompt="x", weights=str(ws.runs_dir / "pretrain-tiny-1"))).parent.name \
        == "pretrain-tiny-1"
    assert resolve_weights(GenerateConfig(prompt="x", weights="gpt2-small")) == "gpt2-small"  # loaded by models


def test_run_folder_is_removed_when_a_run_fails_before_writing_anything(tmp_path):
    from tutor.runs.common import run_folder

    with pytest.raises(RunError):
        with run_folder(tmp_path / "runs" / "a") as out:
            assert out.is_dir()
            raise RunError("too short")
    assert not (tmp_path / "runs" / "a").exists()
    with pytest.raises(RunError):  # something written: kept, so the learner can look at it
        with run_folder(tmp_path / "runs" / "b") as out:
            (out / "checkpoint.pt").write_bytes(b"x")
            raise RunError("later")
    assert (tmp_path / "runs" / "b" / "checkpoint.pt").exists()
    (tmp_path / "runs" / "c").mkdir()
    with pytest.raises(RunError):  # a folder that was there before (a resumed run) stays
        with run_folder(tmp_path / "runs" / "c"):
            raise RunError("resume failed")
    assert (tmp_path / "runs" / "c").is_dir()


def test_a_failed_pretrain_leaves_no_empty_run_folder(tmp_path):
    from tutor.runs.pretrain import pretrain
    from tutor.workspace import init_workspace

    ws = init_workspace(tmp_path / "ws")
    short = tmp_path / "short.txt"
    short.write_text("Far too short to train on.", encoding="utf-8")
    cfg = PretrainConfig(data=str(short), config="tiny", device="cpu", workspace=ws, use_reference=True)
    with pytest.raises(RunError, match="too short"):
        pretrain(cfg)
    assert not ws.runs_dir.exists() or list(ws.runs_dir.iterdir()) == []


def _loaded(kind, history=None, path=None):
    from tutor.runs.models import LoadedModel

    saved = {"history": history} if history is not None else None
    return LoadedModel(model=None, cfg={"vocab_size": 50257}, kind=kind, label="weights", path=path, saved=saved)


def test_init_check_tells_loaded_gpt2_weights_from_misplaced_ones():
    from tutor.runs.models import init_check

    good = init_check(_loaded("gpt2"), 3.4, learner_loader=True)  # GPT-2 small on plain English: about 3.3
    assert good["ok"] and good["warning"] is None, good
    assert good["perplexity"] == pytest.approx(29.964, abs=1e-3)
    assert "validation loss 3.400, perplexity 30.0" in good["line"] and "in the tens" in good["line"], good["line"]
    assert "50,257 of an untrained model" in good["line"], good["line"]
    assert init_check(_loaded("gpt2"), 6.9, learner_loader=True)["ok"]  # perplexity 992: unusual text, still real

    yours = init_check(_loaded("gpt2"), 10.8, learner_loader=True)  # perplexity 49,021: as good as random
    assert not yours["ok"], yours
    assert "Perplexity 49,021 is huge" in yours["warning"] and "load_weights_into_gpt" in yours["warning"], yours
    ours = init_check(_loaded("gpt2"), 7.0, learner_loader=False)  # 1,097 with the reference's loader
    assert not ours["ok"] and "this file does not hold trained GPT-2 weights" in ours["warning"], ours
    broken = init_check(_loaded("gpt2"), float("nan"), learner_loader=True)
    assert not broken["ok"] and broken["perplexity"] == float("inf"), broken
    assert not init_check(_loaded("gpt2"), 800.0, learner_loader=True)["ok"]  # exp would overflow


def test_init_check_compares_a_checkpoint_with_its_own_run_and_with_random_weights():
    from tutor.runs.models import init_check

    trained = init_check(_loaded("checkpoint", {"val_loss": [10.9, 6.25, 5.5]}), 5.6, learner_loader=True)
    assert trained["ok"] and "validation loss 5.500" in trained["line"], trained
    early = init_check(_loaded("checkpoint", {"val_loss": [10.9]}), 10.85, learner_loader=True)
    assert not early["ok"] and "what an untrained model scores" in early["warning"], early
    bare = init_check(_loaded("checkpoint"), 4.0, learner_loader=True)  # no history: only the untrained figure
    assert bare["ok"] and "its run's" not in bare["line"] and "about 50,257" in bare["line"], bare


def test_pretrain_console_shows_the_init_check_after_the_step_0_line():
    from rich.console import Console

    from tutor.runs.render import PretrainConsole

    buf = io.StringIO()
    show = PretrainConsole(Console(file=buf, width=300, color_system=None))
    base = {"event": "eval", "step": 0, "train_loss": 10.8, "val_loss": 10.8, "tokens_seen": 0}
    show(base)
    assert buf.getvalue().count("\n") == 1, buf.getvalue()  # a fresh run: the step line alone
    show({**base, "init_check": {"ok": False, "line": "Loaded weights: [perplexity] 49,021", "warning": "Huge."}})
    lines = buf.getvalue().splitlines()
    assert lines[2:] == ["Loaded weights: [perplexity] 49,021", "Warning: Huge."], lines  # markup escaped


def test_pretrain_run_folder_is_named_after_what_init_loaded(tmp_path, monkeypatch):
    from tutor.runs.pretrain import init_name, out_folder

    monkeypatch.chdir(tmp_path)
    settings = resolve_settings(PretrainConfig(), None)
    assert out_folder(PretrainConfig(), settings).name.startswith("pretrain-tiny-")
    gpt2 = out_folder(PretrainConfig(init="gpt2-small"), settings, _loaded("gpt2"))
    assert gpt2.parent == tmp_path / "tutor-runs" and gpt2.name.startswith("pretrain-gpt2-small-2"), gpt2
    assert out_folder(PretrainConfig(init="gpt2-small", out=tmp_path / "mine"), settings,
                      _loaded("gpt2")) == tmp_path / "mine"  # --out still wins

    run = tmp_path / "pretrain-tiny-20261202-041500-2"
    assert init_name(str(run), _loaded("checkpoint", path=run / ckpt.FILENAME)) == "from-pretrain-tiny"
    assert init_name("x", _loaded("checkpoint", path=tmp_path / "my best.pt")) == "from-my_best"
    assert init_name("m.safetensors", _loaded("gpt2", path=tmp_path / "hub" / "model.safetensors")) == "from-model"
