"""Reference solution for the `gpt2_weights` exercise: OpenAI's GPT-2 weights in our own GPTModel.

OpenAI's checkpoint (here in the Hugging Face layout, `wte.weight`, `h.0.attn.c_attn.weight`, …) holds the
same numbers our model needs, under other names and in two other shapes: its linear layers are `Conv1D`s,
which store the weight as (in, out), the transpose of `nn.Linear`'s (out, in); and one fused `c_attn` holds
query, key and value side by side. `load_weights_into_gpt` renames, transposes and splits, and checks every
shape on the way, so a checkpoint that does not fit fails loudly instead of loading garbage.
"""

import torch


def assign(left, right, name):
    """`right` as a new Parameter for the place of `left`, after checking that the shapes agree.

    Args:
        left: the model's current parameter (only its shape and dtype are used).
        right: the tensor from the checkpoint.
        name: the checkpoint name, for the error message.
    """
    if left.shape != right.shape:
        raise ValueError(f"{name}: shape mismatch, the model has {tuple(left.shape)}, "
                         f"the checkpoint {tuple(right.shape)}.")
    # A copy, so the model never shares memory with the state dict the caller may reuse or change.
    return torch.nn.Parameter(right.clone().to(left.dtype))


def load_weights_into_gpt(gpt, state_dict):
    """Copy a Hugging Face GPT-2 state dict into `gpt` (a GPTModel built with GPT-2's config).

    Args:
        gpt: GPTModel with qkv_bias=True and the sizes of the checkpoint.
        state_dict: name → tensor in the Hugging Face GPT-2 layout (`h.{i}.attn.bias` buffers are ignored).

    Raises:
        ValueError: a tensor's shape does not fit the model.
    """
    sd = state_dict
    gpt.pos_emb.weight = assign(gpt.pos_emb.weight, sd["wpe.weight"], "wpe.weight")
    gpt.tok_emb.weight = assign(gpt.tok_emb.weight, sd["wte.weight"], "wte.weight")

    for b, block in enumerate(gpt.trf_blocks):
        h = f"h.{b}."  # checkpoint block b goes into our block b
        att, ff = block.att, block.ff

        # Conv1D stores (in, out) = (emb, 3·emb): query, key and value are side by side along the last dim.
        q_w, k_w, v_w = torch.chunk(sd[h + "attn.c_attn.weight"], 3, dim=-1)
        att.W_query.weight = assign(att.W_query.weight, q_w.T, f"{h}attn.c_attn.weight (query)")
        att.W_key.weight = assign(att.W_key.weight, k_w.T, f"{h}attn.c_attn.weight (key)")
        att.W_value.weight = assign(att.W_value.weight, v_w.T, f"{h}attn.c_attn.weight (value)")
        q_b, k_b, v_b = torch.chunk(sd[h + "attn.c_attn.bias"], 3, dim=-1)
        att.W_query.bias = assign(att.W_query.bias, q_b, f"{h}attn.c_attn.bias (query)")
        att.W_key.bias = assign(att.W_key.bias, k_b, f"{h}attn.c_attn.bias (key)")
        att.W_value.bias = assign(att.W_value.bias, v_b, f"{h}attn.c_attn.bias (value)")

        att.out_proj.weight = assign(att.out_proj.weight, sd[h + "attn.c_proj.weight"].T,
                                     f"{h}attn.c_proj.weight")
        att.out_proj.bias = assign(att.out_proj.bias, sd[h + "attn.c_proj.bias"], f"{h}attn.c_proj.bias")

        ff.layers[0].weight = assign(ff.layers[0].weight, sd[h + "mlp.c_fc.weight"].T, f"{h}mlp.c_fc.weight")
        ff.layers[0].bias = assign(ff.layers[0].bias, sd[h + "mlp.c_fc.bias"], f"{h}mlp.c_fc.bias")
        ff.layers[2].weight = assign(ff.layers[2].weight, sd[h + "mlp.c_proj.weight"].T,
                                     f"{h}mlp.c_proj.weight")
        ff.layers[2].bias = assign(ff.layers[2].bias, sd[h + "mlp.c_proj.bias"], f"{h}mlp.c_proj.bias")

        # Hugging Face names LayerNorm's parameters weight and bias; ours are scale and shift.
        block.norm1.scale = assign(block.norm1.scale, sd[h + "ln_1.weight"], f"{h}ln_1.weight")
        block.norm1.shift = assign(block.norm1.shift, sd[h + "ln_1.bias"], f"{h}ln_1.bias")
        block.norm2.scale = assign(block.norm2.scale, sd[h + "ln_2.weight"], f"{h}ln_2.weight")
        block.norm2.shift = assign(block.norm2.shift, sd[h + "ln_2.bias"], f"{h}ln_2.bias")

    gpt.final_norm.scale = assign(gpt.final_norm.scale, sd["ln_f.weight"], "ln_f.weight")
    gpt.final_norm.shift = assign(gpt.final_norm.shift, sd["ln_f.bias"], "ln_f.bias")
    # GPT-2 has no separate output matrix: the head reuses the token embeddings (weight tying).
    gpt.out_head.weight = assign(gpt.out_head.weight, sd["wte.weight"], "wte.weight (output head)")
