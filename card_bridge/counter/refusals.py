"""Every refusal the counter can meet, each with the plain Japanese and English a counter shows.

Two families: `ApiRefusal` (the platform said no: a problem-details `type` from the API, see
docs/terminal-requests.md) and card trouble (the card bridge's own errors, in `card_message`).
Both end as a `CounterMessage` the front ends print as they are; neither front end words a
refusal itself, so the text interface and the web page always say the same thing.

Invariants: no message carries a PIN, a certificate or a service ID; each says what to do next.
"""

from __future__ import annotations

from dataclasses import dataclass

from card_bridge.errors import (
    CardBridgeError,
    CardInUse,
    CardRemoved,
    InvalidPinFormat,
    NoCardPresent,
    NotMyNumberCard,
    PcscUnavailable,
    PinLocked,
    ReaderNotFound,
    WrongPin,
)

PROBLEM_TYPE_PREFIX = "urn:mykey-ledger:problem:"
"""The API's problem `type` values are this prefix and a code (api/problems.py uses the same)."""


@dataclass(frozen=True)
class CounterMessage:
    """What the counter says: a short code, Japanese first, then English."""

    code: str
    japanese: str
    english: str

    def __str__(self) -> str:
        return f"{self.japanese} / {self.english}"


class CounterError(Exception):
    """Base of the counter program's own errors."""


class ApiRefusal(CounterError):
    """The API refused the request with a problem-details answer of a known type."""

    code = "refused"
    japanese = "処理できませんでした。係員にお知らせください。"
    english = "The request was refused. Please tell the staff."

    def __init__(
        self, detail: str = "", *, status: int = 0, extra: dict[str, object] | None = None
    ):
        super().__init__(detail or self.english)
        self.detail = detail
        self.status = status
        self.extra = dict(extra or {})

    def message(self) -> CounterMessage:
        """Return the counter's words for this refusal."""
        return CounterMessage(self.code, self.japanese, self.english)


class NotEnoughPoints(ApiRefusal):
    code = "insufficient-points"
    japanese = "ポイントが足りません。"
    english = "Not enough points."

    def message(self) -> CounterMessage:
        balance = self.extra.get("balance")
        if isinstance(balance, int):
            return CounterMessage(
                self.code,
                f"ポイントが足りません（残高 {balance:,} ポイント）。金額を減らしてください。",
                f"Not enough points (balance {balance:,} points). Enter a smaller amount.",
            )
        return super().message()


class WrongBusiness(ApiRefusal):
    code = "wrong-business"
    japanese = "この店舗ではこの自治体のポイントは使えません。"
    english = "This business does not take this municipality's points."


class TerminalNotRegistered(ApiRefusal):
    code = "terminal-not-registered"
    japanese = "この端末は登録されていません。事業者の管理者に登録を依頼してください。"
    english = "This terminal is not registered. Ask the business's administrator to register it."


class WrongTerminalKind(ApiRefusal):
    code = "terminal-wrong-kind"
    japanese = "この端末ではこの操作はできません（端末の種類が違います）。"
    english = "This terminal is not registered for this kind of operation."


class RequestRejected(ApiRefusal):
    code = "terminal-request-invalid"
    japanese = "端末の署名が確認できませんでした。端末の時計と設定を確認してください。"
    english = "The terminal's signature was not accepted. Check the terminal's clock and settings."


class MykeyIdRevoked(ApiRefusal):
    code = "mykey-id-revoked"
    japanese = "このカードのマイキーIDは失効しています。マイページまたは窓口で再登録してください。"
    english = "This card's MyKey ID is revoked. Re-register on My Page or at the municipal office."


class MykeyIdMissing(ApiRefusal):
    code = "mykey-id-not-registered"
    japanese = "このカードにはマイキーIDが登録されていません。マイページで登録してください。"
    english = "This card has no MyKey ID. Register one on My Page first."


class ServiceLinkMissing(ApiRefusal):
    code = "service-link-missing"
    japanese = "このサービスの利用者番号がマイキーIDに登録されていません。"
    english = "No customer number of this service is linked to this MyKey ID."


class ServiceLinkExpired(ApiRefusal):
    code = "service-link-expired"
    japanese = "このサービスの利用者カードは有効期限が切れています。窓口で更新してください。"
    english = "This service's customer card has expired. Renew it at the counter."


class CardCertificateRefused(ApiRefusal):
    code = "card-certificate-refused"
    japanese = "カードの電子証明書が有効ではありません（期限切れまたは失効）。市区町村の窓口へ。"
    english = (
        "The card's certificate is not valid (expired or revoked). Visit the municipal office."
    )


class CardAnswerRefused(ApiRefusal):
    code = "card-answer-invalid"
    japanese = "カードの確認ができませんでした。もう一度カードをかざしてください。"
    english = "The card's answer could not be verified. Hold the card to the reader again."


class ChallengeExpired(ApiRefusal):
    code = "challenge-expired"
    japanese = "時間切れです。最初からやり直してください。"
    english = "Time ran out. Please start again."


class AmountInvalid(ApiRefusal):
    code = "amount-invalid"
    japanese = "金額が正しくありません（1 以上の整数）。"
    english = "The amount is not valid (a whole number of 1 or more)."


class TerminalKeyNotHeld(ApiRefusal):
    code = "terminal-key-not-held"
    japanese = "サーバーはこの端末の鍵を預かっていません。端末で署名する設定にしてください。"
    english = (
        "The server holds no key for this terminal. Set the terminal to sign its transactions."
    )


class TransactionMismatch(ApiRefusal):
    code = "transaction-mismatch"
    japanese = "署名した取引が準備された内容と違います。もう一度お試しください。"
    english = "The signed transaction differs from the prepared one. Please try again."


class ActionExpired(ApiRefusal):
    code = "action-expired"
    japanese = "この支払いの受付時間が過ぎました。最初からやり直してください。"
    english = "This payment is no longer open. Please start again."


class AlreadyRelayed(ApiRefusal):
    code = "already-relayed"
    japanese = "この支払いは既に送信済みです。残高を確認してください。"
    english = "This payment was already sent. Check the balance before trying again."


class SignedByAnotherAccount(ApiRefusal):
    code = "signed-by-another-account"
    japanese = "端末の鍵が登録と違います。事業者の管理者に端末の設定を確認してもらってください。"
    english = "The terminal signed with another key. Ask the business's administrator to check it."


class ApiUnavailable(CounterError):
    """The API could not be reached or answered something that is not the protocol."""

    def message(self) -> CounterMessage:
        return CounterMessage(
            "api-unavailable",
            "サーバーに接続できません。ネットワークを確認し、もう一度お試しください。",
            "Cannot reach the server. Check the network and try again.",
        )


class StatementMismatch(CounterError):
    """The API asked the card to sign something other than what the counter asked for."""

    def message(self) -> CounterMessage:
        return CounterMessage(
            "statement-mismatch",
            "サーバーの応答が依頼内容と一致しないため、カードで署名しませんでした。係員へ。",
            "The server's reply did not match the request, so the card did not sign. Tell staff.",
        )


REFUSALS: dict[str, type[ApiRefusal]] = {
    refusal.code: refusal
    for refusal in (
        NotEnoughPoints,
        WrongBusiness,
        TerminalNotRegistered,
        WrongTerminalKind,
        RequestRejected,
        MykeyIdRevoked,
        MykeyIdMissing,
        ServiceLinkMissing,
        ServiceLinkExpired,
        CardCertificateRefused,
        CardAnswerRefused,
        ChallengeExpired,
        AmountInvalid,
        TerminalKeyNotHeld,
        TransactionMismatch,
        ActionExpired,
        AlreadyRelayed,
        SignedByAnotherAccount,
    )
}
"""Problem code -> refusal class; the HTTP client raises these, the fake API in tests sends them."""


_CARD_MESSAGES: tuple[tuple[type[CardBridgeError], CounterMessage], ...] = (
    (
        PinLocked,
        CounterMessage(
            "card-locked",
            "カードの暗証番号がロックされています。市区町村の窓口で解除してください。",
            "The card's PIN is locked. The resident must have it reset at the municipal office.",
        ),
    ),
    (
        InvalidPinFormat,
        CounterMessage(
            "pin-format",
            "暗証番号は数字 4 桁です（カードには送っていません）。",
            "The PIN is 4 digits (nothing was sent to the card).",
        ),
    ),
    (
        CardRemoved,
        CounterMessage(
            "card-removed",
            "途中でカードが離れました。何も処理されていません。もう一度カードを置いてください。",
            "The card was taken away mid-way. Nothing was done. Put the card back and start again.",
        ),
    ),
    (
        NoCardPresent,
        CounterMessage(
            "no-card",
            "カードが読み取れません。マイナンバーカードをリーダーに置いてください。",
            "No card found. Place the My Number Card on the reader.",
        ),
    ),
    (
        ReaderNotFound,
        CounterMessage(
            "no-reader",
            "カードリーダーが見つかりません。接続を確認してください。",
            "No card reader found. Check that it is connected.",
        ),
    ),
    (
        PcscUnavailable,
        CounterMessage(
            "no-pcsc",
            "カードリーダーのサービス（pcscd）が動いていません。係員にお知らせください。",
            "The card reader service (pcscd) is not running. Please tell the staff.",
        ),
    ),
    (
        CardInUse,
        CounterMessage(
            "card-in-use",
            "別のプログラムがカードを使用中です。閉じてからもう一度お試しください。",
            "Another program is using the card. Close it and try again.",
        ),
    ),
    (
        NotMyNumberCard,
        CounterMessage(
            "not-my-number-card",
            "マイナンバーカードではありません。マイナンバーカードを置いてください。",
            "This is not a My Number Card. Please use a My Number Card.",
        ),
    ),
)
_CARD_FAILED = CounterMessage(
    "card-error",
    "カードの読み取りに失敗しました。カードを置き直してもう一度お試しください。",
    "The card could not be read. Place it again and retry.",
)


def card_message(error: CardBridgeError) -> CounterMessage:
    """Return the counter's words for a card-bridge error (never the PIN, never a stack trace)."""
    if isinstance(error, WrongPin):
        left = error.tries_left
        return CounterMessage(
            "wrong-pin",
            f"暗証番号が違います。あと {left} 回間違えるとロックされます。",
            f"Wrong PIN. {left} {'try' if left == 1 else 'tries'} left before the card locks.",
        )
    for kind, message in _CARD_MESSAGES:
        if isinstance(error, kind):
            return message
    return _CARD_FAILED
