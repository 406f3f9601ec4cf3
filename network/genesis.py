"""A Besu-format QBFT genesis for a new consortium, written by `mykey net init`.

The network package may not import `node`, so it carries its own small encoder for the one
extraData it needs: the genesis form `RLP([32 zero bytes, [validators], 0xc0, 0x80, 0xc0])`
(vanity, validator list, no vote, round 0, no seals; see ../shared/QBFT.md section 1). The test
suite checks it against the Besu documentation's vector. Invariants: validators are 20-byte
addresses without duplicates; the base fee is 0 (a zero-gas-price network); mixHash is QBFT's
constant; the document parses with the node's genesis reader.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

import rlp

from network.identity import NodeAddress, format_address

QBFT_MIX_HASH: Final = bytes.fromhex(
    "63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"
)
"""Besu's BftHelpers.EXPECTED_MIX_HASH ("tical byzantine fault tolerance")."""

DEFAULT_GAS_LIMIT: Final = 0x1FFFFFFFFFFFFF
"""Gas only bounds work on a zero-price network; Besu's QBFT examples use this limit."""


class GenesisSpecError(ValueError):
    """The requested genesis is impossible (no validators, a duplicate, a bad address)."""


def encode_genesis_extra_data(validators: Sequence[bytes]) -> bytes:
    """Return genesis extraData naming `validators` in the given order.

    Raises GenesisSpecError for an empty list, a duplicate or an address not 20 bytes long.
    """
    if not validators:
        raise GenesisSpecError("a QBFT genesis needs at least one validator")
    if len(set(validators)) != len(validators):
        raise GenesisSpecError("a validator is listed twice")
    for validator in validators:
        if len(validator) != 20:
            raise GenesisSpecError(f"validator 0x{validator.hex()} is not a 20-byte address")
    return bytes(rlp.encode([b"\x00" * 32, list(validators), [], b"", []]))


def consortium_genesis(
    *,
    chain_id: int,
    validators: Sequence[NodeAddress],
    block_period_seconds: int = 1,
    request_timeout_seconds: int = 4,
    epoch_length: int = 30000,
    gas_limit: int = DEFAULT_GAS_LIMIT,
    alloc: Mapping[NodeAddress, int] | None = None,
) -> dict[str, object]:
    """Return the genesis JSON document (a dict ready for `json.dumps`).

    Validators are written sorted ascending, the order Besu keeps the set in. `alloc` maps
    addresses to balances in wei. Raises GenesisSpecError as `encode_genesis_extra_data` does,
    and for a chain id of 0 (EIP-155 needs a non-zero one).
    """
    if chain_id <= 0:
        raise GenesisSpecError(f"chain id must be positive (EIP-155), got {chain_id}")
    extra_data = encode_genesis_extra_data(sorted(validators))
    return {
        "config": {
            "chainId": chain_id,
            "pragueTime": 0,
            "zeroBaseFee": True,
            "qbft": {
                "blockperiodseconds": block_period_seconds,
                "requesttimeoutseconds": request_timeout_seconds,
                "epochlength": epoch_length,
            },
        },
        "nonce": "0x0",
        "timestamp": "0x0",
        "gasLimit": hex(gas_limit),
        "difficulty": "0x1",
        "baseFeePerGas": "0x0",
        "mixHash": "0x" + QBFT_MIX_HASH.hex(),
        "coinbase": "0x" + "00" * 20,
        "extraData": "0x" + extra_data.hex(),
        "alloc": {
            format_address(address)[2:]: {"balance": hex(balance)}
            for address, balance in sorted((alloc or {}).items())
        },
    }
