"""The schedules grader: hand-written wrong answers fail with a useful message, other correct ways pass."""

import pytest

from tests.graders.helpers import assert_fails_saying, assert_passes, reference_source

EX = "schedules"
_REF = reference_source(EX)

# name: (source, words the learner must see in the failure text)
WRONG = {
    # torch.cos on a tensor: the right values, but a tensor comes back.
    "returns-tensor": (
        _REF.replace("return min_lr + (peak_lr - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))",
                     "return min_lr + (peak_lr - min_lr) * 0.5 * (1 + torch.cos(torch.tensor(math.pi * progress)))"),
        ["Python float"],
    ),
    # Clipping starts one step late (> instead of >=).
    "clip-one-step-late": (
        _REF.replace("            if global_step >= warmup_steps:\n", "            if global_step > warmup_steps:\n"),
        ["optimizer step 3", "not clipped"],
    ),
    # Only the first param group gets the new learning rate.
    "first-group-only": (
        _REF.replace("            for param_group in optimizer.param_groups:  # set before the step that uses it\n"
                     "                param_group[\"lr\"] = lr\n",
                     "            optimizer.param_groups[0][\"lr\"] = lr\n"),
        ["every group"],
    ),
    # The peak taken from a constant instead of the optimizer.
    "fixed-peak": (
        _REF.replace('peak_lr = optimizer.param_groups[0]["lr"]', "peak_lr = 5e-4"),
        ["the schedule says"],
    ),
    # global_step counted from 1 in train_model.
    "steps-from-one": (
        _REF.replace("tokens_seen, global_step = 0, -1", "tokens_seen, global_step = 0, 0"),
        ["At optimizer step 0", "the schedule says"],
    ),
    # total_steps taken as the steps of one epoch only.
    "total-one-epoch": (
        _REF.replace("total_steps = len(train_loader) * n_epochs", "total_steps = len(train_loader)"),
        ["At optimizer step 4", "the schedule says"],
    ),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_hand_written_mistake_fails(grader, name):
    src, words = WRONG[name]
    assert_fails_saying(grader, EX, src, words)


CORRECT = {
    # The decay written with the cosine of an angle that counts the remaining steps: cos(π - x) = -cos(x).
    "mirrored-cosine": _REF.replace(
        "return min_lr + (peak_lr - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))",
        "return min_lr + (peak_lr - min_lr) * 0.5 * (1 - math.cos(math.pi * (1 - progress)))",
    ),
    # The lr set after backward() (still before the step), recorded from the optimizer, and
    # clip_grad_norm_ given a list of the parameters.
    "set-lr-after-backward": _REF.replace(
        "            for param_group in optimizer.param_groups:  # set before the step that uses it\n"
        "                param_group[\"lr\"] = lr\n"
        "            track_lrs.append(lr)\n\n"
        "            loss = calc_loss_batch(input_batch, target_batch, model, device)\n"
        "            loss.backward()\n",
        "            loss = calc_loss_batch(input_batch, target_batch, model, device)\n"
        "            loss.backward()\n"
        "            for param_group in optimizer.param_groups:\n"
        "                param_group[\"lr\"] = lr\n"
        "            track_lrs.append(optimizer.param_groups[0][\"lr\"])\n",
    ).replace("clip_grad_norm_(model.parameters(), max_norm=1.0)",
              "clip_grad_norm_(list(model.parameters()), 1.0)"),
    # Step counter starting at 0 and incremented at the end of the step, with `global_step - 1` at eval.
    "counter-at-end": _REF.replace(
        "tokens_seen, global_step = 0, -1", "tokens_seen, step = 0, 0"
    ).replace(
        "            global_step += 1\n", "            global_step = step\n"
    ).replace(
        "            tokens_seen += input_batch.numel()\n",
        "            tokens_seen += input_batch.numel()\n            step += 1\n",
    ),
}


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_alternative_passes(grader, name):
    assert_passes(grader, EX, CORRECT[name])
