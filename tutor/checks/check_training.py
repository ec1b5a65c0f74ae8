"""Hidden checks for the training exercise (lessons/11-training.md).

The model is a small stand-in with GPT's interface (ids (b, T) -> logits (b, T, vocab), and a `pos_emb`
for the context length the sample generation reads). In train() mode it multiplies its hidden vector by
a fixed mask, a deterministic stand-in for dropout: train and eval mode give different outputs, so a
model left in the wrong mode changes the losses and the trained weights, yet every run is reproducible.
It also records, for each forward pass, the mode and whether gradients were being recorded.
Loaders are plain DataLoaders over fixed batches, in order; the tokenizer maps one letter to one id.
"""

import contextlib
import io
import re

import torch
from torch.utils.data import DataLoader, TensorDataset

from tutor.grading.framework import CheckFailed, Suite

suite = Suite("training")

VOCAB = 12
CONTEXT = 6


class MaskedEmbedLM(torch.nn.Module):
    """Token + position embeddings and a linear head; in train() mode the hidden vector is masked."""

    def __init__(self, seed, vocab_size=VOCAB, context_length=CONTEXT, emb_dim=8):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.tok_emb = torch.nn.Embedding(vocab_size, emb_dim)
        self.pos_emb = torch.nn.Embedding(context_length, emb_dim)
        self.out_head = torch.nn.Linear(emb_dim, vocab_size)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
        # Every other hidden unit dropped and the rest scaled by 2, like dropout with p = 0.5, but fixed.
        self.register_buffer("train_mask", (torch.arange(emb_dim) % 2).float() * 2.0, persistent=False)
        self.calls = []  # one (training, grad_enabled, batch shape) per forward pass

    def forward(self, idx):
        self.calls.append((self.training, torch.is_grad_enabled(), tuple(idx.shape)))
        num_tokens = idx.shape[1]
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(num_tokens, device=idx.device))  # (b, T, emb)
        if self.training:
            x = x * self.train_mask
        return self.out_head(x)  # (b, T, vocab)


class LetterTokenizer:
    """One letter, one id: 'a' -> 0, 'b' -> 1, … Accepts tiktoken's keyword arguments and ignores them.

    Decoding puts a space between letters (and encoding skips spaces), so a printed sample has spaces that
    must stay on one line."""

    letters = "abcdefghijkl"

    def encode(self, text, **kwargs):
        return [self.letters.index(c) for c in text if c != " "]

    def decode(self, ids):
        return " ".join(self.letters[i] for i in ids)


class CountingSGD:
    """Plain SGD with decoupled weight decay, counting its step() calls and noting, at each step, whether
    the model's latest forward pass with gradients (the one this step learns from) ran in train() mode.

    It has the two methods a training loop uses, zero_grad() and step(). (Not a torch.optim.Optimizer:
    constructing the first one of those in a process imports torch._dynamo, which costs seconds.)
    """

    def __init__(self, model, lr=0.3, weight_decay=0.01):
        self.model = model
        self.param_groups = [{"params": list(model.parameters()), "lr": lr, "weight_decay": weight_decay}]
        self.steps = 0
        self.train_mode_at_step = []

    def zero_grad(self, set_to_none=True):
        for p in self.param_groups[0]["params"]:
            if p.grad is not None:
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.zero_()

    @torch.no_grad()
    def step(self, closure=None):
        self.steps += 1
        with_grad = [training for training, grad_enabled, _ in self.model.calls if grad_enabled]
        self.train_mode_at_step.append(with_grad[-1] if with_grad else None)
        group = self.param_groups[0]
        for p in group["params"]:
            if p.grad is not None:
                p.mul_(1 - group["lr"] * group["weight_decay"])
                p.add_(p.grad, alpha=-group["lr"])


def _loader(seed, num_batches, batch_size=2, num_tokens=5):
    gen = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, VOCAB, (num_batches * batch_size, num_tokens + 1), generator=gen)
    return DataLoader(TensorDataset(tokens[:, :-1], tokens[:, 1:]), batch_size=batch_size, shuffle=False)


def _train(impl, seed, num_epochs, eval_freq, eval_iter, train_batches=3, batch_size=2, start_in_eval=False):
    model = MaskedEmbedLM(seed)
    if start_in_eval:
        model.eval()
    train_loader = _loader(seed + 100, train_batches, batch_size=batch_size)
    val_loader = _loader(seed + 200, 2, batch_size=batch_size)
    optimizer = CountingSGD(model)
    # (What the reference prints while the grader computes expected values is silenced by the grader.)
    result = impl.train_model_simple(model, train_loader, val_loader, optimizer, "cpu", num_epochs=num_epochs,
                                     eval_freq=eval_freq, eval_iter=eval_iter, start_context="abc",
                                     tokenizer=LetterTokenizer())
    return model, optimizer, result


_RUNS = {}  # (module, run name) -> summary: each module trains once per configuration, for several checks
RUN_CONFIGS = {
    "2 epochs of 3 batches of (2, 5), eval_freq=2, eval_iter=1":
        dict(seed=5, num_epochs=2, eval_freq=2, eval_iter=1),
    "3 epochs of 2 batches of (3, 5), eval_freq=4, eval_iter=2":
        dict(seed=6, num_epochs=3, eval_freq=4, eval_iter=2, train_batches=2, batch_size=3),
}


def _run_summary(impl, run):
    """Train a fresh stand-in model with `impl.train_model_simple`; what came back, the weights, the samples
    it printed and the model's mode afterwards."""
    if (impl, run) not in _RUNS:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            model, _, result = _train(impl, **RUN_CONFIGS[run])
        if not isinstance(result, (tuple, list)) or len(result) != 3:
            raise CheckFailed(f"train_model_simple should return (train_losses, val_losses, track_tokens_seen), "
                              f"got {type(result).__name__}: {result!r:.200}")
        train_losses, val_losses, tokens_seen = result
        _RUNS[impl, run] = {
            "track_tokens_seen": list(tokens_seen),
            "train_losses": list(train_losses), "val_losses": list(val_losses),
            "weights after training": {n: p.detach().clone() for n, p in model.named_parameters()},
            # generate_and_print_sample (given complete) prints start_context "abc" and its greedy continuation,
            # one letter after another: "a b c …"
            "samples printed after each epoch": re.findall(r"a b c(?: [a-l])*", printed.getvalue()),
            "model in train() mode after training": model.training,
        }
    return _RUNS[impl, run]


# -- known mistakes --------------------------------------------------------------------------------------
suite.mistake(
    "missing-zero-grad",
    "The gradients are never reset, so each step uses the sum of all gradients so far. "
    "Call optimizer.zero_grad() at the start of every step.",
    lesson="#why-gradients-must-be-reset",
    replace=[("            optimizer.zero_grad()  # gradients add up across backward() calls unless reset\n", "")],
)
suite.mistake(
    "step-before-backward",
    "optimizer.step() runs before loss.backward(), so every update uses missing or stale gradients. "
    "The order is zero_grad, loss, backward, step.",
    lesson="#one-step-in-five-lines",
    replace=[("            loss.backward()  # d loss / d parameter, into each parameter's .grad\n"
              "            optimizer.step()  # update the parameters from their .grad\n",
              "            optimizer.step()\n            loss.backward()\n")],
)
suite.mistake(
    "no-train-after-eval",
    "evaluate_model leaves the model in eval() mode, so training goes on without dropout. "
    "Call model.train() before returning.",
    lesson="#evaluating-while-you-train",
    replace=[("    model.train()\n    return train_loss, val_loss", "    return train_loss, val_loss")],
)
suite.mistake(
    "no-eval-mode",
    "evaluate_model does not switch to eval() mode, so the losses are measured with dropout active. "
    "Call model.eval() first.",
    lesson="#evaluating-while-you-train",
    replace=[("    model.eval()\n    with torch.no_grad():  # no graph", "    with torch.no_grad():  # no graph")],
)
suite.mistake(
    "eval-iter-ignored",
    "evaluate_model averages over whole loaders instead of their first eval_iter batches "
    "(pass num_batches=eval_iter to calc_loss_loader).",
    lesson="#evaluating-while-you-train",
    replace=[("num_batches=eval_iter", "num_batches=None")],
)
suite.mistake(
    "tokens-as-batches",
    "tokens seen counts batches (1 per step); add the number of tokens in the batch, input_batch.numel().",
    lesson="#counting-steps-and-tokens",
    replace=[("tokens_seen += input_batch.numel()", "tokens_seen += 1")],
)
suite.mistake(
    "tokens-as-sequences",
    "tokens seen counts sequences (len(input_batch)); add the number of tokens, input_batch.numel() "
    "= batch_size * num_tokens.",
    lesson="#counting-steps-and-tokens",
    replace=[("tokens_seen += input_batch.numel()", "tokens_seen += len(input_batch)")],
)
suite.mistake(
    "step-count-from-one",
    "The evaluations happen one step late: the first step is step 0, so evaluate after steps 0, eval_freq, "
    "2 * eval_freq, …",
    lesson="#counting-steps-and-tokens",
    replace=[("tokens_seen, global_step = 0, -1", "tokens_seen, global_step = 0, 0")],
)
suite.mistake(
    "losses-swapped",
    "evaluate_model returns (val_loss, train_loss); it must return (train_loss, val_loss).",
    lesson="#evaluating-while-you-train",
    replace=[("    return train_loss, val_loss", "    return val_loss, train_loss")],
)


# -- checks ------------------------------------------------------------------------------------------------
@suite.compare("evaluate_model returns the training and validation loss over eval_iter batches",
               lesson="#evaluating-while-you-train")
def check_evaluate_values(impl):
    results = {}
    for seed, eval_iter in ((1, 1), (2, 2), (3, 5)):
        model = MaskedEmbedLM(seed)
        model.train()
        losses = impl.evaluate_model(model, _loader(seed + 10, 3), _loader(seed + 20, 2), "cpu", eval_iter)
        results[f"(train_loss, val_loss) with eval_iter={eval_iter}, loaders of 3 and 2 batches"] = list(losses)
    return results


@suite.compare("train_model_simple records the tokens seen after steps 0, eval_freq, 2 * eval_freq, …",
               lesson="#counting-steps-and-tokens")
def check_tokens_seen(impl):
    return {run: _run_summary(impl, run)["track_tokens_seen"] for run in RUN_CONFIGS}


@suite.compare("train_model_simple prints a sample after each epoch (generate_and_print_sample) and leaves the "
               "model in train() mode", lesson="#one-step-in-five-lines")
def check_samples(impl):
    return {run: {k: _run_summary(impl, run)[k] for k in ("samples printed after each epoch",
                                                           "model in train() mode after training")}
            for run in RUN_CONFIGS}


@suite.compare("train_model_simple: the recorded losses and the trained weights (2 epochs, eval_freq=2)",
               lesson="#one-step-in-five-lines")
def check_train_run(impl):
    run = _run_summary(impl, next(iter(RUN_CONFIGS)))
    return {k: run[k] for k in ("train_losses", "val_losses", "weights after training")}


@suite.compare("train_model_simple: the recorded losses and the trained weights (3 epochs, eval_freq=4)",
               lesson="#one-step-in-five-lines")
def check_train_run_longer(impl):
    run = _run_summary(impl, list(RUN_CONFIGS)[1])
    return {k: run[k] for k in ("train_losses", "val_losses", "weights after training")}


@suite.check("evaluate_model runs the model in eval() mode without gradients, on eval_iter batches of each loader",
             lesson="#evaluating-while-you-train")
def check_evaluate_mode(learner):
    model = MaskedEmbedLM(7)
    model.train()
    eval_iter = 2
    learner.evaluate_model(model, _loader(17, 3), _loader(27, 3), "cpu", eval_iter)
    calls = model.calls
    if not calls:
        raise CheckFailed("evaluate_model never ran the model.")
    in_train = sum(1 for training, _, _ in calls if training)
    with_grad = sum(1 for _, grad, _ in calls if grad)
    if in_train:
        raise CheckFailed(f"{in_train} of the {len(calls)} forward passes in evaluate_model ran in train() mode. "
                          "Call model.eval() before computing the losses.")
    if with_grad:
        raise CheckFailed(f"{with_grad} of the {len(calls)} forward passes in evaluate_model recorded gradients. "
                          "Compute the losses inside `with torch.no_grad():`.")
    if len(calls) != 2 * eval_iter:
        raise CheckFailed(f"With eval_iter={eval_iter}, evaluate_model should run the model on {eval_iter} batches "
                          f"of each loader ({2 * eval_iter} forward passes, both loaders have 3 batches); "
                          f"it ran {len(calls)}.")


@suite.check("evaluate_model puts the model back in train() mode", lesson="#evaluating-while-you-train")
def check_evaluate_restores_train(learner):
    model = MaskedEmbedLM(8)
    model.train()
    learner.evaluate_model(model, _loader(18, 2), _loader(28, 2), "cpu", 1)
    if not model.training:
        raise CheckFailed("After evaluate_model the model is still in eval() mode; call model.train() before "
                          "returning, or the rest of training runs without dropout.")


@suite.check("train_model_simple takes one optimizer step per batch and trains in train() mode",
             lesson="#one-step-in-five-lines")
def check_steps_and_mode(learner):
    num_epochs, train_batches = 2, 3
    # The model comes in eval() mode (say, after an evaluation elsewhere): training must switch it to train().
    model, optimizer, _ = _train(learner, 9, num_epochs=num_epochs, eval_freq=2, eval_iter=1,
                                 train_batches=train_batches, start_in_eval=True)
    expected = num_epochs * train_batches
    if optimizer.steps != expected:
        raise CheckFailed(f"Expected {expected} optimizer steps ({num_epochs} epochs × {train_batches} batches), "
                          f"got {optimizer.steps}.")
    in_eval = optimizer.train_mode_at_step.count(False)
    if in_eval:
        raise CheckFailed(f"{in_eval} of the {expected} training steps ran with the model in eval() mode. "
                          "After evaluating (and sampling), the model must be back in train() mode.")
