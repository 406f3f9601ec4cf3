"""secp256k1 signatures as QBFT wants them: 65 bytes, v in {0,1}, low s, deterministic."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_hash.auto import keccak

from node.consensus.crypto import HALF_N, SECP256K1_N, KeySigner, recover_address
from node.consensus.ports import InvalidSignature
from node.ports import Hash32

TEST_KEY = keccak(b"consensus crypto test key")
MESSAGE = Hash32(keccak(b"a commit-seal hash"))


def test_address_matches_eth_account() -> None:
    assert KeySigner(TEST_KEY).address == bytes.fromhex(Account.from_key(TEST_KEY).address[2:])


def test_signature_shape_and_recovery() -> None:
    signer = KeySigner(TEST_KEY)
    signature = signer.sign(MESSAGE)
    assert len(signature) == 65
    assert signature[64] in (0, 1)
    assert int.from_bytes(signature[32:64], "big") <= HALF_N
    assert signature == signer.sign(MESSAGE)  # RFC 6979: a replay signs the same bytes
    assert recover_address(MESSAGE, signature) == signer.address


def test_another_hash_recovers_another_address() -> None:
    signature = KeySigner(TEST_KEY).sign(MESSAGE)
    other = recover_address(Hash32(keccak(b"something else")), signature)
    assert other != KeySigner(TEST_KEY).address


def test_high_s_is_refused() -> None:
    signature = KeySigner(TEST_KEY).sign(MESSAGE)
    s = int.from_bytes(signature[32:64], "big")
    flipped = signature[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([signature[64] ^ 1])
    with pytest.raises(InvalidSignature, match="above n/2"):
        recover_address(MESSAGE, flipped)


@pytest.mark.parametrize("v", [27, 28, 2])
def test_v_outside_0_1_is_refused(v: int) -> None:
    signature = KeySigner(TEST_KEY).sign(MESSAGE)
    with pytest.raises(InvalidSignature, match="v must be 0 or 1"):
        recover_address(MESSAGE, signature[:64] + bytes([v]))


def test_wrong_length_and_zero_r_are_refused() -> None:
    with pytest.raises(InvalidSignature, match="65 bytes"):
        recover_address(MESSAGE, b"\x01" * 64)
    with pytest.raises(InvalidSignature, match="r is out of range"):
        recover_address(MESSAGE, bytes(32) + (1).to_bytes(32, "big") + b"\x00")
