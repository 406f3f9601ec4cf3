"""The node's settings: a typed `NodeConfig` read from `<datadir>/config.toml`.

Every section and field has a default, so an empty file (or a missing section) is a valid config.
Unknown sections or keys, wrong types and out-of-range values raise `ConfigError` naming the exact
key (`[rpc] http_port`), because a typo in a config file should never be silently ignored.
`chain.block_period_seconds` defaults to the genesis `config.qbft.blockperiodseconds`; the caller
passes that value in, so this module reads no other file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli_w

MIB = 1024 * 1024
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """config.toml is unreadable or a value in it is wrong; the message names the key."""


@dataclass(frozen=True)
class RpcConfig:
    """[rpc]: where JSON-RPC listens and how much one request may ask for."""

    host: str = "127.0.0.1"
    http_port: int = 8545
    ws_port: int = 8546
    max_request_bytes: int = 5 * MIB
    max_batch: int = 1000
    max_logs_block_range: int = 10000


@dataclass(frozen=True)
class ChainConfig:
    """[chain]: block production. block_period_seconds None means "as genesis says"."""

    block_period_seconds: float | None = None
    empty_blocks: bool = False


@dataclass(frozen=True)
class TxPoolConfig:
    """[txpool]: pool limits. max_future_gap bounds how far ahead of the account nonce we queue."""

    max_per_sender: int = 1000
    max_total: int = 20000
    max_future_gap: int = 64


@dataclass(frozen=True)
class LogConfig:
    """[log]: the log level name."""

    level: str = "INFO"


@dataclass(frozen=True)
class NodeConfig:
    """The whole config.toml. `chain.block_period_seconds` is always resolved (never None)."""

    rpc: RpcConfig = field(default_factory=RpcConfig)
    chain: ChainConfig = field(default_factory=ChainConfig)
    txpool: TxPoolConfig = field(default_factory=TxPoolConfig)
    log: LogConfig = field(default_factory=LogConfig)


_SECTIONS: dict[str, type[Any]] = {
    "rpc": RpcConfig,
    "chain": ChainConfig,
    "txpool": TxPoolConfig,
    "log": LogConfig,
}


def _check_value(section: str, name: str, expected: str, value: Any) -> Any:
    """Return `value` converted to the field's type, or raise ConfigError naming the key."""
    where = f"[{section}] {name}"
    # bool is an int subclass in Python; a port of `true` is a mistake, not 1.
    if expected == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        if value < 0:
            raise ConfigError(f"{where} must not be negative, got {value}")
        return value
    if expected == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if expected == "str":
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    if expected == "float | None":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} must be a number of seconds, got {value!r}")
        if value <= 0:
            raise ConfigError(f"{where} must be positive, got {value}")
        return float(value)
    raise ConfigError(f"{where}: unsupported field type {expected}")  # pragma: no cover


def _build_section(section: str, raw: Any) -> Any:
    cls = _SECTIONS[section]
    if not isinstance(raw, dict):
        raise ConfigError(f"[{section}] must be a table, got {raw!r}")
    known = {item.name: str(item.type) for item in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(
            f"[{section}] has unknown key(s) {', '.join(unknown)}; known: {', '.join(known)}"
        )
    values = {name: _check_value(section, name, known[name], raw[name]) for name in raw}
    return cls(**values)


def parse_config(text: str, genesis_block_period_seconds: float) -> NodeConfig:
    """Return the NodeConfig in `text` (TOML); raise ConfigError for any bad key or value."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config.toml is not valid TOML: {error}") from error
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        raise ConfigError(
            f"config.toml has unknown section(s) {', '.join(unknown)}; "
            f"known: {', '.join(_SECTIONS)}"
        )
    parts = {name: _build_section(name, data.get(name, {})) for name in _SECTIONS}
    config = NodeConfig(**parts)
    if config.log.level.upper() not in LOG_LEVELS:
        raise ConfigError(f"[log] level must be one of {', '.join(LOG_LEVELS)}")
    for name in ("http_port", "ws_port"):
        port = getattr(config.rpc, name)
        if port > 65535:
            raise ConfigError(f"[rpc] {name} must be at most 65535, got {port}")
    if config.txpool.max_per_sender == 0 or config.txpool.max_total == 0:
        raise ConfigError("[txpool] max_per_sender and max_total must be at least 1")
    if config.chain.block_period_seconds is None:
        chain = ChainConfig(genesis_block_period_seconds, config.chain.empty_blocks)
        config = NodeConfig(config.rpc, chain, config.txpool, config.log)
    return config


def load_config(path: Path, genesis_block_period_seconds: float) -> NodeConfig:
    """Read config.toml at `path`; a missing file means all defaults. Raises ConfigError."""
    if not path.exists():
        return parse_config("", genesis_block_period_seconds)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error}") from error
    return parse_config(text, genesis_block_period_seconds)


def default_config_text() -> str:
    """Return config.toml with every default spelled out (block period left to genesis)."""
    document: dict[str, Any] = {}
    defaults = NodeConfig()
    for name in _SECTIONS:
        section = getattr(defaults, name)
        document[name] = {
            item.name: getattr(section, item.name)
            for item in fields(section)
            if getattr(section, item.name) is not None
        }
    header = (
        "# MyKey Ledger node settings. [chain] block_period_seconds defaults to genesis's\n"
        "# config.qbft.blockperiodseconds when left out.\n\n"
    )
    return header + tomli_w.dumps(document)
