"""Test helpers: ABI encoding for the point contract and signing transactions with test keys."""

from __future__ import annotations

from typing import Any

from eth_abi import encode
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak

from node.ledger import Ledger
from node.ports import Address, Hash32
from tests.node.conftest import CHAIN_ID, FakeClock
from tests.node.point_contract import POINTS_BYTECODE


def selector(signature: str) -> bytes:
    """Return the 4-byte selector of a function signature."""
    return keccak(signature.encode())[:4]


def event_topic(signature: str) -> Hash32:
    """Return the topic-0 of an event signature."""
    return Hash32(keccak(signature.encode()))


def grant_data(municipality: int, mykey_id: bytes, points: int) -> bytes:
    """ABI call data for grant(uint32,bytes8,uint256)."""
    return selector("grant(uint32,bytes8,uint256)") + encode(
        ["uint32", "bytes8", "uint256"], [municipality, mykey_id, points]
    )


def redeem_data(municipality: int, mykey_id: bytes, points: int) -> bytes:
    """ABI call data for redeem(uint32,bytes8,uint256)."""
    return selector("redeem(uint32,bytes8,uint256)") + encode(
        ["uint32", "bytes8", "uint256"], [municipality, mykey_id, points]
    )


def balance_data(municipality: int, mykey_id: bytes) -> bytes:
    """ABI call data for balances(uint32,bytes8)."""
    return selector("balances(uint32,bytes8)") + encode(
        ["uint32", "bytes8"], [municipality, mykey_id]
    )


def sign(account: LocalAccount, **fields: Any) -> bytes:
    """Return a raw signed transaction with test defaults (legacy, gas price 0)."""
    tx: dict[str, Any] = {"gasPrice": 0, "gas": 100_000, "value": 0, "chainId": CHAIN_ID}
    tx.update(fields)
    return bytes(account.sign_transaction(tx).raw_transaction)


def deploy_points(ledger: Ledger, account: LocalAccount, clock: FakeClock) -> Address:
    """Deploy the point contract in its own block; return its address."""
    nonce = ledger.txpool.pending_nonce(Address(bytes.fromhex(account.address[2:])))
    tx_hash = ledger.txpool.submit(
        sign(account, nonce=nonce, to=b"", data=POINTS_BYTECODE, gas=1_000_000)
    )
    block = ledger.produce_block(clock.tick())
    assert block is not None
    receipt = ledger.chain.receipt(tx_hash)
    assert receipt is not None and receipt.status == 1
    assert receipt.contract_address is not None
    return receipt.contract_address
