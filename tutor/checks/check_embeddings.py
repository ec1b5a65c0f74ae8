"""Hidden checks for the embeddings exercise (lessons/03-embeddings.md)."""

import torch

import tutor.checks._common as std
from tutor.grading.framework import Suite

suite = Suite("embeddings")


def _embed(impl, vocab_size, context_length, emb_dim, idx):
    """The module's output for `idx`, with the reference's (seeded) weights copied in."""
    m = std.with_reference_params(suite, impl, lambda mod: mod.GPTEmbedding(vocab_size, context_length, emb_dim),
                                  seed=vocab_size * 100 + context_length)
    return m(idx)


def _ids(seed, high, shape):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, high, shape, generator=g)


# -- known mistakes --------------------------------------------------------------------------------------
suite.mistake(
    "positions-from-ids",
    "The positional embeddings are looked up with the token ids; positions are torch.arange(num_tokens).",
    lesson="#why-position-matters",
    replace=[("pos_embeds = self.pos_emb(positions)", "pos_embeds = self.pos_emb(idx)")],
)
suite.mistake(
    "pos-table-vocab-size",
    "pos_emb has vocab_size rows; it needs one row per position: nn.Embedding(context_length, emb_dim).",
    lesson="#why-position-matters",
    replace=[("self.pos_emb = nn.Embedding(context_length, emb_dim)",
              "self.pos_emb = nn.Embedding(vocab_size, emb_dim)")],
)
suite.mistake(
    "positions-from-one",
    "Positions start at 1; the first token has position 0 (torch.arange(num_tokens)).",
    lesson="#why-position-matters",
    replace=[("torch.arange(num_tokens, device=idx.device)", "torch.arange(1, num_tokens + 1, device=idx.device)")],
)
suite.mistake(
    "concatenated",
    "Token and positional embeddings are concatenated; they must be added (the width stays emb_dim).",
    lesson="#adding-the-two",
    replace=[("return tok_embeds + pos_embeds",
              "return torch.cat([tok_embeds, pos_embeds.expand(batch_size, -1, -1)], dim=-1)")],
)
suite.mistake(
    "multiplied",
    "Token and positional embeddings are multiplied; they must be added.",
    lesson="#adding-the-two",
    replace=[("return tok_embeds + pos_embeds", "return tok_embeds * pos_embeds")],
)
suite.mistake(
    "no-positions",
    "Only the token embeddings are returned; add the positional embeddings.",
    lesson="#adding-the-two",
    replace=[("return tok_embeds + pos_embeds", "return tok_embeds")],
)
suite.mistake(
    "first-sequence-only",
    "Only the first sequence of the batch (idx[0]) is embedded; embed the whole (batch, num_tokens) tensor.",
    lesson="#broadcasting-over-the-batch",
    replace=[("tok_embeds = self.tok_emb(idx)", "tok_embeds = self.tok_emb(idx[0])")],
)
suite.mistake(
    "positions-along-batch",
    "The number of positions is read from the batch dimension; idx is (batch, num_tokens), so the "
    "positions are torch.arange(idx.shape[1]).",
    lesson="#broadcasting-over-the-batch",
    replace=[("batch_size, num_tokens = idx.shape", "num_tokens, batch_size = idx.shape")],
)
suite.mistake(
    "scaled-token-embeddings",
    "The token embeddings are multiplied by √emb_dim (as in the original Transformer); GPT-2 does not scale them.",
    lesson="#adding-the-two",
    replace=[("tok_embeds = self.tok_emb(idx)", "tok_embeds = self.tok_emb(idx) * self.tok_emb.embedding_dim ** 0.5")],
)


# -- compare-checks ----------------------------------------------------------------------------------------
@suite.compare("Parameters: tok_emb.weight is (vocab_size, emb_dim), pos_emb.weight is (context_length, emb_dim)",
               lesson="#the-exercise")
def check_parameter_shapes(impl):
    m = impl.GPTEmbedding(vocab_size=11, context_length=7, emb_dim=5)
    return {name: tuple(p.shape) for name, p in m.named_parameters()}


@suite.compare("Batch of 3 sequences of 5 tokens (vocab 6, context 8, emb_dim 4)", lesson="#adding-the-two")
def check_small_vocab(impl):
    # Every id is < context_length here, so even positions looked up by token id give numbers, not an error.
    return _embed(impl, 6, 8, 4, _ids(1, 6, (3, 5)))


@suite.compare("A full-length batch: 2 sequences of context_length=6 tokens (vocab 50, emb_dim 4)",
               lesson="#why-position-matters")
def check_full_context(impl):
    return _embed(impl, 50, 6, 4, _ids(2, 50, (2, 6)))


@suite.compare("Sequences shorter than the context: batch 4, 3 tokens, context 10",
               lesson="#why-position-matters")
def check_shorter_sequences(impl):
    return _embed(impl, 30, 10, 3, _ids(3, 30, (4, 3)))


@suite.compare("A batch holding one sequence of 7 tokens (context 10)", lesson="#broadcasting-over-the-batch")
def check_batch_of_one(impl):
    return _embed(impl, 30, 10, 3, _ids(4, 30, (1, 7)))


@suite.compare("A single token, alone and in a batch of 5", lesson="#why-position-matters")
def check_single_token(impl):
    return [_embed(impl, 20, 4, 6, torch.tensor([[7]])),
            _embed(impl, 20, 4, 6, _ids(5, 20, (5, 1)))]


# -- property checks ---------------------------------------------------------------------------------------
def _learner_module(learner, vocab_size=40, context_length=6, emb_dim=4):
    return std.with_reference_params(suite, learner,
                                     lambda mod: mod.GPTEmbedding(vocab_size, context_length, emb_dim), seed=0)


check_batch_independence = std.batch_independence(
    suite, title="Each sequence of a batch is embedded on its own", build=_learner_module,
    inputs=lambda: _ids(6, 40, (3, 5)), lesson="#broadcasting-over-the-batch",
    hint="Every sequence must be embedded independently of the others.", atol=1e-6, rtol=0.0)

check_gradients = std.gradients_reach_every_parameter(
    suite, title="Gradients reach both tok_emb and pos_emb", build=_learner_module,
    inputs=lambda: _ids(7, 40, (2, 6)), loss=lambda out: out.pow(2).sum(), lesson="#the-exercise",
    hint="The output must be computed from both tables (token embeddings + positional embeddings) so that "
         "both are trained.")
