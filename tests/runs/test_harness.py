"""`tutor run eval`'s glue to lm-evaluation-harness, with a stand-in `lm_eval` module (the real harness is an
optional extra that CI does not install, and its task data needs the network)."""

from __future__ import annotations

import sys
import types

import pytest

from tutor.runs import checkpoint as ckpt
from tutor.runs import harness
from tutor.runs.common import RunError
from tutor.runs.events import Recorder


@pytest.fixture
def run_dir(tmp_path):
    import torch

    from tests.test_export import reference_model, tiny_cfg

    cfg = tiny_cfg(False)
    ckpt.save_checkpoint(tmp_path / "run" / ckpt.FILENAME, {"run": "pretrain", "model": ckpt.parameters(
        reference_model(cfg)), "model_cfg": cfg})
    torch.manual_seed(0)
    return tmp_path / "run"


def fake_harness(monkeypatch, simple_evaluate):
    lm_eval = types.ModuleType("lm_eval")
    lm_eval.simple_evaluate = simple_evaluate
    utils = types.ModuleType("lm_eval.utils")
    utils.make_table = lambda results: "|Tasks|acc|\n|" + "|".join(
        f"{t}|{m['acc,none']}" for t, m in results["results"].items()) + "|"
    lm_eval.utils = utils
    monkeypatch.setitem(sys.modules, "lm_eval", lm_eval)
    monkeypatch.setitem(sys.modules, "lm_eval.utils", utils)
    monkeypatch.setattr(harness, "harness_installed", lambda: True)


def test_eval_hands_the_harness_a_folder_transformers_loads(run_dir, monkeypatch):
    seen = {}

    def simple_evaluate(model, model_args, tasks, limit, device, batch_size):
        from transformers import GPT2LMHeadModel

        folder = dict(kv.split("=", 1) for kv in model_args.split(","))["pretrained"]
        seen.update(model=model, tasks=tasks, limit=limit, device=device,
                    n_layer=GPT2LMHeadModel.from_pretrained(folder).config.n_layer)
        return {"results": {"hellaswag": {"acc,none": 0.25}}}

    fake_harness(monkeypatch, simple_evaluate)
    events = Recorder()
    results = harness.run_eval(harness.EvalConfig(run_dir, ("hellaswag",), limit=3, device="cpu"), events)
    assert seen == {"model": "hf", "tasks": ["hellaswag"], "limit": 3, "device": "cpu", "n_layer": 2}
    assert results["results"]["hellaswag"]["acc,none"] == 0.25
    assert events.of("done")[0]["table"] == "|Tasks|acc|\n|hellaswag|0.25|"


def test_eval_offline_says_so_plainly(run_dir, monkeypatch):
    def simple_evaluate(**kwargs):
        raise ConnectionError("Couldn't reach 'Rowan/hellaswag' on the Hub (LocalEntryNotFoundError)")

    fake_harness(monkeypatch, simple_evaluate)
    with pytest.raises(RunError, match="downloads each task's data set on first use"):
        harness.run_eval(harness.EvalConfig(run_dir, ("hellaswag",), device="cpu"))


def test_eval_without_the_harness(run_dir, monkeypatch):
    monkeypatch.setattr(harness, "harness_installed", lambda: False)
    with pytest.raises(RunError, match=r"pip install 'gpt-tutor\[eval\]'"):
        harness.run_eval(harness.EvalConfig(run_dir))
