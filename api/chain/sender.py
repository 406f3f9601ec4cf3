"""Sending the API's transactions: simulate, take a nonce, sign, send, and wait until final.

Nonces: one lock and one counter per sending address, so concurrent requests from the same key
get consecutive nonces instead of the same one; the counter starts from the node's `pending`
count and is re-read after any failed send (the node may have restarted or dropped the pool).
Only the nonce/sign/send step holds the lock; waiting for the receipt does not, so requests
overlap in one block.

Finality: QBFT blocks are final when sealed, so a receipt is final once its block is at or below
the node's `finalized` head; the action is reported only then. A transaction that was mined but
failed (status 0) is re-simulated on the latest state to say why (e.g. a concurrent redemption
took the points first), and raised as that `LedgerRevert`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from eth_account import Account
from eth_typing import ChecksumAddress, HexStr
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.types import Nonce, TxParams, TxReceipt, Wei

from api.chain.keys import KeyRing
from contracts.client import Sent
from contracts.deploy import Deployment
from contracts.events import decode_logs
from contracts.transactions import simulate

DEFAULT_GAS_LIMIT = 3_000_000
"""Gas bound of every API transaction (gas is free on the ledger; this only bounds work)."""
RECEIPT_TIMEOUT_SECONDS = 30.0
RECEIPT_POLL_SECONDS = 0.1
"""Default seconds between receipt polls. A QBFT block takes about a second, so a faster poll
only burns CPU: bench.api_split measured 0.02 -> 0.1 s as 53.7 -> 44.5 ms of API CPU per
redemption with unchanged throughput. A sender told the block period polls four times a block."""


class TransactionNotFinal(Exception):
    """A transaction was sent but no final receipt came in time: its outcome is in doubt."""

    def __init__(self, transaction_hash: str, reason: str) -> None:
        super().__init__(f"transaction {transaction_hash} is not final: {reason}")
        self.transaction_hash = transaction_hash


class TransactionReverted(Exception):
    """Mined with status 0 and the reason could not be recovered by re-simulating."""


@dataclass
class _Account:
    lock: threading.Lock
    next_nonce: int | None = None


class TransactionSender:
    """Sends contract calls from keys of a `KeyRing`; safe to use from many threads."""

    def __init__(
        self,
        w3: Web3,
        deployment: Deployment,
        keys: KeyRing,
        *,
        gas_limit: int = DEFAULT_GAS_LIMIT,
        receipt_timeout: float = RECEIPT_TIMEOUT_SECONDS,
        receipt_poll_seconds: float | None = None,
        block_period_seconds: float | None = None,
    ) -> None:
        """`receipt_poll_seconds` wins; else a quarter of `block_period_seconds` when known;
        else RECEIPT_POLL_SECONDS (read at each wait)."""
        if receipt_poll_seconds is None and block_period_seconds is not None:
            receipt_poll_seconds = block_period_seconds / 4
        self.receipt_poll_seconds = receipt_poll_seconds
        self.w3 = w3
        self.deployment = deployment
        self.keys = keys
        self.gas_limit = gas_limit
        self.receipt_timeout = receipt_timeout
        self._accounts: dict[ChecksumAddress, _Account] = {}
        self._accounts_lock = threading.Lock()
        self._gas_price: int | None = None

    def _account(self, address: ChecksumAddress) -> _Account:
        with self._accounts_lock:
            return self._accounts.setdefault(address, _Account(threading.Lock()))

    def send(self, sender: str, function: ContractFunction) -> Sent:
        """Send `function` from `sender`'s key; return it once final and successful.

        Raises LedgerRevert (refused: nothing moved), TransactionNotFinal (sent, outcome
        unknown), KeystoreError (no key), or the provider's connection error (nothing sent).
        """
        address = to_checksum_address(sender)
        key = self.keys.key_of(address)
        to = to_checksum_address(function.address)
        data = HexStr("0x" + bytes(HexBytes(function._encode_transaction_data())).hex())
        call: TxParams = {"from": address, "to": to, "data": data}
        simulate(self.w3, call)
        tx_hash = self._sign_and_send(address, key, call)
        receipt = self._wait_final(tx_hash)
        if receipt["status"] != 1:
            # Why it failed is what the latest state says now (e.g. the points went first).
            simulate(self.w3, call)
            raise TransactionReverted(
                f"transaction {tx_hash} failed in block {receipt['blockNumber']} and the ledger "
                "now accepts the same call: retry it"
            )
        return Sent(receipt, decode_logs(self.deployment, receipt["logs"]))

    def prepare(self, sender: str, function: ContractFunction) -> TxParams:
        """Return the unsigned transaction `send` would sign for `sender` (simulated first).

        For a key the API does not hold (a terminal signing its own transaction): the nonce is
        the account's `pending` count now, gas and price what `send` uses. Raises LedgerRevert
        when the call would be refused on the latest state.
        """
        address = to_checksum_address(sender)
        call: TxParams = {
            "from": address,
            "to": to_checksum_address(function.address),
            "data": HexStr("0x" + bytes(HexBytes(function._encode_transaction_data())).hex()),
        }
        simulate(self.w3, call)
        if self._gas_price is None:
            self._gas_price = int(self.w3.eth.gas_price)
        prepared: TxParams = dict(call)  # type: ignore[assignment]
        prepared.update(
            {
                "gas": self.gas_limit,
                "gasPrice": Wei(self._gas_price),
                "nonce": self.w3.eth.get_transaction_count(address, "pending"),
                "chainId": self.deployment.chain_id,
                "value": Wei(0),
            }
        )
        return prepared

    def relay(self, raw_transaction: bytes, call: TxParams) -> Sent:
        """Send a transaction someone else signed; return it once final and successful.

        `call` ({from, to, data}) is what the raw transaction does; it is simulated before the
        send (a refusal raises LedgerRevert, nothing sent) and again after a failed receipt to
        say why, exactly as `send` does. Raises TransactionNotFinal when the outcome is unknown.
        """
        simulate(self.w3, call)
        tx_hash = "0x" + bytes(self.w3.eth.send_raw_transaction(raw_transaction)).hex()
        receipt = self._wait_final(tx_hash)
        if receipt["status"] != 1:
            simulate(self.w3, call)
            raise TransactionReverted(
                f"transaction {tx_hash} failed in block {receipt['blockNumber']} and the ledger "
                "now accepts the same call: sign a new one"
            )
        return Sent(receipt, decode_logs(self.deployment, receipt["logs"]))

    def _sign_and_send(self, address: ChecksumAddress, key: bytes, call: TxParams) -> str:
        account = self._account(address)
        with account.lock:
            if account.next_nonce is None:
                account.next_nonce = self.w3.eth.get_transaction_count(address, "pending")
            if self._gas_price is None:
                self._gas_price = int(self.w3.eth.gas_price)
            params: TxParams = dict(call)  # type: ignore[assignment]
            params.update(
                {
                    "gas": self.gas_limit,
                    "gasPrice": Wei(self._gas_price),
                    "nonce": Nonce(account.next_nonce),
                    "chainId": self.deployment.chain_id,
                    "value": Wei(0),
                }
            )
            signed = Account.sign_transaction(params, key)
            try:
                tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
            except Exception:
                account.next_nonce = None  # re-read from the node: our count may be stale
                raise
            account.next_nonce += 1
        return "0x" + bytes(tx_hash).hex()

    def _wait_final(self, tx_hash: str) -> TxReceipt:
        deadline = time.monotonic() + self.receipt_timeout
        while True:
            try:
                receipt = self.w3.eth.get_transaction_receipt(HexStr(tx_hash))
            except Exception:  # web3 raises TransactionNotFound until it is mined
                receipt = None
            if receipt is not None:
                finalized = int(self.w3.eth.get_block("finalized")["number"])
                if int(receipt["blockNumber"]) <= finalized:
                    return receipt
            if time.monotonic() > deadline:
                raise TransactionNotFinal(tx_hash, f"no final receipt in {self.receipt_timeout} s")
            poll = self.receipt_poll_seconds
            time.sleep(RECEIPT_POLL_SECONDS if poll is None else poll)
