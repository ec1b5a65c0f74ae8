"""Hidden checks for the gpt_model exercise (lessons/09-gpt-model.md): GPTModel and generate_text_simple."""

import torch
from torch.overrides import TorchFunctionMode

import tutor.checks._common as std
from tutor.grading.framework import CheckFailed, Suite, randomize_norms

suite = Suite("gpt_model")

# -- known mistakes --------------------------------------------------------------------------------------
suite.mistake(
    "no-position-embeddings",
    "The position embeddings are not added: the input to the blocks must be tok_emb(ids) + pos_emb(positions).",
    lesson="#token-and-position-embeddings",
    replace=[("x = tok_embeds + pos_embeds", "x = tok_embeds")],
)
suite.mistake(
    "no-final-norm",
    "final_norm is not applied: the output head must read final_norm(trf_blocks(...)).",
    lesson="#the-stack-of-blocks-and-the-final-norm",
    replace=[("        x = self.final_norm(x)\n", "")],
)
suite.mistake(
    "tied-output-head",
    "out_head shares its weight with tok_emb (weight tying); in this course they are separate parameters.",
    lesson="#the-output-head",
    replace=[("        self.out_head = nn.Linear(cfg[\"emb_dim\"], cfg[\"vocab_size\"], bias=False)\n",
              "        self.out_head = nn.Linear(cfg[\"emb_dim\"], cfg[\"vocab_size\"], bias=False)\n"
              "        self.out_head.weight = self.tok_emb.weight\n")],
)
suite.mistake(
    "head-with-bias",
    "out_head has a bias; it is nn.Linear(emb_dim, vocab_size, bias=False).",
    lesson="#the-output-head",
    replace=[("nn.Linear(cfg[\"emb_dim\"], cfg[\"vocab_size\"], bias=False)",
              "nn.Linear(cfg[\"emb_dim\"], cfg[\"vocab_size\"])")],
)
suite.mistake(
    "first-position",
    "generate_text_simple predicts from the first position (logits[:, 0]); the next token comes from the last "
    "position, logits[:, -1].",
    lesson="#greedy-generation",
    replace=[("logits = logits[:, -1, :]", "logits = logits[:, 0, :]")],
)
suite.mistake(
    "no-context-cropping",
    "generate_text_simple gives the model the whole sequence; crop it to the last context_size tokens first.",
    lesson="#cropping-the-context",
    replace=[("idx_cond = idx[:, -context_size:]", "idx_cond = idx")],
)
suite.mistake(
    "crop-oldest",
    "generate_text_simple keeps the first context_size tokens (idx[:, :context_size]); keep the last ones, "
    "idx[:, -context_size:].",
    lesson="#cropping-the-context",
    replace=[("idx_cond = idx[:, -context_size:]", "idx_cond = idx[:, :context_size]")],
)

CFG = {"vocab_size": 60, "context_length": 8, "emb_dim": 12, "n_heads": 2, "n_layers": 2,
       "drop_rate": 0.1, "qkv_bias": False}
CFG_B = {"vocab_size": 97, "context_length": 6, "emb_dim": 8, "n_heads": 2, "n_layers": 1,
         "drop_rate": 0.0, "qkv_bias": True}
GPT_CONFIG_124M = {"vocab_size": 50257, "context_length": 1024, "emb_dim": 768, "n_heads": 12, "n_layers": 12,
                   "drop_rate": 0.1, "qkv_bias": False}


def _source_model(cfg, seed):
    """A reference GPTModel to copy weights from: default init from `seed`, every LayerNorm's scale and shift
    set to random values (so a skipped or misplaced norm shows). Built once per grading run and shared by the
    reference, the known mistakes and the learner (it is only ever read)."""
    return std.shared_source(suite, tuple(sorted(cfg.items())), lambda m: m.GPTModel(cfg), seed=seed,
                             init=randomize_norms)


def _model(impl, cfg, seed):
    """The module's GPTModel with the parameters of `_source_model(cfg, seed)`."""
    # reseed: what the probe draws next does not depend on how the model was built
    return std.copy_from(_source_model(cfg, seed), impl.GPTModel(cfg), reseed=seed + 1000)


class _RecordingModel(torch.nn.Module):
    """A stand-in model for generation: its logits' argmax depends on the length and the content of the window
    it is given, and it records the lengths it was called with."""

    def __init__(self, vocab_size):
        super().__init__()
        self.vocab_size = vocab_size
        self.lengths = []

    def forward(self, idx):
        n = idx.shape[1]
        self.lengths.append(n)
        target = (idx.cumsum(dim=1) * 3 + n) % self.vocab_size  # (b, n): the preferred token at each position
        return torch.nn.functional.one_hot(target, self.vocab_size).float() * 4.0 - 2.0  # (b, n, vocab)


class _ShapesOnly(TorchFunctionMode):
    """With torch.device("meta"): skip in-place initializers and masks, whose meta kernels would import
    torch._dynamo and sympy (seconds). Only parameter shapes are wanted, so values may stay unset."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        first = next((a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)), None)
        if first is not None and first.is_meta:
            if name.endswith("_") and not name.endswith("__"):
                return first
            if name in ("triu", "tril"):
                return torch.empty(first.shape, dtype=first.dtype, device="meta")
        return func(*args, **kwargs)


def count_parameters_124m(module) -> int:
    """Parameters of `module.GPTModel(GPT_CONFIG_124M)`, built on the meta device (no memory, no init)."""
    with torch.device("meta"), _ShapesOnly():
        model = module.GPTModel(GPT_CONFIG_124M)
    return sum(p.numel() for p in model.parameters())


# -- compare-checks: GPTModel ------------------------------------------------------------------------------
@suite.compare("GPTModel has the parameters tok_emb, pos_emb, trf_blocks.*, final_norm, out_head (no bias, not tied)",
               lesson="#from-token-ids-to-logits")
def check_parameter_shapes(impl):
    torch.manual_seed(0)
    m = impl.GPTModel(CFG)
    return {name: list(p.shape) for name, p in m.named_parameters()}


@suite.compare("GPTModel's logits match the reference in eval() mode", lesson="#from-token-ids-to-logits")
def check_logits(impl):
    outs = []
    for seed, cfg, shape in [(1, CFG, (2, 8)), (2, CFG, (3, 5)), (3, CFG_B, (2, 6))]:
        m = _model(impl, cfg, seed).eval()
        ids = torch.randint(0, cfg["vocab_size"], shape)
        with torch.no_grad():
            outs.append(m(ids))
    return outs


@suite.compare("GPTModel works on a single token and on short sequences", lesson="#token-and-position-embeddings")
def check_short_sequences(impl):
    m = _model(impl, CFG_B, seed=4).eval()
    with torch.no_grad():
        return [m(torch.randint(0, CFG_B["vocab_size"], (1, 1))), m(torch.randint(0, CFG_B["vocab_size"], (2, 3)))]


@suite.compare("GPTModel matches the reference in train() mode with drop_rate 0", lesson="#from-token-ids-to-logits")
def check_logits_train_no_dropout(impl):
    m = _model(impl, dict(CFG, drop_rate=0.0), seed=5).train()
    return m(torch.randint(0, CFG["vocab_size"], (2, 7)))


# -- compare-checks: generate_text_simple ------------------------------------------------------------------
@suite.compare("generate_text_simple appends the argmax of the last position, cropping to context_size",
               lesson="#greedy-generation")
def check_generate_recorded(impl):
    results = []
    for seed, shape, new, context in [(6, (2, 3), 6, 5), (7, (1, 7), 3, 4), (8, (2, 2), 4, 10), (9, (1, 3), 0, 4)]:
        torch.manual_seed(seed)
        model = _RecordingModel(50)
        idx = torch.randint(0, 50, shape)
        out = impl.generate_text_simple(model, idx, max_new_tokens=new, context_size=context)
        results.append({"lengths of the inputs given to the model": list(model.lengths), "ids": out})
    return results


@suite.compare("generate_text_simple continues text with a real (reference) GPTModel", lesson="#cropping-the-context")
def check_generate_real_model(impl):
    model = _source_model(CFG_B, seed=10).eval()  # the reference model, read only
    torch.manual_seed(100)
    idx = torch.randint(0, CFG_B["vocab_size"], (2, 3))
    # 3 + 5 tokens: the last two steps need cropping to context_length 6.
    return impl.generate_text_simple(model, idx, max_new_tokens=5, context_size=CFG_B["context_length"])


# -- property checks -------------------------------------------------------------------------------------
@suite.check("The GPT-2 124M config has 163,009,536 parameters (counted on the meta device)",
             lesson="#counting-parameters")
def check_parameter_count_124m(learner, reference):
    expected = count_parameters_124m(reference)
    got = count_parameters_124m(learner)
    if got == expected:
        return
    vocab, emb = GPT_CONFIG_124M["vocab_size"], GPT_CONFIG_124M["emb_dim"]
    why = ""
    if got == expected - vocab * emb:
        why = " That is one vocab_size × emb_dim matrix less: is out_head tied to tok_emb?"
    elif got == expected + vocab:
        why = " That is vocab_size more: does out_head have a bias? It should be bias=False."
    raise CheckFailed(
        f"GPTModel(GPT_CONFIG_124M) has {got:,} parameters; expected {expected:,} "
        f"(difference {got - expected:+,}).{why}"
    )


check_eval_deterministic = std.eval_is_deterministic(
    suite, title="In eval() mode the logits are deterministic (dropout off)",
    build=lambda learner: _model(learner, dict(CFG, drop_rate=0.5), seed=11),
    inputs=lambda: torch.randint(0, CFG["vocab_size"], (2, 8), generator=torch.Generator().manual_seed(110)),
    lesson="#from-token-ids-to-logits",
    hint="With drop_rate 0.5, dropout must be off in eval(): use nn.Dropout modules, which switch off in eval().")


def _cross_entropy(ids):
    return lambda logits: torch.nn.functional.cross_entropy(logits.flatten(0, 1),
                                                            torch.roll(ids, -1, dims=1).flatten())


_GRAD_IDS = torch.randint(0, CFG["vocab_size"], (2, 8), generator=torch.Generator().manual_seed(120))

check_gradients = std.gradients_reach_every_parameter(
    suite, build=lambda learner: _model(learner, dict(CFG, drop_rate=0.0), seed=12).train(),
    inputs=lambda: _GRAD_IDS, loss=_cross_entropy(_GRAD_IDS), lesson="#from-token-ids-to-logits",
    hint="Every submodule must be used in forward.")

check_batch_independence = std.batch_independence(
    suite, title="Sequences in a batch do not influence each other", build=lambda learner: _model(learner, CFG, seed=13),
    inputs=lambda: torch.randint(0, CFG["vocab_size"], (3, 6), generator=torch.Generator().manual_seed(130)),
    lesson="#from-token-ids-to-logits", hint="Something mixes values across the batch dimension.")

check_causal = std.causality(
    suite, title="Changing a later token leaves earlier logits unchanged (causality)",
    build=lambda learner: _model(learner, CFG, seed=14),
    inputs=lambda: torch.randint(0, CFG["vocab_size"], (2, 8), generator=torch.Generator().manual_seed(140)),
    vary=std.vary_ids(CFG["vocab_size"]), lesson="#from-token-ids-to-logits",
    hint="position i may only depend on tokens 0..i.")


@suite.check("In train() mode dropout acts on the embeddings (tok_emb + pos_emb) before the blocks",
             lesson="#from-token-ids-to-logits")
def check_embedding_dropout(learner):
    p, cfg = 0.5, dict(CFG, drop_rate=0.5)
    m = _model(learner, cfg, seed=15)
    # Every block becomes the identity: attention's and the feed-forward's output layers are zero, so each
    # shortcut adds (dropped-out) zeros. What reaches final_norm is then the embeddings after drop_emb.
    params = dict(m.named_parameters())
    with torch.no_grad():
        for name, param in params.items():
            if name.endswith(("att.out_proj.weight", "att.out_proj.bias", "ff.layers.2.weight", "ff.layers.2.bias")):
                param.zero_()
    ids = torch.randint(0, cfg["vocab_size"], (4, 8), generator=torch.Generator().manual_seed(150))
    with torch.no_grad():
        base = std.input_of(m.eval(), "final_norm", lambda: m(ids))
        m.train()
        torch.manual_seed(151)
        got = std.input_of(m, "final_norm", lambda: m(ids))
    if base is None or got is None:
        raise CheckFailed("final_norm was never called: the output head must read final_norm(trf_blocks(...)).")
    if tuple(got.shape) != tuple(base.shape):
        raise CheckFailed(f"final_norm's input has shape {tuple(got.shape)} in train() mode and {tuple(base.shape)} "
                          "in eval() mode.")
    problem = std.dropout_problem(
        base, got, p, noun="embedding entry", nouns="embedding entries", low=0.35, high=0.65,
        none_hint="Apply drop_emb to tok_emb(ids) + pos_emb(positions), before the transformer blocks.")
    if problem:
        raise CheckFailed(problem + "\n  drop_emb acts once, on the sum of the token "
                          "and position embeddings.")
