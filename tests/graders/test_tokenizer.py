"""The tokenizer grader: passes the reference, recognises the stub, fails realistic mistakes."""

import pytest

from tests.graders.helpers import assert_passes, grade_source, reference_source

EX = "tokenizer"


_REF = reference_source(EX)
WRONG = {
    # Splitting on whitespace only: punctuation stays glued to words.
    "split-on-spaces-only": _REF.replace(
        "def build_vocab(text):\n", "def build_vocab(text):\n    split_text = str.split\n"
    ),
    # Unknown words raise KeyError instead of mapping to <|unk|>.
    "unknown-raises": _REF.replace("self.str_to_int.get(p, unk)", "self.str_to_int[p]"),
    # Only ids of the vocabulary's tokens, special tokens forgotten.
    "no-special-tokens": _REF.replace("    tokens.extend(SPECIAL_TOKENS)  # they get the last two ids\n", ""),
    # Ids start at 1.
    "ids-from-one": _REF.replace("enumerate(tokens)}", "enumerate(tokens, start=1)}"),
    # decode joins without spaces.
    "join-without-spaces": _REF.replace('text = " ".join(', 'text = "".join('),
    # No `--` alternative: "word--word" stays one token (words with spaces around the dashes still split).
    "no-double-dash-alternative": _REF.replace("""SPLIT_PATTERN = r'([,.:;?_!"()\\']|--|\\s)'""",
                                               """SPLIT_PATTERN = r'([,.:;?_!"()\\']|\\s)'"""),
}

# Correct answers written differently from the reference: they must pass.
CORRECT = {
    # The punctuation listed in another order, `--` first.
    "punctuation-in-another-order": _REF.replace("""SPLIT_PATTERN = r'([,.:;?_!"()\\']|--|\\s)'""",
                                                 r'''SPLIT_PATTERN = r"(--|[?!'\"(),.:;_]|\s)"'''),
    # re.findall of the tokens themselves instead of re.split on the separators.
    "findall": _REF.replace(
        "    pieces = re.split(SPLIT_PATTERN, text)\n    return [p.strip() for p in pieces if p.strip()]",
        """    return re.findall(r'--|[,.:;?_!"()\\']|(?:(?!--)[^,.:;?_!"()\\'\\s])+', text)"""),
}


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_alternative_passes(grader, name):
    assert_passes(grader, EX, CORRECT[name])


@pytest.mark.parametrize("name", sorted(WRONG))
def test_hand_written_mistake_fails(grader, name):
    assert WRONG[name] != _REF, "the mistake did not change the reference"
    r = grade_source(grader, EX, WRONG[name])
    assert r.status == "failed", r.summary()
    assert r.failure_text(), r.summary()


def test_unknown_words_message_names_the_word(grader):
    r = grade_source(grader, EX, WRONG["unknown-raises"])
    assert "KeyError" in r.failure_text() and "whales" in r.failure_text(), r.summary()
