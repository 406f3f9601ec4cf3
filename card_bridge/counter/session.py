"""`CounterSession`: the steps at the counter, shared by the text interface and the web page.

Each public method is one thing staff do — look up the service ID, redeem points, issue a
voucher — and returns an outcome object; it never prints and never raises for something a
person can act on (a refusal is a `Refused` with the counter's words). The front ends only
render outcomes, so the terminal and the tablet always behave alike.

Card handling, per operation: connect (exclusively) → JPKI → PIN tries left (a locked card is
refused before a challenge is spent) → certificate → ask the API → VERIFY the PIN → sign →
close (the card is reset) → send the card's answer. A card pulled out at any step ends that
operation with "card removed", and the next operation opens a fresh connection, so the counter
works again with the next card without a restart.

Redemptions follow the configured `SigningMode`: with TERMINAL (option B of
docs/terminal-requests.md) the card's answer brings back the unsigned redeem transaction, which
the API client signs with this terminal's own key and posts; the outcome is the same receipt.

Invariants: the PIN is a parameter that goes to `JpkiCard.verify_pin` once and nowhere else (not
to the API, not to a log, not into an outcome); one operation runs at a time (`_busy`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from card_bridge.counter.code128 import Barcode, NotEncodable, encode
from card_bridge.counter.config import DeliveryMode
from card_bridge.counter.keyboard import Keyboard, KeyboardUnavailable
from card_bridge.counter.labels import LabelContent, LabelFiles, LabelTooNarrow, write_label
from card_bridge.counter.ports import (
    ActionKind,
    CardAnswer,
    CardChallenge,
    CounterApi,
    PendingAction,
    Points,
    RedemptionResult,
    ServiceIdResult,
    SigningMode,
    TransactionRefused,
    VoucherResult,
)
from card_bridge.counter.refusals import (
    AmountInvalid,
    ApiRefusal,
    ApiUnavailable,
    CounterMessage,
    StatementMismatch,
    card_message,
)
from card_bridge.counter.statements import check_statement
from card_bridge.errors import CardBridgeError
from card_bridge.jpki import JpkiCard
from card_bridge.transport import ReaderService

MAX_AMOUNT = 10_000_000
"""No counter takes more than ten million points in one go; a typo of extra zeros is refused."""


@dataclass(frozen=True)
class Refused:
    """The operation did not happen; `message` says why and what to do."""

    message: CounterMessage


@dataclass(frozen=True)
class LookupDone:
    """A service ID, delivered the configured way, with notes for staff."""

    result: ServiceIdResult
    delivery: DeliveryMode
    barcode: Barcode
    label: LabelFiles | None
    typed: bool
    staff_notes: tuple[CounterMessage, ...]
    delivery_problem: CounterMessage | None = None
    """Set when the number was found but the chosen delivery failed (it is shown instead)."""


@dataclass(frozen=True)
class RedemptionDone:
    """Points were redeemed; the result has the remaining balance."""

    result: RedemptionResult


@dataclass(frozen=True)
class VoucherDone:
    """A voucher was issued."""

    result: VoucherResult


LookupOutcome = LookupDone | Refused
RedemptionOutcome = RedemptionDone | Refused
VoucherOutcome = VoucherDone | Refused

BUSY = CounterMessage(
    "busy",
    "ほかの処理を実行中です。終わってからもう一度お試しください。",
    "Another operation is in progress. Try again when it has finished.",
)


class CounterSession:
    """Runs counter operations against a `CounterApi` with cards from a `ReaderService`."""

    def __init__(
        self,
        *,
        api: CounterApi,
        readers: ReaderService,
        terminal_address: str,
        business: str,
        service_code: str,
        delivery: DeliveryMode,
        reader: str | None = None,
        card_timeout_seconds: float = 15.0,
        keyboard: Keyboard | None = None,
        press_enter_after_typing: bool = True,
        label_directory: Path = Path("labels"),
        label_width_mm: float = 62.0,
        clock: Callable[[], datetime],
        sign_transactions: SigningMode = SigningMode.API,
    ) -> None:
        self._api = api
        self._sign_transactions = sign_transactions
        self._readers = readers
        self._terminal_address = terminal_address
        self._business = business
        self._reader = reader
        self._card_timeout = card_timeout_seconds
        self._keyboard = keyboard
        self._press_enter = press_enter_after_typing
        self._label_directory = label_directory
        self._label_width_mm = label_width_mm
        self._clock = clock
        self._busy = threading.Lock()
        self.service_code = service_code
        self.delivery = delivery

    def look_up_service_id(
        self, pin: str, *, delivery: DeliveryMode | None = None
    ) -> LookupOutcome:
        """Card + PIN → the service ID, delivered by `delivery` (default: the configured mode)."""
        if not self._busy.acquire(blocking=False):
            return Refused(BUSY)
        try:
            return self._look_up(pin, delivery or self.delivery)
        finally:
            self._busy.release()

    def redeem(self, amount: int, pin: str) -> RedemptionOutcome:
        """Card + PIN → redeem `amount` points at this business; the result has the balance."""
        if not self._busy.acquire(blocking=False):
            return Refused(BUSY)
        try:
            outcome = self._run_action(ActionKind.REDEMPTION, amount, pin)
            if isinstance(outcome, Refused):
                return outcome
            if self._sign_transactions is SigningMode.TERMINAL:
                prepared = self._api.prepare_redemption(*outcome)
                return RedemptionDone(self._api.relay_redemption(prepared))
            return RedemptionDone(self._api.complete_redemption(*outcome))
        except (ApiRefusal, ApiUnavailable, TransactionRefused) as error:
            return Refused(error.message())
        finally:
            self._busy.release()

    def issue_voucher(self, amount: int, pin: str) -> VoucherOutcome:
        """Card + PIN → a voucher worth `amount` points; the result has the balance."""
        if not self._busy.acquire(blocking=False):
            return Refused(BUSY)
        try:
            outcome = self._run_action(ActionKind.VOUCHER, amount, pin)
            if isinstance(outcome, Refused):
                return outcome
            return VoucherDone(self._api.complete_voucher(*outcome))
        except (ApiRefusal, ApiUnavailable) as error:
            return Refused(error.message())
        finally:
            self._busy.release()

    # ---- steps ---------------------------------------------------------------------------

    def _look_up(self, pin: str, delivery: DeliveryMode) -> LookupOutcome:
        challenges: list[CardChallenge] = []

        def prepare() -> bytes:
            challenge = self._api.begin_lookup(service_code=self.service_code)
            challenges.append(challenge)
            return challenge.challenge

        try:
            card_answer = self._card_answer(pin, prepare)
            result = self._api.complete_lookup(challenges[0], card_answer)
        except _Stop as stop:
            return Refused(stop.message)
        except (ApiRefusal, ApiUnavailable) as error:
            return Refused(error.message())
        return self._deliver(result, delivery)

    def _run_action(
        self, kind: ActionKind, amount: int, pin: str
    ) -> tuple[PendingAction, CardAnswer] | Refused:
        """Open the action at the API and get the card's answer (the caller holds `_busy`)."""
        if not 1 <= amount <= MAX_AMOUNT:
            return Refused(AmountInvalid().message())
        actions: list[PendingAction] = []

        signing = SigningMode.API if kind is ActionKind.VOUCHER else self._sign_transactions

        def prepare() -> bytes:
            action = self._api.begin_action(kind, amount=Points(amount), signing=signing)
            if action.amount != amount:
                raise StatementMismatch(f"the API opened {action.amount}, not {amount}")
            check_statement(action, terminal=self._terminal_address, business=self._business)
            actions.append(action)
            return action.statement

        try:
            card_answer = self._card_answer(pin, prepare)
        except _Stop as stop:
            return Refused(stop.message)
        return actions[0], card_answer

    def _card_answer(self, pin: str, prepare: Callable[[], bytes]) -> CardAnswer:
        """Open the card, get what to sign from the API (`prepare`), verify the PIN, sign.

        The card is closed (and so reset) before this returns. Raises _Stop with the counter's
        words for every refusal, from the card or from the API.
        """
        try:
            connection = self._readers.connect(self._reader, timeout=self._card_timeout)
        except CardBridgeError as error:
            raise _Stop(card_message(error)) from None
        try:
            card = JpkiCard.open(connection)
            card.pin_tries_left()  # raises PinLocked before the API spends a challenge
            certificate = card.read_auth_certificate()
            try:
                to_sign = prepare()
            except (ApiRefusal, ApiUnavailable, StatementMismatch) as error:
                raise _Stop(error.message()) from None
            card.verify_pin(pin)
            signature = card.sign(to_sign)
        except CardBridgeError as error:
            raise _Stop(card_message(error)) from None
        finally:
            connection.close()
        return CardAnswer(certificate, signature)

    def _deliver(self, result: ServiceIdResult, delivery: DeliveryMode) -> LookupOutcome:
        notes = _staff_notes(result)
        try:
            barcode = encode(result.service_id)
        except NotEncodable:
            barcode = encode("?")
            if delivery is not DeliveryMode.SCREEN:
                problem = CounterMessage(
                    "not-encodable",
                    "この番号はバーコードにできません。画面の番号を入力してください。",
                    "This number cannot be a barcode; type the number shown on screen.",
                )
                return LookupDone(result, DeliveryMode.SCREEN, barcode, None, False, notes, problem)
        if delivery is DeliveryMode.KEYBOARD:
            return self._type(result, barcode, notes)
        if delivery is DeliveryMode.LABEL:
            return self._print_label(result, barcode, notes)
        return LookupDone(result, delivery, barcode, None, False, notes)

    def _type(
        self, result: ServiceIdResult, barcode: Barcode, notes: tuple[CounterMessage, ...]
    ) -> LookupDone:
        try:
            if self._keyboard is None:
                raise KeyboardUnavailable("no keyboard output is configured on this counter")
            self._keyboard.type_text(result.service_id, press_enter=self._press_enter)
        except KeyboardUnavailable:
            problem = CounterMessage(
                "keyboard-unavailable",
                "番号を自動入力できませんでした。画面の番号を入力してください。",
                "Could not type the number automatically; type the number shown on screen.",
            )
            return LookupDone(result, DeliveryMode.SCREEN, barcode, None, False, notes, problem)
        return LookupDone(result, DeliveryMode.KEYBOARD, barcode, None, True, notes)

    def _print_label(
        self, result: ServiceIdResult, barcode: Barcode, notes: tuple[CounterMessage, ...]
    ) -> LookupDone:
        content = LabelContent(
            result.service_name, result.service_id, result.valid_today_only, result.valid_on
        )
        try:
            files = write_label(
                self._label_directory, content, width_mm=self._label_width_mm, now=self._clock()
            )
        except (LabelTooNarrow, OSError):
            problem = CounterMessage(
                "label-failed",
                "ラベルを作成できませんでした。画面のバーコードを使ってください。",
                "Could not make the label; use the barcode on screen.",
            )
            return LookupDone(result, DeliveryMode.BARCODE, barcode, None, False, notes, problem)
        return LookupDone(result, DeliveryMode.LABEL, barcode, files, False, notes)


class _Stop(Exception):
    def __init__(self, message: CounterMessage) -> None:
        super().__init__(message.english)
        self.message = message


def _staff_notes(result: ServiceIdResult) -> tuple[CounterMessage, ...]:
    notes: list[CounterMessage] = []
    if result.address_changed:
        since = f"（{result.address_changed_on}）" if result.address_changed_on else ""
        notes.append(
            CounterMessage(
                "address-changed",
                f"【住所変更あり】{since}利用者の住所が変わっています。登録内容を確認してください。",
                "ADDRESS CHANGED: the resident's address has changed. Check the registration.",
            )
        )
    if result.valid_today_only:
        notes.append(
            CounterMessage(
                "valid-today-only",
                f"この番号・ラベルは本日（{result.valid_on}）限り有効です。",
                f"This number and label are valid today ({result.valid_on}) only.",
            )
        )
    return tuple(notes)
