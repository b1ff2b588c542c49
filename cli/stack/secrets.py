"""The local stack's secrets: random, made once per data directory, kept in a 0600 file.

Kept rather than made per start, so what was encrypted or signed under them (provider
credentials, webhook secrets, the `micro listen` secret a developer configured) stays
readable across restarts. A purpose added since the file was written gets a value then.
"""

from __future__ import annotations

import os
from pathlib import Path

from shared import secrets


def stack_secrets(path: Path) -> dict[str, str]:
    """The env lines of `path`, made (or completed) first when needed."""
    values: dict[str, str] = {}
    if path.exists():
        values = secrets.parse_env_lines(path.read_text())
    fresh = secrets.generate()
    missing = {name: value for name, value in fresh.items() if name not in values}
    if missing or not path.exists():
        values.update(missing)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created 0600 from the start: never readable by others, not even for a moment.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.env_lines(values))
    os.chmod(path, 0o600)
    return values
