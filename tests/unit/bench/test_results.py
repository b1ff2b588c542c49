"""The benchmark results file: ratios, targets met or not, and replacing one benchmark's
entries while keeping the others (tests.bench._results; no servers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bench import _results


def test_ratio_target_applies_to_the_ratio_when_there_is_a_ceiling() -> None:
    found = _results.figure("gateway", 900, "req/s", ceiling=1000, target=">= 0.85")
    assert found.ratio == pytest.approx(0.9)
    assert found.met is True
    below = _results.figure("gateway", 800, "req/s", ceiling=1000, target=">= 0.85")
    assert below.met is False


def test_target_applies_to_the_value_without_a_ceiling() -> None:
    assert _results.figure("p99", 4.0, "ms", target="<= 5").met is True
    assert _results.figure("p99", 6.0, "ms", target="<= 5").met is False
    plain = _results.figure("info", 3.0, "ms")
    assert (plain.ratio, plain.target, plain.met) == (None, None, None)


def test_a_zero_ceiling_never_meets_a_ratio_target() -> None:
    assert _results.figure("x", 1, "req/s", ceiling=0, target=">= 0.5").met is False


def test_bad_target_is_refused() -> None:
    with pytest.raises(ValueError, match="a target is"):
        _results.figure("x", 1, "ms", target="< 5")


def test_save_replaces_one_benchmarks_entries_and_keeps_the_others(tmp_path: Path) -> None:
    path = tmp_path / "bench" / "results.json"
    _results.save("ledger", [_results.figure("ledger: a", 1, "/s")], path)
    _results.save("gateway", [_results.figure("gateway: b", 2, "req/s")], path)
    third = _results.figure("ledger: c", 3, "/s", ceiling=6, target=">= 0.5")
    _results.save("ledger", [third], path)
    saved = json.loads(path.read_text())
    assert [item["name"] for item in saved] == ["gateway: b", "ledger: c"]
    assert saved[1] == {
        "name": "ledger: c", "value": 3, "unit": "/s", "ceiling": 6,
        "ratio": 0.5, "target": ">= 0.5", "met": True,
    }  # fmt: skip
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]  # no temporary left


def test_record_prints_and_collects_per_benchmark(capsys: pytest.CaptureFixture[str]) -> None:
    _results.record("events", "drain", 2000, "events/s", target=">= 3000")
    assert "NOT met" in capsys.readouterr().out
    assert [f.name for f in _results.collected("events")] == ["events: drain"]
    assert _results.collected("events") == []
