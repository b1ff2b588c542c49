"""Random secrets for this test process: nothing in the suite relies on a value in the source.

`TEST_SECRETS` by variable name (for subprocess envs); `TEST_SECRET_FIELDS` as settings
fields (for settings built in code: every settings class ignores the fields it lacks).
"""

from __future__ import annotations

from shared import secrets

TEST_SECRETS: dict[str, str] = secrets.generate()
TEST_SECRET_FIELDS: dict[str, object] = secrets.settings_fields(TEST_SECRETS)
TEST_IDENTITY_KEY: str = TEST_SECRETS[secrets.IDENTITY.env]
TEST_ADMIN_PASSWORD: str = TEST_SECRETS[secrets.ADMIN_PASSWORD.env]
