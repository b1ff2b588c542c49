"""The CLI's stored credentials: profiles in `$XDG_CONFIG_HOME/micro/config.toml`.

```toml
current_profile = "default"

[profiles.default]
api_base = "http://localhost:8080"
email = "dev@example.com"
tenant_id = "ten_..."
access_token = "..."
refresh_token = "..."
api_key = "sk_test_..."
api_key_id = "key_..."
```

The file holds secrets: it is created 0600 in a 0700 directory, and every write replaces
it atomically (a temp file with its mode set before any byte is written, then rename), so
a crash or a concurrent `micro` never leaves half a file or a readable copy behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import tomli_w

DEFAULT_API_BASE = "http://localhost:8080"
DEFAULT_PROFILE = "default"


class NotLoggedIn(Exception):
    """No usable credential for the profile; the message tells the user what to run."""

    def __init__(self, profile: str | None = None, reason: str = "Not logged in") -> None:
        command = (
            "micro login"
            if profile in (None, DEFAULT_PROFILE)
            else (f"micro login --profile {profile}")
        )
        super().__init__(f"{reason}: run `{command}`")
        self.profile = profile


class ConfigError(Exception):
    """The config file exists but cannot be read as Micro's config."""


@dataclass
class Profile:
    name: str
    api_base: str = DEFAULT_API_BASE
    # The test-mode key CLI commands act with (trigger, events, listen).
    api_key: str | None = None
    # The session: user-level commands (whoami, api-keys) and the source of new API keys.
    access_token: str | None = None
    refresh_token: str | None = None
    email: str | None = None
    tenant_id: str | None = None
    user_id: str | None = None
    role: str | None = None
    # The stored key's id, and whether `micro login` created it (so logout revokes it).
    api_key_id: str | None = None
    api_key_created_by_cli: bool = False

    @property
    def logged_in(self) -> bool:
        return bool(self.api_key or self.access_token)

    @property
    def livemode(self) -> bool:
        return bool(self.api_key and self.api_key.startswith("sk_live_"))

    def cleared(self) -> Profile:
        """The same profile with every credential forgotten (its API base stays)."""
        return Profile(name=self.name, api_base=self.api_base)


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "micro"


def config_path() -> Path:
    return config_dir() / "config.toml"


def current_profile_name() -> str:
    """MICRO_PROFILE, else the profile `micro login` last used, else "default"."""
    chosen = os.environ.get("MICRO_PROFILE")
    if chosen:
        return chosen
    current = _read().get("current_profile")
    return current if isinstance(current, str) and current else DEFAULT_PROFILE


def find_profile(name: str | None = None) -> Profile | None:
    """The stored profile, logged in or not; None if the file has no such profile."""
    name = name or current_profile_name()
    stored = _read().get("profiles", {}).get(name)
    if not isinstance(stored, dict):
        return None
    known = {f.name for f in fields(Profile)} - {"name"}
    values = {key: value for key, value in stored.items() if key in known}
    return Profile(name=name, **values)


def load_profile(name: str | None = None) -> Profile:
    """The profile to act as; NotLoggedIn if it holds no credential."""
    name = name or current_profile_name()
    profile = find_profile(name)
    if profile is None or not profile.logged_in:
        raise NotLoggedIn(name)
    return profile


def save_profile(profile: Profile, *, make_current: bool = False) -> None:
    """Store one profile, keeping the others as they are in the file right now."""
    with locked():
        document = _read()
        profiles = document.setdefault("profiles", {})
        profiles[profile.name] = {
            key: value
            for key, value in asdict(profile).items()
            if key != "name" and value is not None and value is not False
        }
        if make_current:
            document["current_profile"] = profile.name
        _write(document)


def _read() -> dict[str, Any]:
    path = config_path()
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None


def _ensure_dir() -> Path:
    directory = config_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    # mkdir's mode is masked by the umask and ignored if the directory exists: set it.
    directory.chmod(0o700)
    return directory


_lock_depth = threading.local()


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """Serialise read-modify-write with other `micro` processes (listen refreshes tokens).

    Re-entrant within a thread: a refresh holds it while it saves the new tokens.
    """
    depth = getattr(_lock_depth, "value", 0)
    if depth:
        _lock_depth.value = depth + 1
        try:
            yield
        finally:
            _lock_depth.value = depth
        return
    lock_path = _ensure_dir() / ".config.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _lock_depth.value = 1
        yield
    finally:
        _lock_depth.value = 0
        os.close(fd)


def _write(document: dict[str, Any]) -> None:
    path = config_path()
    # mkstemp: O_EXCL, mode 0600 from the start, a fresh name even beside a crashed run's file.
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temp = Path(temp_name)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as file:
            tomli_w.dump(document, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
