"""Exercise 16: evaluating an instruction-tuned model (lesson: lessons/16-evaluation.md).

A judge model scores responses from 0 to 100; `judge` is any callable that takes a prompt string and
returns the judge's reply text. Multiple-choice questions are scored by the log-likelihood the model
gives each answer. The model is used only through `model(idx) -> logits`, `(batch, num_tokens)` ids to
`(batch, num_tokens, vocab_size)` logits.
"""
import re

import torch

from exercises.instruction_data import format_input


def judge_prompt(entry, response):
    """The prompt asking a judge to score `response` to the example `entry`.

    It must contain `format_input(entry)`, the reference answer `entry["output"]` and `response`, and
    ask for an integer score from 0 to 100 (the text "100" must appear in it).
    """
    raise NotImplementedError


def parse_score(text):
    """The score in a judge's reply `text`: an int from 0 to 100, or None.

    Try these in order and take the number the first one that matches finds:
      1. a number written as "N/100" or "N out of 100" (e.g. "85/100", "85 out of 100");
      2. a number shortly after the word "score" or "rating", in any case (e.g. "Score: 85",
         "final rating is 70"; a gap of up to about 20 non-digit characters);
      3. the first number in the text.
    Return it if 0 <= N <= 100, else None. No number at all: None.
    """
    raise NotImplementedError


def score_responses(entries, response_key, judge):
    """Score `entry[response_key]` for every entry of `entries` with the judge.

    For each entry call `judge(judge_prompt(entry, entry[response_key]))` once and parse the reply with
    `parse_score`.

    Returns:
        A list as long as `entries`: the score of entry i at index i, None where the reply held no
        usable score.
    """
    raise NotImplementedError


def choice_logprobs(model, tokenizer, prompt, choices, device):
    """Score each answer of a multiple-choice question by its log-likelihood after `prompt`.

    Encode `prompt` and each choice separately with `tokenizer.encode`, concatenate the two id lists,
    run the model on them (one `(1, n)` batch on `device`), and add up the log-probabilities (log of the
    softmax over the vocabulary) of the choice's tokens only, each predicted from the position before it.
    Run the model in `eval()` mode without gradients and put it back in the mode it was in.

    Returns:
        A list of Python floats, one per choice, in the order of `choices` (higher is more likely).
    """
    raise NotImplementedError
