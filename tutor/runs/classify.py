"""`tutor run classify`: fine-tune the learner's assembled GPT into a spam classifier, and use one.

The pieces are the learner's (or the reference's, for exercises that do not pass yet): `GPTModel` is the
network, `SpamDataset` pads the messages, `prepare_for_classification` swaps the head and chooses what
trains, `calc_loss_batch` is the training loss, `calc_accuracy_loader` measures accuracy and `classify_text`
labels new messages. The loop, checkpoints and resume are ours, as in `tutor.runs.pretrain`.

The course's design-choice experiments are options: `--trainable last-block|last-two-blocks|all` widens what
`prepare_for_classification` left trainable, `--lora RANK` trains the learner's low-rank updates of the
blocks' Linear layers and the new head instead (`tutor.runs.lora_wiring`), and `--token first` classifies from
the first position by showing the learner's functions a model whose only output position is the first one.

`--init` is `scratch` (the preset's architecture, random weights; every layer trains unless `--trainable`
says otherwise: frozen random layers teach nothing) or a checkpoint of `tutor run pretrain`. GPT-2 weights
(`gpt2-small`, …) are loaded by `tutor.runs.models.load_model` through the learner's `load_weights_into_gpt`.

Reports go to `emit` as event dicts (see `tutor.runs.events`); nothing here prints or imports a UI.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Optional

from tutor.data.datasets import DataError
from tutor.runs import checkpoint as ckpt
from tutor.runs import fast
from tutor.runs.common import (FineTuneConfig, RunError, autocast, import_piece, prepare_assembly, resolve_device,
                               stop_on_sigint, write_json)
from tutor.runs.configs import CLASSIFY_TOKENS, CLASSIFY_TRAINABLE, PRESETS, preset
from tutor.runs.events import Emit, event

DEFAULT_SEED = 123
CLASSIFIER_FILE = "classifier.pt"
TRAINABLE, TOKENS = CLASSIFY_TRAINABLE, CLASSIFY_TOKENS  # the choices live in configs (the TUI offers them)
LABELS = ("not spam", "spam")
PIECES = (  # (exercise id, name): what the run takes from the assembled exercises
    ("gpt_model", "GPTModel"), ("classifier", "SpamDataset"), ("classifier", "prepare_for_classification"),
    ("classifier", "calc_loss_batch"), ("classifier", "calc_accuracy_loader"), ("classifier", "classify_text"),
)


@dataclass(frozen=True)
class ClassifyConfig(FineTuneConfig):
    """What the learner asked for (the options every fine-tuning run has, then classify's own). `None` means:
    the checkpoint's value when resuming, else the default.

    `data` is builtin | sms-spam | path of a CSV/TSV; `init` is scratch | CHECKPOINT (of `tutor run pretrain`) |
    gpt2-small …; `lora_rank` trains LoRA updates of the blocks (and the new head) instead of `trainable`.
    """

    trainable: Optional[str] = None
    token: Optional[str] = None
    max_length: Optional[int] = None


@dataclass(frozen=True)
class Settings:
    """Everything that decides the trajectory of a run; a checkpoint stores it so `--resume` repeats it."""

    data: str
    init: str
    config: str
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    trainable: str
    token: str
    max_length: Optional[int]
    eval_freq: int
    eval_iter: int
    max_steps: Optional[int]
    seed: int
    lora_rank: Optional[int] = None
    lora_alpha: Optional[float] = None


@dataclass(frozen=True)
class ClassifyResult:
    out: Path
    classifier: Optional[Path]
    checkpoint: Optional[Path]
    metrics: Path
    interrupted: bool
    step: int
    total_steps: int
    accuracy: dict = field(default_factory=dict)  # train / validation / test, when finished


def resolve_settings(cfg: ClassifyConfig, saved: Optional[dict]) -> Settings:
    saved = dict(saved or {})

    def pick(key: str, default):
        return cfg.option(key, saved, default)

    init = pick("init", "scratch")
    name = pick("config", "tiny")
    if name not in PRESETS:
        raise RunError(f"--config {name}: choose one of {', '.join(PRESETS)}.")
    p = preset(name)
    s = Settings(
        data=pick("data", "builtin"), init=init, config=name,
        # From scratch, larger batches and a larger step train faster and better (measured on sms-spam with
        # tiny: 95.7% test in 36 s of CPU against 92.0% in 58 s with 8 / 1e-3); fine-tuning keeps the course's.
        epochs=pick("epochs", 5), batch_size=pick("batch_size", 8 if init != "scratch" else 32),
        lr=pick("lr", 5e-5 if init != "scratch" else min(p.lr, 3e-3)), weight_decay=pick("weight_decay", 0.1),
        trainable=pick("trainable", "all" if init == "scratch" else "last-block"),
        token=pick("token", "last"), max_length=pick("max_length", None),
        eval_freq=pick("eval_freq", 50), eval_iter=pick("eval_iter", 5),
        max_steps=cfg.max_steps if cfg.max_steps is not None else saved.get("max_steps"),
        seed=pick("seed", DEFAULT_SEED),
    )
    s = replace(s, **_lora_settings(cfg, saved))
    if s.trainable not in TRAINABLE:
        raise RunError(f"--trainable {s.trainable}: choose one of {', '.join(TRAINABLE)}.")
    if s.token not in TOKENS:
        raise RunError(f"--token {s.token}: choose last or first.")
    for key in ("epochs", "batch_size", "eval_freq", "eval_iter"):
        if getattr(s, key) < 1:
            raise RunError(f"--{key.replace('_', '-')} must be positive (got {getattr(s, key)}).")
    if s.max_length is not None and s.max_length < 1:
        raise RunError(f"--max-length must be positive (got {s.max_length}).")
    if s.max_steps is not None and s.max_steps < 1:
        raise RunError(f"--max-steps must be positive (got {s.max_steps}).")
    if not s.lr > 0:
        raise RunError(f"--lr must be positive (got {s.lr}).")
    return s


def _lora_settings(cfg: ClassifyConfig, saved: dict) -> dict:
    from tutor.runs.lora_wiring import resolve_options

    if cfg.lora_rank is not None and cfg.trainable is not None:
        raise RunError("--lora and --trainable both choose what trains: give one of them.")
    return resolve_options(cfg.lora_rank, cfg.lora_alpha, saved)


def _add_lora(model, settings_or_saved: dict, assembly) -> Optional[dict]:
    """LoRA on the blocks' Linear layers, the new head trained in full; None without --lora."""
    rank = settings_or_saved.get("lora_rank")
    if not rank:
        return None
    from tutor.runs.lora_wiring import add_lora

    return add_lora(model, assembly, rank, settings_or_saved["lora_alpha"], inside=model.trf_blocks,
                    keep_trainable=[model.out_head])


def _first_token_model(model):
    """A view of `model` whose logits have one position, the first: the learner's functions take the last
    position, so through this view they classify from the first token (`--token first`)."""
    import torch

    class FirstTokenView(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner
            self.pos_emb = inner.pos_emb  # classify_text reads the context length from it

        def forward(self, idx):
            return self.inner(idx)[:, :1, :]  # (b, 1, num_classes)

    return FirstTokenView(model)


def _base_model(settings: Settings, GPTModel, saved_model: Optional[dict], assembly=None):
    """The GPT before its head is swapped: random (scratch), a pretraining checkpoint, or GPT-2 weights."""
    if saved_model is not None:  # resuming: the architecture is in the checkpoint; the weights come later
        return GPTModel(dict(saved_model["model_cfg"])), saved_model["model_cfg"], saved_model["init_label"]
    init = settings.init
    if init == "scratch":
        model_cfg = dict(preset(settings.config).model)
        return GPTModel(dict(model_cfg)), model_cfg, f"random weights ({settings.config} architecture)"
    if init.startswith("gpt2-"):
        from tutor.runs import models  # resolves gpt2-* (download, verify, load_weights_into_gpt)

        loaded = models.load_model(init, assembly)
        return loaded.model, dict(loaded.cfg), f"GPT-2 weights ({loaded.label})"
    try:
        saved = ckpt.load_checkpoint(init)
    except ckpt.CheckpointError as e:
        raise RunError(f"--init {init}: {e} (use scratch, a gpt2-* name, or a pretraining checkpoint).") from None
    if saved.get("run") != "pretrain":
        raise RunError(f"--init {init}: that is not a checkpoint of `tutor run pretrain`.")
    model_cfg = dict(saved["model_cfg"])
    model = GPTModel(dict(model_cfg))
    try:
        ckpt.load_parameters(model, saved["model"])
    except ckpt.CheckpointError as e:
        raise RunError(f"--init {init}: {e}") from None
    return model, model_cfg, f"pretrained weights from {ckpt.checkpoint_file(init)}"


def _set_trainable(model, trainable: str) -> None:
    """Widen what prepare_for_classification left trainable (it trains the last block, final_norm, head)."""
    if trainable == "all":
        for p in model.parameters():
            p.requires_grad = True
    elif trainable == "last-two-blocks" and len(model.trf_blocks) > 1:
        for p in model.trf_blocks[-2].parameters():
            p.requires_grad = True


def classify_run(cfg: ClassifyConfig, emit: Emit = lambda e: None, *, stop: Optional[threading.Event] = None,
                 download_progress: Optional[Callable[[int, Optional[int]], None]] = None) -> ClassifyResult:
    """Fine-tune the assembled GPT as a spam classifier, as `cfg` says; return where everything was written.

    Raises:
        RunError: the run cannot start or go on (the message says what to do).
    """
    from tutor.data import sms

    stop = stop or threading.Event()
    saved = None
    if cfg.resume is not None:
        try:
            saved = ckpt.load_checkpoint(cfg.resume)
        except ckpt.CheckpointError as e:
            raise RunError(str(e)) from None
        if saved.get("run") != "classify":
            raise RunError(f"{cfg.resume} is not a checkpoint of `tutor run classify`.")
    settings = resolve_settings(cfg, saved["settings"] if saved else None)
    try:
        messages = sms.load_messages(settings.data, progress=download_progress)
    except DataError as e:
        raise RunError(str(e)) from None
    settings = replace(settings, data=messages.spec)

    assembly, note = prepare_assembly(cfg.workspace, cfg.use_reference)
    import torch
    from torch.utils.data import DataLoader

    from tutor.data.bpe import gpt2_encoding

    tokenizer = gpt2_encoding()
    fn = {name: import_piece(assembly, ex, name) for ex, name in PIECES}
    device = resolve_device(cfg.device)

    out = cfg.out_folder(f"classify-{settings.config if settings.init == 'scratch' else 'ft'}")
    out.mkdir(parents=True, exist_ok=True)
    checkpoint_path, classifier_path = out / ckpt.FILENAME, out / CLASSIFIER_FILE

    # -- data: balanced 70/10/20 split files, padded datasets --------------------------------------------------
    try:
        splits = dict(zip(("train", "validation", "test"), sms.balanced_split(messages.rows)))
    except DataError as e:
        raise RunError(str(e)) from None
    files = {name: sms.write_split(rows, out / "data" / f"{name}.csv") for name, rows in splits.items()}
    counts = {name: len(rows) for name, rows in splits.items()}
    if cfg.batch_size is None and saved is None and 1 <= counts["train"] < settings.batch_size:
        settings = replace(settings, batch_size=counts["train"])  # a small file of one's own still runs
    if min(counts.values()) < 1 or counts["train"] < settings.batch_size:
        raise RunError(f"Too few messages for a {counts['train']}/{counts['validation']}/{counts['test']} split "
                       f"(train/validation/test after balancing) with --batch-size {settings.batch_size}: use a "
                       "file with more messages of each class, or a smaller --batch-size.")

    torch.manual_seed(settings.seed)  # the same seed gives the same initial weights and data order
    model, model_cfg, init_label = _base_model(settings, fn["GPTModel"], saved, assembly)
    ctx = model_cfg["context_length"]
    SpamDataset = fn["SpamDataset"]
    if saved is not None:
        max_length = int(saved["max_length"])
    else:
        longest = SpamDataset(files["train"], tokenizer).max_length
        max_length = min(settings.max_length or longest, ctx)
    train_set = SpamDataset(files["train"], tokenizer, max_length=max_length)
    val_set = SpamDataset(files["validation"], tokenizer, max_length=max_length)
    test_set = SpamDataset(files["test"], tokenizer, max_length=max_length)
    train_loader = DataLoader(train_set, batch_size=settings.batch_size, shuffle=True, drop_last=True)
    eval_train_loader = DataLoader(train_set, batch_size=settings.batch_size, shuffle=False)
    val_loader = DataLoader(val_set, batch_size=settings.batch_size, shuffle=False)
    test_loader = DataLoader(test_set, batch_size=settings.batch_size, shuffle=False)
    steps_per_epoch = len(train_loader)
    total_steps = settings.epochs * steps_per_epoch
    if settings.max_steps is not None:
        total_steps = min(total_steps, settings.max_steps)

    # -- the classifier: the learner's head swap, then the experiment's trainable set ---------------------------
    model = fn["prepare_for_classification"](model, num_classes=2)
    lora = _add_lora(model, asdict(settings), assembly)
    if lora is None:
        _set_trainable(model, settings.trainable)
    model.to(device)
    scored = _first_token_model(model) if settings.token == "first" else model
    names = [n for n, _ in model.named_parameters()]
    trainable = [p for p in model.parameters() if p.requires_grad]
    n_params = sum(p.numel() for p in model.parameters())
    n_trainable = sum(p.numel() for p in trainable)
    if not trainable:
        raise RunError("prepare_for_classification left no parameter trainable; nothing can learn.")
    optimizer = torch.optim.AdamW(trainable, lr=settings.lr, weight_decay=settings.weight_decay,
                                  **fast.optimizer_options(device, cfg.fast))
    step, examples_seen, elapsed_before = 0, 0, 0.0
    history: dict[str, list] = {"step": [], "epoch": [], "examples_seen": [], "train_loss": [], "val_loss": [],
                                "train_acc": [], "val_acc": []}
    resume_epoch_rng = None
    if saved is not None:
        try:
            ckpt.load_parameters(model, saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
        except (ckpt.CheckpointError, ValueError, KeyError) as e:
            raise RunError(f"Cannot resume from {cfg.resume}: {e}") from None
        step, examples_seen = int(saved["step"]), int(saved["examples_seen"])
        elapsed_before = float(saved.get("train_time_s", 0.0))
        history = {k: list(v) for k, v in saved["history"].items()}
        ckpt.set_rng_state(saved["rng"])
        resume_epoch_rng = saved.get("epoch_rng")
    fast_report = fast.make_fast(model, model_cfg, device, compile=cfg.compile, assembly=assembly, loaders=(
        train_loader, eval_train_loader, val_loader, test_loader)) if cfg.fast else None
    if fast.wants_compile(cfg.compile, cfg.fast, device):
        scored = fast.compiled(scored, True)
    model.train()

    learner = set(assembly.learner)
    emit(event(
        "start", run="classify", out=str(out), device=device, filled_in=list(assembly.filled_in),
        learner=list(assembly.learner), assembly=note, total_steps=total_steps, start_step=step,
        pieces=[{"exercise": ex, "name": n, "yours": ex in learner} for ex, n in PIECES],
        loop=("tutor's own training loop (progress, checkpoints, resume); it calls GPTModel, SpamDataset, "
              "prepare_for_classification, calc_loss_batch and calc_accuracy_loader from the assembled modules"),
        init=init_label, config=settings.config, model=model_cfg, parameters=n_params, trainable=n_trainable,
        trainable_setting="lora" if lora else settings.trainable, lora=lora,
        token=settings.token, data=settings.data, data_label=messages.label,
        split=counts, max_length=max_length, steps_per_epoch=steps_per_epoch, epochs=settings.epochs,
        batch_size=settings.batch_size, lr=settings.lr, seed=settings.seed,
        resumed_from=str(cfg.resume) if cfg.resume else None, fast=fast_report.as_dict() if fast_report else None,
    ))

    calc_loss_batch, calc_accuracy_loader = fn["calc_loss_batch"], fn["calc_accuracy_loader"]

    def loss_over(loader, num_batches) -> float:
        total, n = 0.0, 0
        with torch.no_grad(), autocast(device):
            for i, (x, y) in enumerate(loader):
                if i >= num_batches:
                    break
                total += float(calc_loss_batch(x, y, scored, device))
                n += 1
        return total / n if n else float("nan")

    def evaluate() -> None:
        with ckpt.rng_preserved():  # measuring must not change the training that follows
            model.eval()
            train_loss = loss_over(eval_train_loader, settings.eval_iter)
            val_loss = loss_over(val_loader, settings.eval_iter)
            with autocast(device):
                train_acc = float(calc_accuracy_loader(eval_train_loader, scored, device, num_batches=settings.eval_iter))
                val_acc = float(calc_accuracy_loader(val_loader, scored, device, num_batches=settings.eval_iter))
            model.train()
        history["step"].append(step)
        history["epoch"].append(step / steps_per_epoch)
        history["examples_seen"].append(examples_seen)
        for key, value in (("train_loss", train_loss), ("val_loss", val_loss), ("train_acc", train_acc),
                           ("val_acc", val_acc)):
            history[key].append(value)
        emit(event("eval", step=step, train_loss=train_loss, val_loss=val_loss, train_acc=train_acc,
                   val_acc=val_acc, tokens_seen=examples_seen * max_length, examples_seen=examples_seen,
                   epochs_seen=step / steps_per_epoch))

    def save(reason: str) -> None:
        ckpt.save_checkpoint(checkpoint_path, {
            "run": "classify", "model": ckpt.parameters(model), "param_names": names,
            "optimizer": optimizer.state_dict(), "model_cfg": dict(model_cfg), "init_label": init_label,
            "settings": asdict(settings), "max_length": max_length, "step": step, "examples_seen": examples_seen,
            "rng": ckpt.rng_state(), "epoch_rng": epoch_rng, "history": history,
            "train_time_s": elapsed_before + train_time,
            "filled_in": list(assembly.filled_in), "learner": list(assembly.learner),
        })
        emit(event("checkpoint", path=str(checkpoint_path), step=step, reason=reason))

    # -- the loop ----------------------------------------------------------------------------------------------
    t_start = time.perf_counter()
    train_time, session_steps, session_examples, last_progress = 0.0, 0, 0, 0.0
    epoch_rng = resume_epoch_rng
    saved_at = step if saved is not None else None
    if saved is None:
        evaluate()  # step 0: about 50% accuracy on balanced data
    interrupted = False
    with stop_on_sigint(stop):
        try:
            while step < total_steps and not interrupted:
                skip = step % steps_per_epoch
                if skip and resume_epoch_rng is not None:
                    # Continue mid-epoch: replay the epoch's shuffle, skip the batches already trained on.
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
                resume_epoch_rng = None
                for input_batch, target_batch in batches:
                    t0 = time.perf_counter()
                    optimizer.zero_grad(set_to_none=True)
                    with autocast(device):
                        loss = calc_loss_batch(input_batch, target_batch, scored, device)
                    loss.backward()
                    optimizer.step()
                    batch_loss = float(loss.detach())
                    train_time += time.perf_counter() - t0
                    step += 1
                    session_steps += 1
                    examples_seen += len(target_batch)
                    session_examples += len(target_batch)
                    if not math.isfinite(batch_loss):
                        raise RunError(f"The training loss became {batch_loss} at step {step}. Try a smaller --lr.")
                    now = time.perf_counter()
                    if now - last_progress >= 0.1 or step == total_steps:
                        last_progress = now
                        per_step = (now - t_start) / session_steps
                        eps = session_examples / train_time if train_time else 0.0
                        emit(event("progress", epoch=min((step - 1) // steps_per_epoch + 1, settings.epochs),
                                   epochs=settings.epochs, step=step, total_steps=total_steps,
                                   tokens_seen=examples_seen * max_length, tokens_per_s=eps * max_length,
                                   examples_seen=examples_seen, examples_per_s=eps,
                                   eta_s=per_step * (total_steps - step), loss=batch_loss))
                    if step % settings.eval_freq == 0 or step % steps_per_epoch == 0 or step == total_steps:
                        evaluate()
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
    accuracy, confusion = {}, None
    if not interrupted:
        model.eval()
        with autocast(device):
            accuracy = {"train": float(calc_accuracy_loader(eval_train_loader, scored, device)),
                        "validation": float(calc_accuracy_loader(val_loader, scored, device)),
                        "test": float(calc_accuracy_loader(test_loader, scored, device))}
        confusion = _confusion(scored, test_loader, device)
        ckpt.save_checkpoint(classifier_path, {
            "run": "classify-model", "model": ckpt.parameters(model), "model_cfg": dict(model_cfg),
            "max_length": max_length, "token": settings.token, "labels": list(LABELS),
            "settings": asdict(settings), "accuracy": accuracy,
        })
    plots = _plots(out, history, f"{init_label} on {messages.label}" + (" (stopped)" if interrupted else ""))
    wall = time.perf_counter() - t_start
    metrics_path = out / "metrics.json"
    metrics = {
        "run": "classify", "settings": asdict(settings), "init": init_label, "model": model_cfg,
        "parameters": n_params, "trainable_parameters": n_trainable, "lora": lora, "device": device,
        "data": {"spec": settings.data, "label": messages.label, "split": counts, "files": {k: str(v) for k, v in
                                                                                        files.items()}},
        "max_length": max_length, "learner": list(assembly.learner), "filled_in": list(assembly.filled_in),
        "steps_per_epoch": steps_per_epoch, "total_steps": total_steps, "step": step, "interrupted": interrupted,
        "train_accuracy": accuracy.get("train"), "val_accuracy": accuracy.get("validation"),
        "test_accuracy": accuracy.get("test"),
        "confusion_matrix": confusion,
        "examples_per_s": session_examples / train_time if train_time else None,
        "train_time_s": elapsed_before + train_time, "session_wall_s": wall,
        "evals": [dict(zip(history, values)) for values in zip(*history.values())],
        "classifier": str(classifier_path) if accuracy else None,
        "checkpoint": str(checkpoint_path) if saved_at is not None else None, "plots": [str(p) for p in plots],
    }
    write_json(metrics_path, metrics)
    emit(event("done", out=str(out), checkpoint=str(checkpoint_path) if saved_at is not None else None,
               classifier=str(classifier_path) if accuracy else None, metrics=str(metrics_path),
               plots=[str(p) for p in plots], interrupted=interrupted, step=step, total_steps=total_steps,
               accuracy=accuracy, confusion_matrix=confusion, examples_per_s=metrics["examples_per_s"],
               train_time_s=metrics["train_time_s"],
               resume=(f"tutor run classify --resume {checkpoint_path}" if interrupted and saved_at is not None
                       else None)))
    return ClassifyResult(out=out, classifier=classifier_path if accuracy else None,
                          checkpoint=checkpoint_path if saved_at is not None else None, metrics=metrics_path,
                          interrupted=interrupted, step=step, total_steps=total_steps, accuracy=accuracy)


def _confusion(model, loader, device) -> dict:
    """Counts on the test set: rows are the true class, columns the predicted one (0 = not spam, 1 = spam)."""
    import torch

    m = [[0, 0], [0, 0]]
    model.eval()
    with torch.no_grad(), autocast(device):
        for x, y in loader:
            pred = model(x.to(device))[:, -1, :].argmax(dim=-1).cpu()
            for t, p in zip(y.tolist(), pred.tolist()):
                m[t][p] += 1
    return {"labels": list(LABELS), "rows_true_columns_predicted": m,
            "true_negatives": m[0][0], "false_positives": m[0][1], "false_negatives": m[1][0],
            "true_positives": m[1][1]}


def _plots(out: Path, history: dict, title: str) -> list[Path]:
    if len(history["step"]) < 1:
        return []
    from tutor.runs.plot import plot_curves

    return [plot_curves(out / "loss.png", history["epoch"], {"Training loss": history["train_loss"],
                                                             "Validation loss": history["val_loss"]},
                        ylabel="Loss", title=title),
            plot_curves(out / "accuracy.png", history["epoch"], {"Training accuracy": history["train_acc"],
                                                                 "Validation accuracy": history["val_acc"]},
                        ylabel="Accuracy", title=title)]


# -- using a trained classifier ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClassifyTextConfig:
    model: Path  # a run folder or its classifier.pt / checkpoint.pt
    texts: tuple[str, ...]
    device: str = "auto"
    workspace: Any = None
    use_reference: bool = False


def classify_messages(cfg: ClassifyTextConfig, emit: Emit = lambda e: None) -> list[dict]:
    """Label each text with a trained classifier through the learner's `classify_text`; also the spam
    probability (the softmax of the same logits). Emits start, one `label` event per text, done."""
    path = Path(cfg.model).expanduser()
    candidates = [path / CLASSIFIER_FILE, path / ckpt.FILENAME] if path.is_dir() else [path]
    file = next((p for p in candidates if p.is_file()), None)
    if file is None:
        raise RunError(f"--model {cfg.model}: no {CLASSIFIER_FILE} there; give the folder of a finished "
                       "`tutor run classify`.")
    try:
        saved = ckpt.load_checkpoint(file)
    except ckpt.CheckpointError as e:
        raise RunError(str(e)) from None
    if saved.get("run") not in ("classify-model", "classify"):
        raise RunError(f"{file} is not a classifier made by `tutor run classify`.")
    assembly, note = prepare_assembly(cfg.workspace, cfg.use_reference)
    import torch

    from tutor.data.bpe import gpt2_encoding

    GPTModel = import_piece(assembly, "gpt_model", "GPTModel")
    prepare = import_piece(assembly, "classifier", "prepare_for_classification")
    classify_text = import_piece(assembly, "classifier", "classify_text")
    device = resolve_device(cfg.device)
    tokenizer = gpt2_encoding()
    model = prepare(GPTModel(dict(saved["model_cfg"])), num_classes=2)
    _add_lora(model, saved.get("settings", {}), assembly)  # a LoRA classifier: the same wrapping, then its weights
    try:
        ckpt.load_parameters(model, saved["model"])
    except ckpt.CheckpointError as e:
        raise RunError(f"{file}: {e}") from None
    model.to(device).eval()
    token = saved.get("token") or saved.get("settings", {}).get("token", "last")
    scored = _first_token_model(model) if token == "first" else model
    max_length = int(saved["max_length"])
    emit(event("start", run="classify-text", model=str(file), assembly=note, device=device,
               filled_in=list(assembly.filled_in), out=str(file.parent), total_steps=0))
    results = []
    for text in cfg.texts:
        label = classify_text(text, scored, tokenizer, device, max_length=max_length)
        ids = tokenizer.encode(text)[:max_length]
        ids = ids + [50256] * (max_length - len(ids))
        with torch.no_grad():
            logits = scored(torch.tensor([ids], device=device))[:, -1, :]
        p_spam = float(torch.softmax(logits.float(), dim=-1)[0, 1])
        r = {"text": text, "label": label, "spam_probability": p_spam}
        results.append(r)
        emit(event("label", **r))
    emit(event("done", out=str(file.parent), checkpoint=str(file), metrics=None, results=results))
    return results
