"""An app as a real process (`python -m cli serve APP`), started and stopped by a test."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

import httpx


@contextmanager
def serving(env: dict[str, str], app: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "serve", app], env=env, stdout=log, stderr=log
        )
        try:
            yield _started(process, log, app, port)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _started(
    process: subprocess.Popen[bytes], log: IO[bytes], app: str, port: int
) -> subprocess.Popen[bytes]:
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            log.seek(0)
            raise AssertionError(f"{app} exited: {log.read().decode()}")
        try:
            # Any answer: the gateway's /health says 503 here, with no services behind it.
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
            break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{app} did not answer in time"
        time.sleep(0.1)
    return process
