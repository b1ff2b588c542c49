"""Child processes of the local stack: started, their output prefixed and logged, stopped.

Each child gets its own process group (so Ctrl-C reaches only us, and we stop children in a
sensible order) and a parent-death signal (so a SIGKILLed supervisor leaves nothing behind).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

_PR_SET_PDEATHSIG = 1
_COLOURS = ("36", "33", "35", "32", "34", "31", "96", "93", "95", "92", "94", "91")


def _die_with_parent() -> None:
    # Runs in the child after the uid switch (a uid change clears the setting).
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass(slots=True)
class Child:
    name: str
    process: asyncio.subprocess.Process
    stop_signal: signal.Signals
    pump: asyncio.Task[None] | None = None


@dataclass(slots=True)
class Supervisor:
    log_dir: Path
    echo: bool = True
    out: TextIO = field(default_factory=lambda: sys.stdout)
    children: list[Child] = field(default_factory=list)

    async def spawn(
        self,
        name: str,
        argv: list[str],
        *,
        env: Mapping[str, str] | None = None,
        user: str | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> asyncio.subprocess.Process:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            user=user,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        child = Child(name, process, stop_signal)
        child.pump = asyncio.create_task(self._pump(child, len(self.children)))
        self.children.append(child)
        return process

    async def _pump(self, child: Child, index: int) -> None:
        assert child.process.stdout is not None
        width = 9
        colour = _COLOURS[index % len(_COLOURS)]
        tty = self.out.isatty()
        prefix = (
            f"\x1b[{colour}m{child.name:<{width}}|\x1b[0m " if tty else f"{child.name:<{width}}| "
        )
        # Local log files: a blocking append is cheaper than a thread hop per line.
        with open(self.log_dir / f"{child.name}.log", "a", encoding="utf-8") as log:  # noqa: ASYNC230
            async for raw in child.process.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                log.write(line + "\n")
                log.flush()
                if self.echo:
                    self.out.write(prefix + line + "\n")
                    self.out.flush()

    def exited(self) -> list[tuple[str, int]]:
        return [
            (c.name, c.process.returncode)
            for c in self.children
            if c.process.returncode is not None
        ]

    async def wait_first_exit(self) -> tuple[str, int]:
        waits = {asyncio.create_task(c.process.wait()): c for c in self.children}
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
        child = waits[next(iter(done))]
        return child.name, child.process.returncode or 0

    async def stop_all(self, *, groups: list[list[str]] | None = None, grace: float = 15) -> None:
        """Stop children group by group (default: newest first), each group in parallel."""
        order = groups or [[c.name] for c in reversed(self.children)]
        by_name = {c.name: c for c in self.children}
        for group in order:
            members = [by_name[n] for n in group if n in by_name]
            await asyncio.gather(*(self._stop(c, grace) for c in members))
        leftovers = [c for c in self.children if c.process.returncode is None]
        await asyncio.gather(*(self._stop(c, grace) for c in leftovers))
        pumps = [c.pump for c in self.children if c.pump is not None]
        await asyncio.gather(*pumps, return_exceptions=True)

    async def _stop(self, child: Child, grace: float) -> None:
        if child.process.returncode is None:
            _signal_group(child.process.pid, child.stop_signal)
            try:
                await asyncio.wait_for(child.process.wait(), grace)
            except TimeoutError:
                _signal_group(child.process.pid, signal.SIGKILL)
                await child.process.wait()
        else:
            # The leader is gone; make sure nothing it started lingers in its group.
            _signal_group(child.process.pid, signal.SIGKILL)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def install_stop_handlers(on_stop: Callable[[], None]) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, on_stop)
