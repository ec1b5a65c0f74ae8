"""Hidden checks for the evaluation exercise (lessons/16-evaluation.md).

`parse_score` is compared with the reference on judge replies chosen so that each rule of the stated order
(N/100 or N out of 100, then a number shortly after "score"/"rating", then the first number, then the range
check) decides some of them; gaps after the word stay short, so any reasonable "shortly" agrees.
`judge_prompt` is checked for what it must contain, never for its wording. `score_responses` runs with a fake
judge that answers according to which response it finds in the prompt. `choice_logprobs` is compared on a
tiny GPTModel (the reference's, random weights, dropout 0.5, no downloads) with a small word tokenizer
that, like GPT-2's BPE, glues a word to the space before it (so joint and separate tokenization differ).
"""

import importlib
import re
import zlib

import torch

import tutor.checks._common as std
from tutor.grading.framework import CheckFailed, Suite

suite = Suite("evaluation")

# The Alpaca template as the curriculum fixes it (not imported: the checks keep their own copy).
PREAMBLE = ("Below is an instruction that describes a task. "
            "Write a response that appropriately completes the request.")


def _formatted(entry):
    text = f"{PREAMBLE}\n\n### Instruction:\n{entry['instruction']}"
    return text + (f"\n\n### Input:\n{entry['input']}" if entry["input"] else "")


PROMPT_ENTRIES = [
    {"instruction": "Rewrite the sentence in the passive voice.", "input": "The dog found the ball.",
     "output": "The ball was found by the dog."},
    {"instruction": "What is the boiling point of water at sea level in Celsius?", "input": "",
     "output": "100 degrees Celsius."},
]

# Replies a judge might give. Each list has cases that only one rule of the order gets right.
REPLIES_OUT_OF_100 = [
    "85/100", "Score: 85/100", "I'd give it 72 out of 100.", "Score 4 for style; overall 85/100",
    "Breakdown: 20 + 30. Total: 50 out of 100.", "100/100", "0/100", "Style 7/10, content 9/10. Overall: 64 / 100",
]
REPLIES_AFTER_WORD = [
    "Score: 85", "I'd rate it 7 out of 10... final score 70", "Out of 3 criteria, 2 are met. Rating: 45",
    "SCORE = 90", "My final rating is 55.", "After 2 readings, the score is 60", "score:0",
]
REPLIES_FIRST_NUMBER = [
    "85", "I would give this answer 65.", "65\n\nThe answer is mostly right.", "No number here.", "",
    "The answer deserves full marks.", "It is correct; 9 of the 10 facts hold, so 90.",
]
REPLIES_RANGE = ["Score: 150", "I give it 250.", "130/100", "101", "Score: 100", "0", "100 out of 100"]

VOCAB = 512
TINY_CFG = {"vocab_size": VOCAB, "context_length": 64, "emb_dim": 16, "n_heads": 2, "n_layers": 1,
            "drop_rate": 0.5, "qkv_bias": False}
QUESTIONS = [  # (prompt, choices): choices of one and of several tokens; prompts ending in a space or not
    ("Which planet is called the red planet? The answer is",
     [" Mars, the fourth planet from the sun", " Venus", " the Moon", " Jupiter, the largest"]),
    ("Q: 2 + 2 = ? A: ", ["4", "five", "22", "3.9 or so"]),
]


class WordTokenizer:
    """Each word with the space before it is one token (as in GPT-2's BPE, " Paris" is not "Paris"); ids
    are a fixed hash of the piece. Accepts tiktoken's keyword arguments (allowed_special=...) and ignores them.
    """

    PIECES = re.compile(r" ?\S+|\s")

    def encode(self, text, **kwargs):
        return [zlib.crc32(piece.encode("utf-8")) % (VOCAB - 1) + 1 for piece in self.PIECES.findall(text)]


def _tiny_gpt(seed):
    """The reference GPTModel (as the grader maps exercises.gpt_model), small, with large random logits.

    Built once per grading run and shared: choice_logprobs only reads it (each probe sets its mode).
    """
    def build(_reference):
        return importlib.import_module("exercises.gpt_model").GPTModel(dict(TINY_CFG))

    def sharpen(model):
        model.out_head.weight.mul_(8.0)  # a peaked distribution: the choices' scores differ clearly

    return std.shared_source(suite, ("tiny-gpt",), build, seed=seed, init=sharpen)


def _scores(impl, model, prompt, choices, seed):
    torch.manual_seed(seed)  # a mistake that leaves dropout on draws the same masks each time it is run
    out = impl.choice_logprobs(model, WordTokenizer(), prompt, list(choices), "cpu")
    if not isinstance(out, (list, tuple)) or len(out) != len(choices):
        raise CheckFailed(f"choice_logprobs should return a list with one score per choice ({len(choices)}), "
                          f"got {out!r:.200}.")
    return list(out)


class FakeJudge:
    """Answers by which response it finds in the prompt: response i carries the marker [r<i>]."""

    def __init__(self, replies):
        self.replies = replies
        self.calls = 0

    def __call__(self, prompt):
        self.calls += 1
        for i, reply in enumerate(self.replies):
            if f"[r{i}]" in prompt:
                return reply
        return "I cannot find an answer to grade in your message."


def _judge_entries():
    return [
        {"instruction": "Name a primary colour.", "input": "", "output": "Red. [ref0]",
         "model_response": "Blue is one. [r0]", "other": "Green. [r5]"},
        {"instruction": "Correct the spelling.", "input": "I recieved the leter.",
         "output": "I received the letter. [ref1]", "model_response": "I received the letter. [r1]",
         "other": "I recieved the letter. [r6]"},
        {"instruction": "Convert 2 hours to minutes.", "input": "", "output": "120 minutes. [ref2]",
         "model_response": "2 hours. [r2]", "other": "120. [r7]"},
        {"instruction": "Give the past tense of 'run'.", "input": "", "output": "Ran. [ref3]",
         "model_response": "Runned. [r3]", "other": "Ran. [r8]"},
        {"instruction": "Classify the sentiment.", "input": "What a lovely day!", "output": "Positive. [ref4]",
         "model_response": "Positive. [r4]", "other": "Negative. [r9]"},
    ]


JUDGE_REPLIES = ["Score: 40", "95/100", "I am not sure how to rate this.", "12", "Rating: 88 out of 100",
                 "70", "score of 30", "Perfect: 100/100", "It is wrong.", "5"]


# -- known mistakes --------------------------------------------------------------------------------------
suite.mistake(
    "judge-prompt-without-reference",
    "The judge prompt leaves out the correct answer (entry[\"output\"]); without it the judge grades by its "
    "own knowledge and is easier to fool.",
    lesson="#writing-the-judge-prompt",
    replace=[("""        f"A correct answer:\\n{entry['output']}\\n\\n"\n""", "")],
)
suite.mistake(
    "first-number-only",
    "parse_score takes the first number of the reply. In \"I'd rate it 7 out of 10... final score 70\" that "
    "is 7: look for N/100 or N out of 100 first, then a number shortly after \"score\" or \"rating\", and only "
    "then the first number.",
    lesson="#parsing-the-score",
    replace=[("for pattern in (_OUT_OF_100, _AFTER_WORD, _ANY_NUMBER):", "for pattern in (_ANY_NUMBER,):")],
)
suite.mistake(
    "last-number",
    "parse_score takes the last number of the reply: in \"Score: 85/100\" that is the 100 of the scale. Look "
    "for N/100 or N out of 100 first and take the N.",
    lesson="#parsing-the-score",
    replace=[("for pattern in (_OUT_OF_100, _AFTER_WORD, _ANY_NUMBER):\n        match = pattern.search(text)",
              "for pattern in (_ANY_NUMBER,):\n        match = ([None] + list(pattern.finditer(text)))[-1]")],
)
suite.mistake(
    "any-fraction",
    "parse_score takes the first number of any \"N/M\" or \"N out of M\": in \"I'd rate it 7 out of 10... "
    "final score 70\" that gives 7. Only a fraction of 100 is a score on the 0-100 scale.",
    lesson="#parsing-the-score",
    replace=[(r'_OUT_OF_100 = re.compile(r"(\d+)\s*(?:/|out of)\s*100\b"',
              r'_OUT_OF_100 = re.compile(r"(\d+)\s*(?:/|out of)\s*\d+"')],
)
suite.mistake(
    "score-word-case-sensitive",
    "parse_score finds \"score\" only in lower case; judges write \"Score:\", \"SCORE\" and \"Rating:\" too. "
    "Search case-insensitively (re.IGNORECASE).",
    lesson="#parsing-the-score",
    replace=[(r'_AFTER_WORD = re.compile(r"(?:score|rating)\D{0,20}?(\d+)", re.IGNORECASE)',
              r'_AFTER_WORD = re.compile(r"(?:score|rating)\D{0,20}?(\d+)")')],
)
suite.mistake(
    "out-of-range-accepted",
    "parse_score returns numbers outside 0-100 (a 150 or a 250): return None for them, so that they count as "
    "missing instead of pulling the average up.",
    lesson="#parsing-the-score",
    replace=[("return value if value <= 100 else None", "return value")],
)
suite.mistake(
    "unparsable-dropped",
    "score_responses leaves out the replies without a score, so the list is shorter than the entries and "
    "scores[i] no longer belongs to entries[i]. Append None for them.",
    lesson="#averaging-and-missing-scores",
    replace=[("        scores.append(parse_score(reply))  # None is kept, so scores[i] still belongs to entries[i]\n",
              "        if parse_score(reply) is not None:\n            scores.append(parse_score(reply))\n")],
)
suite.mistake(
    "reference-judged",
    "score_responses sends the reference answer (entry[\"output\"]) to the judge instead of the response "
    "stored under response_key.",
    lesson="#averaging-and-missing-scores",
    replace=[("judge(judge_prompt(entry, entry[response_key]))", "judge(judge_prompt(entry, entry[\"output\"]))")],
)
suite.mistake(
    "choice-logprobs-averaged",
    "choice_logprobs averages the choice's token log-probabilities; the log-likelihood of a choice is their "
    "sum (a mean rewards long choices with one likely token among unlikely ones).",
    lesson="#scoring-a-choice-by-log-likelihood",
    replace=[("scores.append(token_logprobs[len(prompt_ids) - 1:].sum().item())",
              "scores.append(token_logprobs[len(prompt_ids) - 1:].mean().item())")],
)
suite.mistake(
    "choice-logprobs-prompt-included",
    "choice_logprobs adds up the prompt's tokens too; only the choice's tokens count (those at positions "
    "len(prompt_ids) and after, each predicted from the position before).",
    lesson="#scoring-a-choice-by-log-likelihood",
    replace=[("scores.append(token_logprobs[len(prompt_ids) - 1:].sum().item())",
              "scores.append(token_logprobs.sum().item())")],
)
suite.mistake(
    "choice-logprobs-not-shifted",
    "Each token is scored with the logits at its own position; the logits at position t predict token t + 1, "
    "so token t is scored with the logits at t - 1.",
    lesson="#scoring-a-choice-by-log-likelihood",
    replace=[("rows = torch.arange(len(ids) - 1, device=ids.device)",
              "rows = torch.arange(1, len(ids), device=ids.device)")],
)
suite.mistake(
    "choice-logprobs-joint-tokenization",
    "The choice is tokenized together with the prompt; tokenize them separately and concatenate the ids, so "
    "that every choice follows the same prompt tokens (BPE merges across the boundary otherwise).",
    lesson="#scoring-a-choice-by-log-likelihood",
    replace=[("choice_ids = tokenizer.encode(choice)",
              "choice_ids = tokenizer.encode(prompt + choice)[len(prompt_ids):]")],
)
suite.mistake(
    "choice-logprobs-train-mode",
    "choice_logprobs runs the model in train() mode, so dropout changes the scores from call to call. Call "
    "model.eval() first (and restore the previous mode afterwards).",
    lesson="#scoring-a-choice-by-log-likelihood",
    replace=[("    model.eval()\n", "")],
)
suite.mistake(
    "choice-logprobs-mode-not-restored",
    "choice_logprobs leaves the model in eval() mode: a training loop that calls it would go on without "
    "dropout. Remember model.training and restore it with model.train(was_training).",
    lesson="#scoring-a-choice-by-log-likelihood",
    replace=[("    model.train(was_training)\n", "")],
)


# -- checks ------------------------------------------------------------------------------------------------
@suite.compare("parse_score takes N from N/100 or N out of 100 first", lesson="#parsing-the-score")
def check_parse_out_of_100(impl):
    return {text: impl.parse_score(text) for text in REPLIES_OUT_OF_100}


@suite.compare("parse_score then takes a number shortly after score or rating", lesson="#parsing-the-score")
def check_parse_after_word(impl):
    return {text: impl.parse_score(text) for text in REPLIES_AFTER_WORD}


@suite.compare("parse_score falls back to the first number, and None without one", lesson="#parsing-the-score")
def check_parse_first_number(impl):
    return {text: impl.parse_score(text) for text in REPLIES_FIRST_NUMBER}


@suite.compare("parse_score returns None outside 0-100", lesson="#parsing-the-score")
def check_parse_range(impl):
    return {text: impl.parse_score(text) for text in REPLIES_RANGE}


@suite.compare("score_responses keeps one score (or None) per entry, in order",
               lesson="#averaging-and-missing-scores")
def check_score_responses(impl):
    out = {}
    for key, replies in (("model_response", JUDGE_REPLIES), ("other", JUDGE_REPLIES)):
        judge = FakeJudge(replies)
        scores = impl.score_responses(_judge_entries(), key, judge)
        out[f"scores of {key!r}"] = list(scores) if isinstance(scores, (list, tuple)) else scores
        out[f"judge calls for {key!r}"] = judge.calls
    return out


@suite.compare("choice_logprobs sums the choice tokens' log-probabilities", lesson="#scoring-a-choice-by-log-likelihood",
               atol=2e-3, rtol=1e-4)
def check_choice_logprobs(impl):
    model = _tiny_gpt(0)
    model.train()  # as a training loop would leave it: the scores must come from eval() mode anyway
    return {prompt: _scores(impl, model, prompt, choices, seed=i) for i, (prompt, choices) in enumerate(QUESTIONS)}


@suite.compare("choice_logprobs puts the model back in the mode it was in",
               lesson="#scoring-a-choice-by-log-likelihood")
def check_choice_logprobs_mode(impl):
    model = _tiny_gpt(1)
    prompt, choices = QUESTIONS[0]
    out = {}
    for mode in ("train", "eval"):
        model.train(mode == "train")
        _scores(impl, model, prompt, choices[:2], seed=5)
        out[f"model.training after a call in {mode}() mode"] = model.training
    return out


@suite.check("judge_prompt holds the task, the correct answer, the response and the 0-100 scale",
             lesson="#writing-the-judge-prompt")
def check_judge_prompt(learner):
    response = "The ball got found by the dog, I think."
    for entry in PROMPT_ENTRIES:
        prompt = learner.judge_prompt(dict(entry), response)
        if not isinstance(prompt, str):
            raise CheckFailed(f"judge_prompt should return a str, got {type(prompt).__name__}.")
        wanted = [("the formatted task, format_input(entry)", _formatted(entry), None),
                  ("the correct answer, entry[\"output\"]", entry["output"], "judge-prompt-without-reference"),
                  ("the response to grade", response, None),
                  ("the scale (the text \"100\")", "100", None)]
        for what, text, diagnosis in wanted:
            if text == "100" and entry["output"].startswith("100"):
                continue  # the answer itself holds 100 here; the other entry checks the scale
            if text not in prompt:
                raise CheckFailed(f"The judge prompt for {entry['instruction']!r} does not contain {what}:\n"
                                  f"  looked for: {text!r}\n  prompt:     {prompt!r:.600}", diagnosis=diagnosis)


@suite.check("choice_logprobs returns Python floats", lesson="#scoring-a-choice-by-log-likelihood")
def check_choice_logprobs_floats(learner):
    model = _tiny_gpt(0)
    prompt, choices = QUESTIONS[0]
    out = _scores(learner, model, prompt, choices, seed=0)
    bad = [x for x in out if type(x) is not float]
    if bad:
        raise CheckFailed(f"choice_logprobs should return Python floats, got {type(bad[0]).__name__} ({bad[0]!r}). "
                          "Turn each sum into a number with .item().")
