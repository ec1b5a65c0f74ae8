"""OpenAI's GPT-2 checkpoints as files: the four sizes, and what a valid `model.safetensors` of each holds.

`check_header(path, "gpt2-small")` reads only the safetensors header (8 bytes of length, then JSON) and
raises `HeaderError` unless every tensor of that size is there with its shape and dtype, nothing unknown
is, and the data section is complete. It runs before a downloaded or imported file is accepted, so a
truncated file, another model, or another size never reaches the loader. Standard library only: no torch
(the downloader and `tutor download` use it), no UI.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

VOCAB_SIZE = 50257
CONTEXT_LENGTH = 1024

# name: (emb_dim, n_layers, n_heads), from OpenAI's release (124M, 355M, 774M, 1558M).
SIZES: dict[str, tuple[int, int, int]] = {
    "gpt2-small": (768, 12, 12),
    "gpt2-medium": (1024, 24, 16),
    "gpt2-large": (1280, 36, 20),
    "gpt2-xl": (1600, 48, 25),
}

# Buffers the Hugging Face files may also hold (the causal mask, a constant): allowed, never loaded.
_BUFFER = re.compile(r"^h\.(\d+)\.attn\.(bias|masked_bias)$")
_MAX_HEADER = 100 << 20  # a GPT-2 header is tens of kilobytes; anything near this is not one


class HeaderError(ValueError):
    """The file is not a complete GPT-2 safetensors file of the expected size; the message says why."""


def model_config(name: str, drop_rate: float = 0.1) -> dict:
    """The `cfg` dict for GPTModel with the sizes of checkpoint `name` (context 1024, qkv_bias True)."""
    emb, layers, heads = SIZES[name]
    return {"vocab_size": VOCAB_SIZE, "context_length": CONTEXT_LENGTH, "emb_dim": emb, "n_heads": heads,
            "n_layers": layers, "drop_rate": drop_rate, "qkv_bias": True}


def expected_shapes(emb: int, n_layers: int, vocab: int = VOCAB_SIZE, context: int = CONTEXT_LENGTH) -> dict:
    """Every parameter tensor of a GPT-2 checkpoint in the Hugging Face layout, by name: its shape."""
    shapes = {"wte.weight": [vocab, emb], "wpe.weight": [context, emb], "ln_f.weight": [emb], "ln_f.bias": [emb]}
    for i in range(n_layers):
        h = f"h.{i}."
        shapes.update({
            h + "ln_1.weight": [emb], h + "ln_1.bias": [emb], h + "ln_2.weight": [emb], h + "ln_2.bias": [emb],
            h + "attn.c_attn.weight": [emb, 3 * emb], h + "attn.c_attn.bias": [3 * emb],
            h + "attn.c_proj.weight": [emb, emb], h + "attn.c_proj.bias": [emb],
            h + "mlp.c_fc.weight": [emb, 4 * emb], h + "mlp.c_fc.bias": [4 * emb],
            h + "mlp.c_proj.weight": [4 * emb, emb], h + "mlp.c_proj.bias": [emb],
        })
    return shapes


def read_header(path: Path | str) -> tuple[dict, int]:
    """The safetensors header of `path` (name → {dtype, shape, data_offsets}) and where the data starts."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise HeaderError(f"{path.name} is too short to be a safetensors file ({len(head)} bytes).")
        (n,) = struct.unpack("<Q", head)
        if n > _MAX_HEADER:
            raise HeaderError(f"{path.name} is not a safetensors file (header length {n:,} bytes).")
        raw = f.read(n)
    if len(raw) < n:
        raise HeaderError(f"{path.name} ends inside its header: it is truncated.")
    try:
        header = json.loads(raw)
    except ValueError:
        raise HeaderError(f"{path.name} is not a safetensors file (its header is not JSON).") from None
    if not isinstance(header, dict):
        raise HeaderError(f"{path.name} is not a safetensors file (its header is not a JSON object).")
    header.pop("__metadata__", None)
    return header, 8 + n


def check_header(path: Path | str, name: str) -> None:
    """Raise HeaderError unless `path` is a complete fp32 GPT-2 `name` checkpoint in the Hugging Face layout."""
    path = Path(path)
    emb, layers, _ = SIZES[name]
    header, data_start = read_header(path)
    want = expected_shapes(emb, layers, VOCAB_SIZE, CONTEXT_LENGTH)
    missing = [k for k in want if k not in header]
    if missing:
        raise HeaderError(f"{path.name} is not a {name} checkpoint: it lacks {', '.join(missing[:3])}"
                          f"{' …' if len(missing) > 3 else ''} ({len(missing)} tensors missing).")
    for key, info in header.items():
        if key in want:
            if list(info.get("shape", [])) != want[key]:
                raise HeaderError(f"{path.name} is not a {name} checkpoint: {key} has shape {info.get('shape')}, "
                                  f"expected {want[key]}.")
            if info.get("dtype") != "F32":
                raise HeaderError(f"{path.name}: {key} is {info.get('dtype')}, expected F32 (float32).")
            continue
        m = _BUFFER.match(key)
        if not m or int(m.group(1)) >= layers:
            raise HeaderError(f"{path.name} is not a {name} checkpoint: unexpected tensor {key}.")
    end = max((int(info["data_offsets"][1]) for info in header.values()), default=0)
    size = path.stat().st_size
    if size != data_start + end:
        raise HeaderError(f"{path.name} has {size:,} bytes but its header describes {data_start + end:,}: "
                          f"the file is {'truncated' if size < data_start + end else 'longer than it should be'}.")
