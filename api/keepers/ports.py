"""What the keepers need from the ledger, as a small port, and its web3.py adapter.

`KeeperLedger` is the whole surface the keepers use, so unit tests drive them with a fake ledger
and a fake clock. `Web3KeeperLedger` implements it over `api.chain.ledger.Web3Ledger` (JSON-RPC
only), sending as the platform: the contract lets anyone sweep. Its error contract is the
ledger's: a refusal raises an `ApiError` (nothing moved), an unreachable node `LedgerUnavailable`,
a transaction not seen final `SubmissionInDoubt`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from requests.exceptions import RequestException
from web3 import Web3
from web3.exceptions import Web3Exception

from api.chain.errors import LedgerRefused, from_revert
from api.chain.ledger import ExpirySwept, Web3Ledger
from api.chain.sender import TransactionNotFinal, TransactionReverted
from api.errors import LedgerUnavailable, SubmissionInDoubt
from api.messages import Message
from contracts.errors import LedgerRevert

RESERVE_SWEEP_STEPS = 64
"""Queue entries one `sweepReserves` transaction may pass (the contract's RESERVE_SWEEP_STEPS)."""

_T = TypeVar("_T")


class KeeperLedger(Protocol):
    """The ledger as the keepers see it."""

    def municipalities(self) -> list[int]:
        """Every admitted municipality code."""
        ...

    def block_time(self) -> int:
        """The latest block's timestamp: the time the ledger's rules are evaluated at."""
        ...

    def reserves_due(self, municipality: int) -> bool:
        """True when `sweepReserves(municipality, …)` has work to do now."""
        ...

    def sweep_reserves(self, municipality: int, max_steps: int) -> int:
        """Send one `sweepReserves`; return how many reserves it recorded as gone home."""
        ...

    def sweep_expired(self, mykey_id: str, municipality: int, account: int) -> ExpirySwept:
        """Send one `sweepExpired` for the account; return what it recorded."""
        ...


class Web3KeeperLedger:
    """`KeeperLedger` over JSON-RPC through the API's `Web3Ledger` (its sender and nonces)."""

    def __init__(self, ledger: Web3Ledger) -> None:
        self.ledger = ledger

    def _read(self, action: Callable[[], _T]) -> _T:
        try:
            return action()
        except LedgerRevert as error:
            raise from_revert(error) from None
        except TransactionReverted as error:
            raise LedgerRefused(Message("台帳が処理を拒否しました。", str(error))) from error
        except TransactionNotFinal as error:
            raise SubmissionInDoubt(
                Message(
                    "取引は送信されましたが、結果をまだ確認できません。",
                    f"The sweep was sent but is not final yet ({error}); the next run retries.",
                )
            ) from error
        except (RequestException, Web3Exception, OSError) as error:
            raise LedgerUnavailable(
                Message(
                    "台帳に接続できません。しばらくしてからもう一度お試しください。",
                    f"The ledger cannot be reached ({type(error).__name__}: {error}).",
                )
            ) from error

    def municipalities(self) -> list[int]:
        """Every admitted municipality code (Consortium.municipalityCodes)."""
        return self.ledger.municipalities()

    def block_time(self) -> int:
        """The latest block's timestamp."""
        return int(self._read(lambda: self.ledger.sender.w3.eth.get_block("latest")["timestamp"]))

    def reserves_due(self, municipality: int) -> bool:
        """Ask the contract itself: `sweepReserves(m, 0)` as a call returns whether work is due.

        With no steps allowed the call changes nothing and reports whether the head of the
        municipality's home queue is a reserve past its deadline or an entry already settled.
        """
        function = self.ledger.client.ledger.functions.sweepReserves(municipality, 0)
        platform = Web3.to_checksum_address(self.ledger.platform)
        return bool(self._read(lambda: function.call({"from": platform})))

    def sweep_reserves(self, municipality: int, max_steps: int) -> int:
        """Send `sweepReserves(municipality, max_steps)`; return the reserves it sent home."""
        sent = self._read(
            lambda: self.ledger.client_send(
                self.ledger.platform,
                self.ledger.client.ledger.functions.sweepReserves(municipality, max_steps),
            )
        )
        return len(sent.named("ReservePlaced"))

    def sweep_expired(self, mykey_id: str, municipality: int, account: int) -> ExpirySwept:
        """`Web3Ledger.sweep_expired`."""
        return self.ledger.sweep_expired(mykey_id, municipality, account)
