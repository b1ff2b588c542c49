"""The README's shell blocks, run as written against the whole stack, twice.

A reader copies them in order into one shell, so they run here in order in one bash, with
only the gateway's address changed to the test stack's. A block that cannot run here (it
starts the stack, needs a terminal or an outside account) is marked in the README itself with
`<!-- readme-test: skip (why) -->` on the line before it, where a reader sees it too.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.stack import RunningStack

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
SKIP = re.compile(r"^<!-- readme-test: skip \(.+\) -->$")


def runnable_blocks(text: str) -> list[str]:
    blocks: list[str] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        if lines[index].strip() != "```bash":
            index += 1
            continue
        skipped = index > 0 and bool(SKIP.match(lines[index - 1].strip()))
        end = lines.index("```", index + 1)
        if not skipped:
            blocks.append("\n".join(lines[index + 1 : end]))
        index = end + 1
    return blocks


def test_the_readme_marks_every_block_it_does_not_run() -> None:
    """Each skip says why, and the blocks that matter most are not skipped."""
    text = README.read_text()
    markers = [line for line in text.splitlines() if "readme-test" in line]
    assert all(SKIP.match(line.strip()) for line in markers)
    script = "\n".join(runnable_blocks(text))
    for must in ("/auth/register", "/ledger/transactions", "/payments/payment_intents", "/wallet"):
        assert must in script


def run_readme(stack: RunningStack) -> subprocess.CompletedProcess[str]:
    port = stack.http_ports["gateway"]
    script = "\n".join(runnable_blocks(README.read_text()))
    script = re.sub(r"(https?://)?localhost:8080", f"http://127.0.0.1:{port}", script)
    return subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script],
        # Where `make run` was started: the blocks read the stack's .micro/ as a reader's do.
        cwd=stack.root,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def json_answers(output: str) -> list[dict[str, object]]:
    """Every JSON object curl printed (its answers have no newline between them)."""
    decoder = json.JSONDecoder()
    found: list[dict[str, object]] = []
    index = output.find("{")
    while index != -1:
        try:
            value, end = decoder.raw_decode(output, index)
        except ValueError:
            index = output.find("{", index + 1)
            continue
        if isinstance(value, dict):
            found.append(value)
        index = output.find("{", end)
    return found


def test_the_readme_runs_as_written_twice(stack: RunningStack) -> None:
    runs = [run_readme(stack) for _ in range(2)]
    for number, run in enumerate(runs, start=1):
        assert run.returncode == 0, f"run {number}:\n{run.stdout}\n{run.stderr}"
        answers = json_answers(run.stdout)
        errors = [answer for answer in answers if "error" in answer]
        assert errors == [], f"run {number}: {errors}"
        assert "Traceback" not in run.stderr
    # What the second run shows is what the first made: replayed, not made twice.
    first, second = (json_answers(run.stdout) for run in runs)
    balances = [
        [a for a in answers if a.get("object") == "wallet.balance"] for answers in (first, second)
    ]
    assert balances[0], first
    assert balances[0][-1]["available"] == balances[1][-1]["available"] == 1500
