"""Hidden checks for the schedules exercise (lessons/19-schedules.md): learning_rate and train_model."""

import contextlib
import io
import math

import torch

from tutor.grading.framework import CheckFailed, Suite, compare_values

suite = Suite("schedules")

_COSINE = "min_lr + (peak_lr - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))"
_CLIP = ("            if global_step >= warmup_steps:\n"
         "                # Rescale all gradients together so their overall norm is at most 1.0. It has to\n"
         "                # happen between backward() and step(): step() is what reads the gradients.\n"
         "                torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)\n")

# -- known mistakes --------------------------------------------------------------------------------------
suite.mistake(
    "warmup-off-by-one",
    "The warm-up is one step ahead: at step 0 the learning rate must be initial_lr, "
    "initial_lr + step * (peak_lr - initial_lr) / warmup_steps.",
    lesson="#linear-warm-up",
    replace=[("return initial_lr + step * (peak_lr - initial_lr) / warmup_steps",
              "return initial_lr + (step + 1) * (peak_lr - initial_lr) / warmup_steps")],
)
suite.mistake(
    "cosine-to-zero",
    "The cosine decays to 0 instead of to min_lr: "
    "min_lr + (peak_lr - min_lr) * 0.5 * (1 + cos(pi * progress)).",
    lesson="#cosine-decay",
    replace=[(_COSINE, "peak_lr * 0.5 * (1 + math.cos(math.pi * progress))")],
)
suite.mistake(
    "progress-from-zero",
    "The cosine's progress counts from step 0 instead of from the end of warm-up: "
    "progress = (step - warmup_steps) / (total_steps - warmup_steps).",
    lesson="#cosine-decay",
    replace=[("progress = (step - warmup_steps) / (total_steps - warmup_steps)",
              "progress = step / total_steps")],
)
suite.mistake(
    "clip-after-step",
    "The gradients are clipped after optimizer.step(), when the step has already used them: "
    "clip between loss.backward() and optimizer.step().",
    lesson="#gradient-clipping",
    replace=[(_CLIP + "            optimizer.step()\n",
              "            optimizer.step()\n" + _CLIP)],
)
suite.mistake(
    "clip-during-warmup",
    "The gradients are clipped during warm-up too; clipping starts at step warmup_steps.",
    lesson="#gradient-clipping",
    replace=[("            if global_step >= warmup_steps:\n", "            if True:\n")],
)
suite.mistake(
    "lr-not-applied",
    "The scheduled learning rate is recorded but never given to the optimizer: set "
    "param_group[\"lr\"] = lr for every group in optimizer.param_groups before optimizer.step().",
    lesson="#applying-the-schedule",
    replace=[("            for param_group in optimizer.param_groups:  # set before the step that uses it\n"
              "                param_group[\"lr\"] = lr\n", "")],
)

# (total_steps, warmup_steps, peak_lr, initial_lr, min_lr)
SCHEDULES = [(20, 5, 0.01, 3e-5, 1e-6), (12, 0, 0.5, 0.01, 0.05), (6, 6, 1e-3, 1e-4, 1e-5),
             (9, 2, 0.1, 0.0, 0.02), (100, 10, 5e-4, 1e-5, 1e-5)]


def _schedule(impl, total, warmup, peak, initial, minimum):
    return [impl.learning_rate(s, total, warmup, peak, initial_lr=initial, min_lr=minimum)
            for s in range(total)]


# -- compare-checks: learning_rate ----------------------------------------------------------------------
@suite.compare("learning_rate: linear warm-up from initial_lr, then cosine decay to min_lr",
               lesson="#the-schedule-at-a-glance", atol=1e-12, rtol=1e-9)
def check_learning_rate(impl):
    return [_schedule(impl, *args) for args in (SCHEDULES[0], SCHEDULES[3], SCHEDULES[4])]


@suite.compare("learning_rate with warmup_steps = 0 (cosine only) and = total_steps (warm-up only)",
               lesson="#linear-warm-up", atol=1e-12, rtol=1e-9)
def check_learning_rate_edges(impl):
    return [_schedule(impl, *SCHEDULES[1]), _schedule(impl, *SCHEDULES[2])]


# -- compare-checks: train_model --------------------------------------------------------------------------
CFG = {"vocab_size": 40, "context_length": 6, "emb_dim": 8, "n_heads": 2, "n_layers": 1,
       "drop_rate": 0.0, "qkv_bias": False}


class _CharTokenizer:
    """encode/decode for the sample printed after each epoch: one id per character."""

    def encode(self, text, allowed_special=None):
        return [ord(c) % CFG["vocab_size"] for c in text]

    def decode(self, ids):
        return "".join(chr(97 + i % 26) for i in ids)


class _RecordingSGD(torch.optim.SGD):
    """SGD that records, at each step(), the learning rate it uses and the gradients' overall norm."""

    def __init__(self, params, lr):
        super().__init__(params, lr=lr)
        self.seen = []

    def step(self, closure=None):
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        norm = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(x) for x in grads])))
        lrs = {float(g["lr"]) for g in self.param_groups}
        lr = lrs.pop() if len(lrs) == 1 else float("nan")  # nan: the groups disagree
        self.seen.append((lr, norm))
        return super().step(closure)


def _batches(n, seed):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, CFG["vocab_size"], (n, 2, CFG["context_length"] + 1), generator=g)
    return [(x[:, :-1], x[:, 1:]) for x in ids]


def _train(impl, n_epochs, warmup, peak, initial, minimum, seed):
    from exercises.gpt_model import GPTModel  # the reference's while grading

    torch.manual_seed(seed)
    model = GPTModel(CFG)
    with torch.no_grad():  # larger weights: gradient norms well above 1, so clipping matters
        model.out_head.weight.mul_(8.0)
    head = [model.out_head.weight]
    rest = [p for p in model.parameters() if p is not model.out_head.weight]
    optimizer = _RecordingSGD([{"params": rest}, {"params": head}], lr=peak)  # two param groups
    train, val = _batches(4, seed + 1), _batches(2, seed + 2)
    model.eval()  # as an earlier evaluation may leave it: train_model must switch to train() itself
    modes = []  # the model's mode at each forward pass that builds a graph (the training steps)
    model.register_forward_pre_hook(lambda m, args: modes.append(m.training) if torch.is_grad_enabled() else None)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        out = impl.train_model(model, train, val, optimizer, "cpu", n_epochs=n_epochs, eval_freq=3,
                               eval_iter=2, start_context="ab", tokenizer=_CharTokenizer(),
                               warmup_steps=warmup, initial_lr=initial, min_lr=minimum)
    # generate_and_print_sample prints "ab" as the tokenizer decodes it ("rs"), then the continuation.
    samples = [line for line in printed.getvalue().splitlines() if line.startswith("rs")]
    params = torch.cat([p.detach().flatten() for p in model.parameters()])
    return out, optimizer.seen, params, {"train() mode at each training step": modes,
                                         "samples printed (one per epoch)": len(samples)}


def _train_result(impl, *args):
    out, seen, params, behaviour = _train(impl, *args)
    if not isinstance(out, (tuple, list)) or len(out) != 4:
        raise CheckFailed("train_model should return four lists: (train_losses, val_losses, "
                          f"track_tokens_seen, track_lrs); it returned {type(out).__name__} "
                          f"{'of length ' + str(len(out)) if isinstance(out, (tuple, list)) else ''}.")
    return {"train_losses": list(out[0]), "val_losses": list(out[1]), "track_tokens_seen": list(out[2]),
            "track_lrs": list(out[3]), "parameters after training": params, **behaviour}


@suite.compare("train_model: losses, tokens seen, the recorded lrs and the trained weights", lesson="#the-exercise",
               atol=1e-5, rtol=1e-4)
def check_train_model(impl):
    return _train_result(impl, 2, 3, 0.05, 0.005, 0.001, 1)


@suite.compare("train_model with no warm-up (clipping from the first step)", lesson="#gradient-clipping",
               atol=1e-5, rtol=1e-4)
def check_train_model_no_warmup(impl):
    return _train_result(impl, 1, 0, 0.05, 0.005, 0.001, 2)


# -- property checks ----------------------------------------------------------------------------------------
@suite.check("learning_rate returns a Python float", lesson="#the-schedule-at-a-glance")
def check_returns_float(learner):
    for step in (0, 3, 19):
        value = learner.learning_rate(step, 20, 5, 0.01, initial_lr=3e-5, min_lr=1e-6)
        if type(value) is not float:
            raise CheckFailed(f"learning_rate({step}, 20, 5, 0.01) returned {type(value).__name__} "
                              f"{value!r}; return a Python float (math.cos, not torch.cos).")


@suite.check("At each optimizer.step() the optimizer holds the scheduled lr, and the gradients are "
             "clipped to norm 1.0 from step warmup_steps on", lesson="#gradient-clipping")
def check_step_time_state(learner):
    warmup, peak, initial, minimum = 3, 0.05, 0.005, 0.001
    out, seen, _, _ = _train(learner, 2, warmup, peak, initial, minimum, 3)
    total = len(seen)
    if total != 8:
        raise CheckFailed(f"2 epochs over 4 batches should make 8 optimizer steps; there were {total}.")
    for step, (lr, norm) in enumerate(seen):
        expected = initial + step * (peak - initial) / warmup if step < warmup else \
            minimum + (peak - minimum) * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))
        if math.isnan(lr):
            raise CheckFailed(
                f"At optimizer step {step} the optimizer's param groups had different learning rates: "
                "set \"lr\" in every group of optimizer.param_groups, not only the first."
            )
        if compare_values(expected, lr, atol=1e-9, rtol=1e-7) is not None:
            raise CheckFailed(
                f"At optimizer step {step} the optimizer's lr was {lr:.6g}, but the schedule says "
                f"{expected:.6g}. Set every param group's \"lr\" before calling optimizer.step()."
            )
        if step >= warmup and norm > 1.0 + 1e-4:
            raise CheckFailed(
                f"At optimizer step {step} (warmup_steps = {warmup}) the gradient norm that "
                f"optimizer.step() saw was {norm:.4g}, more than 1.0: the gradients were not clipped "
                "before the step."
            )
        if step < warmup and norm <= 1.0 + 1e-4:
            raise CheckFailed(
                f"At warm-up step {step} the gradient norm that optimizer.step() saw was {norm:.4g}; "
                "these test gradients are larger than 1.0, so they were clipped during warm-up."
            )
