"""Plain settings of the transport: peer endpoints, the chain identity, limits and timeouts.

Frozen dataclasses with no behaviour beyond parsing and range checks, so `network.settings` (the
file format) and `network.transport` (the service) share them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from network.backoff import Backoff
from network.identity import NodeAddress, NodeKeyError, format_address, parse_address
from network.peer import PeerConfig
from network.pki import Role


class EndpointError(ValueError):
    """A peer endpoint is not of the form `0x<address>@host:port`."""


@dataclass(frozen=True)
class PeerEndpoint:
    """Where to dial a peer and which node must answer there."""

    address: NodeAddress
    host: str
    port: int

    def __str__(self) -> str:
        return f"{format_address(self.address)}@{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> PeerEndpoint:
        """Parse `0x<40 hex digits>@host:port`; raise EndpointError naming the problem."""
        address_text, at, location = text.partition("@")
        host, colon, port_text = location.rpartition(":")
        if not at or not colon or not host:
            raise EndpointError(f"peer {text!r} must look like 0x<address>@host:port")
        try:
            address = parse_address(address_text)
            port = int(port_text)
        except (NodeKeyError, ValueError) as error:
            raise EndpointError(f"peer {text!r}: {error}") from error
        if not 0 < port < 65536:
            raise EndpointError(f"peer {text!r}: port {port} is out of range")
        return cls(address=address, host=host, port=port)


@dataclass(frozen=True)
class ChainIdentity:
    """What both ends of a link must agree on before anything else."""

    chain_id: int
    genesis_hash: bytes


@dataclass(frozen=True)
class TransportConfig:
    """Listening address, static peers and limits of a `NetworkService`."""

    host: str = "127.0.0.1"
    port: int = 0
    static_peers: tuple[PeerEndpoint, ...] = ()
    peer: PeerConfig = field(default_factory=PeerConfig)
    backoff: Backoff = field(default_factory=Backoff)
    connect_timeout: float = 10.0
    seen_capacity: int = 65536
    sync_batch: int = 64
    sync_lag: int = 1
    """Sync when a peer's head is at least this many blocks ahead. A validator imports each block
    through consensus; 2 keeps it from also fetching every block a peer announces first."""
    max_write_buffer: int = 64 * 1024 * 1024
    max_pending_handshakes: int = 32
    """Inbound TCP connections still in TLS at once; beyond this, new ones are closed at once."""

    def __post_init__(self) -> None:
        if self.sync_lag < 1 or self.sync_batch < 1 or self.max_pending_handshakes < 1:
            raise ValueError(
                "sync_lag, sync_batch and max_pending_handshakes must be at least 1, got "
                f"{self.sync_lag}, {self.sync_batch}, {self.max_pending_handshakes}"
            )


@dataclass(frozen=True)
class PeerInfo:
    """A connected peer, for `mykey net status` and logs."""

    address: NodeAddress
    organisation: str
    role: Role
    outbound: bool
    head_number: int
