"""Principle 7: an unreachable target gives one clear message within seconds."""

import socket
import subprocess
import sys
import time
from pathlib import Path

from seecodes_conformance.target import EXIT_TARGET_UNAVAILABLE

ROOT = Path(__file__).resolve().parents[1]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# What the harness may add to pytest's own start-up (plugin import and assertion rewriting take
# seconds on a busy machine without bytecode caches, and are not the harness's probe).
PROBE_WITHIN_S = 8.0


def _startup_s() -> float:
    """How long pytest takes to start with the harness loaded, on this machine, right now."""
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "pytest", "suites", "-p", "no:xdist", "--help"],
        cwd=ROOT, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    return time.monotonic() - started


def test_wrong_base_url_fails_fast_with_one_message() -> None:
    startup = _startup_s()
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "suites",
            "-p",
            "no:xdist",
            "-q",
            f"--base-url=http://127.0.0.1:{_closed_port()}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    elapsed = time.monotonic() - started
    output = done.stdout + done.stderr
    assert done.returncode == EXIT_TARGET_UNAVAILABLE, output[-2000:]
    assert elapsed < startup + PROBE_WITHIN_S, f"took {elapsed:.1f}s (start-up {startup:.1f}s)"
    assert output.count("target unavailable") == 1, output[-2000:]
    assert "cannot reach the target" in output
    assert "Traceback" not in output


def test_base_url_works_with_and_without_pytest_base_url() -> None:
    """pytest-base-url (a dev dependency) owns --base-url when active; we never clash with it."""
    port = _closed_port()
    for extra in ([], ["-p", "no:base_url"]):
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "suites", "-p", "no:xdist", "-q", *extra,
             f"--base-url=http://127.0.0.1:{port}"],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        output = done.stdout + done.stderr
        assert done.returncode == EXIT_TARGET_UNAVAILABLE, (extra, output[-2000:])
        assert "cannot reach the target" in output
