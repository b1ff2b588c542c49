"""Every benchmark figure beside its ceiling, ratio and target, kept in one JSON file.

A benchmark calls `record(...)` for each figure: it prints the figure with its ceiling
(measured in the same run), the ratio and the target, and collects it. `python -m
tests.bench` saves each benchmark's figures when it finishes: `.micro/bench/results.json`
is a list of `{name, value, unit, ceiling, ratio, target, met}`; a figure's name starts with
its benchmark's module name (`"ledger: ..."`), and saving benchmark x replaces x's entries
and keeps the others. The file is replaced atomically (written beside it, then renamed).

`target` is a string, `">= 0.85"` or `"<= 5"`: it applies to `ratio` when the figure has a
ceiling and to `value` (in `unit`) when it has none; `met` is null when there is no target.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parents[2] / ".micro" / "bench" / "results.json"


@dataclass(frozen=True, slots=True)
class Figure:
    name: str
    value: float
    unit: str
    ceiling: float | None
    ratio: float | None
    target: str | None
    met: bool | None


def parse_target(target: str) -> tuple[str, float]:
    op, _, number = target.strip().partition(" ")
    if op not in (">=", "<="):
        raise ValueError(f"a target is '>= N' or '<= N', not {target!r}")
    return op, float(number)


def figure(
    name: str,
    value: float,
    unit: str,
    *,
    ceiling: float | None = None,
    target: str | None = None,
) -> Figure:
    """The ratio is value / ceiling; the target is checked against it, or against the value
    when there is no ceiling."""
    ratio = value / ceiling if ceiling else None
    met: bool | None = None
    if target is not None:
        op, bound = parse_target(target)
        checked = ratio if ceiling is not None else value
        # A ceiling of 0 leaves nothing to compare with: not met.
        met = False if checked is None else (checked >= bound if op == ">=" else checked <= bound)
    return Figure(name, value, unit, ceiling, ratio, target, met)


def line(f: Figure) -> str:
    text = f"  {f.name:<58} {f.value:>12,.2f} {f.unit}"
    if f.ceiling is not None:
        text += f"   ceiling {f.ceiling:,.2f}"
        if f.ratio is not None:
            text += f"   ratio {f.ratio:6.1%}"
    if f.target is not None:
        text += f"   target {f.target}   {'met' if f.met else 'NOT met'}"
    return text


_collected: list[Figure] = []


def record(
    benchmark: str,
    name: str,
    value: float,
    unit: str,
    *,
    ceiling: float | None = None,
    target: str | None = None,
) -> Figure:
    """Print a figure of `benchmark` (its module name) and keep it for `save`."""
    found = figure(f"{benchmark}: {name}", value, unit, ceiling=ceiling, target=target)
    print(line(found), flush=True)
    _collected.append(found)
    return found


def collected(benchmark: str) -> list[Figure]:
    """The figures recorded for `benchmark`, taken (so the next run starts empty)."""
    mine = [f for f in _collected if benchmark_of(f.name) == benchmark]
    _collected[:] = [f for f in _collected if benchmark_of(f.name) != benchmark]
    return mine


def benchmark_of(name: str) -> str:
    return name.split(": ", 1)[0]


def load(path: Path = RESULTS) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    found = json.loads(path.read_text())
    return found if isinstance(found, list) else []


def save(benchmark: str, figures: list[Figure], path: Path = RESULTS) -> None:
    """Replace `benchmark`'s entries in the file with `figures`, keeping the others."""
    kept = [item for item in load(path) if benchmark_of(str(item.get("name", ""))) != benchmark]
    merged = kept + [asdict(f) for f in figures]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".results-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as file:
            json.dump(merged, file, indent=2)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
