"""`tutor run judge RESPONSES.json`: score a model's responses with a stronger model served by Ollama.

Each entry of RESPONSES.json (instruction, input, output and the model's response under `model_response`,
the shape of the course's instruction-data-with-response.json) is scored by the learner's own `score_responses`, one entry at a time, with a `judge` callable
that sends the learner's `judge_prompt` to an Ollama server through the official `ollama` client: bounded
retries, a timeout per request, temperature 0. Every result is appended to a JSON-lines file as soon as it
arrives, so an interrupted run keeps what it scored and a second run resumes where it stopped. A reply
without a usable score counts as missing; it is listed, never guessed.

Before the first request the server and the model are checked (`/api/tags`), so that "the server is not
running" and "the model is not pulled" each end in the one command that fixes it. `--api openai` swaps Ollama
for a server speaking the OpenAI chat API (llama.cpp, vLLM; `judge_openai.py`), with the same retries, timeouts
and missing scores. Nothing here prints or imports a UI, and no torch: judging needs none.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from tutor.assemble import assemble
from tutor.exercise_imports import install_exercises_mapping
from tutor.runs.common import RunError, import_piece, stop_on_sigint
from tutor.runs.events import Emit, event

DEFAULT_MODEL = "llama3"
DEFAULT_HOST = "http://localhost:11434"
APIS = ("ollama", "openai")  # `--api`: Ollama's own API (the default), or the OpenAI chat API
RESPONSE_KEY = "model_response"
RESULTS_VERSION = 1
MAX_FAILED_IN_A_ROW = 3  # after this many entries that got no reply at all, the server is considered gone


@dataclass(frozen=True)
class JudgeConfig:
    responses: Path
    model: Optional[str] = DEFAULT_MODEL  # None with api="openai": the one model the server serves
    host: Optional[str] = None  # None: $OLLAMA_HOST, else http://localhost:11434 (openai: localhost:8080)
    response_key: str = RESPONSE_KEY
    out: Optional[Path] = None  # the results file (JSON lines); default next to RESPONSES.json
    timeout: float = 120.0  # seconds per request
    retries: int = 2  # extra tries per entry after a timeout or a dropped connection
    restart: bool = False  # ignore earlier results in the results file (it is rewritten)
    workspace: Any = None
    use_reference: bool = False
    api: str = "ollama"  # one of APIS


@dataclass(frozen=True)
class JudgeResult:
    results: Path
    summary: Path
    scores: list  # per entry: int, or None (missing)
    average: Optional[float]
    missing: list  # indices of entries without a usable score
    interrupted: bool


class JudgeUnavailable(RunError):
    """The judge server cannot be used; the message names the command that fixes it."""


def resolve_host(host: Optional[str], api: str = "ollama") -> str:
    if api == "openai":
        from tutor.runs.judge_openai import DEFAULT_OPENAI_HOST

        host = host or DEFAULT_OPENAI_HOST
    host = host or os.environ.get("OLLAMA_HOST") or DEFAULT_HOST
    return host if "://" in host else f"http://{host}"


def load_responses(path: Path, response_key: str) -> list[dict]:
    path = Path(path).expanduser()
    if not path.is_file():
        raise RunError(f"{path} does not exist. Pass a JSON list of entries with instruction, input, output "
                       f"and a response.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RunError(f"{path} is not a JSON file of responses: {e}") from None
    if not isinstance(data, list) or not data:
        raise RunError(f"{path} must hold a non-empty JSON list of entries.")
    for i, e in enumerate(data):
        if not isinstance(e, dict) or not all(isinstance(e.get(k), str) for k in ("instruction", "output")):
            raise RunError(f"{path}: entry {i} needs \"instruction\" and \"output\" texts.")
        if not isinstance(e.get(response_key), str):
            raise RunError(f"{path}: entry {i} has no {response_key!r} text to judge (choose the key with "
                           f"--response-key).")
        e.setdefault("input", "")
    return data


def entry_id(entry: dict, response_key: str) -> str:
    """A short fingerprint of what is judged, so results are only reused for the very same entry."""
    text = json.dumps([entry.get("instruction"), entry.get("input"), entry.get("output"), entry[response_key]])
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def default_results_path(responses: Path, model: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in model)
    return Path(responses).expanduser().with_name(f"{Path(responses).stem}.judge-{safe}.jsonl")


def read_results(path: Path, model: str) -> dict[int, dict]:
    """Earlier results by entry index (scored or unparsable; failures are tried again)."""
    done: dict[int, dict] = {}
    if not path.is_file():
        return done
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by an interruption
        if isinstance(rec, dict) and isinstance(rec.get("index"), int) and rec.get("model") == model \
                and rec.get("status") in ("scored", "unparsable"):
            done[rec["index"]] = rec
    return done


# -- asking the judge: the retries both backends share -------------------------------------------------------
class _FailedTry(Exception):
    """One try got an answer that is no reply (an HTTP error, a malformed body); `again`: worth another try."""

    def __init__(self, error: str, again: bool):
        super().__init__(error)
        self.error, self.again = error, again


class _NoReply(Exception):
    """The judge gave no reply after its retries (raised through the learner's score_responses)."""


class RetryingJudge:
    """`judge(prompt) -> reply text` with bounded retries, a timeout per try and a growing pause between tries.

    A backend says only how one try goes (`ask_once`): it returns the reply text, raises `_FailedTry` for an
    answer that is no reply, or `JudgeUnavailable` when asking again cannot help; a timeout or a dropped
    connection (httpx's, or the builtin ConnectionError) is tried again here. `last_reply` keeps the last reply
    and `last_error` the last error, so the run can store and list them; `tries` counts the tries of the last
    prompt.
    """

    server = "judge server"  # what the run's messages call it
    fix = "check the server"  # what the learner does when it stops answering

    def __init__(self, client, model: str, host: str, retries: int, sleep: Callable[[float], None] = time.sleep):
        self.client, self.model, self.host, self.retries, self.sleep = client, model, host, retries, sleep
        self.last_reply: Optional[str] = None
        self.last_error: Optional[str] = None
        self.tries = 0

    def ask_once(self, prompt: str) -> str:
        raise NotImplementedError

    def __call__(self, prompt: str) -> str:
        import httpx

        self.last_reply, self.last_error = None, None
        for attempt in range(self.retries + 1):
            self.tries = attempt + 1
            try:
                self.last_reply = self.ask_once(prompt)
                return self.last_reply
            except httpx.TimeoutException:
                self.last_error = f"no reply within the timeout ({attempt + 1} tries)"
            except (ConnectionError, httpx.TransportError) as e:
                self.last_error = f"connection failed ({type(e).__name__}, {attempt + 1} tries)"
            except _FailedTry as e:
                self.last_error = e.error
                if not e.again:
                    break
            if attempt < self.retries:
                self.sleep(min(0.5 * 2 ** attempt, 4.0))
        raise _NoReply(self.last_error or "no reply")


# -- the Ollama side ------------------------------------------------------------------------------------------
def _model_names(listing) -> list[str]:
    models = getattr(listing, "models", None) or []
    return [m.model for m in models if getattr(m, "model", None)]


def _has_model(names: list[str], model: str) -> bool:
    wanted = model if ":" in model else f"{model}:latest"
    return any(n == model or n == wanted for n in names)


def connect(host: str, model: str, timeout: float):
    """An `ollama.Client` for `host`, once the server answered and holds `model`."""
    import httpx
    import ollama

    client = ollama.Client(host=host, timeout=timeout)
    try:
        names = _model_names(client.list())
    except (ConnectionError, httpx.TransportError) as e:
        raise JudgeUnavailable(
            f"Cannot reach an Ollama server at {host} ({type(e).__name__}). Start one with `ollama serve` "
            f"(install it from https://ollama.com), or pass --host URL, then run this command again.") from None
    except ollama.ResponseError as e:
        raise JudgeUnavailable(f"The server at {host} did not answer like Ollama (HTTP {e.status_code}: "
                               f"{e.error}). Is it an Ollama server? Start one with `ollama serve`.") from None
    if not _has_model(names, model):
        have = ", ".join(names) or "none"
        raise JudgeUnavailable(f"The Ollama server at {host} does not have the model {model!r} (it has: {have}). "
                               f"Run `ollama pull {model}`, then run this command again.")
    return client


class OllamaJudge(RetryingJudge):
    """The judge through Ollama's chat API (`ollama.Client.chat`), temperature 0."""

    server = "Ollama server"
    fix = "check `ollama serve`"

    def ask_once(self, prompt: str) -> str:
        import ollama

        try:
            reply = self.client.chat(model=self.model, messages=[{"role": "user", "content": prompt}],
                                     options={"temperature": 0.0, "seed": 123})
        except ollama.ResponseError as e:
            if e.status_code == 404:
                raise JudgeUnavailable(f"The Ollama server at {self.host} says: {e.error}. Run "
                                       f"`ollama pull {self.model}`, then run this command again.") from None
            # a client error does not go away by asking again
            raise _FailedTry(f"HTTP {e.status_code}: {e.error}", again=e.status_code >= 500) from None
        return reply.message.content or ""


def make_judge(cfg: JudgeConfig, host: str, client=None, sleep: Callable[[float], None] = time.sleep):
    """The judge callable for `cfg.api`, connected (and its model checked) unless `client` is given (tests)."""
    if cfg.api not in APIS:
        raise RunError(f"--api {cfg.api}: choose one of {', '.join(APIS)}.")
    if cfg.api == "openai":
        from tutor.runs.judge_openai import OpenAIJudge, connect_openai

        model = cfg.model
        if client is None:
            client, model = connect_openai(host, cfg.model, cfg.timeout)
        elif model is None:
            raise RunError("A judge client given without a model.")
        return OpenAIJudge(client, model, host, cfg.retries, sleep=sleep)
    model = cfg.model or DEFAULT_MODEL
    if client is None:
        client = connect(host, model, cfg.timeout)
    return OllamaJudge(client, model, host, cfg.retries, sleep=sleep)


# -- the run --------------------------------------------------------------------------------------------------
def histogram(scores: list, width: int = 10) -> list[tuple[str, int]]:
    """Counts of the scores in the bins 0-9, 10-19, ..., 90-100 (100 goes with 90-99)."""
    bins = [0] * (100 // width)
    for s in scores:
        if s is not None:
            bins[min(int(s) // width, len(bins) - 1)] += 1
    labels = [f"{lo}-{lo + width - 1}" for lo in range(0, 100, width)]
    labels[-1] = f"{100 - width}-100"
    return list(zip(labels, bins))


def judge(cfg: JudgeConfig, emit: Emit = lambda e: None, *, stop: Optional[threading.Event] = None,
          client=None, sleep: Callable[[float], None] = time.sleep) -> JudgeResult:
    """Score every response of `cfg.responses` with the judge model; return the scores and where they are.

    Args:
        client: an `ollama.Client`-like object (an `httpx.Client` for api="openai") to use instead of connecting
            to `cfg.host` (tests).
        stop: set it to stop after the current entry (Ctrl-C does the same in the main thread).

    Raises:
        RunError: the responses cannot be read, or the judge cannot be used (the message says what to run).
    """
    stop = stop or threading.Event()
    entries = load_responses(cfg.responses, cfg.response_key)
    host = resolve_host(cfg.host, cfg.api)

    assembly = assemble(cfg.workspace, use_reference=cfg.use_reference)
    install_exercises_mapping(assembly.mapping)
    score_responses = import_piece(assembly, "evaluation", "score_responses")

    the_judge = make_judge(cfg, host, client, sleep)
    model = the_judge.model  # with api="openai" and no --model, the one the server serves
    results_path = Path(cfg.out).expanduser() if cfg.out else default_results_path(cfg.responses, model)
    summary_path = results_path.with_suffix(".summary.json")
    ids = [entry_id(e, cfg.response_key) for e in entries]
    done = {} if cfg.restart else {i: r for i, r in read_results(results_path, model).items()
                                   if i < len(entries) and r.get("id") == ids[i]}
    results_path.parent.mkdir(parents=True, exist_ok=True)
    if cfg.restart and results_path.exists():
        results_path.unlink()

    learner = "evaluation" in assembly.learner
    emit(event("start", run="judge", out=str(results_path), device=host, filled_in=list(assembly.filled_in),
               total_steps=len(entries), model=model, host=host, api=cfg.api, responses=str(cfg.responses),
               resumed=len(done), resumed_scores=[[i, done[i].get("score")] for i in sorted(done)],
               learner=list(assembly.learner),
               assembly=("Your score_responses, judge_prompt and parse_score" if learner else
                         "The reference score_responses, judge_prompt and parse_score (evaluation does not "
                         "pass yet)" if cfg.workspace is not None and not cfg.use_reference else
                         "The reference score_responses, judge_prompt and parse_score")
               + " build the prompts and read the replies."))

    records: dict[int, dict] = dict(done)  # the latest result of each entry judged, earlier runs included
    scores: list = [done[i].get("score") if i in done else None for i in range(len(entries))]
    failed_in_a_row, interrupted = 0, False
    t0, judged_now = time.perf_counter(), 0
    todo = [i for i in range(len(entries)) if i not in done]
    with stop_on_sigint(stop), open(results_path, "a", encoding="utf-8") as out:
        for n, i in enumerate(todo):
            if stop.is_set():
                interrupted = True
                break
            try:
                got = score_responses([entries[i]], cfg.response_key, the_judge)
                score = got[0] if isinstance(got, (list, tuple)) and len(got) == 1 else None
                if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 100:
                    score = None  # whatever else score_responses returned is no score
                status = "scored" if score is not None else "unparsable"
                error = None
                failed_in_a_row = 0
            except _NoReply as e:
                score, status, error = None, "failed", str(e)
                failed_in_a_row += 1
            except KeyboardInterrupt:  # a second Ctrl-C: stop now, the file holds every finished entry
                raise RunError(f"Stopped at once. The results so far are kept in {results_path}; run the same "
                               f"command again to go on.") from None
            rec = {"v": RESULTS_VERSION, "index": i, "id": ids[i], "model": model, "status": status,
                   "score": score, "reply": the_judge.last_reply, "error": error}
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
            out.flush()  # written as it arrives: an interruption keeps everything judged so far
            records[i] = rec
            scores[i] = score
            judged_now += 1
            have = [s for s in scores if s is not None]
            elapsed = time.perf_counter() - t0
            emit(event("judged", index=i, score=score, status=status, error=error, reply=the_judge.last_reply))
            emit(event("progress", epoch=1, step=len(done) + judged_now, total_steps=len(entries), tokens_seen=0,
                       tokens_per_s=0.0, eta_s=elapsed / judged_now * (len(todo) - n - 1),
                       average=sum(have) / len(have) if have else None))
            if failed_in_a_row >= MAX_FAILED_IN_A_ROW:
                raise JudgeUnavailable(
                    f"The {the_judge.server} at {host} stopped answering ({error}) for {failed_in_a_row} entries "
                    f"in a row. The {len(have)} scores so far are kept in {results_path}; {the_judge.fix} and "
                    f"run this command again to go on (try a larger --timeout for a slow machine).")

    interrupted = interrupted or (stop.is_set() and len(records) < len(entries))
    have = [s for s in scores if s is not None]
    missing = [i for i in range(len(entries)) if i in records and scores[i] is None]
    not_judged = [i for i in range(len(entries)) if i not in records]
    average = sum(have) / len(have) if have else None
    order = sorted((i for i in range(len(entries)) if scores[i] is not None), key=lambda i: (scores[i], i))
    worst = [{"index": i, "score": scores[i], "instruction": entries[i]["instruction"],
              "input": entries[i].get("input", ""), "output": entries[i]["output"],
              "response": entries[i][cfg.response_key]} for i in order[:5]]
    missing_list = [{"index": i, "status": records[i]["status"], "reply": records[i].get("reply"),
                     "error": records[i].get("error"), "instruction": entries[i]["instruction"]} for i in missing]
    summary = {"model": model, "api": cfg.api, "host": host, "responses": str(cfg.responses), "results": str(results_path),
               "entries": len(entries), "scored": len(have), "missing": missing, "not_judged": not_judged,
               "average": average, "histogram": histogram(scores), "worst": worst, "interrupted": interrupted,
               "scores": scores}
    tmp = summary_path.with_name(f".{summary_path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, summary_path)
    emit(event("done", out=str(results_path), checkpoint=None, metrics=str(summary_path), average=average,
               scored=len(have), entries=len(entries), missing=missing_list, not_judged=len(not_judged),
               histogram=summary["histogram"], worst=worst, interrupted=interrupted, model=model))
    return JudgeResult(results=results_path, summary=summary_path, scores=scores, average=average, missing=missing,
                       interrupted=interrupted)
