"""A stand-in for `tutor run … --events` that the UI tests launch instead of the real runs.

It speaks the same JSON-lines contract (start, progress, eval, sample, checkpoint, done; token for generate;
eval with accuracy for classify, label for `classify --model --text`; response for instruct, token and
done's response for `instruct --model --instruction`; judged for judge) fast and without torch, and on
SIGINT saves a (fake) checkpoint and exits, as a real run does. Knobs:
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
    """Loss and accuracy per eval; `--data sms-spam` with FAKE_RUN_NOT_DOWNLOADED=1 fails with the real
    message the data module gives when the collection is not in the cache (TUTOR_OFFLINE)."""
    if "--text" in argv:
        return classify_text(argv)
    ws = Path(option(argv, "--workspace", "."))
    if option(argv, "--data") == "sms-spam" and os.environ.get("FAKE_RUN_NOT_DOWNLOADED"):
        from tutor.data import sms

        os.environ["TUTOR_OFFLINE"] = "1"
        try:
            sms.fetch_collection()
        except sms.DataError as e:
            emit(event="error", message=str(e))
            sys.exit(1)
    out = ws / ".tutor" / "runs" / f"classify-fake-{os.getpid()}"
    steps = int(os.environ.get("FAKE_RUN_STEPS", "20"))
    step_s = float(os.environ.get("FAKE_RUN_STEP_S", "0.01"))
    emit(event="start", run="classify", out=str(out), device="cpu", filled_in=["classifier"], total_steps=steps)
    for step in range(1, steps + 1):
        if stop:
            break
        time.sleep(step_s)
        emit(event="progress", epoch=1, step=step, total_steps=steps, tokens_seen=step * 8 * 40,
             tokens_per_s=3200.0, examples_seen=step * 8, examples_per_s=80.0, eta_s=(steps - step) * step_s)
        if step % 5 == 0:
            emit(event="eval", step=step, train_loss=0.7 / step ** 0.5, val_loss=0.75 / step ** 0.5,
                 train_acc=min(0.5 + step / 40, 0.975), val_acc=min(0.5 + step / 45, 0.9125),
                 tokens_seen=step * 8 * 40, examples_seen=step * 8)
    out.mkdir(parents=True, exist_ok=True)
    (out / "checkpoint.pt").write_bytes(b"fake")
    (out / "classifier.pt").write_bytes(b"fake")
    emit(event="checkpoint", path=str(out / "checkpoint.pt"))
    emit(event="done", out=str(out), checkpoint=str(out / "checkpoint.pt"), classifier=str(out / "classifier.pt"),
         metrics=str(out / "metrics.json"), interrupted=stop,
         accuracy={} if stop else {"train": 0.975, "validation": 0.9125, "test": 0.9333},
         resume=f"tutor run classify --resume {out / 'checkpoint.pt'}" if stop else None)


def classify_text(argv):
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
    """Training, then one response event per test entry, then responses.json."""
    if "--instruction" in argv:
        return instruct_chat(argv)
    ws = Path(option(argv, "--workspace", "."))
    out = ws / ".tutor" / "runs" / f"instruct-fake-{os.getpid()}"
    steps = 10
    emit(event="start", run="instruct", out=str(out), device="cpu", filled_in=[], total_steps=steps)
    for step in range(1, steps + 1):
        time.sleep(0.01)
        emit(event="progress", epoch=1, step=step, total_steps=steps, tokens_seen=step * 500, tokens_per_s=9000.0,
             eta_s=0.0)
        if step % 5 == 0:
            emit(event="eval", step=step, train_loss=3.0 / step, val_loss=3.2 / step, tokens_seen=step * 500)
    rows = [{"instruction": f"Name a colour ({n}).", "input": "", "output": f"Blue {n}.",
             "model_response": f"Bleu [{n}] is a colour."} for n in range(5)]
    for n, row in enumerate(rows):
        emit(event="response", index=n, total=len(rows), **row)
    out.mkdir(parents=True, exist_ok=True)
    (out / "responses.json").write_text(json.dumps(rows))
    emit(event="done", out=str(out), checkpoint=str(out / "checkpoint.pt"), metrics=str(out / "metrics.json"),
         responses=str(out / "responses.json"), interrupted=False)


def instruct_chat(argv):
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


def judge(argv):
    """Scores replayed from FAKE_JUDGE_SCORES (comma-separated; `none` is an unparsable reply). The judge's
    real JudgeUnavailable message for a server that is down with FAKE_JUDGE_DOWN=1 (it connects to a closed
    port on 127.0.0.1)."""
    responses = argv[1]
    if os.environ.get("FAKE_JUDGE_DOWN"):
        import socket

        from tutor.runs.judge import JudgeUnavailable, connect

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        try:
            connect(f"http://127.0.0.1:{port}", option(argv, "--model", "llama3"), 2.0)
        except JudgeUnavailable as e:
            emit(event="error", message=str(e))
            sys.exit(1)
    raw = os.environ.get("FAKE_JUDGE_SCORES", "80,20,none,95,55,5,61").split(",")
    scores = [None if x == "none" else int(x) for x in raw]
    emit(event="start", run="judge", out=responses + ".judge.jsonl", device="fake", filled_in=[],
         total_steps=len(scores), model=option(argv, "--model", "llama3"), host="http://127.0.0.1:1", resumed=0,
         resumed_scores=[])
    for i, score in enumerate(scores):
        if stop:
            break
        time.sleep(0.01)
        emit(event="judged", index=i, score=score, status="scored" if score is not None else "unparsable")
        emit(event="progress", epoch=1, step=i + 1, total_steps=len(scores), tokens_seen=0, tokens_per_s=0.0,
             eta_s=0.0)
    have = sorted((s, i) for i, s in enumerate(scores) if s is not None)
    emit(event="done", out=responses + ".judge.jsonl", checkpoint=None, metrics=responses + ".summary.json",
         average=sum(s for s, _ in have) / len(have), scored=len(have), entries=len(scores),
         missing=[{"index": i, "status": "unparsable"} for i, s in enumerate(scores) if s is None],
         worst=[{"index": i, "score": s, "instruction": f"Task {i}", "input": "", "output": f"Answer {i}",
                 "response": f"Reply {i}"} for s, i in have[:5]], interrupted=False)


def main():
    signal.signal(signal.SIGINT, on_sigint)
    argv = sys.argv[1:]
    if os.environ.get("FAKE_RUN_LOG"):
        with open(os.environ["FAKE_RUN_LOG"], "a") as fh:
            fh.write(json.dumps(argv) + "\n")
    {"pretrain": pretrain, "generate": generate, "classify": classify, "instruct": instruct,
     "judge": judge}[argv[0]](argv)


if __name__ == "__main__":
    main()
