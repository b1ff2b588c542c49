"""Child processes of the local stack: started, their output prefixed and logged, restarted
when they exit (with backoff, `cli/stack/restarts.py`), stopped.

Each child gets its own process group (so Ctrl-C reaches only us, and we stop children in a
sensible order) and a parent-death signal (so a SIGKILLed supervisor leaves nothing behind).
Restarts begin only when `supervise` is called (after the whole stack started: a failure
during start-up stops everything, with one line saying why) and end for good when
`stop_all` begins: no child is started after that.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from cli.stack.errors import StackError
from cli.stack.restarts import RestartPolicy, RestartRules

_PR_SET_PDEATHSIG = 1
_COLOURS = ("36", "33", "35", "32", "34", "31", "96", "93", "95", "92", "94", "91")

# Waits until a freshly started child answers; raises StackError if it exits first or
# does not answer in time.
Probe = Callable[[asyncio.subprocess.Process], Coroutine[Any, Any, None]]


def _die_with_parent() -> None:
    # Runs in the child after the uid switch (a uid change clears the setting).
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """How to start a child, again and again."""

    name: str
    argv: list[str]
    env: Mapping[str, str] | None = None
    user: str | None = None
    stop_signal: signal.Signals = signal.SIGTERM
    probe: Probe | None = None


@dataclass(slots=True)
class Child:
    spec: ChildSpec
    process: asyncio.subprocess.Process
    colour: str
    policy: RestartPolicy
    pump: asyncio.Task[None] | None = None
    pumps: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def stop_signal(self) -> signal.Signals:
        return self.spec.stop_signal

    @property
    def restarts(self) -> int:
        return self.policy.restarts

    @property
    def crash_loop(self) -> str | None:
        return self.policy.crash_loop


@dataclass(slots=True)
class Supervisor:
    log_dir: Path
    echo: bool = True
    out: TextIO = field(default_factory=lambda: sys.stdout)
    # Restart and crash-loop lines (the supervisor's own words, not a child's output).
    err: TextIO = field(default_factory=lambda: sys.stderr)
    rules: RestartRules = field(default_factory=RestartRules)
    children: list[Child] = field(default_factory=list)
    # Called after a child was started again, or its crash loop ended (state file updates).
    on_change: Callable[[], None] = lambda: None
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _watchers: list[asyncio.Task[None]] = field(default_factory=list)

    async def spawn(
        self,
        name: str,
        argv: list[str],
        *,
        env: Mapping[str, str] | None = None,
        user: str | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
        probe: Probe | None = None,
    ) -> asyncio.subprocess.Process:
        """Start a child (without waiting for it to answer: `start` does)."""
        child = await self._add(ChildSpec(name, argv, env, user, stop_signal, probe))
        return child.process

    async def start(self, spec: ChildSpec) -> asyncio.subprocess.Process:
        """Start a child and wait until its probe says it answers (StackError if not)."""
        child = await self._add(spec)
        if spec.probe is not None:
            await spec.probe(child.process)
        child.policy.ready()
        return child.process

    async def _add(self, spec: ChildSpec) -> Child:
        colour = _COLOURS[len(self.children) % len(_COLOURS)]
        child = Child(spec, await self._exec(spec), colour, RestartPolicy(self.rules))
        child.policy.started()
        self._pump(child)
        self.children.append(child)
        return child

    async def _exec(self, spec: ChildSpec) -> asyncio.subprocess.Process:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return await asyncio.create_subprocess_exec(
            *spec.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=dict(spec.env) if spec.env is not None else None,
            user=spec.user,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    def _pump(self, child: Child) -> None:
        child.pump = asyncio.create_task(self._copy_output(child, child.process))
        child.pumps.append(child.pump)

    async def _copy_output(self, child: Child, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        width = 9
        tty = self.out.isatty()
        prefix = (
            f"\x1b[{child.colour}m{child.name:<{width}}|\x1b[0m "
            if tty
            else f"{child.name:<{width}}| "
        )
        # Local log files: a blocking append is cheaper than a thread hop per line. Appended,
        # so a restarted child's log follows its previous run's last words.
        with open(self.log_dir / f"{child.name}.log", "a", encoding="utf-8") as log:  # noqa: ASYNC230
            async for raw in process.stdout:
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

    # -- restarts ---------------------------------------------------------------------------

    def supervise(self) -> None:
        """From now on, a child that exits is started again (until `stop_all`)."""
        for child in self.children:
            self._watchers.append(asyncio.create_task(self._watch(child)))

    async def _watch(self, child: Child) -> None:
        while True:
            await self._wait_exit(child)
            if self._stopping.is_set():
                return
            code = child.process.returncode
            # Whatever the leader left in its group (PostgreSQL's backends) goes with it, or
            # the next server would find its shared memory still in use.
            _signal_group(child.process.pid, signal.SIGKILL)
            restart = child.policy.exited()
            self._say(
                f"micro: {child.name} exited with code {code}; "
                f"restart {restart.number} in {restart.delay:g} s"
                + (f" (crash loop: {restart.crash_loop})" if restart.crash_loop else "")
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), restart.delay)
            # Checked with no await between it and the exec: nothing starts once stop began.
            if self._stopping.is_set():
                return
            child.policy.started()
            try:
                child.process = await self._exec(child.spec)
            except OSError as exc:
                # Not started at all (its binary is gone): the dead process stays, so the
                # next round counts this as one more exit during start-up.
                self._say(f"micro: {child.name} could not be started again: {exc}")
                continue
            self._pump(child)
            self.on_change()
            await self._wait_ready(child)

    async def _wait_exit(self, child: Child) -> None:
        """Until the child exits or the stack stops; on the way, record that the child stayed
        up long enough to forget its past failures (and say so if that ended a crash loop)."""
        stable = asyncio.create_task(asyncio.sleep(self.rules.stable_after))
        exited = asyncio.create_task(child.process.wait())
        stopping = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({stable, exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if stable.done() and not exited.done() and child.policy.settle():
                self._say(f"micro: {child.name} is up again; no longer in a crash loop")
                self.on_change()
            await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (stable, exited, stopping):
                task.cancel()

    async def _wait_ready(self, child: Child) -> None:
        if child.spec.probe is None:
            child.policy.ready()
            return
        probe = asyncio.create_task(child.spec.probe(child.process))
        stopping = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({probe, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not probe.done():
                probe.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            try:
                await probe
            except StackError as exc:
                # It exited before answering (the next round counts that), or it runs but
                # does not answer yet (a dependency down): either way, said once.
                if child.process.returncode is None:
                    self._say(f"micro: {child.name} restarted but not ready: {exc}")
                return
            child.policy.ready()

    def _say(self, line: str) -> None:
        self.err.write(line + "\n")
        self.err.flush()
        # Beside the children's logs, so `micro dev logs micro` shows every restart.
        with (
            contextlib.suppress(OSError),
            open(self.log_dir / "micro.log", "a", encoding="utf-8") as log,
        ):
            log.write(line + "\n")

    # -- stop -------------------------------------------------------------------------------

    async def stop_all(self, *, groups: list[list[str]] | None = None, grace: float = 15) -> None:
        """Stop children group by group (default: newest first), each group in parallel.

        Restarts end first: a restart waiting out its backoff gives up, one starting a child
        finishes starting it, so that child is stopped with the others below."""
        self._stopping.set()
        await asyncio.gather(*self._watchers, return_exceptions=True)
        order = groups or [[c.name] for c in reversed(self.children)]
        by_name = {c.name: c for c in self.children}
        for group in order:
            members = [by_name[n] for n in group if n in by_name]
            await asyncio.gather(*(self._stop(c, grace) for c in members))
        leftovers = [c for c in self.children if c.process.returncode is None]
        await asyncio.gather(*(self._stop(c, grace) for c in leftovers))
        pumps = [p for c in self.children for p in c.pumps]
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
