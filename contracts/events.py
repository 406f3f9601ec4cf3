"""Decoding the ledger's event logs into `LedgerEvent`s, and topics for filtering by MyKey ID.

Every points event is indexed by MyKey ID (topic 1) and municipality (topic 2), so an indexer or
My Page asks eth_getLogs for one resident or one municipality directly; `mykey_topic` and
`municipality_topic` build those topics. bytes8 MyKey IDs decode to text, other values stay ABI
values (ints, checksummed addresses, bytes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_abi.abi import decode
from eth_utils.abi import event_abi_to_log_topic
from eth_utils.address import to_checksum_address

from contracts.artifacts import load_artifact
from contracts.deploy import PROXIED, Deployment
from contracts.domain import mykey_id_bytes


@dataclass(frozen=True)
class LedgerEvent:
    """One decoded log of a ledger contract."""

    contract: str
    name: str
    args: dict[str, Any]
    block_number: int
    transaction_hash: bytes
    log_index: int


@cache
def _events_of(contract: str) -> dict[bytes, dict[str, Any]]:
    return {
        bytes(event_abi_to_log_topic(item)): item  # type: ignore[arg-type]
        for item in load_artifact(contract).abi
        if item.get("type") == "event"
    }


def event_topic(contract: str, name: str) -> bytes:
    """Return topic 0 of event `name` of `contract`; raises KeyError for an unknown event."""
    for topic, item in _events_of(contract).items():
        if item["name"] == name:
            return topic
    raise KeyError(f"{contract} has no event {name}")


def mykey_topic(mykey_id: str) -> bytes:
    """Return the 32-byte topic of an indexed bytes8 MyKey ID."""
    return mykey_id_bytes(mykey_id).ljust(32, b"\x00")


def municipality_topic(code: int) -> bytes:
    """Return the 32-byte topic of an indexed uint32 municipality code."""
    return code.to_bytes(32, "big")


def _value(abi_type: str, value: Any) -> Any:
    if abi_type == "bytes8" and isinstance(value, bytes):
        return value.decode("ascii", errors="replace")
    if abi_type == "address":
        return to_checksum_address(value)
    return value


def decode_log(contract: str, log: Mapping[str, Any]) -> LedgerEvent | None:
    """Decode one log of `contract`; None when its topic is not one of that contract's events."""
    topics = [bytes(t) for t in log["topics"]]
    if not topics:
        return None
    item = _events_of(contract).get(topics[0])
    if item is None:
        return None
    indexed = [i for i in item["inputs"] if i["indexed"]]
    plain = [i for i in item["inputs"] if not i["indexed"]]
    args: dict[str, Any] = {}
    for spec, topic in zip(indexed, topics[1:], strict=True):
        (args[spec["name"]],) = decode([spec["type"]], topic)
        args[spec["name"]] = _value(spec["type"], args[spec["name"]])
    values = decode([i["type"] for i in plain], bytes(log["data"]))
    for spec, value in zip(plain, values, strict=True):
        args[spec["name"]] = _value(spec["type"], value)
    return LedgerEvent(
        contract=contract,
        name=item["name"],
        args=args,
        block_number=int(log["blockNumber"]),
        transaction_hash=bytes(log["transactionHash"]),
        log_index=int(log["logIndex"]),
    )


def decode_logs(deployment: Deployment, logs: Iterable[Mapping[str, Any]]) -> list[LedgerEvent]:
    """Decode the logs emitted by the deployment's contracts, in order; others are skipped."""
    by_address = {deployment.address_of(name).lower(): name for name in PROXIED}
    events = []
    for log in logs:
        contract = by_address.get(str(log["address"]).lower())
        if contract is None:
            continue
        event = decode_log(contract, log)
        if event is not None:
            events.append(event)
    return events
