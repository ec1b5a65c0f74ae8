"""`tutor run generate` with the learner's KV cache (the default) and without it (`--no-cache`): greedy decoding
gives the same tokens both ways, also past the context window (the cache is re-filled there); the learner's
kv_cache module is the one that runs; sampling still goes through `generate`'s temperature and top-k; the
console prints tokens/s and whether the cache was on.

Cheap on purpose: a random 2-block model with a 16-token window, two in-process runs of 30 tokens.
"""

from __future__ import annotations

import io

import pytest
import torch

from typer.testing import CliRunner

from tests.runs.test_pretrain_cli import parse_events
from tutor import paths
from tutor.exercise_imports import install_exercises_mapping, reference_mapping

CFG = {"vocab_size": 50257, "context_length": 16, "emb_dim": 16, "n_heads": 2, "n_layers": 2,
       "drop_rate": 0.1, "qkv_bias": True}


@pytest.fixture(autouse=True)
def quiet(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TUTOR_WORKSPACE", raising=False)
    monkeypatch.setenv("TUTOR_CACHE", str(tmp_path / "cache"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two cores shared by many: one thread avoids spinning OpenMP waits
    yield
    torch.set_num_threads(threads)


def reference():
    install_exercises_mapping(reference_mapping())
    import exercises.decoding
    import exercises.gpt_model
    import exercises.kv_cache

    return exercises.gpt_model, exercises.kv_cache, exercises.decoding


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from tutor.runs import checkpoint as ckpt

    gpt_model, _, _ = reference()
    torch.manual_seed(3)
    model = gpt_model.GPTModel(CFG)
    path = tmp_path_factory.mktemp("ckpt") / "checkpoint.pt"
    ckpt.save_checkpoint(path, {"model_cfg": CFG, "model": ckpt.parameters(model)})
    return path


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """The learner's kv_cache passes (their copy of the reference, with a print at import)."""
    from tutor.progress import ProgressStore
    from tutor.workspace import init_workspace

    ws = init_workspace(tmp_path_factory.mktemp("ws") / "ws")
    source = (paths.solutions_dir() / "kv_cache.py").read_text()
    (ws.exercises_dir / "kv_cache.py").write_text('print("hello from your kv_cache.py")\n' + source)
    ProgressStore(ws.state_dir).record_grade("kv_cache", "passed")
    return ws.root


def _generate(checkpoint, workspace, *extra):
    from tutor.runs.cli import run_app

    r = CliRunner().invoke(run_app, ["generate", "--weights", str(checkpoint), "--prompt",
                                     "Once upon a time there was", "--max-new-tokens", "30", "--temperature", "0",
                                     "--device", "cpu", "--events", "--workspace", str(workspace), *extra],
                           env={"COLUMNS": "200", "TERM": "dumb", "TUTOR_OFFLINE": "1"})
    assert r.exit_code == 0, r.output
    return parse_events(r.stdout), r.stderr


def test_cached_and_uncached_greedy_runs_give_the_same_tokens(tiny_checkpoint, workspace):
    cached, err_cached = _generate(tiny_checkpoint, workspace)
    plain, err_plain = _generate(tiny_checkpoint, workspace, "--no-cache")
    start, done = cached[0], cached[-1]
    assert start["cached"] is True and done["cached"] is True and plain[-1]["cached"] is False
    assert "kv_cache" in start["learner"] and "kv_cache" not in start["filled_in"]
    assert "hello from your kv_cache.py" in err_cached  # the learner's cached model ran ...
    assert "hello from your kv_cache.py" not in err_plain  # ... and --no-cache does without it
    # 6 prompt tokens + 30 new ones overflow the 16-token window: the cache had to be re-filled.
    assert start["prompt_tokens"] + done["tokens"] > CFG["context_length"]
    assert done["tokens"] == plain[-1]["tokens"] == 30
    assert done["text"] == plain[-1]["text"], (done["text"], plain[-1]["text"])
    assert [e["text"] for e in cached if e["event"] == "token"] == [e["text"] for e in plain if e["event"] == "token"]
    assert done["tokens_per_s"] > 0 and done["seconds"] > 0


def test_cached_forward_feeds_only_new_tokens_and_refills_a_slid_window():
    from tutor.runs.generate import CachedForward

    gpt_model, kv_cache, _ = reference()
    torch.manual_seed(0)
    plain = gpt_model.GPTModel(CFG).eval()
    cached = kv_cache.GPTModel(CFG).eval()
    cached.load_state_dict(plain.state_dict())
    fed = []
    cached.register_forward_pre_hook(lambda mod, args: fed.append(args[0].shape[1]))
    step = CachedForward(cached)
    ids = torch.randint(0, CFG["vocab_size"], (1, 20), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for n in range(5, 21):  # windows of 5..16 tokens, then four slid windows of 16
            window = ids[:, max(0, n - 16):n]
            got = step(window)[:, -1]
            want = plain(window)[:, -1]
            assert torch.allclose(got, want, atol=1e-5), f"window ending at {n}: {(got - want).abs().max()}"
    assert fed == [5] + [1] * 11 + [16] * 4
    # A learner's generate may treat it as the model: eval(), pos_emb, parameters() reach the cached model.
    assert step.eval() is cached and step.pos_emb is cached.pos_emb


def test_sampling_with_the_cache_uses_generates_temperature_and_top_k():
    """The learner's generate samples from the cached logits: with one seed, the same tokens as uncached."""
    from tutor.runs.generate import CachedForward

    gpt_model, kv_cache, decoding = reference()
    torch.manual_seed(0)
    plain = gpt_model.GPTModel(CFG).eval()
    cached = kv_cache.GPTModel(CFG).eval()
    cached.load_state_dict(plain.state_dict())
    step = CachedForward(cached)
    prompt = torch.tensor([[464, 3797, 318]])
    outs = []
    for model in (plain, step):
        torch.manual_seed(11)
        idx = prompt
        with torch.no_grad():
            for _ in range(12):
                idx = decoding.generate(model, idx, max_new_tokens=1, context_size=16, temperature=1.5, top_k=5)
        outs.append(idx)
    assert torch.equal(outs[0], outs[1]), outs
    top5 = torch.topk(plain(prompt)[:, -1], 5).indices[0].tolist()
    assert int(outs[0][0, 3]) in top5  # top-k held with the cache too


def test_the_console_reports_tokens_per_second_and_the_cache():
    from rich.console import Console

    from tutor.runs.render import GenerateConsole

    buf = io.StringIO()
    show = GenerateConsole(Console(file=buf, width=200, color_system=None))
    show({"event": "done", "text": "x", "tokens": 200, "seconds": 4.0, "tokens_per_s": 50.0, "cached": True})
    show({"event": "done", "text": "x", "tokens": 20, "seconds": 2.0, "tokens_per_s": 10.0, "cached": False})
    lines = buf.getvalue()
    assert "200 tokens in 4.00 s (50.0 tokens/s, cached)" in lines, lines
    assert "20 tokens in 2.00 s (10.0 tokens/s, no cache)" in lines, lines
