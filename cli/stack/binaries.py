"""Finding (and, as root on Debian, installing) the PostgreSQL and Redis server binaries, the
browser the test suite drives (Chromium and its WebDriver), and Prometheus with its promtool
(`micro dev up --with-prometheus`, the alert rules' tests)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cli.stack.errors import StackError

T = TypeVar("T")

APT_PACKAGES = ("postgresql", "postgresql-client", "redis-server")
BROWSER_PACKAGES = ("chromium", "chromium-driver")
# Debian's package ships both binaries (and a system service, which the stack does not use).
PROMETHEUS_PACKAGES = ("prometheus",)


@dataclass(frozen=True, slots=True)
class Binaries:
    pg_bindir: Path
    redis_server: Path
    psql: Path

    def pg(self, name: str) -> str:
        return str(self.pg_bindir / name)


def find_pg_bindir() -> Path | None:
    explicit = os.environ.get("MICRO_PG_BINDIR")
    if explicit:
        path = Path(explicit)
        return path if (path / "postgres").exists() and (path / "initdb").exists() else None
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for candidate in candidates:
        if (candidate / "postgres").exists() and (candidate / "initdb").exists():
            return candidate
    on_path = shutil.which("initdb")
    if on_path and shutil.which("postgres"):
        return Path(on_path).resolve().parent
    return None


def find_psql() -> Path | None:
    on_path = shutil.which("psql")
    if on_path:
        return Path(on_path)
    bindir = find_pg_bindir()
    return bindir / "psql" if bindir and (bindir / "psql").exists() else None


def find_binaries() -> tuple[Path | None, Path | None, Path | None]:
    redis = shutil.which("redis-server")
    return find_pg_bindir(), Path(redis) if redis else None, find_psql()


def ensure_binaries(*, install: bool = True) -> Binaries:
    """Return the binaries; install them with apt when we are root on Debian, else explain."""
    pg, redis, psql = find_binaries()
    if pg is not None and redis is not None and psql is not None:
        return Binaries(pg, redis, psql)
    missing = [
        name
        for name, found in (("PostgreSQL server", pg), ("redis-server", redis), ("psql", psql))
        if not found
    ]
    command = f"apt-get update && apt-get install -y {' '.join(APT_PACKAGES)}"
    if install and can_apt_install():
        print(f"micro: installing {', '.join(missing)}: {command}", file=sys.stderr, flush=True)
        apt_install(APT_PACKAGES)
        pg, redis, psql = find_binaries()
    if pg is None or redis is None or psql is None:
        raise StackError(
            f"{', '.join(missing)} not found: install with `sudo {command}` "
            "(or set MICRO_PG_BINDIR to the folder holding initdb and postgres)"
        )
    return Binaries(pg, redis, psql)


def find_browser() -> tuple[Path, Path] | None:
    """Chromium and its chromedriver (`MICRO_CHROMIUM`/`MICRO_CHROMEDRIVER` override)."""
    chromium = os.environ.get("MICRO_CHROMIUM") or shutil.which("chromium")
    driver = os.environ.get("MICRO_CHROMEDRIVER") or shutil.which("chromedriver")
    if chromium and driver and Path(chromium).exists() and Path(driver).exists():
        return Path(chromium), Path(driver)
    return None


def ensure_browser(*, install: bool = True) -> tuple[Path, Path]:
    """The browser tests need; installed with apt when we are root on Debian, else explained."""
    return _ensure(
        find_browser,
        BROWSER_PACKAGES,
        install=install,
        missing="chromium and chromedriver",
        instead="set MICRO_CHROMIUM and MICRO_CHROMEDRIVER",
    )


@dataclass(frozen=True, slots=True)
class PrometheusBinaries:
    prometheus: Path
    promtool: Path


def find_prometheus() -> PrometheusBinaries | None:
    """Prometheus and promtool (`MICRO_PROMETHEUS` names the server; promtool beside it)."""
    explicit = os.environ.get("MICRO_PROMETHEUS")
    server = Path(explicit) if explicit else _which("prometheus")
    tool = server.parent / "promtool" if explicit and server else _which("promtool")
    if server and tool and server.exists() and tool.exists():
        return PrometheusBinaries(server, tool)
    return None


def _which(name: str) -> Path | None:
    found = shutil.which(name)
    return Path(found) if found else None


def ensure_prometheus(*, install: bool = True) -> PrometheusBinaries:
    """Prometheus and promtool; installed with apt when we are root on Debian, else explained."""
    return _ensure(
        find_prometheus,
        PROMETHEUS_PACKAGES,
        install=install,
        missing="prometheus and promtool",
        instead="set MICRO_PROMETHEUS to the prometheus binary, promtool beside it",
    )


def _ensure(
    find: Callable[[], T | None],
    packages: tuple[str, ...],
    *,
    install: bool,
    missing: str,
    instead: str,
) -> T:
    """What `find` finds; when nothing, `packages` installed with apt first if we may."""
    found = find()
    if found is None and install and can_apt_install():
        print(f"micro: installing {', '.join(packages)}", file=sys.stderr, flush=True)
        apt_install(packages)
        found = find()
    if found is None:
        raise StackError(
            f"{missing} not found: install with "
            f"`sudo apt-get install -y {' '.join(packages)}` (or {instead})"
        )
    return found


def apt_install(packages: tuple[str, ...]) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
    ):
        result = subprocess.run(argv, env=env, check=False)
        if result.returncode != 0:
            raise StackError(f"`{' '.join(argv)}` failed (exit {result.returncode})")


def can_apt_install() -> bool:
    return (
        os.geteuid() == 0 and Path("/etc/debian_version").exists() and bool(shutil.which("apt-get"))
    )


def server_user() -> str | None:
    """The account PostgreSQL runs as: ourselves, or an unprivileged one when we are root.

    initdb and postgres refuse to run as root, so root hands them to `postgres` (created by
    Debian's package), creating a system account of that name if it is missing.
    """
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"],
            check=True,
        )
    return "postgres"
