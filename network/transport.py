"""The asyncio side of the network: TLS 1.3 links, dialing with backoff, gossip, block sync.

`NetworkService` owns the sockets, the loop's clock and the tasks; every protocol decision is made
by the sans-io `PeerConnection` (one per link) and the `PeerGate`. Rules kept here:

- a connection counts only after TLS 1.3 with a consortium certificate on both sides, admission by
  the gate (node binding, revocation, permission list) and a matching Hello; every refusal is
  logged at WARNING with its reason word and the remote endpoint;
- at most one connection per peer address: when two exist (both sides dialed), both ends keep the
  one dialed by the lower address, or the newer one when the same side dialed both;
- a static peer is redialed forever with exponential backoff while it is not connected;
- a gossiped transaction or consensus message is handled once (seen-set) and forwarded to every
  other peer only after the node accepted it (transactions), or at once to every other validator
  (consensus messages: member nodes follow by head announcements and sync instead);
- a peer whose write buffer passes `max_write_buffer` is dropped rather than buffered without end;
- sync asks the peer with the highest head for ranges after our head and hands them to the node's
  `BlockImporter`, which verifies seals and re-executes; a peer serving an invalid block is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import random
import ssl
from collections.abc import Callable, Coroutine, Sequence

from cryptography import x509
from eth_utils.crypto import keccak

from network.codec import PROTOCOL_VERSION, Disconnect, DisconnectReason, Hello, encode_message
from network.config import ChainIdentity, PeerEndpoint, PeerInfo, TransportConfig
from network.identity import NodeAddress, format_address
from network.peer import (
    BlockRequestFailed,
    BlocksReceived,
    BlocksRequested,
    ConnectionClosed,
    ConsensusReceived,
    HandshakeCompleted,
    PeerEvent,
    PeerNotReady,
    StatusReceived,
    TooManyRequests,
    TransactionsReceived,
)
from network.permissions import PeerGate, PeerRefused, PermissionList, RefusalReason
from network.pki import NodeTlsFiles, Role, read_certificate, read_node_binding
from network.ports import BlockImporter, BlockImportRejected, BlockSource, ConsensusSink, TxSink
from network.seen import SeenSet, message_digest
from network.session import READ_CHUNK, PeerSession
from network.tls import classify_tls_failure, client_context, server_context

logger = logging.getLogger(__name__)


class SyncFailed(Exception):
    """A block-range request got no answer (not connected, timed out, connection closed)."""


class ConsensusBroadcast:
    """The consensus driver's `Transport` port over a NetworkService: `broadcast(code, data)`."""

    def __init__(self, service: NetworkService) -> None:
        self._service = service

    def broadcast(self, code: int, data: bytes) -> None:
        """Send a QBFT message to every connected validator."""
        self._service.broadcast_consensus(code, data)


class NetworkService:
    """A node's network: accepts and dials peers, gossips, serves and fetches blocks.

    Call `start()` inside a running loop and `stop()` before the loop ends. The node talks to it
    through `broadcast_transactions`, `broadcast_consensus`, `announce_head` and `request_blocks`,
    and receives through the port Protocols given here.
    """

    def __init__(
        self,
        *,
        tls_files: NodeTlsFiles,
        gate: PeerGate,
        chain: ChainIdentity,
        block_source: BlockSource,
        tx_sink: TxSink,
        consensus_sink: ConsensusSink,
        block_importer: BlockImporter | None = None,
        config: TransportConfig | None = None,
        wall_clock: Callable[[], datetime.datetime] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config or TransportConfig()
        own = read_node_binding(read_certificate(tls_files.certificate))
        self.address = own.address
        self._tls_files = tls_files
        self._gate = gate
        self._chain = chain
        self._block_source = block_source
        self._tx_sink = tx_sink
        self._consensus_sink = consensus_sink
        self._block_importer = block_importer
        self._wall_clock = wall_clock or (lambda: datetime.datetime.now(datetime.UTC))
        self._rng = rng or random.Random()
        self._server_context = server_context(tls_files)
        self._client_context = client_context(tls_files)
        self._server: asyncio.Server | None = None
        self._sessions: dict[NodeAddress, PeerSession] = {}
        self._all_sessions: set[PeerSession] = set()
        self._peer_gone: dict[NodeAddress, asyncio.Event] = {}
        self._peers_changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._dialing: set[NodeAddress] = set()
        self._pending_handshakes = 0
        self._sync_task: asyncio.Task[None] | None = None
        self._seen_transactions = SeenSet(self.config.seen_capacity)
        self._seen_consensus = SeenSet(self.config.seen_capacity)
        self._stopping = False

    # -- lifecycle ------------------------------------------------------------------------------

    def clock(self) -> float:
        """The monotonic clock every PeerConnection deadline is measured in."""
        return asyncio.get_running_loop().time()

    @property
    def port(self) -> int:
        """The TCP port we listen on (useful with port 0); raises RuntimeError before start."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the network service is not listening; call start() first")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Listen on `config.host:config.port` and start dialing the static peers."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _AcceptProtocol(self), host=self.config.host, port=self.config.port
        )
        logger.info(
            "node %s listening on %s:%d",
            format_address(self.address),
            self.config.host,
            self.port,
        )
        for endpoint in self.config.static_peers:
            self.add_static_peer(endpoint)

    async def stop(self) -> None:
        """Close every link with SHUTTING_DOWN, stop dialing and listening."""
        self._stopping = True
        if self._server is not None:
            self._server.close()
        sessions = list(self._all_sessions)
        for session in sessions:
            session.close(DisconnectReason.SHUTTING_DOWN, "node shutting down")
        waits = [session.finished.wait() for session in sessions]
        if waits:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*waits), 5.0)
        tasks = list(self._tasks)
        if self._sync_task is not None:
            tasks.append(self._sync_task)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def add_static_peer(self, endpoint: PeerEndpoint) -> None:
        """Keep a link to `endpoint`, redialing with backoff whenever it is down."""
        if endpoint.address == self.address or endpoint.address in self._dialing:
            return
        self._dialing.add(endpoint.address)
        self._spawn(self._dial_loop(endpoint))

    def _spawn(self, coroutine: Coroutine[object, object, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- views ----------------------------------------------------------------------------------

    def local_hello(self) -> Hello:
        """Return our Hello with the current head."""
        head = self._block_source.chain_head()
        return Hello(
            protocol_version=PROTOCOL_VERSION,
            chain_id=self._chain.chain_id,
            genesis_hash=self._chain.genesis_hash,
            node_address=self.address,
            head_number=head.number,
            head_hash=head.hash,
        )

    def peers(self) -> list[PeerInfo]:
        """Return the connected (handshake completed) peers, sorted by address."""
        return [
            PeerInfo(
                address=address,
                organisation=session.admitted.entry.organisation,
                role=session.admitted.entry.role,
                outbound=session.outbound,
                head_number=(session.connection.remote_head or (0, b""))[0],
            )
            for address, session in sorted(self._sessions.items())
        ]

    async def wait_for_peers(self, count: int, timeout: float) -> None:
        """Wait until at least `count` peers are connected; raise TimeoutError after `timeout`."""

        async def wait() -> None:
            while len(self._sessions) < count:
                self._peers_changed.clear()
                await self._peers_changed.wait()

        await asyncio.wait_for(wait(), timeout)

    # -- what the node calls --------------------------------------------------------------------

    def broadcast_transactions(self, raw_transactions: Sequence[bytes]) -> None:
        """Gossip transactions the node accepted locally (e.g. from JSON-RPC) to every peer."""
        fresh = tuple(raw for raw in raw_transactions if self._seen_transactions.add(keccak(raw)))
        if fresh:
            self._send_to_all(lambda session: self._send_transactions(session, fresh), None)

    def broadcast_consensus(self, code: int, data: bytes) -> None:
        """Send one of our consensus messages to every connected validator.

        Member (non-validator) nodes follow the chain by head announcements and sync; QBFT
        traffic would only load them.
        """
        self._seen_consensus.add(message_digest(code.to_bytes(8, "big"), data))
        self._send_to_validators(code, data, exclude=None)

    def announce_head(self) -> None:
        """Tell every peer our latest finalized head (call after each block is finalized)."""
        head = self._block_source.chain_head()
        now = self.clock()
        self._send_to_all(
            lambda session: session.connection.send_status(head.number, head.hash, now), None
        )

    async def request_blocks(
        self, address: NodeAddress, start: int, count: int
    ) -> tuple[bytes, ...]:
        """Fetch up to `count` blocks from `start` from peer `address`; raise SyncFailed."""
        session = self._sessions.get(address)
        if session is None:
            raise SyncFailed(f"not connected to {format_address(address)}")
        try:
            request_id = session.connection.request_blocks(start, count, self.clock())
        except (PeerNotReady, TooManyRequests) as error:
            raise SyncFailed(str(error)) from error
        future: asyncio.Future[tuple[bytes, ...]] = asyncio.get_running_loop().create_future()
        session.requests[request_id] = future
        session.flush()
        session.timer_changed.set()
        return await future

    def update_permissions(
        self,
        permissions: PermissionList,
        revocation_list: x509.CertificateRevocationList | None = None,
    ) -> None:
        """Adopt a new permission list (and CRL) and drop connected peers they no longer admit."""
        self._gate.update_permissions(permissions, revocation_list)
        self.recheck_peers()

    def recheck_peers(self) -> None:
        """Admit every connected peer again (the on-chain list may have changed); drop refusals."""
        now = self._wall_clock()
        for session in list(self._sessions.values()):
            try:
                self._gate.admit(session.certificate_der, now)
            except PeerRefused as refusal:
                logger.warning("dropping peer %s: %s", session.label, refusal)
                session.close(DisconnectReason.NOT_PERMITTED, str(refusal))

    # -- sending helpers ------------------------------------------------------------------------

    def _send_to_all(
        self, send: Callable[[PeerSession], None], exclude: NodeAddress | None
    ) -> None:
        for address, session in list(self._sessions.items()):
            if address == exclude:
                continue
            try:
                send(session)
            except PeerNotReady:
                continue
            session.flush()

    def _send_transactions(self, session: PeerSession, raw: tuple[bytes, ...]) -> None:
        session.connection.send_transactions(raw, self.clock())

    def _send_to_validators(self, code: int, data: bytes, exclude: NodeAddress | None) -> None:
        now = self.clock()
        for address, session in list(self._sessions.items()):
            if address == exclude or session.admitted.entry.role is not Role.VALIDATOR:
                continue
            try:
                session.connection.send_consensus(code, data, now)
            except PeerNotReady:
                continue
            session.flush()

    # -- connections ----------------------------------------------------------------------------

    def accepted(
        self,
        transport: asyncio.Transport,
        protocol: asyncio.StreamReaderProtocol,
        reader: asyncio.StreamReader,
    ) -> None:
        """A TCP connection arrived (reading paused); start its TLS handshake in a task."""
        if self._stopping:
            transport.close()
            return
        if self._pending_handshakes >= self.config.max_pending_handshakes:
            logger.warning(
                "refused inbound connection from %s: %d TLS handshakes already pending",
                transport.get_extra_info("peername"),
                self._pending_handshakes,
            )
            transport.close()
            return
        self._pending_handshakes += 1
        self._spawn(self._accept(transport, protocol, reader))

    async def _accept(
        self,
        transport: asyncio.Transport,
        protocol: asyncio.StreamReaderProtocol,
        reader: asyncio.StreamReader,
    ) -> None:
        loop = asyncio.get_running_loop()
        peer = transport.get_extra_info("peername")
        remote = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        try:
            tls_transport = await loop.start_tls(
                transport,
                protocol,
                self._server_context,
                server_side=True,
                ssl_handshake_timeout=self.config.connect_timeout,
            )
        except (ssl.SSLError, OSError, TimeoutError) as error:
            logger.warning(
                "refused inbound connection from %s: %s: TLS handshake failed: %s",
                remote,
                classify_tls_failure(error).value,
                str(error) or type(error).__name__,
            )
            transport.close()
            return
        finally:
            self._pending_handshakes -= 1
        if tls_transport is None:  # the peer went away during the handshake
            transport.close()
            return
        writer = asyncio.StreamWriter(tls_transport, protocol, reader, loop)
        try:
            await self._serve(reader, writer, outbound=False, expected=None, remote=remote)
        except Exception:
            logger.exception("inbound connection from %s failed", remote)

    async def _dial_loop(self, endpoint: PeerEndpoint) -> None:
        attempt = 0
        while not self._stopping:
            if endpoint.address in self._sessions:
                await self._gone_event(endpoint.address).wait()
                continue
            connected = False
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(endpoint.host, endpoint.port, ssl=self._client_context),
                    self.config.connect_timeout,
                )
            except (ssl.SSLError, OSError, TimeoutError) as error:
                if isinstance(error, ssl.SSLError):
                    logger.warning(
                        "refused peer %s: %s: TLS handshake failed: %s",
                        endpoint,
                        classify_tls_failure(error).value,
                        error,
                    )
                else:
                    logger.info("dialing %s failed: %s", endpoint, str(error) or repr(error))
            else:
                connected = await self._serve(
                    reader, writer, outbound=True, expected=endpoint.address, remote=str(endpoint)
                )
            if connected:
                attempt = 0
            delay = self.config.backoff.delay(attempt, self._rng)
            attempt += 1
            logger.debug("redialing %s in %.2f s", endpoint, delay)
            await asyncio.sleep(delay)

    async def _serve(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        outbound: bool,
        expected: NodeAddress | None,
        remote: str,
    ) -> bool:
        """Admit and run one TLS link; return True when its Hello handshake completed."""
        if self._stopping:
            writer.close()
            return False
        ssl_object = writer.get_extra_info("ssl_object")
        certificate_der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        try:
            if not certificate_der:
                raise PeerRefused(RefusalReason.NO_CERTIFICATE, "peer presented no certificate")
            admitted = self._gate.admit(certificate_der, self._wall_clock(), expected)
            if admitted.address == self.address:
                raise PeerRefused(RefusalReason.UNEXPECTED_NODE, "connected to ourselves")
        except PeerRefused as refusal:
            direction = "outbound" if outbound else "inbound"
            logger.warning("refused %s peer %s: %s", direction, remote, refusal)
            if not writer.is_closing():
                writer.write(encode_message(Disconnect(DisconnectReason.NOT_PERMITTED, "refused")))
                writer.close()
            with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 2.0)
            return False
        session = PeerSession(self, reader, writer, admitted, certificate_der, outbound=outbound)
        self._all_sessions.add(session)
        try:
            await session.run()
        finally:
            self._all_sessions.discard(session)
        return session.handshake_completed

    def _gone_event(self, address: NodeAddress) -> asyncio.Event:
        event = self._peer_gone.get(address)
        if event is None:
            event = self._peer_gone[address] = asyncio.Event()
        return event

    def _prefer_new(self, new: PeerSession, existing: PeerSession) -> bool:
        """Both ends decide alike which of two links to one peer survives (see module doc)."""
        new_dialer = self.address if new.outbound else new.address
        existing_dialer = self.address if existing.outbound else existing.address
        if new_dialer == existing_dialer:
            return True
        return new_dialer < existing_dialer

    # -- events ---------------------------------------------------------------------------------

    def dispatch(self, session: PeerSession, event: PeerEvent) -> None:
        """Act on one event of `session`'s connection; called by the session only."""
        try:
            self._dispatch(session, event)
        except Exception:
            # A fault in the node's sink must not tear down the link or the loop; it is a bug to
            # fix, so it is logged with its traceback.
            logger.exception("handling %s from %s failed", type(event).__name__, session.label)

    def _dispatch(self, session: PeerSession, event: PeerEvent) -> None:
        match event:
            case HandshakeCompleted():
                self._on_handshake(session, event)
            case TransactionsReceived():
                fresh = [
                    raw
                    for raw in event.raw_transactions
                    if self._seen_transactions.add(keccak(raw))
                ]
                if fresh:
                    self._spawn(self._offer_transactions(fresh, session.address))
            case ConsensusReceived():
                digest = message_digest(event.code.to_bytes(8, "big"), event.data)
                if self._seen_consensus.add(digest):
                    self._consensus_sink.receive_consensus(event.code, event.data, session.address)
                    self._send_to_validators(event.code, event.data, exclude=session.address)
            case StatusReceived():
                self._maybe_sync()
            case BlocksRequested():
                self._spawn(self._serve_blocks(session, event))
            case BlocksReceived():
                future = session.requests.pop(event.request_id, None)
                if future is not None and not future.done():
                    future.set_result(event.blocks)
            case BlockRequestFailed():
                future = session.requests.pop(event.request_id, None)
                if future is not None and not future.done():
                    future.set_exception(
                        SyncFailed(
                            f"blocks {event.start}..{event.start + event.count - 1} from "
                            f"{session.label}: {event.reason}"
                        )
                    )
            case ConnectionClosed():
                self._on_closed(session, event)

    async def _offer_transactions(self, fresh: list[bytes], sender: NodeAddress) -> None:
        try:
            accepted = tuple(await self._tx_sink.accept_transactions(fresh, sender))
        except Exception:
            logger.exception("the txpool failed on %d gossiped transactions", len(fresh))
            return
        if accepted:
            self._send_to_all(lambda other: self._send_transactions(other, accepted), sender)

    async def _serve_blocks(self, session: PeerSession, request: BlocksRequested) -> None:
        try:
            blocks = tuple(await self._block_source.encoded_blocks(request.start, request.count))
        except Exception:
            # Unanswered, the request times out at the peer, which asks elsewhere.
            logger.exception("reading blocks %d+%d failed", request.start, request.count)
            return
        if session.connection.closed:
            return
        session.connection.respond_blocks(request.request_id, blocks[: request.count], self.clock())
        session.flush()

    def _on_handshake(self, session: PeerSession, event: HandshakeCompleted) -> None:
        existing = self._sessions.get(session.address)
        if existing is not None and existing is not session:
            if self._prefer_new(session, existing):
                existing.close(DisconnectReason.DUPLICATE_CONNECTION, "a newer link is kept")
            else:
                session.close(DisconnectReason.DUPLICATE_CONNECTION, "an existing link is kept")
                return
        session.handshake_completed = True
        self._sessions[session.address] = session
        self._gone_event(session.address).clear()
        self._peers_changed.set()
        logger.info(
            "peer connected: %s, %s, head %d",
            session.label,
            session.admitted.entry.role.value,
            event.hello.head_number,
        )
        self._maybe_sync()

    def _on_closed(self, session: PeerSession, event: ConnectionClosed) -> None:
        if self._sessions.get(session.address) is session:
            del self._sessions[session.address]
            self._gone_event(session.address).set()
            self._peers_changed.set()
        refused_by_peer = event.reason in {
            DisconnectReason.REQUESTED,  # the link just dropped: TLS alert or reset
            DisconnectReason.NOT_PERMITTED,
        }
        if not session.handshake_completed and event.by_peer and refused_by_peer:
            # With TLS 1.3 the server checks our certificate after our side of the handshake is
            # done, so a refusal by the peer shows up here, as the link closing before Hello.
            logger.warning(
                "peer %s closed the link before the handshake completed (%s): it may not admit "
                "this node (certificate, revocation, permission list or chain)",
                session.label,
                event.detail,
            )
            return
        side = "peer" if event.by_peer else "we"
        quiet = event.reason in {
            DisconnectReason.REQUESTED,
            DisconnectReason.SHUTTING_DOWN,
            DisconnectReason.DUPLICATE_CONNECTION,
        }
        log = logger.info if quiet else logger.warning
        log(
            "peer disconnected: %s: %s closed with %s: %s",
            session.label,
            side,
            event.reason.name.lower().replace("_", "-"),
            event.detail,
        )

    # -- sync -----------------------------------------------------------------------------------

    def _maybe_sync(self) -> None:
        if self._block_importer is None or self._stopping:
            return
        if self._sync_task is not None and not self._sync_task.done():
            return
        head = self._block_source.chain_head().number
        if any(
            session.connection.remote_head is not None
            and session.connection.remote_head[0] >= head + self.config.sync_lag
            for session in self._sessions.values()
        ):
            self._sync_task = asyncio.ensure_future(self._run_sync())

    async def _run_sync(self) -> None:
        try:
            await self._synchronise()
        except Exception:
            # An importer bug must not kill the loop silently; the next announcement retries.
            logger.exception("sync stopped by an unexpected error")

    async def _synchronise(self) -> None:
        importer = self._block_importer
        if importer is None:
            return
        synced_any = False
        while not self._stopping:
            local = self._block_source.chain_head()
            ahead = [
                (session.connection.remote_head[0], address)
                for address, session in self._sessions.items()
                if session.connection.remote_head is not None
                and session.connection.remote_head[0] > local.number
            ]
            if not ahead:
                break
            _, address = max(ahead)
            try:
                blocks = await self.request_blocks(
                    address, local.number + 1, self.config.sync_batch
                )
            except SyncFailed as error:
                logger.warning("sync from %s failed: %s", format_address(address), error)
                break
            if not blocks:
                logger.warning(
                    "sync: %s announced a higher head but served no block %d",
                    format_address(address),
                    local.number + 1,
                )
                break
            try:
                head = await importer.import_blocks(blocks, address)
            except BlockImportRejected as error:
                logger.warning(
                    "sync: %s served an invalid block: %s", format_address(address), error
                )
                session = self._sessions.get(address)
                if session is not None:
                    session.close(DisconnectReason.PROTOCOL_ERROR, f"invalid block: {error}")
                break
            if head.number <= local.number:
                logger.warning(
                    "sync: importing blocks from %d did not advance the head (still %d); "
                    "stopping until the next announcement",
                    local.number + 1,
                    head.number,
                )
                break
            synced_any = True
            logger.info(
                "sync: imported up to block %d from %s", head.number, format_address(address)
            )
        if synced_any:
            self.announce_head()


class _AcceptProtocol(asyncio.StreamReaderProtocol):
    """Plain TCP accept that holds reading until TLS starts.

    `StreamWriter.start_tls` after `start_server` can lose the ClientHello: bytes that arrive
    before the upgrade land in the plain stream's buffer and the TLS layer never sees them. Pausing
    in `connection_made` keeps every byte in the socket until `loop.start_tls` takes over.
    """

    def __init__(self, service: NetworkService) -> None:
        self._plain_reader = asyncio.StreamReader(limit=READ_CHUNK)
        super().__init__(self._plain_reader)
        self._service = service

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not isinstance(transport, asyncio.Transport):
            transport.close()
            return
        transport.pause_reading()
        super().connection_made(transport)
        self._service.accepted(transport, self, self._plain_reader)

    def eof_received(self) -> bool:
        # The stream runs over TLS once accepted, where keeping a half-open socket means nothing;
        # the base class decided "plain" at connection_made and would ask for it.
        super().eof_received()
        return False
