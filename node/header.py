"""The QBFT block header: py-evm's Prague header whose `.hash` is the QBFT block hash.

Besu hashes a QBFT header with seals and round taken out of extraData (QBFT.md section 2), while
py-evm's native `header.hash` hashes the full header. We subclass `PragueBlockHeader` as
`QbftHeader` and override `.hash`, so everything that links blocks by hash (parent_hash, BLOCKHASH
through the execution context's previous hashes, the schema's by-hash tables, RPC) sees the QBFT
hash. The serialized RLP is the ordinary Prague header RLP, unchanged.

- block hash = keccak256(header RLP with extraData = without seals, round 0); block 0 hashes its
  extraData verbatim.
- commit-seal hash = keccak256(header RLP with extraData = without seals, round kept).

Field values fixed by QBFT (section 3): mixHash `MIX_HASH`, difficulty 1, nonce 0, ommers empty,
coinbase = proposer. Base fee is always 0 on this network (Besu's zeroBaseFee).
"""

from __future__ import annotations

from typing import Any, cast

import rlp
from eth.vm.forks.prague.blocks import PragueBlockHeader
from eth_hash.auto import keccak
from eth_typing import Hash32

import node.hashing  # noqa: F401  (selects the C keccak before anything hashes)
from node.extradata import (
    decode_extra_data,
    encode_extra_data,
    without_seals,
    without_seals_and_round,
)

MIX_HASH = bytes.fromhex("63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365")
"""Besu's BftHelpers.EXPECTED_MIX_HASH: "ctical byzantine fault tolerance"."""

DIFFICULTY = 1
NONCE = b"\x00" * 8
EMPTY_OMMERS_HASH = keccak(rlp.encode([]))


class QbftHeader(PragueBlockHeader):
    """A Prague header whose `hash` is the QBFT block hash."""

    _qbft_hash: bytes | None = None

    @property
    def hash(self) -> Hash32:
        """Return the QBFT block hash (seals and round removed; genesis verbatim)."""
        if self._qbft_hash is None:
            self._qbft_hash = block_hash(self)
        return cast(Hash32, self._qbft_hash)


def _hash_with_extra(header: PragueBlockHeader, extra_data: bytes) -> bytes:
    fields: list[Any] = list(rlp.decode(rlp.encode(header)))
    fields[12] = extra_data  # extraData is the 13th header field (QBFT.md section 2).
    return keccak(rlp.encode(fields))


def block_hash(header: PragueBlockHeader) -> bytes:
    """Return the QBFT block hash of `header`; raise ExtraDataError for bad extraData."""
    if header.block_number == 0:
        return keccak(rlp.encode(header))
    extra = decode_extra_data(header.extra_data)
    return _hash_with_extra(header, encode_extra_data(without_seals_and_round(extra)))


def commit_seal_hash(header: PragueBlockHeader) -> bytes:
    """Return the hash a commit seal signs: header with seals removed, round kept."""
    extra = decode_extra_data(header.extra_data)
    return _hash_with_extra(header, encode_extra_data(without_seals(extra)))


def decode_header(data: bytes) -> QbftHeader:
    """Return the QbftHeader in header RLP `data`."""
    return cast(QbftHeader, rlp.decode(data, sedes=QbftHeader))


def encode_header(header: PragueBlockHeader) -> bytes:
    """Return the header RLP of `header`."""
    return cast(bytes, rlp.encode(header))
