"""Named model sizes for `tutor run pretrain --config`, with the training defaults that suit each; the devices
and GPT-2 weights a run accepts. No torch: the TUI reads these to offer exactly what the runs accept.

`gpt2-124M` is GPT-2 small's architecture with a 256-token context, the course's setting for training on The
Verdict; `tiny` and `small` are shrunk copies that train in minutes on a laptop CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field

GPT2_VOCAB = 50257
DEVICES = ("auto", "cpu", "cuda", "mps")  # `--device`; auto: cuda, then mps, then cpu
GPT2_WEIGHTS = ("gpt2-small", "gpt2-medium", "gpt2-large", "gpt2-xl")  # OpenAI's released sizes
CLASSIFY_TRAINABLE = ("last-block", "last-two-blocks", "all")  # `tutor run classify --trainable`
CLASSIFY_TOKENS = ("last", "first")  # `tutor run classify --token`: whose logits classify the message


def gpt2_weights_available() -> tuple[str, ...]:
    """The GPT-2 sizes `tutor run generate --weights` can use at once: those whose downloaded file is in the cache
    and verified (`tutor download gpt2-small` puts it there). The Playground offers exactly these. Reads only the
    cache's `.verified` markers: no torch, no hashing, no network."""
    from tutor.data.datasets import is_cached

    return tuple(name for name in GPT2_WEIGHTS if is_cached(name))


@dataclass(frozen=True)
class ModelPreset:
    name: str
    model: dict  # the `cfg` dict GPTModel takes
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    eval_freq: int  # evaluate (and checkpoint) every this many optimizer steps
    eval_iter: int  # batches per loss estimate at each evaluation
    note: str = field(default="", compare=False)


def _cfg(context_length: int, emb_dim: int, n_heads: int, n_layers: int, drop_rate: float = 0.1) -> dict:
    return {"vocab_size": GPT2_VOCAB, "context_length": context_length, "emb_dim": emb_dim, "n_heads": n_heads,
            "n_layers": n_layers, "drop_rate": drop_rate, "qkv_bias": False}


PRESETS: dict[str, ModelPreset] = {
    "tiny": ModelPreset("tiny", _cfg(64, 64, 4, 2), epochs=10, batch_size=8, lr=4e-3, weight_decay=0.1,
                        eval_freq=10, eval_iter=4,
                        note="2 layers, 64-dim embeddings, 64-token context: minutes on a CPU"),
    "small": ModelPreset("small", _cfg(128, 256, 4, 4), epochs=10, batch_size=8, lr=1e-3, weight_decay=0.1,
                         eval_freq=10, eval_iter=4,
                         note="4 layers, 256-dim embeddings, 128-token context"),
    "gpt2-124M": ModelPreset("gpt2-124M", _cfg(256, 768, 12, 12), epochs=10, batch_size=2, lr=4e-4,
                             weight_decay=0.1, eval_freq=5, eval_iter=5,
                             note="GPT-2 small (124M) with a 256-token context, as in the course's Verdict run"),
}


def preset(name: str) -> ModelPreset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown config {name!r}; choose one of: {', '.join(PRESETS)}") from None
