"""A real SMTP server for tests (aiosmtpd on a free loopback port) that records what it accepts.

It can be told to answer a given status to the next messages, or to hold the N-th message
before answering (so a test can kill the sender while the server has not yet accepted it).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import Counter
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    """Return a loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RecordingHandler:
    """aiosmtpd handler: parses and keeps each accepted message."""

    def __init__(self) -> None:
        self.accepted: list[EmailMessage] = []
        self.replies: list[str] = []
        """Replies to give instead of accepting, one per message, before accepting again."""
        self.hold_at: int | None = None
        self.holding = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.hold_at is not None and len(self.accepted) + 1 == self.hold_at:
            self.hold_at = None
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.01)
            return "451 4.3.0 not accepted: the client went away"
        if self.replies:
            return self.replies.pop(0)
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.accepted.append(message)
        return "250 2.0.0 accepted"

    def message_ids(self) -> Counter[str]:
        """How often each Message-ID was accepted."""
        with self._lock:
            return Counter(str(message["Message-ID"]) for message in self.accepted)


class SmtpServer:
    """A started aiosmtpd controller with a RecordingHandler."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.handler = RecordingHandler()
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
