"""The explorer's view of the ledger, read over standard JSON-RPC with web3.py.

Everything here is public on the consortium's ledger: blocks, who sealed them (the header's
`coinbase`/`miner` is the proposer, as in Besu), transactions and their logs, and the QBFT
validator set (`qbft_getValidatorsByBlockNumber`). Point events are decoded with the contracts
package's ABIs; each municipality's totals are the ledger's own `PointLedger.totalsOf` view
(an `eth_call`). Only JSON-RPC is used, so the explorer runs unchanged against Besu or GoQuorum.
Invariant: a failure to reach the node is `ChainUnavailable`, never a half-filled page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eth_utils.address import to_checksum_address
from web3 import Web3

from api.pages.outstanding import LedgerTotals
from contracts.client import LedgerClient
from contracts.deploy import Deployment
from contracts.events import LedgerEvent, decode_logs, municipality_topic


class ChainUnavailable(Exception):
    """The ledger node cannot be reached or answered with an error."""


@dataclass(frozen=True)
class BlockSummary:
    """One block as the explorer lists it."""

    number: int
    hash: str
    timestamp: int
    sealer: str
    transaction_count: int


@dataclass(frozen=True)
class TransactionSummary:
    """One transaction as the explorer lists it."""

    hash: str
    block_number: int
    sender: str
    to: str | None


@dataclass(frozen=True)
class BlockDetail:
    """A block with its transactions."""

    summary: BlockSummary
    parent_hash: str
    gas_used: int
    transactions: list[TransactionSummary]


@dataclass(frozen=True)
class TransactionDetail:
    """A transaction with its receipt and decoded ledger events."""

    summary: TransactionSummary
    succeeded: bool | None
    """None while the transaction is not in a block yet."""
    gas_used: int | None
    contract: str | None
    """The ledger contract it called ("PointLedger", ...), or None."""
    events: list[LedgerEvent] = field(default_factory=list)
    undecoded_logs: int = 0


def _hex(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    text = str(value)
    return text if text.startswith("0x") else "0x" + text


class ChainReader:
    """Reads blocks, transactions, validators and point events from one node."""

    def __init__(
        self, rpc_url: str, *, deployment: Deployment | None, timeout_seconds: float = 5.0
    ) -> None:
        self.rpc_url = rpc_url
        self.deployment = deployment
        self._w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_seconds}))
        self._client: LedgerClient | None = None

    def _call(self, method: str, *params: Any) -> Any:
        try:
            response = self._w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
        except Exception as error:
            raise ChainUnavailable(f"{method} failed at {self.rpc_url}: {error}") from error
        if "error" in response:
            raise ChainUnavailable(f"{method} answered an error: {response['error']}")
        return response.get("result")

    def head_number(self) -> int:
        """Return the number of the latest block."""
        return int(self._call("eth_blockNumber"), 16)

    def _block(self, number: int, full: bool) -> Mapping[str, Any] | None:
        result: Mapping[str, Any] | None = self._call("eth_getBlockByNumber", hex(number), full)
        return result

    @staticmethod
    def _summary(raw: Mapping[str, Any]) -> BlockSummary:
        return BlockSummary(
            number=int(raw["number"], 16),
            hash=raw["hash"],
            timestamp=int(raw["timestamp"], 16),
            sealer=to_checksum_address(raw["miner"]),
            transaction_count=len(raw["transactions"]),
        )

    def latest_blocks(self, count: int = 10) -> list[BlockSummary]:
        """Return up to `count` newest blocks, newest first."""
        head = self.head_number()
        blocks = []
        for number in range(head, max(head - count, -1), -1):
            raw = self._block(number, False)
            if raw is not None:
                blocks.append(self._summary(raw))
        return blocks

    def latest_transactions(
        self, count: int = 10, scan_blocks: int = 50
    ) -> list[TransactionSummary]:
        """Return up to `count` newest transactions found in the last `scan_blocks` blocks."""
        head = self.head_number()
        found: list[TransactionSummary] = []
        for number in range(head, max(head - scan_blocks, -1), -1):
            raw = self._block(number, True)
            if raw is None:
                continue
            for item in reversed(raw["transactions"]):
                found.append(self._transaction_summary(item))
                if len(found) >= count:
                    return found
        return found

    @staticmethod
    def _transaction_summary(raw: Mapping[str, Any]) -> TransactionSummary:
        to = raw.get("to")
        return TransactionSummary(
            hash=raw["hash"],
            block_number=int(raw["blockNumber"], 16) if raw.get("blockNumber") else -1,
            sender=to_checksum_address(raw["from"]),
            to=to_checksum_address(to) if to else None,
        )

    def block(self, number: int) -> BlockDetail | None:
        """Return block `number` with its transactions, or None if there is none yet."""
        raw = self._block(number, True)
        if raw is None:
            return None
        return BlockDetail(
            summary=self._summary(raw),
            parent_hash=raw["parentHash"],
            gas_used=int(raw["gasUsed"], 16),
            transactions=[self._transaction_summary(item) for item in raw["transactions"]],
        )

    def transaction(self, transaction_hash: str) -> TransactionDetail | None:
        """Return the transaction with its receipt and decoded events, or None if unknown."""
        raw = self._call("eth_getTransactionByHash", transaction_hash)
        if raw is None:
            return None
        summary = self._transaction_summary(raw)
        receipt = self._call("eth_getTransactionReceipt", transaction_hash)
        contract = self._contract_name(summary.to)
        if receipt is None:
            return TransactionDetail(summary, None, None, contract)
        logs = [_normalised_log(item) for item in receipt["logs"]]
        events = decode_logs(self.deployment, logs) if self.deployment else []
        return TransactionDetail(
            summary=summary,
            succeeded=int(receipt["status"], 16) == 1,
            gas_used=int(receipt["gasUsed"], 16),
            contract=contract,
            events=events,
            undecoded_logs=len(logs) - len(events),
        )

    def validators(self, number: int | None = None) -> list[str]:
        """Return the QBFT validators at block `number` (the head when None)."""
        tag = "latest" if number is None else hex(number)
        result = self._call("qbft_getValidatorsByBlockNumber", tag)
        return [to_checksum_address(item) for item in result or []]

    def municipality_events(self, code: int, *, blocks: int = 5000) -> list[LedgerEvent]:
        """Return municipality `code`'s point events in the last `blocks` blocks, newest first."""
        if self.deployment is None:
            return []
        head = self.head_number()
        raw = self._call(
            "eth_getLogs",
            {
                "fromBlock": hex(max(head - blocks, 0)),
                "toBlock": hex(head),
                "address": self.deployment.ledger,
                "topics": [None, None, "0x" + municipality_topic(code).hex()],
            },
        )
        events = decode_logs(self.deployment, [_normalised_log(item) for item in raw or []])
        return list(reversed(events))

    def _ledger_client(self) -> LedgerClient | None:
        if self.deployment is None:
            return None
        if self._client is None:
            self._client = LedgerClient(self._w3, self.deployment)
        return self._client

    def municipality_codes(self) -> list[int]:
        """Return every municipality the Consortium contract admitted, in admission order."""
        client = self._ledger_client()
        if client is None:
            return []
        try:
            codes = client.consortium.functions.municipalityCodes().call()
        except Exception as error:
            raise ChainUnavailable(
                f"municipalityCodes() failed at {self.rpc_url}: {error}"
            ) from error
        return [int(code) for code in codes]

    def totals_of(self, code: int) -> LedgerTotals | None:
        """Return `PointLedger.totalsOf(code)` (None when no deployment is configured)."""
        client = self._ledger_client()
        if client is None:
            return None
        try:
            raw = client.totals_of(code)
        except Exception as error:
            raise ChainUnavailable(f"totalsOf({code}) failed at {self.rpc_url}: {error}") from error
        return LedgerTotals(
            granted=raw["granted"],
            converted=raw["converted"],
            redeemed=raw["redeemed"],
            refunded=raw["refunded"],
            vouchered=raw["vouchered"],
            expired=raw["expired"],
            vouchers_redeemed=raw["vouchersRedeemed"],
        )

    def _contract_name(self, address: str | None) -> str | None:
        if address is None or self.deployment is None:
            return None
        for name in ("Consortium", "MykeyRegistry", "PointLedger", "Settlement"):
            if self.deployment.address_of(name).lower() == address.lower():
                return name
        return None


def _normalised_log(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Turn a JSON-RPC log (hex strings) into the shape `contracts.events.decode_log` reads."""
    return {
        "address": raw["address"],
        "topics": [bytes.fromhex(topic[2:]) for topic in raw["topics"]],
        "data": bytes.fromhex(raw["data"][2:]),
        "blockNumber": int(raw["blockNumber"], 16),
        "transactionHash": bytes.fromhex(raw["transactionHash"][2:]),
        "logIndex": int(raw["logIndex"], 16),
    }
