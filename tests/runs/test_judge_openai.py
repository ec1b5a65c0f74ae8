"""`tutor run judge --api openai` against the local stand-in's OpenAI chat API routes (`/v1/models`,
`/v1/chat/completions`, as llama.cpp and vLLM serve them): the model taken from the server, normal scoring with
the missing listed, a model it does not serve, a server that is down, an API key, slow replies retried and then
resumed. No network, no torch."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.runs.ollama_standin import OllamaStandIn, free_port_url
from tests.runs.test_judge import lines, responses_file, scripted
from tutor.runs.common import RunError
from tutor.runs.judge import JudgeConfig, judge

SERVED = "Meta-Llama-3-8B-Instruct.Q4_K_M.gguf"  # llama-server lists the file it serves


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def run(path, url, **kw):
    events = []
    kw.setdefault("model", None)
    cfg = JudgeConfig(responses=path, host=url, use_reference=True, api="openai", **kw)
    return judge(cfg, events.append, sleep=lambda s: None), events


def test_scores_through_the_chat_api_with_the_servers_only_model(tmp_path):
    path = responses_file(tmp_path, [85, "none", 30])
    with OllamaStandIn(scripted, models=(SERVED,)) as server:
        result, events = run(path, server.url + "/v1")  # a base URL ending in /v1 works too
    assert result.scores == [85, None, 30] and result.missing == [1]
    assert result.average == pytest.approx(57.5)
    chat = server.chats[0]
    assert chat["model"] == SERVED and chat["stream"] is False and chat["temperature"] == 0
    assert "Answer 0." in chat["messages"][0]["content"]
    assert result.results.name == f"responses.judge-{SERVED}.jsonl"
    assert lines(result.results)[1]["status"] == "unparsable"
    start = [e for e in events if e["event"] == "start"][0]
    assert start["model"] == SERVED and start["api"] == "openai"


def test_a_model_the_server_does_not_serve_is_named_with_the_ones_it_does(tmp_path):
    path = responses_file(tmp_path, [50])
    with OllamaStandIn(scripted, models=("qwen2.5-7b", "llama-3-8b")) as server:
        with pytest.raises(RunError, match=r"does not serve the model 'llama3'.*qwen2.5-7b, llama-3-8b"):
            run(path, server.url, model="llama3")
        with pytest.raises(RunError, match=r"several models .*pass --model"):
            run(path, server.url)
        assert server.chats == []
        result, _ = run(path, server.url, model="llama-3-8b")
    assert result.scores == [50]


def test_server_down_names_the_servers_to_start(tmp_path):
    path = responses_file(tmp_path, [50])
    with pytest.raises(RunError, match=r"OpenAI chat API.*llama-server.*vllm serve"):
        run(path, free_port_url())


def test_an_api_key_is_sent_from_the_environment(tmp_path, monkeypatch):
    path = responses_file(tmp_path, [64])
    with OllamaStandIn(scripted, models=(SERVED,), api_key="sekrit") as server:
        with pytest.raises(RunError, match=r"HTTP 401.*OPENAI_API_KEY"):
            run(path, server.url)
        monkeypatch.setenv("OPENAI_API_KEY", "sekrit")
        result, _ = run(path, server.url)
    assert result.scores == [64]


def test_slow_replies_are_retried_then_missing_and_judged_on_resume(tmp_path):
    path = responses_file(tmp_path, [80, "slow3"])
    with OllamaStandIn(scripted, models=(SERVED,)) as server:
        result, _ = run(path, server.url, timeout=0.4, retries=1)
        assert result.scores == [80, None] and len(server.chats) == 3  # two tries for the slow one
        assert "timeout" in lines(result.results)[1]["error"]
        server.reply = lambda prompt: (0.0, "Score: 45")
        again, events = run(path, server.url, timeout=0.4, retries=1)
    assert again.scores == [80, 45]
    assert [e for e in events if e["event"] == "start"][0]["resumed"] == 1


def test_cli_api_openai_reports_and_fails_without_a_traceback(tmp_path):
    from tutor.runs.cli import run_app

    path = responses_file(tmp_path, [90, 20])
    runner = CliRunner()
    env = {"COLUMNS": "200", "NO_PROXY": "127.0.0.1"}
    with OllamaStandIn(scripted, models=(SERVED,)) as server:
        r = runner.invoke(run_app, ["judge", str(path), "--api", "openai", "--host", server.url, "--reference",
                                    "--events"], env=env)
    assert r.exit_code == 0, r.output
    done = [json.loads(x) for x in r.output.splitlines() if x.startswith("{")][-1]
    assert done["event"] == "done" and done["average"] == 55 and done["model"] == SERVED
    r = runner.invoke(run_app, ["judge", str(path), "--api", "openai", "--host", free_port_url(), "--reference"],
                      env=env)
    assert r.exit_code == 1 and "llama-server" in r.output and "Traceback" not in r.output
    r = runner.invoke(run_app, ["judge", str(path), "--api", "grpc"], env=env)
    assert r.exit_code == 2 and "choose ollama or openai" in r.output
