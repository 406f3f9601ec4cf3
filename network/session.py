"""One admitted TLS link at run time: the sans-io connection driven by a reader and a timer task.

The session feeds received bytes and the loop's time into its `PeerConnection`, writes what it
queues, and passes every event to its owner (the `NetworkService`). Invariants: bytes are written
in the order the connection queued them; once the connection is closed the socket is closed too;
`finished` is set exactly when both tasks are done and the socket is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Protocol

from network.codec import DisconnectReason, Hello
from network.config import TransportConfig
from network.identity import format_address
from network.peer import PeerConnection, PeerEvent
from network.permissions import AdmittedPeer

READ_CHUNK = 64 * 1024


class SessionOwner(Protocol):
    """What a session needs from the service that runs it."""

    config: TransportConfig

    def clock(self) -> float:
        """The monotonic clock connection deadlines are measured in."""
        ...

    def local_hello(self) -> Hello:
        """Our Hello, with the current head."""
        ...

    def dispatch(self, session: PeerSession, event: PeerEvent) -> None:
        """Act on one event of `session`."""
        ...


class PeerSession:
    """One admitted TLS link: the sans-io connection plus its reader and timer tasks."""

    def __init__(
        self,
        service: SessionOwner,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        admitted: AdmittedPeer,
        certificate_der: bytes,
        *,
        outbound: bool,
    ) -> None:
        self.service = service
        self.reader = reader
        self.writer = writer
        self.admitted = admitted
        self.certificate_der = certificate_der
        self.outbound = outbound
        self.address = admitted.address
        self.connection = PeerConnection(
            local_hello=service.local_hello(),
            expected_address=admitted.address,
            now=service.clock(),
            config=service.config.peer,
        )
        self.requests: dict[int, asyncio.Future[tuple[bytes, ...]]] = {}
        self.timer_changed = asyncio.Event()
        self.handshake_completed = False
        self.finished = asyncio.Event()

    @property
    def label(self) -> str:
        direction = "outbound" if self.outbound else "inbound"
        return f"{format_address(self.address)} ({self.admitted.entry.organisation}, {direction})"

    def flush(self) -> None:
        """Write what the connection queued; drop a peer that does not keep up."""
        data = self.connection.data_to_send()
        if data and not self.writer.is_closing():
            self.writer.write(data)
        if self.writer.transport.get_write_buffer_size() > self.service.config.max_write_buffer:
            self.close(DisconnectReason.TIMEOUT, "peer reads too slowly: write buffer full")

    def handle(self, events: list[PeerEvent]) -> None:
        """Send what the events queued, then let the service act on them."""
        self.flush()
        for event in events:
            self.service.dispatch(self, event)
        if self.connection.closed and not self.writer.is_closing():
            self.writer.close()

    def close(self, reason: DisconnectReason, detail: str) -> None:
        """Close with a Disconnect to the peer."""
        events = self.connection.close(reason, detail, self.service.clock())
        data = self.connection.data_to_send()
        if data and not self.writer.is_closing():
            self.writer.write(data)
        for event in events:
            self.service.dispatch(self, event)
        if not self.writer.is_closing():
            self.writer.close()

    async def run(self) -> None:
        """Serve the link until either side closes it."""
        timer = asyncio.create_task(self._run_timer())
        try:
            self.flush()  # our Hello
            while not self.connection.closed:
                try:
                    data = await self.reader.read(READ_CHUNK)
                except (OSError, ssl.SSLError) as error:
                    self.handle(self.connection.connection_lost(f"connection lost: {error}"))
                    break
                if not data:
                    self.handle(self.connection.connection_lost("connection closed by the peer"))
                    break
                self.handle(self.connection.receive_data(data, self.service.clock()))
        finally:
            timer.cancel()
            if not self.connection.closed:
                self.handle(self.connection.connection_lost("connection task stopped"))
            if not self.writer.is_closing():
                self.writer.close()
            with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
                await asyncio.wait_for(self.writer.wait_closed(), 2.0)
            self.finished.set()

    async def _run_timer(self) -> None:
        while True:
            deadline = self.connection.get_timer()
            if deadline is None:
                return
            self.timer_changed.clear()
            delay = max(0.0, deadline - self.service.clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.timer_changed.wait(), delay)
            self.handle(self.connection.handle_timer(self.service.clock()))
