"""Resident memory of every app process of a bench stack, after the run (#19: "each app's
resident memory after the run printed, <= 150 MB").

VmRSS from `/proc/PID/status`, for every replica of every app (`cli.stack.stack.Stack`
keeps one supervisor child per replica, named `ledger`, `ledger-2`, ...). PostgreSQL and
Redis are not apps and are left out.
"""

from __future__ import annotations

from pathlib import Path

from cli.stack.stack import Stack
from tests.bench._results import record

TARGET = "<= 150"


def vm_rss_mb(status: str) -> float | None:
    """VmRSS of a `/proc/PID/status` text, in MB (of 1024 kB); None when the process has no
    resident set (a kernel thread, a zombie)."""
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key == "VmRSS":
            number, _, unit = value.strip().partition(" ")
            if unit.strip() != "kB":
                raise ValueError(f"VmRSS in {unit!r}, not kB: {line!r}")
            return int(number) / 1024
    return None


def resident_mb(pid: int, proc: Path = Path("/proc")) -> float | None:
    """None when the process is gone or has no resident set."""
    try:
        status = (proc / str(pid) / "status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return vm_rss_mb(status)


def app_pids(stack: Stack) -> dict[str, int]:
    """Every running app replica's process id, by its child name (`payments-2`)."""
    children = {child.name: child for child in stack.supervisor.children}
    found = {}
    for replica in stack.all_replicas():
        child = children.get(replica.name)
        if child is not None and child.process.returncode is None:
            found[replica.name] = child.process.pid
    return found


def record_memory(benchmark: str, stack: Stack) -> None:
    """One figure per app replica: "<app> resident memory after the run", MB, <= 150."""
    for name, pid in app_pids(stack).items():
        megabytes = resident_mb(pid)
        if megabytes is None:
            print(f"  {name}: no resident memory to read (process {pid} gone)", flush=True)
            continue
        record(benchmark, f"{name} resident memory after the run", megabytes, "MB", target=TARGET)
