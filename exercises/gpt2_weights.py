"""Exercise 13: load OpenAI's GPT-2 weights into your GPTModel (lesson: lessons/13-gpt2-weights.md).

The checkpoint uses the Hugging Face GPT-2 names and OpenAI's `Conv1D` layout; your model uses the names of
this course and `nn.Linear`. Rename, transpose, split the fused attention projection, tie the head, and check
every shape.
"""

import torch


def load_weights_into_gpt(gpt, state_dict):
    """Copy a Hugging Face GPT-2 state dict into `gpt`, in place.

    Args:
        gpt: your GPTModel, built with qkv_bias=True and the checkpoint's sizes (vocab_size, context_length,
            emb_dim, n_layers). Its parameters are named as in the curriculum: tok_emb, pos_emb,
            trf_blocks.{i}.att.W_query / W_key / W_value / out_proj, trf_blocks.{i}.ff.layers.0 / layers.2,
            trf_blocks.{i}.norm1 / norm2 (scale, shift), final_norm, out_head.
        state_dict: name -> tensor, with E = emb_dim, V = vocab_size, C = context_length:
            wte.weight (V, E), wpe.weight (C, E), ln_f.weight (E,), ln_f.bias (E,), and for each block i:
            h.{i}.ln_1.weight / .bias (E,), h.{i}.ln_2.weight / .bias (E,),
            h.{i}.attn.c_attn.weight (E, 3E) and .bias (3E,): query, key, value side by side, in that order,
            h.{i}.attn.c_proj.weight (E, E) and .bias (E,),
            h.{i}.mlp.c_fc.weight (E, 4E) and .bias (4E,), h.{i}.mlp.c_proj.weight (4E, E) and .bias (E,).
            Conv1D weights are stored (in, out): the transpose of nn.Linear's (out, in).
            The dict may also hold h.{i}.attn.bias / h.{i}.attn.masked_bias buffers: ignore them.

    After loading, every parameter holds the checkpoint's values, and out_head.weight equals wte.weight
    (tied: the same Parameter as tok_emb.weight, or a copy of it). Block h.{i} goes into trf_blocks[i].
    Any tensor whose shape does not fit its place must raise an error (never broadcast silently).
    """
    raise NotImplementedError
