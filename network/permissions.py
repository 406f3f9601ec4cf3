"""Who may be a peer: the local permission file, the on-chain list hook, and the admission check.

Before any of this, the TLS 1.3 handshake must succeed with a certificate chained to the CA
(`tls-handshake`, `no-certificate`, `not-consortium-ca` when it fails; see `network.tls`).
A node keeps a peer only when all of these hold, checked in this order so the first failure is the
reason logged and sent back:

1. the certificate was issued by the consortium CA and is within its validity (`not-consortium-ca`,
   `certificate-expired`);
2. its node binding verifies: the named node key signed this certificate's TLS key
   (`node-key-binding`);
3. it is not revoked, neither by serial number in the CA's CRL nor by address in the permission
   file (`revoked`);
4. its node address is on the local permission file (`not-permitted`) with the role the
   certificate claims (`role-mismatch`);
5. when an on-chain list is attached, that list permits it too (`not-permitted-on-chain`);
6. when we dialed a specific node, it is that node (`unexpected-node`).

The permission file is TOML:

    version = 1
    revoked = ["0x…"]            # optional: addresses refused even if listed below
    [[nodes]]
    address = "0x…"
    organisation = "Yokohama City"
    role = "validator"           # or "member"
"""

from __future__ import annotations

import datetime
import enum
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import tomli_w
from cryptography import x509

from network.identity import NodeAddress, NodeKeyError, format_address, parse_address
from network.pki import (
    BindingError,
    CertificateOutOfValidity,
    NodeBinding,
    PkiError,
    Role,
    read_node_binding,
)
from network.pki import verify_issued_by as verify_ca_signature

PERMISSION_FILE_VERSION = 1


class RefusalReason(enum.StrEnum):
    """Stable machine-readable words for why a peer was refused; they appear in logs."""

    TLS_HANDSHAKE = "tls-handshake"
    NO_CERTIFICATE = "no-certificate"
    NOT_CONSORTIUM_CA = "not-consortium-ca"
    CERTIFICATE_EXPIRED = "certificate-expired"
    NODE_KEY_BINDING = "node-key-binding"
    REVOKED = "revoked"
    NOT_PERMITTED = "not-permitted"
    ROLE_MISMATCH = "role-mismatch"
    NOT_PERMITTED_ON_CHAIN = "not-permitted-on-chain"
    UNEXPECTED_NODE = "unexpected-node"


class PeerRefused(Exception):
    """A peer failed admission. `reason` is the stable word; the message is for the operator."""

    def __init__(self, reason: RefusalReason, message: str) -> None:
        super().__init__(f"{reason.value}: {message}")
        self.reason = reason


class PermissionFileError(Exception):
    """The permission file is missing, not TOML, or has a malformed entry (the message says)."""


@dataclass(frozen=True)
class PermittedNode:
    """One entry of the permission list."""

    address: NodeAddress
    organisation: str
    role: Role


@dataclass(frozen=True)
class PermissionList:
    """The local permission file's content: permitted nodes and revoked addresses."""

    nodes: tuple[PermittedNode, ...]
    revoked: frozenset[NodeAddress] = field(default_factory=frozenset)

    def entry_for(self, address: NodeAddress) -> PermittedNode | None:
        """Return the entry for `address`, or None when it is not listed."""
        for node in self.nodes:
            if node.address == address:
                return node
        return None

    @property
    def validators(self) -> list[NodeAddress]:
        """Return the addresses listed as validators, in file order."""
        return [node.address for node in self.nodes if node.role is Role.VALIDATOR]

    def with_revoked(self, addresses: Iterable[NodeAddress]) -> PermissionList:
        """Return a copy that also revokes `addresses`."""
        return PermissionList(nodes=self.nodes, revoked=self.revoked | frozenset(addresses))

    def to_toml(self) -> str:
        """Return the file text for this list."""
        document = {
            "version": PERMISSION_FILE_VERSION,
            "revoked": sorted(format_address(address) for address in self.revoked),
            "nodes": [
                {
                    "address": format_address(node.address),
                    "organisation": node.organisation,
                    "role": node.role.value,
                }
                for node in self.nodes
            ],
        }
        return tomli_w.dumps(document)

    def save(self, path: Path) -> None:
        """Write the permission file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_toml(), encoding="utf-8")

    @classmethod
    def parse(cls, text: str, source: str = "permission file") -> PermissionList:
        """Parse the TOML text; raise PermissionFileError naming the bad entry."""
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise PermissionFileError(f"{source} is not valid TOML: {error}") from error
        version = document.get("version", PERMISSION_FILE_VERSION)
        if version != PERMISSION_FILE_VERSION:
            raise PermissionFileError(f"{source} has version {version!r}; this node reads 1")
        raw_nodes = document.get("nodes", [])
        if not isinstance(raw_nodes, list):
            raise PermissionFileError(f"{source}: `nodes` must be an array of tables")
        nodes = [_parse_node(entry, index, source) for index, entry in enumerate(raw_nodes)]
        seen: set[NodeAddress] = set()
        for node in nodes:
            if node.address in seen:
                raise PermissionFileError(
                    f"{source}: node {format_address(node.address)} is listed twice"
                )
            seen.add(node.address)
        raw_revoked = document.get("revoked", [])
        if not isinstance(raw_revoked, list):
            raise PermissionFileError(f"{source}: `revoked` must be an array of addresses")
        try:
            revoked = frozenset(parse_address(str(item)) for item in raw_revoked)
        except NodeKeyError as error:
            raise PermissionFileError(f"{source}: revoked entry: {error}") from error
        return cls(nodes=tuple(nodes), revoked=revoked)

    @classmethod
    def load(cls, path: Path) -> PermissionList:
        """Read and parse the permission file at `path`."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise PermissionFileError(f"cannot read permission file {path}: {error}") from error
        return cls.parse(text, source=str(path))


def _parse_node(entry: object, index: int, source: str) -> PermittedNode:
    if not isinstance(entry, dict):
        raise PermissionFileError(f"{source}: nodes[{index}] must be a table")
    try:
        address = parse_address(str(entry["address"]))
        organisation = str(entry["organisation"])
        role = Role(str(entry.get("role", Role.MEMBER.value)))
    except KeyError as error:
        raise PermissionFileError(f"{source}: nodes[{index}] lacks {error.args[0]!r}") from error
    except (NodeKeyError, ValueError) as error:
        raise PermissionFileError(f"{source}: nodes[{index}]: {error}") from error
    return PermittedNode(address=address, organisation=organisation, role=role)


class OnChainPermissions(Protocol):
    """The consortium contract's node list, as the node will provide it once contracts exist."""

    def is_node_permitted(self, address: NodeAddress) -> bool:
        """Return True when the latest finalized state permits this node address."""
        ...


@dataclass(frozen=True)
class AdmittedPeer:
    """A peer that passed admission: who it is and what the permission list says of it."""

    binding: NodeBinding
    entry: PermittedNode

    @property
    def address(self) -> NodeAddress:
        """The peer's node address (authenticated by TLS plus the node binding)."""
        return self.binding.address


class PeerGate:
    """Decides, for one authenticated certificate, whether we keep the peer.

    `permissions` is read on every call, so replacing it (`update_permissions`) takes effect for
    the next connection; the transport re-checks connected peers after an update.
    """

    def __init__(
        self,
        *,
        ca_certificate: x509.Certificate,
        permissions: PermissionList,
        revocation_list: x509.CertificateRevocationList | None = None,
        on_chain: OnChainPermissions | None = None,
    ) -> None:
        self._ca_certificate = ca_certificate
        self._permissions = permissions
        self._revocation_list = revocation_list
        self._on_chain = on_chain

    @property
    def permissions(self) -> PermissionList:
        """The permission list in force."""
        return self._permissions

    def update_permissions(
        self,
        permissions: PermissionList,
        revocation_list: x509.CertificateRevocationList | None = None,
    ) -> None:
        """Replace the permission list (and CRL, when given) for later admissions."""
        self._permissions = permissions
        if revocation_list is not None:
            self._revocation_list = revocation_list

    def admit(
        self,
        certificate_der: bytes,
        now: datetime.datetime,
        expected: NodeAddress | None = None,
    ) -> AdmittedPeer:
        """Return the admitted peer for this DER certificate, or raise PeerRefused.

        The caller (the transport) logs the refusal with the connection's endpoint.
        """
        try:
            certificate = x509.load_der_x509_certificate(certificate_der)
        except ValueError as error:
            raise PeerRefused(
                RefusalReason.NOT_CONSORTIUM_CA, f"certificate is not valid DER: {error}"
            ) from error
        try:
            verify_ca_signature(certificate, self._ca_certificate, now)
        except CertificateOutOfValidity as error:
            raise PeerRefused(RefusalReason.CERTIFICATE_EXPIRED, str(error)) from error
        except PkiError as error:
            raise PeerRefused(RefusalReason.NOT_CONSORTIUM_CA, str(error)) from error
        try:
            binding = read_node_binding(certificate)
        except BindingError as error:
            raise PeerRefused(RefusalReason.NODE_KEY_BINDING, str(error)) from error
        name = f"{format_address(binding.address)} ({binding.organisation})"
        if self._revocation_list is not None:
            revoked = self._revocation_list.get_revoked_certificate_by_serial_number(
                certificate.serial_number
            )
            if revoked is not None:
                raise PeerRefused(
                    RefusalReason.REVOKED,
                    f"certificate serial {certificate.serial_number:#x} of {name} is on the "
                    "consortium CA's revocation list",
                )
        if binding.address in self._permissions.revoked:
            raise PeerRefused(
                RefusalReason.REVOKED, f"node {name} is revoked in the permission file"
            )
        entry = self._permissions.entry_for(binding.address)
        if entry is None:
            raise PeerRefused(
                RefusalReason.NOT_PERMITTED, f"node {name} is not on the permission list"
            )
        if entry.role is not binding.role:
            raise PeerRefused(
                RefusalReason.ROLE_MISMATCH,
                f"certificate of {name} claims role {binding.role.value}, the permission list "
                f"says {entry.role.value}",
            )
        if self._on_chain is not None and not self._on_chain.is_node_permitted(binding.address):
            raise PeerRefused(
                RefusalReason.NOT_PERMITTED_ON_CHAIN,
                f"node {name} is not permitted by the on-chain consortium list",
            )
        if expected is not None and binding.address != expected:
            raise PeerRefused(
                RefusalReason.UNEXPECTED_NODE,
                f"dialed {format_address(expected)} but the peer is {name}",
            )
        return AdmittedPeer(binding=binding, entry=entry)
