"""secp256k1 signing and recovery for QBFT messages and commit seals, with coincurve.

Invariants (QBFT.md section 4, Besu `SECPSignature`): signatures are 65 bytes r‖s‖v with v in {0,1},
never 27/28; s must be at most n/2 (low-s), otherwise the signature is refused; the address is the
last 20 bytes of keccak256 of the uncompressed public key without its 0x04 prefix.
"""

from __future__ import annotations

from coincurve import PrivateKey, PublicKey
from eth_hash.auto import keccak

from node.consensus.ports import InvalidSignature
from node.ports import Address, Hash32

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
"""The order of the secp256k1 group; signatures with s > N/2 are refused (EIP-2 low-s rule)."""

HALF_N = SECP256K1_N // 2


def address_of_public_key(public_key: PublicKey) -> Address:
    """Return the Ethereum address of a public key."""
    return Address(keccak(public_key.format(compressed=False)[1:])[12:])


class KeySigner:
    """A node key held in memory; `sign` is deterministic (RFC 6979 nonces in libsecp256k1)."""

    def __init__(self, private_key: bytes) -> None:
        if len(private_key) != 32:
            raise ValueError(f"a secp256k1 private key is 32 bytes, got {len(private_key)}")
        self._key = PrivateKey(private_key)
        self._address = address_of_public_key(self._key.public_key)

    @property
    def address(self) -> Address:
        """Return the validator address of this key."""
        return self._address

    def sign(self, message_hash: Hash32) -> bytes:
        """Return r‖s‖v (v ∈ {0,1}) over `message_hash`, with s already low (libsecp256k1 does)."""
        if len(message_hash) != 32:
            raise ValueError(f"only 32-byte hashes are signed, got {len(message_hash)} bytes")
        signature: bytes = self._key.sign_recoverable(message_hash, hasher=None)
        return signature


def recover_address(message_hash: Hash32, signature: bytes) -> Address:
    """Return the address that signed `message_hash`.

    Raises InvalidSignature for a wrong length, v outside {0,1}, r or s out of range, high s, or a
    signature that does not recover to a point.
    """
    if len(signature) != 65:
        raise InvalidSignature(f"a signature is 65 bytes r||s||v, got {len(signature)}")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    if signature[64] not in (0, 1):
        raise InvalidSignature(f"signature v must be 0 or 1, got {signature[64]}")
    if not 0 < r < SECP256K1_N:
        raise InvalidSignature("signature r is out of range")
    if not 0 < s <= HALF_N:
        raise InvalidSignature("signature s is zero or above n/2 (high s is refused, EIP-2)")
    try:
        public_key = PublicKey.from_signature_and_message(signature, message_hash, hasher=None)
    except Exception as error:  # coincurve raises bare Exception/ValueError from libsecp256k1
        raise InvalidSignature(f"signature does not recover to a public key: {error}") from error
    return address_of_public_key(public_key)
