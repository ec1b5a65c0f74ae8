"""Hidden checks for the layers exercise (lessons/07-layers.md): LayerNorm, GELU and FeedForward."""

import torch

import tutor.checks._common as std
from tutor.grading.framework import CheckFailed, Suite, describe_tensor

suite = Suite("layers")

# -- known mistakes --------------------------------------------------------------------------------------
suite.mistake(
    "unbiased-variance",
    "LayerNorm uses the unbiased variance (divides by n - 1); it must divide by n (unbiased=False).",
    lesson="#biased-variance-and-eps",
    replace=[("x.var(dim=-1, keepdim=True, unbiased=False)", "x.var(dim=-1, keepdim=True)")],
)
suite.mistake(
    "eps-outside-sqrt",
    "eps is added after the square root; it belongs inside: sqrt(var + eps).",
    lesson="#biased-variance-and-eps",
    replace=[("torch.sqrt(var + self.eps)", "(torch.sqrt(var) + self.eps)")],
)
suite.mistake(
    "stats-over-dim-1",
    "The mean and variance are taken over dim=1 (the tokens); take them over the last dim (dim=-1), "
    "the embedding of each token.",
    lesson="#layer-normalization",
    replace=[("x.mean(dim=-1, keepdim=True)", "x.mean(dim=1, keepdim=True)"),
             ("x.var(dim=-1, keepdim=True, unbiased=False)", "x.var(dim=1, keepdim=True, unbiased=False)")],
)
suite.mistake(
    "mean-over-batch",
    "The mean is taken over dim=0 (across the batch); take it over the last dim (dim=-1).",
    lesson="#layer-normalization",
    replace=[("x.mean(dim=-1, keepdim=True)", "x.mean(dim=0, keepdim=True)")],
)
suite.mistake(
    "no-scale-shift",
    "LayerNorm returns the normalized values without applying scale and shift.",
    lesson="#scale-and-shift",
    replace=[("return self.scale * norm_x + self.shift", "return norm_x")],
)
suite.mistake(
    "scale-shift-swapped",
    "scale and shift are swapped: multiply by scale, then add shift.",
    lesson="#scale-and-shift",
    replace=[("return self.scale * norm_x + self.shift", "return self.shift * norm_x + self.scale")],
)
suite.mistake(
    "exact-gelu",
    "GELU is the exact (erf) form; GPT-2 uses the tanh approximation "
    "0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).",
    lesson="#gelu",
    replace=[("return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * torch.pow(x, 3))))",
              "return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))")],
)
suite.mistake(
    "gelu-without-half",
    "GELU is missing the factor 0.5 in front: 0.5·x·(1 + tanh(…)).",
    lesson="#gelu",
    replace=[("return 0.5 * x * (1 + torch.tanh(", "return x * (1 + torch.tanh(")],
)
suite.mistake(
    "hidden-2x",
    "The feed-forward hidden layer has 2·emb_dim units; GPT-2 expands to 4·emb_dim.",
    lesson="#the-feed-forward-network",
    replace=[("4 * cfg[\"emb_dim\"]", "2 * cfg[\"emb_dim\"]")],
)
suite.mistake(
    "relu-instead-of-gelu",
    "The feed-forward network uses ReLU between its linear layers; it should use GELU.",
    lesson="#gelu",
    replace=[("            GELU(),\n", "            nn.ReLU(),\n")],
)

CFG = {"vocab_size": 50, "context_length": 6, "emb_dim": 8, "n_heads": 2, "n_layers": 2,
       "drop_rate": 0.1, "qkv_bias": False}


def _layer_norm(impl, emb_dim, seed):
    """The module's LayerNorm with the reference's parameters, set to random values (so that a scale/shift
    mix-up shows) before copying."""
    def init(ref):
        ref.scale.copy_(1 + 0.5 * torch.randn(emb_dim))
        ref.shift.copy_(0.5 * torch.randn(emb_dim))

    # reseed: what the probe draws next does not depend on how the layer was built
    return std.with_reference_params(suite, impl, lambda mod: mod.LayerNorm(emb_dim), seed=seed, init=init,
                                     reseed=seed + 1000)


def _feed_forward(impl, cfg, seed):
    return std.with_reference_params(suite, impl, lambda mod: mod.FeedForward(cfg), seed=seed, reseed=seed + 1000)


# -- compare-checks --------------------------------------------------------------------------------------
@suite.compare("LayerNorm has parameters scale (ones) and shift (zeros) of shape (emb_dim,)", lesson="#scale-and-shift")
def check_layernorm_parameters(impl):
    m = impl.LayerNorm(6)
    return {name: p for name, p in m.named_parameters()}


@suite.compare("LayerNorm matches the reference on random inputs", lesson="#layer-normalization")
def check_layernorm_values(impl):
    outs = []
    for seed, shape in [(0, (2, 3, 8)), (1, (4, 16)), (2, (3, 5, 12))]:
        m = _layer_norm(impl, shape[-1], seed)
        x = torch.randn(*shape) * 3 + 1  # not already normalized
        outs.append(m(x))
    return outs


@suite.compare("LayerNorm handles rows with a tiny variance (eps inside the square root)",
               lesson="#biased-variance-and-eps")
def check_layernorm_small_variance(impl):
    m = _layer_norm(impl, 8, seed=3)
    torch.manual_seed(30)
    x = torch.randn(2, 3, 8) * 3e-3  # variance ~1e-5, the size of eps
    return m(x)


@suite.compare("GELU matches the tanh approximation", lesson="#gelu")
def check_gelu_values(impl):
    torch.manual_seed(4)
    g = impl.GELU()
    return [g(torch.linspace(-3, 3, 61)), g(torch.randn(2, 3, 4) * 2)]


@suite.compare("FeedForward has layers.0 = Linear(emb, 4·emb) and layers.2 = Linear(4·emb, emb)",
               lesson="#the-feed-forward-network")
def check_feedforward_shapes(impl):
    m = impl.FeedForward(CFG)
    return {name: list(p.shape) for name, p in m.named_parameters()}


@suite.compare("FeedForward matches the reference", lesson="#the-feed-forward-network")
def check_feedforward_values(impl):
    outs = []
    for seed, emb_dim, shape in [(5, 8, (2, 3)), (6, 12, (1, 5))]:
        cfg = dict(CFG, emb_dim=emb_dim)
        m = _feed_forward(impl, cfg, seed)
        outs.append(m(torch.randn(*shape, emb_dim) * 2))
    return outs


# -- property checks -------------------------------------------------------------------------------------
@suite.check("A fresh LayerNorm gives each token mean 0 and variance 1", lesson="#layer-normalization")
def check_layernorm_statistics(learner):
    torch.manual_seed(7)
    x = torch.randn(2, 4, 10) * 5 + 3
    with torch.no_grad():
        out = learner.LayerNorm(10)(x)
    if tuple(out.shape) != tuple(x.shape):
        raise CheckFailed(f"LayerNorm should keep the input's shape {tuple(x.shape)}; got {tuple(out.shape)}.")
    mean = out.mean(dim=-1)
    var = out.var(dim=-1, unbiased=False)
    if not (torch.allclose(mean, torch.zeros_like(mean), atol=1e-4) and
            torch.allclose(var, torch.ones_like(var), atol=1e-3)):
        why = ""
        if torch.allclose(var, torch.full_like(var, 0.9), atol=1e-3):
            why = ("\n  A variance of 9/10 means the unbiased variance (dividing by n - 1) was used; "
                   "LayerNorm divides by n.")
        raise CheckFailed(
            "For an input of shape (2, 4, 10), each token's 10 output values should have mean 0 and "
            "(biased) variance 1 with a fresh LayerNorm (scale ones, shift zeros).\n"
            f"  got means:     {describe_tensor(mean)}\n"
            f"  got variances: {describe_tensor(var)}{why}"
        )


@suite.check("Each token is processed on its own (no mixing across tokens or sequences)",
             lesson="#layer-normalization")
def check_token_independence(learner):
    torch.manual_seed(8)
    x = torch.randn(3, 4, 8)
    y = x.clone()
    y[1, 2] = torch.randn(8) * 10  # change one token only
    ln, ff = learner.LayerNorm(8), learner.FeedForward(CFG)
    with torch.no_grad():
        for name, layer in (("LayerNorm", ln), ("FeedForward", ff)):
            a, b = layer(x), layer(y)
            changed = (a - b).abs().amax(dim=-1) > 1e-6  # (3, 4): which tokens' outputs moved
            changed[1, 2] = False
            if changed.any():
                where = [tuple(i) for i in changed.nonzero().tolist()][:4]
                raise CheckFailed(
                    f"Changing only token 2 of sequence 1 also changed {name}'s output at (sequence, token) "
                    f"{where}. These layers must act on the last dimension of each token separately."
                )


def _layers_in_a_row(learner):
    torch.manual_seed(9)
    return std.Chain(LayerNorm=learner.LayerNorm(8), FeedForward=learner.FeedForward(CFG))


check_gradients = std.gradients_reach_every_parameter(
    suite, build=_layers_in_a_row, inputs=lambda: std.seeded_randn(90, 2, 3, 8), lesson="#the-feed-forward-network",
    hint="Use it in forward with torch operations (no .detach(), .item() or torch.no_grad()).")
