"""Hidden checks for the dataloader exercise (lessons/02-dataloader.md)."""

import tiktoken
import torch

from tutor.grading.framework import CheckFailed, Suite, describe_tensor

suite = Suite("dataloader")


class CountingTokenizer:
    """Token i of the text gets id 100 + i, so a window's first input id tells where it starts.

    Accepts tiktoken's keyword arguments (allowed_special=...) and ignores them.
    """

    def __init__(self, num_tokens):
        self.num_tokens = num_tokens

    def encode(self, text, **kwargs):
        return list(range(100, 100 + self.num_tokens))


GPT2_TEXT = (
    "The lighthouse keeper counted the ships that passed every night. Some carried grain, "
    "some carried coal.<|endoftext|>The lamp never went out, not even in the storm of '98."
)
# About 900 tokens: with the defaults (max_length=256, stride=128) that is 6 windows, so one full batch of 4
# and two windows that drop_last=True drops.
LONG_TEXT = " ".join(
    f"On day {i} the keeper wrote: {i % 7} ships, wind from the {('north', 'south', 'east', 'west')[i % 4]}."
    for i in range(60)
) + "<|endoftext|>"


def _gpt2():
    return tiktoken.get_encoding("gpt2")


def _shape(batch_part):
    """The shape of a batched tensor, or the type's name when it is not one (say, a list)."""
    return tuple(batch_part.shape) if torch.is_tensor(batch_part) else type(batch_part).__name__


def _windows(impl, tokenizer, txt, max_length, stride):
    ds = impl.GPTDatasetV1(txt, tokenizer, max_length, stride)
    n = len(ds)
    items = [ds[i] for i in range(n)]
    return {"number of windows": n,
            "inputs": [item[0] for item in items],
            "targets": [item[1] for item in items]}


_DEFAULT_LOADERS = {}


def _default_loader(impl):
    """`impl.create_dataloader_v1(LONG_TEXT)`, made once per module (two checks read it; neither changes it)."""
    if impl not in _DEFAULT_LOADERS:
        _DEFAULT_LOADERS[impl] = impl.create_dataloader_v1(LONG_TEXT)
    return _DEFAULT_LOADERS[impl]


# -- known mistakes --------------------------------------------------------------------------------------
_RANGE = "range(0, len(token_ids) - max_length, stride)"

suite.mistake(
    "stride-ignored",
    "The window moves by one token whatever `stride` says; window i starts at i * stride.",
    lesson="#the-sliding-window",
    replace=[(_RANGE, "range(0, len(token_ids) - max_length)")],
)
suite.mistake(
    "stride-is-max-length",
    "The window moves by `max_length` instead of `stride`.",
    lesson="#the-sliding-window",
    replace=[(_RANGE, "range(0, len(token_ids) - max_length, max_length)")],
)
suite.mistake(
    "target-not-shifted",
    "The target is the same window as the input; it must be shifted one token to the left "
    "(target = token_ids[start + 1 : start + max_length + 1]).",
    lesson="#input-and-target-pairs",
    replace=[("target_chunk = token_ids[start + 1:start + max_length + 1]",
              "target_chunk = token_ids[start:start + max_length]")],
)
suite.mistake(
    "shifted-backwards",
    "Input and target are swapped: the input is one token ahead of the target, so the model would learn "
    "to predict the previous token. The target is the input shifted one token to the left.",
    lesson="#input-and-target-pairs",
    replace=[("input_chunk = token_ids[start:start + max_length]",
              "input_chunk = token_ids[start + 1:start + max_length + 1]"),
             ("target_chunk = token_ids[start + 1:start + max_length + 1]",
              "target_chunk = token_ids[start:start + max_length]")],
)
suite.mistake(
    "extra-window",
    "One window too many: the last window's target runs past the end of the text. "
    "Keep a start only while start + max_length < len(token_ids).",
    lesson="#the-sliding-window",
    replace=[(_RANGE, "range(0, len(token_ids) - max_length + 1, stride)")],
)
suite.mistake(
    "partial-windows-kept",
    "Windows near the end are kept even though they are shorter than max_length; drop the last partial "
    "window (keep a start only while start + max_length < len(token_ids)).",
    lesson="#the-sliding-window",
    replace=[(_RANGE, "range(0, len(token_ids), stride)")],
)
suite.mistake(
    "window-missing",
    "The last window that fits is missing: a window starting at len(token_ids) - max_length - 1 still "
    "has a token after it for its last target.",
    lesson="#the-sliding-window",
    replace=[(_RANGE, "range(0, len(token_ids) - max_length - 1, stride)")],
)
suite.mistake(
    "endoftext-as-text",
    "<|endoftext|> is encoded as ordinary text (several tokens) instead of the single id 50256: "
    'encode with allowed_special={"<|endoftext|>"}.',
    lesson="#the-end-of-text-token",
    replace=[('tokenizer.encode(txt, allowed_special={"<|endoftext|>"})',
              "tokenizer.encode(txt, disallowed_special=())")],
)
suite.mistake(
    "float-ids",
    "The token ids are stored as floats (torch.Tensor(...) or dtype=torch.float); they must be torch.long.",
    lesson="#a-dataset-and-a-dataloader",
    replace=[("torch.tensor(input_chunk)", "torch.Tensor(input_chunk)"),
             ("torch.tensor(target_chunk)", "torch.Tensor(target_chunk)")],
)
suite.mistake(
    "drop-last-ignored",
    "create_dataloader_v1 does not pass drop_last on to the DataLoader.",
    lesson="#a-dataset-and-a-dataloader",
    replace=[("        drop_last=drop_last,  # a short last batch would make loss curves jumpy\n", "")],
)


# -- compare-checks ----------------------------------------------------------------------------------------
@suite.compare("Windows that tile the text (13 tokens, max_length=4, stride=4): the last one fits exactly",
               lesson="#the-sliding-window")
def check_windows_tiling(impl):
    return _windows(impl, CountingTokenizer(13), "thirteen tokens of text", max_length=4, stride=4)


@suite.compare("The last partial window is dropped (12 tokens, max_length=4, stride=4 and stride=2; "
               "5 tokens, max_length=5: no window at all)", lesson="#the-sliding-window")
def check_windows_partial_dropped(impl):
    return {"12 tokens, stride=4": _windows(impl, CountingTokenizer(12), "twelve tokens", max_length=4, stride=4),
            "12 tokens, stride=2": _windows(impl, CountingTokenizer(12), "twelve tokens", max_length=4, stride=2),
            "5 tokens, max_length=5": _windows(impl, CountingTokenizer(5), "five tokens", max_length=5, stride=2)}


@suite.compare("Overlapping windows (8 tokens, max_length=3, stride=1)", lesson="#the-sliding-window")
def check_windows_overlap(impl):
    return _windows(impl, CountingTokenizer(8), "eight tokens", max_length=3, stride=1)


@suite.compare("Windows with gaps between them (14 tokens, max_length=3, stride=5)", lesson="#the-sliding-window")
def check_windows_gap(impl):
    return _windows(impl, CountingTokenizer(14), "fourteen tokens", max_length=3, stride=5)


@suite.compare("GPT-2 token ids of a real text with <|endoftext|> (max_length=6, stride=5)",
               lesson="#the-end-of-text-token")
def check_gpt2_windows(impl):
    return _windows(impl, _gpt2(), GPT2_TEXT, max_length=6, stride=5)


@suite.compare("create_dataloader_v1 batches, in order (batch_size=3, max_length=4, stride=3, "
               "shuffle=False, drop_last=False and True)", lesson="#a-dataset-and-a-dataloader")
def check_dataloader_batches(impl):
    out = {}
    for drop_last in (False, True):
        batches = list(impl.create_dataloader_v1(GPT2_TEXT, batch_size=3, max_length=4, stride=3,
                                                 shuffle=False, drop_last=drop_last))
        out[f"drop_last={drop_last}"] = {"number of batches": len(batches),
                                         "inputs": [b[0] for b in batches],
                                         "targets": [b[1] for b in batches]}
    return out


@suite.compare("create_dataloader_v1 with its default arguments (batch_size=4, max_length=256, stride=128)",
               lesson="#a-dataset-and-a-dataloader")
def check_dataloader_defaults(impl):
    batches = list(_default_loader(impl))
    return {"number of batches": len(batches),
            "input shapes": [_shape(b[0]) for b in batches],
            "target shapes": [_shape(b[1]) for b in batches]}


@suite.compare("create_dataloader_v1's defaults reach the DataLoader: batch_size=4, shuffle=True, drop_last=True, "
               "num_workers=0, and windows of max_length=256 every stride=128 tokens", lesson="#a-dataset-and-a-dataloader")
def check_dataloader_settings(impl):
    def settings(loader):
        windows = [loader.dataset[i][0] for i in range(len(loader.dataset))]  # in order, whatever the sampler
        return {"batch_size": loader.batch_size, "drop_last": loader.drop_last, "num_workers": loader.num_workers,
                "shuffled (RandomSampler)": isinstance(loader.sampler, torch.utils.data.RandomSampler),
                "number of windows": len(windows), "first token id of each window": [int(w[0]) for w in windows],
                "window lengths": [len(w) for w in windows]}

    return {"create_dataloader_v1(text) with every default": settings(_default_loader(impl)),
            "num_workers=2, shuffle=False, drop_last=False passed on": settings(impl.create_dataloader_v1(
                GPT2_TEXT, batch_size=2, max_length=8, stride=8, shuffle=False, drop_last=False, num_workers=2))}


# -- property checks ---------------------------------------------------------------------------------------
@suite.check("dataset[i] is a pair of 1-D torch.long tensors of length max_length",
             lesson="#a-dataset-and-a-dataloader")
def check_item_types(learner):
    ds = learner.GPTDatasetV1("ten tokens", CountingTokenizer(10), 4, 2)
    if len(ds) == 0:
        raise CheckFailed("len(dataset) is 0 for a 10-token text with max_length=4, stride=2; expected 3 windows.")
    item = ds[0]
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        raise CheckFailed(f"dataset[0] should be a pair (input, target); got {type(item).__name__}: {item!r:.120}")
    for name, t in zip(("input", "target"), item):
        if not torch.is_tensor(t):
            raise CheckFailed(f"The {name} of dataset[0] should be a torch tensor; got {type(t).__name__}: {t!r:.120}")
        if t.dtype != torch.long:
            raise CheckFailed(f"The {name} of dataset[0] has dtype {t.dtype}; token ids must be torch.long "
                              f"(torch.tensor(list_of_ints) gives that).\n  got: {describe_tensor(t)}")
        if tuple(t.shape) != (4,):
            raise CheckFailed(f"The {name} of dataset[0] should have shape (max_length,) = (4,); "
                              f"got {tuple(t.shape)}.\n  got: {describe_tensor(t)}")


@suite.check("Each target is its input shifted one token to the left", lesson="#input-and-target-pairs")
def check_targets_shifted(learner):
    ds = learner.GPTDatasetV1("twenty tokens", CountingTokenizer(20), 5, 3)
    for i in range(len(ds)):
        x, y = ds[i]
        x, y = torch.as_tensor(x), torch.as_tensor(y)
        if x.shape != y.shape:
            raise CheckFailed(
                f"Window {i} has an input of shape {tuple(x.shape)} but a target of shape {tuple(y.shape)}; "
                "both must hold max_length = 5 tokens. A window needs max_length + 1 tokens of text, so keep a "
                "start only while start + max_length < len(token_ids).\n"
                f"  window {i}: input  {x.tolist()}\n            target {y.tolist()}")
        if not torch.equal(x[1:], y[:-1]) or int(y[-1]) != int(x[-1]) + 1:
            raise CheckFailed(
                "target[j] should be the token right after input[j] (here token ids count up by one).\n"
                f"  window {i}: input  {x.tolist()}\n"
                f"            target {y.tolist()}\n"
                f"  expected  target {[int(v) + 1 for v in x.tolist()]}")


@suite.check("shuffle=True serves every window once per epoch, in a shuffled order", lesson="#a-dataset-and-a-dataloader")
def check_shuffle(learner):
    def rows(loader):
        out = []
        for inputs, _ in loader:
            if not torch.is_tensor(inputs):
                raise CheckFailed(f"A batch's inputs should be one tensor of shape (batch_size, max_length); "
                                  f"got {type(inputs).__name__}. Make dataset[i] return tensors.")
            out += [tuple(r) for r in inputs.tolist()]
        return out

    in_order = rows(learner.create_dataloader_v1(LONG_TEXT, batch_size=2, max_length=8, stride=8,
                                                 shuffle=False, drop_last=False))
    orders = []
    for _ in range(3):
        shuffled = rows(learner.create_dataloader_v1(LONG_TEXT, batch_size=2, max_length=8, stride=8,
                                                     shuffle=True, drop_last=False))
        if sorted(shuffled) != sorted(in_order):
            raise CheckFailed(f"With shuffle=True and drop_last=False one epoch should contain every window exactly "
                              f"once ({len(in_order)} windows); got {len(shuffled)} rows that differ from them.")
        orders.append(shuffled)
    if all(o == in_order for o in orders):
        raise CheckFailed(f"With shuffle=True the {len(in_order)} windows came out in their original order three "
                          "epochs in a row: pass shuffle on to the DataLoader.")
