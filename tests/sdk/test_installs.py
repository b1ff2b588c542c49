"""What `make test-deps` installs for the Stripe SDK flows is pinned, and nothing in the
repository names a registry's host (a Node lock file would, in every entry)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / "tests" / "sdk" / "node"


def test_the_node_sdk_is_pinned_to_one_version() -> None:
    package = json.loads((NODE / "package.json").read_text())
    assert package["dependencies"] == {"stripe": "20.4.1"}
    assert package["private"] is True


def test_npm_writes_no_lock_file() -> None:
    settings = (NODE / ".npmrc").read_text().splitlines()
    assert "package-lock=false" in settings
    makefile = (ROOT / "Makefile").read_text()
    assert "npm install --no-package-lock" in makefile
    tracked = subprocess.run(
        ["git", "ls-files", "--", "*package-lock.json", "*npm-shrinkwrap.json", "*yarn.lock"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert tracked == ""


def test_node_modules_is_not_committed() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "tests/sdk/node/node_modules/stripe/package.json"],
        cwd=ROOT,
        check=False,
    )
    assert ignored.returncode == 0


def test_the_python_sdk_is_pinned_in_the_lock() -> None:
    lock = (ROOT / "requirements.lock").read_text()
    assert re.search(r"^stripe==16\.1\.0$", lock, re.MULTILINE)


def test_no_registry_host_is_named_in_the_sdk_files() -> None:
    for path in [NODE / "package.json", NODE / ".npmrc", NODE / "flow.mjs"]:
        assert not re.search(r"registry\.|npmjs|https?://(?!127\.0\.0\.1)", path.read_text()), path
