"""Shared fixtures: a warm grading server for the whole session, and isolated caches."""

import os
import tempfile

import pytest

# Tests never touch the real user cache or workspace settings.
os.environ.setdefault("TUTOR_CACHE", tempfile.mkdtemp(prefix="tutor-test-cache-"))
os.environ.pop("TUTOR_WORKSPACE", None)
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
