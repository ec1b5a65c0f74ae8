"""Hidden checks for the loss exercise (lessons/10-loss.md).

The model is a small stand-in with GPT's interface (ids (b, T) -> logits (b, T, vocab)): an embedding
and a linear layer over a vocabulary of 11 tokens, built here from a fixed seed so that the reference,
each known mistake and the learner's code all see the same weights. Loaders are plain DataLoaders over
fixed random batches, in order.
"""

import math

import torch
from torch.utils.data import DataLoader, TensorDataset

from tutor.grading.framework import CheckFailed, Suite

suite = Suite("loss")

VOCAB = 11


class EmbedLinearLM(torch.nn.Module):
    """ids (b, T) -> logits (b, T, VOCAB): an embedding followed by a linear layer."""

    def __init__(self, seed, vocab_size=VOCAB, emb_dim=8):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.emb = torch.nn.Embedding(vocab_size, emb_dim)
        self.head = torch.nn.Linear(emb_dim, vocab_size)
        with torch.no_grad():  # large weights: confident, so the losses differ a lot between batches
            self.emb.weight.copy_(torch.randn(vocab_size, emb_dim, generator=gen))
            self.head.weight.copy_(torch.randn(vocab_size, emb_dim, generator=gen))
            self.head.bias.copy_(torch.randn(vocab_size, generator=gen))

    def forward(self, idx):
        return self.head(self.emb(idx))  # (b, T, vocab)


def _batch(seed, b, t):
    gen = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, VOCAB, (b, t + 1), generator=gen)
    # Targets = inputs shifted by one, as the data loader makes them; contiguous, like a collated batch
    # (so .view() works on them as it does on real batches).
    return tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()


def _loader(seed, num_batches, batch_size=2, t=5):
    """`num_batches` batches of shape (batch_size, t), always in the same order."""
    gen = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, VOCAB, (num_batches * batch_size, t + 1), generator=gen)
    return DataLoader(TensorDataset(tokens[:, :-1], tokens[:, 1:]), batch_size=batch_size, shuffle=False)


def _uneven_loader(seed, num_sequences=5, batch_size=2, t=5):
    """Batches of 2, 2 and then 1 sequence (drop_last=False): a smaller last batch."""
    gen = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, VOCAB, (num_sequences, t + 1), generator=gen)
    return DataLoader(TensorDataset(tokens[:, :-1], tokens[:, 1:]), batch_size=batch_size, shuffle=False,
                      drop_last=False)


# -- known mistakes --------------------------------------------------------------------------------------
suite.mistake(
    "flatten-swapped",
    "The logits and the targets are flattened in different orders, so each prediction is scored against "
    "another position's target. Use logits.flatten(0, 1) with target_batch.flatten().",
    lesson="#cross-entropy-in-pytorch",
    replace=[("logits.flatten(0, 1),", "logits.transpose(0, 1).flatten(0, 1),")],
)
suite.mistake(
    "batch-sum",
    "The batch loss is the sum over all positions; it must be the mean (cross_entropy's default "
    "reduction).",
    lesson="#cross-entropy-in-pytorch",
    replace=[("target_batch.flatten(),  # (b * num_tokens,)\n",
              'target_batch.flatten(),  # (b * num_tokens,)\n        reduction="sum",\n')],
)
suite.mistake(
    "shifted-again",
    "The targets are shifted a second time. The data loader already shifted them: position t of the "
    "logits is scored against position t of target_batch.",
    lesson="#what-the-model-is-scored-on",
    replace=[("logits.flatten(0, 1),", "logits[:, :-1].flatten(0, 1),"),
             ("target_batch.flatten(),", "target_batch[:, 1:].flatten(),")],
)
suite.mistake(
    "loader-sum",
    "calc_loss_loader returns the sum of the batch losses; divide by the number of batches used.",
    lesson="#the-loss-over-a-loader",
    replace=[("return total_loss / num_batches", "return total_loss")],
)
suite.mistake(
    "divide-by-len",
    "calc_loss_loader divides by len(data_loader) even when only num_batches batches were added up; "
    "divide by the number of batches actually used.",
    lesson="#the-loss-over-a-loader",
    replace=[("return total_loss / num_batches", "return total_loss / len(data_loader)")],
)
suite.mistake(
    "num-batches-ignored",
    "calc_loss_loader adds up every batch of the loader, not only the first num_batches.",
    lesson="#the-loss-over-a-loader",
    replace=[("        if i >= num_batches:\n            break\n", "")],
)
suite.mistake(
    "no-min",
    "When num_batches is larger than the loader, the sum is still divided by num_batches; use "
    "min(num_batches, len(data_loader)).",
    lesson="#the-loss-over-a-loader",
    replace=[("num_batches = min(num_batches, len(data_loader))", "num_batches = num_batches")],
)
suite.mistake(
    "token-weighted",
    "calc_loss_loader weights each batch by its number of tokens; the loss over a loader is the plain mean of "
    "the per-batch losses, so a smaller last batch counts as much as the others.",
    lesson="#the-loss-over-a-loader",
    replace=[("total_loss = 0.0", "total_loss, total_tokens = 0.0, 0"),
             ("total_loss += loss.item()",
              "total_loss += loss.item() * target_batch.numel()\n        total_tokens += target_batch.numel()"),
             ("return total_loss / num_batches", "return total_loss / total_tokens")],
)
suite.mistake(
    "perplexity-exp-neg",
    "perplexity returns exp(-loss), the inverse of the perplexity; it is exp(loss).",
    lesson="#perplexity",
    replace=[("return math.exp(float(loss))", "return math.exp(-float(loss))")],
)
suite.mistake(
    "perplexity-base-2",
    "perplexity uses 2 ** loss; the loss is in nats (natural log), so perplexity is exp(loss).",
    lesson="#perplexity",
    replace=[("return math.exp(float(loss))", "return 2 ** float(loss)")],
)


# -- checks ------------------------------------------------------------------------------------------------
@suite.compare("calc_loss_batch gives the mean cross-entropy of a batch", lesson="#cross-entropy-in-pytorch")
def check_batch_loss(impl):
    losses = {}
    for seed, (b, t) in enumerate([(2, 5), (3, 4), (1, 7), (4, 1)]):
        model = EmbedLinearLM(seed)
        inputs, targets = _batch(100 + seed, b, t)
        losses[f"batch of shape {(b, t)}"] = impl.calc_loss_batch(inputs, targets, model, "cpu")
    return losses


@suite.compare("calc_loss_loader averages the batch losses of the whole loader", lesson="#the-loss-over-a-loader")
def check_loader_all(impl):
    model = EmbedLinearLM(7)
    return {"5 batches, num_batches not given": impl.calc_loss_loader(_loader(1, 5), model, "cpu"),
            "3 batches, num_batches=None": impl.calc_loss_loader(_loader(2, 3, batch_size=3, t=4), model,
                                                                 torch.device("cpu"), num_batches=None)}


@suite.compare("calc_loss_loader averages the batch losses also when the last batch is smaller (drop_last=False)",
               lesson="#the-loss-over-a-loader")
def check_loader_uneven(impl):
    model = EmbedLinearLM(12)
    return {"batches of 2, 2 and 1 sequences": impl.calc_loss_loader(_uneven_loader(5), model, "cpu"),
            "batches of 3 and 1 sequences, num_batches=2": impl.calc_loss_loader(
                _uneven_loader(6, num_sequences=4, batch_size=3), model, "cpu", num_batches=2)}


@suite.compare("calc_loss_loader uses only the first num_batches batches", lesson="#the-loss-over-a-loader")
def check_loader_fewer(impl):
    model = EmbedLinearLM(8)
    loader = _loader(3, 5)
    return {"5 batches, num_batches=2": impl.calc_loss_loader(loader, model, "cpu", num_batches=2),
            "5 batches, num_batches=1": impl.calc_loss_loader(loader, model, "cpu", num_batches=1)}


@suite.compare("calc_loss_loader with num_batches larger than the loader uses every batch",
               lesson="#the-loss-over-a-loader")
def check_loader_more(impl):
    model = EmbedLinearLM(9)
    return {"3 batches, num_batches=10": impl.calc_loss_loader(_loader(4, 3), model, "cpu", num_batches=10)}


@suite.compare("calc_loss_loader returns nan for an empty loader", lesson="#the-loss-over-a-loader")
def check_loader_empty(impl):
    model = EmbedLinearLM(10)
    empty = DataLoader(TensorDataset(torch.zeros(0, 5, dtype=torch.long), torch.zeros(0, 5, dtype=torch.long)),
                       batch_size=2)
    return {"empty loader, num_batches not given": impl.calc_loss_loader(empty, model, "cpu"),
            "empty loader, num_batches=3": impl.calc_loss_loader(empty, model, "cpu", num_batches=3)}


@suite.compare("perplexity is exp(loss)", lesson="#perplexity")
def check_perplexity(impl):
    values = {f"perplexity({x})": impl.perplexity(x) for x in (0.0, 1.0, 2.5822, 10.78)}
    values["perplexity(torch.tensor(3.0))"] = impl.perplexity(torch.tensor(3.0))
    return values


@suite.check("calc_loss_batch returns a 0-d tensor you can call backward() on", lesson="#cross-entropy-in-pytorch")
def check_batch_loss_backprop(learner):
    model = EmbedLinearLM(11)
    inputs, targets = _batch(111, 2, 4)
    loss = learner.calc_loss_batch(inputs, targets, model, "cpu")
    if not torch.is_tensor(loss):
        raise CheckFailed(f"calc_loss_batch should return a tensor (the training loop calls loss.backward() on it), "
                          f"got {type(loss).__name__}: {loss!r}. Don't call .item() in calc_loss_batch.")
    if loss.dim() != 0:
        raise CheckFailed(f"calc_loss_batch should return a 0-d tensor (one number), got shape {tuple(loss.shape)}.")
    if not loss.requires_grad:
        raise CheckFailed("The loss returned by calc_loss_batch is not attached to the model's graph, so "
                          "loss.backward() cannot reach the weights. Don't compute it under torch.no_grad() "
                          "or detach it.")
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    if missing:
        raise CheckFailed(f"After loss.backward(), the model's parameters {missing} got no gradient.")


@suite.check("perplexity returns a Python float, also for a tensor", lesson="#perplexity")
def check_perplexity_float(learner):
    for value in (2.0, torch.tensor(2.0)):
        got = learner.perplexity(value)
        if type(got) is not float:
            raise CheckFailed(f"perplexity({value!r}) should return a Python float, got {type(got).__name__}: "
                              f"{got!r}. Convert with float(...) or .item().")
        if not math.isclose(got, math.exp(2.0), rel_tol=1e-5):
            raise CheckFailed(f"perplexity({value!r}) should be exp(2.0) = {math.exp(2.0):.4f}, got {got!r}.")


class _MoveRecorder(torch.Tensor):
    """A tensor that notes when it is moved to a device (.to, .cuda, .cpu, or any call given device=)."""

    moved: list = []

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__name__", "") in ("to", "cuda", "cpu") or "device" in kwargs:
            label = getattr(args[0], "_tutor_label", None) if args else None
            if label:
                cls.moved.append(label)
        return super().__torch_function__(func, types, args, kwargs)


def _recording(t, label):
    r = t.as_subclass(_MoveRecorder)
    r._tutor_label = label
    return r


@suite.check("calc_loss_batch moves both batches to the device", lesson="#cross-entropy-in-pytorch")
def check_batch_moved_to_device(learner):
    model = EmbedLinearLM(13)
    inputs, targets = _batch(113, 2, 4)
    _MoveRecorder.moved = []
    learner.calc_loss_batch(_recording(inputs, "input_batch"), _recording(targets, "target_batch"), model, "cpu")
    missing = [label for label in ("input_batch", "target_batch") if label not in _MoveRecorder.moved]
    if missing:
        raise CheckFailed(
            f"calc_loss_batch never moves {' and '.join(missing)} to `device`. On the CPU nothing changes, but on a "
            "GPU the model and the batch would be on different devices: use input_batch.to(device) and "
            "target_batch.to(device)."
        )


@suite.check("calc_loss_loader returns a Python float", lesson="#the-loss-over-a-loader")
def check_loader_returns_float(learner):
    got = learner.calc_loss_loader(_loader(14, 2), EmbedLinearLM(14), "cpu")
    if type(got) is not float:
        raise CheckFailed(f"calc_loss_loader should return a Python float, got {type(got).__name__}: {got!r:.80}. "
                          "Add up loss.item() (a float) for each batch, so no graph is kept alive across batches.")
