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

from node.consensus.crypto import SECP256K1_N, address_of_public_key, recover_address
from node.consensus.ports import InvalidSignature
from node.consensus.rules import quorum
from node.extradata import ExtraDataError, decode_extra_data
from node.header import commit_seal_hash
from node.ports import Hash32

__all__ = ["SECP256K1_N", "InvalidSeals", "address_of", "quorum", "recover_signer"]


class InvalidSeals(ValueError):
    """A block's commit seals do not prove a quorum of validators signed it."""


def address_of(public_key: coincurve.PublicKey) -> bytes:
    """Return the 20-byte Ethereum address of a secp256k1 public key."""
    return bytes(address_of_public_key(public_key))


def sign_hash(private_key: coincurve.PrivateKey, message_hash: bytes) -> bytes:
    """Return the 65-byte r‖s‖v signature (v in {0,1}) of a 32-byte hash."""
    signature = bytes(private_key.sign_recoverable(message_hash, hasher=None))
    if signature[64] > 1:
        # Recovery ids 2 and 3 need r >= n; libsecp256k1 practically never yields them, and
        # Besu's SECPSignature rejects them, so refuse rather than emit an unusable seal.
        raise ValueError("signature has recovery id above 1; sign again with a fresh nonce")
    return signature


def recover_signer(message_hash: bytes, signature: bytes) -> bytes:
    """Return the address that signed `message_hash`; raise InvalidSeals when unrecoverable.

    The same rules as consensus messages (node.consensus.crypto): 65 bytes, v in {0, 1}, low s.
    """
    try:
        return bytes(recover_address(Hash32(message_hash), signature))
    except InvalidSignature as error:
        raise InvalidSeals(f"a seal is not a valid signature: {error}") from error


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
