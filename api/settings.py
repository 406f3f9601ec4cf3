"""Typed settings of the API: where its data lives, how it sends mail, what it limits.

Settings are a frozen dataclass built once by the caller (`ApiSettings.for_data_dir`, or
`from_environment` for `mykey api`) and passed to `create_app`; nothing reads the environment at
import time. Secrets (the SMTP password, the service-ID key) are never values here: settings hold
the *paths* of files that contain them, read when needed, so they stay out of logs and of the
database.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from card_bridge.browser_helper.config import DEFAULT_HELPER_URL
from card_bridge.browser_helper.registration_statement import is_exact_origin


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable or file."""


@dataclass(frozen=True)
class PasswordHashing:
    """argon2id cost parameters (RFC 9106). The defaults are argon2-cffi's recommended ones."""

    time_cost: int = 3
    memory_cost_kib: int = 65536
    parallelism: int = 4


@dataclass(frozen=True)
class ApiSettings:
    """Everything `create_app` and the notice sender need to know about their surroundings."""

    data_dir: Path
    database_url: str
    service_id_key_file: Path
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password_file: Path | None = None
    mail_from: str = "noreply@mykey.invalid"
    session_ttl_seconds: int = 30 * 60
    """A My Page or staff session ends this long after login."""
    registration_ttl_seconds: int = 30 * 60
    challenge_ttl_seconds: int = 5 * 60
    lockout_threshold: int = 5
    """Consecutive wrong passwords that lock an account (issue 6: lock-out after 5 failures)."""
    lockout_seconds: int = 30 * 60
    max_body_bytes: int = 64 * 1024
    """Largest request body accepted; anything bigger gets 413 before it is parsed."""
    outbox_lease_seconds: int = 60
    outbox_max_attempts: int = 20
    password_hashing: PasswordHashing = field(default_factory=PasswordHashing)
    follow_chain: bool = True
    """With a chain side, run the indexer in the background while the app runs."""
    indexer_interval_seconds: float = 0.5
    run_keepers: bool = False
    """With a chain side, sweep due reserves and expired lots in the background (api.keepers)."""
    keeper_interval_seconds: float = 60.0
    chain_config_file: Path | None = None
    """api.chain.config.ChainConfig JSON: RPC URL, deployment, which address acts for whom."""
    keystore_dir: Path | None = None
    """Encrypted keystores (Web3 Secret Storage) of those addresses."""
    keystore_password_file: Path | None = None
    """Mode-0600 file holding the keystores' password."""
    jpki_trust_anchors_file: Path | None = None
    """PEM file of the JPKI CA certificate(s) a card's authentication certificate must chain to."""
    jpki_crl_files: tuple[Path, ...] = ()
    """The CAs' certificate revocation lists (PEM or DER), re-read whenever a file changes."""
    rpc_trust_env: bool = False
    """Let requests read HTTP(S)_PROXY and friends for the node's JSON-RPC (off: connect direct)."""
    receipt_poll_seconds: float | None = None
    """Seconds between receipt polls of a waiting transaction; None: api.chain.sender's default."""
    serve_pages: bool | None = None
    """`mykey api serve` mounts the browser pages; None: when a chain is configured."""
    secure_cookies: bool = True
    """The pages' cookies are `Secure` (the API sits behind TLS); off only for plain-HTTP tests."""
    card_helper_url: str = DEFAULT_HELPER_URL
    """Where the registration page's script finds the card helper on the resident's own PC."""
    public_origin: str | None = None
    """`scheme://host[:port]` people reach the pages at, behind a reverse proxy; None: the
    request's own URL."""

    @classmethod
    def for_data_dir(cls, data_dir: Path, **overrides: object) -> ApiSettings:
        """Return settings with everything under `data_dir` (SQLite file, key file)."""
        data_dir = Path(data_dir)
        base = cls(
            data_dir=data_dir,
            database_url=f"sqlite:///{data_dir / 'api.sqlite'}",
            service_id_key_file=data_dir / "keys" / "service-id.key",
        )
        return replace(base, **overrides)  # type: ignore[arg-type]

    @classmethod
    def from_environment(
        cls, data_dir: Path, environ: Mapping[str, str] | None = None
    ) -> ApiSettings:
        """Return settings for `data_dir` with `MYKEY_API_*` variables applied.

        Recognised: DATABASE_URL, SMTP_HOST, SMTP_PORT, SMTP_USERNAME, SMTP_PASSWORD_FILE,
        MAIL_FROM, SERVICE_ID_KEY_FILE, OUTBOX_LEASE_SECONDS, CHAIN_CONFIG, KEYSTORE_DIR,
        KEYSTORE_PASSWORD_FILE, JPKI_TRUST_ANCHORS (one PEM file), JPKI_CRLS (files separated by
        os.pathsep), RPC_TRUST_ENV (on/off), RECEIPT_POLL_SECONDS, and for `serve`: PAGES (on/off),
        SECURE_COOKIES (on/off), CARD_HELPER_URL, PUBLIC_ORIGIN, RUN_KEEPERS (on/off). Raises
        SettingsError for a malformed value, naming the variable. Whether the files can be read is
        checked when they are loaded (`mykey api serve` does so at start).
        """
        env = os.environ if environ is None else environ
        settings = cls.for_data_dir(data_dir)
        prefix = "MYKEY_API_"
        changes: dict[str, object] = {}
        if url := env.get(prefix + "DATABASE_URL"):
            changes["database_url"] = url
        if host := env.get(prefix + "SMTP_HOST"):
            changes["smtp_host"] = host
        if port := env.get(prefix + "SMTP_PORT"):
            if not port.isdigit() or not 0 < int(port) < 65536:
                raise SettingsError(f"{prefix}SMTP_PORT must be a port number, not {port!r}")
            changes["smtp_port"] = int(port)
        if username := env.get(prefix + "SMTP_USERNAME"):
            changes["smtp_username"] = username
        if password_file := env.get(prefix + "SMTP_PASSWORD_FILE"):
            changes["smtp_password_file"] = Path(password_file)
        if sender := env.get(prefix + "MAIL_FROM"):
            changes["mail_from"] = sender
        if key_file := env.get(prefix + "SERVICE_ID_KEY_FILE"):
            changes["service_id_key_file"] = Path(key_file)
        for name, attribute in (
            ("CHAIN_CONFIG", "chain_config_file"),
            ("KEYSTORE_DIR", "keystore_dir"),
            ("KEYSTORE_PASSWORD_FILE", "keystore_password_file"),
        ):
            if value := env.get(prefix + name):
                changes[attribute] = Path(value)
        if lease := env.get(prefix + "OUTBOX_LEASE_SECONDS"):
            if not lease.isdigit() or int(lease) < 1:
                raise SettingsError(
                    f"{prefix}OUTBOX_LEASE_SECONDS must be whole seconds (1 or more), not {lease!r}"
                )
            changes["outbox_lease_seconds"] = int(lease)
        changes.update(_trust_and_rpc_changes(env, prefix))
        changes.update(_serve_changes(env, prefix))
        return replace(settings, **changes)  # type: ignore[arg-type]

    def smtp_password(self) -> str | None:
        """Return the SMTP password read from its file (trailing newline removed), or None."""
        if self.smtp_password_file is None:
            return None
        return read_secret(self.smtp_password_file).decode("utf-8").rstrip("\n")


def _trust_and_rpc_changes(env: Mapping[str, str], prefix: str) -> dict[str, object]:
    """Return the JPKI trust files and JSON-RPC tuning that `env` sets."""
    changes: dict[str, object] = {}
    if anchors := env.get(prefix + "JPKI_TRUST_ANCHORS"):
        changes["jpki_trust_anchors_file"] = Path(anchors)
    if crls := env.get(prefix + "JPKI_CRLS"):
        parts = crls.split(os.pathsep)
        if any(not part for part in parts):
            raise SettingsError(
                f"{prefix}JPKI_CRLS has an empty entry: list CRL files separated by "
                f"{os.pathsep!r}, not {crls!r}"
            )
        changes["jpki_crl_files"] = tuple(Path(part) for part in parts)
    if (trust_env := env.get(prefix + "RPC_TRUST_ENV")) is not None:
        changes["rpc_trust_env"] = _switch(prefix + "RPC_TRUST_ENV", trust_env)
    if poll := env.get(prefix + "RECEIPT_POLL_SECONDS"):
        changes["receipt_poll_seconds"] = _seconds(prefix + "RECEIPT_POLL_SECONDS", poll)
    return changes


def _serve_changes(env: Mapping[str, str], prefix: str) -> dict[str, object]:
    """Return what `env` sets about the pages and the in-process keepers."""
    changes: dict[str, object] = {}
    for name, attribute in (
        ("PAGES", "serve_pages"),
        ("SECURE_COOKIES", "secure_cookies"),
        ("RUN_KEEPERS", "run_keepers"),
    ):
        if (value := env.get(prefix + name)) is not None:
            changes[attribute] = _switch(prefix + name, value)
    if helper := env.get(prefix + "CARD_HELPER_URL"):
        parts = urlsplit(helper)
        if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query:
            raise SettingsError(
                f"{prefix}CARD_HELPER_URL must be an http(s) URL such as {DEFAULT_HELPER_URL}, "
                f"not {helper!r}"
            )
        changes["card_helper_url"] = helper.rstrip("/")
    if origin := env.get(prefix + "PUBLIC_ORIGIN"):
        if not is_exact_origin(origin):
            raise SettingsError(
                f"{prefix}PUBLIC_ORIGIN must be exactly scheme://host[:port] as a browser sends "
                f"it (e.g. https://mykey.example.jp, no path or trailing slash), not {origin!r}"
            )
        changes["public_origin"] = origin
    return changes


_ON = frozenset({"1", "on", "true", "yes"})
_OFF = frozenset({"0", "off", "false", "no", ""})


def _switch(name: str, value: str) -> bool:
    word = value.strip().lower()
    if word in _ON:
        return True
    if word in _OFF:
        return False
    raise SettingsError(f"{name} must be on or off (1/0, true/false, yes/no), not {value!r}")


def _seconds(name: str, value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 10:
        raise SettingsError(f"{name} must be seconds above 0 and at most 10, not {value!r}")
    return seconds


def read_secret(path: Path) -> bytes:
    """Return the bytes of a secret file; refuse one readable by group or others.

    Raises SettingsError when the file is missing or too open (a secret someone else can read is
    no longer a secret).
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as error:
        raise SettingsError(f"secret file {path} does not exist") from error
    if mode & 0o077:
        raise SettingsError(f"secret file {path} is readable by others: run `chmod 600 {path}`")
    return path.read_bytes()
