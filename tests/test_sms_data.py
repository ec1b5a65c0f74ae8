"""SMS data for `tutor run classify`: the built-in messages, the SMS Spam Collection downloaded from a local
server on 127.0.0.1 (a small zip built here in the real layout, with the content checks), `--from` imports,
a learner's own CSV/TSV and the one-line errors for bad input, the balanced 70/10/20 split."""

from __future__ import annotations

import csv
import http.server
import io
import threading
import zipfile

import pytest
from typer.testing import CliRunner

from tutor.data import sms
from tutor.data.datasets import DataError


def collection_text(ham: int = 4827, spam: int = 747) -> str:
    """A stand-in with the real collection's shape: `ham`/`spam`, a tab, a message; 5,574 lines."""
    lines = []
    for i in range(ham + spam):
        if i % 7 == 3 and spam:
            lines.append(f"spam\tFREE prize number {i}! Call 0900{i:06d} now, \"quoted\", 150p/min")
            spam -= 1
        elif ham:
            lines.append(f"ham\tsee you at {i % 12 + 1} o'clock, ok?\x0c no worries")  # a form feed, as in the real file
            ham -= 1
        else:
            lines.append(f"spam\tWIN cash {i}")
            spam -= 1
    return "\n".join(lines) + "\n"


def collection_zip(text: str | None = None, member: str = "SMSSpamCollection") -> bytes:
    """A zip laid out like the UCI download: `SMSSpamCollection` and `readme` at the top."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(member, collection_text() if text is None else text)
        z.writestr("readme", "SMS Spam Collection v.1 (stand-in for tests)\n")
    return buf.getvalue()


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        body = self.server.files.get(self.path.rsplit("/", 1)[-1])
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server(monkeypatch, tmp_path):
    monkeypatch.setenv("TUTOR_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TUTOR_OFFLINE", raising=False)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.requests = {sms.ZIP_NAME: collection_zip()}, []
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    monkeypatch.setenv("TUTOR_MIRROR", srv.url)
    yield srv
    srv.shutdown()
    srv.server_close()


def test_the_collection_is_downloaded_once_verified_and_cached(server):
    rows = sms.load_messages("sms-spam").rows
    assert len(rows) == 5574 and sum(label for label, _ in rows) == 747
    assert server.requests == [f"/{sms.ZIP_NAME}"]
    assert sms.collection_path().is_file()
    assert not (sms.collection_path().parent.parent / sms.ZIP_NAME).exists()  # the zip is not kept
    assert len(sms.load_messages("sms-spam").rows) == 5574
    assert len(server.requests) == 1  # the second load used the cache


def test_a_zip_with_the_wrong_content_is_refused_and_nothing_is_cached(server):
    server.files[sms.ZIP_NAME] = collection_zip(collection_text(ham=100, spam=20))
    with pytest.raises(DataError) as e:
        sms.fetch_collection()
    assert "not the SMS Spam Collection: 120 lines, expected 5,574" in str(e.value)
    assert "--data builtin" in str(e.value)
    assert not sms.collection_path().exists()


def test_wrong_class_counts_are_refused(server):
    server.files[sms.ZIP_NAME] = collection_zip(collection_text(ham=4830, spam=744))
    with pytest.raises(DataError, match="4830 ham / 744 spam, expected 4,827 / 747"):
        sms.fetch_collection()


def test_a_zip_without_the_collection_is_refused(server):
    server.files[sms.ZIP_NAME] = collection_zip(member="other.txt")
    with pytest.raises(DataError, match="without a SMSSpamCollection file"):
        sms.fetch_collection()


def test_the_backup_url_is_tried_when_the_first_fails(server):
    path = sms.fetch_collection(urls=(f"{server.url}/missing.zip", f"{server.url}/{sms.ZIP_NAME}"))
    assert path.is_file() and server.requests == ["/missing.zip", f"/{sms.ZIP_NAME}"]


def test_offline_says_what_to_do(server, monkeypatch):
    monkeypatch.setenv("TUTOR_OFFLINE", "1")
    with pytest.raises(DataError) as e:
        sms.load_messages("sms-spam")
    assert "--data builtin" in str(e.value) and "tutor download sms-spam --from" in str(e.value)
    assert server.requests == []


def test_a_corrupt_cached_copy_is_downloaded_again(server):
    sms.fetch_collection()
    sms.collection_path().write_text("ham\ttruncated\n", encoding="utf-8")
    assert len(sms.load_messages("sms-spam").rows) == 5574
    assert len(server.requests) == 2


@pytest.mark.parametrize("form", ["zip", "extracted"])
def test_cli_download_from_a_hand_downloaded_file(server, tmp_path, form):
    from tutor.cli import app

    source = tmp_path / ("smsspamcollection.zip" if form == "zip" else "SMSSpamCollection")
    source.write_bytes(collection_zip() if form == "zip" else collection_text().encode())
    r = CliRunner().invoke(app, ["download", "sms-spam", "--from", str(source)], terminal_width=200)
    assert r.exit_code == 0, r.output
    assert "Verified" in r.output and "747 spam" in r.output
    assert server.requests == []
    assert len(sms.load_messages("sms-spam").rows) == 5574 and server.requests == []


def test_cli_download_with_a_wrong_file_is_one_clear_line(server, tmp_path):
    from tutor.cli import app

    source = tmp_path / "notes.txt"
    source.write_text("ham\tjust one line\n")
    r = CliRunner().invoke(app, ["download", "sms-spam", "--from", str(source)], terminal_width=200)
    assert r.exit_code == 1
    assert "not the SMS Spam Collection: 1 lines" in r.output and "Traceback" not in r.output


def test_cli_download_fetches_from_the_server(server):
    from tutor.cli import app

    r = CliRunner().invoke(app, ["download", "sms-spam"], terminal_width=200)
    assert r.exit_code == 0, r.output
    assert server.requests == [f"/{sms.ZIP_NAME}"]


# -- built-in messages, the split, a learner's file ---------------------------------------------------------
def test_the_builtin_messages_are_varied_and_both_classes_are_well_represented():
    rows = sms.load_messages("builtin").rows
    spam = [t for label, t in rows if label == 1]
    ham = [t for label, t in rows if label == 0]
    assert len(rows) >= 300 and len(spam) >= 120 and len(ham) >= 120
    assert len(set(t for _, t in rows)) == len(rows), "duplicate messages"
    assert any("http" in t or ".example" in t for t in spam) and any("£" in t for t in ham)


def test_the_builtin_messages_cannot_be_told_apart_by_length_alone():
    """Short spam and long ham in the built-in file, so a classifier must read the words: the best single
    length threshold (every cut, both directions) stays near the majority rate, not the ~97% it once gave."""
    from tutor.data.bpe import gpt2_encoding

    enc = gpt2_encoding()
    lengths = [(len(enc.encode(t)), label) for label, t in sms.load_messages("builtin").rows]
    spam = [n for n, label in lengths if label == 1]
    ham = [n for n, label in lengths if label == 0]
    assert sum(n < 15 for n in spam) >= 40 and sum(n > 23 for n in ham) >= 40, (sorted(spam), sorted(ham))
    best = 0.0
    for cut in sorted({n for n, _ in lengths}):
        right = sum((n >= cut) == (label == 1) for n, label in lengths) / len(lengths)  # "long means spam"
        best = max(best, right, 1 - right)  # and "short means spam"
    majority = max(len(spam), len(ham)) / len(lengths)
    assert majority <= best <= 0.70, f"a length threshold alone classifies {best:.1%} (majority {majority:.1%})"


def test_balanced_split_is_70_10_20_balanced_and_fixed():
    rows = [(1, f"spam {i}") for i in range(50)] + [(0, f"ham {i}") for i in range(400)]
    train, val, test = sms.balanced_split(rows)
    assert (len(train), len(val), len(test)) == (70, 10, 20)
    together = train + val + test
    assert sum(label for label, _ in together) == 50 and len(set(together)) == 100
    assert sms.balanced_split(rows) == (train, val, test)  # the same seed, the same split
    assert sms.balanced_split(rows, seed=1) != (train, val, test)


def test_split_files_are_csv_with_label_and_text(tmp_path):
    rows = [(1, 'WIN, "now"'), (0, "line one\nline two")] * 10
    files = sms.write_splits(rows, tmp_path)
    with open(files["train"], newline="", encoding="utf-8") as f:
        read = list(csv.DictReader(f))
    assert set(read[0]) == {"Label", "Text"} and {r["Label"] for r in read} <= {"0", "1"}
    assert {r["Text"] for r in read} <= {'WIN, "now"', "line one\nline two"}
    assert sum(len(list(csv.DictReader(open(p, newline="")))) for p in files.values()) == 20


@pytest.mark.parametrize("name, content", [
    ("mine.csv", "Label,Text\n1,\"Win a prize, now\"\n0,see you\n"),
    ("mine.tsv", "text\tlabel\nWin a prize, now\tspam\nsee you\tham\n"),
    ("mine.txt", "category,message\nspam,Win a prize\nham,see you\n"),
    ("SMSSpamCollection", "spam\tWin a prize\nham\tsee you\n"),
])
def test_a_learners_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    rows = sms.load_messages(str(path)).rows
    assert [label for label, _ in rows] == [1, 0] and rows[0][1].startswith("Win a prize")


@pytest.mark.parametrize("content, words", [
    ("Label,Body\n1,win\n", "no Text column"),
    ("Text\nhello\n", "no Label column"),
    ("Label,Text\n1,win\n0,hi\n2,what\n", "line 4: label '2'; labels must be two classes"),
    ("Label,Text\n1,win\n0,   \n", "1 message(s) with an empty text"),
    ("Label,Text\n1,win\n1,prize\n", "every message is spam; a classifier needs examples of both classes"),
    ("Label,Text\n", "holds no messages"),
])
def test_bad_input_is_one_clear_line(tmp_path, content, words):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as e:
        sms.load_messages(str(path))
    assert words in str(e.value) and "\n" not in str(e.value)


def test_a_missing_file_names_the_choices(tmp_path):
    with pytest.raises(DataError, match="not builtin or sms-spam"):
        sms.load_messages(str(tmp_path / "nope.csv"))
