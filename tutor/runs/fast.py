"""`--fast`: the learner's own GPT with fused kernels swapped in, after a probe shows they compute the same.

The learner's model keeps its structure, its parameters (the very same tensors) and their names, so a
checkpoint of a `--fast` run is an ordinary checkpoint that a plain run loads. What changes is how three
kinds of the learner's modules compute their output, found by type among the learner's own classes
(`exercises.multihead_attention.MultiHeadAttention`, `exercises.layers.LayerNorm` and `GELU`) and by the
parameter names the curriculum fixes (`W_query`, `W_key`, `W_value`, `out_proj`; `scale`, `shift`):

- attention: `F.scaled_dot_product_attention(is_causal=True)` (the flash kernel on CUDA) on the learner's
  own query/key/value projections and `out_proj`, with their dropout rate; the causal mask is made on the fly;
- LayerNorm: `F.layer_norm` with the learner's `scale`, `shift` and `eps`;
- GELU: `F.gelu(approximate="tanh")`;
- the output head: its matmul padded to a multiple of 64 rows, the logits sliced back to the real
  vocabulary (CUDA only: it is for the GPU's matmul tiles; elsewhere it would only add a copy of the
  head's weight per step);
- on the CPU, torch's own `nn.Dropout` modules draw their mask from 32-bit random integers instead of
  `bernoulli_` (the same keep probability, at about half the cost), and so does the attention's dropout:
  with dropout in training, `scaled_dot_product_attention` has no fused CPU kernel and would compute the
  same softmax(QK^T/sqrt(d))V math as we do, only with the slower mask;
- on a CPU whose bf16 matmul is measured at least 1.5x faster than its float32 one (AVX512-BF16, AMX, ...),
  the model's forward runs under bf16 autocast and hands back float32 logits (`TUTOR_CPU_BF16=0` or `1`
  decides instead of the measurement).

Before anything is swapped, each learner module and its replacement run on a probe batch in eval() mode
and must agree within float32 tolerance; then the whole model's logits must agree (within bfloat16
tolerance where autocast is on). A module that differs stops the run with a message naming it. The
run-level switches (TF32 matmuls, fused AdamW, pinned loader memory, torch.compile) are here too; bf16
autocast on CUDA is `tutor.runs.common.autocast`, which every run already uses; on the CPU it is the
model's own forward (above), so that it holds wherever the run calls the model.

Nothing here imports a UI; torch is imported inside the functions that need it.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import time
import types
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from tutor.runs.common import RunError

PROBE_SEED = 1234
PAD_MULTIPLE = 64
# Elementwise |fast - plain| <= ATOL + RTOL * |plain|. Float32 kernels that sum in another order differ by
# about 1e-6 here; the mistakes the probe must catch (a missing eps on a low-variance row, unbiased
# variance, an erf GELU, a wrong attention scale) differ by 1e-4 or (much) more.
MODULE_TOL = (1e-5, 1e-4)  # (atol, rtol) for one module, in float32
MODEL_TOL = (1e-4, 1e-3)  # for the whole model's logits in float32: rounding compounds over the blocks
BF16_TOL = 5e-2  # for the logits under bf16 autocast: |fast - plain| <= BF16_TOL * max|plain|
CPU_BF16_ENV = "TUTOR_CPU_BF16"  # "1": bf16 autocast with --fast on the CPU; "0": never; unset: measured
CPU_BF16_MIN_SPEEDUP = 1.5  # native bf16 matmuls measure 2-3x float32; emulated ones are slower than float32

_ATTENTION, _LAYERNORM, _GELU, _HEAD, _DROPOUT = "attention", "layernorm", "gelu", "head", "dropout"
_AUTOCAST = "autocast"  # the whole model's forward under bf16 autocast (CPU)
_FUSED_NAME = {_ATTENTION: "scaled_dot_product_attention", _LAYERNORM: "F.layer_norm",
               _GELU: 'F.gelu(approximate="tanh")', _HEAD: "a padded output matmul",
               _DROPOUT: "a dropout mask from random integers"}
_LESSON = {  # where the learner reads what their module must compute
    _ATTENTION: "lessons/06-multihead-attention.md#attention-in-every-head-at-once",
    _LAYERNORM: "lessons/07-layers.md#biased-variance-and-eps",
    _GELU: "lessons/07-layers.md#gelu",
    _HEAD: "lessons/09-gpt-model.md#the-output-head",
}
_LEARNER_CLASSES = (  # (kind, module of exercises, class name)
    (_ATTENTION, "multihead_attention", "MultiHeadAttention"),
    (_LAYERNORM, "layers", "LayerNorm"),
    (_GELU, "layers", "GELU"),
)


class FastError(RunError):
    """`--fast` refuses: a learner module computes something else than its fused replacement."""


@dataclass(frozen=True)
class FastPlan:
    """Which run-level switches `--fast` turns on for a device (see `plan_for`)."""

    device: str
    tf32: bool
    autocast_bf16: bool
    fused_adamw: bool
    pin_memory: bool
    pad_vocab: bool
    compile: bool
    bf16_why: str = ""  # why bf16 autocast is on or off on a CPU, for the report
    cheap_dropout: bool = False  # CPU: dropout masks from random integers (see the module's docstring)


@dataclass
class FastReport:
    """What `--fast` did, for the run's start event and metrics."""

    plan: FastPlan
    swapped: dict[str, int] = field(default_factory=dict)  # "your LayerNorm → F.layer_norm": 5
    largest_diff: dict[str, float] = field(default_factory=dict)  # per kind, on the probe batch
    logits_diff: float = 0.0

    def lines(self) -> list[str]:
        p = self.plan
        out = [f"{name} ({n}×)" for name, n in self.swapped.items()]
        bf16 = "bf16 autocast" + (f" ({p.bf16_why})" if p.bf16_why else "")
        switches = [name for name, on in (("TF32 matmuls", p.tf32), (bf16, p.autocast_bf16),
                                          ("fused AdamW", p.fused_adamw), ("pinned loader memory", p.pin_memory),
                                          ("torch.compile", p.compile)) if on]
        return out + switches

    def describe(self) -> str:
        return ("--fast: " + "; ".join(self.lines())
                + f". Probe batch: the whole model's logits agree within {self.logits_diff:.1e}.")

    def as_dict(self) -> dict:
        return {"swapped": dict(self.swapped), "switches": self.lines()[len(self.swapped):],
                "largest_diff": dict(self.largest_diff), "logits_diff": self.logits_diff,
                "compile": self.plan.compile, "summary": self.describe()}


def _cuda(device: str) -> bool:
    return str(device).startswith("cuda")


def plan_for(device: str, compile: Optional[bool] = None) -> FastPlan:
    """The switches for `device`. torch.compile is on by default on CUDA and off elsewhere: on two CPU cores
    compiling costs a minute or more before the first step, and on the 124M model it saved nothing
    measurable there (`bench/train_throughput.py --compile`: 318 tokens/s compiled, 332 not, in bf16);
    `compile` (from --compile / --no-compile) overrides the default."""
    import torch

    cuda = _cuda(device)
    if cuda:
        bf16, why = torch.cuda.is_bf16_supported(), ""
    elif device == "cpu":
        bf16, why = cpu_bf16()
    else:
        bf16, why = False, ""
    return FastPlan(device=device, tf32=cuda, autocast_bf16=bf16, fused_adamw=fused_adamw_supported(device),
                    pin_memory=cuda, pad_vocab=cuda, compile=cuda if compile is None else compile,
                    bf16_why=why, cheap_dropout=device == "cpu")


def cpu_bf16(env: Optional[dict] = None) -> tuple[bool, str]:
    """Whether `--fast` runs the model under bf16 autocast on this CPU, and why (for the report).

    `TUTOR_CPU_BF16=1` or `0` decides; otherwise a bf16 matmul must measure at least CPU_BF16_MIN_SPEEDUP
    times as fast as the same float32 one. CPUs with bf16 instructions (AVX512-BF16, AMX, Arm's BF16)
    measure 2-3x; elsewhere bf16 is emulated and slower than float32, and the run stays in float32.
    """
    env = os.environ if env is None else env
    forced = env.get(CPU_BF16_ENV, "").strip()
    if forced in ("0", "1"):
        return forced == "1", f"{CPU_BF16_ENV}={forced}"
    speedup = measured_cpu_bf16_speedup()
    return speedup >= CPU_BF16_MIN_SPEEDUP, f"bf16 matmul measured {speedup:.1f}x float32 on this CPU"


@functools.lru_cache(maxsize=None)
def measured_cpu_bf16_speedup() -> float:
    """float32 time / bf16 time of a (256 x 768) @ (768 x 768) matmul here, the best of five (~30 ms)."""
    import torch

    g = torch.Generator().manual_seed(PROBE_SEED)
    a, b = torch.randn(256, 768, generator=g), torch.randn(768, 768, generator=g)

    def best(x, y) -> float:
        x @ y  # warm-up: packing buffers, thread pool
        fastest = math.inf
        for _ in range(5):
            t0 = time.perf_counter()
            x @ y
            x @ y
            fastest = min(fastest, time.perf_counter() - t0)
        return fastest

    return best(a, b) / max(best(a.bfloat16(), b.bfloat16()), 1e-9)


def wants_compile(compile: Optional[bool], fast: bool, device: str) -> bool:
    """Whether a run compiles its model: --compile / --no-compile if given, else on only with --fast on CUDA."""
    if compile is not None:
        return compile
    return fast and _cuda(device)


def fused_adamw_supported(device: str) -> bool:
    """torch's fused AdamW kernel exists for CUDA (and, from torch 2.4, for CPUs)."""
    import torch

    if _cuda(device):
        return True
    if device == "cpu":
        major, minor = (int(x) for x in torch.__version__.split(".")[:2])
        return (major, minor) >= (2, 4)
    return False


def optimizer_options(device: str, fast: bool) -> dict:
    """Keyword arguments for torch.optim.AdamW: fused on CUDA always (as before), on a CPU with --fast."""
    if _cuda(device) or (fast and fused_adamw_supported(device)):
        return {"fused": True}
    return {}


# -- the fused forwards -----------------------------------------------------------------------------------------
# Each becomes the `forward` of one learner module instance (an instance attribute, so the class, the
# parameters and the state-dict names stay the learner's). Their settings live on the instance under
# `_tutor_fast`, which is neither a parameter nor a buffer.
def _attention_forward(self, x):
    import torch.nn.functional as F

    heads, dropout = self._tutor_fast
    b, num_tokens, _ = x.shape  # (b, num_tokens, d_in)
    queries, keys, values = self.W_query(x), self.W_key(x), self.W_value(x)  # (b, num_tokens, d_out)
    d_out = queries.shape[-1]
    split = (b, num_tokens, heads, d_out // heads)
    queries = queries.view(split).transpose(1, 2)  # (b, heads, num_tokens, head_dim)
    keys = keys.view(split).transpose(1, 2)
    values = values.view(split).transpose(1, 2)
    if self.training and dropout > 0 and queries.device.type == "cpu":
        context = _attention_with_dropout(queries, keys, values, dropout)
    else:
        context = F.scaled_dot_product_attention(queries, keys, values, dropout_p=dropout if self.training else 0.0,
                                                 is_causal=True)  # (b, heads, num_tokens, head_dim)
    return self.out_proj(context.transpose(1, 2).reshape(b, num_tokens, d_out))  # (b, num_tokens, d_out)


def _attention_with_dropout(queries, keys, values, dropout: float):
    """What scaled_dot_product_attention computes on a CPU with dropout (it has no fused kernel for that),
    with the cheaper dropout mask: softmax(QK^T / sqrt(head_dim), causal) with dropout, times V."""
    import torch

    num_tokens, head_dim = queries.shape[-2], queries.shape[-1]
    scores = (queries * head_dim ** -0.5) @ keys.transpose(-2, -1)  # (b, heads, num_tokens, num_tokens)
    future = torch.ones(num_tokens, num_tokens, dtype=torch.bool, device=scores.device).triu(1)
    weights = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
    dropped = ~_dropout_mask(weights.shape, dropout, weights.device)
    # Dropout's 1 / (1 - p) is applied to the (num_tokens x head_dim) result, not the larger weights.
    return (weights.masked_fill(dropped, 0.0).to(values.dtype) @ values) * (1.0 / (1.0 - dropout))


def _dropout_mask(shape, p: float, device):
    """True where an element is kept: each with probability 1 - p, from one random int32 per element
    (uniform over [0, 2^31)), which the CPU draws about twice as fast as `bernoulli_`."""
    import torch

    return torch.empty(shape, dtype=torch.int32, device=device).random_() >= round(p * 2 ** 31)


_CHEAP_DROPOUT = None  # the autograd Function below, made on first use (torch is imported late here)


def _make_cheap_dropout():
    import torch

    class CheapDropout(torch.autograd.Function):
        """Inverted dropout that keeps only the boolean mask for backward (1 byte per element)."""

        @staticmethod
        def forward(ctx, x, p: float):
            keep = _dropout_mask(x.shape, p, x.device)
            ctx.save_for_backward(keep)
            ctx.scale = 1.0 / (1.0 - p)
            return torch.where(keep, x * ctx.scale, 0)

        @staticmethod
        def backward(ctx, grad):
            (keep,) = ctx.saved_tensors
            return torch.where(keep, grad * ctx.scale, 0), None

    return CheapDropout


def cheap_dropout(x, p: float, training: bool = True):
    """Inverted dropout (zero with probability p, scale the rest by 1 / (1 - p)) with the cheaper mask."""
    if not training or p <= 0:
        return x
    if p >= 1:
        return x * 0
    global _CHEAP_DROPOUT
    if _CHEAP_DROPOUT is None:
        _CHEAP_DROPOUT = _make_cheap_dropout()
    return _CHEAP_DROPOUT.apply(x, p)


def _dropout_forward(self, x):
    return cheap_dropout(x, self.p, self.training)


def _autocast_forward(self, *args, **kwargs):
    """The model's own forward under bf16 autocast on the CPU; float32 logits out, for the loss."""
    import torch

    (forward,) = self._tutor_fast
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = forward(*args, **kwargs)
    return out.float() if isinstance(out, torch.Tensor) and out.is_floating_point() else out


def _layernorm_forward(self, x):
    import torch.nn.functional as F

    (eps,) = self._tutor_fast
    return F.layer_norm(x, self.scale.shape, self.scale, self.shift, eps)


def _gelu_forward(self, x):
    import torch.nn.functional as F

    return F.gelu(x, approximate="tanh")


def _head_forward(self, x):
    import torch.nn.functional as F

    (rows,) = self._tutor_fast
    weight = F.pad(self.weight, (0, 0, 0, rows))  # (vocab + rows, emb_dim): zero rows, never trained
    bias = F.pad(self.bias, (0, rows)) if self.bias is not None else None
    return F.linear(x, weight, bias)[..., : self.out_features]  # (..., vocab): the padding sliced off


_FORWARD = {_ATTENTION: _attention_forward, _LAYERNORM: _layernorm_forward, _GELU: _gelu_forward,
            _HEAD: _head_forward, _DROPOUT: _dropout_forward, _AUTOCAST: _autocast_forward}


def _install(module, kind: str, settings: tuple) -> None:
    module._tutor_fast = settings
    module.forward = types.MethodType(_FORWARD[kind], module)


def remove_fast(model) -> None:
    """Undo the swaps: every module computes with its own class's forward again."""
    for module in model.modules():
        if "_tutor_fast" in module.__dict__:
            del module.__dict__["forward"]
            del module.__dict__["_tutor_fast"]


# -- finding the learner's modules ------------------------------------------------------------------------------
@dataclass
class _Target:
    name: str  # the module's path in the model ("trf_blocks.0.att")
    module: Any
    kind: str
    settings: tuple


def learner_classes() -> dict[str, tuple]:
    """kind → the classes of the assembled exercises (the learner's, or the reference's where filled in)."""
    import importlib

    found: dict[str, tuple] = {}
    for kind, module, name in _LEARNER_CLASSES:
        try:
            cls = getattr(importlib.import_module(f"exercises.{module}"), name)
        except Exception:  # not importable here (a model built outside a run): find by type alone
            continue
        if isinstance(cls, type):
            found[kind] = found.get(kind, ()) + (cls,)
    return found


def find_targets(model, model_cfg: dict, classes: Optional[dict] = None, pad_vocab: bool = False,
                 cheap_dropout: bool = False) -> list[_Target]:
    """The modules `--fast` would swap: instances of the learner's attention, LayerNorm and GELU classes
    (with the parameters the curriculum names), the output head when padding the vocabulary, and torch's
    own `nn.Dropout` modules when their mask is drawn the cheaper way."""
    import torch.nn as nn

    classes = learner_classes() if classes is None else classes
    targets = []
    for name, module in model.named_modules():
        if module is model:
            continue
        if isinstance(module, classes.get(_ATTENTION, ())) and all(
                isinstance(getattr(module, a, None), nn.Module) for a in ("W_query", "W_key", "W_value", "out_proj")):
            heads = int(model_cfg["n_heads"])
            drop = module.dropout.p if isinstance(getattr(module, "dropout", None), nn.Dropout) \
                else float(model_cfg.get("drop_rate", 0.0))
            targets.append(_Target(name, module, _ATTENTION, (heads, float(drop))))
        elif isinstance(module, classes.get(_LAYERNORM, ())) and all(
                isinstance(getattr(module, a, None), nn.Parameter) and getattr(module, a).dim() == 1
                for a in ("scale", "shift")):
            eps = getattr(module, "eps", 1e-5)
            targets.append(_Target(name, module, _LAYERNORM, (float(eps) if isinstance(eps, (int, float)) else 1e-5,)))
        elif isinstance(module, classes.get(_GELU, ())) and not any(True for _ in module.parameters()):
            targets.append(_Target(name, module, _GELU, ()))
        elif (cheap_dropout and type(module) is nn.Dropout and 0 < module.p < 1 and not module.inplace
              and not any(name.startswith(t.name + ".") for t in targets if t.kind == _ATTENTION)):
            targets.append(_Target(name, module, _DROPOUT, ()))  # (the fused attention does its own dropout)
    head = getattr(model, "out_head", None)
    if pad_vocab and type(head) is nn.Linear and head.out_features >= 1024 and head.out_features % PAD_MULTIPLE:
        targets.append(_Target("out_head", head, _HEAD, (-head.out_features % PAD_MULTIPLE,)))
    return targets


# -- the probe --------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _exact_matmuls():
    """TF32 off while probing: the comparison is in true float32."""
    import torch

    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def _probe_input(target: _Target, model_cfg: dict, device: str):
    """A float32 batch (2, tokens, features) for one module: normal rows, plus for LayerNorm a constant row
    and a row of tiny variance (where eps decides the result), for GELU values out to ±10."""
    import torch

    g = torch.Generator().manual_seed(PROBE_SEED)
    tokens = max(2, min(int(model_cfg["context_length"]), 32))
    if target.kind == _ATTENTION:
        width = target.module.W_query.weight.shape[1] if hasattr(target.module.W_query, "weight") \
            else int(model_cfg["emb_dim"])
        x = torch.randn(2, tokens, width, generator=g)
    elif target.kind == _LAYERNORM:
        x = 2 * torch.randn(2, tokens, target.module.scale.shape[0], generator=g) + 0.5
        x[0, 0] = 3.0  # variance 0: (x - mean) / sqrt(eps) = 0, so the output is `shift`
        x[0, 1] = 1e-3 * torch.randn(x.shape[-1], generator=g)  # variance 1e-6, below eps = 1e-5
    elif target.kind == _GELU:
        x = 3 * torch.randn(2, tokens, int(model_cfg["emb_dim"]) * 4, generator=g)
        x[0, 0, :41] = torch.linspace(-10, 10, 41)
    else:
        x = torch.randn(2, tokens, target.module.in_features, generator=g)
    return x.to(device)


def _compare(fast, plain, atol: float, rtol: float) -> tuple[float, bool, bool]:
    """(largest finite |fast - plain|, every element within atol + rtol·|plain|, some element not finite).

    A NaN or infinity in either output never agrees: the replacements give finite numbers on the probe."""
    import torch

    if fast.shape != plain.shape:
        return math.inf, False, False
    fast, plain = fast.float(), plain.float()
    finite = torch.isfinite(fast) & torch.isfinite(plain)
    diff = torch.where(finite, (fast - plain).abs(), torch.zeros_like(fast))
    largest = float(diff.max()) if diff.numel() else 0.0
    nonfinite = not bool(finite.all())
    ok = not nonfinite and bool((diff <= atol + rtol * plain.abs()).all())
    return largest, ok, nonfinite


def _whose(module, assembly) -> str:
    """'your MultiHeadAttention (multihead_attention.py)' or 'the reference's …'."""
    cls = type(module)
    file = cls.__module__.rsplit(".", 1)[-1]
    learner = set(getattr(assembly, "learner", ()) or ())
    whose = "your" if assembly is None or file in learner else "the reference's"
    return f"{whose} {cls.__name__} ({file}.py)"


def _how_much(diff: float, nonfinite: bool) -> str:
    """'by 3.1e-02 on a probe batch', with what else went wrong."""
    if math.isinf(diff):
        return "in shape on a probe batch"
    return f"by {diff:.1e} on a probe batch" + (" (and gives NaN or infinity where it does not)" if nonfinite else "")


def _refuse(target: _Target, diff: float, nonfinite: bool, assembly) -> FastError:
    fused = _FUSED_NAME[target.kind]
    return FastError(f"--fast: {_whose(target.module, assembly)} differs from {fused} {_how_much(diff, nonfinite)}; "
                     f"run without --fast, or fix it ({_LESSON[target.kind]}).")


def check_modules(targets: list[_Target], model_cfg: dict, device: str, assembly=None) -> dict[str, float]:
    """Run each target as the learner wrote it and as --fast would, on a probe batch; raise FastError on the
    first that disagrees. Returns the largest difference seen per kind."""
    import torch

    largest: dict[str, float] = {}
    for t in targets:
        if t.kind == _DROPOUT:  # torch's own module, no learner code: tests/runs/test_fast.py checks the mask
            continue
        x = _probe_input(t, model_cfg, device)
        was_training = t.module.training
        t.module.eval()
        try:
            with torch.no_grad(), _exact_matmuls():
                plain = type(t.module).forward(t.module, x)
                t.module._tutor_fast = t.settings
                fast = _FORWARD[t.kind](t.module, x)
        finally:
            t.module.__dict__.pop("_tutor_fast", None)
            t.module.train(was_training)
        diff, ok, nonfinite = _compare(fast, plain, *MODULE_TOL)
        if not ok:
            raise _refuse(t, diff, nonfinite, assembly)
        largest[t.kind] = max(largest.get(t.kind, 0.0), diff)
    return largest


def _model_logits(model, ids, autocast_bf16: bool):
    import torch

    from tutor.runs.common import autocast

    with torch.no_grad(), _exact_matmuls(), (autocast(str(ids.device)) if autocast_bf16 else contextlib.nullcontext()):
        return model(ids).float()


# -- the entry point --------------------------------------------------------------------------------------------
def make_fast(model, model_cfg: dict, device: str, *, compile: Optional[bool] = None, assembly=None,
              loaders: Iterable = (), classes: Optional[dict] = None) -> FastReport:
    """Check, then swap the fused forwards into `model` (in place), and turn on the run-level switches.

    Args:
        model: the learner's assembled GPTModel (or a model holding one, e.g. a classifier), on `device`.
        model_cfg: its cfg dict (`n_heads`, `context_length`, `emb_dim`, `drop_rate`, `vocab_size`).
        compile: --compile / --no-compile; None: the device's default (see `plan_for`). The caller compiles.
        assembly: the run's assembly, to say whose module differs.
        loaders: DataLoaders whose batches go to the GPU (pinned memory on CUDA).
        classes: kind → classes to swap (default: the assembled exercises' own classes).

    Raises:
        FastError: a module (or the whole model) gives other results with the fused kernels; nothing was
            changed.
    """
    import torch

    plan = plan_for(device, compile)
    targets = find_targets(model, model_cfg, classes, pad_vocab=plan.pad_vocab, cheap_dropout=plan.cheap_dropout)
    largest = check_modules(targets, model_cfg, device, assembly)

    vocab = int(model_cfg.get("vocab_size", 2))
    g = torch.Generator().manual_seed(PROBE_SEED + 1)
    ids = torch.randint(0, vocab, (2, max(2, min(int(model_cfg["context_length"]), 32))), generator=g).to(device)
    was_training = model.training
    model.eval()
    try:
        plain = _model_logits(model, ids, autocast_bf16=False)
        for t in targets:
            _install(t.module, t.kind, t.settings)
        if plan.autocast_bf16 and not _cuda(device):  # on CUDA every run's own autocast does it
            _install(model, _AUTOCAST, (model.forward,))
        fast = _model_logits(model, ids, autocast_bf16=plan.autocast_bf16)
    except BaseException:
        remove_fast(model)
        raise
    finally:
        model.train(was_training)
    if plan.autocast_bf16:  # bf16 keeps about 3 significant digits: compare with the logits' scale
        diff, _, nonfinite = _compare(fast, plain, 0.0, 0.0)
        ok = not nonfinite and diff <= BF16_TOL * max(float(plain.abs().max()), 1e-6)
    else:
        diff, ok, nonfinite = _compare(fast, plain, *MODEL_TOL)
    if not ok:
        remove_fast(model)
        raise FastError(f"--fast: your GPTModel's logits with the fused modules differ from its own "
                        f"{_how_much(diff, nonfinite)}, although each module agreed on its own; "
                        f"run without --fast ({_LESSON[_HEAD]}).")

    if plan.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if plan.pin_memory:
        for loader in loaders:
            if isinstance(loader, torch.utils.data.DataLoader):
                loader.pin_memory = True
    swapped: dict[str, int] = {}
    for t in targets:
        if t.kind == _HEAD:
            label = f"output head padded to {t.module.out_features + t.settings[0]:,} rows (logits sliced back)"
        elif t.kind == _DROPOUT:
            label = f"torch's Dropout → {_FUSED_NAME[_DROPOUT]}"
        else:
            label = f"{_whose(t.module, assembly)} → {_FUSED_NAME[t.kind]}"
        swapped[label] = swapped.get(label, 0) + 1
    return FastReport(plan, swapped, largest, diff)


def compiled(model, compile: bool):
    """`torch.compile(model)` when asked, else the model itself (the module stays the one that is saved)."""
    if not compile:
        return model
    import torch

    return torch.compile(model)
