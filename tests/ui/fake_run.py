"""A stand-in for `tutor run … --events` that the UI tests launch instead of the real runs.

It speaks the same JSON-lines contract (start, progress, eval, sample, checkpoint, done; token for generate;
label for `classify --model --text`; token and done's response for `instruct --model --instruction`)
fast and without torch, and on SIGINT saves a (fake) checkpoint and exits, as a real run does. Knobs:
FAKE_RUN_STEPS (default 30), FAKE_RUN_STEP_S (default 0.02), FAKE_RUN_FAIL=1 (print an error event, exit 1).
It also appends its own argv to $FAKE_RUN_LOG when set, so tests can check the options the app passed.
"""

import json
import os
import signal
import sys
import time
from pathlib import Path

stop = False


def on_sigint(signum, frame):
    global stop
    stop = True


def emit(**event):
    print(json.dumps(event), flush=True)


def option(argv, name, default=None):
    return argv[argv.index(name) + 1] if name in argv else default


def pretrain(argv):
    ws = Path(option(argv, "--workspace", "."))
    out = ws / ".tutor" / "runs" / f"pretrain-fake-{os.getpid()}"
    steps = int(os.environ.get("FAKE_RUN_STEPS", "30")) * int(option(argv, "--epochs", "1"))
    step_s = float(os.environ.get("FAKE_RUN_STEP_S", "0.02"))
    emit(event="start", run="pretrain", out=str(out), device="cpu", filled_in=["training"], total_steps=steps)
    if os.environ.get("FAKE_RUN_FAIL"):
        emit(event="error", message="out of memory (pretend)")
        sys.exit(1)
    print("a line that is not JSON, as a stray print would be", flush=True)
    step = 0
    for step in range(1, steps + 1):
        if stop:
            break
        time.sleep(step_s)
        tokens = step * 256
        emit(event="progress", epoch=1, step=step, total_steps=steps, tokens_seen=tokens,
             tokens_per_s=12800.0, eta_s=(steps - step) * step_s)
        if step % 5 == 0:
            emit(event="eval", step=step, train_loss=10.0 / step ** 0.5, val_loss=10.5 / step ** 0.5,
                 tokens_seen=tokens)
            emit(event="sample", step=step, text=f"Every effort moves you {'forward ' * (step // 5)}")
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "model.pt"
    ckpt.write_bytes(b"fake checkpoint")
    emit(event="checkpoint", path=str(ckpt))
    emit(event="done", out=str(out), checkpoint=str(ckpt), metrics={"steps": step, "stopped": stop})


def generate(argv):
    n = int(option(argv, "--max-new-tokens", "10"))
    emit(event="start", weights=option(argv, "--weights"), device="cpu")
    words = [" and", " the", " lighthouse", " keeper", " counted", " seven", " ships", "."] * 20
    for word in words[:n]:
        if stop:
            break
        time.sleep(0.005)
        emit(event="token", text=word)
    emit(event="done", tokens=n, tokens_per_s=200.0)


def classify(argv):
    """`classify --model RUN --text …`: a message with "free" or "won" in it is spam."""
    text = option(argv, "--text", "")
    emit(event="start", run="classify-text", model=option(argv, "--model"), device="cpu", filled_in=[],
         out=option(argv, "--model"), total_steps=0)
    if os.environ.get("FAKE_RUN_FAIL"):
        emit(event="error", message="the classifier is broken (pretend)")
        sys.exit(1)
    spam = any(word in text.lower() for word in ("free", "won"))
    p = 0.97 if spam else 0.04
    emit(event="label", text=text, label="spam" if spam else "not spam", spam_probability=p)
    emit(event="done", out=option(argv, "--model"), checkpoint=None, metrics=None,
         results=[{"text": text, "label": "spam" if spam else "not spam", "spam_probability": p}])


def instruct(argv):
    """`instruct --model RUN --instruction … [--input …]`: answers in words, then the cleaned response."""
    instruction, given = option(argv, "--instruction", ""), option(argv, "--input", "")
    emit(event="start", run="chat", weights=option(argv, "--model"), device="cpu", filled_in=[], out=None,
         total_steps=5, instruction=instruction, input=given, prompt=f"### Instruction:\n{instruction}")
    words = [" The", " answer", " is", " blue", "."]
    step_s = float(os.environ.get("FAKE_RUN_STEP_S", "0.005"))
    for word in words:
        if stop:
            break
        time.sleep(step_s)
        emit(event="token", text=word)
    if stop:
        sys.exit(130)
    text = "".join(words)
    emit(event="done", out=None, checkpoint=option(argv, "--model"), metrics=None, text=text, tokens=len(words),
         tokens_per_s=50.0, response=text.strip())


def main():
    signal.signal(signal.SIGINT, on_sigint)
    argv = sys.argv[1:]
    if os.environ.get("FAKE_RUN_LOG"):
        with open(os.environ["FAKE_RUN_LOG"], "a") as fh:
            fh.write(json.dumps(argv) + "\n")
    {"pretrain": pretrain, "generate": generate, "classify": classify, "instruct": instruct}[argv[0]](argv)


if __name__ == "__main__":
    main()
