"""The MMLU test set for `tutor run mmlu --data mmlu`: downloaded once, verified by its content, cached.

MMLU (Hendrycks et al., "Measuring Massive Multitask Language Understanding", ICLR 2021; MIT licence) is
published as `data.tar`: a folder `data/` with `dev/`, `val/` and `test/` (and `auxiliary_train/`), one
headerless CSV per subject and split (`abstract_algebra_test.csv`: question, four choices, answer letter).
No checksum of the tar is published anywhere we can trust, so it is verified by content instead: exactly
the 57 subjects, 14,042 test questions, 5 solved dev examples per subject, every answer one of A–D. The
verified questions are kept in the cache as one JSON file (`$TUTOR_CACHE/data/mmlu/mmlu.json`, a few MB);
the tar (about 166 MB) is deleted once read. The SHA-256 of the tar that was read is recorded beside it.

`tutor download mmlu --from PATH` takes the tar (also `.tar.gz`) or the extracted folder (the one holding
`test/`, or its parent). `TUTOR_MIRROR=URL` fetches `URL/data.tar`. Errors are `DataError`s with one line that
says what to do. No torch, no UI.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Iterable, Optional

from tutor.data.datasets import DataError, data_cache_dir, first_usable_download
from tutor.data.download import Progress, sha256_file

NAME = "mmlu"
TAR_NAME = "data.tar"
URLS = ("https://people.eecs.berkeley.edu/~hendrycks/data.tar",)
SUBJECTS = (
    "abstract_algebra", "anatomy", "astronomy", "business_ethics", "clinical_knowledge", "college_biology",
    "college_chemistry", "college_computer_science", "college_mathematics", "college_medicine",
    "college_physics", "computer_security", "conceptual_physics", "econometrics", "electrical_engineering",
    "elementary_mathematics", "formal_logic", "global_facts", "high_school_biology", "high_school_chemistry",
    "high_school_computer_science", "high_school_european_history", "high_school_geography",
    "high_school_government_and_politics", "high_school_macroeconomics", "high_school_mathematics",
    "high_school_microeconomics", "high_school_physics", "high_school_psychology", "high_school_statistics",
    "high_school_us_history", "high_school_world_history", "human_aging", "human_sexuality",
    "international_law", "jurisprudence", "logical_fallacies", "machine_learning", "management", "marketing",
    "medical_genetics", "miscellaneous", "moral_disputes", "moral_scenarios", "nutrition", "philosophy",
    "prehistory", "professional_accounting", "professional_law", "professional_medicine",
    "professional_psychology", "public_relations", "security_studies", "sociology", "us_foreign_policy",
    "virology", "world_religions",
)
EXPECTED_TEST = 14042
DEV_PER_SUBJECT = 5
LETTERS = ("A", "B", "C", "D")
SPLITS = ("test", "dev")


def cache_path() -> Path:
    return data_cache_dir() / "mmlu" / "mmlu.json"


def is_cached() -> bool:
    return cache_path().is_file()


def _rows(text: str, where: str, subject: str) -> list[dict]:
    questions = []
    for n, row in enumerate(csv.reader(io.StringIO(text)), 1):
        if not row:
            continue
        if len(row) != 6 or row[5].strip() not in LETTERS:
            raise DataError(f"{where}: row {n} is not question, four choices and an answer letter A-D; is "
                            f"this MMLU's data.tar?")
        question, *choices, answer = (cell.strip() for cell in row)
        questions.append({"question": question, "choices": dict(zip(LETTERS, choices)), "answer": answer,
                          "subject": subject})
    return questions


def parse(files: Iterable[tuple[str, str]], where: str) -> dict[str, list[dict]]:
    """`{"test": [...], "dev": [...]}` from `(path inside the archive, text)` pairs, checked by content.

    Only `test/` and `dev/` files are read; `val/` and `auxiliary_train/` are ignored.
    """
    found: dict[str, dict[str, list[dict]]] = {split: {} for split in SPLITS}
    for name, text in files:
        parent, _, filename = name.replace("\\", "/").rpartition("/")
        split = parent.rsplit("/", 1)[-1]
        if split not in SPLITS or not filename.endswith(f"_{split}.csv"):
            continue
        subject = filename[: -len(f"_{split}.csv")]
        found[split][subject] = _rows(text, f"{where}: {name}", subject)
    missing = [s for s in SUBJECTS if s not in found["test"]]
    if len(missing) == len(SUBJECTS):
        raise DataError(f"{where} holds no MMLU test files (test/<subject>_test.csv); is it MMLU's data.tar or "
                        f"its extracted data folder?")
    if missing:
        raise DataError(f"{where} lacks the test questions of {len(missing)} subject"
                        f"{'s' if len(missing) > 1 else ''} ({', '.join(missing[:3])}"
                        f"{', …' if len(missing) > 3 else ''}); the file is incomplete, download it again.")
    extra = sorted(set(found["test"]) - set(SUBJECTS))
    if extra:
        raise DataError(f"{where} has test files for subjects MMLU does not have ({', '.join(extra[:3])}); it is "
                        f"not the original data.tar.")
    n_test = sum(len(found["test"][s]) for s in SUBJECTS)
    if n_test != EXPECTED_TEST:
        raise DataError(f"{where} has {n_test:,} test questions, MMLU has {EXPECTED_TEST:,}; the file is damaged "
                        f"or a different version, download it again.")
    short = [s for s in SUBJECTS if len(found["dev"].get(s, ())) != DEV_PER_SUBJECT]
    if short:
        raise DataError(f"{where} does not have {DEV_PER_SUBJECT} dev examples for {short[0]}"
                        f"{f' and {len(short) - 1} more subjects' if len(short) > 1 else ''}; download it again.")
    return {split: [q for s in SUBJECTS for q in found[split][s]] for split in SPLITS}


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _archive_files(source: Path) -> Iterable[tuple[str, str]]:
    try:
        with tarfile.open(source) as tar:  # plain or compressed; members are read, never extracted
            for member in tar:
                if member.isfile() and member.name.endswith(".csv") and ("/test/" in f"/{member.name}"
                                                                         or "/dev/" in f"/{member.name}"):
                    handle = tar.extractfile(member)
                    if handle is not None:
                        yield member.name, _decode(handle.read())
    except (tarfile.TarError, EOFError, OSError) as e:
        raise DataError(f"{source} is not a readable tar archive ({e}); download it again.") from None


def _folder_files(source: Path) -> Iterable[tuple[str, str]]:
    roots = [source, source / "data"]
    root = next((r for r in roots if (r / "test").is_dir()), None)
    if root is None:
        raise DataError(f"{source} is a folder without test/ (nor data/test/); pass MMLU's data.tar or the folder "
                        f"it extracts to.")
    for split in SPLITS:
        for path in sorted((root / split).glob(f"*_{split}.csv")):
            yield f"{split}/{path.name}", _decode(path.read_bytes())


def read_source(source: Path) -> dict[str, list[dict]]:
    """The verified questions of a tar archive or an extracted folder."""
    if source.is_dir():
        return parse(_folder_files(source), str(source))
    if not source.is_file():
        raise DataError(f"{source} does not exist.")
    if not tarfile.is_tarfile(source):
        raise DataError(f"{source} is not a tar archive nor a folder; pass MMLU's data.tar (or the folder it "
                        f"extracts to).")
    return parse(_archive_files(source), str(source))


def _store(data: dict[str, list[dict]], origin: dict) -> Path:
    path = cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({**data, "source": origin}), encoding="utf-8")
    os.replace(tmp, path)
    return path


def import_source(source: Path | str) -> Path:
    """`tutor download mmlu --from PATH`: verify a hand-downloaded data.tar (or its folder) and cache it."""
    source = Path(source).expanduser()
    data = read_source(source)
    origin = {"from": str(source)}
    if source.is_file():
        origin["sha256"] = sha256_file(source)
    return _store(data, origin)


def offline_advice() -> str:
    return (f"To go on without it: use `--data builtin` (questions that ship with tutor), or download {URLS[0]} "
            f"by other means and run `tutor download {NAME} --from FILE` (the tar or the folder it extracts to).")


def fetch(*, progress: Optional[Progress] = None, urls: Optional[tuple[str, ...]] = None,
          timeout: float = 30.0) -> Path:
    """The cached questions, downloading and verifying data.tar on first use (each URL in turn)."""
    if is_cached():
        return cache_path()
    if os.environ.get("TUTOR_OFFLINE"):
        raise DataError(f"MMLU is not in the cache and TUTOR_OFFLINE is set. {offline_advice()}")
    mirror = os.environ.get("TUTOR_MIRROR")
    urls = urls or ((f"{mirror.rstrip('/')}/{TAR_NAME}",) if mirror else URLS)
    return first_usable_download(
        urls, data_cache_dir() / "mmlu" / TAR_NAME,
        lambda path, url: _store(read_source(path), {"from": url, "sha256": sha256_file(path)}),
        what="MMLU", advice=offline_advice(), progress=progress, timeout=timeout)


def load(*, progress: Optional[Progress] = None) -> dict[str, list[dict]]:
    """`{"test": [...], "dev": [...]}`, each question `{"question", "choices", "answer", "subject"}`."""
    path = fetch(progress=progress)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if len(data["test"]) != EXPECTED_TEST:
            raise ValueError("wrong count")
    except (OSError, ValueError, KeyError, TypeError):
        path.unlink(missing_ok=True)  # a damaged cache is dropped, so the next run fetches it again
        raise DataError(f"The cached MMLU at {path} was damaged and has been removed; run again to download "
                        f"it, or `tutor download {NAME} --from FILE`.") from None
    return {split: data[split] for split in SPLITS}
