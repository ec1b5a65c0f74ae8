"""Our GPT in the formats the field's tools read: Hugging Face (`hf`) and GGUF (`gguf`), and back (DESIGN §7).

`hf` maps our parameter names (DESIGN §4) to `transformers`' GPT-2 layout and back; `gguf_file` writes the
same weights for llama.cpp and Ollama with the `gguf` package. Both work on a checkpoint's parameter dict
and `model_cfg`, so no learner code runs during an export. torch is imported inside the functions.
"""
