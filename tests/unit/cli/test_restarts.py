"""When the local stack restarts a crashed child, and when it calls that a crash loop
(`cli/stack/restarts.py`), on a clock the test moves."""

from __future__ import annotations

from dataclasses import dataclass

from cli.stack.restarts import Restart, RestartPolicy, RestartRules


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def policy(clock: Clock, rules: RestartRules | None = None) -> RestartPolicy:
    return RestartPolicy(rules or RestartRules(), clock)


def crash_after(p: RestartPolicy, clock: Clock, seconds: float, *, ready: bool = True) -> Restart:
    """The child starts, answers (or not), and dies `seconds` later."""
    p.started()
    if ready:
        p.ready()
    clock.now += seconds
    return p.exited()


class TestBackoff:
    def test_the_wait_doubles_from_half_a_second_up_to_thirty(self) -> None:
        clock = Clock()
        p = policy(clock, RestartRules(loop_restarts=100))
        # Each run lasts longer than the window, so no crash loop: only the backoff shows.
        delays = [crash_after(p, clock, 1.0).delay for _ in range(9)]
        assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]

    def test_restarts_are_numbered_from_one(self) -> None:
        clock = Clock()
        p = policy(clock, RestartRules(loop_restarts=100))
        numbers = [crash_after(p, clock, 1.0).number for _ in range(3)]
        assert numbers == [1, 2, 3]
        assert p.restarts == 3

    def test_a_child_that_stayed_up_a_minute_starts_over_at_half_a_second(self) -> None:
        clock = Clock()
        p = policy(clock)
        for _ in range(3):
            crash_after(p, clock, 1.0)
        after_a_long_run = crash_after(p, clock, 61.0)
        assert after_a_long_run.delay == 0.5
        assert after_a_long_run.number == 4  # the count is history: it is never reset
        assert crash_after(p, clock, 1.0).delay == 1.0

    def test_the_delays_are_the_stacks_settings(self) -> None:
        clock = Clock()
        p = policy(clock, RestartRules(first_delay=0.1, max_delay=0.3, loop_restarts=100))
        assert [crash_after(p, clock, 1.0).delay for _ in range(4)] == [0.1, 0.2, 0.3, 0.3]


class TestCrashLoop:
    def test_five_restarts_within_a_minute_are_a_crash_loop(self) -> None:
        clock = Clock()
        p = policy(clock)
        answers = [crash_after(p, clock, 5.0) for _ in range(5)]
        assert [a.crash_loop for a in answers[:4]] == [None] * 4
        assert answers[4].crash_loop == "5 restarts within 60 s"
        # Still restarted, at the longest wait: reported, not given up on.
        assert answers[4].delay == 30.0
        assert p.crash_loop == "5 restarts within 60 s"

    def test_five_restarts_spread_over_more_than_a_minute_are_not(self) -> None:
        clock = Clock()
        p = policy(clock)
        answers = [crash_after(p, clock, 16.0) for _ in range(6)]
        assert [a.crash_loop for a in answers] == [None] * 6

    def test_exiting_during_start_up_three_times_in_a_row_is_a_crash_loop(self) -> None:
        clock = Clock()
        p = policy(clock)
        answers = [crash_after(p, clock, 0.2, ready=False) for _ in range(3)]
        assert [a.crash_loop for a in answers] == [
            None,
            None,
            "exited during start-up 3 times in a row",
        ]
        assert answers[2].delay == 30.0

    def test_a_start_that_answered_breaks_the_start_up_run(self) -> None:
        clock = Clock()
        p = policy(clock, RestartRules(loop_restarts=100))
        crash_after(p, clock, 0.2, ready=False)
        crash_after(p, clock, 0.2, ready=False)
        crash_after(p, clock, 0.2, ready=True)
        assert crash_after(p, clock, 0.2, ready=False).crash_loop is None

    def test_a_crash_loop_lasts_until_the_child_stays_up_a_minute(self) -> None:
        clock = Clock()
        p = policy(clock)
        for _ in range(3):
            crash_after(p, clock, 0.2, ready=False)
        assert p.crash_loop is not None
        p.started()
        p.ready()
        clock.now += 59.0
        assert p.settle() is False
        assert p.crash_loop is not None
        clock.now += 1.0
        assert p.settle() is True  # the supervisor says so once
        assert p.crash_loop is None
        assert p.settle() is False
        # And its next crash is a first one again.
        again = p.exited()
        assert (again.delay, again.crash_loop) == (0.5, None)

    def test_a_child_not_yet_started_does_not_settle(self) -> None:
        clock = Clock()
        p = policy(clock)
        crash_after(p, clock, 0.2, ready=False)
        clock.now += 3600.0  # waiting out a backoff is not staying up
        assert p.settle() is False
