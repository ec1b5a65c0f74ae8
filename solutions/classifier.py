"""Reference solution for the `classifier` exercise: a GPT turned into a two-way spam classifier.

`SpamDataset` reads a CSV of labelled messages and pads every message to one length with the
end-of-text id. `prepare_for_classification` swaps the 50,257-way output head for a small one and
chooses which parameters train. `calc_loss_batch` and `calc_accuracy_loader` score the model on the
last position's logits only, and `classify_text` labels one message.
"""

import csv

import torch
import torch.nn as nn
from torch.utils.data import Dataset


class SpamDataset(Dataset):
    """Messages from a CSV file (columns `Label`, `Text`), encoded and padded to `max_length` ids."""

    def __init__(self, csv_file, tokenizer, max_length=None, pad_token_id=50256):
        with open(csv_file, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        self.labels = [int(row["Label"]) for row in rows]  # 0 = not spam, 1 = spam
        self.encoded_texts = [tokenizer.encode(row["Text"]) for row in rows]
        if max_length is None:
            self.max_length = max(len(ids) for ids in self.encoded_texts)
        else:
            self.max_length = max_length
            # Keep the beginning of a long message: that is where its point usually is.
            self.encoded_texts = [ids[:max_length] for ids in self.encoded_texts]
        # Pad on the right with the end-of-text id, so every message has max_length ids.
        self.encoded_texts = [ids + [pad_token_id] * (self.max_length - len(ids))
                              for ids in self.encoded_texts]

    def __getitem__(self, index):
        return (torch.tensor(self.encoded_texts[index], dtype=torch.long),  # (max_length,)
                torch.tensor(self.labels[index], dtype=torch.long))  # ()

    def __len__(self):
        return len(self.labels)


def prepare_for_classification(model, num_classes=2):
    """Give `model` a `num_classes`-way head; train only the last block, `final_norm` and the head."""
    for param in model.parameters():
        param.requires_grad = False
    # A fresh head: emb_dim -> num_classes, with a bias. New parameters train by default.
    model.out_head = nn.Linear(model.out_head.in_features, num_classes)
    # The last block and the final norm shape what the head reads: let them adapt too.
    for param in model.trf_blocks[-1].parameters():
        param.requires_grad = True
    for param in model.final_norm.parameters():
        param.requires_grad = True
    return model


def calc_loss_batch(input_batch, target_batch, model, device):
    """Cross-entropy of the last position's logits against the class labels, averaged over the batch."""
    input_batch = input_batch.to(device)  # (b, num_tokens)
    target_batch = target_batch.to(device)  # (b,)
    # Causal attention: only the last position has seen the whole message.
    logits = model(input_batch)[:, -1, :]  # (b, num_classes)
    loss = torch.nn.functional.cross_entropy(logits, target_batch)
    return loss


def calc_accuracy_loader(data_loader, model, device, num_batches=None):
    """Fraction of examples, over the first `num_batches` batches, whose predicted class is right."""
    model.eval()  # dropout off: the score must not depend on chance
    correct_predictions, num_examples = 0, 0
    if num_batches is None:
        num_batches = len(data_loader)
    else:
        num_batches = min(num_batches, len(data_loader))
    for i, (input_batch, target_batch) in enumerate(data_loader):
        if i >= num_batches:
            break
        input_batch = input_batch.to(device)
        target_batch = target_batch.to(device)
        with torch.no_grad():
            logits = model(input_batch)[:, -1, :]  # (b, num_classes)
        predicted_labels = torch.argmax(logits, dim=-1)  # (b,)
        # Count examples, not batches: a short last batch must weigh less.
        num_examples += predicted_labels.shape[0]
        correct_predictions += (predicted_labels == target_batch).sum().item()
    return correct_predictions / num_examples


def classify_text(text, model, tokenizer, device, max_length=None, pad_token_id=50256):
    """"spam" or "not spam" for one message, prepared exactly as the training data was."""
    model.eval()  # dropout off: the answer must not depend on chance
    input_ids = tokenizer.encode(text)
    context_length = model.pos_emb.weight.shape[0]
    # Never more ids than the model has positions, nor more than training used.
    input_ids = input_ids[:max_length if max_length is not None else context_length]
    if max_length is not None:
        # Trained on messages padded to max_length, so pad this one the same way.
        input_ids = input_ids + [pad_token_id] * (max_length - len(input_ids))
    input_tensor = torch.tensor(input_ids, device=device).unsqueeze(0)  # (1, num_tokens)
    with torch.no_grad():
        logits = model(input_tensor)[:, -1, :]  # (1, num_classes)
    predicted_label = torch.argmax(logits, dim=-1).item()
    return "spam" if predicted_label == 1 else "not spam"
