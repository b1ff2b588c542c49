from __future__ import annotations

from shared.settings import DatabaseSettings


class AuthSettings(DatabaseSettings):
    service = "auth"
