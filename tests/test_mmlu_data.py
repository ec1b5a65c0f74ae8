"""MMLU for `tutor run mmlu --data mmlu`: data.tar downloaded from a local server on 127.0.0.1 (a stand-in built
here in the real layout: data/{dev,val,test}/<subject>_<split>.csv, 57 subjects, 14,042 test questions), verified
by content, cached as JSON; `--from` a tar or the extracted folder; damaged inputs refused with one line; the run
uses the dev split for its solved examples."""

from __future__ import annotations

import csv
import http.server
import io
import json
import re
import tarfile
import threading

import pytest
from typer.testing import CliRunner

from tutor.data import mmlu
from tutor.data.datasets import DataError

BIG = "miscellaneous"  # the stand-in puts most questions here, two in every other subject


def subject_csv(subject: str, n: int, split: str) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    for i in range(n):
        w.writerow([f"{split} question {i} about {subject.replace('_', ' ')}, with a comma?", f"first, {i}",
                    "second", f"third \"quoted\" {i}", "fourth\nline two", "ABCD"[i % 4]])
    return buf.getvalue()


def layout(test_total: int = mmlu.EXPECTED_TEST, dev: int = 5, drop: str | None = None) -> dict[str, str]:
    files = {}
    for subject in mmlu.SUBJECTS:
        if subject == drop:
            continue
        n = test_total - 2 * (len(mmlu.SUBJECTS) - 1) if subject == BIG else 2
        files[f"data/test/{subject}_test.csv"] = subject_csv(subject, n, "test")
        files[f"data/dev/{subject}_dev.csv"] = subject_csv(subject, dev, "dev")
        files[f"data/val/{subject}_val.csv"] = "not,read,by,the,loader,X\n"  # val is ignored (X is no letter)
    files["data/README.txt"] = "stand-in for tests\n"
    return files


def data_tar(files: dict[str, str] | None = None, mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, text in (layout() if files is None else files).items():
            raw = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        body = self.server.files.get(self.path.rsplit("/", 1)[-1])
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")


@pytest.fixture(scope="module")
def good_tar() -> bytes:
    return data_tar()


@pytest.fixture
def server(monkeypatch, tmp_path, good_tar):
    monkeypatch.setenv("TUTOR_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TUTOR_OFFLINE", raising=False)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.requests = {mmlu.TAR_NAME: good_tar}, []
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    monkeypatch.setenv("TUTOR_MIRROR", f"http://127.0.0.1:{srv.server_address[1]}")
    yield srv
    srv.shutdown()
    srv.server_close()


def test_downloaded_once_verified_and_cached_without_the_tar(server):
    data = mmlu.load()
    assert len(data["test"]) == 14042 and len(data["dev"]) == 57 * 5
    assert {q["subject"] for q in data["test"]} == set(mmlu.SUBJECTS)
    q = next(q for q in data["test"] if q["subject"] == "anatomy")
    assert q["question"] == "test question 0 about anatomy, with a comma?"
    assert q["choices"] == {"A": "first, 0", "B": "second", "C": 'third "quoted" 0', "D": "fourth\nline two"}
    assert q["answer"] == "A"
    assert server.requests == [f"/{mmlu.TAR_NAME}"]
    assert not (mmlu.cache_path().parent / mmlu.TAR_NAME).exists()
    recorded = json.loads(mmlu.cache_path().read_text())["source"]
    assert len(recorded["sha256"]) == 64 and recorded["from"].endswith("/data.tar")
    assert len(mmlu.load()["test"]) == 14042 and len(server.requests) == 1  # the second load used the cache


@pytest.mark.parametrize("files, words", [
    (layout(test_total=14041), "14,041 test questions, MMLU has 14,042"),
    (layout(drop="virology"), "lacks the test questions of 1 subject (virology)"),
    (layout(dev=4), "5 dev examples for abstract_algebra and 56 more"),
    ({**layout(), "data/test/astrology_test.csv": subject_csv("astrology", 1, "test")}, "astrology"),
    ({"data/test/anatomy_test.csv": "a question,A,B,C,D,E\n"}, "row 1 is not question, four choices"),
    ({"notes/readme.txt": "hello"}, "holds no MMLU test files"),
])
def test_wrong_content_is_refused_and_nothing_is_cached(server, files, words):
    server.files[mmlu.TAR_NAME] = data_tar(files)
    with pytest.raises(DataError, match=re.escape(words)) as e:
        mmlu.fetch()
    assert "--data builtin" in str(e.value)
    assert not mmlu.cache_path().exists()


def test_offline_and_404_say_what_to_do(server, monkeypatch):
    del server.files[mmlu.TAR_NAME]
    with pytest.raises(DataError, match="tutor download mmlu --from FILE"):
        mmlu.fetch()
    monkeypatch.setenv("TUTOR_OFFLINE", "1")
    with pytest.raises(DataError, match="TUTOR_OFFLINE is set"):
        mmlu.fetch()


def test_import_from_a_gzipped_tar_and_from_the_extracted_folder(tmp_path, monkeypatch, good_tar):
    monkeypatch.setenv("TUTOR_CACHE", str(tmp_path / "cache"))
    gz = tmp_path / "data.tar.gz"
    gz.write_bytes(data_tar(mode="w:gz"))
    assert len(json.loads(mmlu.import_source(gz).read_text())["test"]) == 14042
    mmlu.cache_path().unlink()
    folder = tmp_path / "extracted"
    with tarfile.open(fileobj=io.BytesIO(good_tar)) as tar:
        tar.extractall(folder, filter="data")
    for where in (folder, folder / "data"):  # the folder holding data/, or data/ itself
        assert len(mmlu.load()["test"]) == 14042 if mmlu.import_source(where) else False
    with pytest.raises(DataError, match="without test/"):
        mmlu.import_source(tmp_path)
    not_tar = tmp_path / "data.zip"
    not_tar.write_bytes(b"PK\x03\x04 not a tar")
    with pytest.raises(DataError, match="not a tar archive"):
        mmlu.import_source(not_tar)


def test_cli_download_from_file(tmp_path, monkeypatch, good_tar):
    from tutor.cli import app

    monkeypatch.setenv("TUTOR_CACHE", str(tmp_path / "cache"))
    tar = tmp_path / "data.tar"
    tar.write_bytes(good_tar)
    r = CliRunner().invoke(app, ["download", "mmlu", "--from", str(tar)], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "Verified" in r.output and "14,042 test questions in 57 subjects" in r.output
    bad = tmp_path / "bad.tar"
    bad.write_bytes(data_tar(layout(test_total=200)))
    mmlu.cache_path().unlink()
    r = CliRunner().invoke(app, ["download", "mmlu", "--from", str(bad)], env={"COLUMNS": "200"})
    assert r.exit_code == 1 and "has 200 test questions, MMLU has 14,042" in r.output and "Traceback" not in r.output


def test_the_run_scores_mmlu_subjects_with_dev_examples_as_shots(tmp_path, monkeypatch, good_tar):
    import torch

    from tutor.exercise_imports import install_exercises_mapping, reference_mapping
    from tutor.runs import checkpoint as ckpt
    from tutor.runs.configs import PRESETS
    from tutor.runs.mmlu import MmluConfig, mmlu as run_mmlu

    monkeypatch.setenv("TUTOR_CACHE", str(tmp_path / "cache"))
    tar = tmp_path / "data.tar"
    tar.write_bytes(good_tar)
    mmlu.import_source(tar)
    install_exercises_mapping(reference_mapping())
    from exercises.gpt_model import GPTModel

    cfg = {**PRESETS["tiny"].model, "context_length": 256}
    torch.manual_seed(0)
    path = tmp_path / "run" / "checkpoint.pt"
    ckpt.save_checkpoint(path, {"run": "pretrain", "model": ckpt.parameters(GPTModel(cfg)), "model_cfg": cfg})
    m = run_mmlu(MmluConfig(data="mmlu", model=str(path), subjects=("anatomy", "virology"), shots=2,
                            use_reference=True, device="cpu", out=tmp_path / "o"))
    assert m["total"] == 4 and {s["subject"] for s in m["subjects"]} == {"anatomy", "virology"}
    assert all(r["shots"] == 2 for r in m["questions"])
    assert "MMLU test set" in m["data"]
