"""Export to Hugging Face and GGUF, and import back (tutor.export), on tiny reference GPTs with random weights.

No network: transformers loads the exported folder offline, the gguf package reads the file back.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tutor.exercise_imports import install_exercises_mapping, reference_mapping
from tutor.export import hf
from tutor.export.gguf_file import export_gguf, gguf_tensors, modelfile
from tutor.runs import checkpoint as ckpt

TEXT = "Every effort moves you, naïvely — 42 times!"


def tiny_cfg(qkv_bias: bool) -> dict:
    return {"vocab_size": 50257, "context_length": 16, "emb_dim": 32, "n_heads": 4, "n_layers": 2,
            "drop_rate": 0.1, "qkv_bias": qkv_bias}


def reference_model(cfg: dict, tied: bool = False, seed: int = 0):
    install_exercises_mapping(reference_mapping())
    from exercises.gpt_model import GPTModel

    torch.manual_seed(seed)
    model = GPTModel(cfg).eval()
    with torch.no_grad():  # LayerNorms start at 1/0 and biases vary little: randomize them, so a swap shows
        for name, p in model.named_parameters():
            if p.ndim == 1:
                p.copy_(torch.randn_like(p) * 0.5 + (1.0 if name.endswith("scale") else 0.0))
        if tied:
            model.out_head.weight.copy_(model.tok_emb.weight)
    return model


@pytest.fixture(scope="module", params=[(False, False), (True, True)], ids=["untied-no-qkv-bias", "tied-qkv-bias"])
def exported(request, tmp_path_factory):
    qkv_bias, tied = request.param
    cfg = tiny_cfg(qkv_bias)
    model = reference_model(cfg, tied=tied)
    out = tmp_path_factory.mktemp("hf")
    files = hf.export_hf(ckpt.parameters(model), cfg, out)
    return model, cfg, tied, out, files


def test_hf_folder_loads_in_transformers_with_the_same_logits_and_greedy_tokens(exported, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer, GPT2LMHeadModel

    from exercises.gpt_model import generate_text_simple
    from tutor.data.bpe import gpt2_encoding

    model, cfg, tied, out, files = exported
    assert {f.name for f in files} >= {"config.json", "model.safetensors", "vocab.json", "merges.txt"}
    config = json.loads((out / "config.json").read_text())
    assert (config["n_positions"], config["tie_word_embeddings"], config["tutor_qkv_bias"]) == (16, tied,
                                                                                                cfg["qkv_bias"])
    theirs = GPT2LMHeadModel.from_pretrained(out).eval()
    assert (theirs.lm_head.weight.data_ptr() == theirs.transformer.wte.weight.data_ptr()) == tied
    tokenizer = AutoTokenizer.from_pretrained(out)
    ids = gpt2_encoding().encode(TEXT)
    assert tokenizer.encode(TEXT) == ids and tokenizer.decode(ids) == TEXT
    assert tokenizer.eos_token_id == 50256

    idx = torch.tensor([ids[:12], ids[-12:]])
    with torch.no_grad():
        diff = (model(idx) - theirs(idx).logits).abs().max().item()
    assert diff < 1e-4

    prompt = idx[:, :5]
    ours = generate_text_simple(model, prompt, max_new_tokens=10, context_size=cfg["context_length"])
    from transformers import GenerationConfig

    greedy = GenerationConfig(max_new_tokens=10, do_sample=False, eos_token_id=None, pad_token_id=50256)
    with torch.no_grad():
        hf_tokens = theirs.generate(prompt, attention_mask=torch.ones_like(prompt), generation_config=greedy)
    assert torch.equal(ours, hf_tokens)


def test_import_gives_back_identical_parameters_and_config(exported):
    model, cfg, tied, out, _ = exported
    params, back_cfg = hf.import_hf(out)
    mine = ckpt.parameters(model)
    assert back_cfg == cfg
    assert sorted(params) == sorted(mine)
    for name, p in mine.items():
        assert torch.equal(params[name], p), name
    # and it loads into a fresh GPTModel, as `tutor run generate` does
    from exercises.gpt_model import GPTModel

    fresh = GPTModel(back_cfg)
    ckpt.load_parameters(fresh, params)


def test_import_of_a_folder_saved_by_transformers_itself(exported, tmp_path):
    """A model saved by `save_pretrained` (as a learner fine-tuning elsewhere would) imports to the same logits."""
    from transformers import GPT2LMHeadModel

    model, cfg, tied, out, _ = exported
    GPT2LMHeadModel.from_pretrained(out).save_pretrained(tmp_path)
    params, back_cfg = hf.import_hf(tmp_path)
    from exercises.gpt_model import GPTModel

    again = GPTModel(back_cfg).eval()
    ckpt.load_parameters(again, params)
    idx = torch.tensor([[1, 2, 3, 50256, 4000]])
    with torch.no_grad():
        assert torch.equal(again(idx), model(idx))


def test_hf_mapping_puts_each_weight_in_its_place():
    """Against HF's own layout, by hand: a Conv1D weight is (in, out) and c_attn is [q | k | v] by columns."""
    cfg = tiny_cfg(True)
    params = ckpt.parameters(reference_model(cfg))
    state, tied = hf.to_hf_state_dict(params, cfg)
    assert not tied and torch.equal(state["lm_head.weight"], params["out_head.weight"])
    qkv = state["transformer.h.1.attn.c_attn.weight"]
    assert qkv.shape == (32, 96)
    assert torch.equal(qkv[:, 32:64], params["trf_blocks.1.att.W_key.weight"].t())
    assert torch.equal(state["transformer.h.1.attn.c_attn.bias"][64:], params["trf_blocks.1.att.W_value.bias"])
    assert torch.equal(state["transformer.h.0.mlp.c_fc.weight"], params["trf_blocks.0.ff.layers.0.weight"].t())
    assert torch.equal(state["transformer.h.0.ln_2.bias"], params["trf_blocks.0.norm2.shift"])


def test_export_refuses_models_gpt2_cannot_hold(tmp_path):
    cfg = tiny_cfg(False)
    params = ckpt.parameters(reference_model(cfg))
    with pytest.raises(hf.ExportError, match="no place for: extra.weight"):
        hf.export_hf({**params, "extra.weight": torch.zeros(2)}, cfg, tmp_path)
    missing = dict(params)
    del missing["trf_blocks.1.ff.layers.2.bias"]
    with pytest.raises(hf.ExportError, match="trf_blocks.1.ff.layers.2.bias"):
        hf.export_hf(missing, cfg, tmp_path)
    with pytest.raises(hf.ExportError, match="a classifier"):
        hf.export_hf({**params, "out_head.weight": torch.zeros(2, 32)}, cfg, tmp_path)
    with pytest.raises(hf.ExportError, match="smaller than GPT-2's tokenizer"):
        hf.export_hf(params, {**cfg, "vocab_size": 100}, tmp_path)
    with pytest.raises(hf.ExportError, match="no config.json"):
        hf.import_hf(tmp_path / "nowhere")


@pytest.mark.parametrize("dtype,tied", [("f32", False), ("f16", True), ("q8_0", False)],
                         ids=["f32-untied", "f16-tied", "q8_0-untied"])  # GGUFReader takes ~10 s per file
def test_gguf_reads_back_with_every_tensor_in_place(tmp_path, dtype, tied):
    import gguf

    cfg = tiny_cfg(not tied)
    model = reference_model(cfg, tied=tied)
    params = ckpt.parameters(model)
    path = export_gguf(params, cfg, tmp_path / "m.gguf", dtype=dtype)
    reader = gguf.GGUFReader(str(path))

    def field(key):
        f = reader.fields[key]
        return f.contents()

    assert field("general.architecture") == "gpt2"
    assert (field("gpt2.context_length"), field("gpt2.embedding_length"), field("gpt2.block_count"),
            field("gpt2.attention.head_count"), field("gpt2.feed_forward_length")) == (16, 32, 2, 4, 128)
    assert field("gpt2.attention.layer_norm_epsilon") == pytest.approx(1e-5)
    assert field("tokenizer.ggml.model") == "gpt2"
    tokens = field("tokenizer.ggml.tokens")
    assert len(tokens) == 50257 and tokens[50256] == "<|endoftext|>" and tokens[15496] == "Hello"
    assert field("tokenizer.ggml.token_type")[50256] == int(gguf.TokenType.CONTROL)
    assert len(field("tokenizer.ggml.merges")) == 50000 and field("tokenizer.ggml.merges")[0] == "Ġ t"
    assert field("tokenizer.ggml.eos_token_id") == 50256

    # independent of gguf_tensors: what llama.cpp's GPT-2 needs, built from the model by hand
    blk = model.trf_blocks[1]
    att = blk.att
    qkv_b = (torch.cat([att.W_query.bias, att.W_key.bias, att.W_value.bias]) if cfg["qkv_bias"]
             else torch.zeros(96))
    by_hand = {"token_embd.weight": model.tok_emb.weight, "position_embd.weight": model.pos_emb.weight,
               "output_norm.bias": model.final_norm.shift,
               "blk.1.attn_qkv.weight": torch.cat([att.W_query.weight, att.W_key.weight, att.W_value.weight]),
               "blk.1.attn_qkv.bias": qkv_b, "blk.1.ffn_down.weight": blk.ff.layers[2].weight,
               "blk.1.ffn_norm.weight": blk.norm2.scale}
    expected = gguf_tensors(params, cfg)
    for name, t in by_hand.items():
        assert np.array_equal(expected[name], t.detach().numpy()), name
    assert ("output.weight" in expected) == (not tied)
    assert len(expected) == 4 + (not tied) + 12 * 2

    Q = gguf.GGMLQuantizationType
    seen = set()
    for t in reader.tensors:
        want = expected[t.name]
        seen.add(t.name)
        assert tuple(int(n) for n in reversed(t.shape)) == want.shape, t.name  # GGUF lists dims innermost first
        data = np.asarray(t.data)
        if t.tensor_type == Q.Q8_0:
            assert dtype == "q8_0" and want.ndim == 2
            data = gguf.quants.dequantize(data, Q.Q8_0)
            blocks = np.abs(want).reshape(*want.shape[:-1], -1, 32).max(-1, keepdims=True)
            step = np.broadcast_to(blocks / 127, (*blocks.shape[:-1], 32)).reshape(want.shape)
            assert np.all(np.abs(data - want) <= step * 0.6 + 1e-6), t.name  # half a step, d in fp16
        elif t.tensor_type == Q.F16:
            assert dtype != "f32" and want.ndim == 2 and t.name != "position_embd.weight"
            assert np.array_equal(data, want.astype(np.float16)), t.name
        else:
            assert t.tensor_type == Q.F32
            assert dtype == "f32" or want.ndim == 1 or t.name == "position_embd.weight"
            assert np.array_equal(data, want), t.name
    assert seen == set(expected)


def test_modelfile_templates():
    alpaca = modelfile("model-f16.gguf", alpaca=True, context_length=256)
    assert alpaca.startswith("FROM ./model-f16.gguf\n") and "num_ctx 256" in alpaca
    assert "### Instruction:\n{{ .Prompt }}\n\n### Response:\n" in alpaca and "Below is an instruction" in alpaca
    raw = modelfile("m.gguf", alpaca=False, context_length=64)
    assert "### Instruction" not in raw and 'TEMPLATE """{{ .Prompt }}"""' in raw


def test_export_modules_import_neither_torch_nor_textual():
    import subprocess
    import sys

    code = ("import tutor.export.hf, tutor.export.gguf_file, tutor.export.commands, tutor.runs.harness, sys\n"
            "print(' '.join(sys.modules))")
    mods = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              timeout=60).stdout.split())
    assert not {"torch", "textual", "gguf", "transformers"} & mods
