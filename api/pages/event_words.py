"""Ledger events in plain words, Japanese first, e.g.
「川崎市が A01 に 200 ポイント付与（ボランティア）」.

Every sentence names the municipality by name (the code when this deployment does not know it),
the MyKey ID as it is on-chain (pseudonymous, 8 characters), amounts with thousands separators,
and the activity by its word. Events without a sentence of their own are named as
`Contract.Event`, so nothing on the ledger is hidden from the explorer.
"""

from __future__ import annotations

from collections.abc import Callable

from api.messages import Message
from api.municipalities import MUNICIPALITIES
from api.services.grants import ACTIVITIES
from contracts.events import LedgerEvent

ACTIVITY_CODES: dict[int, str] = {
    1: "volunteering",
    2: "event-participation",
    3: "health-walk-rally",
}
"""On-chain activity numbers (contracts.demo's ACTIVITY_*) to the API's activity names."""


def municipality_name(code: int, language: str) -> str:
    """Return the municipality's name for a uint32 code, or 「自治体 14130」 when unknown."""
    text = f"{code:05d}"
    for item in MUNICIPALITIES:
        if item.code == text:
            return item.name_en if language == "en" else item.name_ja
    return f"Municipality {text}" if language == "en" else f"自治体 {text}"


def activity_name(code: int, language: str) -> str:
    """Return the activity's word for an on-chain activity number."""
    name = ACTIVITY_CODES.get(code, "other")
    return ACTIVITIES[name].in_language(language)


def _amount(value: int) -> str:
    return f"{value:,}"


def describe(event: LedgerEvent, language: str) -> str:
    """Return one sentence saying what `event` did."""
    describer = _DESCRIBERS.get(event.name)
    if describer is None:
        return f"{event.contract}.{event.name}"
    return describer(event.args, language).in_language(language)


def _granted(args: dict[str, object], language: str) -> Message:
    town = municipality_name(int(args["municipality"]), language)  # type: ignore[call-overload]
    activity = activity_name(int(args["activity"]), language)  # type: ignore[call-overload]
    amount = _amount(int(args["amount"]))  # type: ignore[call-overload]
    who = args["mykeyId"]
    return Message(
        f"{town}が {who} に {amount} ポイント付与（{activity}）",
        f"{town} granted {amount} points to {who} ({activity})",
    )


def _redeemed(args: dict[str, object], language: str) -> Message:
    town = municipality_name(int(args["municipality"]), language)  # type: ignore[call-overload]
    amount = _amount(int(args["amount"]))  # type: ignore[call-overload]
    who, business = args["mykeyId"], args["business"]
    return Message(
        f"{who} が{town}のポイント {amount} を事業者 {business} で利用",
        f"{who} used {amount} {town} points at business {business}",
    )


def _refunded(args: dict[str, object], language: str) -> Message:
    town = municipality_name(int(args["municipality"]), language)  # type: ignore[call-overload]
    amount = _amount(int(args["amount"]))  # type: ignore[call-overload]
    who, business = args["mykeyId"], args["business"]
    return Message(
        f"事業者 {business} が {who} に{town}のポイント {amount} を返還",
        f"Business {business} refunded {amount} {town} points to {who}",
    )


def _expired(args: dict[str, object], language: str) -> Message:
    town = municipality_name(int(args["municipality"]), language)  # type: ignore[call-overload]
    amount = _amount(int(args["amount"]))  # type: ignore[call-overload]
    who = args["mykeyId"]
    return Message(
        f"{who} の{town}のポイント {amount} が有効期限切れ",
        f"{amount} {town} points of {who} expired",
    )


def _converted(args: dict[str, object], language: str) -> Message:
    town = municipality_name(int(args["homeMunicipality"]), language)  # type: ignore[call-overload]
    amount = _amount(int(args["amount"]))  # type: ignore[call-overload]
    who, partner = args["mykeyId"], args["partner"]
    return Message(
        f"{who} が提携企業 {partner} のポイントを{town}の {amount} ポイントに交換（予約中）",
        f"{who} converted partner {partner} points into {amount} {town} points (reserved)",
    )


def _reserve_placed(args: dict[str, object], language: str) -> Message:
    town = municipality_name(int(args["municipality"]), language)  # type: ignore[call-overload]
    amount = _amount(int(args["amount"]))  # type: ignore[call-overload]
    who = args["mykeyId"]
    how_ja = "（期限到来により自動）" if args.get("automatic") else ""
    how_en = " (automatically at the deadline)" if args.get("automatic") else ""
    return Message(
        f"{who} の予約ポイント {amount} を{town}の口座に受け取り{how_ja}",
        f"{who} placed {amount} reserved points in {town}{how_en}",
    )


def _voucher_issued(args: dict[str, object], language: str) -> Message:
    town = municipality_name(int(args["municipality"]), language)  # type: ignore[call-overload]
    amount = _amount(int(args["amount"]))  # type: ignore[call-overload]
    who = args["mykeyId"]
    return Message(
        f"{town}が {who} に {amount} 円分のポイント券を発行",
        f"{town} issued a voucher worth {amount} yen to {who}",
    )


def _voucher_redeemed(args: dict[str, object], language: str) -> Message:
    town = municipality_name(int(args["municipality"]), language)  # type: ignore[call-overload]
    amount = _amount(int(args["amount"]))  # type: ignore[call-overload]
    business = args["business"]
    return Message(
        f"{town}のポイント券（{amount} 円分）が事業者 {business} で利用",
        f"A {town} voucher worth {amount} yen was used at business {business}",
    )


def _registered(args: dict[str, object], language: str) -> Message:
    town = municipality_name(int(args["homeMunicipality"]), language)  # type: ignore[call-overload]
    who = args["mykeyId"]
    return Message(
        f"マイキーID {who} を登録（基本自治体：{town}）",
        f"MyKey ID {who} registered (home municipality: {town})",
    )


def _period_closed(args: dict[str, object], language: str) -> Message:
    town = municipality_name(int(args["municipality"]), language)  # type: ignore[call-overload]
    period = args["period"]
    return Message(f"{town}が精算期間 {period} を締め", f"{town} closed settlement period {period}")


def _payment(args: dict[str, object], language: str) -> Message:
    town = municipality_name(int(args["municipality"]), language)  # type: ignore[call-overload]
    amount = _amount(int(args["amount"]))  # type: ignore[call-overload]
    period = args["period"]
    return Message(
        f"{town}が精算期間 {period} の支払い {amount} 円を記録",
        f"{town} recorded a payment of {amount} yen for period {period}",
    )


_DESCRIBERS: dict[str, Callable[[dict[str, object], str], Message]] = {
    "PointsGranted": _granted,
    "PointsRedeemed": _redeemed,
    "PointsRefunded": _refunded,
    "PointsExpired": _expired,
    "PointsConverted": _converted,
    "ReservePlaced": _reserve_placed,
    "VoucherIssued": _voucher_issued,
    "VoucherRedeemed": _voucher_redeemed,
    "MykeyRegistered": _registered,
    "PeriodClosed": _period_closed,
    "PaymentRecorded": _payment,
}
