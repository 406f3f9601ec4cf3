"""Outcomes in words: the lines both front ends show for a lookup, a redemption or a voucher.

The text interface prints these lines; the web page puts the same lines into HTML. Japanese
first, English after, as on the API's pages.

Invariants: the service ID appears only in a lookup's lines (it is what staff need); a PIN never
reaches this module.
"""

from __future__ import annotations

from dataclasses import dataclass

from card_bridge.counter.config import DeliveryMode
from card_bridge.counter.refusals import CounterMessage
from card_bridge.counter.session import LookupDone, RedemptionDone, Refused, VoucherDone

DELIVERY_CHOICES: tuple[tuple[DeliveryMode, str, str], ...] = (
    (DeliveryMode.SCREEN, "画面に番号を表示", "Show the number on screen"),
    (DeliveryMode.BARCODE, "バーコードを表示して読み取る", "Show a barcode to scan"),
    (DeliveryMode.KEYBOARD, "入力欄に自動入力", "Type it into the focused application"),
    (DeliveryMode.LABEL, "バーコードラベルを作成", "Make a barcode label to print"),
)
"""The lookup form's delivery choices in the order of DOMAIN.md flow 2 (A-D), with their words."""


@dataclass(frozen=True)
class Line:
    """One line of an outcome; `emphasis` marks what staff must notice (refusals, flags)."""

    japanese: str
    english: str
    emphasis: bool = False


def message_line(message: CounterMessage, *, emphasis: bool = True) -> Line:
    """A counter message as a line."""
    return Line(message.japanese, message.english, emphasis)


def refusal_lines(outcome: Refused) -> list[Line]:
    """What a refusal shows."""
    return [Line("できませんでした", "Not done", True), message_line(outcome.message)]


def lookup_lines(outcome: LookupDone) -> list[Line]:
    """What a lookup shows: the number, how it was delivered, and the staff notes."""
    result = outcome.result
    lines = [
        Line(f"{result.service_name} の利用者番号", f"Customer number at {result.service_name}"),
        Line(result.service_id, result.service_id),
    ]
    if outcome.delivery_problem is not None:
        lines.append(message_line(outcome.delivery_problem))
    if outcome.delivery is DeliveryMode.KEYBOARD and outcome.typed:
        lines.append(Line("番号を入力欄に自動入力しました。", "The number was typed into the app."))
    if outcome.delivery is DeliveryMode.LABEL and outcome.label is not None:
        lines.append(
            Line(
                f"ラベルを作成しました: {outcome.label.pdf.name}",
                f"Label ready to print: {outcome.label.pdf.name}",
            )
        )
    if outcome.delivery is DeliveryMode.BARCODE:
        lines.append(Line("バーコードを読み取ってください。", "Scan the barcode."))
    lines += [message_line(note) for note in outcome.staff_notes]
    return lines


def redemption_lines(outcome: RedemptionDone) -> list[Line]:
    """What a redemption shows: amount and remaining balance."""
    result = outcome.result
    return [
        Line("ポイントを利用しました", "Points redeemed", True),
        Line(f"利用ポイント: {result.amount:,}", f"Redeemed: {result.amount:,} points"),
        Line(
            f"残りポイント: {result.remaining_balance:,}"
            f"（自治体コード {result.municipality_code}）",
            f"Remaining: {result.remaining_balance:,} points "
            f"(municipality {result.municipality_code})",
        ),
    ]


def voucher_lines(outcome: VoucherDone) -> list[Line]:
    """What a voucher issue shows: the voucher code, value, end date and remaining balance."""
    result = outcome.result
    return [
        Line("ポイント券を発行しました", "Voucher issued", True),
        Line(f"券番号: {result.voucher_code}", f"Voucher code: {result.voucher_code}"),
        Line(
            f"額面: {result.face_value:,} ポイント（{result.valid_until} まで有効）",
            f"Value: {result.face_value:,} points (valid until {result.valid_until})",
        ),
        Line(
            f"残りポイント: {result.remaining_balance:,}",
            f"Remaining: {result.remaining_balance:,} points",
        ),
    ]


def outcome_lines(outcome: LookupDone | RedemptionDone | VoucherDone | Refused) -> list[Line]:
    """Dispatch to the right renderer."""
    if isinstance(outcome, Refused):
        return refusal_lines(outcome)
    if isinstance(outcome, LookupDone):
        return lookup_lines(outcome)
    if isinstance(outcome, RedemptionDone):
        return redemption_lines(outcome)
    return voucher_lines(outcome)
