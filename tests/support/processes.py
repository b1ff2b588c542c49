"""An app as a real process (`python -m cli serve APP`), or several at once, started and
stopped by a test, and one `micro` command run to its end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from shared import secrets
from tests.support.secrets import TEST_SECRETS

# How long a started app may take to answer. Generous: `make test` runs three workers on two
# cores, and apps measured by coverage have stayed silent for over 30 s while a neighbouring
# worker ran a load test. `micro dev up` waits as long (cli/stack/config.py, start_timeout).
START_WITHIN = 90.0


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


def gateway_env(redis_url: str, port: int, metrics_port: int) -> dict[str, str]:
    """The gateway's env for `micro serve gateway`, alone: none of the dev stack's settings,
    fresh secrets, its two listeners on the ports given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICRO_")}
    return (
        env
        | secrets.generate()
        | {
            "MICRO_REDIS_URL": redis_url,
            "MICRO_GATEWAY_PORT": str(port),
            "MICRO_GATEWAY_METRICS_PORT": str(metrics_port),
        }
    )


@dataclass(frozen=True, slots=True)
class Start:
    """One app process to start: its env (complete: nothing is added), app and port, and
    where its output goes (a file the test can read, else a temporary one)."""

    env: dict[str, str]
    app: str
    port: int
    log: Path | None = None


@contextmanager
def serving(
    env: dict[str, str], app: str, port: int, *, log: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with serving_all([Start(env, app, port, log)]) as (process,):
        yield process


@contextmanager
def serving_all(starts: Sequence[Start]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Every process launched before any is waited on, so replicas race through their
    start-up (migrations, bootstrap) as pods of one Deployment do; yields once all answer.
    Stopped with SIGTERM (SIGKILL after 15 s); one killed by the test is only reaped."""
    with ExitStack() as stack:
        logs = [stack.enter_context(_output(start.log)) for start in starts]
        processes: list[subprocess.Popen[bytes]] = []
        stack.callback(_stop_all, processes)
        for start, log in zip(starts, logs, strict=True):
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "cli", "serve", start.app],
                    env=start.env,
                    stdout=log,
                    stderr=log,
                    stdin=subprocess.DEVNULL,
                )
            )
        for start, process, log in zip(starts, processes, logs, strict=True):
            _started(process, log, start.app, start.port)
        yield processes


@contextmanager
def _output(path: Path | None) -> Iterator[IO[bytes]]:
    if path is None:
        with tempfile.TemporaryFile() as log:
            yield log
    else:
        with open(path, "ab") as log:
            yield log


def _stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _started(
    process: subprocess.Popen[bytes], log: IO[bytes], app: str, port: int
) -> subprocess.Popen[bytes]:
    deadline = time.monotonic() + START_WITHIN
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
