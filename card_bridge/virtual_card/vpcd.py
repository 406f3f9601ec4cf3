"""The link between a virtual card and the vpcd reader driver inside pcscd.

vpcd listens (reader `Virtual PCD 00 00` on 127.0.0.1:35963, `... 00 01` on 35964); a card
"enters the reader" by connecting to it and "leaves" by closing the socket. Each message is a
2-byte big-endian length then the payload: one byte is a control code (0 power off, 1 power on,
2 reset, 4 send the ATR), anything longer is a command APDU answered in the same framing.

Invariants: one thread serves one connection and is joined on `disconnect`; `TCP_QUICKACK` is set
before every read because vpcd writes the length and the payload separately, and delayed ACK
would otherwise add about 40 ms to every APDU; the socket only ever connects to loopback.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from card_bridge.virtual_card.card import ATR, CardWithdrawn, VirtualMyNumberCard

logger = logging.getLogger(__name__)

VPCD_HOST = "127.0.0.1"
VPCD_PORT = 35963
"""vpcd's first reader, `Virtual PCD 00 00`."""

VPCD_READER = "Virtual PCD 00 00"

CONTROL_POWER_OFF = 0
CONTROL_POWER_ON = 1
CONTROL_RESET = 2
CONTROL_ATR = 4


@contextlib.contextmanager
def reader_lock(port: int = VPCD_PORT) -> Iterator[None]:
    """Hold an exclusive lock on one vpcd reader for as long as the block runs.

    vpcd accepts one card per port, so test sessions and benchmarks that share a machine take
    turns: the second waits here instead of stealing the first one's reader.
    """
    path = Path(tempfile.gettempdir()) / f"mykey-vpcd-{port}.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class VpcdUnavailable(Exception):
    """vpcd did not accept the connection (pcscd not running, or vpcd not installed)."""


class VpcdLink:
    """Puts a virtual card into a vpcd reader for as long as the link is connected."""

    def __init__(
        self, card: VirtualMyNumberCard, *, host: str = VPCD_HOST, port: int = VPCD_PORT
    ) -> None:
        self.card = card
        self._address = (host, port)
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.withdrawn = threading.Event()
        """Set when the link closed, by `disconnect` or because the card was withdrawn."""

    def connect(self, timeout: float = 5.0) -> None:
        """Connect to vpcd, retrying until `timeout`; raise VpcdUnavailable if it never answers."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                connection = socket.create_connection(self._address, timeout=1.0)
                break
            except OSError as error:
                if time.monotonic() >= deadline:
                    raise VpcdUnavailable(
                        f"vpcd is not listening on {self._address[0]}:{self._address[1]} ({error}):"
                        " start pcscd with the vsmartcard-vpcd driver installed"
                    ) from None
                time.sleep(0.05)
        connection.settimeout(None)
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket = connection
        self.withdrawn.clear()
        self._thread = threading.Thread(target=self._serve, name="virtual-card-vpcd", daemon=True)
        self._thread.start()

    def disconnect(self) -> None:
        """Take the card out of the reader: close the socket and join the serving thread."""
        connection, self._socket = self._socket, None
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        self._thread = None
        self.withdrawn.set()

    def __enter__(self) -> VpcdLink:
        self.connect()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.disconnect()

    def _serve(self) -> None:
        connection = self._socket
        if connection is None:
            return
        try:
            while True:
                payload = _receive(connection)
                if payload is None:
                    break
                answer = self._answer(payload)
                if answer is not None:
                    connection.sendall(len(answer).to_bytes(2, "big") + answer)
        except CardWithdrawn:
            logger.info("virtual card withdrawn mid-command, as the test asked")
        except OSError:
            pass  # the socket was closed under us: that is how `disconnect` stops this thread
        finally:
            with contextlib.suppress(OSError):
                connection.close()
            self.withdrawn.set()

    def _answer(self, payload: bytes) -> bytes | None:
        if len(payload) == 1:
            code = payload[0]
            if code in (CONTROL_POWER_ON, CONTROL_RESET, CONTROL_POWER_OFF):
                self.card.power_on()
                return None
            if code == CONTROL_ATR:
                return ATR
            logger.warning("vpcd sent unknown control code %d", code)
            return None
        return self.card.process(payload)


def _receive(connection: socket.socket) -> bytes | None:
    header = _receive_exactly(connection, 2)
    if header is None:
        return None
    return _receive_exactly(connection, int.from_bytes(header, "big"))


def _receive_exactly(connection: socket.socket, count: int) -> bytes | None:
    data = bytearray()
    while len(data) < count:
        # Re-armed before every read: Linux clears quick-ACK mode after it sends an ACK.
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        chunk = connection.recv(count - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)
