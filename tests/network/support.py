"""Helpers shared by the network tests: strategies, sample peers, forged certificates, waits."""

from __future__ import annotations

import asyncio
import datetime
import socket
from collections.abc import Callable
from dataclasses import replace

import pytest
import rlp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import strategies as st

from network.backoff import Backoff
from network.codec import (
    PROTOCOL_VERSION,
    UINT64_MAX,
    Blocks,
    ConsensusMessage,
    Disconnect,
    DisconnectReason,
    GetBlocks,
    Hello,
    Message,
    Ping,
    Pong,
    Status,
    Transactions,
)
from network.config import TransportConfig
from network.identity import NodeAddress, NodeKey
from network.peer import PeerConfig
from network.pki import (
    NODE_BINDING_OID,
    ConsortiumCA,
    Role,
    binding_hash,
    generate_tls_key,
    spki_digest,
)

from .conftest import NOW

# -- codec strategies -----------------------------------------------------------------------

uint64 = st.integers(min_value=0, max_value=UINT64_MAX)
hash32 = st.binary(min_size=32, max_size=32)
blobs = st.lists(st.binary(max_size=64), max_size=8).map(tuple)

messages: st.SearchStrategy[Message] = st.one_of(
    st.builds(
        Hello,
        protocol_version=uint64,
        chain_id=uint64,
        genesis_hash=hash32,
        node_address=st.binary(min_size=20, max_size=20),
        head_number=uint64,
        head_hash=hash32,
        client=st.text(max_size=20),
    ),
    st.builds(Disconnect, reason=st.sampled_from(DisconnectReason), detail=st.text(max_size=60)),
    st.builds(Ping, nonce=uint64),
    st.builds(Pong, nonce=uint64),
    st.builds(Status, head_number=uint64, head_hash=hash32),
    st.builds(Transactions, raw_transactions=blobs),
    st.builds(ConsensusMessage, code=uint64, data=st.binary(max_size=200)),
    st.builds(GetBlocks, request_id=uint64, start=uint64, count=uint64),
    st.builds(Blocks, request_id=uint64, blocks=blobs),
)


# -- two sample peers -----------------------------------------------------------------------

ALICE = NodeAddress(b"\xaa" * 20)
BOB = NodeAddress(b"\xbb" * 20)
GENESIS_HASH = b"\x01" * 32


def hello(address: NodeAddress, **changes: object) -> Hello:
    base = Hello(
        protocol_version=PROTOCOL_VERSION,
        chain_id=1337,
        genesis_hash=GENESIS_HASH,
        node_address=address,
        head_number=5,
        head_hash=b"\x05" * 32,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


# -- certificates ---------------------------------------------------------------------------


def forged_certificate(
    ca: ConsortiumCA, named: NodeKey, signer: NodeKey, role: Role = Role.VALIDATOR
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A CA-issued certificate naming `named`'s node key with a binding made by `signer`.

    This is what a member whose CA request slipped through with someone else's node key would
    hold; returns it with its TLS private key.
    """
    tls_key = generate_tls_key()
    signature = signer.sign_hash(binding_hash(role, "Thief", spki_digest(tls_key.public_key())))
    extension = rlp.encode([1, role.value.encode(), b"Thief", named.public_key, signature])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(ca.certificate.subject)
        .public_key(tls_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=1))
        .add_extension(x509.UnrecognizedExtension(NODE_BINDING_OID, extension), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return certificate, tls_key


# -- sockets and waits ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


FAST = TransportConfig(
    peer=PeerConfig(request_timeout=5.0),
    backoff=Backoff(initial=0.05, maximum=0.4, jitter=0.0),
    connect_timeout=5.0,
    sync_batch=4,
)


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until `condition()` holds; fail the test after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not met within the timeout")
        await asyncio.sleep(0.02)


def logged(caplog: pytest.LogCaptureFixture, *words: str) -> bool:
    return any(all(word in record.getMessage() for word in words) for record in caplog.records)
