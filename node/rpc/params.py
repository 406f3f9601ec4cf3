"""Parsing of the structured JSON-RPC parameters: block tags, call objects, overrides, log filters.

Each parser names the parameter position and field it rejects (-32602), so a client developer can
fix the request from the message alone. Block tags follow the execution-apis spec and EIP-1898:
"latest", "safe" and "finalized" are the head (QBFT blocks are final when sealed), "pending" is
the head too for state reads, "earliest" is block 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from node.ports import AccountOverride, Address, CallRequest, Hash32, StateOverrides
from node.rpc.codec import parse_address, parse_data, parse_hash, parse_quantity
from node.rpc.errors import invalid_params

HEAD_TAGS = frozenset({"latest", "safe", "finalized", "pending"})


@dataclass(frozen=True)
class BlockSelector:
    """A parsed block parameter: a tag, a number, or a hash (EIP-1898)."""

    tag: str | None = None
    number: int | None = None
    block_hash: Hash32 | None = None
    require_canonical: bool = False


def parse_block_selector(value: Any, index: int, name: str = "block") -> BlockSelector:
    """Parse a block tag, hex number, or EIP-1898 object."""
    if isinstance(value, str) and not value.startswith(("0x", "0X")):
        if value in HEAD_TAGS or value == "earliest":
            return BlockSelector(tag=value)
        raise invalid_params(
            index,
            name,
            f"unknown block tag {value[:20]!r} (latest, earliest, pending, safe, "
            "finalized, a hex number, or an EIP-1898 object)",
        )
    if isinstance(value, dict):
        if "blockHash" in value and "blockNumber" in value:
            raise invalid_params(index, name, "give blockHash or blockNumber, not both")
        if "blockHash" in value:
            canonical = value.get("requireCanonical", False)
            if not isinstance(canonical, bool):
                raise invalid_params(index, name, "requireCanonical must be a boolean")
            return BlockSelector(
                block_hash=parse_hash(value["blockHash"], index, f"{name}.blockHash"),
                require_canonical=canonical,
            )
        if "blockNumber" in value:
            return parse_block_selector(value["blockNumber"], index, f"{name}.blockNumber")
        raise invalid_params(index, name, "EIP-1898 object needs blockHash or blockNumber")
    return BlockSelector(number=parse_quantity(value, index, name))


CALL_FIELDS = frozenset(
    {
        "from", "to", "gas", "gasPrice", "maxFeePerGas", "maxPriorityFeePerGas", "value",
        "data", "input", "nonce", "accessList", "chainId", "type", "maxFeePerBlobGas",
        "blobVersionedHashes", "authorizationList",
    }
)  # fmt: skip


def parse_call_request(value: Any, index: int, name: str = "transaction") -> CallRequest:
    """Parse the transaction object of eth_call / eth_estimateGas (geth's TransactionArgs)."""
    if not isinstance(value, dict):
        raise invalid_params(index, name, f"expected an object, got {type(value).__name__}")

    def optional_quantity(key: str) -> int | None:
        return (
            None if value.get(key) is None else parse_quantity(value[key], index, f"{name}.{key}")
        )

    payload: bytes = b""
    if value.get("input") is not None and value.get("data") is not None:
        raw_input = parse_data(value["input"], index, f"{name}.input")
        raw_data = parse_data(value["data"], index, f"{name}.data")
        if raw_input != raw_data:
            raise invalid_params(index, name, "both data and input given and they differ")
        payload = raw_input
    elif value.get("input") is not None:
        payload = parse_data(value["input"], index, f"{name}.input")
    elif value.get("data") is not None:
        payload = parse_data(value["data"], index, f"{name}.data")
    sender = value.get("from")
    to = value.get("to")
    if value.get("gasPrice") is not None and (
        value.get("maxFeePerGas") is not None or value.get("maxPriorityFeePerGas") is not None
    ):
        raise invalid_params(
            index, name, "both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified"
        )
    return CallRequest(
        sender=None if sender is None else parse_address(sender, index, f"{name}.from"),
        to=None if to is None else parse_address(to, index, f"{name}.to"),
        gas=optional_quantity("gas"),
        gas_price=optional_quantity("gasPrice"),
        max_fee_per_gas=optional_quantity("maxFeePerGas"),
        max_priority_fee_per_gas=optional_quantity("maxPriorityFeePerGas"),
        value=optional_quantity("value") or 0,
        data=payload,
        nonce=optional_quantity("nonce"),
    )


def _parse_slots(value: Any, index: int, name: str) -> dict[int, int]:
    if not isinstance(value, dict):
        raise invalid_params(index, name, "expected an object of slot -> value")
    return {
        int.from_bytes(parse_hash(slot, index, f"{name} key")): int.from_bytes(
            parse_hash(word, index, f"{name}[{slot}]")
        )
        for slot, word in value.items()
    }


def parse_state_overrides(value: Any, index: int, name: str = "stateOverrides") -> StateOverrides:
    """Parse geth's state-override set: address -> {balance, nonce, code, state, stateDiff}."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_params(index, name, f"expected an object, got {type(value).__name__}")
    overrides: StateOverrides = {}
    for key, account in value.items():
        address = parse_address(key, index, f"{name} key")
        where = f"{name}[{key}]"
        if not isinstance(account, dict):
            raise invalid_params(index, where, "expected an object")
        unknown = set(account) - {"balance", "nonce", "code", "state", "stateDiff"}
        if unknown:
            raise invalid_params(index, where, f"unknown override fields {sorted(unknown)}")
        if account.get("state") is not None and account.get("stateDiff") is not None:
            raise invalid_params(index, where, "has both 'state' and 'stateDiff'")
        overrides[address] = AccountOverride(
            balance=None
            if account.get("balance") is None
            else parse_quantity(account["balance"], index, f"{where}.balance"),
            nonce=None
            if account.get("nonce") is None
            else parse_quantity(account["nonce"], index, f"{where}.nonce"),
            code=None
            if account.get("code") is None
            else parse_data(account["code"], index, f"{where}.code"),
            state=None
            if account.get("state") is None
            else _parse_slots(account["state"], index, f"{where}.state"),
            state_diff=None
            if account.get("stateDiff") is None
            else _parse_slots(account["stateDiff"], index, f"{where}.stateDiff"),
        )
    return overrides


@dataclass(frozen=True)
class FilterObject:
    """A parsed eth_getLogs / eth_newFilter / `logs` subscription object (blocks unresolved)."""

    from_block: BlockSelector
    to_block: BlockSelector
    block_hash: Hash32 | None
    addresses: tuple[Address, ...]
    topics: tuple[tuple[Hash32, ...] | None, ...]


MAX_TOPICS = 4


def parse_topics(raw_topics: Any, index: int, name: str) -> tuple[tuple[Hash32, ...] | None, ...]:
    """Parse positional topic alternatives; trailing wildcards are dropped (they match all)."""
    topics: list[tuple[Hash32, ...] | None] = []
    if raw_topics is not None:
        if not isinstance(raw_topics, list):
            raise invalid_params(index, f"{name}.topics", "expected an array")
        if len(raw_topics) > MAX_TOPICS:
            raise invalid_params(index, f"{name}.topics", "more than 4 topic positions")
        for position, item in enumerate(raw_topics):
            where = f"{name}.topics[{position}]"
            if item is None:
                topics.append(None)
            elif isinstance(item, list):
                alternatives = tuple(
                    parse_hash(choice, index, where) for choice in item if choice is not None
                )
                topics.append(alternatives if alternatives and None not in item else None)
            else:
                topics.append((parse_hash(item, index, where),))
    while topics and topics[-1] is None:
        topics.pop()
    return tuple(topics)


def parse_filter_object(value: Any, index: int, name: str = "filter") -> FilterObject:
    """Parse {fromBlock, toBlock, blockHash, address, topics}; blockHash excludes the range."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise invalid_params(index, name, f"expected an object, got {type(value).__name__}")
    block_hash = None
    if value.get("blockHash") is not None:
        if value.get("fromBlock") is not None or value.get("toBlock") is not None:
            raise invalid_params(index, name, "cannot specify both blockHash and fromBlock/toBlock")
        block_hash = parse_hash(value["blockHash"], index, f"{name}.blockHash")
    raw_addresses = value.get("address")
    addresses: tuple[Address, ...] = ()
    if isinstance(raw_addresses, list):
        addresses = tuple(
            parse_address(item, index, f"{name}.address[{i}]")
            for i, item in enumerate(raw_addresses)
        )
    elif raw_addresses is not None:
        addresses = (parse_address(raw_addresses, index, f"{name}.address"),)
    topics = parse_topics(value.get("topics"), index, name)
    return FilterObject(
        from_block=parse_block_selector(
            value.get("fromBlock", "latest"), index, f"{name}.fromBlock"
        )
        if value.get("fromBlock") is not None
        else BlockSelector(tag="latest"),
        to_block=parse_block_selector(value.get("toBlock", "latest"), index, f"{name}.toBlock")
        if value.get("toBlock") is not None
        else BlockSelector(tag="latest"),
        block_hash=block_hash,
        addresses=addresses,
        topics=topics,
    )
