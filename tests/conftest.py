"""Shared fixtures: a warm grading server for the whole session, and isolated caches."""

import os
import tempfile

import pytest

# Tests never touch the real user cache or workspace settings.
os.environ.setdefault("TUTOR_CACHE", tempfile.mkdtemp(prefix="tutor-test-cache-"))
os.environ.pop("TUTOR_WORKSPACE", None)
# In-process runs must not change the pytest worker's allocator, and `--fast` on the CPU stays in float32 (the
# loss comparisons with plain runs need it) unless a test asks for bf16: tests/runs/test_fast.py does.
os.environ.setdefault("TUTOR_KEEP_FREED_MEMORY", "0")
os.environ.setdefault("TUTOR_CPU_BF16", "0")
# Under pytest-xdist each worker is one process on one core: torch's own thread pool (and that of every `tutor`
# child a test starts) would otherwise oversubscribe the cores, which slows everything down.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def grader():
    from tutor.grading.runner import GradingServer

    server = GradingServer(timeout=60)
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def spawn_grader():
    """Grading as on Windows and macOS: a fresh process per exercise (forced here, on Linux)."""
    from tutor.grading.runner import GradingServer

    server = GradingServer(timeout=60, mode="spawn")
    server.start()
    yield server
    server.close()
