"""Hidden checks for the classifier exercise (lessons/14-classifier.md).

`prepare_for_classification` is checked on a small reference `GPTModel` (the grader maps
`exercises.gpt_model` to the reference while this exercise is graded). The loss, the accuracy and
`classify_text` run a small stand-in classifier with GPT's interface: ids (b, T) -> logits
(b, T, classes), where position t sees tokens 0..t only (a running mean, like causal attention),
so the first and the last position disagree. In train() mode it multiplies its hidden vector by a
fixed mask (a deterministic stand-in for dropout), and it records each call's mode and ids, so a
forgotten eval(), a missing pad or a wrong cut shows directly. The tokenizer is a word tokenizer
with ids below 1,000; CSV files are written to a temporary folder.
"""

import csv
import re
import tempfile
import zlib
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from tutor.grading.framework import CheckFailed, Suite

suite = Suite("classifier")

VOCAB = 50257  # GPT-2's, so the default pad id 50256 is a real token
END = 50256

# -- known mistakes --------------------------------------------------------------------------------------
suite.mistake(
    "pad-with-zero",
    "Short messages are padded with 0; pad them with pad_token_id (50256 by default, GPT-2's "
    "<|endoftext|>). Id 0 is the ordinary token '!'.",
    lesson="#padding-to-one-length",
    replace=[("ids + [pad_token_id] * (self.max_length - len(ids))",
              "ids + [0] * (self.max_length - len(ids))")],
)
suite.mistake(
    "truncate-wrong-end",
    "Long messages keep their last max_length ids; keep the first ones, ids[:max_length].",
    lesson="#padding-to-one-length",
    replace=[("ids[:max_length] for ids in self.encoded_texts", "ids[-max_length:] for ids in self.encoded_texts")],
)
suite.mistake(
    "dataset-no-truncation",
    "SpamDataset does not cut messages longer than max_length, so the items have different lengths.",
    lesson="#padding-to-one-length",
    replace=[("            self.encoded_texts = [ids[:max_length] for ids in self.encoded_texts]\n", "")],
)
suite.mistake(
    "head-without-bias",
    "The new out_head has no bias; it is nn.Linear(emb_dim, num_classes) with the default bias=True.",
    lesson="#a-two-way-head",
    replace=[("nn.Linear(model.out_head.in_features, num_classes)",
              "nn.Linear(model.out_head.in_features, num_classes, bias=False)")],
)
suite.mistake(
    "final-norm-frozen",
    "final_norm is left frozen: its scale and shift must train too (requires_grad=True), since the head "
    "reads its output.",
    lesson="#which-parameters-train",
    replace=[("    for param in model.final_norm.parameters():\n        param.requires_grad = True\n", "")],
)
suite.mistake(
    "last-block-frozen",
    "The last transformer block is left frozen: make model.trf_blocks[-1]'s parameters trainable.",
    lesson="#which-parameters-train",
    replace=[("    for param in model.trf_blocks[-1].parameters():\n        param.requires_grad = True\n", "")],
)
suite.mistake(
    "nothing-frozen",
    "Every parameter still trains: freeze them all (requires_grad=False) first, then unfreeze the last "
    "block, final_norm and the new head.",
    lesson="#which-parameters-train",
    replace=[("    for param in model.parameters():\n        param.requires_grad = False\n", "")],
)
suite.mistake(
    "first-token-loss",
    "calc_loss_batch scores the first position's logits; use the last position's, logits[:, -1, :]: "
    "with causal attention only the last token has seen the whole message.",
    lesson="#why-the-last-token",
    replace=[("logits = model(input_batch)[:, -1, :]  # (b, num_classes)\n    loss",
              "logits = model(input_batch)[:, 0, :]  # (b, num_classes)\n    loss")],
)
suite.mistake(
    "first-token-accuracy",
    "calc_accuracy_loader predicts from the first position's logits; use the last position's, "
    "logits[:, -1, :].",
    lesson="#why-the-last-token",
    replace=[("            logits = model(input_batch)[:, -1, :]  # (b, num_classes)\n",
              "            logits = model(input_batch)[:, 0, :]  # (b, num_classes)\n")],
)
suite.mistake(
    "first-token-classify",
    "classify_text predicts from the first position's logits; use the last position's, logits[:, -1, :].",
    lesson="#why-the-last-token",
    replace=[("logits = model(input_tensor)[:, -1, :]", "logits = model(input_tensor)[:, 0, :]")],
)
suite.mistake(
    "accuracy-averaged-over-batches",
    "calc_accuracy_loader averages the accuracy of each batch; when batches differ in size that is not "
    "the fraction of examples classified correctly. Add up correct predictions and examples, divide once.",
    lesson="#counting-examples-not-batches",
    replace=[("num_examples += predicted_labels.shape[0]", "num_examples += 1"),
             ("correct_predictions += (predicted_labels == target_batch).sum().item()",
              "correct_predictions += (predicted_labels == target_batch).float().mean().item()")],
)
suite.mistake(
    "num-batches-ignored",
    "calc_accuracy_loader runs over every batch of the loader, not only the first num_batches.",
    lesson="#counting-examples-not-batches",
    replace=[("        if i >= num_batches:\n            break\n", "")],
)
suite.mistake(
    "no-eval-accuracy",
    "calc_accuracy_loader runs the model in train() mode, so dropout changes the predictions; call "
    "model.eval() first.",
    lesson="#counting-examples-not-batches",
    replace=[("    model.eval()\n    correct_predictions, num_examples = 0, 0\n",
              "    correct_predictions, num_examples = 0, 0\n")],
)
suite.mistake(
    "no-eval-classify",
    "classify_text runs the model in train() mode, so dropout changes the answer; call model.eval() first.",
    lesson="#classifying-a-new-message",
    replace=[("    model.eval()\n    input_ids = tokenizer.encode(text)\n", "    input_ids = tokenizer.encode(text)\n")],
)
suite.mistake(
    "classify-no-padding",
    "classify_text does not pad the message to max_length: the model was trained on padded messages, "
    "so pad this one the same way, with pad_token_id.",
    lesson="#classifying-a-new-message",
    replace=[("    if max_length is not None:\n"
              "        # Trained on messages padded to max_length, so pad this one the same way.\n"
              "        input_ids = input_ids + [pad_token_id] * (max_length - len(input_ids))\n", "")],
)
suite.mistake(
    "classify-no-truncation",
    "classify_text does not cut long messages: keep the first max_length ids (the context length when "
    "max_length is None).",
    lesson="#classifying-a-new-message",
    replace=[("    input_ids = input_ids[:max_length if max_length is not None else context_length]\n", "")],
)
suite.mistake(
    "labels-swapped",
    "classify_text swaps the labels: class 1 is \"spam\", class 0 is \"not spam\".",
    lesson="#classifying-a-new-message",
    replace=[('return "spam" if predicted_label == 1 else "not spam"',
              'return "spam" if predicted_label == 0 else "not spam"')],
)


# -- stand-ins -------------------------------------------------------------------------------------------
class WordTokenizer:
    """Words and punctuation marks, each to a fixed id below 1,000. Accepts tiktoken's keywords."""

    def encode(self, text, **kwargs):
        return [zlib.crc32(piece.encode()) % 997 + 1 for piece in re.findall(r"\w+|[^\w\s]", text)]


class StandInClassifier(torch.nn.Module):
    """ids (b, T) -> logits (b, T, num_classes); position t reads the mean of tokens 0..t."""

    def __init__(self, seed, context_length=16, emb_dim=6, num_classes=2):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.tok_emb = torch.nn.Embedding(VOCAB, emb_dim)
        self.pos_emb = torch.nn.Embedding(context_length, emb_dim)
        self.out_head = torch.nn.Linear(emb_dim, num_classes)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen))
        # Every other hidden unit dropped and the rest doubled, like dropout with p = 0.5, but fixed.
        self.register_buffer("train_mask", (torch.arange(emb_dim) % 2).float() * 2.0, persistent=False)
        self.calls = []  # (training, ids as lists) per forward pass

    def forward(self, idx):
        self.calls.append((self.training, idx.detach().cpu().tolist()))
        n = idx.shape[1]
        # Positions wrap around instead of failing, so an uncut message shows in the recorded ids.
        positions = torch.arange(n, device=idx.device) % self.pos_emb.num_embeddings
        x = self.tok_emb(idx) + self.pos_emb(positions)  # (b, T, emb)
        x = x.cumsum(dim=1) / torch.arange(1, n + 1, device=idx.device).unsqueeze(-1)  # causal mean
        if self.training:
            x = x * self.train_mask
        return self.out_head(x)  # (b, T, num_classes)

    def modes(self):
        return sorted({"train()" if training else "eval()" for training, _ in self.calls})

    def examples_seen(self):
        return sum(len(ids) for _, ids in self.calls)


def _batches(seed, n, num_tokens, num_classes=2):
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 1000, (n, num_tokens), generator=gen)
    labels = torch.randint(0, num_classes, (n,), generator=gen)
    return ids, labels


def _loader(seed, n, batch_size, num_tokens=5, num_classes=2):
    ids, labels = _batches(seed, n, num_tokens, num_classes)
    return DataLoader(TensorDataset(ids, labels), batch_size=batch_size, shuffle=False)


_TMP = Path(tempfile.mkdtemp(prefix="tutor-check-classifier-"))

MESSAGES = [
    (1, "WINNER!! You have been chosen for a £900 prize. Call 09061701461 now, claim code KL341."),
    (0, "ok see you at 7"),
    (0, 'She said "bring a coat, it\'s cold", so I did.'),
    (1, "Your parcel is waiting: pay the 1.99 fee at http://bit.ly/x2 to rebook delivery"),
    (0, "Are you coming to dinner tonight? Mum is making lasagne,\nand there is cake"),
    (1, "FREE entry"),
    (0, "Running late, sorry!"),
]


def _csv(name, rows):
    path = _TMP / name
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["Label", "Text"])
        writer.writerows(rows)
    return path


def _dataset_summary(ds):
    items = []
    for i in range(len(ds)):
        ids, label = ds[i]
        items.append({"ids": ids, "label": torch.as_tensor(label)})
    return {"len(dataset)": len(ds), "dataset.max_length": ds.max_length, "items": items}


# -- SpamDataset -------------------------------------------------------------------------------------------
@suite.compare("SpamDataset pads every message to the longest one with the end-of-text id",
               lesson="#padding-to-one-length", atol=0, rtol=0)
def check_dataset_longest(impl):
    ds = impl.SpamDataset(_csv("longest.csv", MESSAGES), WordTokenizer())
    return _dataset_summary(ds)


@suite.compare("SpamDataset with max_length keeps each message's first ids and pads the rest",
               lesson="#padding-to-one-length", atol=0, rtol=0)
def check_dataset_max_length(impl):
    path = _csv("fixed.csv", MESSAGES[:5])
    return {"max_length=6": _dataset_summary(impl.SpamDataset(path, WordTokenizer(), max_length=6)),
            "max_length=14, pad_token_id=3": _dataset_summary(
                impl.SpamDataset(path, WordTokenizer(), max_length=14, pad_token_id=3))}


# -- prepare_for_classification ------------------------------------------------------------------------------
CFG = {"vocab_size": 40, "context_length": 8, "emb_dim": 12, "n_heads": 2, "n_layers": 3,
       "drop_rate": 0.0, "qkv_bias": True}


def _gpt(seed):
    from exercises.gpt_model import GPTModel  # the reference's, while this exercise is graded

    torch.manual_seed(seed)
    return GPTModel(CFG)


@suite.compare("prepare_for_classification: a new head with a bias; only it, the last block and final_norm "
               "train", lesson="#which-parameters-train", atol=0, rtol=0)
def check_prepare(impl):
    out = {}
    for num_classes in (2, 3):
        model = _gpt(seed=num_classes)
        returned = impl.prepare_for_classification(model, num_classes=num_classes)
        out[f"num_classes={num_classes}"] = {
            "returns the model it was given": returned is model,
            "parameter shapes": {n: list(p.shape) for n, p in model.named_parameters()},
            "requires_grad": {n: p.requires_grad for n, p in model.named_parameters()},
        }
    model = _gpt(seed=4)
    impl.prepare_for_classification(model)
    out["num_classes not given"] = {n: list(p.shape) for n, p in model.named_parameters() if "out_head" in n}
    return out


@suite.check("prepare_for_classification keeps the values of every parameter but the head's",
             lesson="#a-two-way-head")
def check_prepare_keeps_weights(learner):
    model = _gpt(seed=5)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if not n.startswith("out_head.")}
    learner.prepare_for_classification(model)
    after = dict(model.named_parameters())
    changed = [n for n, v in before.items() if n not in after or not torch.equal(after[n].detach(), v)]
    if changed:
        raise CheckFailed(f"After prepare_for_classification these parameters changed or disappeared: "
                          f"{', '.join(changed[:5])}{' …' if len(changed) > 5 else ''}. Only out_head is "
                          "replaced; the rest keeps what the model learned.")
    with torch.no_grad():
        logits = model(torch.randint(0, CFG["vocab_size"], (2, 5)))
    if tuple(logits.shape) != (2, 5, 2):
        raise CheckFailed(f"The prepared model should give (2, 5, 2) logits for (2, 5) ids, got "
                          f"{tuple(logits.shape)}.")


# -- calc_loss_batch ---------------------------------------------------------------------------------------
@suite.compare("calc_loss_batch is the cross-entropy of the last position's logits", lesson="#why-the-last-token")
def check_loss_batch(impl):
    losses = {}
    for seed, (b, t, k) in enumerate([(4, 5, 2), (3, 7, 2), (5, 1, 2), (6, 4, 3)]):
        model = StandInClassifier(seed, num_classes=k).eval()
        ids, labels = _batches(100 + seed, b, t, k)
        losses[f"batch of {b} messages of {t} ids, {k} classes"] = impl.calc_loss_batch(ids, labels, model, "cpu")
    return losses


@suite.check("calc_loss_batch returns a 0-d tensor you can call backward() on", lesson="#loss-and-accuracy")
def check_loss_backprop(learner):
    model = StandInClassifier(11).eval()
    ids, labels = _batches(111, 3, 4)
    loss = learner.calc_loss_batch(ids, labels, model, "cpu")
    if not torch.is_tensor(loss) or loss.dim() != 0:
        raise CheckFailed(f"calc_loss_batch should return a 0-d tensor (the training loop calls loss.backward() "
                          f"on it), got {type(loss).__name__}: {loss!r}. Don't call .item() in it.")
    if not loss.requires_grad:
        raise CheckFailed("The loss is not attached to the model's graph, so loss.backward() cannot reach the "
                          "weights. Don't compute it under torch.no_grad() or detach it.")
    loss.backward()
    if model.out_head.weight.grad is None or not bool(model.out_head.weight.grad.abs().sum() > 0):
        raise CheckFailed("After loss.backward(), the head got no gradient.")


# -- calc_accuracy_loader ----------------------------------------------------------------------------------
def _accuracy(impl, seed, n, batch_size, **kwargs):
    model = StandInClassifier(seed).train()  # as it is during training; the function must switch it
    acc = impl.calc_accuracy_loader(_loader(seed + 50, n, batch_size), model, "cpu", **kwargs)
    return {"accuracy": acc, "the model ran in": model.modes(), "examples the model ran on": model.examples_seen()}


@suite.compare("calc_accuracy_loader: correct predictions / examples, in eval() mode",
               lesson="#counting-examples-not-batches", atol=1e-9, rtol=0)
def check_accuracy_all(impl):
    return {"7 messages in batches of 3": _accuracy(impl, 1, 7, 3),
            "10 messages in batches of 4, num_batches=None": _accuracy(impl, 2, 10, 4, num_batches=None),
            "9 messages in batches of 2": _accuracy(impl, 3, 9, 2)}


@suite.compare("calc_accuracy_loader uses only the first num_batches batches", lesson="#counting-examples-not-batches",
               atol=1e-9, rtol=0)
def check_accuracy_num_batches(impl):
    return {"4 batches, num_batches=2": _accuracy(impl, 4, 8, 2, num_batches=2),
            "5 batches, num_batches=1": _accuracy(impl, 5, 13, 3, num_batches=1),
            "3 batches, num_batches=10": _accuracy(impl, 6, 7, 3, num_batches=10)}


@suite.check("calc_accuracy_loader returns a Python float", lesson="#loss-and-accuracy")
def check_accuracy_float(learner):
    model = StandInClassifier(7)
    got = learner.calc_accuracy_loader(_loader(70, 6, 3), model, "cpu")
    if type(got) is not float:
        raise CheckFailed(f"calc_accuracy_loader should return a Python float, got {type(got).__name__}: {got!r}. "
                          "Use .item() on the count of correct predictions.")
    if not 0.0 <= got <= 1.0:
        raise CheckFailed(f"An accuracy is a fraction between 0 and 1, got {got!r}.")


# -- classify_text ---------------------------------------------------------------------------------------
CLASSIFY_CASES = [
    # (seed, text, keyword arguments)
    (21, "Congratulations, you won a free cruise! Reply YES to claim", {"max_length": 14}),
    (22, "see you soon", {"max_length": 9}),
    (23, "Your package could not be delivered: confirm your address at http://dlvr.example/x now please",
     {"max_length": 6}),
    (24, "call me when you land", {}),
    (25, "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
         "seventeen eighteen nineteen twenty", {}),
    (26, "lunch?", {"max_length": 5, "pad_token_id": 7}),
    (27, "URGENT! Your account is locked. Verify at www.bank-safe.example", {"max_length": 12}),
    (28, "did you feed the cat", {"max_length": 11}),
    # Short and unpadded: here the last position and the one before it disagree.
    (30, "call me", {}),
    (34, "on my way", {}),
    (39, "free prize", {}),
]


@suite.compare("classify_text: ids cut and padded like the training data, last position, eval() mode",
               lesson="#classifying-a-new-message", atol=0, rtol=0)
def check_classify(impl):
    results = []
    for seed, text, kwargs in CLASSIFY_CASES:
        model = StandInClassifier(seed).train()
        label = impl.classify_text(text, model, WordTokenizer(), "cpu", **kwargs)
        results.append({"label": label, "ids given to the model": [ids for _, ids in model.calls],
                        "the model ran in": model.modes()})
    return results
