"""The retry loop both judge backends share (`judge.RetryingJudge`): what is tried again, what is not, the pauses.

The backends get scripted clients here (no server, no network): Ollama's `chat` raises `ollama.ResponseError`s,
the OpenAI backend's `post` returns `httpx.Response`s. The stand-in server tests (test_judge*.py) cover timeouts
and whole runs.
"""

from __future__ import annotations

import types

import httpx
import ollama
import pytest

from tutor.runs.judge import JudgeUnavailable, OllamaJudge, RetryingJudge, _FailedTry, _NoReply
from tutor.runs.judge_openai import OpenAIJudge

REQUEST = httpx.Request("POST", "http://judge.test/v1/chat/completions")


class Scripted:
    """A client whose every call does the next thing of `script`: return it, or raise it if it is an exception."""

    def __init__(self, *script):
        self.script, self.calls = list(script), 0

    def _next(self, *args, **kwargs):
        self.calls += 1
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step

    chat = post = _next


def ask(judge_class, *script, retries=2):
    client, pauses = Scripted(*script), []
    judge = judge_class(client, "m", "http://judge.test", retries, sleep=pauses.append)
    try:
        outcome = judge("Score this.")
    except _NoReply as e:
        outcome = f"no reply: {e}"
    return outcome, judge, client.calls, pauses


def reply(text):
    return types.SimpleNamespace(message=types.SimpleNamespace(content=text))


def response(status, **body):
    return httpx.Response(status, request=REQUEST, **body)


def test_a_failed_try_is_tried_again_with_growing_pauses_until_the_retries_run_out():
    class Flaky(RetryingJudge):
        def ask_once(self, prompt):
            raise _FailedTry("HTTP 503: busy", again=True)

    outcome, judge, _, pauses = ask(Flaky, retries=3)
    assert outcome == "no reply: HTTP 503: busy" and judge.tries == 4 and judge.last_reply is None
    assert pauses == [0.5, 1.0, 2.0]  # none after the last try


def test_a_reply_after_failures_is_returned_and_kept():
    outcome, judge, calls, pauses = ask(OllamaJudge, ollama.ResponseError("busy", 500),
                                        httpx.ConnectError("refused"), reply("Score: 80"))
    assert (outcome, judge.last_reply, judge.tries, calls, pauses) == ("Score: 80", "Score: 80", 3, 3, [0.5, 1.0])


def test_timeouts_and_dropped_connections_say_how_many_tries():
    outcome, _, _, _ = ask(OllamaJudge, httpx.ReadTimeout("slow"), ConnectionError("gone"), httpx.ReadTimeout("x"))
    assert outcome == "no reply: no reply within the timeout (3 tries)"
    outcome, _, _, _ = ask(OpenAIJudge, httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("cut"), retries=1)
    assert outcome == "no reply: connection failed (RemoteProtocolError, 2 tries)"


@pytest.mark.parametrize("judge_class, answer, error", [
    (OllamaJudge, ollama.ResponseError("bad request", 400), "HTTP 400: bad request"),
    (OpenAIJudge, response(400, json={"error": {"message": "bad request"}}), "HTTP 400: bad request"),
    (OpenAIJudge, response(200, json={"choices": []}), "a reply without choices[0].message.content"),
])
def test_an_answer_that_asking_again_cannot_change_is_not_retried(judge_class, answer, error):
    outcome, judge, calls, pauses = ask(judge_class, answer, answer, answer)
    assert outcome == f"no reply: {error}" and judge.last_error == error
    assert (judge.tries, calls, pauses) == (1, 1, [])


def test_the_openai_backend_retries_too_many_requests():
    outcome, judge, calls, _ = ask(OpenAIJudge, response(429, text="slow down"),
                                   response(200, json={"choices": [{"message": {"content": "Score: 70"}}]}))
    assert (outcome, calls) == ("Score: 70", 2)


@pytest.mark.parametrize("judge_class, answer, says", [
    (OllamaJudge, ollama.ResponseError("model 'm' not found", 404), "ollama pull m"),
    (OpenAIJudge, response(404, text="no such model"), "does not serve the model 'm'"),
    (OpenAIJudge, response(401, json={"message": "no key"}), "OPENAI_API_KEY"),
])
def test_an_answer_that_makes_the_judge_unusable_ends_at_once(judge_class, answer, says):
    with pytest.raises(JudgeUnavailable, match=says):
        ask(judge_class, answer, answer, answer)
