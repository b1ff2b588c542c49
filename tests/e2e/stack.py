"""The whole stack as real processes, started exactly as `micro dev up` starts it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from cli.stack.ports import free_port, port_is_free
from cli.stack.stack import pid_alive
from shared import secrets
from shared.settings import APPS, SERVICES
from tests.support.secrets import TEST_ADMIN_PASSWORD


@dataclass
class RunningStack:
    root: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    http_ports: dict[str, int]
    db_ports: dict[str, int]
    redis_port: int
    metrics_port: int

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.http_ports['gateway']}"

    def url(self, app: str) -> str:
        return f"http://127.0.0.1:{self.http_ports[app]}"

    def dsn(self, service: str) -> str:
        return f"postgres://micro:micro@localhost:{self.db_ports[service]}/{service}"

    @property
    def output(self) -> str:
        return (self.root / "up.log").read_text(errors="replace")

    @property
    def secrets(self) -> dict[str, str]:
        """What `micro dev up` generated for this stack (`.micro/secrets.env`)."""
        return secrets.parse_env_lines((self.root / ".micro" / "secrets.env").read_text())

    @property
    def identity_key(self) -> str:
        """The key the stack's apps sign X-Micro-Identity with."""
        return self.secrets[secrets.IDENTITY.env].split(",")[0]

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.root / ".micro" / "stack.json").read_text())
        return data

    def client(self, app: str = "gateway", **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url(app), timeout=30, **kwargs)

    def elsewhere_env(self) -> dict[str, str]:
        """The environment of a shell in another directory: nothing says where the stack is
        but what `micro dev up` recorded."""
        return {k: v for k, v in self.env.items() if not k.startswith("MICRO_DEV_")}

    def all_ports(self) -> list[int]:
        return [
            *self.http_ports.values(),
            *self.db_ports.values(),
            self.redis_port,
            self.metrics_port,
        ]


def seed_secrets(root: Path) -> None:
    """The platform admin the tests sign in as, in the stack's own secrets file (as if a
    developer had chosen it); `micro dev up` generates every other secret beside it."""
    path = root / ".micro" / "secrets.env"
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(secrets.env_lines({secrets.ADMIN_PASSWORD.env: TEST_ADMIN_PASSWORD}))


def stack_env(root: Path) -> tuple[dict[str, str], dict[str, int], dict[str, int], int]:
    seed_secrets(root)
    http_ports = {app: free_port() for app in APPS}
    db_ports = {service: free_port() for service in SERVICES}
    redis_port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "MICRO_DEV_DIR": str(root / ".micro"),
        "MICRO_DEV_HTTP_PORTS": json.dumps(http_ports),
        "MICRO_DEV_DB_PORTS": json.dumps(db_ports),
        "MICRO_DEV_REDIS_PORT": str(redis_port),
        "MICRO_DEV_METRICS_PORT": str(metrics_port),
        "MICRO_DEV_EPHEMERAL": "true",
        # Where `micro dev up` records the running stack for commands run from elsewhere:
        # the test's own folder, never the developer's ~/.local/state.
        "XDG_STATE_HOME": str(root / "state"),
        # Cheap bcrypt, and per-IP door limits out of the way: every test comes from one IP.
        # The limits themselves are tested on gateways started with their own settings.
        "MICRO_AUTH_BCRYPT_ROUNDS": "4",
        "MICRO_GATEWAY_LOGIN_RATE_LIMIT": "100000",
        "MICRO_GATEWAY_SESSION_RATE_LIMIT": "100000",
        "MICRO_GATEWAY_REGISTER_RATE_LIMIT": "100000",
        # The gateway serves without limits when Redis is slower than this (fail-open, its
        # own tests); a loaded 2-core test machine must not look like a Redis outage.
        "MICRO_GATEWAY_REDIS_TIMEOUT": "2",
    }
    return env, http_ports, db_ports, redis_port


def micro(*args: str, env: dict[str, str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **kwargs,
    )


def start(
    root: Path, env: dict[str, str], timeout: float = 120, args: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    with open(root / "up.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "dev", "up", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    state_file = root / ".micro" / "stack.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"micro dev up exited {process.returncode}:\n{(root / 'up.log').read_text()}"
            )
        with contextlib.suppress(OSError, ValueError):
            if json.loads(state_file.read_text()).get("phase") == "running":
                return process
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"stack not ready in {timeout}s:\n{(root / 'up.log').read_text()}")


def interrupt(stack: RunningStack, timeout: float = 60) -> list[int]:
    """Ctrl-C the stack; return the pids of its children, for checking they are gone."""
    children = list(stack.state()["children"].values())
    stack.process.send_signal(signal.SIGINT)
    stack.process.wait(timeout)
    return [int(pid) for pid in children]


@contextlib.contextmanager
def running_stack(
    root: Path, settings: dict[str, str] | None = None, args: tuple[str, ...] = ()
) -> Iterator[RunningStack]:
    """`micro dev up [args]` in `root`, on free ports, with `settings` added to its
    environment."""
    env, http_ports, db_ports, redis_port = stack_env(root)
    env.update(settings or {})
    metrics_port = int(env["MICRO_DEV_METRICS_PORT"])
    process = start(root, env, args=args)
    # With the secrets `micro dev up` generated, so apps started beside it (extra gateways)
    # trust and are trusted by the stack's services.
    env = {**secrets.parse_env_lines((root / ".micro" / "secrets.env").read_text()), **env}
    stack = RunningStack(root, env, process, http_ports, db_ports, redis_port, metrics_port)
    try:
        yield stack
    finally:
        if process.poll() is None:
            interrupt(stack)


def leftovers(stack: RunningStack, children: list[int]) -> tuple[list[int], list[int]]:
    """Child pids still alive and ports still held, after waiting briefly for the kernel."""
    deadline = time.monotonic() + 5
    while True:
        alive = [pid for pid in children if pid_alive(pid)]
        held = [port for port in stack.all_ports() if not port_is_free(port)]
        if (not alive and not held) or time.monotonic() > deadline:
            return alive, held
        time.sleep(0.1)


def processes_under(root: Path) -> list[str]:
    """Command lines of live processes that mention `root` (servers keep their paths in argv)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(root) in argv and pid_alive(int(entry.name)):
            found.append(argv)
    return found
