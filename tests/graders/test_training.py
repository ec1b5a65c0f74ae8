"""The training grader: passes the reference, recognises the stub, fails realistic mistakes."""

import pytest

from tests.graders.helpers import assert_fails_saying, assert_passes, reference_source

EX = "training"


_REF = reference_source(EX)
_EVAL_BODY = _REF[_REF.index("    model.eval()\n    with torch.no_grad():  # no graph"):_REF.index("    return train_loss, val_loss")]

_UPDATE = ("            loss.backward()  # d loss / d parameter, into each parameter's .grad\n"
           "            optimizer.step()  # update the parameters from their .grad\n")
_EVAL_PRINT = ('                      f"Train loss {train_loss:.3f}, Val loss {val_loss:.3f}")\n')

# name: (source, words the learner must see in the failure text)
WRONG = {
    # Evaluation records a graph: right numbers, wasted memory.
    "eval-without-no-grad": (
        _REF.replace(_EVAL_BODY,
                     "    model.eval()\n"
                     "    train_loss = calc_loss_loader(train_loader, model, device, num_batches=eval_iter)\n"
                     "    val_loss = calc_loss_loader(val_loader, model, device, num_batches=eval_iter)\n"
                     "    model.train()\n"),
        ["recorded gradients", "torch.no_grad()"],
    ),
    # Two optimizer steps per batch.
    "double-step": (
        _REF.replace("            optimizer.step()  # update the parameters from their .grad\n",
                     "            optimizer.step()\n            optimizer.step()\n"),
        ["Expected 6 optimizer steps", "got 12"],
    ),
    # Evaluating before the update of the step instead of after it.
    "eval-before-step": (
        _REF.replace(_UPDATE, "").replace(_EVAL_PRINT, _EVAL_PRINT + _UPDATE),
        ["train_losses"],
    ),
    # Only two lists returned.
    "two-lists": (
        _REF.replace("    return train_losses, val_losses, track_tokens_seen",
                     "    return train_losses, val_losses"),
        ["should return (train_losses, val_losses, track_tokens_seen)"],
    ),
    # Training mode never set again once the first sample was printed, and no model.train() anywhere.
    "never-train": (
        _REF.replace("    model.train()\n    return train_loss, val_loss", "    return train_loss, val_loss")
            .replace("        model.train()  # dropout on\n", "")
            .replace("    print(decoded.replace(\"\\n\", \" \"))  # one line keeps the training log readable\n"
                     "    model.train()\n",
                     "    print(decoded.replace(\"\\n\", \" \"))\n"),
        ["eval() mode", "train()"],
    ),
}

# Correct answers written differently from the reference: they must pass.
ALTERNATIVES = {
    # inference_mode instead of no_grad, model.zero_grad() instead of optimizer.zero_grad(),
    # a step counter from 0 tested before incrementing.
    "other-spellings": (
        _REF.replace("    with torch.no_grad():  # no graph", "    with torch.inference_mode():  # no graph")
            .replace("            optimizer.zero_grad()  # gradients add up", "            model.zero_grad()  # gradients add up")
            .replace("tokens_seen, global_step = 0, -1", "tokens_seen, global_step = 0, 0")
            .replace("            global_step += 1\n\n            if global_step % eval_freq == 0:",
                     "\n            if global_step % eval_freq == 0:")
            .replace("                      f\"Train loss {train_loss:.3f}, Val loss {val_loss:.3f}\")\n",
                     "                      f\"Train loss {train_loss:.3f}, Val loss {val_loss:.3f}\")\n"
                     "            global_step += 1\n")
    ),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_hand_written_mistake_fails(grader, name):
    src, words = WRONG[name]
    assert_fails_saying(grader, EX, src, words, with_check_names=True)


@pytest.mark.parametrize("name", sorted(ALTERNATIVES))
def test_correct_alternative_passes(grader, name):
    assert_passes(grader, EX, ALTERNATIVES[name])
