"""The text of each notice e-mail: Japanese first, the English below it.

Notices carry the MyKey ID and facts about points, never a name, address or service ID. The
resident chooses which kinds they receive at registration (deck screen 16).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class NoticeKind(StrEnum):
    """The notices a resident can choose (deck screen 16's four check boxes, the last split)."""

    POINTS_GRANTED = "points-granted"
    POINTS_EXPIRED = "points-expired"
    PASSWORD_CHANGED = "password-changed"  # noqa: S105 - a notice kind, not a secret
    MYKEY_ID_REGISTERED = "mykey-id-registered"
    MYKEY_ID_CHANGED = "mykey-id-changed"
    MYKEY_ID_REVOKED = "mykey-id-revoked"
    # The reserve notices follow a conversion; a resident chooses them with "points granted",
    # the box that stands for "points arrived" (api.notices.outbox.wants_notice).
    POINTS_CONVERTED = "points-converted"
    RESERVE_PLACED = "reserve-placed"
    RESERVE_WENT_HOME = "reserve-went-home"


@dataclass(frozen=True)
class RenderedNotice:
    """Subject and plain-text body of one e-mail."""

    subject: str
    body: str


_TEMPLATES: dict[NoticeKind, tuple[str, str, str, str]] = {
    # kind: (subject ja, subject en, body ja, body en); {placeholders} come from `facts`.
    NoticeKind.POINTS_GRANTED: (
        "自治体ポイントが付与されました",
        "Municipal points granted",
        "マイキーID {mykey_id} に {municipality} の自治体ポイント "
        "{points} ポイントが付与されました。",
        "{points} municipal points of {municipality} were granted to MyKey ID {mykey_id}.",
    ),
    NoticeKind.POINTS_EXPIRED: (
        "自治体ポイントが失効しました",
        "Municipal points expired",
        "マイキーID {mykey_id} の {municipality} の自治体ポイント "
        "{points} ポイントが失効しました。",
        "{points} municipal points of {municipality} held by MyKey ID {mykey_id} expired.",
    ),
    NoticeKind.PASSWORD_CHANGED: (
        "パスワードが変更されました",
        "Password changed",
        "マイキーID {mykey_id} の利用者マイページのパスワードが変更されました。"
        "お心当たりのない場合は、お問い合わせください。",
        "The My Page password of MyKey ID {mykey_id} was changed. "
        "If you did not do this, please contact us.",
    ),
    NoticeKind.MYKEY_ID_REGISTERED: (
        "マイキーIDが登録されました",
        "MyKey ID registered",
        "マイキーID {mykey_id} が登録されました。",
        "MyKey ID {mykey_id} was registered.",
    ),
    NoticeKind.MYKEY_ID_CHANGED: (
        "マイキーIDが変更されました",
        "MyKey ID changed",
        "マイキーID {mykey_id} の登録内容が変更されました。",
        "The registration of MyKey ID {mykey_id} was changed.",
    ),
    NoticeKind.MYKEY_ID_REVOKED: (
        "マイキーIDが失効しました",
        "MyKey ID revoked",
        "マイキーID {mykey_id} は失効しました。",
        "MyKey ID {mykey_id} was revoked.",
    ),
    NoticeKind.POINTS_CONVERTED: (
        "ポイントが移行され、予約ポイントになりました",
        "Points converted and reserved",
        "マイキーID {mykey_id} に、提携先のポイントから {points} ポイントが移行され、"
        "予約ポイントになりました。{deadline} までに利用者マイページで使う自治体を選んでください。"
        "選ばなかった場合は、{municipality} の自治体ポイントになります。",
        "{points} points converted from a partner are reserved for MyKey ID {mykey_id}. "
        "Choose the municipality to use them in on My Page by {deadline}; otherwise they "
        "become municipal points of {municipality}.",
    ),
    NoticeKind.RESERVE_PLACED: (
        "予約ポイントを自治体ポイントにしました",
        "Reserved points placed",
        "マイキーID {mykey_id} の予約ポイント {points} ポイントが、{municipality} の"
        "自治体ポイントになりました。有効期限は {expires_at} です。",
        "{points} reserved points of MyKey ID {mykey_id} are now municipal points of "
        "{municipality}, valid until {expires_at}.",
    ),
    NoticeKind.RESERVE_WENT_HOME: (
        "予約ポイントが基本自治体のポイントになりました",
        "Reserved points went to your home municipality",
        "マイキーID {mykey_id} の予約ポイント {points} ポイントは、期限までに自治体が"
        "選ばれなかったため、{municipality} の自治体ポイントになりました。"
        "有効期限は {expires_at} です。",
        "No municipality was chosen by the deadline, so {points} reserved points of MyKey ID "
        "{mykey_id} became municipal points of your home municipality, {municipality}, "
        "valid until {expires_at}.",
    ),
}

_FOOTER = (
    "\n\n-- \nこのメールはマイキープラットフォームから送信されています。"
    "通知の設定は利用者マイページで変更できます。\n"
    "This message was sent by the MyKey platform. Change your notices on My Page.\n"
)


def render_notice(kind: NoticeKind, facts: Mapping[str, str]) -> RenderedNotice:
    """Return the e-mail for `kind` filled with `facts`; raises KeyError naming a missing fact."""
    subject_ja, subject_en, body_ja, body_en = _TEMPLATES[kind]
    try:
        body = body_ja.format_map(facts) + "\n\n" + body_en.format_map(facts)
    except KeyError as error:
        raise KeyError(f"notice {kind.value} needs the fact {error.args[0]!r}") from error
    return RenderedNotice(subject=f"{subject_ja} / {subject_en}", body=body + _FOOTER)
