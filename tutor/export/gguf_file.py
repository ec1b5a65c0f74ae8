"""Our GPT as a GGUF file for llama.cpp and Ollama (GPT-2 architecture), written with the `gguf` package.

The tensor names are the `gguf` package's own for `MODEL_ARCH.GPT2` (`token_embd`, `blk.N.attn_qkv`, …),
the ones llama.cpp's GPT-2 loader asks for. llama.cpp multiplies by weights stored like `nn.Linear`'s,
`(out, in)`, so ours go in as they are (Hugging Face's Conv1D weights would need a transpose), with the
three attention projections stacked into one `attn_qkv`. llama.cpp's GPT-2 requires a qkv bias: a model
trained with `qkv_bias=False` gets zeros. An untied head is written as `output`; a tied one is left out, and
llama.cpp reuses `token_embd`. The tokenizer is GPT-2's byte-level BPE, from the same offline files.

Precision: `f32`, `f16` (matrices in half precision; norms, biases and position embeddings stay f32, as
llama.cpp's own converter does) or `q8_0` (matrices quantized in blocks of 32 by `gguf.quants`; a matrix
whose rows are not a multiple of 32 stays f16).
"""

from __future__ import annotations

import json
from pathlib import Path

from tutor.export.hf import GPT2_VOCAB, LAYER_NORM_EPS, ExportError, bpe_files, check_params, is_tied

DTYPES = ("f32", "f16", "q8_0")
ARCH = "gpt2"


def _names():
    import gguf

    names = gguf.TENSOR_NAMES
    T = gguf.MODEL_TENSOR
    return {key: names[t] for key, t in {
        "tok": T.TOKEN_EMBD, "pos": T.POS_EMBD, "norm": T.OUTPUT_NORM, "out": T.OUTPUT, "attn_norm": T.ATTN_NORM,
        "qkv": T.ATTN_QKV, "attn_out": T.ATTN_OUT, "ffn_norm": T.FFN_NORM, "up": T.FFN_UP, "down": T.FFN_DOWN,
    }.items()}


def gguf_tensors(params: dict, cfg: dict) -> dict:
    """The GGUF tensors (float32 numpy arrays in torch's layout) by their llama.cpp GPT-2 names."""
    import torch

    cfg = check_params(params, cfg)
    n = _names()

    def get(name):
        if name not in params:
            raise ExportError(f"The checkpoint has no parameter {name}.")
        return params[name].detach().to("cpu", torch.float32)

    t = {f"{n['tok']}.weight": get("tok_emb.weight"), f"{n['pos']}.weight": get("pos_emb.weight"),
         f"{n['norm']}.weight": get("final_norm.scale"), f"{n['norm']}.bias": get("final_norm.shift")}
    if not is_tied(params):
        t[f"{n['out']}.weight"] = get("out_head.weight")
    for i in range(cfg["n_layers"]):
        p = f"trf_blocks.{i}."

        def blk(key):
            return n[key].format(bid=i)

        t[f"{blk('attn_norm')}.weight"] = get(p + "norm1.scale")
        t[f"{blk('attn_norm')}.bias"] = get(p + "norm1.shift")
        t[f"{blk('qkv')}.weight"] = torch.cat([get(f"{p}att.{w}.weight") for w in ("W_query", "W_key", "W_value")])
        t[f"{blk('qkv')}.bias"] = (torch.cat([get(f"{p}att.{w}.bias") for w in ("W_query", "W_key", "W_value")])
                                   if cfg["qkv_bias"] else torch.zeros(3 * cfg["emb_dim"]))
        t[f"{blk('attn_out')}.weight"] = get(p + "att.out_proj.weight")
        t[f"{blk('attn_out')}.bias"] = get(p + "att.out_proj.bias")
        t[f"{blk('ffn_norm')}.weight"] = get(p + "norm2.scale")
        t[f"{blk('ffn_norm')}.bias"] = get(p + "norm2.shift")
        t[f"{blk('up')}.weight"] = get(p + "ff.layers.0.weight")
        t[f"{blk('up')}.bias"] = get(p + "ff.layers.0.bias")
        t[f"{blk('down')}.weight"] = get(p + "ff.layers.2.weight")
        t[f"{blk('down')}.bias"] = get(p + "ff.layers.2.bias")
    return {k: v.contiguous().numpy() for k, v in t.items()}


def stored_type(name: str, array, dtype: str):
    """The GGML type a tensor is stored in, for the file's precision `dtype`."""
    import gguf

    Q = gguf.GGMLQuantizationType
    if dtype == "f32" or array.ndim < 2 or name.startswith(_names()["pos"] + "."):
        return Q.F32
    if dtype == "q8_0" and array.shape[-1] % gguf.GGML_QUANT_SIZES[Q.Q8_0][0] == 0:
        return Q.Q8_0
    return Q.F16


def tokenizer_vocab() -> tuple[list[str], list[int], list[str]]:
    """GPT-2's tokens (in id order), their GGUF token types, and the BPE merges."""
    import gguf

    encoder, merges_file = bpe_files()
    by_id = {i: tok for tok, i in json.loads(encoder.read_text(encoding="utf-8")).items()}
    tokens = [by_id[i] for i in range(len(by_id))]
    types = [int(gguf.TokenType.CONTROL if tok == "<|endoftext|>" else gguf.TokenType.NORMAL) for tok in tokens]
    lines = merges_file.read_text(encoding="utf-8").splitlines()
    merges = [line for line in lines if line and not line.startswith("#version")]
    return tokens, types, merges


def export_gguf(params: dict, cfg: dict, out: Path, dtype: str = "f16", name: str = "tutor-gpt") -> Path:
    """Write one GGUF file at `out` (its folder is created). Returns the path."""
    import gguf
    import numpy as np

    if dtype not in DTYPES:
        raise ExportError(f"--dtype {dtype}: choose one of {', '.join(DTYPES)}.")
    tensors = gguf_tensors(params, cfg)
    tokens, types, merges = tokenizer_vocab()
    for i in range(len(tokens), cfg["vocab_size"]):  # rows beyond GPT-2's tokenizer: never produced by it
        tokens.append(f"[PAD{i}]")
        types.append(int(gguf.TokenType.UNUSED))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(out), ARCH)
    writer.add_name(name)
    writer.add_context_length(cfg["context_length"])
    writer.add_embedding_length(cfg["emb_dim"])
    writer.add_feed_forward_length(4 * cfg["emb_dim"])
    writer.add_block_count(cfg["n_layers"])
    writer.add_head_count(cfg["n_heads"])
    writer.add_layer_norm_eps(LAYER_NORM_EPS)
    writer.add_file_type({"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                          "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[dtype])
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(GPT2_VOCAB - 1)
    writer.add_eos_token_id(GPT2_VOCAB - 1)
    writer.add_add_bos_token(False)
    Q = gguf.GGMLQuantizationType
    for tname, array in tensors.items():
        kind = stored_type(tname, array, dtype)
        if kind == Q.F32:
            writer.add_tensor(tname, array.astype(np.float32))
        elif kind == Q.F16:
            writer.add_tensor(tname, array.astype(np.float16))
        else:
            writer.add_tensor(tname, gguf.quants.quantize(array, kind), raw_dtype=kind)
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    return out


ALPACA_SYSTEM = ("Below is an instruction that describes a task. Write a response that appropriately completes "
                 "the request.")


def modelfile(gguf_name: str, alpaca: bool, context_length: int) -> str:
    """An Ollama Modelfile for the GGUF beside it: the Alpaca prompt of the instruction exercises (DESIGN §4,
    `format_input`) for an instruction-tuned model, the raw prompt otherwise."""
    lines = [f"FROM ./{gguf_name}", f"PARAMETER num_ctx {context_length}", 'PARAMETER stop "<|endoftext|>"']
    if alpaca:
        lines += [f'SYSTEM """{ALPACA_SYSTEM}"""',
                  'TEMPLATE """{{ if .System }}{{ .System }}\n\n{{ end }}### Instruction:\n{{ .Prompt }}\n\n'
                  '### Response:\n"""',
                  'PARAMETER stop "### Instruction:"']
    else:
        lines.append('TEMPLATE """{{ .Prompt }}"""')
    return "\n".join(lines) + "\n"
