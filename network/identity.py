"""A node's identity on the consortium network: its secp256k1 node key and the address it yields.

The node key is the key a validator signs QBFT messages and commit seals with, so the network names
peers by the same 20-byte address the chain's validator list uses (keccak-256 of the 64-byte public
key, last 20 bytes, as for any Ethereum account). Invariants kept here:

- a `NodeAddress` is always 20 bytes and a node public key always 64 bytes (no 0x04 prefix);
- a node key file holds the 32-byte private key as one line of hex and is written mode 0600;
- signatures are 65 bytes `r(32) || s(32) || v(1)` with v in {0, 1} and low s, as Besu expects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import NewType

from eth_keys.datatypes import PrivateKey, Signature
from eth_keys.exceptions import BadSignature
from eth_utils.crypto import keccak
from eth_utils.exceptions import ValidationError

NodeAddress = NewType("NodeAddress", bytes)
"""The 20-byte address of a node key: the same value the validator list in extraData holds."""

NODE_PUBLIC_KEY_SIZE = 64
"""Uncompressed secp256k1 public key without the 0x04 prefix, as enode URLs and devp2p carry it."""

SIGNATURE_SIZE = 65


class NodeKeyError(Exception):
    """A node key file, public key or signature is malformed; the message says which and why."""


def address_of(public_key: bytes) -> NodeAddress:
    """Return the address of a 64-byte node public key; raise NodeKeyError on a wrong length."""
    if len(public_key) != NODE_PUBLIC_KEY_SIZE:
        raise NodeKeyError(
            f"a node public key is {NODE_PUBLIC_KEY_SIZE} bytes, got {len(public_key)}"
        )
    return NodeAddress(keccak(public_key)[-20:])


def format_address(address: bytes) -> str:
    """Return the lower-case 0x-hex form used in files and log lines."""
    return "0x" + address.hex()


def parse_address(text: str) -> NodeAddress:
    """Parse a 0x-prefixed (or bare) 40-hex-digit address; raise NodeKeyError otherwise."""
    digits = text[2:] if text.lower().startswith("0x") else text
    try:
        raw = bytes.fromhex(digits)
    except ValueError as error:
        raise NodeKeyError(f"node address {text!r} is not hexadecimal") from error
    if len(raw) != 20:
        raise NodeKeyError(f"node address {text!r} must be 20 bytes (40 hex digits)")
    return NodeAddress(raw)


def recover_public_key(message_hash: bytes, signature: bytes) -> bytes:
    """Return the 64-byte public key that made `signature` over `message_hash`.

    Raises NodeKeyError when the signature is malformed or recovers to no key.
    """
    if len(signature) != SIGNATURE_SIZE:
        raise NodeKeyError(f"a signature is {SIGNATURE_SIZE} bytes, got {len(signature)}")
    try:
        recovered = Signature(signature).recover_public_key_from_msg_hash(message_hash)
    except (BadSignature, ValidationError) as error:
        raise NodeKeyError(f"signature does not recover to a public key: {error}") from error
    return bytes(recovered.to_bytes())


@dataclass(frozen=True)
class NodeKey:
    """A secp256k1 node private key. `repr` never shows the secret."""

    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) != 32:
            raise NodeKeyError(f"a node private key is 32 bytes, got {len(self.secret)}")

    def __repr__(self) -> str:
        return f"NodeKey(address={format_address(self.address)})"

    @classmethod
    def generate(cls) -> NodeKey:
        """Return a fresh key from the operating system's random source."""
        return cls(PrivateKey(os.urandom(32)).to_bytes())

    @property
    def public_key(self) -> bytes:
        """The 64-byte public key."""
        return bytes(PrivateKey(self.secret).public_key.to_bytes())

    @property
    def address(self) -> NodeAddress:
        """The 20-byte node address."""
        return address_of(self.public_key)

    def sign_hash(self, message_hash: bytes) -> bytes:
        """Return the 65-byte signature (v in {0, 1}) over a 32-byte hash."""
        if len(message_hash) != 32:
            raise NodeKeyError(f"only 32-byte hashes are signed, got {len(message_hash)} bytes")
        return bytes(PrivateKey(self.secret).sign_msg_hash(message_hash).to_bytes())

    def save(self, path: Path) -> None:
        """Write the key as one line of hex, creating the file with mode 0600."""
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(self.secret.hex() + "\n")
        os.chmod(path, 0o600)

    @classmethod
    def load(cls, path: Path) -> NodeKey:
        """Read a key written by `save` (0x prefix tolerated); raise NodeKeyError if malformed."""
        text = path.read_text(encoding="ascii").strip()
        digits = text[2:] if text.lower().startswith("0x") else text
        try:
            secret = bytes.fromhex(digits)
        except ValueError as error:
            raise NodeKeyError(f"node key file {path} does not hold hexadecimal") from error
        return cls(secret)
