"""`tutor run instruct`: fine-tune the learner's GPT to follow instructions, then answer the test set.

The steps are pretrain's (`tutor.runs.pretrain`): settings, data, model and optimizer, restore, the loop,
results. What differs is the data and the ending. The entries (`builtin`, `book` or a JSON file) are
shuffled with a fixed seed and split 85/10/5 into training, test and validation entries, as in the course;
the learner's `InstructionDataset` encodes them and the learner's `custom_collate_fn` pads them into batches
(cut to the model's context). The model comes from `--init` through `tutor.runs.models.load_model` (OpenAI's
GPT-2, one of our checkpoints, or `scratch`); with `--lora RANK` it is frozen and only the learner's LoRA
updates of its Linear layers train (`tutor.runs.lora_wiring`; the checkpoint's settings record rank and alpha,
so `--resume` rebuilds it the same way). The loop is pretrain's `TrainingLoop` (progress, evaluations,
samples, Ctrl-C checkpoints, exact resume); only what a checkpoint records differs. At the end the model
answers every test entry with the learner's `generate` (greedy, stopping at end-of-text), and
`responses.json` holds each test entry plus its `model_response`: the file `tutor run judge` reads.
Nothing here prints or imports a UI.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Optional

from tutor.data.datasets import DataError
from tutor.data.instructions import load_instructions
from tutor.runs import checkpoint as ckpt
from tutor.runs import fast
from tutor.runs.common import (FineTuneConfig, ProgressMeter, RunError, TrainState, import_piece, load_resume,
                               prepare_assembly, resolve_device, run_folder, write_json)
from tutor.runs.configs import PRESETS, preset
from tutor.runs.events import Emit, event
from tutor.runs.lora_wiring import resolve_options
from tutor.runs.pretrain import HISTORY, Pieces, TrainingLoop, build_optimizer, restore

TRAIN_RATIO, TEST_RATIO = 0.85, 0.10  # the rest (about 5%) validates, as in the course
DEFAULT_SEED = 123
DEFAULT_INIT = "gpt2-medium"  # the course's choice
RESPONSE_HEADER = "\n\n### Response:\n"  # DESIGN §4: what InstructionDataset puts between prompt and answer
END_OF_TEXT = 50256
SHOWN = 3  # responses printed beside their reference answers at the end
PIECES = (  # (exercise id, name): what the run takes from the assembled exercises
    ("instruction_data", "format_input"), ("instruction_data", "InstructionDataset"),
    ("instruction_data", "custom_collate_fn"), ("gpt_model", "GPTModel"), ("loss", "calc_loss_batch"),
    ("training", "evaluate_model"), ("decoding", "generate"),
)


@dataclass(frozen=True)
class InstructConfig(FineTuneConfig):
    """What the learner asked for (the options every fine-tuning run has, then instruct's own). `None` means:
    the checkpoint's value when resuming, else the default.

    `data` is builtin | book | path of a JSON file of {instruction, input, output}; `init` is gpt2-small |
    gpt2-medium | … | CHECKPOINT | scratch; `lora_rank` trains only LoRA updates of every Linear layer.
    """

    mask_prompt: Optional[bool] = None
    sample_tokens: Optional[int] = None
    response_tokens: Optional[int] = None


@dataclass(frozen=True)
class Settings:
    """Everything that decides the trajectory of a run; the checkpoint stores it so `--resume` repeats it.

    Field names match pretrain's where the shared loop and `restore` read them.
    """

    init: str
    config: str  # for people: the init's name (or the preset of a scratch model)
    model: dict
    data: str
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    eval_freq: int
    eval_iter: int
    max_steps: Optional[int]
    mask_prompt: bool
    seed: int
    sample_prompt: str
    sample_tokens: int
    response_tokens: int
    lora_rank: Optional[int] = None
    lora_alpha: Optional[float] = None


@dataclass(frozen=True)
class InstructResult:
    out: Path
    checkpoint: Optional[Path]
    responses: Optional[Path]
    metrics: Path
    interrupted: bool
    step: int
    total_steps: int
    train_loss: Optional[float]
    val_loss: Optional[float]


# -- settings -------------------------------------------------------------------------------------------------------
def resolve_settings(cfg: InstructConfig, saved: Optional[dict], model_cfg: dict, data: str) -> Settings:
    """Explicit options win; then the checkpoint's settings (when resuming); then the course's defaults."""
    saved = dict(saved or {})

    def pick(key: str, default):
        return cfg.option(key, saved, default)

    init = saved.get("init") or cfg.init or DEFAULT_INIT
    s = Settings(
        init=init, config=saved.get("config") or (f"scratch {cfg.config or 'tiny'}" if init == "scratch" else init),
        model=dict(model_cfg), data=data,
        epochs=pick("epochs", 2), batch_size=pick("batch_size", 8), lr=pick("lr", 5e-5),
        weight_decay=pick("weight_decay", 0.1), eval_freq=pick("eval_freq", 5), eval_iter=pick("eval_iter", 5),
        max_steps=cfg.max_steps if cfg.max_steps is not None else saved.get("max_steps"),
        mask_prompt=pick("mask_prompt", False), seed=pick("seed", DEFAULT_SEED),
        sample_prompt=saved.get("sample_prompt", ""), sample_tokens=pick("sample_tokens", 35),
        response_tokens=pick("response_tokens", min(256, model_cfg["context_length"])),  # the course: 256
        **resolve_options(cfg.lora_rank, cfg.lora_alpha, saved),
    )
    for key in ("epochs", "batch_size", "eval_freq", "eval_iter", "response_tokens"):
        if getattr(s, key) < 1:
            raise RunError(f"--{key.replace('_', '-')} must be positive (got {getattr(s, key)}).")
    if s.sample_tokens < 0:
        raise RunError(f"--sample-tokens must be 0 or more (got {s.sample_tokens}).")
    if s.max_steps is not None and s.max_steps < 1:
        raise RunError(f"--max-steps must be positive (got {s.max_steps}).")
    if not s.lr > 0:
        raise RunError(f"--lr must be positive (got {s.lr}).")
    return s


def load_entries(spec: str, download_progress=None):
    try:
        return load_instructions(spec, progress=download_progress)
    except DataError as e:
        raise RunError(str(e)) from None


def split_entries(entries: list, seed: int) -> tuple[list, list, list]:
    """(train, test, validation): 85/10/5 of the entries after a shuffle with `seed` (the same every time)."""
    shuffled = list(entries)
    random.Random(seed).shuffle(shuffled)
    n_train, n_test = int(TRAIN_RATIO * len(shuffled)), int(TEST_RATIO * len(shuffled))
    return shuffled[:n_train], shuffled[n_train:n_train + n_test], shuffled[n_train + n_test:]


def out_folder(cfg: InstructConfig, settings: Settings) -> Path:
    """--out, else the resumed run's own folder, else a new `.tutor/runs/instruct-<init>-<time>`."""
    init = settings.init
    name = init if init in ("scratch",) or init.startswith("gpt2-") and "/" not in init else "checkpoint"
    return cfg.out_folder(f"instruct-{name}")


# -- data -----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Data:
    """The loaders, with the fields pretrain's loop and `restore` read."""

    train_loader: Any
    val_loader: Any
    steps_per_epoch: int
    total_steps: int
    n_tokens: int
    sha256: str
    train: list
    test: list
    val: list


class _WithPromptLength:
    """The learner's InstructionDataset, each item paired with how many of its tokens are the prompt."""

    def __init__(self, dataset, prompt_lengths: list[int]):
        self.dataset, self.prompt_lengths = dataset, prompt_lengths

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        return self.dataset[i], self.prompt_lengths[i]


def make_collate(custom_collate_fn, allowed_max_length: int, mask_prompt: bool) -> Callable:
    """The learner's collate; with `mask_prompt`, the targets that predict prompt tokens become -100 too."""
    def collate(batch):
        inputs, targets = custom_collate_fn([item for item, _ in batch], allowed_max_length=allowed_max_length)
        if mask_prompt:
            targets = targets.clone()
            for row, (_, n_prompt) in enumerate(batch):
                targets[row, : max(n_prompt - 1, 0)] = -100  # target j is token j + 1: the answer starts at n_prompt
        return inputs, targets
    return collate


def prepare_data(settings: Settings, entries: list, tokenizer, format_input, InstructionDataset,
                 custom_collate_fn) -> Data:
    """Split, seed, and make the loaders from the learner's InstructionDataset and custom_collate_fn."""
    import torch
    from torch.utils.data import DataLoader

    train, test, val = split_entries(entries, settings.seed)
    if len(train) < settings.batch_size:
        raise RunError(f"{len(entries)} entries give {len(train)} for training, fewer than one batch of "
                       f"{settings.batch_size}. Use more data or a smaller --batch-size.")
    if not val or not test:
        raise RunError(f"{len(entries)} entries are too few to keep 10% for testing and 5% for validation; "
                       f"use at least 20.")
    ctx = settings.model["context_length"]

    def dataset(part: list):
        ds = InstructionDataset(part, tokenizer)
        lengths = [len(tokenizer.encode(format_input(e) + RESPONSE_HEADER)) for e in part]
        return _WithPromptLength(ds, lengths)

    collate = make_collate(custom_collate_fn, ctx, settings.mask_prompt)
    train_ds, val_ds = dataset(train), dataset(val)
    torch.manual_seed(settings.seed)
    train_loader = DataLoader(train_ds, batch_size=settings.batch_size, collate_fn=collate, shuffle=True,
                              drop_last=True, num_workers=0)
    val_loader = DataLoader(val_ds, batch_size=settings.batch_size, collate_fn=collate, shuffle=False,
                            drop_last=False, num_workers=0)
    steps_per_epoch = len(train_loader)
    total_steps = settings.epochs * steps_per_epoch
    if settings.max_steps is not None:
        total_steps = min(total_steps, settings.max_steps)
    n_tokens = sum(len(train_ds[i][0]) for i in range(len(train_ds)))
    import hashlib
    import json

    sha = hashlib.sha256(json.dumps(entries, sort_keys=True).encode("utf-8")).hexdigest()
    return Data(train_loader, val_loader, steps_per_epoch, total_steps, n_tokens, sha, train, test, val)


# -- the loop -------------------------------------------------------------------------------------------------------
class InstructLoop(TrainingLoop):
    """Pretrain's loop; its checkpoints say they are instruct's and record what `--resume` needs."""

    def save(self, reason: str) -> None:
        ckpt.save_checkpoint(self.checkpoint_path, {
            "run": "instruct", "model": ckpt.parameters(self.model),
            "param_names": [n for n, _ in self.model.named_parameters()],
            "optimizer": self.optimizer.state_dict(), "model_cfg": dict(self.settings.model),
            "settings": asdict(self.settings), **self.state.checkpoint_fields(), "rng": ckpt.rng_state(),
            "steps_per_epoch": self.data.steps_per_epoch, "data_sha256": self.data.sha256,
            "filled_in": list(self.assembly.filled_in), "learner": list(self.assembly.learner),
        })
        self.saved_at = self.state.step
        self.emit(event("checkpoint", path=str(self.checkpoint_path), step=self.state.step, reason=reason))


# -- responses ------------------------------------------------------------------------------------------------------
def answer(model, entry: dict, format_input, pieces: Pieces, tokenizer, settings: Settings, device: str) -> str:
    """The model's greedy answer to one entry, stopped at end-of-text (the tokens after the prompt)."""
    import torch

    prompt = format_input(entry) + RESPONSE_HEADER
    idx = pieces.text_to_token_ids(prompt, tokenizer).to(device)
    with torch.no_grad():
        ids = pieces.generate(model, idx, max_new_tokens=settings.response_tokens,
                              context_size=settings.model["context_length"], temperature=0.0, top_k=None,
                              eos_id=END_OF_TEXT)
    new = ids[0, idx.shape[1]:].cpu().tolist()
    return extract_response(tokenizer.decode(new))


def extract_response(generated: str) -> str:
    """The answer in the text generated after the prompt, as the course extracts it (also `tutor.runs.chat`)."""
    return generated.replace("### Response:", "").strip()


def write_responses(loop: InstructLoop, format_input, out: Path) -> Path:
    """responses.json: each test entry plus `model_response` (what `tutor run judge` reads)."""
    loop.model.eval()
    rows = []
    t0 = time.perf_counter()
    test = loop.data.test
    with ckpt.rng_preserved():
        for n, entry in enumerate(test):
            response = answer(loop.model, entry, format_input, loop.pieces, loop.tokenizer, loop.settings,
                              loop.device)
            rows.append({**entry, "model_response": response})
            loop.emit(event("response", index=n, total=len(test), instruction=entry["instruction"],
                            input=entry.get("input", ""), output=entry["output"], model_response=response,
                            eta_s=(time.perf_counter() - t0) / (n + 1) * (len(test) - n - 1)))
    loop.model.train()
    path = out / "responses.json"
    write_json(path, rows)  # type: ignore[arg-type]  (a list is JSON too)
    return path


def write_results(loop: InstructLoop, out: Path, label: str, n_params: int, interrupted: bool,
                  meter: ProgressMeter, warnings: list[str], responses: Optional[Path]) -> InstructResult:
    settings, st, data, history = loop.settings, loop.state, loop.data, loop.state.history
    final_train = history["train_loss"][-1] if history.get("train_loss") else None
    final_val = history["val_loss"][-1] if history.get("val_loss") else None
    checkpoint = loop.checkpoint_path if loop.saved_at is not None else None
    metrics_path = out / "metrics.json"
    write_json(metrics_path, {
        "run": "instruct", "settings": asdict(settings), "parameters": n_params, "device": loop.device,
        "data": {"spec": settings.data, "label": label, "train": len(data.train), "test": len(data.test),
                 "validation": len(data.val), "train_tokens": data.n_tokens},
        "learner": list(loop.assembly.learner), "filled_in": list(loop.assembly.filled_in),
        "steps_per_epoch": data.steps_per_epoch, "total_steps": data.total_steps, "step": st.step,
        "interrupted": interrupted, "tokens_seen": st.tokens_seen, "train_loss": final_train, "val_loss": final_val,
        "tokens_per_s": meter.tokens_per_s, "train_time_s": st.train_time_s, "session_wall_s": meter.wall_s,
        "evals": [dict(zip(history, values)) for values in zip(*history.values())],
        "checkpoint": str(checkpoint) if checkpoint else None,
        "responses": str(responses) if responses else None, "warnings": warnings,
    })
    loop.emit(event("done", out=str(out), checkpoint=str(checkpoint) if checkpoint else None,
                    metrics=str(metrics_path), responses=str(responses) if responses else None,
                    interrupted=interrupted, step=st.step, total_steps=data.total_steps, train_loss=final_train,
                    val_loss=final_val, tokens_per_s=meter.tokens_per_s, shown=SHOWN,
                    resume=f"tutor run instruct --resume {checkpoint}" if interrupted and checkpoint else None))
    return InstructResult(out, checkpoint, responses, metrics_path, interrupted, st.step, data.total_steps,
                          final_train, final_val)


# -- the run --------------------------------------------------------------------------------------------------------
def instruct(cfg: InstructConfig, emit: Emit = lambda e: None, *, stop: Optional[threading.Event] = None,
             download_progress: Optional[Callable[[int, Optional[int]], None]] = None) -> InstructResult:
    """Fine-tune the assembled GPT on instruction data as `cfg` says, then answer the test entries.

    Raises:
        RunError: the run cannot start or go on (the message says what to do).
    """
    stop = stop or threading.Event()
    saved = load_resume(cfg.resume, "instruct")
    prior = saved["settings"] if saved else None
    if cfg.config is not None and cfg.config not in PRESETS:
        raise RunError(f"--config {cfg.config}: choose one of {', '.join(PRESETS)}.")
    if saved and (cfg.init or cfg.config):
        raise RunError("--init and --config cannot change when resuming; leave them out.")
    init = prior["init"] if prior else (cfg.init or DEFAULT_INIT)
    if cfg.config is not None and init != "scratch":
        raise RunError(f"--config {cfg.config} sizes a model made from scratch; --init {init} has its own size. "
                       f"Leave out --config, or pass --init scratch.")
    source = load_entries((prior or {}).get("data") if cfg.data is None and prior else (cfg.data or "builtin"),
                          download_progress)
    assembly, note = prepare_assembly(cfg.workspace, cfg.use_reference)
    from tutor.data.bpe import gpt2_encoding
    from tutor.runs.models import load_model

    tokenizer = gpt2_encoding()
    found = {f"{ex}.{name}": import_piece(assembly, ex, name) for ex, name in PIECES}
    pieces = Pieces(create_dataloader_v1=None, GPTModel=found["gpt_model.GPTModel"],
                    calc_loss_batch=found["loss.calc_loss_batch"], evaluate_model=found["training.evaluate_model"],
                    generate=found["decoding.generate"],
                    text_to_token_ids=import_piece(assembly, "decoding", "text_to_token_ids"),
                    token_ids_to_text=import_piece(assembly, "decoding", "token_ids_to_text"))
    format_input = found["instruction_data.format_input"]
    device = resolve_device(cfg.device)
    if saved:
        loaded_cfg, model = dict(saved["model_cfg"]), pieces.GPTModel(dict(saved["model_cfg"]))
        label = f"{prior['init']} (resumed)"
    else:
        scratch = dict(preset(cfg.config or "tiny").model) if init == "scratch" else None
        import torch

        torch.manual_seed(cfg.seed if cfg.seed is not None else DEFAULT_SEED)  # the same seed, the same scratch model
        loaded = load_model(init, assembly, scratch_cfg=scratch, progress=download_progress)
        loaded_cfg, model, label = loaded.cfg, loaded.model, loaded.label
    settings = resolve_settings(cfg, prior, loaded_cfg, source.spec)

    with run_folder(out_folder(cfg, settings)) as out:
        data = prepare_data(settings, source.entries, tokenizer, format_input,
                            found["instruction_data.InstructionDataset"],
                            found["instruction_data.custom_collate_fn"])
        if not settings.sample_prompt:  # the course's sample: the first validation entry's prompt
            settings = replace(settings, sample_prompt=format_input(data.val[0]) + RESPONSE_HEADER)
        lora = None
        if settings.lora_rank:
            from tutor.runs.lora_wiring import add_lora

            lora = add_lora(model, assembly, settings.lora_rank, settings.lora_alpha)
        model = model.to(device)
        optimizer = build_optimizer(model, settings, device, fast=cfg.fast)
        state, warnings = (restore(saved, model, optimizer, settings, data, cfg.resume) if saved is not None
                           else (TrainState(history={key: [] for key in HISTORY}), []))
        fast_report = fast.make_fast(model, settings.model, device, compile=cfg.compile, assembly=assembly,
                                     loaders=(data.train_loader, data.val_loader)) if cfg.fast else None
        model.train()
        loop = InstructLoop(settings, data, pieces, model,
                            fast.compiled(model, fast.wants_compile(cfg.compile, cfg.fast, device)), optimizer,
                            tokenizer, device, state, assembly,
                            out / ckpt.FILENAME, emit, saved_at=state.step if saved is not None else None)
        n_params = sum(p.numel() for p in model.parameters())
        learner = set(assembly.learner)
        emit(event(
            "start", run="instruct", out=str(out), device=device, filled_in=list(assembly.filled_in),
            total_steps=data.total_steps, learner=list(assembly.learner), assembly=note,
            pieces=[{"exercise": ex, "name": name, "yours": ex in learner} for ex, name in PIECES],
            loop=("tutor's own training loop (it adds progress, checkpoints and resume) in place of "
                  "train_model_simple; it batches with InstructionDataset and custom_collate_fn and calls GPTModel, "
                  "calc_loss_batch, evaluate_model and generate from the assembled modules"),
            config=settings.config, init=label, model=settings.model, parameters=n_params, lora=lora,
            trainable=sum(p.numel() for p in model.parameters() if p.requires_grad), data=settings.data,
            data_label=source.label, entries=len(source.entries), train=len(data.train), test=len(data.test),
            validation=len(data.val), tokens=data.n_tokens, mask_prompt=settings.mask_prompt,
            steps_per_epoch=data.steps_per_epoch, epochs=settings.epochs, batch_size=settings.batch_size,
            lr=settings.lr, seed=settings.seed, start_step=state.step,
            resumed_from=str(cfg.resume) if cfg.resume else None, warnings=warnings,
            fast=fast_report.as_dict() if fast_report else None,
        ))
        meter = ProgressMeter(emit, data.total_steps)
        interrupted = loop.run(stop, meter, first_eval=saved is None)
        responses = None if interrupted else write_responses(loop, format_input, out)
        return write_results(loop, out, source.label, n_params, interrupted, meter, warnings, responses)
