"""Hidden checks for the gpt2_weights exercise (lessons/13-gpt2-weights.md): load_weights_into_gpt.

Every probe builds a small random state dict in the Hugging Face GPT-2 layout (a few layers, a small width,
random LayerNorm weights and biases so that nothing is the identity), loads it into the reference GPTModel
with the module under test, and returns every parameter by name (tied ones included) and the logits. A
12-layer probe catches blocks loaded in string order (h.0, h.1, h.10, …). When loading raises, the probe
tries the two layouts a known mistake would accept (MLP weights already transposed; c_attn split along the
other dim) to name the mistake. Wrong-shaped tensors must raise, whatever the mechanism.
"""

import torch

import tutor.checks._common as std
from tutor.grading.framework import CheckFailed, Suite

suite = Suite("gpt2_weights")

_QKV_W = 'q_w, k_w, v_w = torch.chunk(sd[h + "attn.c_attn.weight"], 3, dim=-1)'
_QKV_B = 'q_b, k_b, v_b = torch.chunk(sd[h + "attn.c_attn.bias"], 3, dim=-1)'
_NORMS = [("block.norm1", "ln_1"), ("block.norm2", "ln_2"), ("gpt.final_norm", "ln_f")]


def _norm_swap():
    out = []
    for ours, theirs in _NORMS:
        h = "" if theirs == "ln_f" else "h + "
        out.append((f'{ours}.scale, sd[{h}"{theirs}.weight"]', f'{ours}.scale, sd[{h}"{theirs}.bias"]'))
        out.append((f'{ours}.shift, sd[{h}"{theirs}.bias"]', f'{ours}.shift, sd[{h}"{theirs}.weight"]'))
    return out


# -- known mistakes --------------------------------------------------------------------------------------
suite.mistake(
    "no-transpose",
    "The Conv1D weights are loaded as they are stored, (in, out); nn.Linear keeps (out, in), so every "
    "c_attn, c_proj and c_fc weight must be transposed (.T) on the way in.",
    lesson="#why-the-weights-are-transposed",
    replace=[("q_w.T", "q_w"), ("k_w.T", "k_w"), ("v_w.T", "v_w"),
             ('sd[h + "attn.c_proj.weight"].T', 'sd[h + "attn.c_proj.weight"]'),
             ('sd[h + "mlp.c_fc.weight"].T', 'sd[h + "mlp.c_fc.weight"]'),
             ('sd[h + "mlp.c_proj.weight"].T', 'sd[h + "mlp.c_proj.weight"]')],
)
suite.mistake(
    "no-transpose-attention",
    "The attention weights (query, key, value from c_attn, and c_proj) are not transposed. They are square, "
    "so nothing raises, but Conv1D stores (in, out) and nn.Linear (out, in): transpose them too.",
    lesson="#why-the-weights-are-transposed",
    replace=[("q_w.T", "q_w"), ("k_w.T", "k_w"), ("v_w.T", "v_w"),
             ('sd[h + "attn.c_proj.weight"].T', 'sd[h + "attn.c_proj.weight"]')],
)
suite.mistake(
    "qkv-order",
    "c_attn is split in the wrong order: its three slices are query, key and value, in that order.",
    lesson="#splitting-c_attn",
    replace=[(_QKV_W, _QKV_W.replace("q_w, k_w, v_w", "k_w, v_w, q_w")),
             (_QKV_B, _QKV_B.replace("q_b, k_b, v_b", "k_b, v_b, q_b"))],
)
suite.mistake(
    "qkv-wrong-dim",
    "c_attn.weight is split along its first dim. It is stored (emb, 3·emb): query, key and value lie side "
    "by side along the last dim (dim=-1), so split there, then transpose each piece.",
    lesson="#splitting-c_attn",
    replace=[(_QKV_W, _QKV_W.replace("dim=-1", "dim=0"))],
)
suite.mistake(
    "qkv-biases-not-loaded",
    "The query, key and value biases are not loaded: c_attn.bias (3·emb,) holds all three, split like the "
    "weight.",
    lesson="#splitting-c_attn",
    replace=[(_QKV_B + "\n", "")]
    + [(f"        att.W_{n}.bias = assign(att.W_{n}.bias, {n[0]}_b, f\"{{h}}attn.c_attn.bias ({n})\")\n", "")
       for n in ("query", "key", "value")],
)
suite.mistake(
    "biases-not-loaded",
    "The biases of the linear layers are not loaded (c_attn.bias, c_proj.bias, c_fc.bias): they stay at "
    "their random initial values.",
    lesson="#names-and-shapes",
    replace=[(_QKV_B + "\n", "")]
    + [(f"        att.W_{n}.bias = assign(att.W_{n}.bias, {n[0]}_b, f\"{{h}}attn.c_attn.bias ({n})\")\n", "")
       for n in ("query", "key", "value")]
    + [('        att.out_proj.bias = assign(att.out_proj.bias, sd[h + "attn.c_proj.bias"], '
        'f"{h}attn.c_proj.bias")\n', ""),
       ('        ff.layers[0].bias = assign(ff.layers[0].bias, sd[h + "mlp.c_fc.bias"], f"{h}mlp.c_fc.bias")\n',
        ""),
       ('        ff.layers[2].bias = assign(ff.layers[2].bias, sd[h + "mlp.c_proj.bias"], '
        'f"{h}mlp.c_proj.bias")\n', "")],
)
suite.mistake(
    "head-not-tied",
    "out_head is not loaded: GPT-2 has no separate output matrix, the head reuses wte.weight (weight tying).",
    lesson="#weight-tying",
    replace=[('    gpt.out_head.weight = assign(gpt.out_head.weight, sd["wte.weight"], "wte.weight (output head)")\n',
              "")],
)
suite.mistake(
    "norm-swapped",
    "LayerNorm's parameters are swapped: Hugging Face's ln_*.weight is our scale and ln_*.bias our shift.",
    lesson="#names-and-shapes",
    replace=_norm_swap(),
)
suite.mistake(
    "blocks-reversed",
    "The blocks are loaded in the wrong order: checkpoint block h.{i} goes into trf_blocks[i].",
    lesson="#names-and-shapes",
    replace=[('h = f"h.{b}."', 'h = f"h.{len(gpt.trf_blocks) - 1 - b}."')],
)
suite.mistake(
    "no-shape-check",
    "A tensor of the wrong shape was accepted without an error: copy_ (like any broadcasting operation) "
    "silently spreads a (1,) tensor over a whole row. Compare the shapes first and raise when they differ.",
    lesson="#an-assign-that-fails-loudly",
    replace=[("    if left.shape != right.shape:\n"
              "        raise ValueError(f\"{name}: shape mismatch, the model has {tuple(left.shape)}, \"\n"
              "                         f\"the checkpoint {tuple(right.shape)}.\")\n", ""),
             ("    return torch.nn.Parameter(right.clone().to(left.dtype))\n",
              "    with torch.no_grad():\n        left.copy_(right)\n    return left\n")],
)

CFG = {"vocab_size": 53, "context_length": 10, "emb_dim": 12, "n_heads": 3, "n_layers": 3,
       "drop_rate": 0.0, "qkv_bias": True}
CFG_B = {"vocab_size": 41, "context_length": 7, "emb_dim": 8, "n_heads": 2, "n_layers": 2,
         "drop_rate": 0.1, "qkv_bias": True}
CFG_DEEP = {"vocab_size": 19, "context_length": 5, "emb_dim": 4, "n_heads": 2, "n_layers": 12,
            "drop_rate": 0.0, "qkv_bias": True}

_GPT = {}


def gpt_model_class():
    """The reference GPTModel (the sibling module in isolation), taken once, before the learner's code runs."""
    if "cls" not in _GPT:
        import exercises.gpt_model

        _GPT["cls"] = exercises.gpt_model.GPTModel
    return _GPT["cls"]


def hf_state_dict(cfg, seed, buffers=True):
    """A random GPT-2 state dict in the Hugging Face layout (Conv1D weights stored (in, out))."""
    g = torch.Generator().manual_seed(seed)
    E, V, C = cfg["emb_dim"], cfg["vocab_size"], cfg["context_length"]

    def rnd(*shape, scale=0.3, mean=0.0):
        return mean + scale * torch.randn(*shape, generator=g)

    sd = {"wte.weight": rnd(V, E), "wpe.weight": rnd(C, E)}
    for i in range(cfg["n_layers"]):
        h = f"h.{i}."
        sd.update({
            h + "ln_1.weight": rnd(E, mean=1.0), h + "ln_1.bias": rnd(E),
            h + "attn.c_attn.weight": rnd(E, 3 * E), h + "attn.c_attn.bias": rnd(3 * E),
            h + "attn.c_proj.weight": rnd(E, E), h + "attn.c_proj.bias": rnd(E),
            h + "ln_2.weight": rnd(E, mean=1.0), h + "ln_2.bias": rnd(E),
            h + "mlp.c_fc.weight": rnd(E, 4 * E), h + "mlp.c_fc.bias": rnd(4 * E),
            h + "mlp.c_proj.weight": rnd(4 * E, E), h + "mlp.c_proj.bias": rnd(E),
        })
        if buffers:  # what the real checkpoints also hold: the causal mask, not a parameter
            sd[h + "attn.bias"] = torch.tril(torch.ones(C, C)).view(1, 1, C, C)
            sd[h + "attn.masked_bias"] = torch.tensor(-1e4)
    sd["ln_f.weight"] = rnd(E, mean=1.0)
    sd["ln_f.bias"] = rnd(E)
    return sd


def fresh_model(cfg, seed):
    torch.manual_seed(seed)  # parameters a loader forgets keep these (deterministic) initial values
    return gpt_model_class()(cfg)


def _loads(impl, cfg, sd):
    try:
        impl.load_weights_into_gpt(fresh_model(cfg, 0), sd)
        return True
    except NotImplementedError:
        raise
    except Exception:
        return False


def _diagnose_error(impl, cfg, seed, exc):
    """The loader raised on a correct state dict: does it accept the layout a known mistake expects?"""
    said = f"Loading a correct GPT-2 state dict raised {type(exc).__name__}: {exc}{std.learner_line(exc, impl)}"
    sd = hf_state_dict(cfg, seed)
    mlp_linear = dict(sd)
    for i in range(cfg["n_layers"]):
        for name in ("mlp.c_fc.weight", "mlp.c_proj.weight"):
            mlp_linear[f"h.{i}.{name}"] = sd[f"h.{i}.{name}"].T.contiguous()
    if _loads(impl, cfg, mlp_linear):
        raise CheckFailed(f"{said}\nIt loads without error when mlp.c_fc.weight and mlp.c_proj.weight are "
                          "given in nn.Linear's (out, in) layout: the Conv1D weights are not transposed.",
                          diagnosis="no-transpose") from exc
    attn_rows = dict(sd)
    for i in range(cfg["n_layers"]):
        attn_rows[f"h.{i}.attn.c_attn.weight"] = sd[f"h.{i}.attn.c_attn.weight"].T.contiguous()
    if _loads(impl, cfg, attn_rows):
        raise CheckFailed(f"{said}\nIt loads without error when c_attn.weight is given as (3·emb, emb): "
                          "the fused weight is split along the wrong dim.", diagnosis="qkv-wrong-dim") from exc


def loaded(impl, cfg, seed, buffers=True):
    """The reference GPTModel after the module's load_weights_into_gpt, and the state dict it loaded."""
    sd = hf_state_dict(cfg, seed, buffers)
    model = fresh_model(cfg, seed + 100)
    try:
        impl.load_weights_into_gpt(model, sd)
    except NotImplementedError:
        raise
    except CheckFailed:
        raise
    except Exception as e:
        _diagnose_error(impl, cfg, seed, e)
        raise
    return model, sd


def parameters(model):
    """Every parameter by name, tied ones included (named_parameters() would list a shared one once)."""
    return {name: p.detach().clone() for name, p in model.named_parameters(remove_duplicate=False)}


def ids(cfg, seed, shape):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, cfg["vocab_size"], shape, generator=g)


# -- compare-checks ----------------------------------------------------------------------------------------
@suite.compare("Every parameter holds the checkpoint's values (renamed, transposed, split)",
               lesson="#names-and-shapes")
def check_parameters(impl):
    model, _ = loaded(impl, CFG, seed=1)
    return parameters(model)


@suite.compare("The loaded model's logits match the reference's (eval mode)", lesson="#names-and-shapes")
def check_logits(impl):
    outs = []
    for cfg, seed, shape in [(CFG, 2, (2, 10)), (CFG, 3, (1, 4)), (CFG_B, 4, (3, 7))]:
        model, _ = loaded(impl, cfg, seed)
        model.eval()
        with torch.no_grad():
            outs.append(model(ids(cfg, seed, shape)))
    return outs


@suite.compare("Twelve blocks are loaded in order: h.{i} goes into trf_blocks[i], also for i ≥ 10",
               lesson="#names-and-shapes")
def check_twelve_blocks(impl):
    model, _ = loaded(impl, CFG_DEEP, seed=5)
    model.eval()
    with torch.no_grad():
        logits = model(ids(CFG_DEEP, 5, (2, 5)))
    return {"parameters": parameters(model), "logits": logits}


@suite.compare("A state dict without the attn.bias buffers loads the same", lesson="#names-and-shapes")
def check_without_buffers(impl):
    model, _ = loaded(impl, CFG_B, seed=6, buffers=False)
    return parameters(model)


def _raises(impl, cases):
    result = {}
    for name, shape in cases:
        sd = hf_state_dict(CFG, seed=7)
        sd[name] = torch.randn(*shape)
        try:
            impl.load_weights_into_gpt(fresh_model(CFG, 8), sd)
            result[f"loading {name} of shape {shape} raised an error"] = False
        except NotImplementedError:
            raise
        except Exception:
            result[f"loading {name} of shape {shape} raised an error"] = True
    return result


@suite.compare("A tensor that would broadcast into its place raises an error (never spread silently)",
               lesson="#an-assign-that-fails-loudly")
def check_broadcastable_shapes_raise(impl):
    E = CFG["emb_dim"]
    return _raises(impl, [("h.1.ln_2.bias", (1,)), ("wpe.weight", (1, E)), ("ln_f.weight", (1,)),
                          ("h.2.attn.c_proj.bias", (1,)), ("h.0.mlp.c_fc.bias", (1,)),
                          ("h.1.attn.c_proj.weight", (1, E)), ("h.0.ln_1.weight", (1,))])


@suite.compare("A tensor of the wrong size raises an error (never accepted as it is)",
               lesson="#an-assign-that-fails-loudly")
def check_wrong_shapes_raise(impl):
    E, C, V = CFG["emb_dim"], CFG["context_length"], CFG["vocab_size"]
    return _raises(impl, [("h.0.attn.c_attn.bias", (E,)), ("wte.weight", (V + 1, E)), ("wpe.weight", (C + 2, E)),
                          ("h.0.mlp.c_fc.bias", (1, 4 * E)), ("h.1.mlp.c_proj.weight", (4 * E, E + 3))])


# -- property checks -------------------------------------------------------------------------------------
@suite.check("After loading, out_head.weight equals wte.weight (weight tying)", lesson="#weight-tying")
def check_head_tied(learner):
    model, sd = loaded(learner, CFG, seed=9)
    head = model.out_head.weight.detach()
    if tuple(head.shape) != tuple(sd["wte.weight"].shape) or not torch.equal(head, sd["wte.weight"]):
        raise CheckFailed("out_head.weight does not equal the checkpoint's wte.weight after loading. GPT-2 "
                          "ties its output head to the token embeddings: load wte.weight into both.",
                          diagnosis="head-not-tied")
