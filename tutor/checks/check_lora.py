"""Hidden checks for the lora exercise (lessons/18-lora.md): LoRALayer, LinearWithLoRA, replace_linear_with_lora."""

import torch
import torch.nn as nn

from tutor.grading.framework import CheckFailed, Suite

suite = Suite("lora")

# -- known mistakes --------------------------------------------------------------------------------------
suite.mistake(
    "no-scaling",
    "The update is x @ A @ B without the factor alpha / rank.",
    lesson="#the-scaling-factor",
    replace=[("return (self.alpha / self.rank) * (x @ self.A @ self.B)", "return x @ self.A @ self.B")],
)
suite.mistake(
    "alpha-only",
    "The update is scaled by alpha alone; the factor is alpha / rank.",
    lesson="#the-scaling-factor",
    replace=[("return (self.alpha / self.rank) * (x @ self.A @ self.B)",
              "return self.alpha * (x @ self.A @ self.B)")],
)
suite.mistake(
    "scaling-inverted",
    "The update is scaled by rank / alpha; the factor is alpha / rank.",
    lesson="#the-scaling-factor",
    replace=[("return (self.alpha / self.rank) * (x @ self.A @ self.B)",
              "return (self.rank / self.alpha) * (x @ self.A @ self.B)")],
)
suite.mistake(
    "b-random",
    "B is initialised randomly, so the adapted model's first output is not the pretrained model's: "
    "B must start at zero (A random).",
    lesson="#why-b-starts-at-zero",
    replace=[("self.B = nn.Parameter(torch.zeros(rank, out_dim))",
              "self.B = nn.Parameter(torch.empty(rank, out_dim))\n"
              "        nn.init.kaiming_uniform_(self.B, a=math.sqrt(5))")],
)
suite.mistake(
    "base-dropped",
    "LinearWithLoRA returns only lora(x); it must add the pretrained layer's output: linear(x) + lora(x).",
    lesson="#wrapping-a-linear-layer",
    replace=[("return self.linear(x) + self.lora(x)", "return self.lora(x)")],
)
suite.mistake(
    "nested-skipped",
    "replace_linear_with_lora only replaces the model's direct children; Linear layers inside blocks "
    "(at any depth) must be replaced too: recurse into every child that is not a Linear.",
    lesson="#replacing-every-linear-layer",
    replace=[("            replace_linear_with_lora(module, rank, alpha)  # look inside blocks, "
              "Sequentials, lists\n", "            pass\n")],
)

GPT_CFG = {"vocab_size": 50, "context_length": 6, "emb_dim": 8, "n_heads": 2, "n_layers": 2,
           "drop_rate": 0.0, "qkv_bias": True}


def _x(shape, seed):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def _set(param, seed, scale=0.5):
    with torch.no_grad():
        param.copy_(scale * _x(tuple(param.shape), seed))


def _lora_params(layer, where="LoRALayer"):
    params = dict(layer.named_parameters())
    if set(params) != {"A", "B"}:
        raise CheckFailed(f"{where} should have exactly the parameters A and B; it has "
                          f"{sorted(params) or 'none'}.")
    return params["A"], params["B"]


class _Nested(nn.Module):
    """Linear layers at depth 1, 2 and 3, in a Sequential, a ModuleList and a plain attribute."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(4, 6)
        self.body = nn.Sequential(nn.Linear(6, 6), nn.GELU(),
                                  nn.ModuleList([nn.Linear(6, 5, bias=False), nn.Tanh()]))
        self.head = nn.Sequential(nn.LayerNorm(5), nn.Linear(5, 3))

    def forward(self, x):
        x = self.body[1](self.body[0](self.inp(x)))
        x = self.body[2][1](self.body[2][0](x))
        return self.head(x)


def _structure(model):
    """{module name: class name} for every Linear or LoRA module (the LoRA layers named by role)."""
    return {name: type(m).__name__ for name, m in model.named_modules()
            if isinstance(m, nn.Linear) or name.endswith("lora") or "LoRA" in type(m).__name__}


# -- compare-checks ---------------------------------------------------------------------------------------
@suite.compare("LoRALayer has A (in_dim, rank) and B (rank, out_dim)", lesson="#the-low-rank-update")
def check_lora_shapes(impl):
    layer = impl.LoRALayer(5, 7, 3, alpha=4)
    return {name: list(p.shape) for name, p in layer.named_parameters()}


@suite.compare("LoRALayer computes (alpha / rank) · x @ A @ B", lesson="#the-scaling-factor")
def check_lora_forward(impl):
    outs = []
    for seed, (in_dim, out_dim, rank, alpha, shape) in enumerate(
            [(5, 7, 3, 4, (2, 5)), (6, 4, 2, 16, (2, 3, 6)), (4, 4, 8, 8, (1, 4))]):
        layer = impl.LoRALayer(in_dim, out_dim, rank, alpha)
        a, b = _lora_params(layer)
        _set(a, seed), _set(b, 100 + seed)
        outs.append(layer(_x(shape, 200 + seed)))
    return outs


@suite.compare("LinearWithLoRA returns linear(x) + lora(x)", lesson="#wrapping-a-linear-layer")
def check_linear_with_lora(impl):
    outs = []
    for seed, (bias, rank, alpha) in enumerate([(True, 2, 4), (False, 4, 1)]):
        torch.manual_seed(seed)
        linear = nn.Linear(6, 5, bias=bias)
        wrapped = impl.LinearWithLoRA(linear, rank, alpha)
        a, b = _lora_params(wrapped.lora, "LinearWithLoRA.lora")
        _set(a, 10 + seed), _set(b, 20 + seed)
        outs.append(wrapped(_x((3, 6), 30 + seed)))
    return outs


@suite.compare("replace_linear_with_lora wraps every nn.Linear, at any depth",
               lesson="#replacing-every-linear-layer")
def check_replace_structure(impl):
    torch.manual_seed(3)
    model = _Nested()
    impl.replace_linear_with_lora(model, rank=2, alpha=4)
    return _structure(model)


@suite.compare("After replacement (base frozen first), a GPTModel's trainable parameters are A and B",
               lesson="#counting-trainable-parameters")
def check_trainable_counts(impl):
    from exercises.gpt_model import GPTModel  # the reference's while grading

    torch.manual_seed(4)
    model = GPTModel(GPT_CFG)
    before = sum(p.numel() for p in model.parameters() if p.requires_grad)
    for p in model.parameters():
        p.requires_grad_(False)
    impl.replace_linear_with_lora(model, rank=2, alpha=4)
    after = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {"trainable before": before, "trainable after": after, "total after": total}


@suite.compare("A wrapped model with trained A and B computes W x + b + (alpha / rank) · x A B everywhere",
               lesson="#replacing-every-linear-layer")
def check_replaced_model_output(impl):
    torch.manual_seed(5)
    model = _Nested()
    impl.replace_linear_with_lora(model, rank=2, alpha=6)
    for i, (name, p) in enumerate(sorted(model.named_parameters())):
        if name.endswith(".A") or name.endswith(".B"):
            _set(p, 50 + i)
    return model(_x((2, 4), 59))


# -- property checks ---------------------------------------------------------------------------------------
@suite.check("A fresh LinearWithLoRA computes exactly what the linear layer did (B starts at zero)",
             lesson="#why-b-starts-at-zero")
def check_starts_as_identity(learner):
    torch.manual_seed(6)
    linear = nn.Linear(7, 5)
    x = _x((3, 7), 60)
    with torch.no_grad():
        expected = linear(x)
        wrapped = learner.LinearWithLoRA(linear, rank=3, alpha=8)
        got = wrapped(x)
    a, b = _lora_params(wrapped.lora, "LinearWithLoRA.lora")
    if wrapped.linear is not linear:
        raise CheckFailed("LinearWithLoRA.linear should be the nn.Linear it was given (the same object), "
                          "so that the pretrained weights are kept.")
    if bool((b != 0).any()):
        raise CheckFailed(
            f"A fresh LoRALayer's B is not all zeros (largest entry {b.abs().max().item():.4g}), so the "
            f"wrapped layer's output changes before any training (largest change "
            f"{(got - expected).abs().max().item():.4g}).",
            diagnosis="b-random",
        )
    if not torch.allclose(got, expected, atol=1e-6):
        raise CheckFailed("A fresh LinearWithLoRA should give the linear layer's output (B is zero), but the "
                          f"outputs differ by up to {(got - expected).abs().max().item():.4g}.")
    if not bool(torch.isfinite(a).all()) or a.abs().max().item() == 0 or a.std().item() == 0:
        raise CheckFailed("A fresh LoRALayer's A should be random (nn.init.kaiming_uniform_), not zero or "
                          "constant: with A and B both zero, B's gradient is zero too and nothing trains.")


@suite.check("A fresh LoRALayer's A is Kaiming-uniform", lesson="#why-b-starts-at-zero")
def check_kaiming_uniform(learner):
    """A of a larger fresh LoRALayer looks Kaiming-uniform: uniform on [-b, b] with b <= sqrt(6 / fan_in)
    (torch's fan_in of an (in_dim, rank) tensor is rank; sqrt(6 / fan_in) is the bound for a = 0, the widest)."""
    rank = 8
    torch.manual_seed(61)
    a, _ = _lora_params(learner.LoRALayer(64, 32, rank, alpha=16))
    a = a.detach()
    widest = (6 / rank) ** 0.5
    top, mean = a.abs().max().item(), a.abs().mean().item()
    if top > widest * 1.0001 or not 0.4 * top <= mean <= 0.6 * top:
        raise CheckFailed(
            f"A fresh LoRALayer(64, 32, rank=8)'s A does not look Kaiming-uniform: its largest entry is "
            f"{top:.4g} (at most {widest:.4g} expected) and its mean absolute value {mean:.4g} (about half "
            "the largest for a uniform distribution). Initialise it with "
            "nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))."
        )


@suite.check("A and B receive gradients; the frozen base does not", lesson="#counting-trainable-parameters")
def check_gradients(learner):
    torch.manual_seed(7)
    model = _Nested()
    for p in model.parameters():
        p.requires_grad_(False)
    learner.replace_linear_with_lora(model, rank=2, alpha=4)
    loss = model(_x((4, 4), 70)).pow(2).sum()
    if not loss.requires_grad:
        raise CheckFailed("After replace_linear_with_lora on a frozen model, nothing in its output needs a "
                          "gradient: A and B must be nn.Parameters that require grad.")
    loss.backward()
    no_grad_b = [n for n, p in model.named_parameters() if n.endswith(".B") and
                 (p.grad is None or not p.grad.abs().sum() > 0)]
    if no_grad_b:
        raise CheckFailed(f"These B matrices got no gradient: {', '.join(no_grad_b)}.")
    base = [n for n, p in model.named_parameters() if not (n.endswith(".A") or n.endswith(".B"))
            and p.requires_grad]
    if base:
        raise CheckFailed(f"replace_linear_with_lora made frozen parameters trainable again: {', '.join(base)}.")
