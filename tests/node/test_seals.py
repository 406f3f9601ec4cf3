"""Commit seals: signing, recovery, and the import rule for many validators."""

from __future__ import annotations

import coincurve
import pytest
import rlp
from eth_hash.auto import keccak

from node.extradata import ExtraData, decode_extra_data, encode_extra_data
from node.header import MIX_HASH, QbftHeader, block_hash, commit_seal_hash
from node.ledger import seal_header
from node.seals import (
    InvalidSeals,
    address_of,
    quorum,
    recover_signer,
    sign_hash,
    verify_commit_seals,
)

TEST_KEYS = [coincurve.PrivateKey(bytes([0x40 + index]) * 32) for index in range(7)]


def validators_of(keys: list[coincurve.PrivateKey]) -> list[bytes]:
    return sorted(address_of(key.public_key) for key in keys)


def unsealed_header(validators: list[bytes], round_number: int = 0) -> QbftHeader:
    extra = ExtraData(b"\x00" * 32, tuple(validators), round=round_number)
    return QbftHeader(
        difficulty=1,
        block_number=5,
        gas_limit=30_000_000,
        timestamp=1234,
        coinbase=validators[0],
        parent_hash=b"\x01" * 32,
        extra_data=encode_extra_data(extra),
        mix_hash=MIX_HASH,
        nonce=b"\x00" * 8,
    )


def sealed_by(header: QbftHeader, keys: list[coincurve.PrivateKey]) -> QbftHeader:
    for key in keys:
        header = seal_header(header, key)
    return header


@pytest.mark.parametrize(("count", "expected"), [(1, 1), (2, 2), (3, 2), (4, 3), (6, 4), (7, 5)])
def test_quorum_is_ceil_two_thirds(count: int, expected: int) -> None:
    assert quorum(count) == expected
    assert quorum(count) == (2 * count - 1) // 3 + 1  # the Dafny form agrees


def test_signature_is_65_bytes_with_v_0_or_1_and_recovers() -> None:
    message = b"\x07" * 32
    for key in TEST_KEYS:
        signature = sign_hash(key, message)
        assert len(signature) == 65
        assert signature[64] in (0, 1)
        assert recover_signer(message, signature) == address_of(key.public_key)


def test_high_s_is_refused() -> None:
    signature = sign_hash(TEST_KEYS[0], b"\x07" * 32)
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    high_s = (n - int.from_bytes(signature[32:64], "big")).to_bytes(32, "big")
    flipped = signature[:32] + high_s + bytes([signature[64] ^ 1])
    with pytest.raises(InvalidSeals, match="high s"):
        recover_signer(b"\x07" * 32, flipped)


def test_seals_do_not_change_the_block_hash_but_round_changes_seal_hash() -> None:
    validators = validators_of(TEST_KEYS[:4])
    header = unsealed_header(validators)
    sealed = sealed_by(header, TEST_KEYS[:3])
    assert block_hash(sealed) == block_hash(header) == sealed.hash
    later = unsealed_header(validators, round_number=2)
    assert block_hash(later) == block_hash(header)  # the block hash drops the round
    assert commit_seal_hash(later) != commit_seal_hash(header)  # the seal hash keeps it


def test_hashes_follow_qbft_md_section_2() -> None:
    """Block hash and commit-seal hash recomputed from the header RLP, field by field."""
    validators = validators_of(TEST_KEYS[:2])
    header = sealed_by(unsealed_header(validators, round_number=3), TEST_KEYS[:2])
    fields = rlp.decode(rlp.encode(header))
    assert len(fields) == 21  # Prague: up to requestsHash
    assert fields[12] == header.extra_data  # extraData is the 13th field
    assert fields[14] == b"\x00" * 8  # nonce as an 8-byte string
    bare = ExtraData(b"\x00" * 32, tuple(validators))  # seals out, round 0
    fields[12] = rlp.encode([bare.vanity, list(bare.validators), [], 0, []])
    assert header.hash == keccak(rlp.encode(fields))
    fields[12] = rlp.encode([bare.vanity, list(bare.validators), [], 3, []])  # round kept
    assert commit_seal_hash(header) == keccak(rlp.encode(fields))


def test_quorum_of_distinct_validators_passes() -> None:
    validators = validators_of(TEST_KEYS[:4])
    header = sealed_by(unsealed_header(validators), TEST_KEYS[:3])
    signers = verify_commit_seals(header, validators)
    assert sorted(signers) == validators_of(TEST_KEYS[:3])


def test_all_seven_validators_sealing_passes() -> None:
    validators = validators_of(TEST_KEYS)
    header = sealed_by(unsealed_header(validators), TEST_KEYS)
    assert len(verify_commit_seals(header, validators)) == 7


def test_too_few_seals_fail() -> None:
    validators = validators_of(TEST_KEYS[:4])
    header = sealed_by(unsealed_header(validators), TEST_KEYS[:2])
    with pytest.raises(InvalidSeals, match="3 of 4 needed"):
        verify_commit_seals(header, validators)


def test_duplicate_signer_fails() -> None:
    validators = validators_of(TEST_KEYS[:4])
    header = sealed_by(unsealed_header(validators), [TEST_KEYS[0], TEST_KEYS[1], TEST_KEYS[0]])
    with pytest.raises(InvalidSeals, match="repeats signer"):
        verify_commit_seals(header, validators)


def test_wrong_signer_fails() -> None:
    validators = validators_of(TEST_KEYS[:4])
    outsider = TEST_KEYS[6]
    header = sealed_by(unsealed_header(validators), [*TEST_KEYS[:2], outsider])
    with pytest.raises(InvalidSeals, match="not a validator"):
        verify_commit_seals(header, validators)


def test_seal_over_another_round_fails() -> None:
    validators = validators_of(TEST_KEYS[:1])
    round_one = sealed_by(unsealed_header(validators, round_number=1), TEST_KEYS[:1])
    extra = decode_extra_data(round_one.extra_data)
    moved = ExtraData(extra.vanity, extra.validators, extra.vote, 0, extra.seals)
    tampered = round_one.copy(extra_data=encode_extra_data(moved))
    with pytest.raises(InvalidSeals):
        verify_commit_seals(tampered, validators)
