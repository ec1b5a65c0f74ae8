"""`tutor run judge` against a local stand-in that speaks Ollama's HTTP API (/api/tags, /api/chat), through the
official `ollama` client: normal scoring, a model that is not pulled, a server that is down, replies slower than
the timeout, replies without a score, and resuming after an interruption. No network, no torch."""

from __future__ import annotations

import json
import re
import threading

import pytest
from typer.testing import CliRunner

from tests.runs.ollama_standin import OllamaStandIn, free_port_url
from tutor.runs.common import RunError
from tutor.runs.judge import JudgeConfig, histogram, judge

MARK = re.compile(r"\[(\w+)=(\w+)\]")


def scripted(prompt: str) -> tuple[float, str]:
    """The reply to a judge prompt, from the marker in the response it holds: [s=85], [s=none], [slow=N]."""
    marks = dict(MARK.findall(prompt.split("The answer to grade:")[-1]))
    if "slow" in marks:
        return float(marks["slow"]), "Score: 99"
    if marks.get("s") == "none":
        return 0.0, "I liked this answer a lot."
    return 0.0, f"Score: {marks['s']}/100"


def responses_file(tmp_path, scores) -> "Path":
    entries = [{"instruction": f"Task {i}.", "input": "" if i % 2 else f"input {i}", "output": f"Answer {i}.",
                "model_response": f"Response {i} [{'s' if not str(s).startswith('slow') else 'slow'}="
                                  f"{str(s).removeprefix('slow')}]"}
               for i, s in enumerate(scores)]
    path = tmp_path / "responses.json"
    path.write_text(json.dumps(entries), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("OLLAMA_HOST", raising=False)


def run(path, url, **kw):
    events = []
    cfg = JudgeConfig(responses=path, host=url, use_reference=True, **kw)
    return judge(cfg, events.append, sleep=lambda s: None), events


def lines(path):
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def test_normal_scoring_average_histogram_worst_and_the_missing(tmp_path):
    path = responses_file(tmp_path, [85, 40, "none", 100, 0, 72, 55])
    with OllamaStandIn(scripted) as server:
        result, events = run(path, server.url)
    assert result.scores == [85, 40, None, 100, 0, 72, 55]
    assert result.average == pytest.approx((85 + 40 + 100 + 0 + 72 + 55) / 6)
    assert result.missing == [2]
    assert len(server.chats) == 7 and server.tags_calls == 1
    chat = server.chats[0]
    assert chat["model"] == "llama3" and chat["stream"] is False and chat["options"]["temperature"] == 0
    assert "Answer 0." in chat["messages"][0]["content"]  # the learner-facing judge_prompt, reference in it
    recs = lines(result.results)
    assert [r["index"] for r in recs] == list(range(7))
    assert recs[2]["status"] == "unparsable" and recs[2]["reply"] == "I liked this answer a lot."
    summary = json.loads(result.summary.read_text())
    assert [w["score"] for w in summary["worst"]] == [0, 40, 55, 72, 85]
    assert dict(summary["histogram"])["90-100"] == 1 and dict(summary["histogram"])["0-9"] == 1
    done = [e for e in events if e["event"] == "done"][0]
    assert done["missing"][0]["reply"] == "I liked this answer a lot."
    assert [e["step"] for e in events if e["event"] == "progress"] == list(range(1, 8))


def test_histogram_bins():
    assert histogram([0, 9, 10, 99, 100, None])[0] == ("0-9", 2)
    assert histogram([0, 9, 10, 99, 100, None])[-1] == ("90-100", 2)


def test_model_not_pulled_says_ollama_pull(tmp_path):
    path = responses_file(tmp_path, [50])
    with OllamaStandIn(scripted, models=("mistral:latest",)) as server:
        with pytest.raises(RunError, match=r"`ollama pull llama3`") as e:
            run(path, server.url)
        assert "mistral:latest" in str(e.value) and server.chats == []


def test_a_model_removed_mid_run_says_ollama_pull(tmp_path):
    path = responses_file(tmp_path, [50, 60])
    with OllamaStandIn(scripted) as server:
        original = server.reply

        def reply_then_remove(prompt):
            server.models.clear()  # `ollama rm` between the check and the first chat
            return original(prompt)

        server.reply = reply_then_remove
        server.models.append("llama3:latest")
        with pytest.raises(RunError, match=r"ollama pull llama3"):
            run(path, server.url)


def test_server_down_says_ollama_serve(tmp_path):
    path = responses_file(tmp_path, [50])
    with pytest.raises(RunError, match=r"`ollama serve`"):
        run(path, free_port_url())


def test_replies_slower_than_the_timeout_are_retried_then_missing_and_retried_on_resume(tmp_path):
    path = responses_file(tmp_path, [80, "slow3", 60])
    with OllamaStandIn(scripted) as server:
        result, _ = run(path, server.url, timeout=0.4, retries=1)
        assert result.scores == [80, None, 60] and result.missing == [1]
        assert len(server.chats) == 4  # two tries for the slow one
        assert lines(result.results)[1]["status"] == "failed"
        assert "timeout" in lines(result.results)[1]["error"]
        server.reply = lambda prompt: (0.0, "Score: 45")  # the server is fast again
        again, events = run(path, server.url, timeout=0.4, retries=1)
    assert again.scores == [80, 45, 60] and again.missing == []
    assert [e for e in events if e["event"] == "start"][0]["resumed"] == 2


def test_a_server_that_stops_answering_ends_the_run_with_what_to_do(tmp_path):
    path = responses_file(tmp_path, ["slow2"] * 5)
    with OllamaStandIn(scripted) as server:
        with pytest.raises(RunError, match=r"stopped answering.*ollama serve"):
            run(path, server.url, timeout=0.2, retries=0)
        assert len(server.chats) == 3


def test_resume_after_an_interruption_judges_only_the_rest(tmp_path):
    path = responses_file(tmp_path, [10, 20, 30, 40, 50])
    stop = threading.Event()

    def emit(ev):
        if ev["event"] == "judged" and ev["index"] == 1:
            stop.set()  # as Ctrl-C does: stop after the current entry

    with OllamaStandIn(scripted) as server:
        cfg = JudgeConfig(responses=path, host=server.url, use_reference=True)
        first = judge(cfg, emit, stop=stop)
        assert first.interrupted and first.scores == [10, 20, None, None, None]
        assert len(lines(first.results)) == 2
        with first.results.open("a") as f:
            f.write('{"index": 2, "trunc')  # a line cut short when the process was killed
        second = judge(cfg, lambda e: None)
        assert not second.interrupted and second.scores == [10, 20, 30, 40, 50]
        assert len(server.chats) == 5  # nothing judged twice
        third = judge(JudgeConfig(responses=path, host=server.url, use_reference=True, restart=True), lambda e: None)
        assert third.scores == [10, 20, 30, 40, 50] and len(server.chats) == 10


def test_cli_prints_the_report_and_errors_without_a_traceback(tmp_path):
    from tutor.runs.cli import run_app

    path = responses_file(tmp_path, [90, 15, "none", 65])
    runner = CliRunner()
    with OllamaStandIn(scripted) as server:
        r = runner.invoke(run_app, ["judge", str(path), "--host", server.url, "--reference"],
                          env={"COLUMNS": "120", "NO_PROXY": "127.0.0.1"})
    assert r.exit_code == 0, r.output
    assert "Average score: 56.7" in r.output and "1 missing" in r.output
    assert "five worst" in r.output and "I liked this answer a lot." in r.output
    assert "█" in r.output
    r = runner.invoke(run_app, ["judge", str(path), "--host", free_port_url(), "--reference"],
                      env={"COLUMNS": "200", "NO_PROXY": "127.0.0.1"})
    assert r.exit_code == 1 and "ollama serve" in r.output and "Traceback" not in r.output
