"""Hidden checks for the tokenizer exercise (lessons/01-tokenizer.md)."""

from tutor.grading.framework import CheckFailed, Suite

suite = Suite("tokenizer")

TRAIN_TEXT = (
    'The lighthouse keeper counted ships -- seven that night. "Only seven?" asked Mara; '
    "she wrote it down: seven ships, one storm, no sleep. It's late, isn't it?"
)
OTHER_TEXT = 'Mara asked: "Where is the keeper?" -- nobody knew (not even the gulls).'
UNSEEN_TEXT = "The keeper counted whales, not ships!"
# Double dashes between words with no spaces around them: only the `--` alternative of the pattern splits them.
DASH_TEXT = "The keeper--tired, cold--counted ships--seven; then--nothing."

# -- known mistakes --------------------------------------------------------------------------------------
suite.mistake(
    "unsorted-vocab",
    "The vocabulary is not sorted: ids must follow the sorted order of the distinct tokens.",
    lesson="#building-the-vocabulary",
    replace=[("tokens = sorted(set(split_text(text)))", "tokens = list(dict.fromkeys(split_text(text)))")],
)
suite.mistake(
    "specials-first",
    "The special tokens come first; they belong at the end, after the sorted tokens.",
    lesson="#special-tokens",
    replace=[("    tokens.extend(SPECIAL_TOKENS)  # they get the last two ids\n", ""),
             ("tokens = sorted(set(split_text(text)))", "tokens = SPECIAL_TOKENS + sorted(set(split_text(text)))")],
)
suite.mistake(
    "specials-swapped",
    'The special tokens are in the wrong order: "<|endoftext|>" comes before "<|unk|>".',
    lesson="#special-tokens",
    replace=[("tokens.extend(SPECIAL_TOKENS)", "tokens.extend(reversed(SPECIAL_TOKENS))")],
)
suite.mistake(
    "duplicates-kept",
    "Repeated tokens get several ids: build the vocabulary from the distinct tokens (a set).",
    lesson="#building-the-vocabulary",
    replace=[("tokens = sorted(set(split_text(text)))", "tokens = sorted(split_text(text))"),
             ("return {token: i for i, token in enumerate(tokens)}",
              "return dict(zip(tokens, range(len(tokens))))")],
)
suite.mistake(
    "no-unk",
    "Unknown words are dropped instead of becoming <|unk|>.",
    lesson="#special-tokens",
    replace=[("return [self.str_to_int.get(p, unk) for p in pieces]",
              "return [self.str_to_int[p] for p in pieces if p in self.str_to_int]")],
)
suite.mistake(
    "no-punctuation-fix",
    "decode leaves a space in front of punctuation: remove it after joining with spaces.",
    lesson="#decoding",
    replace=[("""return re.sub(r'\\s+([,.:;?!"()\\'])', r"\\1", text)""", "return text")],
)
suite.mistake(
    "lowercased",
    "Text is lowercased; the tokenizer must keep case (\"The\" and \"the\" are different tokens).",
    lesson="#splitting-text",
    replace=[("    pieces = re.split(SPLIT_PATTERN, text)", "    pieces = re.split(SPLIT_PATTERN, text.lower())")],
)


suite.mistake(
    "no-double-dash",
    "The split pattern has no `--` alternative, so \"word--word\" stays one token; split on "
    "([,.:;?_!\"()\\']|--|\\s).",
    lesson="#splitting-text",
    replace=[("|--|", "|")],
)


# -- checks ------------------------------------------------------------------------------------------------
@suite.compare("build_vocab gives sorted tokens, then <|endoftext|> and <|unk|>", lesson="#building-the-vocabulary")
def check_vocab(impl):
    return impl.build_vocab(TRAIN_TEXT)


@suite.compare("build_vocab works on a second text", lesson="#building-the-vocabulary")
def check_vocab_other(impl):
    vocab = impl.build_vocab(OTHER_TEXT)
    return sorted(vocab.items(), key=lambda kv: kv[1])


@suite.compare("encode maps known words to their ids", lesson="#encoding")
def check_encode(impl):
    tok = impl.SimpleTokenizerV2(suite.reference.build_vocab(TRAIN_TEXT))
    return tok.encode(TRAIN_TEXT)


@suite.compare("encode maps unknown words to <|unk|>", lesson="#special-tokens")
def check_encode_unknown(impl):
    tok = impl.SimpleTokenizerV2(suite.reference.build_vocab(TRAIN_TEXT))
    return tok.encode(UNSEEN_TEXT + " <|endoftext|> " + OTHER_TEXT)


@suite.compare("decode turns ids back into text with punctuation attached", lesson="#decoding")
def check_decode(impl):
    vocab = suite.reference.build_vocab(TRAIN_TEXT)
    tok = impl.SimpleTokenizerV2(vocab)
    ids = suite.reference.SimpleTokenizerV2(vocab).encode(TRAIN_TEXT)
    return tok.decode(ids)


@suite.check("encode then decode gives back the text (for text made of known words)", lesson="#decoding")
def check_round_trip(learner):
    text = "Only seven ships, she wrote: no sleep."  # no quotes: decode cannot know which side they hug
    tok = learner.SimpleTokenizerV2(learner.build_vocab(TRAIN_TEXT))
    back = tok.decode(tok.encode(text))
    if back != text:
        raise CheckFailed(f"decode(encode(text)) should give the text back.\n  text: {text!r}\n  got:  {back!r}")


@suite.check("the vocabulary has one id per distinct token, ids 0..n-1", lesson="#building-the-vocabulary")
def check_vocab_ids(learner):
    vocab = learner.build_vocab(TRAIN_TEXT)
    if not isinstance(vocab, dict):
        raise CheckFailed(f"build_vocab should return a dict, got {type(vocab).__name__}.")
    ids = sorted(vocab.values())
    if ids != list(range(len(vocab))):
        raise CheckFailed(f"The ids should be 0, 1, …, {len(vocab) - 1} with no gaps or repeats; got {ids[:12]}…")


@suite.compare("`--` is a token of its own, also between words without spaces (\"keeper--tired\")",
               lesson="#splitting-text")
def check_double_dash(impl):
    vocab = impl.build_vocab(DASH_TEXT)
    tok = impl.SimpleTokenizerV2(suite.reference.build_vocab(DASH_TEXT))
    return {"build_vocab": sorted(vocab.items(), key=lambda kv: kv[1]), "encode": tok.encode(DASH_TEXT)}
