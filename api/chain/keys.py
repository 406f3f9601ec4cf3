"""Signing keys of the API, loaded from encrypted keystores: never held in the database.

Each key the API signs with (the platform operator, the verifier that signs attestations, and the
terminal keys a business entrusted to the platform so the API can send their transactions) lives
in its own Web3 Secret Storage file (`<address>.json`, scrypt + AES-128-CTR, what
`eth_account.Account.encrypt` writes) in one directory, decrypted at start with a password read
from a mode-0600 file. Keys exist in clear only in this process's memory.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address


class KeystoreError(Exception):
    """A keystore file is unreadable, its password wrong, or a needed key is missing."""


@dataclass(frozen=True)
class KeyRing:
    """Decrypted signing keys by checksummed address."""

    keys: dict[ChecksumAddress, bytes]

    def key_of(self, address: str) -> bytes:
        """Return the private key of `address`; raise KeystoreError when no keystore holds it."""
        try:
            return self.keys[to_checksum_address(address)]
        except KeyError:
            raise KeystoreError(
                f"no keystore holds the key of {address}: add it with `write_keystore`"
            ) from None

    def holds(self, address: str) -> bool:
        """Return True when the ring has the key of `address`."""
        return to_checksum_address(address) in self.keys


def write_keystore(
    directory: Path, private_key: str | bytes, password: str, *, iterations: int | None = None
) -> Path:
    """Encrypt `private_key` into `directory/<address>.json` (mode 0600); return the path.

    `iterations` lowers the KDF cost (pbkdf2) for throwaway test keys; None keeps scrypt's
    default cost, which is what real keys get.
    """
    directory.mkdir(parents=True, exist_ok=True)
    raw_key = (
        bytes.fromhex(private_key.removeprefix("0x"))
        if isinstance(private_key, str)
        else private_key
    )
    if iterations is None:
        encrypted = Account.encrypt(raw_key, password)
    else:
        encrypted = Account.encrypt(raw_key, password, kdf="pbkdf2", iterations=iterations)
    address = to_checksum_address("0x" + str(encrypted["address"]))
    path = directory / f"{address}.json"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(encrypted, handle)
    return path


def load_key_ring(directory: Path, password: str) -> KeyRing:
    """Decrypt every `*.json` keystore in `directory`; raise KeystoreError naming a bad file."""
    keys: dict[ChecksumAddress, bytes] = {}
    for path in sorted(directory.glob("*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            key = bytes(Account.decrypt(document, password))
        except (OSError, ValueError) as error:
            raise KeystoreError(f"cannot decrypt keystore {path}: {error}") from error
        keys[to_checksum_address(Account.from_key(key).address)] = key
    return KeyRing(keys)
