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

`pretrain()` reads as its steps: settings, data, model and optimizer, restore, the loop, results. It is the
model classify and instruct follow; what they share (run folder, Ctrl-C, resume, progress) is in
`tutor.runs.common`. Reports go to `emit` as event dicts (see `tutor.runs.events`); nothing here prints or
imports a UI.
"""

from __future__ import annotations

import math
import re
import threading
import time
import types
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Optional

from tutor.data.datasets import DataError, TextSource
from tutor.runs import checkpoint as ckpt
from tutor.runs import fast
from tutor.runs.common import (ProgressMeter, RunError, TrainConfig, TrainState, autocast, epoch_batches,
                               import_piece, load_resume, prepare_assembly, resolve_device, run_folder,
                               stop_on_sigint, write_json)
from tutor.runs.configs import PRESETS, preset
from tutor.runs.events import Emit, event
from tutor.runs.schedule import Schedule, build_schedule, check_options, default_min_lr, schedule_warnings

TRAIN_RATIO = 0.9  # the first 90% of the text trains, the rest validates (as in the course)
DEFAULT_SEED = 123
SAMPLE_PROMPTS = {"verdict": "Every effort moves you", "builtin": "The lighthouse keeper"}
HISTORY = ("step", "epoch", "tokens_seen", "train_loss", "val_loss")  # one list each, a value per evaluation
PIECES = (  # (exercise id, name): what the run takes from the assembled exercises
    ("dataloader", "create_dataloader_v1"), ("gpt_model", "GPTModel"), ("loss", "calc_loss_batch"),
    ("training", "evaluate_model"), ("decoding", "generate"),
)
SCHEDULE_PIECE = (("schedules", "learning_rate"),)  # with --warmup / --min-lr


@dataclass(frozen=True)
class PretrainConfig(TrainConfig):
    """What the learner asked for. `None` means: the checkpoint's value when resuming, else the preset's.

    `data`: builtin | verdict | a UTF-8 text file or a folder of .txt files; `init`: gpt2-small|…|CHECKPOINT|scratch,
    the weights to start from (None: scratch); `max_steps`: stop after this many optimizer steps in all (even
    mid-epoch). The options every training run has are TrainConfig's (tutor.runs.common).
    """

    sample_prompt: Optional[str] = None
    sample_tokens: Optional[int] = None
    stream: Optional[bool] = None  # read windows from a cached token file (None: when the text is large)
    global_batch: Optional[int] = None  # windows per optimizer step over all processes (implies stream)
    ddp: bool = False  # one rank of a torchrun job (tutor.runs.ddp)
    warmup: Optional[int] = None  # --warmup/--min-lr: the learner's learning_rate schedule (tutor.runs.schedule)
    min_lr: Optional[float] = None
    clip: Optional[float] = None  # --clip: the largest gradient norm


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
    init: Optional[str] = None  # what the run started from (`--init`), None for random weights
    stream: bool = False  # windows come from a token file (tutor.runs.streaming), not create_dataloader_v1
    global_batch: Optional[int] = None  # windows per optimizer step over all processes (streaming runs)
    warmup: Optional[int] = None  # None: constant lr (no schedule); else with min_lr, see tutor.runs.schedule
    min_lr: Optional[float] = None
    clip: Optional[float] = None


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
        return cfg.option(key, saved, default)

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
        init=saved.get("init"),
        warmup=pick("warmup", None), min_lr=pick("min_lr", None), clip=pick("clip", None),
    )
    if s.warmup is not None or s.min_lr is not None:  # either flag turns the schedule on; the other defaults
        s = replace(s, warmup=s.warmup if s.warmup is not None else 0,
                    min_lr=s.min_lr if s.min_lr is not None else default_min_lr(s.lr))
    for key in ("epochs", "batch_size", "eval_freq", "eval_iter", "sample_tokens"):
        if getattr(s, key) < (0 if key == "sample_tokens" else 1):
            raise RunError(f"--{key.replace('_', '-')} must be positive (got {getattr(s, key)}).")
    if s.max_steps is not None and s.max_steps < 1:
        raise RunError(f"--max-steps must be positive (got {s.max_steps}).")
    if not s.lr > 0:
        raise RunError(f"--lr must be positive (got {s.lr}).")
    check_options(s.warmup, s.min_lr, s.clip, s.lr)
    return s


def _first_words(text: str, n: int = 4) -> str:
    return " ".join(text.split()[:n])


# -- settings -------------------------------------------------------------------------------------------------------
def settings_and_text(cfg: PretrainConfig, saved: Optional[dict],
                      download_progress=None) -> tuple[Settings, TextSource]:
    """The run's settings (see `resolve_settings`) and its text, loaded (downloaded if need be)."""
    settings = resolve_settings(cfg, saved["settings"] if saved else None)
    try:
        from tutor.runs.streaming import choose_source  # a large text or a folder streams from a token file

        settings, source = choose_source(cfg, settings, saved, download_progress)
    except DataError as e:
        raise RunError(str(e)) from None
    settings = replace(settings, data=source.spec)  # an absolute path, so --resume works from anywhere
    if not settings.sample_prompt:
        settings = replace(settings, sample_prompt=SAMPLE_PROMPTS.get(source.known_as or "")
                           or _first_words(source.text) or "The")
    return settings, source


def out_folder(cfg: PretrainConfig, settings: Settings, initial=None) -> Path:
    """--out, else the resumed run's own folder, else a new `.tutor/runs/pretrain-<name>-<time>`, where the name
    says what the run starts from: the preset (`tiny`), or what `--init` loaded (`initial`, see `init_name`)."""
    return cfg.out_folder(f"pretrain-{init_name(cfg.init, initial) if initial else settings.config}")


def init_name(spec: str, initial) -> str:
    """A folder-name part for `--init`'s weights: `gpt2-small`, or `from-<run>` for one of our checkpoints (the
    run folder's name without its time stamp, which would read as this run's) or `from-<file>` for a file."""
    from tutor.runs.models import PRETRAINED

    if spec in PRETRAINED:
        return spec
    path = Path(initial.path or spec)
    name = path.parent.name if path.name == ckpt.FILENAME else path.stem
    name = re.sub(r"-\d{8}-\d{6}(-\d+)?$", "", name)  # default_out's stamp
    return "from-" + (re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-") or "weights")


def model_label(settings: Settings, initial=None) -> str:
    """What the run trains, for people (start line, plot title): the preset's name for random weights, else what
    `--init` loaded, named as in the run folder (`gpt2-small`, `from <run>`); also when resuming such a run."""
    if settings.init in (None, "scratch"):
        return settings.config
    name = init_name(settings.init, initial if initial is not None else types.SimpleNamespace(path=None))
    return "from " + name.removeprefix("from-") if name.startswith("from-") else name


@dataclass(frozen=True)
class Pieces:
    """What the run takes from the assembled exercises (the learner's modules where they pass)."""

    create_dataloader_v1: Callable
    GPTModel: Callable
    calc_loss_batch: Callable
    evaluate_model: Callable
    generate: Callable
    text_to_token_ids: Callable
    token_ids_to_text: Callable


def import_pieces(assembly) -> Pieces:
    found = {name: import_piece(assembly, ex, name) for ex, name in PIECES}
    found["text_to_token_ids"] = import_piece(assembly, "decoding", "text_to_token_ids")
    found["token_ids_to_text"] = import_piece(assembly, "decoding", "token_ids_to_text")
    return Pieces(**found)


# -- data -----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Data:
    train_loader: Any
    val_loader: Any
    steps_per_epoch: int
    total_steps: int
    n_tokens: int  # of the training and the validation part, each tokenized once
    sha256: str
    stream: Any = None  # the training windows' order when they come from a token file (tutor.runs.streaming)
    characters: Optional[int] = None  # of the text (None: len(source.text))


def prepare_data(settings: Settings, text: str, tokenizer, create_dataloader_v1) -> Data:
    """Split the text 90/10, check both parts are long enough, seed, and cut them into windows.

    The seed is set here, before the loaders and the model exist: the same seed gives the same data order
    and the same initial weights.
    """
    import torch

    split = int(settings.train_ratio * len(text))
    train_text, val_text = text[:split], text[split:]
    ctx = settings.model["context_length"]
    n_train = len(tokenizer.encode(train_text, allowed_special={"<|endoftext|>"}))
    n_val = len(tokenizer.encode(val_text, allowed_special={"<|endoftext|>"}))
    too_short = (f"The training text ({n_train + n_val} tokens in all, {settings.train_ratio:.0%} for training) "
                 f"is too short for one batch of {settings.batch_size} windows of {ctx} tokens. Use a longer text "
                 f"or a smaller --batch-size.")
    no_val = (f"The validation part of the text (its last {1 - settings.train_ratio:.0%}) is shorter than one "
              f"window of {ctx + 1} tokens, so there is no validation loss. Use a longer text.")
    # Checked before the loaders exist: a shuffled DataLoader over no windows fails with a cryptic message.
    if n_train <= ctx:
        raise RunError(too_short)
    if n_val <= ctx:
        raise RunError(no_val)
    torch.manual_seed(settings.seed)
    train_loader = create_dataloader_v1(train_text, batch_size=settings.batch_size, max_length=ctx, stride=ctx,
                                        shuffle=True, drop_last=True, num_workers=0)
    val_loader = create_dataloader_v1(val_text, batch_size=settings.batch_size, max_length=ctx, stride=ctx,
                                      shuffle=False, drop_last=False, num_workers=0)
    steps_per_epoch = len(train_loader)
    if steps_per_epoch == 0:
        raise RunError(too_short)
    if len(val_loader) == 0:
        raise RunError(no_val)
    total_steps = settings.epochs * steps_per_epoch
    if settings.max_steps is not None:
        total_steps = min(total_steps, settings.max_steps)
    return Data(train_loader, val_loader, steps_per_epoch, total_steps, n_train + n_val, _sha256_text(text))


# -- model and optimizer --------------------------------------------------------------------------------------------
def initial_weights(cfg: PretrainConfig, settings: Settings, assembly, download_progress=None):
    """`--init`'s weights, loaded through `tutor.runs.models.load_model` (None for scratch or when resuming),
    and the settings with the model config those weights bring (GPT-2: context 1024, qkv_bias=True)."""
    if cfg.init in (None, "scratch"):
        return None, settings
    if cfg.resume is not None:
        raise RunError("--init starts a run from weights and --resume continues a run: pass only one of them.")
    from tutor.runs import models

    loaded = models.load_model(cfg.init, assembly, drop_rate=settings.model.get("drop_rate", 0.1),
                               progress=download_progress)
    return loaded, replace(settings, model=dict(loaded.cfg), init=cfg.init)


def build_model(GPTModel, settings: Settings, device: str, initial=None):
    """The network the run trains: `--init`'s loaded model (`initial`, from `initial_weights`), else the
    assembled `GPTModel` of the settings' size, freshly initialised."""
    if initial is not None:
        return initial.model.to(device)
    return GPTModel(dict(settings.model)).to(device)


def build_optimizer(model, settings: Settings, device: str, fast: bool = False):
    import torch

    from tutor.runs.fast import optimizer_options

    return torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay,
                             **optimizer_options(device, fast))


# -- restore --------------------------------------------------------------------------------------------------------
def restore(saved: dict, model, optimizer, settings: Settings, data: Data, source: Path) -> tuple[TrainState, list[str]]:
    """Put a stopped run back as it was (parameters, optimizer, random state, history); return warnings."""
    names = [n for n, _ in model.named_parameters()]
    try:
        ckpt.load_parameters(model, saved["model"])
        optimizer.load_state_dict(ckpt.optimizer_state_for(saved["optimizer"], saved["param_names"], names))
    except (ckpt.CheckpointError, ValueError, KeyError) as e:
        raise RunError(f"Cannot resume from {source}: {e}") from None
    for group in optimizer.param_groups:  # an explicit --lr / --weight-decay applies from here on
        group["lr"], group["weight_decay"] = settings.lr, settings.weight_decay
    state = TrainState.from_checkpoint(saved)
    ckpt.set_rng_state(saved["rng"])
    warnings = []
    if saved.get("data_sha256") not in (None, data.sha256):
        warnings.append("The text differs from the one this run started with.")
    if saved.get("steps_per_epoch") not in (None, data.steps_per_epoch):
        warnings.append("The number of batches per epoch changed (another --batch-size or text): the "
                        "continued run will not repeat an uninterrupted one exactly.")
        state.resume_epoch_rng = None
    if state.step >= data.total_steps:
        warnings.append(f"The checkpoint is already at step {state.step} of {data.total_steps}; pass a larger "
                        f"--epochs (or --max-steps) to train further.")
    return state, warnings


# -- the loop -------------------------------------------------------------------------------------------------------
@dataclass
class TrainingLoop:
    """The outer loop, standing in for `train_model_simple`: the same steps and random draws, plus progress,
    samples and checkpoints (which leave the random state untouched)."""

    settings: Settings
    data: Data
    pieces: Pieces
    model: Any
    train_model: Any  # the model, or its torch.compile'd twin
    optimizer: Any
    tokenizer: Any
    device: str
    state: TrainState
    assembly: Any
    checkpoint_path: Path
    emit: Emit
    saved_at: Optional[int] = None  # the step of the last checkpoint written (or loaded)
    schedule: Optional[Schedule] = None  # --warmup/--min-lr/--clip (None: constant lr, no clipping)
    initial: Any = None  # --init's loaded weights (tutor.runs.models.LoadedModel): checked at the step-0 evaluation
    init_check: Optional[dict] = None  # what that check found (tutor.runs.models.init_check)

    def evaluate(self) -> None:
        s, st = self.settings, self.state
        with autocast(self.device):
            train_loss, val_loss = self.pieces.evaluate_model(self.train_model, self.data.train_loader,
                                                              self.data.val_loader, self.device, s.eval_iter)
        train_loss, val_loss = float(train_loss), float(val_loss)
        values = (st.step, st.step / self.data.steps_per_epoch, st.tokens_seen, train_loss, val_loss)
        for key, value in zip(HISTORY, values):
            st.history.setdefault(key, []).append(value)
        lrs = st.history.setdefault("lr", [])  # the lr of the last step taken (of the first one, at step 0)
        lrs[:0] = [s.lr] * (len(st.history["step"]) - 1 - len(lrs))  # a checkpoint from before lr was recorded
        lrs.append(self.schedule.lr_at(0) if st.step == 0 and self.schedule is not None
                   else float(self.optimizer.param_groups[0]["lr"]))
        checked = {}
        if self.initial is not None and st.step == 0:  # --init: do the loaded weights look right?
            from tutor.runs.models import init_check

            self.init_check = checked["init_check"] = init_check(self.initial, val_loss,
                                                                 "gpt2_weights" in self.assembly.learner)
        self.emit(event("eval", step=st.step, train_loss=train_loss, val_loss=val_loss, tokens_seen=st.tokens_seen,
                        epoch=min(st.step // self.data.steps_per_epoch + 1, s.epochs),
                        epochs_seen=st.step / self.data.steps_per_epoch, lr=lrs[-1], **checked))

    def sample(self) -> None:
        import torch

        s = self.settings
        if s.sample_tokens <= 0:
            return
        self.model.eval()
        idx = self.pieces.text_to_token_ids(s.sample_prompt, self.tokenizer).to(self.device)
        # Greedy, like the course's samples; a generate() that draws random numbers anyway must not
        # change the training that follows.
        with torch.no_grad(), autocast(self.device), ckpt.rng_preserved():
            ids = self.pieces.generate(self.model, idx, max_new_tokens=s.sample_tokens,
                                       context_size=s.model["context_length"], temperature=0.0, top_k=None,
                                       eos_id=None)
        self.model.train()
        self.emit(event("sample", step=self.state.step, text=self.pieces.token_ids_to_text(ids.cpu(), self.tokenizer),
                        prompt=s.sample_prompt))

    def save(self, reason: str) -> None:
        ckpt.save_checkpoint(self.checkpoint_path, {
            "run": "pretrain", "model": ckpt.parameters(self.model),
            "param_names": [n for n, _ in self.model.named_parameters()],
            "optimizer": self.optimizer.state_dict(), "model_cfg": dict(self.settings.model),
            "settings": asdict(self.settings), **self.state.checkpoint_fields(), "rng": ckpt.rng_state(),
            "steps_per_epoch": self.data.steps_per_epoch, "data_sha256": self.data.sha256,
            "filled_in": list(self.assembly.filled_in), "learner": list(self.assembly.learner),
            "total_steps": self.data.total_steps,
        })
        self.saved_at = self.state.step
        self.emit(event("checkpoint", path=str(self.checkpoint_path), step=self.state.step, reason=reason))

    def batches(self):
        """The batches of the rest of the current epoch (a streaming run has its own: tutor.runs.streaming)."""
        return epoch_batches(self.data.train_loader, self.state, self.data.steps_per_epoch)

    def backward(self, input_batch, target_batch):
        """The batch's loss, with its gradients computed."""
        with autocast(self.device):
            loss = self.pieces.calc_loss_batch(input_batch, target_batch, self.train_model, self.device)
        loss.backward()
        return loss

    def batch_tokens(self, input_batch) -> int:
        return input_batch.numel()

    def stop_requested(self, stop: threading.Event) -> bool:
        return stop.is_set()

    def train_step(self, input_batch, target_batch) -> float:
        t0 = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.backward(input_batch, target_batch)
        if self.schedule is not None:  # the step's lr, and clipping: after backward(), before step() reads them
            self.schedule.before_step(self.optimizer, self.model.parameters(), self.state.step)
        self.optimizer.step()
        batch_loss = float(loss.detach())
        self.state.train_time_s += time.perf_counter() - t0
        self.state.step += 1
        self.state.tokens_seen += self.batch_tokens(input_batch)
        if not math.isfinite(batch_loss):
            raise RunError(f"The training loss became {batch_loss} at step {self.state.step}. Try a smaller --lr.")
        return batch_loss

    def after_step(self) -> None:
        """The course's schedule: train_model_simple evaluates after steps 1, 1 + eval_freq, ...

        Evaluation draws random numbers (it iterates the shuffled training loader) exactly as there, so with the
        same seed this loop follows train_model_simple's trajectory. An extra evaluation at the very end leaves
        the random state as it was, so a run stopped there by --max-steps and resumed still follows it.
        """
        step = self.state.step
        if (step - 1) % self.settings.eval_freq == 0:
            self.evaluate()
            self.sample()
            self.save("eval")
        elif step == self.data.total_steps:
            with ckpt.rng_preserved():
                self.evaluate()
                self.sample()
            self.save("eval")

    def run(self, stop: threading.Event, meter: ProgressMeter, first_eval: bool) -> bool:
        """Train until the last step or until `stop` is set (Ctrl-C); return whether it was stopped."""
        s, st, data = self.settings, self.state, self.data
        if first_eval:
            with ckpt.rng_preserved():  # not in the course's schedule: must not change what follows
                self.evaluate()  # step 0: the untrained model's loss (about ln(50257) ≈ 10.8), or --init's
        interrupted = False
        with stop_on_sigint(stop):
            try:
                while st.step < data.total_steps and not interrupted:
                    for input_batch, target_batch in self.batches():
                        t0 = time.perf_counter()
                        loss = self.train_step(input_batch, target_batch)
                        meter.step_done(st.step, self.batch_tokens(input_batch), time.perf_counter() - t0, loss=loss,
                                        tokens_seen=st.tokens_seen, epochs=s.epochs,
                                        epoch=min(st.step // data.steps_per_epoch
                                                  + (st.step % data.steps_per_epoch > 0), s.epochs) or 1)
                        self.after_step()
                        if self.stop_requested(stop):
                            interrupted = True
                            break
                        if st.step >= data.total_steps:
                            break
            except KeyboardInterrupt:
                raise RunError(f"Stopped at once (second Ctrl-C) without saving; the last checkpoint is "
                               f"{self.checkpoint_path if self.saved_at is not None else 'none'}.") from None
            if interrupted and self.saved_at != st.step:
                self.save("interrupt")
        return interrupted


# -- results --------------------------------------------------------------------------------------------------------
def write_results(loop: TrainingLoop, out: Path, source: TextSource, n_params: int, interrupted: bool,
                  meter: ProgressMeter, warnings: list[str]) -> PretrainResult:
    """The loss plot, metrics.json, the `done` event, and the result."""
    settings, st, data, history = loop.settings, loop.state, loop.data, loop.state.history
    metrics_path = out / "metrics.json"
    plot_path: Optional[Path] = out / "loss.png"
    if history.get("step"):
        from tutor.runs.plot import plot_losses

        title = f"{model_label(settings, loop.initial)} on {source.label}" + (" (stopped)" if interrupted else "")
        plot_losses(plot_path, history["epoch"], history["tokens_seen"], history["train_loss"],
                    history["val_loss"], title, lrs=history.get("lr"))
    else:
        plot_path = None
    final_train = history["train_loss"][-1] if history.get("train_loss") else None
    final_val = history["val_loss"][-1] if history.get("val_loss") else None
    checkpoint = loop.checkpoint_path if loop.saved_at is not None else None
    metrics = {
        "run": "pretrain", "settings": asdict(settings), "parameters": n_params, "device": loop.device,
        "data": {"spec": settings.data, "label": source.label, "tokens": data.n_tokens,
                 "characters": len(source.text) if data.characters is None else data.characters},
        "learner": list(loop.assembly.learner), "filled_in": list(loop.assembly.filled_in),
        "steps_per_epoch": data.steps_per_epoch, "total_steps": data.total_steps, "step": st.step,
        "interrupted": interrupted, "tokens_seen": st.tokens_seen, "train_loss": final_train, "val_loss": final_val,
        "best_val_loss": min((v for v in history.get("val_loss", []) if math.isfinite(v)), default=None),
        "tokens_per_s": meter.tokens_per_s, "train_time_s": st.train_time_s, "session_wall_s": meter.wall_s,
        "evals": [dict(zip(history, values)) for values in zip(*history.values())],
        "checkpoint": str(checkpoint) if checkpoint else None,
        "plot": str(plot_path) if plot_path else None, "warnings": warnings, "init_check": loop.init_check,
    }
    write_json(metrics_path, metrics)
    result = PretrainResult(out=out, checkpoint=checkpoint, metrics=metrics_path, plot=plot_path,
                            interrupted=interrupted, step=st.step, total_steps=data.total_steps,
                            train_loss=final_train, val_loss=final_val, history=history)
    loop.emit(event("done", out=str(out), checkpoint=str(checkpoint) if checkpoint else None,
                    metrics=str(metrics_path), plot=str(plot_path) if plot_path else None, interrupted=interrupted,
                    step=st.step, total_steps=data.total_steps, train_loss=final_train, val_loss=final_val,
                    tokens_per_s=meter.tokens_per_s,
                    resume=f"tutor run pretrain --resume {checkpoint}" if interrupted and checkpoint else None))
    return result


# -- the run --------------------------------------------------------------------------------------------------------
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

    With `cfg.ddp` under torchrun every rank trains; rank 0 alone reports and writes, and the others return None.
    """
    stop = stop or threading.Event()
    from tutor.runs import ddp, streaming

    if cfg.ddp and not ddp.active():  # join torchrun's processes, then come back here as one of them
        return ddp.run_in_group(pretrain, cfg, emit, stop=stop, download_progress=download_progress)
    saved = load_resume(cfg.resume, "pretrain")
    settings, source = settings_and_text(cfg, saved, download_progress)
    assembly, note = prepare_assembly(cfg.workspace, cfg.use_reference)
    from tutor.data.bpe import gpt2_encoding

    tokenizer = gpt2_encoding()
    pieces = import_pieces(assembly)
    device = ddp.local_device(resolve_device(cfg.device))
    initial, settings = initial_weights(cfg, settings, assembly, download_progress)

    with run_folder(ddp.same_on_all_ranks(out_folder(cfg, settings, initial))) as out:
        if settings.stream:
            data = streaming.prepare_stream(settings, source, emit)
        else:
            data = prepare_data(settings, source.text, tokenizer, pieces.create_dataloader_v1)
        model = build_model(pieces.GPTModel, settings, device, initial)
        optimizer = build_optimizer(model, settings, device, fast=cfg.fast)
        state, warnings = (restore(saved, model, optimizer, settings, data, cfg.resume) if saved is not None
                           else (TrainState(history={key: [] for key in HISTORY}), []))
        schedule = build_schedule(settings, data.total_steps, assembly, cfg.workspace, cfg.use_reference)
        warnings += schedule_warnings(schedule, saved)
        fast_report = fast.make_fast(model, settings.model, device, compile=cfg.compile, assembly=assembly,
                                     loaders=(data.train_loader, data.val_loader)) if cfg.fast else None
        model.train()
        train_model = fast.compiled(model, fast.wants_compile(cfg.compile, cfg.fast, device))
        loop = (streaming.StreamingLoop if settings.stream else TrainingLoop)(
            settings, data, pieces, model, train_model, optimizer, tokenizer, device, state, assembly,
            out / ckpt.FILENAME, emit, saved_at=state.step if saved is not None else None, schedule=schedule,
            initial=initial)
        if ddp.active():
            loop.ddp_model = ddp.wrap(train_model, device)
        n_params = sum(p.numel() for p in model.parameters())
        learner = set(assembly.learner)
        emit(event(
            "start", run="pretrain", out=str(out), device=device, filled_in=list(assembly.filled_in),
            total_steps=data.total_steps, learner=list(assembly.learner), assembly=note,
            pieces=[{"exercise": ex, "name": name, "yours": ex in learner}
                    for ex, name in PIECES + (SCHEDULE_PIECE if schedule and schedule.scheduled else ())],
            loop=("tutor's own training loop (it adds progress, checkpoints and resume) in place of "
                  "train_model_simple; it calls create_dataloader_v1, GPTModel, calc_loss_batch, evaluate_model "
                  "and generate from the assembled modules") if not settings.stream else streaming.LOOP,
            config=settings.config, name=model_label(settings, initial), model=settings.model, parameters=n_params,
            data=settings.data, data_label=source.label, tokens=data.n_tokens,
            characters=len(source.text) if data.characters is None else data.characters,
            steps_per_epoch=data.steps_per_epoch, epochs=settings.epochs, batch_size=settings.batch_size,
            lr=settings.lr, seed=settings.seed, start_step=state.step,
            init=initial.label if initial is not None else settings.init,
            resumed_from=str(cfg.resume) if cfg.resume else None, warnings=warnings,
            schedule=schedule.describe() if schedule else None,
            fast=fast_report.as_dict() if fast_report else None,
        ))
        meter = ProgressMeter(emit, data.total_steps)
        interrupted = loop.run(stop, meter, first_eval=saved is None)
        if not ddp.is_main():
            return None  # DDP: rank 0 alone writes the results
        return write_results(loop, out, source, n_params, interrupted, meter, warnings)


def _sha256_text(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()
