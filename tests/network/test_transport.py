"""Real TLS 1.3 over loopback between asyncio nodes in this process: links, gossip, sync, refusals.

Every node listens on 127.0.0.1 port 0. Waits poll a condition with a deadline (no fixed sleeps
standing in for synchronisation).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import ssl
from collections.abc import Sequence
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from network.codec import Ping, encode_message
from network.config import ChainIdentity, PeerEndpoint, TransportConfig
from network.identity import NodeKey
from network.permissions import PeerGate, PermissionList
from network.pki import (
    NODE_BINDING_OID,
    ConsortiumCA,
    NodeTlsFiles,
    Role,
    encode_binding,
    generate_tls_key,
    read_certificate,
    write_private_key,
)
from network.tls import client_context
from network.transport import ConsensusBroadcast, NetworkService, SyncFailed

from .conftest import NOW, Consortium, FakeChain, MemberNode, block_hash
from .support import FAST, eventually, forged_certificate, logged

GENESIS_HASH = block_hash(b"genesis")
CHAIN = ChainIdentity(chain_id=1337, genesis_hash=GENESIS_HASH)


def service(
    node: MemberNode,
    consortium: Consortium,
    chain: FakeChain,
    *,
    peers: Sequence[tuple[MemberNode, NetworkService]] = (),
    port: int = 0,
    permissions: PermissionList | None = None,
    identity: ChainIdentity = CHAIN,
    revoked_serials: Sequence[int] = (),
    importer: bool = True,
    connect_timeout: float = FAST.connect_timeout,
    max_pending_handshakes: int = 32,
    sync_lag: int = 1,
) -> NetworkService:
    gate = PeerGate(
        ca_certificate=consortium.ca.certificate,
        permissions=permissions or consortium.permissions(),
        revocation_list=consortium.ca.issue_crl(revoked_serials, NOW),
    )
    config = TransportConfig(
        port=port,
        static_peers=tuple(
            PeerEndpoint(address=peer.address, host="127.0.0.1", port=running.port)
            for peer, running in peers
        ),
        peer=FAST.peer,
        backoff=FAST.backoff,
        connect_timeout=connect_timeout,
        sync_batch=FAST.sync_batch,
        max_pending_handshakes=max_pending_handshakes,
        sync_lag=sync_lag,
    )
    return NetworkService(
        tls_files=node.files,
        gate=gate,
        chain=identity,
        block_source=chain,
        tx_sink=chain,
        consensus_sink=chain,
        block_importer=chain if importer else None,
        config=config,
        wall_clock=lambda: NOW,
    )


def test_three_nodes_gossip_transactions_and_consensus_along_a_line(
    consortium: Consortium,
) -> None:
    a_node, b_node, c_node = (consortium.make_node(name) for name in ("Alpha", "Bravo", "Charlie"))
    a_chain, b_chain, c_chain = FakeChain(), FakeChain(), FakeChain()
    b_chain.rejected_transactions.add(b"invalid-tx")

    async def scenario() -> None:
        b = service(b_node, consortium, b_chain)
        await b.start()
        a = service(a_node, consortium, a_chain, peers=[(b_node, b)])
        c = service(c_node, consortium, c_chain, peers=[(b_node, b)])
        await a.start()
        await c.start()
        try:
            await b.wait_for_peers(2, 10)
            await a.wait_for_peers(1, 10)
            await c.wait_for_peers(1, 10)
            assert [peer.organisation for peer in b.peers()] == sorted(
                ["Alpha", "Charlie"],
                key=lambda name: (a_node if name == "Alpha" else c_node).address,
            )
            a.broadcast_transactions([b"tx-1", b"invalid-tx"])
            await eventually(lambda: len(c_chain.transactions) == 1)
            assert b_chain.transactions == [(b"tx-1", a_node.address)]
            assert c_chain.transactions == [(b"tx-1", b_node.address)]
            a.broadcast_transactions([b"tx-1"])  # already seen: not sent again
            a.broadcast_consensus(0x14, b"commit")
            await eventually(lambda: len(c_chain.consensus) == 1)
            assert c_chain.consensus == [(0x14, b"commit", b_node.address)]
            assert b_chain.consensus == [(0x14, b"commit", a_node.address)]
            assert a_chain.consensus == []  # not echoed back to its author
            assert len(b_chain.transactions) == 1
        finally:
            for running in (a, b, c):
                await running.stop()

    asyncio.run(scenario())


def test_two_nodes_dialing_each_other_keep_exactly_one_link(consortium: Consortium) -> None:
    a_node, b_node = consortium.make_node("Alpha"), consortium.make_node("Bravo")

    async def scenario() -> None:
        a = service(a_node, consortium, FakeChain())
        await a.start()
        b = service(b_node, consortium, FakeChain(), peers=[(a_node, a)])
        await b.start()
        a.add_static_peer(PeerEndpoint(b_node.address, "127.0.0.1", b.port))
        try:
            await a.wait_for_peers(1, 10)
            await b.wait_for_peers(1, 10)
            await eventually(lambda: len(a._all_sessions) == 1 and len(b._all_sessions) == 1)
            kept_outbound_at_a = a.peers()[0].outbound
            lower_dials = a_node.address < b_node.address
            assert kept_outbound_at_a is lower_dials
            a.broadcast_consensus(0x13, b"prepare")
            await eventually(lambda: len(b._sessions) == 1)
        finally:
            await a.stop()
            await b.stop()

    asyncio.run(scenario())


def test_block_ranges_are_served_and_a_late_node_syncs_then_follows(
    consortium: Consortium,
) -> None:
    a_node, b_node = consortium.make_node("Alpha"), consortium.make_node("Bravo")
    a_chain, b_chain = FakeChain(), FakeChain()
    a_chain.grow(10)

    async def scenario() -> None:
        a = service(a_node, consortium, a_chain)
        await a.start()
        b = service(b_node, consortium, b_chain, peers=[(a_node, a)])
        await b.start()
        try:
            await eventually(lambda: b_chain.chain_head().number == 10)
            assert b_chain.blocks == a_chain.blocks
            assert set(b_chain.imported_from) == {a_node.address}
            assert len(b_chain.imported_from) == 3  # batches of 4, 4 and 2
            assert await b.request_blocks(a_node.address, 3, 2) == tuple(a_chain.blocks[3:5])
            assert await b.request_blocks(a_node.address, 99, 2) == ()
            a_chain.grow(2)
            a.announce_head()
            await eventually(lambda: b_chain.chain_head().number == 12)
            await eventually(lambda: a.peers()[0].head_number == 12)  # b announced its head
        finally:
            await a.stop()
            await b.stop()
        with pytest.raises(SyncFailed, match="not connected"):
            await b.request_blocks(a_node.address, 1, 1)

    asyncio.run(scenario())


def test_a_peer_serving_an_invalid_block_is_dropped(
    consortium: Consortium, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="network")
    a_node, b_node = consortium.make_node("Alpha"), consortium.make_node("Bravo")
    a_chain, b_chain = FakeChain(), FakeChain()
    a_chain.grow(3)
    a_chain.blocks[2] = b"forged block"

    async def scenario() -> None:
        a = service(a_node, consortium, a_chain)
        await a.start()
        b = service(b_node, consortium, b_chain, peers=[(a_node, a)])
        await b.start()
        try:
            await eventually(lambda: logged(caplog, "served an invalid block", "block 2"))
            assert b_chain.chain_head().number == 1
        finally:
            await a.stop()
            await b.stop()

    asyncio.run(scenario())


def test_a_dialer_reconnects_after_the_peer_restarts(
    consortium: Consortium, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="network")
    a_node, b_node = consortium.make_node("Alpha"), consortium.make_node("Bravo")
    a_chain, b_chain = FakeChain(), FakeChain()

    async def scenario() -> None:
        b = service(b_node, consortium, b_chain)
        await b.start()
        port = b.port
        a = service(a_node, consortium, a_chain, peers=[(b_node, b)])
        await a.start()
        try:
            await a.wait_for_peers(1, 10)
            await b.stop()
            await eventually(lambda: not a.peers())
            assert logged(caplog, "peer disconnected", "shutting-down")
            await asyncio.sleep(0.3)  # a few redials fail while b is down
            assert logged(caplog, "dialing", "failed")
            b_chain.grow(2)
            restarted = service(b_node, consortium, b_chain, port=port)
            await restarted.start()
            try:
                await a.wait_for_peers(1, 10)
                await eventually(lambda: a_chain.chain_head().number == 2)
                a.broadcast_transactions([b"after-restart"])
                await eventually(lambda: len(b_chain.transactions) == 1)
            finally:
                await restarted.stop()
        finally:
            await a.stop()

    asyncio.run(scenario())


async def _dial_raw(files: NodeTlsFiles, port: int, trust: Path) -> None:
    """Connect as a bare TLS client presenting `files`, trusting the CA at `trust` (an attacker
    has the consortium's public CA certificate), send a frame, wait for the server to close."""
    context = client_context(files)
    context.load_verify_locations(cafile=str(trust))
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    try:
        writer.write(encode_message(Ping(nonce=1)))
        await asyncio.wait_for(reader.read(), 10)
    except (ssl.SSLError, OSError):
        pass  # the server aborting the handshake is the expected outcome
    finally:
        writer.close()


def self_signed_node_files(folder: Path, trust: Path) -> NodeTlsFiles:
    """A leaf certificate signed by its own TLS key, with a valid node binding: a stranger who
    followed our format but has no certificate from the consortium CA."""
    key = NodeKey.generate()
    tls_key = generate_tls_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stranger")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(tls_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=1))
        .add_extension(
            x509.UnrecognizedExtension(
                NODE_BINDING_OID,
                encode_binding(key, tls_key.public_key(), Role.VALIDATOR, "Stranger"),
            ),
            critical=False,
        )
        .sign(tls_key, hashes.SHA256())
    )
    files = NodeTlsFiles.in_keys_folder(folder)
    write_private_key(files.private_key, tls_key)
    files.certificate.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    files.ca_certificate.write_bytes(trust.read_bytes())
    return files


@pytest.mark.parametrize("kind", ["self-signed leaf", "own CA"])
def test_a_strangers_self_made_certificate_is_refused_at_tls(
    consortium: Consortium, tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    caplog.set_level(logging.INFO, logger="network")
    a_node = consortium.make_node("Alpha")
    if kind == "own CA":
        stranger = Consortium(tmp_path / "stranger", ConsortiumCA.create("Stranger", NOW))
        files = stranger.make_node("Stranger").files
    else:
        files = self_signed_node_files(tmp_path / "stranger", a_node.files.ca_certificate)

    async def scenario() -> None:
        a = service(a_node, consortium, FakeChain())
        await a.start()
        try:
            await _dial_raw(files, a.port, a_node.files.ca_certificate)
            await eventually(lambda: logged(caplog, "refused inbound", "not-consortium-ca"))
            assert a.peers() == []
        finally:
            await a.stop()

    asyncio.run(scenario())


def test_a_member_certificate_on_the_wrong_node_key_is_refused(
    consortium: Consortium, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="network")
    a_node, victim = consortium.make_node("Alpha"), consortium.make_node("Victim")
    forged, tls_key = forged_certificate(consortium.ca, named=victim.key, signer=NodeKey.generate())
    files = NodeTlsFiles.in_keys_folder(tmp_path / "thief")
    write_private_key(files.private_key, tls_key)
    files.certificate.write_bytes(forged.public_bytes(serialization.Encoding.PEM))
    files.ca_certificate.write_bytes(a_node.files.ca_certificate.read_bytes())

    async def scenario() -> None:
        a = service(a_node, consortium, FakeChain())
        await a.start()
        try:
            await _dial_raw(files, a.port, a_node.files.ca_certificate)
            await eventually(lambda: logged(caplog, "refused inbound", "node-key-binding"))
            assert a.peers() == []
        finally:
            await a.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize("case", ["revoked", "not-permitted"])
def test_revoked_and_unlisted_nodes_are_refused_both_ways(
    consortium: Consortium, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    caplog.set_level(logging.INFO, logger="network")
    a_node, c_node = consortium.make_node("Alpha"), consortium.make_node("Charlie")
    serial = read_certificate(c_node.files.certificate).serial_number
    revoked = [serial] if case == "revoked" else []
    permissions = consortium.permissions([a_node] if case == "not-permitted" else None)

    async def scenario() -> None:
        a = service(
            a_node, consortium, FakeChain(), permissions=permissions, revoked_serials=revoked
        )
        await a.start()
        c = service(c_node, consortium, FakeChain(), peers=[(a_node, a)])
        await c.start()
        a.add_static_peer(PeerEndpoint(c_node.address, "127.0.0.1", c.port))
        try:
            await eventually(lambda: logged(caplog, "refused inbound peer", case))
            await eventually(lambda: logged(caplog, "refused outbound peer", case))
            assert a.peers() == []
        finally:
            await a.stop()
            await c.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("identity", "reason"),
    [
        (ChainIdentity(chain_id=1, genesis_hash=GENESIS_HASH), "wrong-chain-id"),
        (ChainIdentity(chain_id=1337, genesis_hash=b"\x00" * 32), "wrong-genesis"),
    ],
)
def test_a_node_on_another_chain_is_disconnected_with_the_reason(
    consortium: Consortium,
    caplog: pytest.LogCaptureFixture,
    identity: ChainIdentity,
    reason: str,
) -> None:
    caplog.set_level(logging.INFO, logger="network")
    a_node, e_node = consortium.make_node("Alpha"), consortium.make_node("Echo")

    async def scenario() -> None:
        a = service(a_node, consortium, FakeChain())
        await a.start()
        e = service(e_node, consortium, FakeChain(), peers=[(a_node, a)], identity=identity)
        await e.start()
        try:
            await eventually(lambda: logged(caplog, "peer disconnected", reason))
            assert a.peers() == [] and e.peers() == []
        finally:
            await a.stop()
            await e.stop()

    asyncio.run(scenario())


def test_a_permission_update_drops_a_connected_peer(
    consortium: Consortium, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="network")
    a_node, b_node = consortium.make_node("Alpha"), consortium.make_node("Bravo")

    async def scenario() -> None:
        a = service(a_node, consortium, FakeChain())
        await a.start()
        b = service(b_node, consortium, FakeChain(), peers=[(a_node, a)])
        await b.start()
        try:
            await a.wait_for_peers(1, 10)
            a.update_permissions(consortium.permissions([a_node]))
            await eventually(lambda: a.peers() == [])
            assert logged(caplog, "dropping peer", "not-permitted")
            # b redials; a now refuses it at admission.
            await eventually(lambda: logged(caplog, "refused inbound peer", "not-permitted"))
        finally:
            await a.stop()
            await b.stop()

    asyncio.run(scenario())


def test_silent_tcp_connections_are_bounded_and_timed_out(
    consortium: Consortium, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="network")
    a_node = consortium.make_node("Alpha")

    async def scenario() -> None:
        a = service(a_node, consortium, FakeChain(), connect_timeout=0.5, max_pending_handshakes=1)
        await a.start()
        try:
            first_reader, first_writer = await asyncio.open_connection("127.0.0.1", a.port)
            await eventually(lambda: a._pending_handshakes == 1)
            second_reader, second_writer = await asyncio.open_connection("127.0.0.1", a.port)
            assert await asyncio.wait_for(second_reader.read(), 5) == b""  # closed at once
            assert logged(caplog, "1 TLS handshakes already pending")
            assert await asyncio.wait_for(first_reader.read(), 5) == b""  # no ClientHello: dropped
            await eventually(lambda: logged(caplog, "refused inbound connection", "TLS handshake"))
            assert a._pending_handshakes == 0
            first_writer.close()
            second_writer.close()
        finally:
            await a.stop()

    asyncio.run(scenario())


def test_a_sync_lag_of_two_leaves_a_one_block_gap_to_consensus(consortium: Consortium) -> None:
    a_node, b_node = consortium.make_node("Alpha"), consortium.make_node("Bravo")
    a_chain, b_chain = FakeChain(), FakeChain()
    a_chain.grow(1)

    async def scenario() -> None:
        a = service(a_node, consortium, a_chain)
        await a.start()
        b = service(b_node, consortium, b_chain, peers=[(a_node, a)], sync_lag=2)
        await b.start()
        try:
            await b.wait_for_peers(1, 10)
            assert await b.request_blocks(a_node.address, 1, 1) == (a_chain.blocks[1],)
            assert b_chain.chain_head().number == 0  # one block behind: left to consensus
            a_chain.grow(1)
            a.announce_head()
            await eventually(lambda: b_chain.chain_head().number == 2)
        finally:
            await a.stop()
            await b.stop()

    asyncio.run(scenario())


def test_consensus_goes_to_validators_only_and_transactions_to_everyone(
    consortium: Consortium,
) -> None:
    a_node, b_node = consortium.make_node("Alpha"), consortium.make_node("Bravo")
    m_node = consortium.make_node("Member", Role.MEMBER)
    a_chain, b_chain, m_chain = FakeChain(), FakeChain(), FakeChain()

    async def scenario() -> None:
        a = service(a_node, consortium, a_chain)
        await a.start()
        b = service(b_node, consortium, b_chain, peers=[(a_node, a)])
        m = service(m_node, consortium, m_chain, peers=[(a_node, a)])
        await b.start()
        await m.start()
        try:
            await a.wait_for_peers(2, 10)
            assert {peer.role for peer in a.peers()} == {Role.VALIDATOR, Role.MEMBER}
            ConsensusBroadcast(a).broadcast(0x12, b"proposal")
            a.broadcast_transactions([b"tx"])
            await eventually(lambda: len(m_chain.transactions) == 1)
            await eventually(lambda: len(b_chain.consensus) == 1)
            assert b_chain.transactions == [(b"tx", a_node.address)]
            assert m_chain.consensus == []
        finally:
            for running in (a, b, m):
                await running.stop()

    asyncio.run(scenario())
