"""The evaluation grader: realistic wrong answers fail with a useful message, correct ones written another way
pass (other regexes for parse_score, cross-entropy for choice_logprobs, another judge prompt)."""

import pytest

from tests.graders.helpers import assert_fails_saying, assert_passes, reference_source

EX = "evaluation"
_REF = reference_source(EX)


def with_function(name: str, new_source: str, source: str = _REF) -> str:
    """`source` with the top-level function `name` replaced by `new_source`."""
    start = source.index(f"def {name}(")
    end = source.find("\ndef ", start)
    end = len(source) if end == -1 else end + 1
    return source[:start] + new_source.strip("\n") + "\n\n" + source[end:]


WRONG = {
    # `if value` treats a score of 0 as missing.
    "zero-is-none": (
        _REF.replace("return value if value <= 100 else None", "return value if value and value <= 100 else None"),
        ["'0/100'", "None"],
    ),
    # The matched text is returned as a string.
    "string-score": (
        _REF.replace("value = int(match.group(1) if pattern.groups else match.group(0))",
                     "value = match.group(1) if pattern.groups else match.group(0)")
            .replace("return value if value <= 100 else None", "return value"),
        ["Expected a number", "str"],
    ),
    # A retry that asks the judge twice for every entry.
    "asks-twice": (
        _REF.replace("        reply = judge(judge_prompt(entry, entry[response_key]))\n",
                     "        reply = judge(judge_prompt(entry, entry[response_key]))\n"
                     "        reply = judge(judge_prompt(entry, entry[response_key]))\n"),
        ["judge calls"],
    ),
    # The judge prompt forgets the response it should grade.
    "prompt-without-response": (
        _REF.replace('        f"The answer to grade:\\n{response}\\n\\n"\n', ""),
        ["the response to grade"],
    ),
    # Probabilities multiplied instead of log-probabilities added.
    "probabilities-multiplied": (
        _REF.replace("scores.append(token_logprobs[len(prompt_ids) - 1:].sum().item())",
                     "scores.append(token_logprobs[len(prompt_ids) - 1:].exp().prod().item())"),
        ["choice_logprobs", "Expected"],
    ),
    # Log-probabilities over the batch dimension instead of the vocabulary.
    "softmax-wrong-dim": (
        _REF.replace("log_probs = torch.log_softmax(logits, dim=-1).squeeze(0)",
                     "log_probs = torch.log_softmax(logits, dim=1).squeeze(0)"),
        ["choice_logprobs"],
    ),
}

ALTERNATIVES = {
    # Other regexes, one search after the other; a shorter gap after the word.
    "other-regexes": with_function("parse_score", r'''
def parse_score(text):
    m = re.search(r"\b(\d{1,3})\s*(?:/\s*100|out\s+of\s+100)(?!\d)", text)
    if m is None:
        m = re.search(r"(?i)(?:score|rating)[^0-9]{0,15}(\d+)", text)
    if m is None:
        m = re.search(r"(\d+)", text)
    if m is None:
        return None
    n = int(m.group(1))
    return n if 0 <= n <= 100 else None
'''),
    # Cross-entropy (reduction="sum") on the choice positions only, under inference_mode; the last token
    # is not fed (nothing predicts from it).
    "cross-entropy": with_function("choice_logprobs", '''
def choice_logprobs(model, tokenizer, prompt, choices, device):
    mode = model.training
    model.eval()
    p = tokenizer.encode(prompt)
    out = []
    with torch.inference_mode():
        for c in choices:
            ids = p + tokenizer.encode(c)
            x = torch.tensor(ids[:-1], device=device).unsqueeze(0)
            logits = model(x)[0, len(p) - 1:]
            y = torch.tensor(ids[len(p):], device=device)
            out.append(-torch.nn.functional.cross_entropy(logits, y, reduction="sum").item())
    model.train(mode)
    return out
'''),
    # Another judge prompt, and score_responses as a comprehension.
    "other-prompt": with_function("score_responses", '''
def score_responses(entries, response_key, judge):
    return [parse_score(judge(judge_prompt(e, e[response_key]))) for e in entries]
''', with_function("judge_prompt", '''
def judge_prompt(entry, response):
    return "\\n".join([
        "Rate the response below on a scale of 0 to 100 (integer only).",
        "Task: " + format_input(entry),
        "Expected: " + entry["output"],
        "Response: " + response,
    ])
''')),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_hand_written_mistake_fails(grader, name):
    src, words = WRONG[name]
    assert_fails_saying(grader, EX, src, words, with_check_names=True)


@pytest.mark.parametrize("name", sorted(ALTERNATIVES))
def test_correct_alternative_passes(grader, name):
    assert_passes(grader, EX, ALTERNATIVES[name])
