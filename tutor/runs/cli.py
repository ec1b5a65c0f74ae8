"""`tutor run …` and `tutor download`: parse options, build a frozen config, call the run, render its events.

Thin: no training logic here, and no torch at import (the domain modules import it when they run).
With `--events` a run prints one JSON object per line on stdout and nothing else (anything the learner's
code prints goes to stderr); without it, rich progress.
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from pathlib import Path
from typing import NoReturn, Optional

import typer
from rich.console import Console
from rich.markup import escape

run_app = typer.Typer(
    help="Train and use your GPT: every run uses your modules where they pass, and says which it filled in.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
console = Console(highlight=False)
err = Console(stderr=True, highlight=False)

WorkspaceOpt = typer.Option(None, "--workspace", "-w", help="Workspace folder (default: $TUTOR_WORKSPACE, "
                            "else the nearest folder above the current one that holds .tutor/).")
DeviceOpt = typer.Option("auto", "--device", help="auto (cuda, then mps, then cpu) | cpu | cuda | mps.")
EventsOpt = typer.Option(False, "--events", help="Print one JSON event per line on stdout (for programs).")
ReferenceOpt = typer.Option(False, "--reference", help="Use the reference solution for every module.")
FastOpt = typer.Option(False, "--fast", help="Fused kernels (scaled_dot_product_attention, F.layer_norm, F.gelu) in "
                       "your model, after a probe batch shows they compute what your modules do; fused AdamW; on "
                       "CUDA also bf16, TF32, a padded vocabulary and torch.compile; on a CPU cheaper dropout masks, "
                       "and bf16 where its bf16 matmul measures faster (TUTOR_CPU_BF16=0|1 decides).")
CompileOpt = typer.Option(None, "--compile/--no-compile", help="torch.compile the model (default: on with --fast on "
                          "CUDA, else off).")
LoraOpt = typer.Option(None, "--lora", help="Fine-tune with your LoRA at this rank (e.g. 8 or 16): the model is "
                       "frozen, only the low-rank updates train (classify: and its new head).")
LoraAlphaOpt = typer.Option(None, "--lora-alpha", help="LoRA's alpha (the update is scaled by alpha / rank; "
                            "default: the rank).")
LrOpt = typer.Option(None, "--lr", help="AdamW learning rate.")
MaxStepsOpt = typer.Option(None, "--max-steps", help="Stop after N optimizer steps in all.")
ResumeOpt = typer.Option(None, "--resume", help="Continue a stopped run (its checkpoint.pt or folder).")
SourceArg = typer.Argument(..., metavar="RUN|CHECKPOINT", help="A run folder or its checkpoint.pt.")


def _fail(message: str, code: int = 1) -> NoReturn:
    """Print `Error: message` on stderr and exit with `code` (1: the command failed; 2: a usage error)."""
    err.print(f"[bold red]Error:[/] {escape(message)}", soft_wrap=True)  # unwrapped: URLs and paths stay copyable
    raise typer.Exit(code)


def _usage(message: str) -> NoReturn:
    _fail(message, 2)


def _find_workspace(explicit: Optional[Path]):
    from tutor.cli import chosen_workspace  # the global `tutor -w DIR run …` counts too
    from tutor.workspace import WorkspaceError, find_workspace

    try:
        return find_workspace(chosen_workspace(explicit))
    except WorkspaceError as e:
        _usage(str(e))


def _workspace_for_run(workspace: Optional[Path], device: str, config: Optional[str] = None):
    """A run's first step: check --config (when given) and --device, then find the workspace; usage errors exit 2."""
    if config is not None:
        from tutor.runs.configs import PRESETS

        if config not in PRESETS:
            _usage(f"--config {config}: choose one of {', '.join(PRESETS)}.")
    if device not in ("auto", "cpu", "cuda", "mps") and not device.startswith("cuda:"):
        _usage(f"--device {device}: choose auto, cpu, cuda or mps.")
    return _find_workspace(workspace)


def _run(domain, cfg, emit_console, events: bool, **kwargs) -> object:
    """Call `domain(cfg, emit, **kwargs)`; turn failures into an `error` event or a message, and an exit code."""
    from tutor import portable
    from tutor.runs.common import RunError, where_it_failed
    from tutor.runs.events import JsonLines, event

    portable.keep_freed_memory()  # a run's steps reuse the memory they free (the TUI never calls this)

    if events:
        emit = JsonLines(sys.stdout)
        redirect = contextlib.redirect_stdout(sys.stderr)  # stray prints must not break the JSON stream
    else:
        emit = emit_console
        redirect = contextlib.nullcontext()

    def fail(message: str, code: int = 1) -> NoReturn:
        emit(event("error", message=message))  # the console renderer stops its progress bar
        if events:
            raise typer.Exit(code)
        _fail(message, code)

    try:
        with redirect:
            return domain(cfg, emit, **kwargs)
    except RunError as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("Interrupted before the run started.", 130)
    except Exception as e:  # the learner's code can fail in any way: say where, keep the traceback on stderr
        where = where_it_failed(e, _last_assembly())
        traceback.print_exc(file=sys.stderr)
        fail(f"{type(e).__name__}: {e}" + (f" (raised in {where})" if where else ""))


def _run_downloading(domain, cfg, emit_console, events: bool) -> object:
    """`_run` for a run that may fetch weights or data first: without --events, a download bar on stderr."""
    if events:
        return _run(domain, cfg, None, True)
    from tutor.data.download import rich_progress

    with rich_progress("Downloading", console=err) as progress:
        return _run(domain, cfg, emit_console, False, download_progress=progress)


def _exit_if_interrupted(result) -> None:
    """A run stopped by Ctrl-C (its checkpoint saved) exits 130, as an interrupted program does."""
    if result is not None and result.interrupted:
        raise typer.Exit(130)


def _last_assembly():
    """The assembly the run installed (found through the import hook), for naming the failing file."""
    from tutor.assemble import Assembly
    from tutor.exercise_imports import installed_mapping

    mapping = installed_mapping()
    return Assembly(mapping, (), ()) if mapping is not None else None


@run_app.command()
def pretrain(
    data: Optional[str] = typer.Option(None, "--data", help="builtin (stories that ship with tutor; the default), "
                                       "verdict (downloaded once, verified), or the path of a UTF-8 text file or of a "
                                       "folder of .txt files (any size)."),
    config: Optional[str] = typer.Option(None, "--config", help="Model size: tiny (default) | small | gpt2-124M."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Passes over the training text."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Windows per optimizer step."),
    lr: Optional[float] = LrOpt,
    device: str = DeviceOpt,
    out: Optional[Path] = typer.Option(None, "--out",
                                       help="Run folder (default .tutor/runs/pretrain-<config or --init>-<time>)."),
    resume: Optional[Path] = ResumeOpt,
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (default 123): same seed, same run."),
    eval_freq: Optional[int] = typer.Option(None, "--eval-freq", help="Evaluate, sample and checkpoint every N "
                                            "steps (after steps 1, 1+N, …, as train_model_simple does)."),
    eval_iter: Optional[int] = typer.Option(None, "--eval-iter", help="Batches per loss estimate."),
    max_steps: Optional[int] = MaxStepsOpt,
    sample_prompt: Optional[str] = typer.Option(None, "--sample-prompt", help="Text the samples continue."),
    sample_tokens: Optional[int] = typer.Option(None, "--sample-tokens",
                                                help="Tokens per sample at each evaluation (default 30; 0: none)."),
    compile_model: Optional[bool] = CompileOpt,
    fast: bool = FastOpt,
    warmup: Optional[int] = typer.Option(None, "--warmup", help="Warm up the learning rate over N steps, then "
                                         "decay it by a cosine (your learning_rate, from schedules)."),
    min_lr: Optional[float] = typer.Option(None, "--min-lr", help="The schedule's floor: warm-up starts there and "
                                           "the cosine ends there (default: --lr / 10)."),
    clip: Optional[float] = typer.Option(None, "--clip", help="Clip the gradient norm to this before every "
                                         "optimizer step."),
    init: Optional[str] = typer.Option(None, "--init", help="Start from these weights: gpt2-small | gpt2-medium | "
                                       "gpt2-large | gpt2-xl | a checkpoint | a .safetensors file | scratch "
                                       "(default). The model's size comes from the weights."),
    stream: Optional[bool] = typer.Option(None, "--stream/--no-stream", help="Read training windows from a token "
                                          "file cached once (default: for texts over 8 MiB and folders of .txt "
                                          "files over that); --no-stream keeps your create_dataloader_v1."),
    global_batch: Optional[int] = typer.Option(None, "--global-batch", help="Windows per optimizer step over all "
                                               "processes, a multiple of --batch-size × processes: the rest is "
                                               "gradient accumulation (implies --stream)."),
    ddp: bool = typer.Option(False, "--ddp", help="One process of a DistributedDataParallel run: start it with "
                             "torchrun --nproc_per_node=N -m tutor run pretrain --ddp … (implies --stream)."),
    reference: bool = ReferenceOpt,
    events: bool = EventsOpt,
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Pretrain your GPT on a text: live loss, samples, a loss plot, metrics.json and checkpoints.

    Ctrl-C saves a checkpoint and stops; [bold]--resume[/] continues exactly where it stopped.
    """
    ws = _workspace_for_run(workspace, device, config)
    from tutor.runs.pretrain import PretrainConfig, pretrain as run_pretrain
    from tutor.runs.render import PretrainConsole

    cfg = PretrainConfig(data=data, config=config, epochs=epochs, batch_size=batch_size, lr=lr, eval_freq=eval_freq,
                         eval_iter=eval_iter, max_steps=max_steps, seed=seed, sample_prompt=sample_prompt,
                         sample_tokens=sample_tokens,
                         device=device, out=out, resume=resume, workspace=ws, use_reference=reference,
                         compile=compile_model, fast=fast, init=init, stream=stream, global_batch=global_batch,
                         ddp=ddp, warmup=warmup, min_lr=min_lr, clip=clip)
    _exit_if_interrupted(_run_downloading(run_pretrain, cfg, PretrainConsole(console), events))


@run_app.command()
def generate(
    prompt: str = typer.Option(..., "--prompt", "-p", help="The text to continue."),
    weights: Optional[str] = typer.Option(None, "--weights", help="gpt2-small | gpt2-medium | gpt2-large | gpt2-xl "
                                          "(OpenAI's weights, downloaded once), a checkpoint.pt of tutor run "
                                          "pretrain or its run folder (default: the workspace's latest run)."),
    max_new_tokens: int = typer.Option(50, "--max-new-tokens", help="At most this many new tokens."),
    temperature: float = typer.Option(0.8, "--temperature", help="0 = always the most likely token; higher = "
                                      "more varied."),
    top_k: int = typer.Option(40, "--top-k", help="Sample only among the k most likely tokens (0 = all)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed for sampling (default: a fresh one)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Decode without your KV cache (the plain GPTModel "
                                  "re-reads the whole window every step), to compare the speed."),
    device: str = DeviceOpt,
    reference: bool = ReferenceOpt,
    events: bool = EventsOpt,
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Continue a prompt with a trained checkpoint or OpenAI's GPT-2, using your generate() (temperature, top-k)."""
    ws = _workspace_for_run(workspace, device)
    from tutor.runs.generate import GenerateConfig, generate_text
    from tutor.runs.render import GenerateConsole

    cfg = GenerateConfig(prompt=prompt, weights=weights, max_new_tokens=max_new_tokens, temperature=temperature,
                         top_k=top_k or None, seed=seed, device=device, workspace=ws, use_reference=reference,
                         use_cache=not no_cache)
    _run_downloading(generate_text, cfg, GenerateConsole(console), events)


@run_app.command()
def instruct(
    data: Optional[str] = typer.Option(None, "--data", help="builtin (about 150 entries that ship with tutor; the "
                                       "default), book (the course's 1,100, downloaded once, verified), or a JSON "
                                       "file of {instruction, input, output}."),
    init: Optional[str] = typer.Option(None, "--init", help="Start from gpt2-small | gpt2-medium (the default) | "
                                       "gpt2-large | gpt2-xl, a checkpoint.pt of yours (or its run folder), or "
                                       "scratch (random weights of --config's size)."),
    config: Optional[str] = typer.Option(None, "--config", help="With --init scratch: tiny (default) | small | "
                                         "gpt2-124M."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Passes over the training entries (default 2)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Entries per optimizer step (default 8)."),
    lr: Optional[float] = typer.Option(None, "--lr", help="AdamW learning rate (default 5e-5)."),
    mask_prompt: Optional[bool] = typer.Option(None, "--mask-prompt/--no-mask-prompt",
                                               help="Leave the prompt's tokens out of the loss (default: no)."),
    max_steps: Optional[int] = MaxStepsOpt,
    eval_freq: Optional[int] = typer.Option(None, "--eval-freq", help="Evaluate, sample and checkpoint every N "
                                            "steps (default 5)."),
    response_tokens: Optional[int] = typer.Option(None, "--response-tokens",
                                                  help="At most this many tokens per test response (default 256, or the context length if shorter)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (default 123): the split and the run."),
    lora: Optional[int] = LoraOpt,
    lora_alpha: Optional[float] = LoraAlphaOpt,
    device: str = DeviceOpt,
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default .tutor/runs/instruct-<init>-<time>)."),
    resume: Optional[Path] = ResumeOpt,
    model: Optional[str] = typer.Option(None, "--model", help="Ask a finished run (its folder) one --instruction "
                                        "instead of training."),
    instruction: Optional[str] = typer.Option(None, "--instruction", help="What the model should do (with --model)."),
    input_text: str = typer.Option("", "--input", help="The instruction's input, if it has one (with --model)."),
    fast: bool = FastOpt,
    compile_model: Optional[bool] = CompileOpt,
    reference: bool = ReferenceOpt,
    events: bool = EventsOpt,
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Fine-tune your GPT to follow instructions, then answer the test entries into responses.json.

    Ctrl-C saves a checkpoint and stops; [bold]--resume[/] continues. [bold]tutor run judge[/] scores the answers.
    With [bold]--model RUN --instruction "…"[/] the run's model answers one instruction (Alpaca prompt) instead.
    """
    if model is not None or instruction is not None:
        _instruct_answer(model, instruction, input_text, response_tokens, device, reference, events, workspace)
        return
    ws = _workspace_for_run(workspace, device, config)
    from tutor.runs.instruct import InstructConfig, instruct as run_instruct
    from tutor.runs.render import InstructConsole

    cfg = InstructConfig(data=data, init=init, config=config, epochs=epochs, batch_size=batch_size, lr=lr,
                         mask_prompt=mask_prompt, max_steps=max_steps, eval_freq=eval_freq,
                         response_tokens=response_tokens, seed=seed, device=device, out=out, resume=resume,
                         workspace=ws, use_reference=reference, fast=fast, compile=compile_model,
                         lora_rank=lora, lora_alpha=lora_alpha)
    _exit_if_interrupted(_run_downloading(run_instruct, cfg, InstructConsole(console), events))


def _instruct_answer(model, instruction, input_text, response_tokens, device, reference, events, workspace) -> None:
    """`tutor run instruct --model RUN --instruction TEXT [--input TEXT]`: one answer, streamed (tutor.runs.chat)."""
    if model is None or not (instruction or "").strip():
        _usage("--model RUN_DIR and --instruction \"…\" go together (ask a finished tutor run instruct one thing).")
    ws = _workspace_for_run(workspace, device)
    from tutor.runs.chat import ChatConfig, answer_instruction
    from tutor.runs.render import GenerateConsole

    cfg = ChatConfig(model=model, instruction=instruction, input=input_text, response_tokens=response_tokens,
                     device=device, workspace=ws, use_reference=reference)
    _run(answer_instruction, cfg, GenerateConsole(console), events)


@run_app.command()
def judge(
    responses: Path = typer.Argument(..., metavar="RESPONSES.json", help="Entries with instruction, input, output "
                                     "and a response under --response-key (the course's instruction-data-with-response.json is one)."),
    model: Optional[str] = typer.Option(None, "--model", help="The judge: a model pulled into Ollama (default "
                                        "llama3); with --api openai, one the server serves (default: its only "
                                        "one)."),
    host: Optional[str] = typer.Option(None, "--host", help="The server's URL (default: $OLLAMA_HOST, else "
                                       "http://localhost:11434; with --api openai http://localhost:8080)."),
    api: str = typer.Option("ollama", "--api", help="ollama (the default) | openai: a server speaking the OpenAI "
                            "chat API (llama.cpp's llama-server, vLLM); $OPENAI_API_KEY is sent if set."),
    response_key: str = typer.Option("model_response", "--response-key", help="The key of the response to judge."),
    timeout: float = typer.Option(120.0, "--timeout", help="Seconds to wait for each reply."),
    retries: int = typer.Option(2, "--retries", help="Tries again after a timeout or a dropped connection."),
    out: Optional[Path] = typer.Option(None, "--out", help="Results file, JSON lines (default: next to "
                                       "RESPONSES.json, named after the judge)."),
    restart: bool = typer.Option(False, "--restart", help="Judge everything again instead of resuming."),
    reference: bool = ReferenceOpt,
    events: bool = EventsOpt,
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Score responses 0-100 with a stronger model through Ollama: average, histogram, worst answers.

    Results are saved as they arrive; run the same command again to resume an interrupted run.
    [bold]--api openai[/] judges through llama.cpp, vLLM or any server speaking the OpenAI chat API.
    """
    if timeout <= 0 or retries < 0:
        _usage("--timeout must be positive and --retries at least 0.")
    if api not in ("ollama", "openai"):
        _usage(f"--api {api}: choose ollama or openai.")
    ws = _find_workspace(workspace)
    from tutor.runs.judge import JudgeConfig, judge as run_judge
    from tutor.runs.render_eval import JudgeConsole

    cfg = JudgeConfig(responses=responses, model=model or ("llama3" if api == "ollama" else None), host=host,
                      response_key=response_key, out=out, timeout=timeout, retries=retries, restart=restart,
                      workspace=ws, use_reference=reference, api=api)
    _exit_if_interrupted(_run(run_judge, cfg, JudgeConsole(console), events))


@run_app.command()
def mmlu(
    data: str = typer.Option("builtin", "--data", help="builtin (42 questions that ship with tutor), mmlu (the "
                             "public test set: 14,042 questions in 57 subjects, downloaded once, verified) or a "
                             "JSON file of {question, choices: {A, B, C, D}, answer, subject}."),
    subjects: Optional[str] = typer.Option(None, "--subjects", help="Only these subjects, comma-separated."),
    model: Optional[str] = typer.Option(None, "--model", help="A checkpoint.pt or its run folder (default: the "
                                        "workspace's latest run), or gpt2-small | gpt2-medium | gpt2-large | "
                                        "gpt2-xl (OpenAI's weights)."),
    shots: int = typer.Option(0, "--shots", help="Solved examples of the same subject before each question (0-5; "
                              "for mmlu, its dev examples)."),
    device: str = DeviceOpt,
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default .tutor/runs/mmlu-<time>)."),
    reference: bool = ReferenceOpt,
    events: bool = EventsOpt,
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Multiple-choice accuracy with your choice_logprobs: per subject and overall, next to the 25% of guessing."""
    ws = _workspace_for_run(workspace, device)
    from tutor.runs.mmlu import MmluConfig, mmlu as run_mmlu
    from tutor.runs.render_eval import MmluConsole

    picked = tuple(s.strip() for s in (subjects or "").split(",") if s.strip())
    cfg = MmluConfig(data=data, subjects=picked, model=model, shots=shots, device=device, out=out, workspace=ws,
                     use_reference=reference)
    _run_downloading(run_mmlu, cfg, MmluConsole(console), events)


@run_app.command()
def classify(
    data: Optional[str] = typer.Option(None, "--data", help="builtin (messages that ship with tutor; the default), "
                                       "sms-spam (the SMS Spam Collection, downloaded once), or a CSV/TSV with "
                                       "Label and Text columns."),
    init: Optional[str] = typer.Option(None, "--init", help="scratch (random weights; the default) | a checkpoint "
                                       "of tutor run pretrain | gpt2-small."),
    config: Optional[str] = typer.Option(None, "--config", help="Model size for --init scratch: tiny (default) | "
                                         "small | gpt2-124M."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Passes over the training messages (default 5)."),
    trainable: Optional[str] = typer.Option(None, "--trainable", help="last-block (the course's choice for "
                                            "pretrained weights) | last-two-blocks | all (the default from scratch)."),
    token: Optional[str] = typer.Option(None, "--token", help="last (default) | first: which position's output "
                                        "classifies the message."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Messages per optimizer step (default 32 "
                                            "from scratch, 8 when fine-tuning)."),
    lr: Optional[float] = LrOpt,
    max_length: Optional[int] = typer.Option(None, "--max-length", help="Pad/cut messages to this many tokens "
                                             "(default: the longest training message, at most the context)."),
    eval_freq: Optional[int] = typer.Option(None, "--eval-freq", help="Evaluate and checkpoint every N steps "
                                            "(and at the end of each epoch)."),
    eval_iter: Optional[int] = typer.Option(None, "--eval-iter", help="Batches per loss/accuracy estimate."),
    max_steps: Optional[int] = MaxStepsOpt,
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (default 123)."),
    lora: Optional[int] = LoraOpt,
    lora_alpha: Optional[float] = LoraAlphaOpt,
    device: str = DeviceOpt,
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default .tutor/runs/classify-…-<time>)."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue a stopped run (checkpoint.pt or folder)."),
    model: Optional[Path] = typer.Option(None, "--model", help="Use a trained classifier (its run folder) on "
                                         "--text or --file instead of training."),
    text: Optional[list[str]] = typer.Option(None, "--text", help="A message to classify (with --model; repeatable)."),
    file: Optional[Path] = typer.Option(None, "--file", help="Messages to classify, one per line (with --model)."),
    fast: bool = FastOpt,
    compile_model: Optional[bool] = CompileOpt,
    reference: bool = ReferenceOpt,
    events: bool = EventsOpt,
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Fine-tune your GPT into a spam classifier: live accuracy, metrics.json, curves, the classifier.

    With [bold]--model RUN --text "…"[/] it classifies messages instead. Ctrl-C saves a checkpoint;
    [bold]--resume[/] continues.
    """
    ws = _workspace_for_run(workspace, device)
    from tutor.runs.render import ClassifyConsole

    if model is not None or text or file is not None:
        if model is None:
            _usage("--text and --file need --model RUN_DIR (the folder of a finished tutor run classify).")
        texts = list(text or [])
        if file is not None:
            try:
                texts += [line for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
            except (OSError, UnicodeDecodeError) as e:
                _usage(f"--file {file}: {e}")
        if not texts:
            _usage("give --text \"a message\" or --file FILE (one message per line).")
        from tutor.runs.classify import ClassifyTextConfig, classify_messages

        tcfg = ClassifyTextConfig(model=model, texts=tuple(texts), device=device, workspace=ws,
                                  use_reference=reference)
        _run(classify_messages, tcfg, ClassifyConsole(console), events)
        return
    from tutor.runs.classify import ClassifyConfig, classify_run

    cfg = ClassifyConfig(data=data, init=init, config=config, epochs=epochs, batch_size=batch_size, lr=lr,
                         trainable=trainable, token=token, max_length=max_length, eval_freq=eval_freq,
                         eval_iter=eval_iter, max_steps=max_steps, seed=seed, device=device, out=out,
                         resume=resume, workspace=ws, use_reference=reference, fast=fast, compile=compile_model,
                         lora_rank=lora, lora_alpha=lora_alpha)
    _exit_if_interrupted(_run_downloading(classify_run, cfg, ClassifyConsole(console), events))


def download(
    name: str = typer.Argument(..., metavar="NAME", help="What to fetch: verdict, sms-spam, book, mmlu, gpt2-small, "
                                "gpt2-medium, "
                                "gpt2-large or gpt2-xl (OpenAI's weights)."),
    from_file: Optional[Path] = typer.Option(None, "--from", help="Import a file you downloaded yourself "
                                             "(it is verified against the pinned SHA-256, or by content)."),
) -> None:
    """Fetch a data file or GPT-2's weights into the cache (verified), or import one you downloaded by hand."""
    from tutor.data.datasets import REMOTE_FILES, fetch, import_file, read_marker

    if name == "sms-spam":
        _download_sms_spam(from_file)
        return
    if name == "mmlu":
        _download_mmlu(from_file)
        return
    if name not in REMOTE_FILES:
        _usage(f"unknown name {name!r}; choose one of: {', '.join([*REMOTE_FILES, 'sms-spam', 'mmlu'])}.")
    path = _fetch_or_import(REMOTE_FILES[name].filename, lambda progress: fetch(name, progress=progress),
                            lambda source: import_file(name, source), from_file)
    console.print(f"[green]Verified[/] {escape(str(path))}")
    source = read_marker(path).get("source", "pinned")
    if source != "pinned":
        console.print(f"  SHA-256 {read_marker(path).get('sha256')}: {escape(source)}")


def _fetch_or_import(filename: str, fetch, import_, from_file: Optional[Path]) -> Path:
    """`import_(from_file)` when --from is given, else `fetch(progress=…)` under a bar "Downloading FILENAME";
    either way verified by the data module, and a DataError exits 1 with its message."""
    from tutor.data.datasets import DataError
    from tutor.data.download import rich_progress

    try:
        if from_file is not None:
            return import_(from_file)
        with rich_progress(f"Downloading {filename}", console=err) as progress:
            return fetch(progress=progress)
    except DataError as e:
        _fail(str(e))


def _download_sms_spam(from_file: Optional[Path]) -> None:
    """The SMS Spam Collection: the zip downloaded (or a hand-downloaded zip / SMSSpamCollection), verified by
    its content (5,574 lines, 4,827 ham, 747 spam), cached."""
    from tutor.data import sms

    path = _fetch_or_import(sms.ZIP_NAME, sms.fetch_collection, sms.import_collection, from_file)
    console.print(f"[green]Verified[/] {escape(str(path))} (5,574 messages: 4,827 ham, 747 spam)")


def _download_mmlu(from_file: Optional[Path]) -> None:
    """MMLU: data.tar downloaded (or a hand-downloaded tar / its folder), verified by content, cached."""
    from tutor.data import mmlu as mmlu_data

    path = _fetch_or_import(mmlu_data.TAR_NAME, mmlu_data.fetch, mmlu_data.import_source, from_file)
    console.print(f"[green]Verified[/] {escape(str(path))} (14,042 test questions in 57 subjects)")


@run_app.command("eval")
def eval_(
    source: Path = SourceArg,
    tasks: str = typer.Option("hellaswag", "--tasks", help="Comma-separated harness tasks, e.g. hellaswag,mmlu."),
    limit: Optional[int] = typer.Option(None, "--limit", help="At most N examples per task (quick looks)."),
    batch_size: int = typer.Option(8, "--batch-size", help="Examples per forward pass."),
    device: str = DeviceOpt,
    events: bool = EventsOpt,
) -> None:
    """Score a checkpoint with EleutherAI's lm-evaluation-harness (optional: pip install 'gpt-tutor[eval]').

    The harness downloads each task's data on first use. [bold]tutor run mmlu[/] is your own implementation.
    """
    from tutor.runs.harness import EvalConfig, run_eval

    cfg = EvalConfig(source=source, tasks=tuple(t.strip() for t in tasks.split(",") if t.strip()), limit=limit,
                     device=device, batch_size=batch_size)

    def show(ev: dict) -> None:
        if ev["event"] == "start":
            err.print(f"Exported to the Hugging Face layout; running the harness on {escape(', '.join(cfg.tasks))}…")
        elif ev["event"] == "done":
            console.print(ev["table"], markup=False)

    _run(run_eval, cfg, show, events)


def export(
    source: Path = SourceArg,
    fmt: str = typer.Option(..., "--format", "-f", help="hf (a folder transformers loads) | gguf (llama.cpp, "
                            "Ollama)."),
    out: Optional[Path] = typer.Option(None, "--out", help="hf: a folder; gguf: a .gguf file or a folder "
                                       "(default: hf/ or gguf/ beside the checkpoint)."),
    dtype: str = typer.Option("f16", "--dtype", help="gguf precision: f16 | f32 | q8_0."),
    template: str = typer.Option("auto", "--template", help="gguf Modelfile prompt: auto (Alpaca for "
                                 "instruction-tuned runs) | alpaca | raw."),
) -> None:
    """Export your model for other tools: Hugging Face transformers, or GGUF for llama.cpp and Ollama."""
    from tutor.export.commands import export_model
    from tutor.runs.common import RunError

    try:
        result = export_model(source, fmt, out, dtype=dtype, template=template)
    except RunError as e:
        _fail(str(e))
    mb = result.total_bytes / 1e6
    console.print(f"[green]Exported[/] {escape(str(result.out))} ({len(result.files)} files, {mb:.1f} MB, "
                  f"{result.seconds:.1f} s)")
    console.print(escape(result.note))


def import_(
    folder: Path = typer.Argument(..., metavar="DIR", help="A Hugging Face GPT-2 folder (config.json, "
                                  "model.safetensors)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder or .pt file to write (default: a new "
                                       "import-<name>-<time> run folder)."),
    workspace: Optional[Path] = WorkspaceOpt,
) -> None:
    """Read a Hugging Face GPT-2 model (e.g. fine-tuned elsewhere) into a tutor checkpoint."""
    from tutor.export.commands import import_model
    from tutor.runs.common import RunError

    ws = _find_workspace(workspace) if out is None else None
    try:
        path = import_model(folder, out, workspace=ws)
    except RunError as e:
        _fail(str(e))
    console.print(f"[green]Imported[/] {escape(str(path))}: use it with tutor run generate --weights "
                  f"{escape(str(path.parent))}")
