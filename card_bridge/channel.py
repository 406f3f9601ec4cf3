"""The one place where command bytes leave for a card, behind the allow-list.

`GuardedChannel.transmit` is the only caller of `Transport.transmit` in the package (a test
checks this on the source). It asks `allow_list.admit` first, so a command that is not on the
allow-list raises before any byte reaches the reader, and it tracks what is selected so the rules
about EFs hold for the whole session.

Invariants: log lines carry only `CommandApdu.redacted()` and the status word, never VERIFY data;
after a SELECT that the card refused the selection is forgotten, so the channel never believes a
file is selected that is not (other commands do not change what is selected).
"""

from __future__ import annotations

import logging

from card_bridge.allow_list import NOTHING_SELECTED, Selection, admit
from card_bridge.apdu import INS_SELECT, CommandApdu, ResponseApdu
from card_bridge.errors import CardCommunicationError
from card_bridge.transport import Transport

logger = logging.getLogger(__name__)


class GuardedChannel:
    """A transport with the allow-list in front of it."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._selection = NOTHING_SELECTED

    @property
    def selection(self) -> Selection:
        """What the channel believes the card has selected."""
        return self._selection

    def transmit(self, command: CommandApdu) -> ResponseApdu:
        """Check `command` against the allow-list, send it, and return the parsed response.

        Raises ApduNotAllowed (nothing was sent), CardRemoved, CardCommunicationError.
        """
        selection_after = admit(command, self._selection)
        logger.debug("card <- %s", command.redacted())
        raw = self._transport.transmit(command.to_bytes())
        try:
            response = ResponseApdu.parse(raw)
        except ValueError as error:
            self._selection = NOTHING_SELECTED
            raise CardCommunicationError(
                f"the reader returned a broken response: {error}"
            ) from None
        logger.debug("card -> SW %04X (%d data bytes)", response.status_word, len(response.data))
        failed_select = command.ins == INS_SELECT and not response.ok
        self._selection = NOTHING_SELECTED if failed_select else selection_after
        return response
