"""Pretraining from a token file: corpora of any size, gradient accumulation to a global batch, and the data
side of DDP. `tutor run pretrain` comes here (`Settings.stream`) when the text is large, when `--stream`,
`--global-batch` or `--ddp` asks for it; small texts keep the learner's `create_dataloader_v1`.

The corpus is tokenized once into a cached token file (`tutor.data.corpus`), whose last 10% of tokens is the
validation part. An optimizer step takes `global_batch` training windows: the epoch's order is a permutation
of all windows drawn from (seed, epoch) alone, and the step's windows are cut into `batch_size` slices, slice
`j = k·world_size + rank` going to micro-batch `k` of process `rank`. Before each slice's forward pass the
random generator is seeded from (seed, step, j), so dropout draws the same masks for a window however the
slices are spread over processes: one process accumulating 2 micro-batches and two DDP processes with one each
take the same optimizer steps, and a run resumed with another world size (same global batch) continues the
same trajectory. Rank 0 evaluates, samples and saves checkpoints in the usual format.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from dataclasses import dataclass, replace
from typing import Any, Optional

from tutor.data.corpus import STREAM_THRESHOLD_BYTES, CorpusSource, open_corpus, token_file
from tutor.data.datasets import load_text
from tutor.runs import ddp
from tutor.runs.common import RunError, autocast
from tutor.runs.events import Emit, event
from tutor.runs.pretrain import Data, Settings, TrainingLoop


LOOP = ("tutor's own training loop (it adds progress, checkpoints, resume, gradient accumulation and DDP) in "
        "place of train_model_simple; windows come from the token file, and it calls GPTModel, calc_loss_batch, "
        "evaluate_model and generate from the assembled modules")


def choose_source(cfg, settings: Settings, saved: Optional[dict], download_progress=None):
    """The run's text and whether it streams from a token file; for a streaming run, its global batch.

    Streaming is on with `--stream`, `--global-batch` or `--ddp`, off with `--no-stream` (for a single small
    text), and otherwise what the resumed run did, or decided by size (over `STREAM_THRESHOLD_BYTES`).

    Raises:
        DataError: from the corpus (the caller turns it into a RunError).
        RunError: the global batch does not split into the processes' batches.
    """
    previous = (saved or {}).get("settings", {})
    stream = cfg.stream
    if cfg.ddp or cfg.global_batch is not None:
        if stream is False:
            raise RunError("--no-stream cannot go with --ddp or --global-batch: both read windows from the "
                           "token file.")
        stream = True
    if stream is None and previous:
        stream = bool(previous.get("stream")) or None
    source = open_corpus(settings.data, stream) or load_text(settings.data, progress=download_progress)
    if not isinstance(source, CorpusSource):
        return replace(settings, stream=False, global_batch=None), source
    per_step = settings.batch_size * ddp.world_size()
    global_batch = cfg.global_batch or previous.get("global_batch") or per_step
    if global_batch < 1 or global_batch % per_step:
        raise RunError(f"--global-batch {global_batch} must be a multiple of --batch-size ({settings.batch_size}) "
                       f"× processes ({ddp.world_size()}) = {per_step}: each step is the same number of "
                       f"micro-batches on every process.")
    return replace(settings, stream=True, global_batch=global_batch), source


@dataclass(frozen=True)
class WindowOrder:
    """Which training windows each optimizer step takes, on each process."""

    windows: Any  # tutor.data.corpus.TokenWindows over the training tokens
    global_batch: int
    batch_size: int
    seed: int

    @property
    def steps_per_epoch(self) -> int:
        return len(self.windows) // self.global_batch  # the last incomplete global batch is dropped

    def permutation(self, epoch: int):
        import torch

        g = torch.Generator().manual_seed(_seed_of("order", self.seed, epoch))
        n = len(self.windows)
        return torch.randperm(n, generator=g, dtype=torch.int32 if n < 2**31 else torch.int64)

    def slices(self, order, step_in_epoch: int, rank: int, world: int) -> list[tuple[int, Any]]:
        """(slice number j, window indices) of each micro-batch process `rank` runs for this step."""
        accum = self.global_batch // (self.batch_size * world)
        base = step_in_epoch * self.global_batch
        out = []
        for k in range(accum):
            j = k * world + rank
            out.append((j, order[base + j * self.batch_size: base + (j + 1) * self.batch_size].tolist()))
        return out


def _seed_of(*parts) -> int:
    """A 63-bit seed from the parts: different parts give unrelated seeds."""
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:8], "little") >> 1


def _spaced(n: int, count: int) -> list[int]:
    """`count` indices spread evenly over range(n): a fixed, representative sample of a long corpus."""
    count = min(n, count)
    return [i * n // count for i in range(count)]


def prepare_stream(settings: Settings, source: CorpusSource, emit: Emit) -> Data:
    """Tokenize the corpus (once; under DDP the first process on each machine does it while the others wait),
    split its tokens 90/10, seed, and describe the windows to train on and the samples to evaluate on."""
    import torch
    from torch.utils.data import DataLoader, Subset

    from tutor.data.corpus import TokenWindows

    progress = _TokenizeProgress(emit)
    if not ddp.is_local_main():
        ddp.barrier()
    tokens = token_file(source.files, progress=progress)
    if ddp.is_local_main():
        ddp.barrier()
    ids = tokens.tokens()
    split = int(settings.train_ratio * tokens.n_tokens)
    ctx, batch = settings.model["context_length"], settings.batch_size
    train, val = TokenWindows(ids[:split], ctx, ctx), TokenWindows(ids[split:], ctx, ctx)
    order = WindowOrder(train, settings.global_batch, batch, settings.seed)
    if order.steps_per_epoch == 0:
        raise RunError(f"The training part of the text ({split} tokens) is too short for one global batch of "
                       f"{settings.global_batch} windows of {ctx} tokens. Use a longer text or a smaller "
                       f"--global-batch / --batch-size.")
    if len(val) == 0:
        raise RunError(f"The validation part of the text (its last {1 - settings.train_ratio:.0%}) is shorter "
                       f"than one window of {ctx + 1} tokens, so there is no validation loss. Use a longer text.")
    mb = tokens.n_bytes / 2**20
    how = ("found in the cache" if tokens.reused else
           f"tokenized in {tokens.seconds:.1f} s ({mb / max(tokens.seconds, 1e-9):.1f} MB/s)")
    why = (f"it is over {STREAM_THRESHOLD_BYTES // 2**20} MiB" if source.n_bytes > STREAM_THRESHOLD_BYTES
           else "streaming was asked for (--stream, --global-batch or --ddp)")
    accum = settings.global_batch // (batch * ddp.world_size())
    emit(event("streaming", path=str(tokens.path), tokens=tokens.n_tokens, bytes=tokens.n_bytes,
               reused=tokens.reused, tokenize_s=tokens.seconds, global_batch=settings.global_batch,
               grad_accum=accum, world_size=ddp.world_size(),
               message=(f"The run streams windows from the token file {tokens.path} ({tokens.n_tokens:,} tokens, "
                        f"{how}) instead of your create_dataloader_v1, because {why}. Each step takes "
                        f"{settings.global_batch} windows: {accum} micro-batch(es) of {batch} on each of "
                        f"{ddp.world_size()} process(es).")))
    torch.manual_seed(settings.seed)  # the same seed gives the same initial weights
    eval_count = settings.eval_iter * batch
    train_eval = DataLoader(Subset(train, _spaced(len(train), eval_count)), batch_size=batch, shuffle=False)
    val_loader = DataLoader(Subset(val, _spaced(len(val), eval_count)), batch_size=batch, shuffle=False)
    total_steps = settings.epochs * order.steps_per_epoch
    if settings.max_steps is not None:
        total_steps = min(total_steps, settings.max_steps)
    return Data(train_eval, val_loader, order.steps_per_epoch, total_steps, tokens.n_tokens, tokens.key,
                stream=order, characters=tokens.n_chars)


class _TokenizeProgress:
    """`tokenize` events, at most every 0.2 s (and at the end)."""

    def __init__(self, emit: Emit):
        self.emit, self.last = emit, 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if now - self.last >= 0.2 or done >= total:
            self.last = now
            self.emit(event("tokenize", done_bytes=done, total_bytes=total))


@dataclass
class StreamingLoop(TrainingLoop):
    """The pretraining loop on a `WindowOrder`: each step accumulates this process's micro-batches, DDP
    averages the gradients over processes, and rank 0 alone evaluates, samples and saves."""

    ddp_model: Any = None  # the DistributedDataParallel wrapper, or None in a single process

    def batches(self):
        """The rest of the current epoch's steps, each as (inputs, targets): lists of micro-batches (with the
        slice number of each, for its dropout seed), starting at `state.step` without reading skipped windows."""
        order, rank, world = self.data.stream, ddp.rank(), ddp.world_size()
        epoch, skip = divmod(self.state.step, self.data.steps_per_epoch)
        perm = order.permutation(epoch)
        for i in range(skip, self.data.steps_per_epoch):
            micro = [(j, order.windows.batch(idx)) for j, idx in order.slices(perm, i, rank, world)]
            yield [(j, x) for j, (x, _) in micro], [y for _, (_, y) in micro]

    def backward(self, inputs, targets):
        import torch

        model = self.ddp_model or self.train_model
        total = torch.zeros((), device=self.device)
        for k, ((j, x), y) in enumerate(zip(inputs, targets)):
            torch.manual_seed(_seed_of("dropout", self.settings.seed, self.state.step, j))
            last = k == len(inputs) - 1
            no_sync = self.ddp_model.no_sync() if self.ddp_model is not None and not last else contextlib.nullcontext()
            with no_sync:  # gradients are averaged over processes once, at the step's last backward
                with autocast(self.device):
                    loss = self.pieces.calc_loss_batch(x, y, model, self.device)
                (loss / len(inputs)).backward()
            total += loss.detach()
        return ddp.mean_over_ranks(total / len(inputs))

    def batch_tokens(self, inputs) -> int:
        return sum(x.numel() for _, x in inputs) * ddp.world_size()

    def stop_requested(self, stop) -> bool:
        return ddp.any_rank(stop.is_set(), self.device)

    def evaluate(self) -> None:
        if ddp.is_main():
            super().evaluate()

    def sample(self) -> None:
        if ddp.is_main():
            super().sample()

    def save(self, reason: str) -> None:
        if ddp.is_main():
            super().save(reason)
        else:
            self.saved_at = self.state.step
