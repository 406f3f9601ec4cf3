"""Sending the API's transactions: simulate, take a nonce, sign, send, and wait until final.

Nonces come from a `NonceSource` (api.chain.nonces): in this process's memory by default, or
from the private store when several API processes share the keys (`use_nonces(StoreNonces(..))`),
so concurrent requests from the same key, in any process, get distinct nonces. A send that fails
before reaching the node gives its nonce back (re-used by the next send if a later one was
already handed out); a nonce the node refuses as used ("nonce too low", or one already pooled)
re-syncs with the node's `pending` count and is retried once with a fresh nonce. Nothing is locked
while waiting for the receipt, so requests overlap in one block.

Finality: QBFT blocks are final when sealed, so a receipt is final once its block is at or below
the node's `finalized` head; the action is reported only then. A transaction that was mined but
failed (status 0) is re-simulated on the latest state to say why (e.g. a concurrent redemption
took the points first), and raised as that `LedgerRevert`.
"""

from __future__ import annotations

import time

from eth_account import Account
from eth_typing import ChecksumAddress, HexStr
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.types import Nonce, TxParams, TxReceipt, Wei

from api.chain.keys import KeyRing
from api.chain.nonces import LocalNonces, NonceSource
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


class NonceConflict(Exception):
    """The node refused the nonce as used twice in a row, even after re-syncing: nothing was
    sent; another signer is using this key faster than we can re-sync, so stop it or retry."""


_NONCE_USED = ("nonce too low", "nonce-too-low", "replacement transaction underpriced")
"""Fragments of the node's refusals meaning "that nonce is taken" (geth's wording and ours)."""


def _nonce_used(error: Exception) -> bool:
    text = str(error).lower()
    return any(fragment in text for fragment in _NONCE_USED)


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
        nonces: NonceSource | None = None,
    ) -> None:
        """`receipt_poll_seconds` wins; else a quarter of `block_period_seconds` when known;
        else RECEIPT_POLL_SECONDS (read at each wait). `nonces`: LocalNonces unless given."""
        if receipt_poll_seconds is None and block_period_seconds is not None:
            receipt_poll_seconds = block_period_seconds / 4
        self.receipt_poll_seconds = receipt_poll_seconds
        self.w3 = w3
        self.deployment = deployment
        self.keys = keys
        self.gas_limit = gas_limit
        self.receipt_timeout = receipt_timeout
        self.nonces: NonceSource = nonces if nonces is not None else LocalNonces()
        self._gas_price: int | None = None

    def use_nonces(self, nonces: NonceSource) -> None:
        """Take nonces from `nonces` from now on (call before the first send)."""
        self.nonces = nonces

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
        if self._gas_price is None:
            self._gas_price = int(self.w3.eth.gas_price)

        def pending() -> int:
            return int(self.w3.eth.get_transaction_count(address, "pending"))

        for attempt in (1, 2):
            nonce = self.nonces.take(address, pending)
            params: TxParams = dict(call)  # type: ignore[assignment]
            params.update(
                {
                    "gas": self.gas_limit,
                    "gasPrice": Wei(self._gas_price),
                    "nonce": Nonce(nonce),
                    "chainId": self.deployment.chain_id,
                    "value": Wei(0),
                }
            )
            signed = Account.sign_transaction(params, key)
            try:
                tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
            except Exception as error:
                if not _nonce_used(error):
                    # Not pooled (node unreachable or the transaction refused): the nonce is free.
                    self.nonces.give_back(address, nonce)
                    raise
                self.nonces.resync(address)  # someone else used it: never give it back
                if attempt == 2:
                    raise NonceConflict(
                        f"the node refused nonce {nonce} of {address} as used twice after "
                        f"re-syncing ({error}): is another signer using this key?"
                    ) from error
                continue
            return "0x" + bytes(tx_hash).hex()
        raise AssertionError("unreachable: the loop returns or raises")

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
