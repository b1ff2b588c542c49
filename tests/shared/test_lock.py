"""The lock file pins every dependency pyproject.toml names, so `make install` is repeatable."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(spec: str) -> str:
    match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
    assert match, spec
    return normalise(match.group(1))


def pinned() -> dict[str, str]:
    found = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
        if match:
            found[normalise(match.group(1))] = match.group(2)
    return found


def test_every_dependency_of_pyproject_is_pinned_in_the_lock() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    locks = pinned()
    missing = sorted({requirement_name(spec) for spec in wanted} - set(locks))
    assert missing == [], f"not in requirements.lock (run `make lock`): {missing}"


def test_the_lock_pins_exact_versions_only() -> None:
    lines = [
        line
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines, "requirements.lock is empty"
    assert all("==" in line for line in lines), [line for line in lines if "==" not in line]
    assert "micro" not in pinned(), "the project itself is installed from the tree"
