"""The counter's configuration: one TOML file written by `mykey counter init`, and its key.

The terminal's secp256k1 key lives in an eth-account keystore file (scrypt, AES-128-CTR) beside
the config; the passphrase comes from `MYKEY_TERMINAL_PASSPHRASE` or a prompt and is never
written anywhere. The business registers the printed address on-chain (DOMAIN.md flow 4).

`sign_transactions` says who signs a redemption's ledger transaction: "api" (the default; the
API holds a copy of this terminal's key) or "terminal" (only this counter holds the key; option B
of docs/terminal-requests.md).

Invariants: both files are created mode 0600; a config that names an unknown delivery mode,
terminal kind or signing mode is refused when loaded with a message that names the field, not
at first use.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import tomli_w
from eth_account import Account
from eth_account.signers.local import LocalAccount

from card_bridge.counter.ports import SigningMode, TerminalKind
from card_bridge.counter.refusals import CounterError

PASSPHRASE_ENVIRONMENT = "MYKEY_TERMINAL_PASSPHRASE"  # noqa: S105 - a variable name
KEYSTORE_SCRYPT_N = 2**18
"""eth-account's default work factor: about a second to unlock, once per start."""

DEFAULT_LABEL_WIDTH_MM = 62.0
"""The common continuous label roll (e.g. Brother DK-22205)."""


class DeliveryMode(StrEnum):
    """How a looked-up service ID reaches the service's own system (DOMAIN.md flow 2, A-D)."""

    SCREEN = "screen"
    BARCODE = "barcode"
    KEYBOARD = "keyboard"
    LABEL = "label"


class ConfigError(CounterError):
    """The config or keystore file is missing, unreadable or wrong; the message names it."""


@dataclass(frozen=True)
class CounterConfig:
    """Everything the counter is configured with, once."""

    api_url: str
    business: str
    kinds: tuple[TerminalKind, ...]
    service_code: str
    delivery: DeliveryMode
    keystore: Path
    reader: str | None = None
    label_directory: Path = field(default_factory=lambda: Path("labels"))
    label_width_mm: float = DEFAULT_LABEL_WIDTH_MM
    card_timeout_seconds: float = 15.0
    sign_transactions: SigningMode = SigningMode.API


def load_config(path: Path) -> CounterConfig:
    """Read and check the TOML config at `path`; relative paths are taken from its folder."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"no counter config at {path}: run `mykey counter init --config {path}` first"
        ) from None
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read the counter config {path}: {error}") from None
    base = path.parent
    try:
        kinds = tuple(TerminalKind(kind) for kind in data["kinds"])
        delivery = DeliveryMode(data["delivery"])
        reader = data.get("reader") or None
        return CounterConfig(
            api_url=str(data["api_url"]),
            business=str(data["business"]),
            kinds=kinds,
            service_code=str(data.get("service_code", "")),
            delivery=delivery,
            keystore=base / str(data["keystore"]),
            reader=None if reader is None else str(reader),
            label_directory=base / str(data.get("label_directory", "labels")),
            label_width_mm=float(data.get("label_width_mm", DEFAULT_LABEL_WIDTH_MM)),
            card_timeout_seconds=float(data.get("card_timeout_seconds", 15.0)),
            sign_transactions=_signing(data.get("sign_transactions", SigningMode.API.value)),
        )
    except KeyError as error:
        raise ConfigError(f"the counter config {path} lacks the field {error}") from None
    except ValueError as error:
        raise ConfigError(f"the counter config {path} has a wrong value: {error}") from None


def write_config(path: Path, config: CounterConfig) -> None:
    """Write `config` as TOML at `path` (mode 0600), paths relative to its folder when inside."""
    data: dict[str, object] = {
        "api_url": config.api_url,
        "business": config.business,
        "kinds": [kind.value for kind in config.kinds],
        "service_code": config.service_code,
        "delivery": config.delivery.value,
        "keystore": _relative(config.keystore, path.parent),
        "reader": config.reader or "",
        "label_directory": _relative(config.label_directory, path.parent),
        "label_width_mm": config.label_width_mm,
        "card_timeout_seconds": config.card_timeout_seconds,
        "sign_transactions": config.sign_transactions.value,
    }
    _write_private(path, tomli_w.dumps(data).encode("utf-8"))


def create_keystore(path: Path, passphrase: str, *, scrypt_n: int = KEYSTORE_SCRYPT_N) -> str:
    """Make a new terminal key, store it encrypted at `path` (0600); return its address."""
    if not passphrase:
        raise ConfigError("the keystore passphrase must not be empty")
    if path.exists():
        raise ConfigError(f"{path} already exists: a terminal key is never overwritten")
    account = Account.create()
    keystore = Account.encrypt(account.key, passphrase, iterations=scrypt_n)
    _write_private(path, json.dumps(keystore).encode("utf-8"))
    return str(account.address)


def unlock_keystore(path: Path, passphrase: str) -> LocalAccount:
    """Decrypt the terminal key at `path`; raise ConfigError on a wrong passphrase or file."""
    try:
        keystore = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read the terminal keystore {path}: {error}") from None
    try:
        key = Account.decrypt(keystore, passphrase)
    except ValueError:
        raise ConfigError(f"the passphrase does not open {path} (or the file is damaged)") from None
    account: LocalAccount = Account.from_key(key)
    return account


def _signing(value: object) -> SigningMode:
    try:
        return SigningMode(str(value))
    except ValueError:
        raise ValueError(f'sign_transactions must be "api" or "terminal", not {value!r}') from None


def _relative(target: Path, base: Path) -> str:
    try:
        return str(target.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(target)


def _write_private(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
    os.chmod(path, 0o600)
