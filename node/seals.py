"""Commit seals: sign a header's commit-seal hash, recover signers, check a block's seals.

A commit seal is a secp256k1 signature (coincurve, low-s) over `commit_seal_hash(header)` with
nothing prepended, written as 65 bytes r‖s‖v with v in {0, 1} (QBFT.md sections 1-2). A block is
accepted (Besu `BftCommitSealsValidationRule`) when its seals recover to distinct signers, every
signer is a validator in force after the parent, and there are at least quorum(n) = ceil(2n/3) of
them. This node seals alone for now, but nothing here assumes one validator.
"""

from __future__ import annotations

from collections.abc import Sequence

import coincurve
from eth.vm.forks.prague.blocks import PragueBlockHeader
from eth_hash.auto import keccak

from node.extradata import ExtraDataError, decode_extra_data
from node.header import commit_seal_hash

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class InvalidSeals(ValueError):
    """A block's commit seals do not prove a quorum of validators signed it."""


def quorum(validator_count: int) -> int:
    """Return ceil(2n/3), the QBFT quorum for n validators (Besu BftHelpers)."""
    return -(-2 * validator_count // 3)


def address_of(public_key: coincurve.PublicKey) -> bytes:
    """Return the 20-byte Ethereum address of a secp256k1 public key."""
    return bytes(keccak(public_key.format(compressed=False)[1:])[12:])


def sign_hash(private_key: coincurve.PrivateKey, message_hash: bytes) -> bytes:
    """Return the 65-byte r‖s‖v signature (v in {0,1}) of a 32-byte hash."""
    signature = bytes(private_key.sign_recoverable(message_hash, hasher=None))
    if signature[64] > 1:
        # Recovery ids 2 and 3 need r >= n; libsecp256k1 practically never yields them, and
        # Besu's SECPSignature rejects them, so refuse rather than emit an unusable seal.
        raise ValueError("signature has recovery id above 1; sign again with a fresh nonce")
    return signature


def recover_signer(message_hash: bytes, signature: bytes) -> bytes:
    """Return the address that signed `message_hash`; raise InvalidSeals when unrecoverable."""
    if len(signature) != 65 or signature[64] > 1:
        raise InvalidSeals("a seal must be 65 bytes with v in {0, 1}")
    s = int.from_bytes(signature[32:64], "big")
    if s > SECP256K1_N // 2:
        raise InvalidSeals("a seal has a high s value (not canonical, EIP-2)")
    try:
        public_key = coincurve.PublicKey.from_signature_and_message(
            signature, message_hash, hasher=None
        )
    except ValueError as error:
        raise InvalidSeals(f"a seal does not recover to a public key: {error}") from error
    return address_of(public_key)


def commit_seal(private_key: coincurve.PrivateKey, header_commit_seal_hash: bytes) -> bytes:
    """Return this validator's commit seal over a header's commit-seal hash."""
    return sign_hash(private_key, header_commit_seal_hash)


def verify_commit_seals(header: PragueBlockHeader, validators: Sequence[bytes]) -> list[bytes]:
    """Check a header's seals against `validators` (in force after the parent).

    Returns the signers in seal order; raises InvalidSeals for an unrecoverable seal, a duplicate
    signer, a signer outside the validators or fewer than quorum(len(validators)) seals.
    """
    try:
        extra = decode_extra_data(header.extra_data)
        seal_hash = commit_seal_hash(header)
    except ExtraDataError as error:
        raise InvalidSeals(f"cannot read the seals: {error}") from error
    allowed = set(validators)
    signers: list[bytes] = []
    for index, seal in enumerate(extra.seals):
        signer = recover_signer(seal_hash, seal)
        if signer in signers:
            raise InvalidSeals(f"seal {index} repeats signer 0x{signer.hex()}")
        if signer not in allowed:
            raise InvalidSeals(f"seal {index} is by 0x{signer.hex()}, not a validator")
        signers.append(signer)
    needed = quorum(len(validators))
    if len(signers) < needed:
        raise InvalidSeals(
            f"block has {len(signers)} commit seal(s); {needed} of {len(validators)} needed"
        )
    return signers
