"""Reading a running `micro dev up` stack as its user does: `micro dev status`'s table, the
state file's replicas and restart counts, and waiting for a part to come back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class StatusRow:
    port: int
    state: str
    restarts: str


def status_rows(stdout: str) -> dict[str, StatusRow]:
    """`micro dev status`'s table, by part name (columns split on runs of two spaces)."""
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("PART"))
    starts = [lines[header].index(word) for word in ("PORT", "STATE", "RESTARTS")]
    rows = {}
    for line in lines[header + 1 :]:
        if not line.strip() or ":" in line[: starts[0]]:
            break
        name = line[: starts[0]].strip()
        port = line[starts[0] : starts[1]].strip()
        state = line[starts[1] : starts[2]].strip()
        restarts = line[starts[2] :].strip()
        rows[name] = StatusRow(int(port), state, restarts)
    return rows


def children(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every child the state file records (servers and every replica), by name."""
    entries = [*state["servers"], *(r for rs in state["replicas"].values() for r in rs)]
    return {entry["name"]: entry for entry in entries}


def answers_ready(port: int, path: str = "/ready") -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False
