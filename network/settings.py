"""A node's network settings: `<datadir>/network.toml`, written by `mykey net init`.

Kept apart from the node's `config.toml` (whose reader refuses unknown sections) so each package
owns the file it reads. Every key has a default except the peers, which are what make a consortium:

    [p2p]
    host = "127.0.0.1"
    port = 30303
    peers = ["0x<address>@127.0.0.1:30304", …]   # static peers, redialed with backoff
    permissions = "permissions.toml"            # relative to the data directory
    revocation_list = ""                        # optional CRL (PEM) path, relative likewise

Invariants: paths are resolved against the data directory; peers parse as `PeerEndpoint`s.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import tomli_w

from network.config import EndpointError, PeerEndpoint

SETTINGS_FILE = "network.toml"
PERMISSIONS_FILE = "permissions.toml"


class SettingsError(ValueError):
    """network.toml is unreadable or a value is wrong; the message names the key."""


@dataclass(frozen=True)
class NetworkSettings:
    """The [p2p] section, with paths resolved against the data directory."""

    host: str
    port: int
    peers: tuple[PeerEndpoint, ...]
    permissions: Path
    revocation_list: Path | None
    permissions_contract: bytes | None = None
    """The consortium contract whose node list must also admit a peer (None: the file alone)."""

    def to_toml(self, datadir: Path) -> str:
        """Return the file text, with paths written relative to `datadir` where possible."""

        def relative(path: Path) -> str:
            return str(path.relative_to(datadir)) if path.is_relative_to(datadir) else str(path)

        section: dict[str, object] = {
            "host": self.host,
            "port": self.port,
            "peers": [str(peer) for peer in self.peers],
            "permissions": relative(self.permissions),
            "revocation_list": relative(self.revocation_list) if self.revocation_list else "",
        }
        if self.permissions_contract is not None:
            section["permissions_contract"] = "0x" + self.permissions_contract.hex()
        return tomli_w.dumps({"p2p": section})

    def save(self, datadir: Path) -> None:
        """Write `<datadir>/network.toml`."""
        (datadir / SETTINGS_FILE).write_text(self.to_toml(datadir), encoding="utf-8")


def load_settings(datadir: Path) -> NetworkSettings:
    """Read `<datadir>/network.toml`; raise SettingsError naming the bad key."""
    path = datadir / SETTINGS_FILE
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise SettingsError(f"cannot read {path}: {error}; run `mykey net init`") from error
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"{path} is not valid TOML: {error}") from error
    unknown = sorted(set(document) - {"p2p"})
    if unknown:
        raise SettingsError(f"{path}: unknown section(s) {', '.join(unknown)}")
    p2p = document.get("p2p", {})
    if not isinstance(p2p, dict):
        raise SettingsError(f"{path}: [p2p] must be a table")
    known = {"host", "port", "peers", "permissions", "revocation_list", "permissions_contract"}
    unknown = sorted(set(p2p) - known)
    if unknown:
        raise SettingsError(f"{path}: unknown key(s) in [p2p]: {', '.join(unknown)}")
    host = p2p.get("host", "127.0.0.1")
    port = p2p.get("port", 30303)
    if not isinstance(host, str) or not host:
        raise SettingsError(f"{path}: [p2p] host must be a non-empty string")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port < 65536:
        raise SettingsError(f"{path}: [p2p] port must be an integer 0..65535, got {port!r}")
    raw_peers = p2p.get("peers", [])
    if not isinstance(raw_peers, list):
        raise SettingsError(f"{path}: [p2p] peers must be an array of 0x<address>@host:port")
    try:
        peers = tuple(PeerEndpoint.parse(str(item)) for item in raw_peers)
    except EndpointError as error:
        raise SettingsError(f"{path}: [p2p] peers: {error}") from error
    permissions = datadir / str(p2p.get("permissions", PERMISSIONS_FILE))
    revocation = str(p2p.get("revocation_list", ""))
    return NetworkSettings(
        host=host,
        port=port,
        peers=peers,
        permissions=permissions,
        revocation_list=datadir / revocation if revocation else None,
        permissions_contract=_contract_address(path, p2p.get("permissions_contract", "")),
    )


def _contract_address(path: Path, raw: object) -> bytes | None:
    """Parse `[p2p] permissions_contract` (empty: none); raise SettingsError naming the key."""
    if raw == "":
        return None
    text = raw[2:] if isinstance(raw, str) and raw.startswith("0x") else None
    try:
        address = bytes.fromhex(text) if text is not None else b""
    except ValueError:
        address = b""
    if len(address) != 20:
        raise SettingsError(
            f"{path}: [p2p] permissions_contract must be a 0x-prefixed 20-byte address, got {raw!r}"
        )
    return address
