"""Secrets kept encrypted at rest: tenants' provider credentials (payments) and webhook
endpoint signing secrets (events).

Fernet over one or more keys given as one comma-separated setting: the first encrypts, any
decrypts, so a key is rotated by putting the new one first and re-encrypting at leisure.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from shared.errors import ApiError


class Cipher:
    """`what` and `setting` name the secrets and the setting holding the keys, for the error
    raised when a stored value was encrypted with none of them."""

    def __init__(self, keys: str, *, what: str, setting: str, code: str) -> None:
        self._fernet = MultiFernet([Fernet(k.strip().encode()) for k in keys.split(",") if k])
        self._unreadable = f"Stored {what} cannot be decrypted with the configured {setting}."
        self._code = code

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode())

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(token)).decode()
        except InvalidToken:
            raise ApiError(self._unreadable, code=self._code) from None
