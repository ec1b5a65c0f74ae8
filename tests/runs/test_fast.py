"""`--fast` (tutor/runs/fast.py): the probe refuses a learner module that computes something else than its
fused replacement and names it, accepts correct modules written another way, keeps the learner's
parameters and names; a `--fast` pretraining run on the CPU follows the plain run's losses, and its
checkpoint loads into a plain model.

Small on purpose: a `tiny` model, five steps per run, in process.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
import torch.nn as nn

from tutor.exercise_imports import install_exercises_mapping, reference_mapping
from tutor.runs import fast
from tutor.runs.configs import preset

CFG = {**preset("tiny").model, "drop_rate": 0.0}


@pytest.fixture(scope="module")
def ref():
    """The reference modules, importable as `exercises.*` (as in a run with --reference)."""
    install_exercises_mapping(reference_mapping())
    import exercises.gpt_model
    import exercises.layers
    import exercises.multihead_attention

    return exercises


def classes(ref, *extra: tuple[str, type]) -> dict:
    found = {"attention": (ref.multihead_attention.MultiHeadAttention,), "layernorm": (ref.layers.LayerNorm,),
             "gelu": (ref.layers.GELU,)}
    for kind, cls in extra:
        found[kind] += (cls,)
    return found


def model(ref, seed: int = 0):
    torch.manual_seed(seed)
    return ref.gpt_model.GPTModel(dict(CFG))


# -- learner-like modules: three wrong, three right but written differently --------------------------------------
class LayerNormNoEps(nn.Module):
    def __init__(self, emb_dim):
        super().__init__()
        self.scale, self.shift = nn.Parameter(torch.ones(emb_dim)), nn.Parameter(torch.zeros(emb_dim))

    def forward(self, x):
        mean, var = x.mean(-1, keepdim=True), x.var(-1, keepdim=True, unbiased=False)
        return self.scale * (x - mean) / torch.sqrt(var) + self.shift


class LayerNormUnbiased(LayerNormNoEps):
    eps = 1e-5

    def forward(self, x):
        mean, var = x.mean(-1, keepdim=True), x.var(-1, keepdim=True)  # n - 1
        return self.scale * (x - mean) / torch.sqrt(var + self.eps) + self.shift


class LayerNormOtherWay(LayerNormNoEps):
    """Correct: variance as the mean squared deviation, rsqrt, eps kept as self.eps."""

    eps = 1e-5

    def forward(self, x):
        centred = x - x.mean(dim=-1, keepdim=True)
        return centred * torch.rsqrt(centred.pow(2).mean(-1, keepdim=True) + self.eps) * self.scale + self.shift


class GELUErf(nn.Module):
    def forward(self, x):
        return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


class GELUOtherWay(nn.Module):
    def forward(self, x):
        return x * 0.5 * (1.0 + torch.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))


class AttentionWrongScale(nn.Module):
    """Divides the scores by head_dim instead of its square root."""

    def __init__(self, attention, scale_power: float = 1.0):
        super().__init__()
        self.W_query, self.W_key, self.W_value = attention.W_query, attention.W_key, attention.W_value
        self.out_proj, self.dropout = attention.out_proj, nn.Dropout(attention.dropout.p)
        self.heads, self.power = attention.num_heads, scale_power

    def forward(self, x):
        b, t, _ = x.shape
        q, k, v = (w(x).view(b, t, self.heads, -1).transpose(1, 2) for w in (self.W_query, self.W_key, self.W_value))
        scores = torch.einsum("bhqd,bhkd->bhqk", q, k)
        keep = torch.tril(torch.ones(t, t, dtype=torch.bool))
        weights = torch.softmax(scores.masked_fill(~keep, -torch.inf) / q.shape[-1] ** self.power, dim=-1)
        context = self.dropout(weights) @ v
        return self.out_proj(context.transpose(1, 2).reshape(b, t, -1))


class AttentionOtherWay(AttentionWrongScale):
    """Correct: einsum, a lower-triangular mask, the scale applied before masking."""

    def __init__(self, attention):
        super().__init__(attention, scale_power=0.5)


def swap_in(m, kind: str, cls) -> None:
    for block in m.trf_blocks:
        if kind == "layernorm":
            for name in ("norm1", "norm2"):
                new = cls(CFG["emb_dim"])
                new.load_state_dict(getattr(block, name).state_dict())
                setattr(block, name, new)
        elif kind == "gelu":
            block.ff.layers[1] = cls()
        else:
            block.att = cls(block.att)


@pytest.mark.parametrize("kind, cls, fused", [
    ("layernorm", LayerNormNoEps, "F.layer_norm"),
    ("layernorm", LayerNormUnbiased, "F.layer_norm"),
    ("gelu", GELUErf, "F.gelu"),
    ("attention", AttentionWrongScale, "scaled_dot_product_attention"),
])
def test_a_module_that_differs_is_named_and_nothing_is_swapped(ref, kind, cls, fused):
    m = model(ref)
    swap_in(m, kind, cls)
    with pytest.raises(fast.FastError) as raised:
        fast.make_fast(m, CFG, "cpu", classes=classes(ref, (kind, cls)))
    message = str(raised.value)
    assert message.startswith(f"--fast: your {cls.__name__} (test_fast.py) differs from {fused}"), message
    assert "run without --fast" in message and "lessons/0" in message and "\n" not in message, message
    assert not any("_tutor_fast" in mod.__dict__ for mod in m.modules()), "a refused --fast changed the model"


def test_a_missing_eps_shows_as_a_large_difference_on_the_probe(ref):
    m = model(ref)
    swap_in(m, "layernorm", LayerNormNoEps)
    with pytest.raises(fast.FastError, match=r"by \d\.\de[+-]\d\d on a probe batch \(and gives NaN"):
        fast.make_fast(m, CFG, "cpu", classes=classes(ref, ("layernorm", LayerNormNoEps)))


def test_correct_modules_written_another_way_are_accepted(ref):
    m = model(ref)
    for kind, cls in (("layernorm", LayerNormOtherWay), ("gelu", GELUOtherWay), ("attention", AttentionOtherWay)):
        swap_in(m, kind, cls)
    ids = torch.randint(0, CFG["vocab_size"], (2, CFG["context_length"]), generator=torch.Generator().manual_seed(3))
    m.eval()
    with torch.no_grad():
        before = m(ids)
    report = fast.make_fast(m, CFG, "cpu", classes=classes(ref, ("layernorm", LayerNormOtherWay),
                                                            ("gelu", GELUOtherWay), ("attention", AttentionOtherWay)))
    assert sum(report.swapped.values()) == 2 + 2 + 2 * 2 + 1, report.swapped  # att, gelu, norm1/2 per block; final
    with torch.no_grad():
        after = m(ids)
    assert (after - before).abs().max() < 1e-4


def test_fast_keeps_the_learners_parameters_and_names(ref):
    m = model(ref)
    params = {n: p for n, p in m.named_parameters()}
    keys = list(m.state_dict())
    report = fast.make_fast(m, CFG, "cpu")
    assert all(p is params[n] for n, p in m.named_parameters()) and list(m.state_dict()) == keys
    assert {"attention", "layernorm", "gelu"} <= report.largest_diff.keys()
    assert report.largest_diff["attention"] < 1e-5 and report.logits_diff < 1e-4
    fast.remove_fast(m)
    assert not any("forward" in mod.__dict__ for mod in m.modules())


def test_attention_keeps_the_dropout_rate_and_drops_only_in_training(ref):
    torch.manual_seed(0)
    m = ref.gpt_model.GPTModel({**CFG, "drop_rate": 0.5})
    fast.make_fast(m, {**CFG, "drop_rate": 0.5}, "cpu")
    att = m.trf_blocks[0].att
    assert att._tutor_fast == (CFG["n_heads"], 0.5)
    x = torch.randn(2, 8, CFG["emb_dim"])
    att.eval()
    assert torch.equal(att(x), att(x))
    att.train()
    assert not torch.equal(att(x), att(x))


def test_the_padded_head_slices_the_logits_back_to_the_vocabulary(ref):
    m = model(ref)
    targets = fast.find_targets(m, CFG, classes(ref), pad_vocab=True)
    head = [t for t in targets if t.kind == "head"]
    assert head and (CFG["vocab_size"] + head[0].settings[0]) % 64 == 0
    fast.check_modules(head, CFG, "cpu")  # raises if the padded matmul differs
    fast._install(head[0].module, "head", head[0].settings)
    assert m(torch.zeros(1, 3, dtype=torch.long)).shape == (1, 3, CFG["vocab_size"])


def test_switches_by_device():
    cpu = fast.plan_for("cpu")
    assert not (cpu.compile or cpu.tf32 or cpu.pad_vocab or cpu.autocast_bf16)
    assert fast.plan_for("cpu", compile=True).compile
    assert fast.wants_compile(None, True, "cuda") and not fast.wants_compile(False, True, "cuda")
    assert not fast.wants_compile(None, True, "cpu") and not fast.wants_compile(None, False, "cuda")
    assert fast.optimizer_options("cuda", False) == {"fused": True}
    assert fast.optimizer_options("cpu", False) == {}


# -- runs -------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, monkeypatch_module):
    """Five steps of `tiny` (no dropout: the fused attention draws its dropout otherwise) plain and --fast."""
    from tutor.runs import configs
    from tutor.runs.events import Recorder
    from tutor.runs.pretrain import PretrainConfig, pretrain

    monkeypatch_module.setitem(configs.PRESETS, "tiny", replace(preset("tiny"), model=dict(CFG)))
    tmp = tmp_path_factory.mktemp("fast")
    runs = {}
    for name, is_fast in (("plain", False), ("fast", True)):
        events = Recorder()
        result = pretrain(PretrainConfig(config="tiny", data="builtin", max_steps=5, eval_freq=1, eval_iter=1,
                                         sample_tokens=0, device="cpu", seed=11, out=tmp / name,
                                         use_reference=True, fast=is_fast), events)
        runs[name] = result, events
    return runs


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_fast_pretraining_follows_the_plain_losses(two_runs):
    (plain, _), (quick, events) = two_runs["plain"], two_runs["fast"]
    assert quick.step == plain.step == 5
    for key in ("train_loss", "val_loss"):
        a, b = plain.history[key], quick.history[key]
        assert len(a) == len(b) == 6 and max(abs(x - y) for x, y in zip(a, b)) < 1e-4, (key, a, b)
    start = events.of("start")[0]
    assert "F.layer_norm" in start["fast"]["summary"] and "scaled_dot_product_attention" in start["fast"]["summary"]
    assert two_runs["plain"][1].of("start")[0]["fast"] is None


def test_a_fast_checkpoint_loads_into_a_plain_model(ref, two_runs):
    from tutor.runs import checkpoint as ckpt

    plain_model, fast_model = model(ref, 1), model(ref, 2)
    ckpt.load_parameters(plain_model, ckpt.load_checkpoint(two_runs["plain"][0].checkpoint)["model"])
    ckpt.load_parameters(fast_model, ckpt.load_checkpoint(two_runs["fast"][0].checkpoint)["model"])
    ids = torch.randint(0, CFG["vocab_size"], (1, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (plain_model.eval()(ids) - fast_model.eval()(ids)).abs().max() < 1e-3


@pytest.mark.parametrize("run", ["pretrain", "classify", "instruct"])
def test_the_training_runs_offer_fast_and_no_compile(run):
    from tests.test_cli import invoke

    result = invoke("run", run, "--help")
    assert result.exit_code == 0 and "--fast" in result.output and "--no-compile" in result.output, result.output


# -- the CPU: a cheaper dropout mask, and bf16 where the CPU has it ---------------------------------------------
@pytest.mark.parametrize("p", [0.1, 0.5])
def test_the_cheap_dropout_keeps_each_element_with_probability_one_minus_p(p):
    torch.manual_seed(0)
    x = torch.full((1_000_000,), 2.0, requires_grad=True)
    y = fast.cheap_dropout(x, p)
    kept = y != 0
    assert abs(kept.float().mean().item() - (1 - p)) < 0.003  # a million draws: the sd is below 5e-4
    assert torch.allclose(y[kept], torch.tensor(2.0 / (1 - p)))  # inverted dropout: the kept are scaled up
    y.sum().backward()
    assert torch.equal(x.grad != 0, kept) and torch.allclose(x.grad[kept], torch.tensor(1 / (1 - p)))
    torch.manual_seed(0)
    assert torch.equal(fast.cheap_dropout(x.detach(), p) != 0, kept), "the same seed gave another mask"
    assert fast.cheap_dropout(x, p, training=False) is x and fast.cheap_dropout(x, 0.0) is x


def test_the_cpu_attention_with_dropout_is_scaled_dot_product_attention_with_the_mask(monkeypatch):
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(5)
    q, k, v = (torch.randn(2, 3, 7, 4, generator=g) for _ in range(3))
    monkeypatch.setattr(fast, "_dropout_mask", lambda shape, p, device: torch.ones(shape, dtype=torch.bool))
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True) / 0.8  # all kept: scaled by 1 / (1 - p)
    assert torch.allclose(fast._attention_with_dropout(q, k, v, 0.2), expected, atol=1e-6)
    mask = torch.rand(2, 3, 7, 7, generator=g) > 0.2
    monkeypatch.setattr(fast, "_dropout_mask", lambda shape, p, device: mask)
    weights = torch.softmax((q @ k.transpose(-2, -1) / 2).masked_fill(torch.ones(7, 7).triu(1).bool(), -torch.inf), -1)
    assert torch.allclose(fast._attention_with_dropout(q, k, v, 0.2), (weights * mask / 0.8) @ v, atol=1e-6)


def test_on_the_cpu_torchs_dropout_modules_are_swapped_but_not_the_attentions_own(ref):
    torch.manual_seed(0)
    cfg = {**CFG, "drop_rate": 0.1}
    m = ref.gpt_model.GPTModel(dict(cfg))
    report = fast.make_fast(m, cfg, "cpu", classes=classes(ref))
    swapped = [n for n, mod in m.named_modules() if isinstance(mod, nn.Dropout) and "_tutor_fast" in mod.__dict__]
    assert swapped and not any(".att." in n for n in swapped), swapped
    assert report.swapped["torch's Dropout → a dropout mask from random integers"] == len(swapped)
    assert all(t.kind != "dropout" for t in fast.find_targets(model(ref), CFG, classes(ref), cheap_dropout=True))
    assert not any(t.kind == "dropout" for t in fast.find_targets(m, cfg, classes(ref), cheap_dropout=False))


def test_cpu_bf16_follows_the_variable_else_the_measured_speedup(monkeypatch):
    assert fast.cpu_bf16({"TUTOR_CPU_BF16": "0"}) == (False, "TUTOR_CPU_BF16=0")
    assert fast.cpu_bf16({"TUTOR_CPU_BF16": "1"}) == (True, "TUTOR_CPU_BF16=1")
    assert fast.measured_cpu_bf16_speedup() > 0
    for speedup, on in ((0.6, False), (1.4, False), (2.5, True)):
        monkeypatch.setattr(fast, "measured_cpu_bf16_speedup", lambda s=speedup: s)
        assert fast.cpu_bf16({}) == (on, f"bf16 matmul measured {speedup:.1f}x float32 on this CPU")


def test_with_cpu_bf16_the_model_runs_under_autocast_and_returns_float32_logits(ref, monkeypatch):
    monkeypatch.setenv("TUTOR_CPU_BF16", "1")
    m = model(ref).eval()
    ids = torch.randint(0, CFG["vocab_size"], (2, 16), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        plain = m(ids)
    report = fast.make_fast(m, CFG, "cpu")
    assert report.plan.autocast_bf16 and "bf16 autocast (TUTOR_CPU_BF16=1)" in report.describe()
    with torch.no_grad():
        quick = m(ids)
    assert quick.dtype == torch.float32
    diff = (quick - plain).abs().max().item()
    assert 1e-5 < diff < fast.BF16_TOL * plain.abs().max().item(), diff  # bf16's rounding, not float32's
    fast.remove_fast(m)
    assert "forward" not in m.__dict__
    with torch.no_grad():
        assert torch.equal(m(ids), plain)


def test_with_cpu_bf16_a_module_that_differs_is_still_refused(ref, monkeypatch):
    monkeypatch.setenv("TUTOR_CPU_BF16", "1")
    m = model(ref)
    swap_in(m, "gelu", GELUErf)
    with pytest.raises(fast.FastError, match="your GELUErf"):
        fast.make_fast(m, CFG, "cpu", classes=classes(ref, ("gelu", GELUErf)))
    assert "forward" not in m.__dict__


def test_a_bf16_fast_run_on_the_cpu_trains_like_the_plain_one(two_runs, tmp_path, monkeypatch):
    from tutor.runs.events import Recorder
    from tutor.runs.pretrain import PretrainConfig, pretrain

    monkeypatch.setenv("TUTOR_CPU_BF16", "1")
    events = Recorder()
    result = pretrain(PretrainConfig(config="tiny", data="builtin", max_steps=5, eval_freq=1, eval_iter=1,
                                     sample_tokens=4, device="cpu", seed=11, out=tmp_path / "bf16",
                                     use_reference=True, fast=True), events)
    plain = two_runs["plain"][0].history["train_loss"]
    assert max(abs(x - y) for x, y in zip(plain, result.history["train_loss"])) < 0.05, result.history
    assert "bf16 autocast" in events.of("start")[0]["fast"]["summary"]
    assert events.of("sample"), "the greedy sample under bf16 failed"
