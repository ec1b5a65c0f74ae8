"""`tutor --version` and `tutor doctor` (through CliRunner, fixed width; Ollama against a local server only)."""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import sys
import threading

import pytest
from typer.testing import CliRunner

import tutor
from tutor import doctor
from tutor.cli import app

runner = CliRunner()
SECTIONS = ("tutor", "Python", "torch", "textual", "tiktoken", "cache", "grader", "workspace", "Ollama")


def invoke(*args, **env):
    return runner.invoke(app, list(args), env={"COLUMNS": "200", "TERM": "dumb", **env})


@pytest.fixture(autouse=True)
def no_proxy_no_ollama_host(monkeypatch):
    """The Ollama probe must talk to 127.0.0.1 directly, and only where a test points it."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
                "OLLAMA_HOST", "TUTOR_GRADER", "TUTOR_WORKSPACE"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again once the socket is: nothing listens there


@pytest.fixture
def fake_ollama():
    """A local server speaking the one Ollama call the doctor makes (GET /api/tags); records the paths asked."""
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            asked.append(self.path)
            if self.path != "/api/tags":
                self.send_error(404)
                return
            body = json.dumps({"models": [{"name": "llama3:latest", "model": "llama3:latest", "size": 4_661_224_676},
                                          {"name": "phi3:mini", "model": "phi3:mini", "size": 2_176_178_913}]})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", asked
    server.shutdown()
    server.server_close()


def test_version_prints_the_package_version():
    r = invoke("--version")
    assert r.exit_code == 0 and r.output.strip() == f"tutor {tutor.__version__}", r.output


def test_python_m_tutor_version_without_importing_torch():
    out = subprocess.run([sys.executable, "-m", "tutor", "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == f"tutor {tutor.__version__}", out.stderr
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom tutor.cli import app\n"
            "r = CliRunner().invoke(app, ['--version'])\nassert r.exit_code == 0, r.output\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stdout + out.stderr


def test_doctor_reports_every_section_as_plain_text_and_a_reachable_ollama(fake_ollama, tmp_path):
    host, asked = fake_ollama
    (tmp_path / "cache" / "gpt2").mkdir(parents=True)
    (tmp_path / "cache" / "gpt2" / "x.bin").write_bytes(b"\0" * 2**20)
    r = invoke("doctor", OLLAMA_HOST=host, TUTOR_CACHE=str(tmp_path / "cache"))
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    labels = [line.split(":")[0] for line in lines if line and not line.startswith(" ")]
    for name in SECTIONS:
        assert name in labels, f"no {name} line in:\n{r.output}"
    assert "\x1b" not in r.output and "[bold" not in r.output  # pasteable: no colour codes, no Rich markup
    assert f"reachable at {host}: models llama3:latest, phi3:mini" in r.output
    assert asked == ["/api/tags"]
    assert f"{tmp_path / 'cache'} ($TUTOR_CACHE), 1 file, 1.0 MiB" in r.output
    assert f"torch:     {__import__('torch').__version__}" in r.output
    assert "GPT-2 BPE files:" in r.output and "(SHA-256 verified)" in r.output
    assert lines[-1] == "No problems found."


def test_unreachable_ollama_is_reported_but_is_not_a_problem(closed_port):
    host = f"http://127.0.0.1:{closed_port}"
    r = invoke("doctor", OLLAMA_HOST=host)
    assert f"Ollama:    not reachable at {host} (nothing answers there)" in r.output, r.output
    assert r.exit_code == 0 and r.output.splitlines()[-1] == "No problems found.", r.output


def test_ollama_probe_gives_up_after_its_timeout():
    """A host that accepts the connection and never answers: the probe returns after the timeout, not later."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        found = doctor.probe_ollama(f"http://127.0.0.1:{s.getsockname()[1]}", timeout=0.3)
    assert "no answer within 0.3 s" in found.text and found.ok, found


@pytest.mark.parametrize("env, platform_name, mode", [
    ({}, "linux", "fork"), ({}, "darwin", "spawn"), ({}, "win32", "spawn"),
    ({"TUTOR_GRADER": "spawn"}, "linux", "spawn"), ({"TUTOR_GRADER": " Fork "}, "darwin", "fork"),
    ({"TUTOR_GRADER": "threads"}, "linux", "fork"),
])
def test_grader_mode_reads_tutor_grader_with_a_platform_default(env, platform_name, mode):
    assert doctor.grader_mode(env, platform_name) == mode


def test_doctor_flags_a_bad_grader_setting_and_exits_1(closed_port):
    r = invoke("doctor", TUTOR_GRADER="threads", OLLAMA_HOST=f"127.0.0.1:{closed_port}")
    assert r.exit_code == 1
    assert "grader:    PROBLEM: fork, but TUTOR_GRADER='threads' is neither fork nor spawn" in r.output, r.output
    assert r.output.splitlines()[-1] == "Problems: grader."


def test_doctor_shows_the_workspace(tmp_path, closed_port):
    from tutor.workspace import init_workspace

    ws = init_workspace(tmp_path / "ws")
    r = invoke("doctor", TUTOR_WORKSPACE=str(ws.root), OLLAMA_HOST=f"127.0.0.1:{closed_port}")
    assert f"workspace: {ws.root}" in r.output, r.output


def test_missing_torch_and_bad_bpe_files_are_problems(monkeypatch, tmp_path):
    from tutor.data import bpe

    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    found = doctor.probe_torch()
    assert not found.ok and "cannot import torch" in found.text, found

    for name in bpe.FILES:
        (tmp_path / name).write_text("not the real file")
    monkeypatch.setattr(bpe, "bundled_files_dir", lambda: tmp_path)
    found = doctor.probe_tiktoken()
    assert not found.ok and "wrong SHA-256" in found.text and "vocab.bpe" in found.text, found


def test_a_probe_that_breaks_is_a_finding_not_a_traceback(monkeypatch):
    def probe_broken():
        raise OSError("disk on fire")

    monkeypatch.setattr(doctor, "PROBES", (doctor.probe_python, probe_broken))
    findings = doctor.diagnose()
    assert [f.name for f in findings] == ["Python", "broken"]
    assert not findings[1].ok and "OSError: disk on fire" in findings[1].text
    assert doctor.render(findings).splitlines()[-1] == "Problems: broken."


def test_doctor_module_imports_neither_torch_nor_textual():
    code = "import sys, tutor.doctor\nprint(' '.join(sys.modules))"
    mods = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          check=True).stdout.split()
    assert "torch" not in mods and "textual" not in mods and "ollama" not in mods


def test_cuda_devices_and_driver_warnings_are_listed(monkeypatch):
    """No GPU here: torch.cuda answers as on a one-GPU machine whose driver warns (the CUDA lines' format)."""
    import types
    import warnings

    import torch

    def is_available():
        warnings.warn("CUDA initialization: the driver is older than this build expects")
        return True

    monkeypatch.setattr(torch.cuda, "is_available", is_available)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: types.SimpleNamespace(
        name="NVIDIA H200", total_memory=140 * 2**30, major=9, minor=0))
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    found = doctor.probe_torch()
    assert found.ok, found
    lines = found.text.splitlines()
    assert "CUDA 12.8: 1 device(s)" in lines, found.text
    assert "  cuda:0 NVIDIA H200, 140 GiB, compute capability 9.0" in lines, found.text
    assert "warning: CUDA initialization: the driver is older than this build expects" in lines, found.text


class FakeDistribution:
    def __init__(self, version: str, direct_url: dict | None):
        self.version, self._direct = version, direct_url

    def read_text(self, name):
        return json.dumps(self._direct) if name == "direct_url.json" and self._direct is not None else None


def test_tutor_probe_tells_an_editable_install_elsewhere_and_two_copies_apart(monkeypatch, tmp_path):
    from pathlib import Path

    here = Path(tutor.__file__).resolve().parent.parent
    cases = [
        (FakeDistribution(tutor.__version__, {"url": here.as_uri(), "dir_info": {"editable": True}}), True,
         f"{tutor.__version__} (gpt-tutor, editable) at {here / 'tutor'}"),
        (FakeDistribution(tutor.__version__, {"url": tmp_path.as_uri(), "dir_info": {"editable": True}}), True,
         f"editable from {tmp_path}, but imported from elsewhere: PYTHONPATH?"),
        (FakeDistribution(tutor.__version__, None), True, "(gpt-tutor, installed)"),
        (FakeDistribution("9.9.9", None), False, "but gpt-tutor 9.9.9 is installed: two copies?"),
    ]
    for dist, ok, expected in cases:
        monkeypatch.setattr(doctor.metadata, "distribution", lambda name, dist=dist: dist)
        found = doctor.probe_tutor()
        assert found.ok == ok and expected in found.text, found


@pytest.mark.parametrize("value, precision", [("1", "bf16"), ("0", "float32")])
def test_the_torch_finding_says_in_which_precision_fast_trains_on_the_cpu(monkeypatch, value, precision):
    monkeypatch.setenv("TUTOR_CPU_BF16", value)
    lines = doctor.probe_torch().text.splitlines()
    assert f"CPU bf16: TUTOR_CPU_BF16={value}, so --fast on the CPU trains in {precision}" in lines, lines


def test_without_the_variable_the_cpu_bf16_line_reports_the_measurement(monkeypatch):
    from tutor.runs import fast

    monkeypatch.delenv("TUTOR_CPU_BF16", raising=False)
    monkeypatch.setattr(fast, "measured_cpu_bf16_speedup", lambda: 0.7)
    lines = doctor.probe_torch().text.splitlines()
    assert "CPU bf16: bf16 matmul measured 0.7x float32 on this CPU, so --fast on the CPU trains in float32" in lines
