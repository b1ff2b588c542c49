"""An app as a real process (`python -m cli serve APP`), started and stopped by a test, and
one `micro` command run to its end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

import httpx

from tests.support.secrets import TEST_SECRETS


def micro(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        # Every command that reads an app's settings needs its secrets, as `micro serve` does.
        env={**os.environ, **TEST_SECRETS, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


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
