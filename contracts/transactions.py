"""Sending the ledger's transactions: simulate, sign with a local key, send, wait, decode refusals.

Every write is first run as an `eth_call` from the same sender, so a refusal comes back as a
decoded `LedgerRevert` with a readable message before anything is signed; only then is the
transaction estimated, signed locally (keys never leave the process) and sent raw. Gas price is
whatever the node asks (zero on the permissioned ledger); gas is only a bound on work.
"""

from __future__ import annotations

import ast
import re
import time
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_typing import ChecksumAddress, HexStr
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import Web3RPCError
from web3.types import Nonce, TxParams, TxReceipt, Wei

from contracts.artifacts import Artifact
from contracts.errors import LedgerRevert, decode_revert

GAS_HEADROOM_PERCENT = 25
RECEIPT_TIMEOUT_SECONDS = 60.0
RECEIPT_POLL_SECONDS = 0.02
_BYTES_REPR = re.compile(r"b'(?:[^'\\]|\\.)*'$|b\"(?:[^\"\\]|\\.)*\"$")


class TransactionFailed(Exception):
    """A transaction was mined but failed, or no receipt came in time. The message says which."""


def address_of(private_key: str | bytes) -> ChecksumAddress:
    """Return the checksummed address of a private key."""
    return to_checksum_address(Account.from_key(private_key).address)


def _revert_data(error: Exception) -> bytes | None:
    data: Any = getattr(error, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    if isinstance(data, bytes):
        return data
    if isinstance(error, Web3RPCError) and isinstance(error.rpc_response, dict):
        inner = error.rpc_response.get("error", {}).get("data")
        if isinstance(inner, str) and inner.startswith("0x"):
            return bytes.fromhex(inner[2:])
    # In-process test chains raise their own exception with the revert data as first argument,
    # sometimes wrapped in another exception: follow the chain of causes.
    seen: BaseException | None = error
    while seen is not None:
        first = seen.args[0] if seen.args else None
        if isinstance(first, bytes):
            return first
        if isinstance(first, str) and _BYTES_REPR.search(first):
            # py-evm's in-process tester reports revert data only as the repr of the bytes.
            literal = ast.literal_eval(_BYTES_REPR.search(first).group(0))  # type: ignore[union-attr]
            if isinstance(literal, bytes):
                return literal
        if isinstance(first, BaseException):
            seen = first
            continue
        seen = seen.__cause__ or seen.__context__
    return None


def _refusal(error: Exception) -> LedgerRevert | None:
    data = _revert_data(error)
    if data is None:
        return None
    if len(data) < 4:
        return LedgerRevert("Unknown", {}, f"the ledger refused without a reason: {error}")
    return decode_revert(data)


def simulate(w3: Web3, params: TxParams) -> bytes:
    """Run `params` as eth_call; return the output or raise the decoded LedgerRevert."""
    try:
        return bytes(w3.eth.call(params))
    except Exception as error:  # providers differ in what they raise; the revert data is the fact
        refusal = _refusal(error)
        if refusal is None:
            raise  # not a revert: connection trouble and the like keep their own type
        raise refusal from None


def estimate_gas(w3: Web3, params: TxParams) -> int:
    """Estimate gas with headroom; a refusal surfaces as the decoded LedgerRevert."""
    try:
        estimate = int(w3.eth.estimate_gas(params))
    except Exception as error:  # as in `simulate`
        refusal = _refusal(error)
        if refusal is None:
            raise
        raise refusal from None
    return estimate + estimate * GAS_HEADROOM_PERCENT // 100 + 10_000


def wait_for_receipt(
    w3: Web3, tx_hash: HexBytes, timeout: float = RECEIPT_TIMEOUT_SECONDS
) -> TxReceipt:
    """Poll for the receipt of `tx_hash`; raises TransactionFailed after `timeout` seconds."""
    try:
        return w3.eth.wait_for_transaction_receipt(
            tx_hash, timeout=timeout, poll_latency=RECEIPT_POLL_SECONDS
        )
    except Exception as error:  # web3 raises TimeExhausted; keep the hash in the message
        raise TransactionFailed(
            f"no receipt for {tx_hash.hex()} within {timeout} s: {error}"
        ) from error


def send_transaction(
    w3: Web3,
    private_key: str | bytes,
    *,
    to: ChecksumAddress | None,
    data: bytes,
    gas: int | None = None,
    value: int = 0,
) -> TxReceipt:
    """Simulate, sign and send one transaction; return its successful receipt.

    Raises LedgerRevert (decoded refusal) or TransactionFailed (mined with status 0, or no receipt).
    """
    sender = address_of(private_key)
    params: TxParams = {"from": sender, "data": HexStr("0x" + data.hex()), "value": Wei(value)}
    if to is not None:
        params["to"] = to
    if gas is None:
        gas = estimate_gas(w3, params)
    else:
        simulate(w3, params)
    params.update(
        {
            "gas": gas,
            "gasPrice": w3.eth.gas_price,
            "nonce": w3.eth.get_transaction_count(sender, "pending"),
            "chainId": w3.eth.chain_id,
        }
    )
    signed = Account.sign_transaction(params, private_key)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = wait_for_receipt(w3, tx_hash)
    if receipt["status"] != 1:
        raise TransactionFailed(
            f"transaction {tx_hash.hex()} failed in block {receipt['blockNumber']} "
            f"after {receipt['gasUsed']} gas (gas limit {gas})"
        )
    return receipt


def send_call(
    w3: Web3, private_key: str | bytes, function: ContractFunction, *, gas: int | None = None
) -> TxReceipt:
    """Send a contract function call (`contract.functions.f(...)`) from `private_key`."""
    address = function.address
    data = bytes(HexBytes(function._encode_transaction_data()))
    return send_transaction(w3, private_key, to=to_checksum_address(address), data=data, gas=gas)


def deploy_contract(
    w3: Web3, private_key: str | bytes, artifact: Artifact, *args: Any
) -> ChecksumAddress:
    """Deploy `artifact` with constructor `args`; return the new contract's address."""
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    data = bytes(HexBytes(factory.constructor(*args).data_in_transaction))
    receipt = send_transaction(w3, private_key, to=None, data=data)
    address = receipt["contractAddress"]
    if address is None:
        raise TransactionFailed(f"deploying {artifact.name} gave no contract address")
    return to_checksum_address(address)


def fund(w3: Web3, funder_key: str | bytes, address: str, wei: int) -> None:
    """Send `wei` to `address` unless gas is free (the permissioned ledger charges 0)."""
    if w3.eth.gas_price == 0:
        return
    if w3.eth.get_balance(to_checksum_address(address)) >= wei // 2:
        return
    send_transaction(
        w3, funder_key, to=to_checksum_address(address), data=b"", value=wei, gas=21_000
    )


def unix_now() -> int:
    """Return the wall clock in whole seconds (for attestation deadlines built off-chain)."""
    return int(time.time())


@dataclass(frozen=True)
class PlannedTransaction:
    """One transaction of a batch: sent without simulation, so `gas` is fixed up front."""

    key: str | bytes
    to: ChecksumAddress | None
    data: bytes
    gas: int
    label: str


def create_address(sender: str, nonce: int) -> ChecksumAddress:
    """Return the address a CREATE from `sender` at `nonce` makes: keccak(rlp([sender, nonce]))."""
    if nonce == 0:
        encoded_nonce = b"\x80"
    elif nonce < 0x80:
        encoded_nonce = bytes([nonce])
    else:
        raw = nonce.to_bytes((nonce.bit_length() + 7) // 8, "big")
        encoded_nonce = bytes([0x80 + len(raw)]) + raw
    payload = b"\x94" + bytes.fromhex(sender[2:]) + encoded_nonce
    return to_checksum_address(keccak(bytes([0xC0 + len(payload)]) + payload)[12:])


def send_batch(w3: Web3, planned: list[PlannedTransaction]) -> list[TxReceipt]:
    """Sign and send every transaction at once (consecutive nonces per sender), then wait.

    On a ledger sealing one block a second this turns a setup of N dependent-free steps into one
    block. Returns the receipts in order; raises TransactionFailed naming the first failed step.
    """
    nonces: dict[str, int] = {}
    gas_price = w3.eth.gas_price
    chain_id = w3.eth.chain_id
    hashes = []
    for item in planned:
        sender = address_of(item.key)
        if sender not in nonces:
            nonces[sender] = w3.eth.get_transaction_count(sender, "pending")
        params: TxParams = {
            "from": sender,
            "data": HexStr("0x" + item.data.hex()),
            "gas": item.gas,
            "gasPrice": gas_price,
            "nonce": Nonce(nonces[sender]),
            "chainId": chain_id,
            "value": Wei(0),
        }
        if item.to is not None:
            params["to"] = item.to
        nonces[sender] += 1
        hashes.append(
            w3.eth.send_raw_transaction(Account.sign_transaction(params, item.key).raw_transaction)
        )
    receipts = [wait_for_receipt(w3, tx_hash) for tx_hash in hashes]
    for item, receipt in zip(planned, receipts, strict=True):
        if receipt["status"] != 1:
            raise TransactionFailed(f"{item.label} failed in block {receipt['blockNumber']}")
    return receipts


def call_data(function: ContractFunction) -> bytes:
    """Return the ABI-encoded call data of `contract.functions.f(...)`."""
    return bytes(HexBytes(function._encode_transaction_data()))
