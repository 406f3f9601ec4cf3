"""The ports between the JPKI layer and a reader: what a transport and a reader service must do.

`card_bridge.pcsc` implements them over pyscard; tests implement them in memory (the virtual card
without a socket). The JPKI layer depends only on these Protocols, so most of its tests run in
milliseconds, and the counter terminal program can reuse the same layer.

Invariants: a transport hands raw bytes through unchanged; it raises `CardRemoved` when the card
went away and `CardCommunicationError` for other link failures, never a pyscard exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class Transport(Protocol):
    """A link to one card. Only `card_bridge.channel.GuardedChannel` calls `transmit`."""

    def transmit(self, command: bytes) -> bytes:
        """Send one command APDU; return the response APDU (data + SW1 SW2)."""
        ...


class CardConnection(Transport, Protocol):
    """A transport to a card in a named reader, which the caller closes."""

    @property
    def reader(self) -> str:
        """The name of the reader that holds the card."""
        ...

    @property
    def atr(self) -> bytes:
        """The card's answer to reset."""
        ...

    def close(self) -> None:
        """Release the card (leave it powered for the next user); safe to call twice."""
        ...


@dataclass(frozen=True)
class ReaderStatus:
    """One reader as PC/SC sees it."""

    name: str
    card_present: bool


class ReaderService(Protocol):
    """What the bridge needs from PC/SC: list readers and connect to a card."""

    def list_readers(self) -> list[ReaderStatus]:
        """Return every attached reader; raise PcscUnavailable when pcscd cannot be reached."""
        ...

    def connect(self, reader: str | None, *, timeout: float) -> CardConnection:
        """Connect to the card in `reader` (or the first reader holding a card when None).

        Waits up to `timeout` seconds for a card. Raises PcscUnavailable, ReaderNotFound,
        NoCardPresent.
        """
        ...
