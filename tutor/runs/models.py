"""One place that turns `gpt2-small|gpt2-medium|gpt2-large|gpt2-xl|CHECKPOINT|scratch` into a loaded model.

Every run that starts from weights (`generate --weights`, `pretrain --init`, later `classify` and `instruct`)
calls `load_model`. The model is always the learner's assembled `GPTModel`; OpenAI's weights go in through
the learner's own `load_weights_into_gpt` (the reference's while that exercise does not pass, which the
run's assembly note already says). Loading is frugal: the model is built without running its
initializers (untouched pages cost no memory) and the safetensors file is read one tensor at a time with
plain file reads, so the peak is about the model's own size. Also here: the sanity perplexity of a short
English paragraph, what the validation loss of freshly loaded weights says (`init_check`), and the
MPS-versus-CPU probe. torch is imported inside functions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

from tutor.data import gpt2_files
from tutor.runs.common import RunError, import_piece

PRETRAINED = tuple(gpt2_files.SIZES)

# Written for tutor: plain, common English, so any real GPT-2 finds it unsurprising.
SANITY_TEXT = (
    "The old lighthouse stood at the end of the harbour wall. Every evening the keeper climbed the stairs, "
    "lit the lamp and watched the fishing boats come home. In the morning he wrote the weather in a small "
    "book and walked into the village to buy bread."
)
# Real GPT-2 scores plain English in the low tens; random or scrambled weights score in the thousands.
SANITY_LIMIT = 150.0
# On the learner's own text (`pretrain --init`): tens for English, a few hundred for unusual text, thousands
# and up (an untrained model: the vocabulary size, 50,257) when the weights are in the wrong places.
INIT_PERPLEXITY_LIMIT = 1000.0

_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64", "I64": "int64",
           "I32": "int32", "U8": "uint8", "BOOL": "bool"}


class SafetensorsStateDict(Mapping):
    """A read-only state dict backed by a safetensors file: each lookup reads that one tensor from disk.

    Nothing is memory-mapped, so pages of the file never count towards the process's memory; a tensor the
    loader has finished with is freed as soon as it lets go of it.
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._header, self._data_start = gpt2_files.read_header(self.path)

    def __getitem__(self, key: str):
        import torch

        info = self._header[key]  # KeyError for an unknown name, as a dict would
        start, end = (int(x) for x in info["data_offsets"])
        tensor = torch.empty(info["shape"], dtype=getattr(torch, _DTYPES[info["dtype"]]))
        raw = tensor.reshape(-1).view(torch.uint8).numpy()
        if raw.nbytes != end - start:
            raise ValueError(f"{self.path.name}: {key} has {end - start} bytes for shape {info['shape']}")
        with open(self.path, "rb") as f:
            f.seek(self._data_start + start)
            if f.readinto(memoryview(raw)) != raw.nbytes:
                raise ValueError(f"{self.path.name} is truncated inside {key}")
        return tensor

    def __iter__(self) -> Iterator[str]:
        return iter(self._header)

    def __len__(self) -> int:
        return len(self._header)

    def shape(self, key: str) -> list[int]:
        return list(self._header[key]["shape"])


def config_from_state_dict(sd: SafetensorsStateDict, drop_rate: float = 0.1) -> dict:
    """GPTModel's cfg for a Hugging Face GPT-2 file of any size, read from its tensor shapes (and the number
    of heads from a config.json beside it, or the GPT-2 size with these shapes)."""
    try:
        vocab, emb = sd.shape("wte.weight")
        context = sd.shape("wpe.weight")[0]
    except KeyError:
        raise RunError(f"{sd.path} has no wte.weight / wpe.weight: it is not a GPT-2 checkpoint in the "
                       "Hugging Face layout.") from None
    layers = len({k.split(".")[1] for k in sd if k.startswith("h.")})
    # The head count changes no shape: take it from a Hugging Face config.json beside the file, else from
    # the GPT-2 size with these shapes.
    heads = next((h for e, n, h in gpt2_files.SIZES.values() if (e, n) == (emb, layers)), None)
    config = sd.path.with_name("config.json")
    if config.is_file():
        import json

        try:
            heads = int(json.loads(config.read_text(encoding="utf-8"))["n_head"])
        except (ValueError, KeyError, TypeError):
            raise RunError(f"{config} has no usable n_head.") from None
    if heads is None:
        raise RunError(f"{sd.path}: emb_dim {emb} with {layers} blocks is none of the GPT-2 sizes, so the number "
                       f"of attention heads is unknown. Put its Hugging Face config.json (with n_head) beside it.")
    return {"vocab_size": vocab, "context_length": context, "emb_dim": emb, "n_heads": heads, "n_layers": layers,
            "drop_rate": drop_rate, "qkv_bias": True}


def build_uninitialized(GPTModel, cfg: dict):
    """`GPTModel(cfg)` without running the in-place initializers of its parameters.

    Their storage is allocated but never written, so the operating system does not back it with memory
    until the weights are loaded into it (or it is replaced by new Parameters and freed untouched).
    Buffers such as the causal mask are built as usual.
    """
    import torch
    from torch.overrides import TorchFunctionMode

    class _SkipParameterInit(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            name = getattr(func, "__name__", "")
            target = args[0] if args else kwargs.get("tensor")  # nn.init passes it by keyword
            if isinstance(target, torch.nn.Parameter) and name.endswith("_") and not name.endswith("__"):
                return target  # nn.init's kaiming_uniform_/normal_/zero_ …: leave the storage untouched
            return func(*args, **kwargs)

    with _SkipParameterInit():
        return GPTModel(cfg)


@dataclass
class LoadedModel:
    model: object  # the learner's GPTModel (torch.nn.Module), on the CPU, in train() mode
    cfg: dict
    kind: str  # "gpt2" (OpenAI's weights), "checkpoint" (one of ours), "scratch"
    label: str  # for people: "gpt2-small (…/gpt2-small.safetensors)", a checkpoint path, "random weights"
    path: Optional[Path] = None
    saved: Optional[dict] = None  # a checkpoint's other contents (optimizer, settings), for resuming


def load_model(spec: str, assembly, *, scratch_cfg: Optional[dict] = None, drop_rate: float = 0.1,
               progress=None) -> LoadedModel:
    """The learner's GPTModel for `spec`: a GPT-2 size (downloaded once, verified), a local Hugging Face
    `.safetensors` file, one of our checkpoints (file or run folder), or `scratch` (`scratch_cfg`, random).

    Raises:
        RunError: with a message that says what to do (offline, wrong file, the learner's loader failed).
    """
    GPTModel = import_piece(assembly, "gpt_model", "GPTModel")
    if spec == "scratch":
        if scratch_cfg is None:
            raise RunError("scratch needs a model config.")
        return LoadedModel(GPTModel(dict(scratch_cfg)), dict(scratch_cfg), "scratch", "random weights")
    path = Path(spec).expanduser()
    if spec in PRETRAINED or (path.suffix == ".safetensors" and path.is_file()):
        if spec in PRETRAINED:
            from tutor.data.datasets import DataError, fetch

            try:
                path = fetch(spec, progress=progress)
            except DataError as e:
                raise RunError(str(e)) from None
            cfg = gpt2_files.model_config(spec, drop_rate)
            label = f"{spec} ({path})"
        else:
            label = str(path)
        sd = SafetensorsStateDict(path)
        if spec not in PRETRAINED:
            cfg = config_from_state_dict(sd, drop_rate)
        load = import_piece(assembly, "gpt2_weights", "load_weights_into_gpt")
        model = build_uninitialized(GPTModel, cfg)
        try:
            load(model, sd)
        except Exception as e:  # the learner's loader: say where, the CLI keeps the traceback
            from tutor.runs.common import where_it_failed

            where = where_it_failed(e, assembly)
            raise RunError(f"load_weights_into_gpt failed on {path.name}: {type(e).__name__}: {e}"
                           + (f" (raised in {where})" if where else "")
                           + ". Run `tutor grade gpt2_weights`, or add --reference.") from e
        return LoadedModel(model, cfg, "gpt2", label, path)
    from tutor.runs import checkpoint as ckpt

    try:
        saved = ckpt.load_checkpoint(spec, mmap=True)
        cfg = dict(saved["model_cfg"])
        model = GPTModel(cfg)
        ckpt.load_parameters(model, plain_parameters(saved))
    except ckpt.CheckpointError as e:
        raise RunError(f"{spec}: {e} Pass gpt2-small|gpt2-medium|gpt2-large|gpt2-xl, a checkpoint.pt (or its run "
                       "folder), or a GPT-2 .safetensors file.") from None
    return LoadedModel(model, cfg, "checkpoint", str(ckpt.checkpoint_file(spec)), ckpt.checkpoint_file(spec), saved)


def cached_model(CachedGPT, model, cfg: dict, assembly=None):
    """The kv_cache exercise's `CachedGPT(cfg)` holding `model`'s parameters (shared, not copied: no second
    copy of the weights in memory). Its parameter names must be those of `model` (the gpt_model exercise's).

    Raises:
        RunError: when the names or shapes differ.
    """
    import torch

    cached = build_uninitialized(CachedGPT, cfg)
    params = dict(model.named_parameters())
    own = dict(cached.named_parameters())
    missing, unexpected = sorted(own.keys() - params.keys()), sorted(params.keys() - own.keys())
    wrong = [n for n in own.keys() & params.keys() if tuple(own[n].shape) != tuple(params[n].shape)]
    if missing or unexpected or wrong:
        detail = "; ".join(f"{what} {', '.join(names[:4])}" for what, names in
                           [("missing", missing), ("unexpected", unexpected), ("other shapes", wrong)] if names)
        raise RunError(f"The kv_cache GPTModel does not have the gpt_model GPTModel's parameters ({detail}), so "
                       "the weights cannot go into it. Run `tutor grade kv_cache`, or add --no-cache.")
    with torch.no_grad():
        cached.load_state_dict(params, strict=False, assign=True)
    return cached


def plain_parameters(saved: dict) -> dict:
    """A checkpoint's parameters under the plain GPTModel's names (a LoRA run's updates merged in)."""
    settings = saved.get("settings") or {}
    if not settings.get("lora_rank"):
        return saved["model"]
    from tutor.runs.lora_wiring import merge_lora

    return merge_lora(saved["model"], settings["lora_rank"], settings["lora_alpha"])


def sanity_perplexity(model, tokenizer, device: str = "cpu", text: str = SANITY_TEXT) -> float:
    """exp(mean next-token cross-entropy) of `model` on `text`, in eval() mode (the mode is restored)."""
    import torch

    ids = torch.tensor([tokenizer.encode(text)], device=device)
    ids = ids[:, : model.pos_emb.weight.shape[0] + 1] if hasattr(model, "pos_emb") else ids
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = model(ids[:, :-1]).float()
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten())
    finally:
        model.train(was_training)
    value = float(loss.exp())
    return value if math.isfinite(value) else float("inf")


def sanity_message(spec: str, ppl: float) -> tuple[bool, str]:
    """(looks right, one line for the learner) for the sanity perplexity of weights `spec`."""
    if ppl <= SANITY_LIMIT:
        return True, f"Sanity check: perplexity {ppl:.1f} on a short English paragraph (real GPT-2: low tens)."
    line = (f"Sanity check failed: perplexity {ppl:,.0f} on a short English paragraph; real GPT-2 gives "
            f"low tens, so these weights are not in the right places.")
    if spec == "gpt2-medium":
        line += (" The course notes that the Hub's gpt2-medium safetensors is known to misbehave; try gpt2-small "
                 "or gpt2-large to tell your loader from the file.")
    else:
        line += " Check your load_weights_into_gpt (`tutor grade gpt2_weights`), or add --reference."
    return False, line


def init_check(loaded: LoadedModel, val_loss: float, learner_loader: bool) -> dict:
    """What the validation loss of freshly loaded weights (`loaded`, before any training) says about them.

    Returns `{"val_loss", "perplexity", "ok", "line", "warning"}`: `line` gives the numbers and what to expect,
    `warning` (None when `ok`) says in one line why they look wrong. GPT-2's weights score tens on ordinary
    English, at most a few hundred on unusual text; above `INIT_PERPLEXITY_LIMIT` they are not in the right
    places. Our checkpoints are compared with the untrained model's perplexity (the vocabulary size), since a
    checkpoint from an early step is legitimately poor. `learner_loader`: the learner's own
    `load_weights_into_gpt` loaded them (else the reference's did, and the file itself is to blame).
    """
    ppl = math.exp(val_loss) if val_loss == val_loss and val_loss < 700 else float("inf")
    vocab = int(loaded.cfg.get("vocab_size", gpt2_files.VOCAB_SIZE))
    shown = f"{ppl:.1f}" if ppl < 1000 else f"{ppl:,.0f}"
    line = f"Loaded weights: validation loss {val_loss:.3f}, perplexity {shown} before any training"
    warning = None
    if loaded.kind == "gpt2":
        line += (f" (GPT-2 on ordinary English text: perplexity in the tens, far below the {vocab:,} of an "
                 f"untrained model).")
        if not ppl <= INIT_PERPLEXITY_LIMIT:
            warning = f"Perplexity {shown} is huge for GPT-2 weights: " + (
                "they are not in the right places. Check your load_weights_into_gpt (`tutor grade gpt2_weights`), "
                "or add --reference." if learner_loader else
                "the reference loader read them, so this file does not hold trained GPT-2 weights.")
    else:
        history = (loaded.saved or {}).get("history") or {}
        before = [v for v in history.get("val_loss") or [] if isinstance(v, float) and math.isfinite(v)]
        line += (f" (its run's last evaluation, on that run's text: validation loss {before[-1]:.3f}; an untrained "
                 f"model: perplexity about {vocab:,})." if before
                 else f" (an untrained model: perplexity about {vocab:,}).")
        if not ppl < vocab / 2:
            warning = (f"Perplexity {shown} is about what an untrained model scores: these weights have learned "
                       f"little, or did not load right.")
    return {"val_loss": val_loss, "perplexity": ppl, "ok": warning is None, "line": line, "warning": warning}


def _mps_probe_logits(model, device: str):
    import torch

    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, model.tok_emb.weight.shape[0], (2, 16), generator=g)
    with torch.no_grad():
        return model(ids.to(device)).float().cpu()


def compare_devices(model, device: str, probe: Callable = _mps_probe_logits) -> Optional[str]:
    """A warning if `model` on `device` gives other logits than on the CPU for a probe batch, else None.

    Some PyTorch versions compute GPT-2 wrongly on Apple's MPS backend; this catches it before any text is
    shown. The model is left on `device`. `probe(model, device)` is the seam tests use.
    """
    import torch

    model.eval()
    cpu = probe(model.to("cpu"), "cpu")
    other = probe(model.to(device), device)
    diff = float((cpu - other).abs().max()) if cpu.shape == other.shape else float("inf")
    if not math.isfinite(diff) or diff > 1e-2 * max(1.0, float(cpu.abs().max())):
        return (f"Warning: on {device} your model's logits differ from the CPU's by up to {diff:.3g} for the "
                f"same input (a known problem of some PyTorch versions on {device}). Its text may be nonsense: "
                f"use --device cpu, or another PyTorch version. (torch {torch.__version__})")
    return None
