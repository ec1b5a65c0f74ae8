"""Hidden checks for the instruction_data exercise (lessons/15-instruction-data.md).

`format_input` is compared string for string with the reference; `InstructionDataset` item for item,
with GPT-2's BPE (tiktoken). `custom_collate_fn` is compared on hand-made batches of token-id lists whose
contents never contain the pad id (so masking by position and masking by value agree), with the default
and with other pad ids, ignore indices and `allowed_max_length`; then properties: dtypes, the batch's
lists left alone, and use as a DataLoader's `collate_fn`.
"""

import copy
import functools

import tiktoken
import torch
from torch.utils.data import DataLoader

from tutor.grading.framework import CheckFailed, Suite, describe_tensor

suite = Suite("instruction_data")

ENTRIES_WITH_INPUT = [
    {"instruction": "Rewrite the sentence in the passive voice.", "input": "The cat chased the mouse.",
     "output": "The mouse was chased by the cat."},
    {"instruction": "Translate into French.", "input": "Good morning, how are you?\nSee you later.",
     "output": "Bonjour, comment allez-vous ?\nÀ plus tard."},
    {"instruction": "Convert 3 kilometres to metres.", "input": "3 km", "output": "3 km is 3,000 metres."},
]
ENTRIES_WITHOUT_INPUT = [
    {"instruction": "Name the largest planet of the solar system.", "input": "", "output": "Jupiter."},
    {"instruction": "Give a synonym of 'quick'.", "input": "", "output": "Fast."},
]

# Token-id lists of different lengths; none contains a pad id used with it.
BATCH_MIXED = [[11, 12, 13, 14, 15], [21, 22], [31, 32, 33]]
BATCH_EQUAL = [[5, 6, 7], [8, 9, 10]]
BATCH_SINGLE = [[40, 41, 42, 43]]
BATCH_ONE_TOKEN = [[7], [3, 4, 5, 6]]
BATCH_LONG = [[100 + i for i in range(9)], [200, 201, 202], [300 + i for i in range(6)]]


def _pairs(impl, batch, **kwargs):
    """The learner's (inputs, targets) as a dict, with a clear failure if it is not a pair of tensors."""
    out = impl.custom_collate_fn(copy.deepcopy(batch), **kwargs)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise CheckFailed(f"custom_collate_fn should return a pair (inputs, targets), got "
                          f"{type(out).__name__}{f' of length {len(out)}' if hasattr(out, '__len__') else ''}.")
    inputs, targets = out
    for name, t in (("inputs", inputs), ("targets", targets)):
        if not torch.is_tensor(t):
            raise CheckFailed(f"custom_collate_fn should return {name} as a tensor, got {type(t).__name__}. "
                              "Stack the padded rows with torch.stack (or build one tensor).")
    return {"inputs": inputs, "targets": targets}


def _gpt2():
    return tiktoken.get_encoding("gpt2")


# -- known mistakes --------------------------------------------------------------------------------------
suite.mistake(
    "empty-input-section",
    "An `### Input:` section is added for an example whose input is empty; add it only when "
    "entry[\"input\"] is not empty.",
    lesson="#the-prompt-template",
    replace=[('input_text = INPUT_HEADER + entry["input"] if entry["input"] else ""',
              'input_text = INPUT_HEADER + entry["input"]')],
)
suite.mistake(
    "no-response-header",
    "The dataset encodes the prompt and the answer without the `### Response:` header between them; encode "
    "format_input(entry) + \"\\n\\n### Response:\\n\" + entry[\"output\"].",
    lesson="#the-prompt-template",
    replace=[('full_text = format_input(entry) + RESPONSE_HEADER + entry["output"]',
              'full_text = format_input(entry) + "\\n\\n" + entry["output"]')],
)
suite.mistake(
    "first-pad-masked",
    "Every pad in the targets became ignore_index, the first one too. The first pad after a sequence is its "
    "end-of-text target: keep it, or the model never learns to stop.",
    lesson="#keep-one-end-of-text-target",
    replace=[("targets[len(item):] = ignore_index", "targets[len(item) - 1:] = ignore_index")],
)
suite.mistake(
    "targets-not-shifted",
    "The targets are not shifted: they repeat the inputs. The target at position t is the token at t + 1 "
    "(the padded list without its first token).",
    lesson="#inputs-and-targets",
    replace=[("targets = torch.tensor(padded[1:], dtype=torch.long)",
              "targets = torch.tensor(padded[:-1], dtype=torch.long)")],
)
suite.mistake(
    "inputs-padded-with-ignore-index",
    "The inputs are padded with ignore_index (-100). Only the targets get ignore_index; the inputs are token "
    "ids fed to the embedding, so they are padded with pad_token_id.",
    lesson="#padding-with-end-of-text",
    replace=[("        inputs = torch.tensor(padded[:-1], dtype=torch.long)  # (batch_max_length - 1,)\n",
              "        inputs = torch.tensor(padded[:-1], dtype=torch.long)  # (batch_max_length - 1,)\n"
              "        inputs[len(item):] = ignore_index\n")],
)
suite.mistake(
    "no-end-of-text-for-longest",
    "The batch is padded to the longest sequence, not to the longest plus one, so the longest sequence gets "
    "no end-of-text token. Pad every sequence to max(len(item)) + 1 before cutting inputs and targets.",
    lesson="#padding-with-end-of-text",
    replace=[("batch_max_length = max(len(item) + 1 for item in batch)",
              "batch_max_length = max(len(item) for item in batch)")],
)
suite.mistake(
    "allowed-max-length-ignored",
    "allowed_max_length is ignored: with it set, keep only the first allowed_max_length columns of the inputs "
    "and of the targets.",
    lesson="#a-length-limit",
    replace=[("        if allowed_max_length is not None:\n"
              "            inputs = inputs[:allowed_max_length]\n"
              "            targets = targets[:allowed_max_length]\n", "")],
)


# -- checks ------------------------------------------------------------------------------------------------
@suite.compare("format_input: preamble, instruction and input", lesson="#the-prompt-template")
def check_format_with_input(impl):
    return [impl.format_input(dict(e)) for e in ENTRIES_WITH_INPUT]


@suite.compare("format_input: no Input section when the input is empty", lesson="#the-prompt-template")
def check_format_without_input(impl):
    return [impl.format_input(dict(e)) for e in ENTRIES_WITHOUT_INPUT]


@suite.compare("InstructionDataset encodes prompt, response header and answer", lesson="#the-prompt-template", atol=0, rtol=0)
def check_dataset(impl):
    data = [dict(e) for e in ENTRIES_WITH_INPUT[:2] + ENTRIES_WITHOUT_INPUT]
    ds = impl.InstructionDataset(data, _gpt2())
    return {"len(dataset)": len(ds), "items": [[int(t) for t in ds[i]] for i in range(len(data))]}


@suite.compare("custom_collate_fn pads with end-of-text, shifts the targets, ignores later pads",
               lesson="#keep-one-end-of-text-target", atol=0, rtol=0)
def check_collate_default(impl):
    return {"three lengths": _pairs(impl, BATCH_MIXED),
            "one-token sequence": _pairs(impl, BATCH_ONE_TOKEN),
            "equal lengths": _pairs(impl, BATCH_EQUAL),
            "one sequence": _pairs(impl, BATCH_SINGLE)}


@suite.compare("custom_collate_fn uses the pad_token_id and ignore_index it is given",
               lesson="#padding-with-end-of-text", atol=0, rtol=0)
def check_collate_custom_ids(impl):
    return {"pad_token_id=0, ignore_index=-1": _pairs(impl, BATCH_MIXED, pad_token_id=0, ignore_index=-1),
            "pad_token_id=99": _pairs(impl, BATCH_ONE_TOKEN, pad_token_id=99)}


@suite.compare("custom_collate_fn cuts inputs and targets to allowed_max_length", lesson="#a-length-limit", atol=0, rtol=0)
def check_collate_allowed_max_length(impl):
    return {"allowed_max_length=4": _pairs(impl, BATCH_LONG, allowed_max_length=4),
            "allowed_max_length=7": _pairs(impl, BATCH_LONG, allowed_max_length=7),
            "allowed_max_length=50 (longer than the batch)": _pairs(impl, BATCH_MIXED, allowed_max_length=50)}


@suite.check("custom_collate_fn returns torch.long tensors on the device asked for", lesson="#inputs-and-targets")
def check_collate_dtype_device(learner):
    for device in ("cpu", torch.device("cpu")):
        got = _pairs(learner, BATCH_MIXED, device=device)
        for name, t in got.items():
            if t.dtype != torch.long:
                raise CheckFailed(f"{name} has dtype {t.dtype}; token ids (and ignore_index) must be torch.long: "
                                  f"embeddings and cross_entropy need integer ids.\n  got: {describe_tensor(t)}")
            if t.device.type != "cpu":
                raise CheckFailed(f"With device={device!r}, {name} is on {t.device}.")


@suite.check("custom_collate_fn leaves the batch's lists as they were", lesson="#padding-with-end-of-text")
def check_collate_leaves_batch_alone(learner):
    batch = copy.deepcopy(BATCH_MIXED)
    first = _pairs(learner, [list(x) for x in BATCH_MIXED])
    learner.custom_collate_fn(batch)
    if batch != BATCH_MIXED:
        raise CheckFailed(f"After custom_collate_fn(batch), the batch's lists changed: {BATCH_MIXED} became "
                          f"{batch}. The lists belong to the dataset: padding them in place makes them grow "
                          "every epoch. Pad a copy (list(item) + [...]).")
    again = learner.custom_collate_fn(batch)
    if not (torch.equal(first["inputs"], again[0]) and torch.equal(first["targets"], again[1])):
        raise CheckFailed("Calling custom_collate_fn twice on the same batch gave different tensors.")


@suite.check("InstructionDataset and custom_collate_fn work together in a DataLoader", lesson="#inputs-and-targets")
def check_in_a_dataloader(learner):
    data = [dict(e) for e in ENTRIES_WITH_INPUT + ENTRIES_WITHOUT_INPUT]
    ds = learner.InstructionDataset(data, _gpt2())
    collate = functools.partial(learner.custom_collate_fn, allowed_max_length=40)
    loader = DataLoader(ds, batch_size=2, shuffle=False, collate_fn=collate)
    lengths = [len(ds[i]) for i in range(len(ds))]
    seen = 0
    for inputs, targets in loader:
        b = inputs.shape[0]
        longest = max(lengths[seen:seen + b])
        want = (b, min(longest, 40))
        if tuple(inputs.shape) != want or tuple(targets.shape) != want:
            raise CheckFailed(f"A batch of {b} examples (longest {longest} tokens) with allowed_max_length=40 "
                              f"should give inputs and targets of shape {want}, got {tuple(inputs.shape)} and "
                              f"{tuple(targets.shape)}.")
        seen += b
    if seen != len(ds):
        raise CheckFailed(f"The DataLoader gave {seen} examples, the dataset has {len(ds)}.")
