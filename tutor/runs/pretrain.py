"""`tutor run pretrain`: train the learner's assembled GPT on a text, with progress, checkpoints and resume.

The pieces are the learner's (or the reference's, for exercises that do not pass yet): `create_dataloader_v1`
cuts the text into windows, `GPTModel` is the network, `calc_loss_batch` is the training loss,
`evaluate_model` (with `calc_loss_loader`) measures train/validation loss, and `generate` writes the sample
at each evaluation. The outer loop is ours, standing in for the learner's `train_model_simple` because it
also reports progress, saves checkpoints (model, optimizer, step, RNG state) and can continue a stopped run
so that the continued loss trajectory is the one an uninterrupted run with the same seed would have had.
It does what `train_model_simple` does, in the same order and with the same random draws, so with the same
seed the two report the same losses; what it adds (a first evaluation before training, one at the very end,
samples, checkpoints) leaves the random state untouched.

Reports go to `emit` as event dicts (see `tutor.runs.events`); nothing here prints or imports a UI.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Optional

from tutor.data.datasets import DataError, load_text
from tutor.runs import checkpoint as ckpt
from tutor.runs.common import (RunError, autocast, default_out, import_piece, prepare_assembly, resolve_device,
                               stop_on_sigint)
from tutor.runs.configs import PRESETS, preset
from tutor.runs.events import Emit, event

TRAIN_RATIO = 0.9  # the first 90% of the text trains, the rest validates (as in the course)
DEFAULT_SEED = 123
SAMPLE_PROMPTS = {"verdict": "Every effort moves you", "builtin": "The lighthouse keeper"}
PIECES = (  # (exercise id, name): what the run takes from the assembled exercises
    ("dataloader", "create_dataloader_v1"), ("gpt_model", "GPTModel"), ("loss", "calc_loss_batch"),
    ("training", "evaluate_model"), ("decoding", "generate"),
)


@dataclass(frozen=True)
class PretrainConfig:
    """What the learner asked for. `None` means: the checkpoint's value when resuming, else the preset's."""

    data: Optional[str] = None  # builtin | verdict | path of a UTF-8 text file
    config: Optional[str] = None  # a key of tutor.runs.configs.PRESETS
    epochs: Optional[int] = None
    batch_size: Optional[int] = None
    lr: Optional[float] = None
    weight_decay: Optional[float] = None
    eval_freq: Optional[int] = None
    eval_iter: Optional[int] = None
    max_steps: Optional[int] = None  # stop after this many optimizer steps in all (even mid-epoch)
    seed: Optional[int] = None
    sample_prompt: Optional[str] = None
    sample_tokens: Optional[int] = None
    device: str = "auto"
    out: Optional[Path] = None
    resume: Optional[Path] = None
    workspace: Any = None  # tutor.workspace.Workspace or None
    use_reference: bool = False
    compile: bool = False


@dataclass(frozen=True)
class Settings:
    """Everything that decides the trajectory of a run; a checkpoint stores it so `--resume` repeats it."""

    config: str
    model: dict
    data: str
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    eval_freq: int
    eval_iter: int
    max_steps: Optional[int]
    seed: int
    sample_prompt: str
    sample_tokens: int
    train_ratio: float = TRAIN_RATIO


@dataclass(frozen=True)
class PretrainResult:
    out: Path
    checkpoint: Optional[Path]
    metrics: Path
    plot: Optional[Path]
    interrupted: bool
    step: int
    total_steps: int
    train_loss: Optional[float]
    val_loss: Optional[float]
    history: dict = field(repr=False, default_factory=dict)


def resolve_settings(cfg: PretrainConfig, saved: Optional[dict]) -> Settings:
    """Explicit options win; then the checkpoint's settings (when resuming); then the preset's defaults."""
    saved = dict(saved or {})
    name = saved.get("config") or cfg.config or "tiny"
    if cfg.config and saved and cfg.config != saved.get("config"):
        raise RunError(f"--config {cfg.config} does not match the checkpoint, which is a {saved['config']} model. "
                       f"Leave out --config when resuming.")
    if name not in PRESETS and not saved:
        raise RunError(f"--config {name}: choose one of {', '.join(PRESETS)}.")
    p = preset(name) if name in PRESETS else None

    def pick(key: str, default):
        explicit = getattr(cfg, key)
        if explicit is not None:
            return explicit
        return saved[key] if key in saved else default

    data = pick("data", "builtin")
    s = Settings(
        config=name,
        model=dict(saved.get("model") or p.model),
        data=data,
        epochs=pick("epochs", p.epochs if p else 1),
        batch_size=pick("batch_size", p.batch_size if p else 8),
        lr=pick("lr", p.lr if p else 4e-4),
        weight_decay=pick("weight_decay", p.weight_decay if p else 0.1),
        eval_freq=pick("eval_freq", p.eval_freq if p else 10),
        eval_iter=pick("eval_iter", p.eval_iter if p else 4),
        max_steps=cfg.max_steps if cfg.max_steps is not None else saved.get("max_steps"),
        seed=pick("seed", DEFAULT_SEED),
        sample_prompt=pick("sample_prompt", ""),  # "": chosen once the text is known
        sample_tokens=pick("sample_tokens", 30),
        train_ratio=saved.get("train_ratio", TRAIN_RATIO),
    )
    for key in ("epochs", "batch_size", "eval_freq", "eval_iter", "sample_tokens"):
        if getattr(s, key) < (0 if key == "sample_tokens" else 1):
            raise RunError(f"--{key.replace('_', '-')} must be positive (got {getattr(s, key)}).")
    if s.max_steps is not None and s.max_steps < 1:
        raise RunError(f"--max-steps must be positive (got {s.max_steps}).")
    if not s.lr > 0:
        raise RunError(f"--lr must be positive (got {s.lr}).")
    return s


def _first_words(text: str, n: int = 4) -> str:
    return " ".join(text.split()[:n])


def pretrain(cfg: PretrainConfig, emit: Emit = lambda e: None, *, stop: Optional[threading.Event] = None,
             download_progress: Optional[Callable[[int, Optional[int]], None]] = None) -> PretrainResult:
    """Train the assembled GPT as `cfg` says; return where everything was written.

    Args:
        cfg: the run's options.
        emit: receives the run's events (start, progress, eval, sample, checkpoint, done).
        stop: set it (from another thread) to stop after the current step with a checkpoint. In the main
            thread Ctrl-C does the same; a second Ctrl-C aborts at once.
        download_progress: byte-progress callback if the data must be downloaded first.

    Raises:
        RunError: the run cannot start or go on (the message says what to do).
    """
    stop = stop or threading.Event()
    saved = None
    if cfg.resume is not None:
        try:
            saved = ckpt.load_checkpoint(cfg.resume)
        except ckpt.CheckpointError as e:
            raise RunError(str(e)) from None
        if saved.get("run") != "pretrain":
            raise RunError(f"{cfg.resume} is not a pretraining checkpoint.")
    settings = resolve_settings(cfg, saved["settings"] if saved else None)
    try:
        source = load_text(settings.data, progress=download_progress)
    except DataError as e:
        raise RunError(str(e)) from None
    settings = replace(settings, data=source.spec)  # an absolute path, so --resume works from anywhere
    if not settings.sample_prompt:
        settings = replace(settings, sample_prompt=SAMPLE_PROMPTS.get(source.known_as or "")
                           or _first_words(source.text) or "The")

    assembly, note = prepare_assembly(cfg.workspace, cfg.use_reference)
    import torch

    from tutor.data.bpe import gpt2_encoding

    tokenizer = gpt2_encoding()
    fn = {name: import_piece(assembly, ex, name) for ex, name in PIECES}
    text_to_token_ids = import_piece(assembly, "decoding", "text_to_token_ids")
    token_ids_to_text = import_piece(assembly, "decoding", "token_ids_to_text")
    device = resolve_device(cfg.device)

    if cfg.out is not None:
        out = Path(cfg.out).expanduser()
    elif cfg.resume is not None:
        out = ckpt.checkpoint_file(cfg.resume).parent  # continue in the stopped run's folder
    else:
        out = default_out(cfg.workspace, f"pretrain-{settings.config}")
    out.mkdir(parents=True, exist_ok=True)
    checkpoint_path = out / ckpt.FILENAME

    # -- data ------------------------------------------------------------------------------------------------
    text = source.text
    data_sha256 = _sha256_text(text)
    split = int(settings.train_ratio * len(text))
    train_text, val_text = text[:split], text[split:]
    ctx = settings.model["context_length"]
    n_tokens = len(tokenizer.encode(text, allowed_special={"<|endoftext|>"}))
    too_short = (f"The training text ({n_tokens} tokens in all, {settings.train_ratio:.0%} for training) is too "
                 f"short for one batch of {settings.batch_size} windows of {ctx} tokens. Use a longer text or a "
                 f"smaller --batch-size.")
    no_val = (f"The validation part of the text (its last {1 - settings.train_ratio:.0%}) is shorter than one "
              f"window of {ctx + 1} tokens, so there is no validation loss. Use a longer text.")
    # Checked before the loaders exist: a shuffled DataLoader over no windows fails with a cryptic message.
    if len(tokenizer.encode(train_text, allowed_special={"<|endoftext|>"})) <= ctx:
        raise RunError(too_short)
    if len(tokenizer.encode(val_text, allowed_special={"<|endoftext|>"})) <= ctx:
        raise RunError(no_val)
    torch.manual_seed(settings.seed)  # the same seed gives the same initial weights and data order
    make_loader = fn["create_dataloader_v1"]
    train_loader = make_loader(train_text, batch_size=settings.batch_size, max_length=ctx, stride=ctx,
                               shuffle=True, drop_last=True, num_workers=0)
    val_loader = make_loader(val_text, batch_size=settings.batch_size, max_length=ctx, stride=ctx,
                             shuffle=False, drop_last=False, num_workers=0)
    steps_per_epoch = len(train_loader)
    if steps_per_epoch == 0:
        raise RunError(too_short)
    if len(val_loader) == 0:
        raise RunError(no_val)
    total_steps = settings.epochs * steps_per_epoch
    if settings.max_steps is not None:
        total_steps = min(total_steps, settings.max_steps)

    # -- model and optimizer -----------------------------------------------------------------------------------
    model = fn["GPTModel"](dict(settings.model)).to(device)
    names = [n for n, _ in model.named_parameters()]
    n_params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay,
                                  **({"fused": True} if device.startswith("cuda") else {}))
    step, tokens_seen, elapsed_before = 0, 0, 0.0
    history: dict[str, list] = {"step": [], "epoch": [], "tokens_seen": [], "train_loss": [], "val_loss": []}
    resume_epoch_rng = None
    warnings: list[str] = []
    if saved is not None:
        try:
            ckpt.load_parameters(model, saved["model"])
            optimizer.load_state_dict(ckpt.optimizer_state_for(saved["optimizer"], saved["param_names"], names))
        except (ckpt.CheckpointError, ValueError, KeyError) as e:
            raise RunError(f"Cannot resume from {cfg.resume}: {e}") from None
        for group in optimizer.param_groups:  # an explicit --lr / --weight-decay applies from here on
            group["lr"], group["weight_decay"] = settings.lr, settings.weight_decay
        step, tokens_seen = int(saved["step"]), int(saved["tokens_seen"])
        elapsed_before = float(saved.get("train_time_s", 0.0))
        history = {k: list(v) for k, v in saved["history"].items()}
        ckpt.set_rng_state(saved["rng"])
        resume_epoch_rng = saved.get("epoch_rng")
        if saved.get("data_sha256") not in (None, data_sha256):
            warnings.append("The text differs from the one this run started with.")
        if saved.get("steps_per_epoch") not in (None, steps_per_epoch):
            warnings.append("The number of batches per epoch changed (another --batch-size or text): the "
                            "continued run will not repeat an uninterrupted one exactly.")
            resume_epoch_rng = None
        if step >= total_steps:
            warnings.append(f"The checkpoint is already at step {step} of {total_steps}; pass a larger --epochs "
                            f"(or --max-steps) to train further.")
    train_model = torch.compile(model) if cfg.compile else model
    model.train()

    learner = set(assembly.learner)
    pieces = [{"exercise": ex, "name": name, "yours": ex in learner} for ex, name in PIECES]
    emit(event(
        "start", run="pretrain", out=str(out), device=device, filled_in=list(assembly.filled_in),
        total_steps=total_steps, learner=list(assembly.learner), assembly=note, pieces=pieces,
        loop=("tutor's own training loop (it adds progress, checkpoints and resume) in place of "
              "train_model_simple; it calls create_dataloader_v1, GPTModel, calc_loss_batch, evaluate_model "
              "and generate from the assembled modules"),
        config=settings.config, model=settings.model, parameters=n_params, data=settings.data,
        data_label=source.label, characters=len(text), tokens=n_tokens, steps_per_epoch=steps_per_epoch,
        epochs=settings.epochs, batch_size=settings.batch_size, lr=settings.lr, seed=settings.seed,
        start_step=step, resumed_from=str(cfg.resume) if cfg.resume else None, warnings=warnings,
    ))

    # -- helpers -----------------------------------------------------------------------------------------------
    evaluate_model, calc_loss_batch, generate = fn["evaluate_model"], fn["calc_loss_batch"], fn["generate"]
    epoch_rng = resume_epoch_rng

    def evaluate() -> None:
        with autocast(device):
            train_loss, val_loss = evaluate_model(train_model, train_loader, val_loader, device, settings.eval_iter)
        train_loss, val_loss = float(train_loss), float(val_loss)
        history["step"].append(step)
        history["epoch"].append(step / steps_per_epoch)
        history["tokens_seen"].append(tokens_seen)
        history["train_loss"].append(train_loss)
        history["val_loss"].append(val_loss)
        emit(event("eval", step=step, train_loss=train_loss, val_loss=val_loss, tokens_seen=tokens_seen,
                   epoch=min(step // steps_per_epoch + 1, settings.epochs), epochs_seen=step / steps_per_epoch))

    def sample() -> None:
        if settings.sample_tokens <= 0:
            return
        model.eval()
        idx = text_to_token_ids(settings.sample_prompt, tokenizer).to(device)
        # Greedy, like the course's samples; a generate() that draws random numbers anyway must not
        # change the training that follows.
        with torch.no_grad(), autocast(device), ckpt.rng_preserved():
            ids = generate(model, idx, max_new_tokens=settings.sample_tokens, context_size=ctx, temperature=0.0,
                           top_k=None, eos_id=None)
        model.train()
        emit(event("sample", step=step, text=token_ids_to_text(ids.cpu(), tokenizer), prompt=settings.sample_prompt))

    def save(reason: str) -> None:
        ckpt.save_checkpoint(checkpoint_path, {
            "run": "pretrain", "model": ckpt.parameters(model), "param_names": names,
            "optimizer": optimizer.state_dict(), "model_cfg": dict(settings.model), "settings": asdict(settings),
            "step": step, "tokens_seen": tokens_seen, "steps_per_epoch": steps_per_epoch,
            "rng": ckpt.rng_state(), "epoch_rng": epoch_rng, "history": history,
            "train_time_s": elapsed_before + train_time, "data_sha256": data_sha256,
            "filled_in": list(assembly.filled_in), "learner": list(assembly.learner),
        })
        emit(event("checkpoint", path=str(checkpoint_path), step=step, reason=reason))

    # -- the loop ----------------------------------------------------------------------------------------------
    t_start = time.perf_counter()
    train_time, session_steps, session_tokens = 0.0, 0, 0
    last_progress = 0.0
    saved_at = step if saved is not None else None
    if saved is None:
        with ckpt.rng_preserved():  # not in the course's schedule: must not change what follows
            evaluate()  # step 0: the loss of the untrained model (about ln(50257) ≈ 10.8)
    interrupted = False
    with stop_on_sigint(stop):
        try:
            while step < total_steps and not interrupted:
                skip = step % steps_per_epoch
                if skip and resume_epoch_rng is not None:
                    # Continue mid-epoch: replay the epoch's shuffle from the RNG state it started with, skip
                    # the batches already trained on, then go on from the RNG state saved at the stop.
                    rng_now = ckpt.rng_state()
                    ckpt.set_rng_state(resume_epoch_rng)
                    batches = iter(train_loader)
                    for _ in range(skip):
                        next(batches)
                    ckpt.set_rng_state(rng_now)
                    epoch_rng = resume_epoch_rng
                else:
                    epoch_rng = ckpt.rng_state()
                    batches = iter(train_loader)
                    if skip:  # no record of the epoch's shuffle: skip batches of a fresh one
                        for _ in range(skip):
                            next(batches)
                resume_epoch_rng = None
                for input_batch, target_batch in batches:
                    t0 = time.perf_counter()
                    optimizer.zero_grad(set_to_none=True)
                    with autocast(device):
                        loss = calc_loss_batch(input_batch, target_batch, train_model, device)
                    loss.backward()
                    optimizer.step()
                    batch_loss = float(loss.detach())
                    train_time += time.perf_counter() - t0
                    step += 1
                    session_steps += 1
                    tokens_seen += input_batch.numel()
                    session_tokens += input_batch.numel()
                    if not math.isfinite(batch_loss):
                        raise RunError(f"The training loss became {batch_loss} at step {step}. Try a smaller --lr.")
                    now = time.perf_counter()
                    if now - last_progress >= 0.1 or step == total_steps:
                        last_progress = now
                        per_step = (now - t_start) / session_steps
                        emit(event("progress", epoch=min(step // steps_per_epoch + (step % steps_per_epoch > 0),
                                                         settings.epochs) or 1,
                                   step=step, total_steps=total_steps, tokens_seen=tokens_seen,
                                   tokens_per_s=session_tokens / train_time if train_time else 0.0,
                                   eta_s=per_step * (total_steps - step), loss=batch_loss,
                                   epochs=settings.epochs))
                    if (step - 1) % settings.eval_freq == 0:
                        # The course's schedule: train_model_simple evaluates after steps 1, 1 + eval_freq, ...
                        # Evaluation draws random numbers (it iterates the shuffled training loader) exactly as
                        # there, so with the same seed this loop follows train_model_simple's trajectory.
                        evaluate()
                        sample()
                        save("eval")
                        saved_at = step
                    elif step == total_steps:
                        # An extra evaluation at the end leaves the random state as it was, so a run stopped
                        # here by --max-steps and resumed still follows the uninterrupted trajectory.
                        with ckpt.rng_preserved():
                            evaluate()
                            sample()
                        save("eval")
                        saved_at = step
                    if stop.is_set():
                        interrupted = True
                        break
                    if step >= total_steps:
                        break
        except KeyboardInterrupt:
            raise RunError(f"Stopped at once (second Ctrl-C) without saving; the last checkpoint is "
                           f"{checkpoint_path if saved_at is not None else 'none'}.") from None
        if interrupted and saved_at != step:
            save("interrupt")
            saved_at = step

    # -- results -----------------------------------------------------------------------------------------------
    wall = time.perf_counter() - t_start
    metrics_path = out / "metrics.json"
    plot_path = out / "loss.png"
    if history["step"]:
        from tutor.runs.plot import plot_losses

        title = f"{settings.config} on {source.label}" + (" (stopped)" if interrupted else "")
        plot_losses(plot_path, history["epoch"], history["tokens_seen"], history["train_loss"],
                    history["val_loss"], title)
    else:
        plot_path = None
    final_train = history["train_loss"][-1] if history["train_loss"] else None
    final_val = history["val_loss"][-1] if history["val_loss"] else None
    metrics = {
        "run": "pretrain", "settings": asdict(settings), "parameters": n_params, "device": device,
        "data": {"spec": settings.data, "label": source.label, "characters": len(text), "tokens": n_tokens},
        "learner": list(assembly.learner), "filled_in": list(assembly.filled_in),
        "steps_per_epoch": steps_per_epoch, "total_steps": total_steps, "step": step, "interrupted": interrupted,
        "tokens_seen": tokens_seen, "train_loss": final_train, "val_loss": final_val,
        "best_val_loss": min((v for v in history["val_loss"] if math.isfinite(v)), default=None),
        "tokens_per_s": session_tokens / train_time if train_time else None,
        "train_time_s": elapsed_before + train_time, "session_wall_s": wall,
        "evals": [dict(zip(history, values)) for values in zip(*history.values())],
        "checkpoint": str(checkpoint_path) if saved_at is not None else None,
        "plot": str(plot_path) if plot_path else None, "warnings": warnings,
    }
    _write_json(metrics_path, metrics)
    result = PretrainResult(out=out, checkpoint=checkpoint_path if saved_at is not None else None,
                            metrics=metrics_path, plot=plot_path, interrupted=interrupted, step=step,
                            total_steps=total_steps, train_loss=final_train, val_loss=final_val, history=history)
    emit(event("done", out=str(out), checkpoint=str(result.checkpoint) if result.checkpoint else None,
               metrics=str(metrics_path), plot=str(plot_path) if plot_path else None, interrupted=interrupted,
               step=step, total_steps=total_steps, train_loss=final_train, val_loss=final_val,
               tokens_per_s=metrics["tokens_per_s"],
               resume=(f"tutor run pretrain --resume {checkpoint_path}" if interrupted and saved_at is not None
                       else None)))
    return result


def _sha256_text(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _write_json(path: Path, data: dict) -> None:
    from tutor.runs.events import _clean

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_clean(data), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
