"""The loss grader: passes the reference, recognises the stub, fails realistic mistakes."""

import pytest

from tests.graders.helpers import assert_fails_saying, reference_source

EX = "loss"


_REF = reference_source(EX)
_CE_CALL = _REF[_REF.index("    loss = torch.nn.functional.cross_entropy("):_REF.index("    return loss\n")]

# name: (source, words the learner must see in the failure text)
WRONG = {
    # .item() in calc_loss_batch: a float cannot be back-propagated.
    "item-in-batch": (
        _REF.replace("    return loss\n", "    return loss.item()\n"),
        ["0-d tensor", ".item()"],
    ),
    # The batch loss computed under no_grad: backward() cannot reach the weights.
    "batch-under-no-grad": (
        _REF.replace("    logits = model(input_batch)  # (b, num_tokens, vocab_size)\n",
                     "    with torch.no_grad():\n        logits = model(input_batch)\n"),
        ["not attached", "backward"],
    ),
    # No guard for an empty loader: division by zero.
    "no-empty-guard": (
        _REF.replace('    if len(data_loader) == 0:\n        return float("nan")\n', ""),
        ["ZeroDivisionError", "exercises/loss.py line"],
    ),
    # perplexity with torch.exp: a tensor comes back instead of a float.
    "perplexity-tensor": (
        _REF.replace("return math.exp(float(loss))", "return torch.exp(torch.as_tensor(loss))"),
        ["Python float", "Tensor"],
    ),
    # cross_entropy on the 3-D logits without flattening: the shapes do not fit.
    "not-flattened": (
        _REF.replace(_CE_CALL, "    loss = torch.nn.functional.cross_entropy(logits, target_batch)\n"),
        ["exercises/loss.py line", "cross_entropy"],
    ),
    # Cross-entropy by hand with the softmax over the positions instead of the vocabulary.
    "manual-softmax-wrong-dim": (
        _REF.replace(_CE_CALL,
                     "    log_probs = torch.log_softmax(logits, dim=1)\n"
                     "    loss = -log_probs.gather(-1, target_batch.unsqueeze(-1)).mean()\n"),
        ["Values differ", "calc_loss_batch"],
    ),
    # The loader loss as a running tensor that keeps every batch's graph, divided by all batches.
    "loader-tensor-len": (
        _REF.replace("total_loss += loss.item()", "total_loss = total_loss + loss")
            .replace("return total_loss / num_batches", "return total_loss / len(data_loader)"),
        ["num_batches"],
    ),
    # Each batch weighted by its number of sequences: the same as the mean while every batch is full.
    "loader-weighted-by-sequences": (
        _REF.replace("total_loss = 0.0", "total_loss, seen = 0.0, 0")
            .replace("total_loss += loss.item()", "total_loss += loss.item() * len(input_batch)\n"
                                                  "        seen += len(input_batch)")
            .replace("return total_loss / num_batches", "return total_loss / seen"),
        ["last batch is smaller"],
    ),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_hand_written_mistake_fails(grader, name):
    src, words = WRONG[name]
    assert_fails_saying(grader, EX, src, words, with_check_names=True)
