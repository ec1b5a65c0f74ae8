"""Evaluation: a judge model's prompt and its score, averaged over responses, and multiple-choice scoring
by the log-likelihood each answer gets from the model.

`judge` is any callable that takes a prompt and returns the judge's reply text (an Ollama chat in
`tutor run judge`, a fake in the checks). The model is used only through `model(idx) -> logits`.
"""
import re

import torch

from exercises.instruction_data import format_input

# "85/100", "85 / 100", "85 out of 100": the unambiguous way of writing a score.
_OUT_OF_100 = re.compile(r"(\d+)\s*(?:/|out of)\s*100\b", re.IGNORECASE)
# "Score: 85", "rating of 70", "final score is 70": a number a few characters after the word.
_AFTER_WORD = re.compile(r"(?:score|rating)\D{0,20}?(\d+)", re.IGNORECASE)
_ANY_NUMBER = re.compile(r"\d+")


def judge_prompt(entry, response):
    """The prompt that asks a judge model to score `response` to `entry` from 0 to 100."""
    return (
        "You are grading one answer to a task.\n\n"
        f"The task:\n{format_input(entry)}\n\n"
        f"A correct answer:\n{entry['output']}\n\n"
        f"The answer to grade:\n{response}\n\n"
        "How good is the answer to grade, from 0 (useless) to 100 (as good as the correct one)? "
        "Reply with the integer only."
    )


def parse_score(text):
    """The 0-100 score in a judge's reply, or None when there is none.

    Tried in order: "N/100" or "N out of 100"; a number shortly after "score" or "rating"; the first
    number. The number found first by that order is the answer, if it lies in 0-100.
    """
    for pattern in (_OUT_OF_100, _AFTER_WORD, _ANY_NUMBER):
        match = pattern.search(text)
        if match:
            break
    else:
        return None  # no number at all
    value = int(match.group(1) if pattern.groups else match.group(0))
    return value if value <= 100 else None  # \d+ matches no minus sign, so value >= 0 already


def score_responses(entries, response_key, judge):
    """One score per entry (None where the judge's reply holds no usable score), in order."""
    scores = []
    for entry in entries:
        reply = judge(judge_prompt(entry, entry[response_key]))
        scores.append(parse_score(reply))  # None is kept, so scores[i] still belongs to entries[i]
    return scores


def choice_logprobs(model, tokenizer, prompt, choices, device):
    """For each choice, the sum of the log-probabilities of its tokens following `prompt`.

    Prompt and choice are tokenized separately, so every choice is scored after the same prompt tokens.
    The model runs in eval() mode (no dropout); its previous mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    prompt_ids = tokenizer.encode(prompt)
    scores = []
    with torch.no_grad():
        for choice in choices:
            choice_ids = tokenizer.encode(choice)
            ids = torch.tensor(prompt_ids + choice_ids, device=device)  # (n,)
            logits = model(ids.unsqueeze(0))  # (1, n, vocab_size): a batch of one
            log_probs = torch.log_softmax(logits, dim=-1).squeeze(0)  # (n, vocab_size)
            # Row t of log_probs predicts token t + 1, so rows 0..n-2 score the tokens ids[1:].
            rows = torch.arange(len(ids) - 1, device=ids.device)  # (n - 1,)
            token_logprobs = log_probs[rows, ids[1:]]  # (n - 1,)
            # Only the choice's tokens count: they are predicted from row len(prompt_ids) - 1 on.
            scores.append(token_logprobs[len(prompt_ids) - 1:].sum().item())
    model.train(was_training)
    return scores
