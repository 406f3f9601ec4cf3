"""PC/SC through pyscard: the only module in the project that imports `smartcard`.

`PcscReaders` lists readers and connects to a card; `PcscConnection` is the `CardConnection` the
JPKI layer talks through. Every pyscard status code is turned into a card-bridge error here, so
nothing above this module knows PC/SC exists.

Why it is shaped this way:
- pcscd notices a card (or its absence) by polling every 400 ms, so `connect` waits with
  SCardGetStatusChange and retries SCardConnect until the deadline, and a transmit that fails
  waits up to one poll interval to tell "card removed" from other link errors;
- the card is opened exclusively, so no other program can send commands between our VERIFY and
  our signature and borrow the verified PIN; on close the card is reset, so the PIN status never
  survives into the next resident's tap.
"""

from __future__ import annotations

import time
from typing import Any

from smartcard import scard

from card_bridge.errors import (
    CardCommunicationError,
    CardInUse,
    CardRemoved,
    NoCardPresent,
    PcscUnavailable,
    ReaderNotFound,
)
from card_bridge.transport import ReaderStatus

PRESENCE_POLL_SECONDS = 0.4
"""pcscd's card-presence polling interval."""

RETRY_SECONDS = 0.05

_NO_SERVICE = frozenset({scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED})
_NO_READERS = frozenset({scard.SCARD_E_NO_READERS_AVAILABLE, scard.SCARD_E_UNKNOWN_READER})
_REMOVED = frozenset({scard.SCARD_W_REMOVED_CARD, scard.SCARD_E_NO_SMARTCARD})
_NOT_YET = frozenset(
    {
        scard.SCARD_E_NO_SMARTCARD,
        scard.SCARD_W_REMOVED_CARD,
        scard.SCARD_E_NOT_READY,
        scard.SCARD_W_UNRESPONSIVE_CARD,
        scard.SCARD_W_UNPOWERED_CARD,
        scard.SCARD_E_SHARING_VIOLATION,
        scard.SCARD_E_PROTO_MISMATCH,
    }
)


def _message(code: int) -> str:
    return f"{scard.SCardGetErrorMessage(code)} (0x{code & 0xFFFFFFFF:08X})"


def _establish_context() -> Any:
    code, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if code in _NO_SERVICE:
        raise PcscUnavailable(
            "the PC/SC service is not running: start pcscd (`pcscd --foreground` as root, or "
            f"`systemctl start pcscd.socket`) and try again [{_message(code)}]"
        )
    if code != scard.SCARD_S_SUCCESS:
        raise PcscUnavailable(f"cannot talk to pcscd: {_message(code)}")
    return context


def _reader_names(context: Any) -> list[str]:
    code, names = scard.SCardListReaders(context, [])
    if code in _NO_READERS:
        return []
    if code in _NO_SERVICE:
        raise PcscUnavailable(f"pcscd stopped answering: {_message(code)}")
    if code != scard.SCARD_S_SUCCESS:
        raise CardCommunicationError(f"cannot list card readers: {_message(code)}")
    return list(names)


def _presence(context: Any, names: list[str], timeout: float) -> dict[str, bool]:
    """Return reader -> card present, waiting up to `timeout` for any change."""
    states = [(name, scard.SCARD_STATE_UNAWARE) for name in names]
    code, current = scard.SCardGetStatusChange(context, 0, states)
    if code != scard.SCARD_S_SUCCESS:
        raise CardCommunicationError(f"cannot read the readers' state: {_message(code)}")
    present = {name: bool(state & scard.SCARD_STATE_PRESENT) for name, state, _ in current}
    if timeout > 0 and not any(present.values()):
        known = [(name, state) for name, state, _ in current]
        code, current = scard.SCardGetStatusChange(context, int(timeout * 1000), known)
        if code == scard.SCARD_S_SUCCESS:
            present = {name: bool(state & scard.SCARD_STATE_PRESENT) for name, state, _ in current}
        elif code != scard.SCARD_E_TIMEOUT:
            raise CardCommunicationError(f"cannot wait for a card: {_message(code)}")
    return present


class PcscConnection:
    """An exclusive connection to one card; `transmit` raises card-bridge errors only."""

    def __init__(self, context: Any, card: Any, protocol: int, reader: str, atr: bytes) -> None:
        self._context = context
        self._card: Any = card
        self._pci = (
            scard.SCARD_PCI_T0 if protocol == scard.SCARD_PROTOCOL_T0 else scard.SCARD_PCI_T1
        )
        self._reader = reader
        self._atr = atr

    @property
    def reader(self) -> str:
        """The reader holding the card."""
        return self._reader

    @property
    def atr(self) -> bytes:
        """The card's answer to reset."""
        return self._atr

    def transmit(self, command: bytes) -> bytes:
        """Send one APDU; raise CardRemoved, PcscUnavailable or CardCommunicationError."""
        if self._card is None:
            raise CardCommunicationError("the card connection is already closed")
        code, response = scard.SCardTransmit(self._card, self._pci, list(command))
        if code == scard.SCARD_S_SUCCESS and len(response) >= 2:
            return bytes(response)
        # vpcd (and some readers) report a dropped card as an empty successful response.
        if code in _NO_SERVICE:
            raise PcscUnavailable(f"pcscd stopped during the operation: {_message(code)}")
        if code in _REMOVED or self._card_left():
            raise CardRemoved(
                f"the card was removed from {self._reader!r} during the operation: nothing was "
                "completed; put the card back and start again"
            )
        if code == scard.SCARD_S_SUCCESS:
            raise CardCommunicationError(f"the reader {self._reader!r} returned no status word")
        raise CardCommunicationError(f"the reader {self._reader!r} failed: {_message(code)}")

    def _card_left(self) -> bool:
        """After a failed transmit, wait up to one presence poll for pcscd to see the card go."""
        deadline = time.monotonic() + PRESENCE_POLL_SECONDS * 2.5
        while time.monotonic() < deadline:
            present = _presence(self._context, [self._reader], 0).get(self._reader, False)
            if not present:
                return True
            time.sleep(RETRY_SECONDS)
        return False

    def close(self) -> None:
        """Reset and release the card (the PIN status ends here), then the PC/SC context."""
        card, self._card = self._card, None
        if card is not None:
            scard.SCardDisconnect(card, scard.SCARD_RESET_CARD)
            scard.SCardReleaseContext(self._context)


class PcscReaders:
    """The `ReaderService` over pcscd."""

    def list_readers(self) -> list[ReaderStatus]:
        """Return every reader and whether it holds a card; raise PcscUnavailable."""
        context = _establish_context()
        try:
            names = _reader_names(context)
            present = _presence(context, names, 0) if names else {}
            return [ReaderStatus(name, present.get(name, False)) for name in names]
        finally:
            scard.SCardReleaseContext(context)

    def connect(self, reader: str | None, *, timeout: float) -> PcscConnection:
        """Connect exclusively to the card in `reader`, or in the first reader holding one.

        Waits up to `timeout` seconds. Raises PcscUnavailable, ReaderNotFound, NoCardPresent.
        """
        context = _establish_context()
        try:
            return self._connect(context, reader, time.monotonic() + timeout)
        except BaseException:
            scard.SCardReleaseContext(context)
            raise

    def _connect(self, context: Any, reader: str | None, deadline: float) -> PcscConnection:
        last_code = scard.SCARD_E_NO_SMARTCARD
        busy: str | None = None
        while True:
            names = _reader_names(context)
            if not names:
                raise ReaderNotFound("no card reader is attached: plug one in (or start vpcd)")
            if reader is not None and reader not in names:
                raise ReaderNotFound(f"no reader named {reader!r}; attached: {', '.join(names)}")
            wanted = [reader] if reader is not None else names
            remaining = max(0.0, deadline - time.monotonic())
            present = _presence(context, wanted, min(remaining, PRESENCE_POLL_SECONDS))
            for name in (name for name in wanted if present.get(name)):
                code, card, protocol = scard.SCardConnect(
                    context,
                    name,
                    scard.SCARD_SHARE_EXCLUSIVE,
                    scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
                )
                if code == scard.SCARD_S_SUCCESS:
                    return PcscConnection(context, card, protocol, name, _atr_of(card))
                if code in _NO_SERVICE:
                    raise PcscUnavailable(f"pcscd stopped: {_message(code)}")
                if code not in _NOT_YET:
                    raise CardCommunicationError(f"cannot connect to {name!r}: {_message(code)}")
                last_code = code
                busy = name if code == scard.SCARD_E_SHARING_VIOLATION else busy
            if time.monotonic() >= deadline:
                if busy is not None:
                    raise CardInUse(
                        f"another program is using the card in {busy!r}: close it and try again"
                    )
                where = repr(reader) if reader is not None else "any reader"
                raise NoCardPresent(
                    f"no card in {where} before the deadline: hold the My Number Card on the "
                    f"reader and try again [{_message(last_code)}]"
                )
            time.sleep(RETRY_SECONDS)


def _atr_of(card: Any) -> bytes:
    code, _reader, _state, _protocol, atr = scard.SCardStatus(card)
    return bytes(atr) if code == scard.SCARD_S_SUCCESS else b""
