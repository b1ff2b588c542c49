"""The SQL ceilings' pure parts: reading pgbench's summary, the best run, the scripts'
account numbering (tests.bench._ceilings; no servers, no pgbench)."""

from __future__ import annotations

import pytest

from tests.bench import _ceilings
from tests.bench._ceilings import Ceiling, PgbenchError, PgbenchRun, parse_pgbench

# PostgreSQL 15's pgbench, as it prints a custom-script run.
SUMMARY = """\
pgbench (15.18 (Debian 15.18-0+deb12u1))
transaction type: /tmp/ceiling-x.sql
scaling factor: 1
query mode: prepared
number of clients: 16
number of threads: 2
maximum number of tries: 1
duration: 5 s
number of transactions actually processed: 14233
number of failed transactions: 3 (0.021%)
latency average = 5.620 ms
initial connection time = 41.337 ms
tps = 2846.807412 (without initial connection time)
"""


def test_the_summary_gives_tps_without_connection_time_clients_and_counts() -> None:
    assert parse_pgbench(SUMMARY) == PgbenchRun(
        clients=16, tps=2846.807412, transactions=14233, failed=3
    )


def test_a_summary_without_failures_line_counts_none() -> None:
    older = "\n".join(line for line in SUMMARY.splitlines() if "failed" not in line)
    assert parse_pgbench(older).failed == 0


def test_output_without_a_summary_is_an_error_that_shows_it() -> None:
    aborted = "client 3 script 0 aborted in command 4 query 0: ERROR:  deadlock detected\n"
    with pytest.raises(PgbenchError, match="deadlock detected"):
        parse_pgbench(aborted)


def test_the_best_run_is_the_ceiling_in_transfers_per_second() -> None:
    runs = (
        PgbenchRun(8, 100.0, 500, 0),
        PgbenchRun(16, 140.0, 700, 0),
        PgbenchRun(32, 120.0, 600, 0),
    )
    assert Ceiling("single", runs).best == 140.0
    assert Ceiling("batches", runs, per_transaction=100).best == 14_000.0
    assert Ceiling("none", ()).best == 0.0


def test_account_ids_match_the_scripts_numbering_and_sort_as_numbers() -> None:
    assert _ceilings.account_id(7) == "acc_00000007"
    assert sorted(_ceilings.account_id(n) for n in (10, 9, 100)) == [
        _ceilings.account_id(n) for n in (9, 10, 100)
    ]
    assert "lpad(:a::text, 8, '0')" in _ceilings.transfer_script(100, hot=False)


def test_the_hot_script_debits_account_one_every_time() -> None:
    hot = _ceilings.transfer_script(50, hot=True)
    assert "\\set a 1\n" in hot
    assert "random(2, 50)" in hot
    assert "\\set a 1\n" not in _ceilings.transfer_script(50, hot=False)
