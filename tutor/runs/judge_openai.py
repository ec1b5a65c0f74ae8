"""The judge backend for servers that speak the OpenAI chat API (llama.cpp's `llama-server`, vLLM, LM Studio…):
`tutor run judge --api openai`.

It behaves like the Ollama judge in `judge.py`: the server and the model are checked once before the first
request (`GET /v1/models`), so that a server that is down, a model it does not serve, or a missing API key each
end in one sentence that says what to do; then each prompt is one `POST /v1/chat/completions` at temperature 0,
with a timeout per try and bounded retries. A reply without a usable score is the learner's `parse_score`'s
business, as with Ollama. Plain httpx; no UI, no torch.
"""

from __future__ import annotations

import os
from typing import Optional

from tutor.runs.judge import JudgeUnavailable, RetryingJudge, _FailedTry

DEFAULT_OPENAI_HOST = "http://localhost:8080"  # llama.cpp's llama-server; vLLM listens on :8000
API_KEY_ENV = "OPENAI_API_KEY"  # sent as the bearer token when set (vLLM's --api-key, hosted servers)
START_A_SERVER = ("Start one (llama.cpp: `llama-server -m MODEL.gguf --port 8080`; vLLM: `vllm serve MODEL "
                  "--port 8000`), or pass --host URL, then run this command again.")


def base_url(host: str) -> str:
    """`host` without a trailing `/` or `/v1`: both `http://h:8080` and `http://h:8080/v1` are accepted."""
    host = host.rstrip("/")
    return host[: -len("/v1")] if host.endswith("/v1") else host


def _detail(response) -> str:
    """The error message of an OpenAI-style error body ({"error": {"message": …}} or {"message": …})."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200] or response.reason_phrase
    err = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(err, dict):
        err = err.get("message") or err
    return str(err)[:200]


def connect_openai(host: str, model: Optional[str], timeout: float, api_key: Optional[str] = None):
    """An `httpx.Client` for `host` and the model to ask, once the server answered and serves that model.

    Args:
        model: the model to use; None takes the one model the server lists (llama.cpp serves exactly one).
        api_key: the bearer token; None reads $OPENAI_API_KEY (no header when it is unset).

    Raises:
        JudgeUnavailable: the message says what to start, pass or set.
    """
    import httpx

    api_key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    client = httpx.Client(base_url=base_url(host), timeout=timeout, headers=headers)
    try:
        r = client.get("/v1/models")
    except httpx.TransportError as e:
        client.close()
        raise JudgeUnavailable(f"Cannot reach a server speaking the OpenAI chat API at {host} "
                               f"({type(e).__name__}). {START_A_SERVER}") from None
    if r.status_code in (401, 403):
        client.close()
        raise JudgeUnavailable(f"The server at {host} refused the request (HTTP {r.status_code}: {_detail(r)}). "
                               f"Set ${API_KEY_ENV} to its API key, then run this command again.")
    names: list[str] = []
    if r.status_code == 200:
        try:
            names = [m["id"] for m in r.json()["data"] if isinstance(m, dict) and isinstance(m.get("id"), str)]
        except (ValueError, KeyError, TypeError):
            client.close()
            raise JudgeUnavailable(f"The server at {host} did not answer GET /v1/models like an OpenAI-API server "
                                   f"({r.text.strip()[:80]!r}). Is it one? {START_A_SERVER}") from None
    elif r.status_code != 404:  # 404: the server does not list its models; the chat request will tell
        client.close()
        raise JudgeUnavailable(f"The server at {host} did not answer like an OpenAI-API server (GET /v1/models: "
                               f"HTTP {r.status_code}: {_detail(r)}). {START_A_SERVER}")
    if model is None:
        if len(names) == 1:
            return client, names[0]
        client.close()
        if names:
            raise JudgeUnavailable(f"The server at {host} serves several models ({', '.join(names)}); pass --model "
                                   f"with the one to judge with.")
        raise JudgeUnavailable(f"The server at {host} does not list its models; pass --model NAME.")
    if names and model not in names:
        client.close()
        raise JudgeUnavailable(f"The server at {host} does not serve the model {model!r} (it serves: "
                               f"{', '.join(names)}). Pass --model with one of them, or leave --model out when it "
                               f"serves just one.")
    return client, model


class OpenAIJudge(RetryingJudge):
    """The judge through `POST /v1/chat/completions`, temperature 0; the retries are `judge.RetryingJudge`'s."""

    server = "OpenAI-API server"
    fix = "check that the server still runs"

    def ask_once(self, prompt: str) -> str:
        r = self.client.post("/v1/chat/completions", json={
            "model": self.model, "messages": [{"role": "user", "content": prompt}], "temperature": 0.0,
            "seed": 123, "stream": False})
        if r.status_code == 200:
            try:
                content = r.json()["choices"][0]["message"]["content"]
            except (ValueError, KeyError, IndexError, TypeError):
                # the server answered; asking again gets the same
                raise _FailedTry("a reply without choices[0].message.content", again=False) from None
            return content if isinstance(content, str) else ""
        if r.status_code == 404:
            raise JudgeUnavailable(
                f"The server at {self.host} answered 404 to POST /v1/chat/completions ({_detail(r)}): it "
                f"does not serve the model {self.model!r}, or does not speak the OpenAI chat API. Pass "
                f"--model with a model it serves.")
        if r.status_code in (401, 403):
            raise JudgeUnavailable(f"The server at {self.host} refused the request (HTTP {r.status_code}: "
                                   f"{_detail(r)}). Set ${API_KEY_ENV} to its API key.")
        # a client error does not go away by asking again; 429 (too many requests) does
        raise _FailedTry(f"HTTP {r.status_code}: {_detail(r)}", again=r.status_code >= 500 or r.status_code == 429)
