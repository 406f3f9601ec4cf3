"""Genesis in the Besu format, the node key, and `init_datadir`.

A genesis file is JSON: `config.chainId`, `config.qbft` {blockperiodseconds, requesttimeoutseconds,
epochlength, and Besu's experimental xblockperiodmilliseconds, which makes the block period
milliseconds and, below 1000 ms, lets a block share its parent's timestamp}, `alloc` {address:
{balance, code, storage, nonce}}, `extraData` (QBFT extraData naming the validators),
`gasLimit`, `timestamp`, `baseFeePerGas` (default 0, and it must stay 0: this is a zero-gas-price
network), `difficulty`, optional `mixHash`, `coinbase`, `nonce`. Numbers may be
JSON integers, "0x" hex strings or decimal strings, as Besu accepts them. Fork keys that Besu
reads (londonBlock, pragueTime, zeroBaseFee …) are tolerated and ignored: this node always runs
Prague. Every error is a `GenesisError` naming the field, e.g. `alloc.0xab….balance`.

The node key lives at `<datadir>/keys/node.key` as a hex private key, mode 0600; the validator
address is derived from it.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import coincurve

from node.chain import Chain
from node.config import default_config_text
from node.extradata import ExtraDataError, decode_extra_data
from node.seals import address_of
from node.storage.leveldb import LevelDBStore

NODE_KEY_PATH = Path("keys") / "node.key"
GENESIS_FILE = "genesis.json"
CONFIG_FILE = "config.toml"
CHAIN_DIR = "chain"
MAX_UINT256 = 2**256 - 1


MIN_BLOCK_PERIOD_MS = 10
"""Shortest xblockperiodmilliseconds accepted: below it the timer would only spin."""


class GenesisError(ValueError):
    """The genesis file is wrong; the message names the field."""


class NodeKeyError(ValueError):
    """The node key file is missing, unreadable or not a valid secp256k1 private key."""


@dataclass(frozen=True)
class QbftOptions:
    """config.qbft: timing and epoch settings (Besu JsonBftConfigOptions names)."""

    block_period_seconds: int = 1
    request_timeout_seconds: int = 1
    epoch_length: int = 30000
    block_period_milliseconds: int | None = None
    """Besu's experimental `xblockperiodmilliseconds`: when set, the block period in ms."""

    @property
    def block_period(self) -> float:
        """The block period in seconds (fractional with xblockperiodmilliseconds)."""
        if self.block_period_milliseconds is not None:
            return self.block_period_milliseconds / 1000
        return float(self.block_period_seconds)

    @property
    def minimum_timestamp_gap(self) -> int:
        """Seconds a block's timestamp must exceed its parent's by.

        Besu adds TimestampMoreRecentThanParent(period) only for periods of at least 1 s; a
        sub-second period lets a block share its parent's timestamp (never an earlier one).
        """
        if self.block_period_milliseconds is not None:
            return self.block_period_milliseconds // 1000
        return self.block_period_seconds


@dataclass(frozen=True)
class GenesisAccount:
    """One alloc entry."""

    balance: int = 0
    nonce: int = 0
    code: bytes = b""
    storage: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Genesis:
    """A validated genesis. `validators` is sorted ascending (Besu sorts the genesis set)."""

    chain_id: int
    qbft: QbftOptions
    alloc: Mapping[bytes, GenesisAccount]
    extra_data: bytes
    validators: tuple[bytes, ...]
    gas_limit: int
    timestamp: int
    base_fee_per_gas: int
    difficulty: int
    mix_hash: bytes
    coinbase: bytes
    nonce: bytes


def _quantity(value: Any, where: str, maximum: int = MAX_UINT256) -> int:
    """Return a non-negative integer from an int, a 0x-hex string or a decimal string."""
    if isinstance(value, bool):
        raise GenesisError(f"{where} must be a number, got {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = int(text, 16) if text.lower().startswith("0x") else int(text, 10)
        except ValueError:
            raise GenesisError(
                f"{where} must be a 0x-hex or decimal number, got {value!r}"
            ) from None
    else:
        raise GenesisError(f"{where} must be a number, got {value!r}")
    if number < 0 or number > maximum:
        raise GenesisError(f"{where} must be between 0 and {maximum}, got {number}")
    return number


def _hex_bytes(value: Any, where: str, length: int | None = None) -> bytes:
    if not isinstance(value, str):
        raise GenesisError(f"{where} must be a hex string, got {value!r}")
    text = value[2:] if value.lower().startswith("0x") else value
    try:
        data = bytes.fromhex(text)
    except ValueError:
        raise GenesisError(f"{where} is not valid hex: {value!r}") from None
    if length is not None and len(data) != length:
        raise GenesisError(f"{where} must be {length} bytes, got {len(data)}")
    return data


def _account(raw: Any, where: str) -> GenesisAccount:
    if not isinstance(raw, dict):
        raise GenesisError(f"{where} must be an object")
    known = {"balance", "nonce", "code", "storage", "comment", "privateKey"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise GenesisError(f"{where} has unknown field(s) {', '.join(unknown)}")
    storage_raw = raw.get("storage", {})
    if not isinstance(storage_raw, dict):
        raise GenesisError(f"{where}.storage must be an object of slot: value")
    storage = {
        _quantity(slot, f"{where}.storage key {slot}"): _quantity(value, f"{where}.storage.{slot}")
        for slot, value in storage_raw.items()
    }
    return GenesisAccount(
        balance=_quantity(raw.get("balance", 0), f"{where}.balance"),
        nonce=_quantity(raw.get("nonce", 0), f"{where}.nonce", 2**64 - 1),
        code=_hex_bytes(raw.get("code", "0x"), f"{where}.code"),
        storage=storage,
    )


def _qbft(raw: Any) -> QbftOptions:
    if not isinstance(raw, dict):
        raise GenesisError("config.qbft must be an object (this node runs QBFT only)")
    period = _quantity(raw.get("blockperiodseconds", 1), "config.qbft.blockperiodseconds")
    timeout = _quantity(raw.get("requesttimeoutseconds", 1), "config.qbft.requesttimeoutseconds")
    epoch = _quantity(raw.get("epochlength", 30000), "config.qbft.epochlength")
    if period < 1:
        raise GenesisError("config.qbft.blockperiodseconds must be at least 1")
    if timeout < 1:
        raise GenesisError("config.qbft.requesttimeoutseconds must be at least 1")
    if epoch < 1:
        raise GenesisError("config.qbft.epochlength must be at least 1")
    milliseconds: int | None = None
    if "xblockperiodmilliseconds" in raw:
        milliseconds = _quantity(
            raw["xblockperiodmilliseconds"], "config.qbft.xblockperiodmilliseconds", 3_600_000
        )
        if milliseconds < MIN_BLOCK_PERIOD_MS:
            raise GenesisError(
                f"config.qbft.xblockperiodmilliseconds must be at least {MIN_BLOCK_PERIOD_MS} "
                f"(ms), got {milliseconds}"
            )
    return QbftOptions(period, timeout, epoch, milliseconds)


def _extra_data(document: dict[str, Any]) -> tuple[bytes, tuple[bytes, ...]]:
    """Return (extraData bytes, validators sorted ascending) or raise GenesisError."""
    if "extraData" not in document:
        raise GenesisError("extraData is missing (it lists the validators)")
    extra_data = _hex_bytes(document["extraData"], "extraData")
    try:
        extra = decode_extra_data(extra_data)
    except ExtraDataError as error:
        raise GenesisError(f"extraData: {error}") from error
    if not extra.validators:
        raise GenesisError(
            "extraData lists no validators; validator-contract mode is not supported yet"
        )
    if len(set(extra.validators)) != len(extra.validators):
        raise GenesisError("extraData lists a validator twice")
    return extra_data, tuple(sorted(extra.validators))


def parse_genesis(document: Any) -> Genesis:
    """Return the Genesis in a parsed JSON document; raise GenesisError naming the bad field."""
    if not isinstance(document, dict):
        raise GenesisError("genesis must be a JSON object")
    config = document.get("config")
    if not isinstance(config, dict):
        raise GenesisError("config is missing or not an object")
    if "chainId" not in config:
        raise GenesisError("config.chainId is missing")
    chain_id = _quantity(config["chainId"], "config.chainId", 2**64 - 1)
    if chain_id == 0:
        raise GenesisError("config.chainId must not be 0 (EIP-155 replay protection)")
    if "qbft" not in config:
        raise GenesisError("config.qbft is missing (this node runs QBFT only)")
    qbft = _qbft(config["qbft"])
    alloc_raw = document.get("alloc", {})
    if not isinstance(alloc_raw, dict):
        raise GenesisError("alloc must be an object of address: account")
    alloc = {}
    for key, raw in alloc_raw.items():
        where = f"alloc.{key}"
        address = _hex_bytes(key, f"{where} (address)", 20)
        if address in alloc:
            raise GenesisError(f"{where} appears twice (addresses are case-insensitive)")
        alloc[address] = _account(raw, where)
    extra_data, validators = _extra_data(document)
    if "gasLimit" not in document:
        raise GenesisError("gasLimit is missing")
    gas_limit = _quantity(document["gasLimit"], "gasLimit", 2**63 - 1)
    if gas_limit < 21000:
        raise GenesisError(f"gasLimit must be at least 21000, got {gas_limit}")
    base_fee = _quantity(document.get("baseFeePerGas", 0), "baseFeePerGas")
    if base_fee != 0:
        raise GenesisError(
            "baseFeePerGas must be 0: this network keeps the base fee at 0 (zero gas price)"
        )
    return Genesis(
        chain_id=chain_id,
        qbft=qbft,
        alloc=alloc,
        extra_data=extra_data,
        validators=validators,
        gas_limit=gas_limit,
        timestamp=_quantity(document.get("timestamp", 0), "timestamp", 2**63 - 1),
        base_fee_per_gas=0,
        difficulty=_quantity(document.get("difficulty", 1), "difficulty"),
        mix_hash=_hex_bytes(document.get("mixHash", "0x" + "00" * 32), "mixHash", 32),
        coinbase=_hex_bytes(document.get("coinbase", "0x" + "00" * 20), "coinbase", 20),
        nonce=_quantity(document.get("nonce", 0), "nonce", 2**64 - 1).to_bytes(8, "big"),
    )


def load_genesis(path: Path) -> Genesis:
    """Read and validate the genesis file at `path`; raise GenesisError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise GenesisError(f"cannot read genesis file {path}: {error}") from error
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise GenesisError(f"{path} is not valid JSON: {error}") from error
    return parse_genesis(document)


def node_key_path(datadir: Path) -> Path:
    """Return where the node key lives in `datadir`."""
    return datadir / NODE_KEY_PATH


def create_node_key(datadir: Path, private_key: bytes | None = None) -> coincurve.PrivateKey:
    """Write a new node key (random unless given) at keys/node.key, mode 0600; return it.

    Raises NodeKeyError when a key already exists (never overwrite a validator's identity).
    """
    path = node_key_path(datadir)
    if path.exists():
        raise NodeKeyError(f"{path} already exists; refusing to overwrite a node key")
    key = coincurve.PrivateKey(private_key if private_key is not None else secrets.token_bytes(32))
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(key.secret.hex() + "\n")
    return key


def load_node_key(datadir: Path) -> coincurve.PrivateKey:
    """Return the node key in `datadir`; raise NodeKeyError when missing or malformed."""
    path = node_key_path(datadir)
    try:
        text = path.read_text(encoding="ascii").strip()
    except OSError as error:
        raise NodeKeyError(
            f"cannot read the node key at {path}: {error}; run `mykey node init` first"
        ) from error
    text = text[2:] if text.lower().startswith("0x") else text
    try:
        secret = bytes.fromhex(text)
        if len(secret) != 32:
            raise ValueError("not 32 bytes")
        return coincurve.PrivateKey(secret)
    except ValueError as error:
        raise NodeKeyError(f"{path} is not a 32-byte hex private key: {error}") from error


def node_address(key: coincurve.PrivateKey) -> bytes:
    """Return the validator address of a node key."""
    return address_of(key.public_key)


def init_datadir(datadir: Path, genesis_path: Path) -> None:
    """Create a data directory: genesis.json, config.toml (defaults), keys/node.key, chain.

    Validates the genesis first; creates the node key when absent; writes block 0 into
    `<datadir>/chain`. Raises GenesisError, or FileExistsError when the chain already exists.
    """
    genesis = load_genesis(genesis_path)
    datadir.mkdir(parents=True, exist_ok=True)
    chain_path = datadir / CHAIN_DIR
    if chain_path.exists():
        raise FileExistsError(f"{chain_path} already exists; this datadir is initialised")
    (datadir / GENESIS_FILE).write_text(genesis_path.read_text(encoding="utf-8"), "utf-8")
    config_path = datadir / CONFIG_FILE
    if not config_path.exists():
        config_path.write_text(default_config_text(), encoding="utf-8")
    if not node_key_path(datadir).exists():
        create_node_key(datadir)
    store = LevelDBStore(chain_path)
    try:
        Chain.initialize(store, genesis)
    finally:
        store.close()
