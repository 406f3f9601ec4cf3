"""Encryption at rest of service IDs (customer numbers) with AES-256-GCM.

The key is 32 random bytes in a file outside the database (mode 0600), created on first use;
its `key_id` (first 8 bytes of its SHA-256, hex) is stored beside each ciphertext so a later key
rotation can tell which key sealed a row. Each encryption uses a fresh 96-bit nonce. The
additional authenticated data names the account and the service, so a ciphertext moved to another
row does not decrypt. Service IDs never go on-chain.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from api.settings import SettingsError, read_secret

KEY_BYTES = 32
NONCE_BYTES = 12


class ServiceIdDecryptionFailed(Exception):
    """A stored service ID did not decrypt: wrong key file, or the row was altered or moved."""


@dataclass(frozen=True)
class SealedServiceId:
    """A service ID as stored: which key, the nonce, the ciphertext with its tag."""

    key_id: str
    nonce: bytes
    ciphertext: bytes


def load_or_create_key(path: Path) -> bytes:
    """Return the key in `path`, creating a new random one (mode 0600) when it is absent.

    Raises SettingsError when the file exists but is not a 32-byte key or is readable by others.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_bytes(KEY_BYTES))
    key = read_secret(path)
    if len(key) != KEY_BYTES:
        raise SettingsError(
            f"service-ID key file {path} must hold {KEY_BYTES} bytes, not {len(key)}"
        )
    return key


def _associated_data(account_id: int, service_code: str) -> bytes:
    return f"service-link:{account_id}:{service_code}".encode()


class ServiceIdCipher:
    """Seals and opens service IDs with one AES-256-GCM key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"an AES-256 key is {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(key).hexdigest()[:16]

    def seal(self, *, account_id: int, service_code: str, service_id: str) -> SealedServiceId:
        """Return `service_id` encrypted for this (account, service) with a fresh nonce."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        ciphertext = self._aead.encrypt(
            nonce, service_id.encode("utf-8"), _associated_data(account_id, service_code)
        )
        return SealedServiceId(self.key_id, nonce, ciphertext)

    def open(self, *, account_id: int, service_code: str, sealed: SealedServiceId) -> str:
        """Return the service ID; raise ServiceIdDecryptionFailed if it does not authenticate."""
        if sealed.key_id != self.key_id:
            raise ServiceIdDecryptionFailed(
                f"service ID sealed with key {sealed.key_id}, but the key file holds {self.key_id}"
            )
        try:
            plain = self._aead.decrypt(
                sealed.nonce, sealed.ciphertext, _associated_data(account_id, service_code)
            )
        except InvalidTag as error:
            raise ServiceIdDecryptionFailed(
                f"service ID of account {account_id} for {service_code!r} failed authentication"
            ) from error
        return plain.decode("utf-8")
