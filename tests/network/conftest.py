"""Fixtures for the network tests: a consortium made on the fly, fake node ports, a fake clock.

`consortium` makes a CA and node credentials under tmp_path (P-256 TLS keys are quick to make);
`FakeChain` is a BlockSource and BlockImporter over a list of opaque "blocks" whose validity rule is
simple enough to state in one line (a block names its number and its parent's hash).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from eth_utils.crypto import keccak

from network.identity import NodeAddress, NodeKey
from network.permissions import PermissionList, PermittedNode
from network.pki import ConsortiumCA, NodeTlsFiles, Role, issue_node_files
from network.ports import BlockImportRejected, ChainHead

NOW = datetime.datetime(2026, 11, 28, 6, 0, tzinfo=datetime.UTC)
GENESIS = b"genesis"


@dataclass
class MemberNode:
    """A consortium member made for tests: its node key and TLS files."""

    key: NodeKey
    files: NodeTlsFiles
    organisation: str
    role: Role

    @property
    def address(self) -> NodeAddress:
        return self.key.address

    @property
    def certificate_der(self) -> bytes:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        certificate = x509.load_pem_x509_certificate(self.files.certificate.read_bytes())
        return certificate.public_bytes(serialization.Encoding.DER)


@dataclass
class Consortium:
    """A CA and the nodes issued under it."""

    root: Path
    ca: ConsortiumCA
    nodes: list[MemberNode] = field(default_factory=list)

    def make_node(self, organisation: str, role: Role = Role.VALIDATOR) -> MemberNode:
        key = NodeKey.generate()
        files = issue_node_files(
            ca=self.ca,
            node_key=key,
            organisation=organisation,
            role=role,
            keys_folder=self.root / organisation / "keys",
            now=NOW,
        )
        node = MemberNode(key=key, files=files, organisation=organisation, role=role)
        self.nodes.append(node)
        return node

    def permissions(self, nodes: Sequence[MemberNode] | None = None) -> PermissionList:
        listed = self.nodes if nodes is None else nodes
        return PermissionList(
            nodes=tuple(
                PermittedNode(address=node.address, organisation=node.organisation, role=node.role)
                for node in listed
            )
        )


@pytest.fixture
def consortium(tmp_path: Path) -> Consortium:
    return Consortium(root=tmp_path / "consortium", ca=ConsortiumCA.create("Test", NOW))


def block_bytes(number: int, parent: bytes) -> bytes:
    """A fake block: its number and its parent's hash, enough for the fake import rule."""
    return b"block:" + number.to_bytes(8, "big") + parent


def block_hash(block: bytes) -> bytes:
    return keccak(block)


@dataclass
class FakeChain:
    """BlockSource + BlockImporter + TxSink + ConsensusSink over in-memory lists."""

    blocks: list[bytes] = field(default_factory=lambda: [GENESIS])
    transactions: list[tuple[bytes, NodeAddress]] = field(default_factory=list)
    consensus: list[tuple[int, bytes, NodeAddress]] = field(default_factory=list)
    rejected_transactions: set[bytes] = field(default_factory=set)
    imported_from: list[NodeAddress] = field(default_factory=list)

    def grow(self, count: int) -> None:
        for _ in range(count):
            self.blocks.append(block_bytes(len(self.blocks), block_hash(self.blocks[-1])))

    # BlockSource
    def chain_head(self) -> ChainHead:
        return ChainHead(number=len(self.blocks) - 1, hash=block_hash(self.blocks[-1]))

    async def encoded_blocks(self, start: int, count: int) -> Sequence[bytes]:
        return self.blocks[start : start + count]

    # BlockImporter: a block must carry the next number and the head's hash as parent.
    async def import_blocks(self, blocks: Sequence[bytes], sender: NodeAddress) -> ChainHead:
        for block in blocks:
            expected = block_bytes(len(self.blocks), block_hash(self.blocks[-1]))
            if block != expected:
                raise BlockImportRejected(len(self.blocks), "parent hash or number mismatch")
            self.blocks.append(block)
        self.imported_from.append(sender)
        return self.chain_head()

    # TxSink
    async def accept_transactions(
        self, raw_transactions: Sequence[bytes], sender: NodeAddress
    ) -> Sequence[bytes]:
        accepted = [raw for raw in raw_transactions if raw not in self.rejected_transactions]
        self.transactions += [(raw, sender) for raw in accepted]
        return accepted

    # ConsensusSink
    def receive_consensus(self, code: int, data: bytes, sender: NodeAddress) -> None:
        self.consensus.append((code, data, sender))


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    yield FakeClock()
