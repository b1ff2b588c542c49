"""The stack's supervisor with real (tiny) child processes: a child that exits is started
again and counted, one that never comes up is a crash loop, and a stop that lands while a
restart waits starts nothing more."""

from __future__ import annotations

import asyncio
import io
import os
import signal
from collections.abc import Callable
from pathlib import Path

from cli.stack.errors import StackError
from cli.stack.restarts import RestartRules
from cli.stack.stack import pid_alive
from cli.stack.supervisor import Supervisor

SLEEPER = ["sleep", "300"]


def supervisor(tmp_path: Path, rules: RestartRules) -> tuple[Supervisor, io.StringIO]:
    said = io.StringIO()
    return Supervisor(tmp_path / "logs", echo=False, err=said, rules=rules), said


async def until(check: Callable[[], object], what: str) -> None:
    for _ in range(600):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} never happened")


async def test_a_child_that_exits_is_started_again_and_counted(tmp_path: Path) -> None:
    sup, said = supervisor(tmp_path, RestartRules(first_delay=0.01))
    changes: list[int] = []
    sup.on_change = lambda: changes.append(1)
    first = await sup.spawn("sleeper", SLEEPER)
    sup.supervise()
    try:
        os.kill(first.pid, signal.SIGKILL)
        [child] = sup.children
        await until(lambda: child.process.pid != first.pid, "a second sleeper")
        assert child.restarts == 1
        assert child.crash_loop is None
        assert pid_alive(child.process.pid)
        assert said.getvalue() == "micro: sleeper exited with code -9; restart 1 in 0.01 s\n"
        assert changes == [1]  # the state file is written again with the new pid
        assert (tmp_path / "logs" / "micro.log").read_text() == said.getvalue()
    finally:
        await sup.stop_all()
    assert not pid_alive(child.process.pid)


async def test_a_child_that_never_comes_up_is_a_crash_loop(tmp_path: Path) -> None:
    sup, said = supervisor(tmp_path, RestartRules(first_delay=0.01, max_delay=0.05))

    async def never_ready(process: asyncio.subprocess.Process) -> None:
        await process.wait()
        raise StackError("it exited")

    await sup.spawn("flaky", ["sh", "-c", "exit 3"], probe=never_ready)
    sup.supervise()
    [child] = sup.children
    try:
        await until(lambda: child.crash_loop is not None, "a crash loop")
        assert child.crash_loop == "exited during start-up 3 times in a row"
        lines = said.getvalue().splitlines()
        assert lines[:3] == [
            "micro: flaky exited with code 3; restart 1 in 0.01 s",
            "micro: flaky exited with code 3; restart 2 in 0.02 s",
            "micro: flaky exited with code 3; restart 3 in 0.05 s"
            " (crash loop: exited during start-up 3 times in a row)",
        ]
        # And it is still restarted, at the longest wait.
        await until(lambda: child.restarts >= 5, "more restarts")
    finally:
        await sup.stop_all()


async def test_a_stop_during_a_restarts_wait_starts_nothing(tmp_path: Path) -> None:
    sup, said = supervisor(tmp_path, RestartRules(first_delay=300, max_delay=300))
    first = await sup.spawn("sleeper", SLEEPER)
    other = await sup.spawn("other", SLEEPER)
    sup.supervise()
    os.kill(first.pid, signal.SIGKILL)
    await until(lambda: "restart 1 in 300 s" in said.getvalue(), "the exit noticed")
    # Returns without waiting out the 300 s, and without starting the sleeper again.
    await sup.stop_all()
    assert [c.process.pid for c in sup.children] == [first.pid, other.pid]
    assert not pid_alive(other.pid)
