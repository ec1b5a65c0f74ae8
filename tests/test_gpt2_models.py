"""OpenAI-layout weights in our GPTModel, cross-checked with an independent implementation: a small random
`transformers.GPT2LMHeadModel` saved as safetensors in the real Hugging Face layout, loaded with the reference
`load_weights_into_gpt` into the reference `GPTModel` (directly, and through the frugal run loader), must give
the same logits and the same greedy tokens. Also: `tutor run generate --weights FILE.safetensors`, the sanity
figure, the MPS probe warning (forced through its seam), and `tutor run pretrain --init` (what it loads, its
step-0 check of the loaded weights, its run folder's name). No network."""

from __future__ import annotations

import json

import pytest
import torch

transformers = pytest.importorskip("transformers")

from safetensors.torch import save_file  # noqa: E402

from tutor.exercise_imports import install_exercises_mapping, reference_mapping  # noqa: E402
from tutor.runs import models  # noqa: E402

HF_CFG = dict(vocab_size=50257, n_positions=64, n_embd=32, n_layer=3, n_head=4)


@pytest.fixture(scope="module")
def hf_model():
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(
        **HF_CFG, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0))
    with torch.no_grad():  # LayerNorms start as the identity; random ones make a misplaced norm show
        for name, p in model.named_parameters():
            if "ln_" in name:
                p.copy_(torch.randn_like(p) * 0.3 + (1.0 if name.endswith("weight") else 0.0))
    return model.eval()


@pytest.fixture(scope="module")
def hf_file(hf_model, tmp_path_factory):
    """The model's `transformer` state dict, as the Hub's model.safetensors files store it."""
    path = tmp_path_factory.mktemp("hf") / "model.safetensors"
    sd = {k: v.detach().contiguous().clone() for k, v in hf_model.transformer.state_dict().items()}
    save_file(sd, str(path))
    hf_model.config.to_json_file(str(path.with_name("config.json")))  # the head count lives only there
    return path


@pytest.fixture
def reference():
    install_exercises_mapping(reference_mapping())
    import exercises.gpt2_weights
    import exercises.gpt_model

    return exercises.gpt_model, exercises.gpt2_weights


def our_cfg():
    return {"vocab_size": HF_CFG["vocab_size"], "context_length": HF_CFG["n_positions"], "emb_dim": HF_CFG["n_embd"],
            "n_heads": HF_CFG["n_head"], "n_layers": HF_CFG["n_layer"], "drop_rate": 0.0, "qkv_bias": True}


def inputs():
    g = torch.Generator().manual_seed(1)
    return [torch.randint(0, 50257, shape, generator=g) for shape in [(1, 1), (2, 7), (3, 64), (1, 33)]]


def test_reference_loader_matches_transformers_logits(hf_model, hf_file, reference):
    gpt_model, gpt2_weights = reference
    from safetensors.torch import load_file

    ours = gpt_model.GPTModel(our_cfg())
    gpt2_weights.load_weights_into_gpt(ours, load_file(str(hf_file)))
    ours.eval()
    with torch.no_grad():
        for ids in inputs():
            diff = (ours(ids) - hf_model(ids).logits).abs().max().item()
            assert diff < 1e-4, f"ids {tuple(ids.shape)}: largest logit difference {diff:.3g}"


def test_frugal_run_loader_matches_and_reads_the_config_from_the_file(hf_model, hf_file, reference):
    gpt_model, gpt2_weights = reference
    sd = models.SafetensorsStateDict(hf_file)
    cfg = models.config_from_state_dict(sd, drop_rate=0.0)
    assert cfg == our_cfg()
    ours = models.build_uninitialized(gpt_model.GPTModel, cfg)
    gpt2_weights.load_weights_into_gpt(ours, sd)
    ours.eval()
    with torch.no_grad():
        for ids in inputs():
            assert (ours(ids) - hf_model(ids).logits).abs().max().item() < 1e-4


def test_build_uninitialized_skips_only_parameter_initializers(reference):
    gpt_model, _ = reference
    cfg = dict(our_cfg(), vocab_size=97)
    m = models.build_uninitialized(gpt_model.GPTModel, cfg)
    mask = m.trf_blocks[0].att.mask
    assert torch.equal(mask, torch.triu(torch.ones_like(mask, dtype=torch.bool), diagonal=1)), \
        "buffers must be built as usual"
    assert sorted(n for n, _ in m.named_parameters()) == sorted(n for n, _ in gpt_model.GPTModel(cfg).named_parameters())


def test_greedy_generation_matches_transformers_generate(hf_model, hf_file, reference):
    gpt_model, gpt2_weights = reference
    from exercises.decoding import generate

    ours = models.build_uninitialized(gpt_model.GPTModel, our_cfg())
    gpt2_weights.load_weights_into_gpt(ours, models.SafetensorsStateDict(hf_file))
    ours.eval()
    prompt = torch.tensor([[464, 1310, 286, 262, 2003]])
    mine = generate(ours, prompt, max_new_tokens=10, context_size=HF_CFG["n_positions"])
    theirs = hf_model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=10, do_sample=False,
                               pad_token_id=50256, eos_token_id=None)
    assert mine.tolist() == theirs.tolist()


def test_tutor_run_generate_with_a_safetensors_file(hf_model, hf_file, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from tutor.cli import app
    from tutor.data.bpe import gpt2_encoding

    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(app, ["run", "generate", "--weights", str(hf_file), "--prompt", "The keeper lit the",
                                 "--temperature", "0", "--max-new-tokens", "10", "--reference", "--events",
                                 "--device", "cpu"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    events = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    start, done = events[0], events[-1]
    assert start["sanity_perplexity"] > models.SANITY_LIMIT  # random weights: the figure says so …
    assert any("Sanity check failed" in n for n in start["notices"])  # … and a local file is still run
    tok = gpt2_encoding()
    prompt = torch.tensor([tok.encode("The keeper lit the")])
    theirs = hf_model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=10, do_sample=False,
                               pad_token_id=50256, eos_token_id=None)
    assert done["text"] == tok.decode(theirs[0, prompt.shape[1]:].tolist()) and done["tokens"] == 10


def test_sanity_message_stops_nonsense_and_names_the_gpt2_medium_issue():
    ok, line = models.sanity_message("gpt2-small", 23.4)
    assert ok and "23.4" in line
    ok, line = models.sanity_message("gpt2-medium", 4567.0)
    assert not ok and "4,567" in line and "gpt2-medium" in line and "misbehave" in line
    ok, line = models.sanity_message("gpt2-large", float("inf"))
    assert not ok and "tutor grade gpt2_weights" in line


def test_device_probe_warns_when_logits_differ(reference):
    gpt_model, _ = reference
    m = gpt_model.GPTModel(dict(our_cfg(), vocab_size=97))
    assert models.compare_devices(m, "cpu") is None  # the same device agrees with itself

    def wrong_on_the_other_device(model, device, calls=[]):
        calls.append(device)
        out = models._mps_probe_logits(model, "cpu")
        return out if len(calls) == 1 else out + 1.0  # the second call stands in for a broken MPS

    warning = models.compare_devices(m, "cpu", probe=wrong_on_the_other_device)
    assert warning and "differ from the CPU's" in warning and "--device cpu" in warning


def test_generate_shows_the_device_warning(hf_file, tmp_path, monkeypatch):
    from tutor.runs import generate as gen
    from tutor.runs.events import Recorder

    monkeypatch.setattr(gen, "device_warning", lambda model, device: "Warning: forced for the test")
    rec = Recorder()
    gen.generate_text(gen.GenerateConfig(prompt="Hi", weights=str(hf_file), max_new_tokens=2, temperature=0.0,
                                         device="cpu", use_reference=True), rec)
    assert "Warning: forced for the test" in rec.of("start")[0]["notices"]


def _pretrain_from(init, tmp_path, name, out=True):
    """One step from `init`, in `tmp_path / name` (`out=False`: in the workspace's default run folder); the
    start event, the checkpoint's parameters, the step-0 evaluation's event and the result."""
    from tutor.runs.pretrain import PretrainConfig, pretrain
    from tutor.workspace import init_workspace

    ws = init_workspace(tmp_path / f"ws-{name}")
    events = []
    # lr 1e-12: one AdamW step moves no weight by more than ~1e-12, so the checkpoint shows what was loaded
    cfg = PretrainConfig(data="builtin", config="tiny", max_steps=1, batch_size=2, eval_iter=1, lr=1e-12,
                         weight_decay=0.0, sample_tokens=0, device="cpu", out=tmp_path / name if out else None,
                         workspace=ws, use_reference=True, init=init)
    result = pretrain(cfg, events.append)
    start = next(e for e in events if e["event"] == "start")
    evals = [e for e in events if e["event"] == "eval"]
    assert evals[0]["step"] == 0 and all("init_check" not in e for e in evals[1:]), evals
    return start, ckpt_parameters(result.checkpoint), evals[0], result


def _random_weights_flagged(first_eval, result) -> dict:
    """The step-0 check of the loaded (random) weights: their own validation loss, flagged, kept in metrics.json."""
    import math

    check = first_eval["init_check"]
    assert check["val_loss"] == first_eval["val_loss"], first_eval
    assert check["perplexity"] == pytest.approx(math.exp(first_eval["val_loss"]), rel=1e-9), check
    assert not check["ok"] and check["warning"], check  # random weights: as bad as an untrained model
    assert json.loads(result.metrics.read_text())["init_check"] == check
    return check


def ckpt_parameters(path):
    from tutor.runs import checkpoint as ckpt

    return ckpt.load_checkpoint(path)["model"]


def test_pretrain_init_from_a_gpt2_safetensors_file_then_from_its_checkpoint(hf_model, hf_file, tmp_path):
    from tutor.runs.registry import scan_runs

    start, params, first_eval, result = _pretrain_from(str(hf_file), tmp_path, "from-gpt2", out=False)
    assert start["model"] == {**our_cfg(), "drop_rate": 0.1}  # the size comes from the file, not --config tiny
    assert start["init"] and str(hf_file) in start["init"]
    hf = hf_model.transformer.state_dict()
    E = HF_CFG["n_embd"]
    expected = {"tok_emb.weight": hf["wte.weight"], "pos_emb.weight": hf["wpe.weight"],
                "trf_blocks.1.att.W_key.weight": hf["h.1.attn.c_attn.weight"][:, E:2 * E].T,
                "trf_blocks.2.ff.layers.2.weight": hf["h.2.mlp.c_proj.weight"].T,
                "trf_blocks.0.norm2.shift": hf["h.0.ln_2.bias"], "final_norm.scale": hf["ln_f.weight"]}
    for name, value in expected.items():
        torch.testing.assert_close(params[name], value, atol=1e-6, rtol=0, msg=name)

    check = _random_weights_flagged(first_eval, result)
    assert "this file does not hold trained GPT-2 weights" in check["warning"], check  # --reference's loader
    runs_dir = tmp_path / "ws-from-gpt2" / ".tutor" / "runs"
    assert result.out.parent == runs_dir and result.out.name.startswith("pretrain-from-model-2"), result.out
    assert start["name"] == "from model" and start["config"] == "tiny", start  # the start line names the weights
    assert [(r.name, r.kind) for r in scan_runs(runs_dir).runs] == [(result.out.name, "pretrain")]

    again, params2, first_eval, result2 = _pretrain_from(str(result.checkpoint), tmp_path, "from-ckpt")
    assert again["model"] == start["model"] and result2.out == tmp_path / "from-ckpt"  # --out wins over the name
    for name, value in params.items():
        torch.testing.assert_close(params2[name], value, atol=1e-6, rtol=0, msg=name)
    check = _random_weights_flagged(first_eval, result2)
    assert f"validation loss {result.val_loss:.3f}; an untrained" in check["line"], check  # its run's last one


def test_pretrain_init_and_resume_do_not_mix(hf_file, tmp_path):
    from tutor.runs.common import RunError
    from tutor.runs.pretrain import PretrainConfig, pretrain
    from tutor.workspace import init_workspace

    ws = init_workspace(tmp_path / "ws")
    _pretrain_from(str(hf_file), tmp_path, "first")
    cfg = PretrainConfig(resume=tmp_path / "first", init=str(hf_file), device="cpu", workspace=ws, use_reference=True)
    with pytest.raises(RunError, match="only one of them"):
        pretrain(cfg)
