"""Verified downloads against a local HTTP server on 127.0.0.1 (never the internet): range requests, a transfer
that breaks off and is continued, a server that ignores Range, wrong checksums, 404, an unreachable server,
and the cache and messages that `--data verdict` relies on."""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import threading

import pytest
from typer.testing import CliRunner

from tutor.data import datasets
from tutor.data.download import ChecksumError, DownloadError, OfflineError, download_file

PAYLOAD = bytes(range(256)) * 400 + b"the end\n"  # 102,408 bytes: several read chunks
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        server = self.server
        server.requests.append({"path": self.path, "range": self.headers.get("Range")})
        name = self.path.rsplit("/", 1)[-1]
        body = server.files.get(name)
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and self.path.startswith("/range/"):
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        chunk = body[start:]
        self.send_header("Content-Length", str(len(chunk)))
        self.end_headers()
        if server.cut_after and len(server.requests) == 1:
            # The first transfer breaks off: announce everything, send part of it, hang up.
            self.wfile.write(chunk[:server.cut_after])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(chunk)


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files = {"data.bin": PAYLOAD}
    srv.requests = []
    srv.cut_after = 0
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


def closed_port_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/range/data.bin"


def test_download_verifies_and_renames_into_place(server, tmp_path):
    seen = []
    dest = download_file(f"{server.url}/range/data.bin", tmp_path / "sub" / "data.bin", SHA,
                         progress=lambda done, total: seen.append((done, total)))
    assert dest.read_bytes() == PAYLOAD
    assert sorted(p.name for p in dest.parent.iterdir() if not p.name.endswith(".lock")) == ["data.bin"], \
        "no .part file may be left behind"
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD)), f"last progress report: {seen[-1]}"


def test_a_transfer_that_breaks_off_is_continued_with_a_range_request(server, tmp_path):
    server.cut_after = 30_000
    dest = download_file(f"{server.url}/range/data.bin", tmp_path / "data.bin", SHA)
    assert dest.read_bytes() == PAYLOAD
    assert [r["range"] for r in server.requests] == [None, "bytes=30000-"], server.requests


def test_a_partial_file_from_an_earlier_attempt_is_continued(server, tmp_path):
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD[:50_000])
    dest = download_file(f"{server.url}/range/data.bin", tmp_path / "data.bin", SHA)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests[0]["range"] == "bytes=50000-"


def test_a_complete_partial_file_is_finished_without_downloading_again(server, tmp_path):
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD)
    dest = download_file(f"{server.url}/range/data.bin", tmp_path / "data.bin", SHA)
    assert dest.read_bytes() == PAYLOAD  # the server answered 416: nothing left to send


def test_a_server_that_ignores_range_is_downloaded_from_the_start(server, tmp_path):
    (tmp_path / "data.bin.part").write_bytes(b"x" * 1000)  # would corrupt the file if appended to
    dest = download_file(f"{server.url}/plain/data.bin", tmp_path / "data.bin", SHA)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests[0]["range"] == "bytes=1000-"


def test_a_wrong_checksum_keeps_nothing_and_leaves_the_old_file(server, tmp_path):
    dest = tmp_path / "data.bin"
    dest.write_bytes(b"old verified copy")
    with pytest.raises(ChecksumError) as e:
        download_file(f"{server.url}/range/data.bin", dest, "0" * 64)
    assert "expected 000" in str(e.value) and SHA in str(e.value)
    assert dest.read_bytes() == b"old verified copy"
    assert not (tmp_path / "data.bin.part").exists()


def test_404_is_a_download_error_naming_the_url(server, tmp_path):
    with pytest.raises(DownloadError) as e:
        download_file(f"{server.url}/range/missing.bin", tmp_path / "missing.bin", SHA)
    assert "404" in str(e.value) and "missing.bin" in str(e.value)
    assert not isinstance(e.value, OfflineError)
    assert not (tmp_path / "missing.bin").exists()


def test_an_unreachable_server_is_an_offline_error(tmp_path):
    with pytest.raises(OfflineError):
        download_file(closed_port_url(), tmp_path / "data.bin", SHA, timeout=5)


# -- the cache: tutor.data.datasets ----------------------------------------------------------------------------
@pytest.fixture
def remote(tmp_path, monkeypatch, server):
    monkeypatch.setenv("TUTOR_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TUTOR_OFFLINE", raising=False)
    monkeypatch.setenv("TUTOR_MIRROR", f"{server.url}/range")
    fake = datasets.RemoteFile(name="verdict", filename="data.bin", url="https://example.invalid/data.bin",
                               sha256=SHA, size=len(PAYLOAD), description="test file")
    monkeypatch.setitem(datasets.REMOTE_FILES, "verdict", fake)
    return fake


def test_fetch_downloads_once_then_uses_the_cache(remote, server, tmp_path):
    path = datasets.fetch("verdict")
    assert path == tmp_path / "cache" / "data" / "data.bin" and path.read_bytes() == PAYLOAD
    assert len(server.requests) == 1 and server.requests[0]["path"] == "/range/data.bin"
    assert datasets.fetch("verdict") == path
    assert len(server.requests) == 1, "a verified cached copy must not be downloaded again"


def test_a_corrupt_cached_copy_is_replaced(remote, server, tmp_path):
    cached = tmp_path / "cache" / "data" / "data.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated")
    assert datasets.fetch("verdict").read_bytes() == PAYLOAD
    assert len(server.requests) == 1


def test_offline_message_says_what_to_do(remote, monkeypatch, tmp_path):
    monkeypatch.setenv("TUTOR_MIRROR", closed_port_url().rsplit("/", 1)[0])
    with pytest.raises(datasets.DataError) as e:
        datasets.fetch("verdict", timeout=5)
    msg = str(e.value)
    assert "--data builtin" in msg and "tutor download verdict --from FILE" in msg, msg
    assert str(tmp_path / "cache" / "data" / "data.bin") in msg, msg


def test_tutor_offline_never_touches_the_network(remote, server, monkeypatch):
    monkeypatch.setenv("TUTOR_OFFLINE", "1")
    with pytest.raises(datasets.DataError) as e:
        datasets.load_text("verdict")
    assert "TUTOR_OFFLINE" in str(e.value) and "--data builtin" in str(e.value)
    assert server.requests == []


def test_a_hand_downloaded_file_is_verified_before_import(remote, tmp_path):
    good, bad = tmp_path / "good.bin", tmp_path / "bad.bin"
    good.write_bytes(PAYLOAD)
    bad.write_bytes(PAYLOAD[:-1])
    with pytest.raises(datasets.DataError) as e:
        datasets.import_file("verdict", bad)
    assert "SHA-256" in str(e.value)
    assert datasets.import_file("verdict", good).read_bytes() == PAYLOAD
    os.environ["TUTOR_OFFLINE"] = "1"  # the imported copy is used without any network
    try:
        assert datasets.fetch("verdict").read_bytes() == PAYLOAD
    finally:
        del os.environ["TUTOR_OFFLINE"]


def test_the_pinned_verdict_entry_matches_sources_md():
    v = datasets.REMOTE_FILES["verdict"]
    assert v.sha256 == "b41e41a68f0398a3154ae69e2e4c0e2694e17fe0d66730536837f1b01935b31f"
    assert v.url.endswith("/ch02/01_main-chapter-code/the-verdict.txt") and v.size == 20479


def test_the_builtin_corpus_ships_and_is_long_enough():
    source = datasets.load_text("builtin")
    assert len(source.text) >= 20_000
    assert "<|endoftext|>" in source.text  # stories are separated like documents in GPT-2's training data


def test_cli_download_and_offline_pretrain_messages(remote, server, tmp_path, monkeypatch):
    from tutor.cli import app

    runner = CliRunner()
    env = {"COLUMNS": "200", "TERM": "dumb"}
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"nope")
    r = runner.invoke(app, ["download", "verdict", "--from", str(bad)], env=env)
    assert r.exit_code == 1 and "SHA-256" in r.output, r.output
    r = runner.invoke(app, ["download", "nonsense"], env=env)
    assert r.exit_code == 2 and "verdict" in r.output, r.output

    monkeypatch.setenv("TUTOR_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["run", "pretrain", "--data", "verdict"], env=env)
    assert r.exit_code == 1 and "--data builtin" in r.output, r.output
    monkeypatch.delenv("TUTOR_OFFLINE")
    r = runner.invoke(app, ["download", "verdict"], env=env)
    assert r.exit_code == 0 and "Verified" in r.output, r.output
    assert (tmp_path / "cache" / "data" / "data.bin").read_bytes() == PAYLOAD
