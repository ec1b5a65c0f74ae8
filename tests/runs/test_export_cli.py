"""`tutor export` (both formats), `tutor import` and `tutor run eval` on a real `tiny` pretrain run, as child
processes the way a learner types them."""

from __future__ import annotations

import importlib.util
import json
import subprocess

import pytest
import torch

from tests.runs.test_pretrain_cli import child_env, parse_events, tutor_cmd
from tutor.runs import checkpoint as ckpt


def run(tmp_path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(tutor_cmd(*args), capture_output=True, text=True, timeout=timeout, env=child_env(tmp_path))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    out = tmp / "run"
    proc = run(tmp, "run", "pretrain", "--config", "tiny", "--data", "builtin", "--max-steps", "2", "--eval-freq",
               "1", "--eval-iter", "1", "--sample-tokens", "0", "--device", "cpu", "--reference", "--out", str(out),
               "--events")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert parse_events(proc.stdout)[-1]["event"] == "done"
    return tmp, out


def reference_model(saved: dict):
    from tutor.exercise_imports import install_exercises_mapping, reference_mapping

    install_exercises_mapping(reference_mapping())
    from exercises.gpt_model import GPTModel

    model = GPTModel(saved["model_cfg"]).eval()
    ckpt.load_parameters(model, saved["model"])
    return model


def test_export_hf_then_import_round_trips_through_the_cli(tiny_run, monkeypatch):
    tmp, out = tiny_run
    proc = run(tmp, "export", str(out), "--format", "hf", "--out", str(tmp / "hf"))
    assert proc.returncode == 0, proc.stderr
    assert "Exported" in proc.stdout and "from_pretrained" in proc.stdout
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer, GPT2LMHeadModel

    saved = ckpt.load_checkpoint(out)
    ours = reference_model(saved)
    theirs = GPT2LMHeadModel.from_pretrained(tmp / "hf").eval()
    ids = AutoTokenizer.from_pretrained(tmp / "hf")("Once upon a time", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert (ours(ids) - theirs(ids).logits).abs().max().item() < 1e-4
    assert json.loads((tmp / "hf" / "config.json").read_text())["tie_word_embeddings"] is False

    proc = run(tmp, "import", str(tmp / "hf"), "--out", str(tmp / "imported"))
    assert proc.returncode == 0, proc.stderr
    back = ckpt.load_checkpoint(tmp / "imported")
    assert back["model_cfg"] == saved["model_cfg"]
    assert sorted(back["model"]) == sorted(saved["model"])
    assert all(torch.equal(back["model"][k], v) for k, v in saved["model"].items())
    proc = run(tmp, "run", "generate", "--weights", str(tmp / "imported"), "--prompt", "Once", "--temperature",
               "0", "--max-new-tokens", "3", "--reference", "--device", "cpu", "--events")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert parse_events(proc.stdout)[-1]["event"] == "done"


def test_export_gguf_writes_the_file_and_a_modelfile(tiny_run):
    import gguf

    tmp, out = tiny_run
    proc = run(tmp, "export", str(out), "--format", "gguf", "--dtype", "q8_0")
    assert proc.returncode == 0, proc.stderr
    folder = out / "gguf"  # the default: beside the checkpoint
    assert "ollama create my-gpt -f Modelfile" in proc.stdout
    modelfile = (folder / "Modelfile").read_text()
    assert modelfile.startswith("FROM ./model-q8_0.gguf") and "### Instruction" not in modelfile  # a base model
    reader = gguf.GGUFReader(str(folder / "model-q8_0.gguf"))
    saved = ckpt.load_checkpoint(out)
    n_layers = saved["model_cfg"]["n_layers"]
    assert len(reader.tensors) == 5 + 12 * n_layers
    by_name = {t.name: t for t in reader.tensors}
    assert by_name["blk.0.attn_qkv.weight"].tensor_type == gguf.GGMLQuantizationType.Q8_0
    bias = by_name["blk.1.ffn_down.bias"]
    assert bias.tensor_type == gguf.GGMLQuantizationType.F32
    assert torch.equal(torch.from_numpy(bias.data.copy()), saved["model"]["trf_blocks.1.ff.layers.2.bias"])


def test_export_errors_are_plain_sentences(tiny_run):
    tmp, out = tiny_run
    proc = run(tmp, "export", str(out), "--format", "onnx")
    assert proc.returncode == 1 and "--format onnx: choose one of hf, gguf" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run(tmp, "export", str(tmp / "nothing-here"), "--format", "hf")
    assert proc.returncode == 1 and "No checkpoint at" in proc.stderr
    proc = run(tmp, "import", str(out))  # a run folder, not a Hugging Face one
    assert proc.returncode == 1 and "no config.json" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.skipif(importlib.util.find_spec("lm_eval") is not None, reason="lm-evaluation-harness is installed")
def test_eval_without_the_harness_says_how_to_install_it(tiny_run):
    tmp, out = tiny_run
    proc = run(tmp, "run", "eval", str(out), "--tasks", "hellaswag", "--limit", "2")
    assert proc.returncode == 1
    assert "lm-evaluation-harness is not installed" in proc.stderr and "gpt-tutor[eval]" in proc.stderr
    assert "Traceback" not in proc.stderr
