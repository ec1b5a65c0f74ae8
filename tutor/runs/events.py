"""The event contract between a run and whoever shows it (the CLI's rich display, `--events` JSON lines, the TUI).

A run reports through `emit(event_dict)`; each dict has an `"event"` key. The keys each event always carries
(⚑, the TUI depends on them; runs may add more):

    start       run, out, device, filled_in (exercise ids taken from the reference), total_steps
                (generate also: weights, notices: lines for the learner, sanity_perplexity or null, cached)
    progress    epoch, step, total_steps, tokens_seen, tokens_per_s, eta_s
    eval        step, train_loss, val_loss, tokens_seen
    sample      step, text
    checkpoint  path
    token       text                      (generate: one per new token, as it is produced)
    judged      index, score, status      (judge: one per entry; status scored|unparsable|failed)
    response    index, total, instruction, input, output, model_response  (instruct: one per test entry)
    done        out, checkpoint, metrics  (metrics: path of metrics.json; generate: text, tokens, seconds,
                tokens_per_s, cached: whether the KV cache was used; instruct: responses, the path of
                responses.json or null when stopped; chat, i.e. `instruct --model --instruction`:
                generate's events plus start instruction, input and done response)
    error       message
    tokenize    done_bytes, total_bytes   (pretrain: a large corpus is tokenized once, before `start`)
    streaming   message, path, tokens, global_batch, grad_accum, world_size  (pretrain: the windows come
                from the cached token file, not the learner's create_dataloader_v1)

Optional fields the TUI may show: pretrain's `start` has `schedule` (a sentence on --warmup/--min-lr/--clip,
or null) and its `eval` (instruct's too) has `lr`, the learning rate of the last step. With `--init`, pretrain's
step-0 `eval` also has `init_check`: val_loss, perplexity, ok, line (the numbers and what to expect) and
warning (one line, or null when ok) about the loaded weights (`tutor.runs.models.init_check`).

No torch and no UI here.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any, Callable, TextIO

Emit = Callable[[dict], None]


def event(kind: str, **fields: Any) -> dict:
    return {"event": kind, **fields}


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: they become null (an empty validation set gives a NaN loss)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class JsonLines:
    """`emit` that writes one JSON object per line (and nothing else) to a stream, flushed at once."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream

    def __call__(self, ev: dict) -> None:
        stream = self.stream or sys.stdout
        stream.write(json.dumps(_clean(ev), ensure_ascii=False, default=str) + "\n")
        stream.flush()


class Recorder:
    """`emit` that keeps every event (tests, and callers that want the events after the fact)."""

    def __init__(self, forward: Emit | None = None):
        self.events: list[dict] = []
        self.forward = forward

    def __call__(self, ev: dict) -> None:
        self.events.append(ev)
        if self.forward:
            self.forward(ev)

    def of(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["event"] == kind]
