"""Hidden checks for the transformer_block exercise (lessons/08-transformer-block.md)."""

import torch

import tutor.checks._common as std
from tutor.grading.framework import CheckFailed, Suite, describe_tensor, randomize_norms

suite = Suite("transformer_block")

_ATT_LINE = "x = x + self.drop_shortcut(self.att(self.norm1(x)))"
_FF_LINE = "x = x + self.drop_shortcut(self.ff(self.norm2(x)))"

# -- known mistakes --------------------------------------------------------------------------------------
suite.mistake(
    "post-norm",
    "The block normalizes after adding the shortcut (post-norm, norm(x + sublayer(x))); GPT-2 normalizes the "
    "sub-block's input (pre-norm, x + sublayer(norm(x))).",
    lesson="#pre-layernorm",
    replace=[(_ATT_LINE, "x = self.norm1(x + self.drop_shortcut(self.att(x)))"),
             (_FF_LINE, "x = self.norm2(x + self.drop_shortcut(self.ff(x)))")],
)
suite.mistake(
    "no-attention-shortcut",
    "The attention sub-block does not add its input back (missing shortcut around attention).",
    lesson="#the-shortcut-connections",
    replace=[(_ATT_LINE, "x = self.drop_shortcut(self.att(self.norm1(x)))")],
)
suite.mistake(
    "no-ff-shortcut",
    "The feed-forward sub-block does not add its input back (missing shortcut around the feed-forward network).",
    lesson="#the-shortcut-connections",
    replace=[(_FF_LINE, "x = self.drop_shortcut(self.ff(self.norm2(x)))")],
)
suite.mistake(
    "normalized-shortcut",
    "The shortcut adds the normalized tensor back; it must add the sub-block's un-normalized input.",
    lesson="#the-shortcut-connections",
    replace=[(_ATT_LINE, "x = self.norm1(x)\n        x = x + self.drop_shortcut(self.att(x))"),
             (_FF_LINE, "x = self.norm2(x)\n        x = x + self.drop_shortcut(self.ff(x))")],
)
suite.mistake(
    "block-input-as-second-shortcut",
    "The feed-forward shortcut adds the block's original input; it must add its own input, the output of the "
    "attention sub-block.",
    lesson="#the-shortcut-connections",
    replace=[(_ATT_LINE, "block_input = x\n        " + _ATT_LINE),
             (_FF_LINE, "x = block_input + self.drop_shortcut(self.ff(self.norm2(x)))")],
)
suite.mistake(
    "norm1-twice",
    "norm1 is used for both sub-blocks; the feed-forward sub-block has its own LayerNorm, norm2.",
    lesson="#the-block-at-a-glance",
    replace=[("self.ff(self.norm2(x))", "self.ff(self.norm1(x))")],
)
suite.mistake(
    "ff-before-attention",
    "The feed-forward sub-block runs before attention; attention comes first.",
    lesson="#the-block-at-a-glance",
    replace=[("self.att(self.norm1(x))", "@ATT@"),
             ("self.ff(self.norm2(x))", "self.att(self.norm1(x))"),
             ("@ATT@", "self.ff(self.norm2(x))")],
)

CFG = {"vocab_size": 50, "context_length": 6, "emb_dim": 8, "n_heads": 2, "n_layers": 2,
       "drop_rate": 0.1, "qkv_bias": False}
CFG_B = {"vocab_size": 50, "context_length": 5, "emb_dim": 12, "n_heads": 3, "n_layers": 1,
         "drop_rate": 0.0, "qkv_bias": True}


def _source_block(cfg, seed):
    """A reference block to copy weights from: default init from `seed`, LayerNorm scales and shifts set to
    random values (so norm1 and norm2 differ, and a skipped norm shows). Built once per grading run and shared
    by the reference, the known mistakes and the learner (it is only ever read)."""
    return std.shared_source(suite, tuple(sorted(cfg.items())), lambda m: m.TransformerBlock(cfg), seed=seed,
                             init=randomize_norms)


def _block(impl, cfg, seed):
    """The module's TransformerBlock with the parameters of `_source_block(cfg, seed)`."""
    # reseed: what the probe draws next does not depend on how the block was built
    return std.copy_from(_source_block(cfg, seed), impl.TransformerBlock(cfg), reseed=seed + 1000)


# -- compare-checks --------------------------------------------------------------------------------------
@suite.compare("TransformerBlock has the parameters att.*, ff.*, norm1.*, norm2.*", lesson="#the-exercise")
def check_parameter_shapes(impl):
    torch.manual_seed(0)
    m = impl.TransformerBlock(CFG)
    return {name: list(p.shape) for name, p in m.named_parameters()}


@suite.compare("TransformerBlock matches the reference in eval() mode", lesson="#the-block-at-a-glance")
def check_block_eval(impl):
    outs = []
    for seed, cfg, shape, scale in [(1, CFG, (2, 6), 1.0), (2, CFG, (3, 4), 5.0), (3, CFG_B, (2, 5), 2.0)]:
        m = _block(impl, cfg, seed).eval()
        x = torch.randn(*shape, cfg["emb_dim"]) * scale + 0.5
        with torch.no_grad():
            outs.append(m(x))
    return outs


@suite.compare("TransformerBlock matches the reference in train() mode with drop_rate 0",
               lesson="#the-block-at-a-glance")
def check_block_train_no_dropout(impl):
    m = _block(impl, dict(CFG, drop_rate=0.0), seed=4).train()
    torch.manual_seed(40)
    return m(torch.randn(2, 5, CFG["emb_dim"]))


@suite.compare("A single token and a sequence shorter than context_length work", lesson="#shapes-in-shapes-out")
def check_short_sequences(impl):
    m = _block(impl, CFG, seed=5).eval()
    torch.manual_seed(50)
    with torch.no_grad():
        return [m(torch.randn(1, 1, CFG["emb_dim"])), m(torch.randn(2, 2, CFG["emb_dim"]))]


# -- property checks -------------------------------------------------------------------------------------
check_eval_deterministic = std.eval_is_deterministic(
    suite, title="In eval() mode the output is deterministic (dropout off)",
    build=lambda learner: _block(learner, dict(CFG, drop_rate=0.5), seed=6),
    inputs=lambda: std.seeded_randn(60, 2, 6, CFG["emb_dim"]), lesson="#dropout-on-the-branches",
    hint="With drop_rate 0.5, dropout must be off in eval(): use nn.Dropout modules, which switch off in eval(), "
         "not torch.nn.functional.dropout(..., training=True).")


@suite.check("In train() mode dropout acts on the feed-forward update, before the shortcut",
             lesson="#dropout-on-the-branches")
def check_dropout_on_branch(learner):
    drop = 0.5
    m = _block(learner, dict(CFG, drop_rate=drop), seed=7)
    # Silence attention (its output projection is zero), so the block is x + drop_shortcut(ff(norm2(x))).
    params = dict(m.named_parameters())
    with torch.no_grad():
        params["att.out_proj.weight"].zero_()
        params["att.out_proj.bias"].zero_()
    torch.manual_seed(70)
    x = torch.randn(4, 6, CFG["emb_dim"])
    with torch.no_grad():
        update = m.eval()(x) - x  # ff(norm2(x)), no dropout
        m.train()
        torch.manual_seed(71)
        dropped = m(x) - x
    zeros = dropped.abs() < 1e-6
    kept_ok = torch.allclose(dropped[~zeros], update[~zeros] / (1 - drop), atol=1e-4, rtol=1e-3)
    frac = zeros.float().mean().item()
    if not (0.3 <= frac <= 0.7 and kept_ok):
        raise CheckFailed(
            "With attention silenced and drop_rate 0.5 in train() mode, output - input should be the feed-forward "
            "update with about half of its entries zeroed and the rest scaled by 1 / (1 - 0.5) = 2: "
            "dropout (drop_shortcut) goes on the update, before it is added to x.\n"
            f"  fraction of zeroed entries: {frac:.2f} (expected about 0.5)\n"
            f"  update in eval():  {describe_tensor(update)}\n"
            f"  update in train(): {describe_tensor(dropped)}"
        )


@suite.check("In train() mode dropout acts on the attention update, before the shortcut",
             lesson="#dropout-on-the-branches")
def check_dropout_on_attention_branch(learner):
    drop = 0.5
    m = _block(learner, dict(CFG, drop_rate=drop), seed=11)
    # Silence the feed-forward network, and make attention's output its out_proj bias alone (zero values):
    # then the block is x + drop_shortcut(bias), whatever attention's own dropout does.
    params = dict(m.named_parameters())
    with torch.no_grad():
        params["ff.layers.2.weight"].zero_()
        params["ff.layers.2.bias"].zero_()
        params["att.W_value.weight"].zero_()
    x = std.seeded_randn(110, 4, 6, CFG["emb_dim"])
    with torch.no_grad():
        update = m.eval()(x) - x  # out_proj.bias at every token, no dropout
        m.train()
        torch.manual_seed(111)
        dropped = m(x) - x
    problem = std.dropout_problem(update, dropped, drop, noun="entry of the attention update",
                                  nouns="entries of the attention update", low=0.3, high=0.7,
                                  none_hint="Dropout (drop_shortcut) goes on each sub-block's update, attention's "
                                            "too, before it is added to x.")
    if problem:
        raise CheckFailed(f"With the feed-forward network silenced and drop_rate 0.5 in train() mode: {problem}")


check_gradients = std.gradients_reach_every_parameter(
    suite, build=lambda learner: _block(learner, dict(CFG, drop_rate=0.0), seed=8).train(),
    inputs=lambda: std.seeded_randn(80, 2, 6, CFG["emb_dim"]), lesson="#the-block-at-a-glance",
    hint="Every submodule must be used in forward (is one of the LayerNorms unused?).")

check_batch_independence = std.batch_independence(
    suite, title="Sequences in a batch do not influence each other", build=lambda learner: _block(learner, CFG, seed=9),
    inputs=lambda: std.seeded_randn(90, 3, 5, CFG["emb_dim"]), lesson="#shapes-in-shapes-out",
    hint="Something mixes values across the batch dimension.")

check_causal = std.causality(
    suite, title="Changing a later token leaves earlier outputs unchanged (causality)",
    build=lambda learner: _block(learner, CFG, seed=10), inputs=lambda: std.seeded_randn(100, 2, 6, CFG["emb_dim"]),
    vary=std.vary_normal(seed=101), lesson="#the-block-at-a-glance",
    hint="only attention mixes tokens, and it is causal: apply it to the (normalized) sequence as a whole, and "
         "everything else token by token.")
