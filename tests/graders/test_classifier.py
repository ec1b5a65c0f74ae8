"""The classifier grader: fails realistic hand-written mistakes, passes correct answers written
another way than the reference (the reference, the stub and every declared mistake are covered by
test_every_exercise.py)."""

import pytest

from tests.graders.helpers import assert_fails_saying, assert_passes, reference_source

EX = "classifier"
_REF = reference_source(EX)


def _swap(old: str, new: str, source: str = _REF) -> str:
    assert old in source, old
    return source.replace(old, new)


def _function(name: str) -> str:
    """The reference's source of one top-level function, up to the next definition."""
    start = _REF.index(f"def {name}(")
    nxt = [i for i in (_REF.find("\ndef ", start + 1), _REF.find("\nclass ", start + 1)) if i != -1]
    return _REF[start:min(nxt) + 1] if nxt else _REF[start:]


# name: (source, words the learner must see in the failure text or the failing checks' names)
WRONG = {
    # Splitting lines on commas: texts with commas, quotes or line breaks come apart.
    "naive-csv-split": (
        _swap("""        with open(csv_file, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
""", """        with open(csv_file, encoding="utf-8") as f:
            lines = f.read().splitlines()[1:]
        rows = [dict(zip(["Label", "Text"], line.split(",", 1))) for line in lines]
"""),
        ["SpamDataset"],
    ),
    # The label kept as the CSV's string "0"/"1".
    "label-as-string": (
        _swap('self.labels = [int(row["Label"]) for row in rows]', 'self.labels = [row["Label"] for row in rows]'),
        ["exercises/classifier.py line"],
    ),
    # The padded length measured in characters instead of token ids.
    "max-length-in-characters": (
        _swap("self.max_length = max(len(ids) for ids in self.encoded_texts)",
              'self.max_length = max(len(row["Text"]) for row in rows)'),
        ["dataset.max_length"],
    ),
    # A head sized for GPT-2 small whatever the model: emb_dim hard-coded.
    "head-hard-coded-768": (
        _swap("nn.Linear(model.out_head.in_features, num_classes)", "nn.Linear(768, num_classes)"),
        ["out_head.weight"],
    ),
    # num_classes ignored: always two outputs.
    "num-classes-ignored": (
        _swap("nn.Linear(model.out_head.in_features, num_classes)", "nn.Linear(model.out_head.in_features, 2)"),
        ["num_classes=3"],
    ),
    # The first block unfrozen instead of the last.
    "first-block-trains": (
        _swap("model.trf_blocks[-1].parameters()", "model.trf_blocks[0].parameters()"),
        ["requires_grad", "trf_blocks.0"],
    ),
    # The loss on the mean over all positions, not the last one.
    "loss-mean-over-positions": (
        _swap("logits = model(input_batch)[:, -1, :]  # (b, num_classes)\n    loss",
              "logits = model(input_batch).mean(dim=1)  # (b, num_classes)\n    loss"),
        ["calc_loss_batch", "Values differ"],
    ),
    # .item() in calc_loss_batch: nothing left to back-propagate.
    "loss-item": (
        _swap("    loss = torch.nn.functional.cross_entropy(logits, target_batch)\n    return loss\n",
              "    loss = torch.nn.functional.cross_entropy(logits, target_batch)\n    return loss.item()\n"),
        ["0-d tensor", ".item()"],
    ),
    # argmax without dim: one flat index for the whole batch.
    "argmax-without-dim": (
        _swap("predicted_labels = torch.argmax(logits, dim=-1)  # (b,)", "predicted_labels = torch.argmax(logits)"),
        ["accuracy"],
    ),
    # The count of correct predictions kept as a tensor: a tensor comes back.
    "accuracy-tensor": (
        _swap("correct_predictions += (predicted_labels == target_batch).sum().item()",
              "correct_predictions += (predicted_labels == target_batch).sum()"),
        ["Python float"],
    ),
    # The label returned as a number.
    "classify-returns-int": (
        _swap('return "spam" if predicted_label == 1 else "not spam"', "return predicted_label"),
        ["Expected 'not spam'", "got 0"],
    ),
    # Padding on the left: the last position reads a pad token, not the message.
    "classify-pads-left": (
        _swap("input_ids = input_ids + [pad_token_id] * (max_length - len(input_ids))",
              "input_ids = [pad_token_id] * (max_length - len(input_ids)) + input_ids"),
        ["ids given to the model"],
    ),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_hand_written_mistake_fails(grader, name):
    src, words = WRONG[name]
    assert_fails_saying(grader, EX, src, words, with_check_names=True)


_BOOK_STYLE_DATASET = '''
class SpamDataset(Dataset):
    def __init__(self, csv_file, tokenizer, max_length=None, pad_token_id=50256):
        with open(csv_file, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader)
            label_col, text_col = header.index("Label"), header.index("Text")
            data = [(int(r[label_col]), r[text_col]) for r in reader]
        self.labels = [label for label, _ in data]
        encoded = [tokenizer.encode(text) for _, text in data]
        self.max_length = max_length or max(map(len, encoded))
        self.ids = torch.full((len(encoded), self.max_length), pad_token_id, dtype=torch.long)
        for i, ids in enumerate(encoded):
            ids = ids[:self.max_length]
            self.ids[i, :len(ids)] = torch.tensor(ids, dtype=torch.long)

    def __getitem__(self, index):
        return self.ids[index], self.labels[index]  # a plain int label collates fine

    def __len__(self):
        return self.ids.shape[0]

'''

_BY_NAME_PREPARE = '''
def prepare_for_classification(model, num_classes=2):
    model.out_head = nn.Linear(model.tok_emb.embedding_dim, num_classes, bias=True)
    last = f"trf_blocks.{len(model.trf_blocks) - 1}."
    for name, param in model.named_parameters():
        param.requires_grad = name.startswith(("out_head.", "final_norm.", last))
    return model

'''

_REQUIRES_GRAD_PREPARE = '''
def prepare_for_classification(model, num_classes=2):
    model.requires_grad_(False)
    model.trf_blocks[-1].requires_grad_(True)
    model.final_norm.requires_grad_(True)
    model.out_head = torch.nn.Linear(in_features=model.final_norm.scale.shape[0], out_features=num_classes)
    return model

'''

_OTHER_LOOPS = '''
def calc_loss_batch(input_batch, target_batch, model, device):
    logits = model(input_batch.to(device))
    return torch.nn.functional.cross_entropy(logits[:, -1], target_batch.to(device))


def calc_accuracy_loader(data_loader, model, device, num_batches=None):
    model.eval()
    correct = seen = 0
    with torch.inference_mode():
        for i, (x, y) in enumerate(data_loader):
            if num_batches is not None and i >= num_batches:
                break
            pred = model(x.to(device))[:, -1].argmax(-1)
            correct += int((pred == y.to(device)).sum())
            seen += len(y)
    model.train()  # restoring train mode afterwards is allowed
    return correct / seen

'''

_BOOK_STYLE_CLASSIFY = '''
def classify_text(text, model, tokenizer, device, max_length=None, pad_token_id=50256):
    model.eval()
    input_ids = tokenizer.encode(text)
    supported_context_length = model.pos_emb.weight.shape[0]
    input_ids = input_ids[:min(max_length or supported_context_length, supported_context_length)]
    if max_length is not None:
        input_ids += [pad_token_id] * (max_length - len(input_ids))
    input_tensor = torch.tensor(input_ids, device=device).unsqueeze(0)
    logits = model(input_tensor)[:, -1, :]  # no torch.no_grad(): wasteful, not wrong
    return ["not spam", "spam"][int(logits.argmax(dim=-1))]
'''


def _replace_def(source: str, name: str, new: str) -> str:
    old = _function(name) if name != "SpamDataset" else source[source.index("class SpamDataset"):
                                                                source.index("def prepare_for_classification")]
    return source.replace(old, new.lstrip("\n"))


CORRECT = {
    "dataset-with-csv-reader-and-int-labels": _replace_def(_REF, "SpamDataset", _BOOK_STYLE_DATASET),
    "prepare-by-parameter-name": _replace_def(_REF, "prepare_for_classification", _BY_NAME_PREPARE),
    "prepare-with-requires-grad-underscore": _replace_def(_REF, "prepare_for_classification",
                                                          _REQUIRES_GRAD_PREPARE),
    "loss-and-accuracy-written-otherwise": _replace_def(
        _replace_def(_REF, "calc_loss_batch", _OTHER_LOOPS.split("\n\ndef calc_accuracy_loader")[0] + "\n\n\n"),
        "calc_accuracy_loader", "def calc_accuracy_loader" + _OTHER_LOOPS.split("\n\ndef calc_accuracy_loader")[1]),
    "classify-as-in-the-book": _replace_def(_REF, "classify_text", _BOOK_STYLE_CLASSIFY),
}


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_alternative_passes(grader, name):
    assert_passes(grader, EX, CORRECT[name])
