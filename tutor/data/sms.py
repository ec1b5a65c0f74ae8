"""Labelled SMS messages for `tutor run classify`: the built-in sample, the SMS Spam Collection, a learner's file.

`load_messages("builtin" | "sms-spam" | PATH)` returns `(label, text)` rows (1 = spam, 0 = not spam);
`balanced_split` undersamples the larger class and splits 70/10/20 with a fixed seed; `write_split` writes a
split as CSV with the columns `Label`, `Text` (what `SpamDataset` reads).

The SMS Spam Collection (UCI id 228, CC BY 4.0) is published only as a zip whose hash is not pinned anywhere
we trust, so it is verified by content instead: the extracted `SMSSpamCollection` must have 5,574 lines, each
`ham` or `spam`, a tab and a text, 4,827 ham and 747 spam. The verified file is kept in the cache
(`$TUTOR_CACHE/data/sms_spam_collection/`). `TUTOR_MIRROR=URL` fetches the zip from `URL/<zip name>`.
Every bad input raises `DataError` with one line that says what is wrong. No torch, no UI.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from tutor.data.datasets import BUILTIN_DIR, DataError, data_cache_dir, first_usable_download
from tutor.data.download import Progress, sha256_file

NAME = "sms-spam"
ZIP_NAME = "sms-spam-collection.zip"
URLS = ("https://archive.ics.uci.edu/static/public/228/sms+spam+collection.zip",
        "https://f001.backblazeb2.com/file/LLMs-from-scratch/sms%2Bspam%2Bcollection.zip")
MEMBER = "SMSSpamCollection"
EXPECTED_LINES, EXPECTED_HAM, EXPECTED_SPAM = 5574, 4827, 747
SPLIT_SEED = 123  # the same split for every run, so test accuracies are comparable
FRACTIONS = (0.7, 0.1)  # train, validation; the rest (20%) is the test set
SPAM_LABELS = {"1", "spam"}
HAM_LABELS = {"0", "ham", "not spam", "not_spam", "notspam"}

Row = tuple[int, str]


@dataclass(frozen=True)
class Messages:
    spec: str  # what was asked for: "builtin", "sms-spam" or the path
    label: str  # for people
    rows: list[Row]


def _lines(text: str) -> list[str]:
    """Lines split at newlines only (str.splitlines would also split at the form feeds and other separators
    that a few messages contain)."""
    return text.replace("\r\n", "\n").split("\n")


def parse_collection(text: str, where: str) -> list[Row]:
    """Rows of the `ham<TAB>text` / `spam<TAB>text` format of the SMS Spam Collection (no quoting)."""
    rows = []
    for n, line in enumerate(_lines(text), 1):
        if not line.strip():
            continue
        label, sep, message = line.partition("\t")
        if not sep or label not in ("ham", "spam"):
            raise DataError(f"{where} line {n}: expected 'ham' or 'spam', a tab, then the message; got {line[:60]!r}.")
        rows.append((1 if label == "spam" else 0, message))
    return rows


def verify_collection(text: str, where: str) -> list[Row]:
    """The collection's rows if `text` has the published line and class counts, else DataError."""
    lines = [line for line in _lines(text) if line.strip()]
    if len(lines) != EXPECTED_LINES:
        raise DataError(f"{where} is not the SMS Spam Collection: {len(lines)} lines, expected {EXPECTED_LINES:,}.")
    rows = parse_collection(text, where)
    spam = sum(label for label, _ in rows)
    if (len(rows) - spam, spam) != (EXPECTED_HAM, EXPECTED_SPAM):
        raise DataError(f"{where} is not the SMS Spam Collection: {len(rows) - spam} ham / {spam} spam, expected "
                        f"{EXPECTED_HAM:,} / {EXPECTED_SPAM}.")
    return rows


def collection_path() -> Path:
    return data_cache_dir() / "sms_spam_collection" / MEMBER


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _cached_rows() -> Optional[list[Row]]:
    path = collection_path()
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    try:
        mark = json.loads(_marker(path).read_text())
        if mark.get("sha256") == sha256_file(path):
            return parse_collection(text, str(path))
    except (OSError, ValueError):
        pass
    try:
        rows = verify_collection(text, str(path))
    except DataError:
        return None
    _store(text)  # rewrite the marker
    return rows


def _store(text: str) -> Path:
    """Write the verified collection into the cache, atomically, with a marker recording its hash."""
    path = collection_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    _marker(path).write_text(json.dumps({"sha256": sha256_file(path), "lines": EXPECTED_LINES}))
    return path


def _read_collection_file(source: Path) -> str:
    """The text of `SMSSpamCollection`, from the official zip or from the extracted file itself."""
    if zipfile.is_zipfile(source):
        try:
            with zipfile.ZipFile(source) as z:
                names = [n for n in z.namelist() if n.rsplit("/", 1)[-1] == MEMBER]
                if not names:
                    raise DataError(f"{source} is a zip without a {MEMBER} file; is it the SMS Spam Collection zip?")
                raw = z.read(names[0])
        except zipfile.BadZipFile as e:
            raise DataError(f"{source} is a damaged zip file ({e}); download it again.") from None
    else:
        raw = source.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def import_collection(source: Path | str) -> Path:
    """`tutor download sms-spam --from PATH`: verify a hand-downloaded zip or `SMSSpamCollection`, cache it."""
    source = Path(source).expanduser()
    if not source.is_file():
        raise DataError(f"{source} does not exist or is not a file.")
    text = _read_collection_file(source)
    verify_collection(text, str(source))
    return _store(text)


def offline_advice() -> str:
    return (f"To go on without it: use `--data builtin` (messages that ship with tutor), or download {URLS[0]} "
            f"by other means and run `tutor download {NAME} --from FILE` (the zip or the extracted {MEMBER}).")


def fetch_collection(*, progress: Optional[Progress] = None, urls: Optional[tuple[str, ...]] = None,
                     timeout: float = 30.0) -> Path:
    """The verified cached collection, downloading the zip on first use (tried at each URL in turn)."""
    if _cached_rows() is not None:
        return collection_path()
    if os.environ.get("TUTOR_OFFLINE"):
        raise DataError(f"The SMS Spam Collection is not in the cache and TUTOR_OFFLINE is set. {offline_advice()}")
    mirror = os.environ.get("TUTOR_MIRROR")
    urls = urls or ((f"{mirror.rstrip('/')}/{ZIP_NAME}",) if mirror else URLS)
    return first_usable_download(urls, data_cache_dir() / ZIP_NAME, lambda path, url: import_collection(path),
                                 what="the SMS Spam Collection", advice=offline_advice(), progress=progress,
                                 timeout=timeout)


def read_labelled_file(path: Path) -> list[Row]:
    """A learner's CSV or TSV with a header naming a label column and a text column (case-insensitive:
    `Label`/`label`/`v1`, `Text`/`text`/`message`/`sms`/`v2`); labels 0/1 or ham/spam. A headerless file in
    the SMS Spam Collection's own format (`ham<TAB>text`) is read as such."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start}).") from None
    first = text.split("\n", 1)[0]
    if first.startswith(("ham\t", "spam\t")):
        rows = parse_collection(text, str(path))
    else:
        delimiter = "\t" if path.suffix.lower() == ".tsv" or ("\t" in first and "," not in first) else ","
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        header = [h.strip().lower() for h in next(reader, [])]
        label_col = next((header.index(h) for h in ("label", "v1", "category", "class") if h in header), None)
        text_col = next((header.index(h) for h in ("text", "message", "sms", "v2") if h in header), None)
        if label_col is None or text_col is None:
            missing = "Label" if label_col is None else "Text"
            raise DataError(f"{path}: no {missing} column in the header {header[:6]}; the file needs a Label "
                            "column (0/1 or ham/spam) and a Text column.")
        rows = []
        for n, record in enumerate(reader, 2):
            if not any(cell.strip() for cell in record):
                continue
            if len(record) <= max(label_col, text_col):
                raise DataError(f"{path} line {n}: {len(record)} columns, expected at least "
                                f"{max(label_col, text_col) + 1}.")
            raw = record[label_col].strip().lower()
            if raw in SPAM_LABELS:
                label = 1
            elif raw in HAM_LABELS:
                label = 0
            else:
                raise DataError(f"{path} line {n}: label {record[label_col]!r}; labels must be two classes, "
                                "0/1 or ham/spam.")
            rows.append((label, record[text_col]))
    check_rows(rows, str(path))
    return rows


def check_rows(rows: list[Row], where: str) -> None:
    if not rows:
        raise DataError(f"{where} holds no messages.")
    empty = sum(1 for _, t in rows if not t.strip())
    if empty:
        raise DataError(f"{where}: {empty} message(s) with an empty text; remove them or fill them in.")
    classes = {label for label, _ in rows}
    if len(classes) < 2:
        only = "spam" if classes == {1} else "not spam"
        raise DataError(f"{where}: every message is {only}; a classifier needs examples of both classes.")


def load_messages(spec: str, *, progress: Optional[Progress] = None) -> Messages:
    """The labelled messages for `--data SPEC`: `builtin`, `sms-spam` (downloaded once) or a file path."""
    if spec == "builtin":
        path = BUILTIN_DIR / "sms.tsv"
        return Messages(spec, "built-in SMS messages (tutor/data/builtin)",
                        parse_collection(path.read_text(encoding="utf-8"), str(path)))
    if spec == NAME:
        path = fetch_collection(progress=progress)
        return Messages(spec, "SMS Spam Collection (UCI, CC BY 4.0)",
                        parse_collection(path.read_text(encoding="utf-8"), str(path)))
    path = Path(spec).expanduser()
    if not path.is_file():
        raise DataError(f"--data {spec}: no such file, and not builtin or {NAME}.")
    return Messages(str(path.resolve()), str(path), read_labelled_file(path))


def balanced_split(rows: list[Row], seed: int = SPLIT_SEED) -> tuple[list[Row], list[Row], list[Row]]:
    """Undersample the larger class to the smaller one's count, shuffle, split 70/10/20 (train, val, test)."""
    check_rows(rows, "the data")
    rng = random.Random(seed)
    spam = [r for r in rows if r[0] == 1]
    ham = [r for r in rows if r[0] == 0]
    n = min(len(spam), len(ham))
    balanced = rng.sample(ham, n) + rng.sample(spam, n)
    rng.shuffle(balanced)
    n_train = int(len(balanced) * FRACTIONS[0])
    n_val = int(len(balanced) * FRACTIONS[1])
    return balanced[:n_train], balanced[n_train:n_train + n_val], balanced[n_train + n_val:]


def write_split(rows: list[Row], path: Path) -> Path:
    """One split as CSV with the header `Label,Text` (0 = not spam, 1 = spam)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["Label", "Text"])
        writer.writerows(rows)
    return path


def write_splits(rows: list[Row], folder: Path, seed: int = SPLIT_SEED) -> dict[str, Path]:
    """`train.csv`, `validation.csv`, `test.csv` in `folder`, from `balanced_split(rows)`."""
    train, val, test = balanced_split(rows, seed)
    return {"train": write_split(train, folder / "train.csv"),
            "validation": write_split(val, folder / "validation.csv"),
            "test": write_split(test, folder / "test.csv")}
