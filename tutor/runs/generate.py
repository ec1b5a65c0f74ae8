"""`tutor run generate`: continue a prompt with a trained checkpoint or OpenAI's GPT-2, using the learner's
KV cache and `generate`.

The model is the learner's assembled `GPTModel` with the checkpoint's parameters, or with GPT-2's loaded by
the learner's `load_weights_into_gpt` (`tutor.runs.models`; a sanity perplexity is checked first, and on
Apple's MPS the logits are compared with the CPU's). By default those parameters then go into the learner's
cached `GPTModel` of the kv_cache exercise (the same parameter names; the reference's while kv_cache does not
pass, which `filled_in` says); `use_cache=False` (`--no-cache`) decodes with the plain model instead, for
comparison.

Decoding is the learner's `generate` (temperature, top-k, end-of-text stop), called one token at a time so
each token can be shown as soon as it exists (`token` events). The learner's `generate_text_simple_cached`
is greedy and returns all tokens at the end, so it cannot serve sampling or streaming; instead `generate`
is handed a `CachedForward`, which looks like the model to it: given the window, it feeds the cached model
only the tokens it has not seen yet (`forward(new, use_cache=True)`), and when the window has slid past the
context length (or anything else changed) it resets the cache and re-fills it from the window, as the
exercise's generator does. Greedy decoding thus gives the uncached tokens. Nothing here prints or imports a
UI.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from tutor.runs import checkpoint as ckpt
from tutor.runs import models
from tutor.runs.common import RunError, autocast, import_piece, prepare_assembly, resolve_device
from tutor.runs.events import Emit, event

END_OF_TEXT = 50256
PRETRAINED = models.PRETRAINED


@dataclass(frozen=True)
class GenerateConfig:
    prompt: str
    weights: Optional[str] = None  # gpt2-small|…|gpt2-xl, a checkpoint file or run folder, a GPT-2 .safetensors;
    # None: the workspace's latest run
    max_new_tokens: int = 50
    temperature: float = 0.8
    top_k: Optional[int] = 40  # None or 0: no top-k filtering
    seed: Optional[int] = None
    device: str = "auto"
    workspace: Any = None
    use_reference: bool = False
    use_cache: bool = True  # False (--no-cache): the plain GPTModel re-reads the whole window every step


def latest_checkpoint(workspace) -> Optional[Path]:
    """The newest run's `checkpoint.pt` under the workspace's runs folder that holds a whole GPT (a classify
    run's does not: its head has two outputs), if any."""
    from tutor.runs.registry import model_checkpoints

    if workspace is None:
        return None
    found = model_checkpoints(workspace.runs_dir)
    return found[0] if found else None


def resolve_weights(cfg: GenerateConfig) -> Path | str:
    if cfg.weights in PRETRAINED:
        return cfg.weights
    if cfg.weights is not None and str(cfg.weights).endswith(".safetensors") and Path(cfg.weights).is_file():
        return Path(cfg.weights)
    if cfg.weights is None:
        found = latest_checkpoint(cfg.workspace)
        if found is None:
            raise RunError("No --weights given and no run in this workspace yet. Train one with "
                           "`tutor run pretrain`, or pass --weights PATH (a checkpoint.pt or its run folder).")
        return found
    try:
        return ckpt.checkpoint_file(cfg.weights)
    except ckpt.CheckpointError as e:
        raise RunError(f"--weights {cfg.weights}: {e} Pass a checkpoint.pt or the run folder holding it.") from None


class _Utf8Stream:
    """Turns token bytes into text as soon as it is whole: a character may be split across tokens."""

    def __init__(self):
        self.pending = b""

    def push(self, data: bytes) -> str:
        self.pending += data
        try:
            text, self.pending = self.pending.decode("utf-8"), b""
            return text
        except UnicodeDecodeError as e:
            if e.reason == "unexpected end of data":  # an incomplete character at the end: wait for more
                text, self.pending = self.pending[:e.start].decode("utf-8", "replace"), self.pending[e.start:]
                return text
            text, self.pending = self.pending.decode("utf-8", "replace"), b""
            return text

    def flush(self) -> str:
        text, self.pending = self.pending.decode("utf-8", "replace"), b""
        return text


class CachedForward:
    """Stands in for the model in the learner's `generate`: `self(window)` returns the logits of the window's
    new tokens only, (b, n_new, vocab), computed by the cached model; the last row is the next token's.

    The cache holds the tokens of the previous window. If the new window extends it, only the extra tokens are
    fed; otherwise (the first call, or the window slid once the context was full, so every position moved)
    the cache is reset and the whole window is fed again.
    """

    def __init__(self, model):
        self.model = model
        self.seen = None  # (b, n) the ids whose keys and values the cache holds

    def __call__(self, window):
        import torch

        n_seen = 0 if self.seen is None else self.seen.shape[1]
        if 0 < n_seen < window.shape[1] and torch.equal(window[:, :n_seen], self.seen):
            new = window[:, n_seen:]
        else:
            self.model.reset_kv_cache()
            new = window
        logits = self.model(new, use_cache=True)
        self.seen = window
        return logits

    def __getattr__(self, name):  # model.eval(), model.pos_emb, next(model.parameters()) … in a `generate`
        return getattr(self.model, name)


def device_warning(model, device: str) -> Optional[str]:
    """The MPS check (a seam: tests replace it to force the warning)."""
    return models.compare_devices(model, device) if device == "mps" else None


def generate_text(cfg: GenerateConfig, emit: Emit = lambda e: None, download_progress=None) -> str:
    """Continue `cfg.prompt`; emit start, one `token` event per piece of new text, then done. Returns the
    continuation (without the prompt)."""
    if cfg.max_new_tokens < 0:
        raise RunError("--max-new-tokens must be 0 or more.")
    if cfg.temperature < 0:
        raise RunError("--temperature must be 0 (greedy) or more.")
    if cfg.top_k is not None and cfg.top_k < 0:
        raise RunError("--top-k must be 0 (off) or more.")
    weights = resolve_weights(cfg)
    assembly, note = prepare_assembly(cfg.workspace, cfg.use_reference)
    import torch

    from tutor.data.bpe import gpt2_encoding

    tokenizer = gpt2_encoding()
    generate = import_piece(assembly, "decoding", "generate")
    text_to_token_ids = import_piece(assembly, "decoding", "text_to_token_ids")
    token_ids_to_text = import_piece(assembly, "decoding", "token_ids_to_text")
    device = resolve_device(cfg.device)

    loaded = models.load_model(str(weights), assembly, progress=download_progress)
    model, model_cfg = loaded.model, loaded.cfg
    loaded.saved = None
    notices = []
    sanity = None
    if loaded.kind == "gpt2":
        sanity = models.sanity_perplexity(model, tokenizer)
        ok, line = models.sanity_message(str(weights), sanity)
        if not ok and weights in PRETRAINED:  # OpenAI's real weights: say so instead of printing nonsense
            raise RunError(line)
        notices.append(line)
    model.to(device).eval()
    warning = device_warning(model, device)
    if warning:
        notices.append(warning)
    step_model = model
    if cfg.use_cache:
        CachedGPT = import_piece(assembly, "kv_cache", "GPTModel")
        model = models.cached_model(CachedGPT, model, model_cfg, assembly).to(device).eval()
        step_model = CachedForward(model)
    ctx = model_cfg["context_length"]
    vocab = model_cfg["vocab_size"]
    top_k = cfg.top_k or None
    if top_k is not None and top_k > vocab:
        top_k = vocab

    idx = text_to_token_ids(cfg.prompt, tokenizer) if cfg.prompt else torch.tensor([[END_OF_TEXT]])
    idx = idx.to(device)
    n_prompt = idx.shape[1]
    emit(event("start", run="generate", out=None, device=device, filled_in=list(assembly.filled_in),
               total_steps=cfg.max_new_tokens, learner=list(assembly.learner), assembly=note,
               weights=loaded.label, prompt=cfg.prompt, temperature=cfg.temperature, top_k=top_k,
               prompt_tokens=n_prompt, context_length=ctx, notices=notices, sanity_perplexity=sanity,
               cached=cfg.use_cache))
    if cfg.seed is not None:
        torch.manual_seed(cfg.seed)
    stream = _Utf8Stream()
    stopped_at_eos = False
    t0 = time.perf_counter()
    for _ in range(cfg.max_new_tokens):
        with torch.inference_mode(), autocast(device):
            new = generate(step_model, idx, max_new_tokens=1, context_size=ctx, temperature=cfg.temperature,
                           top_k=top_k, eos_id=END_OF_TEXT)
        if new.shape[1] == idx.shape[1]:  # generate stopped: the next token was <|endoftext|>
            stopped_at_eos = True
            break
        idx = new
        piece = stream.push(tokenizer.decode_single_token_bytes(int(idx[0, -1])))
        if piece:
            emit(event("token", text=piece))
    tail = stream.flush()
    if tail:
        emit(event("token", text=tail))
    elapsed = time.perf_counter() - t0
    n_new = idx.shape[1] - n_prompt
    continuation = token_ids_to_text(idx[:, n_prompt:].cpu(), tokenizer) if n_new else ""
    emit(event("done", out=None, checkpoint=loaded.label, metrics=None, text=continuation, prompt=cfg.prompt,
               tokens=n_new, tokens_per_s=n_new / elapsed if elapsed > 0 else None, seconds=elapsed,
               stopped_at_end_of_text=stopped_at_eos, cached=cfg.use_cache))
    return continuation
