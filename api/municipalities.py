"""The prefecture list and the municipalities this deployment knows, for the home account.

A resident names a home municipality (基本自治体ポイント口座) as prefecture + municipality at
registration. The prefecture list is complete (JIS X 0401); the municipality table holds only the
municipalities the demo consortium uses. A municipality code's first two digits are its prefecture
code, which `find_municipality` checks so a mismatched pair is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.identifiers import MunicipalityCode, PrefectureCode


@dataclass(frozen=True)
class Prefecture:
    """One of the 47 prefectures."""

    code: PrefectureCode
    name_ja: str
    name_en: str


@dataclass(frozen=True)
class Municipality:
    """A municipality that takes part in the point programme."""

    code: MunicipalityCode
    prefecture_code: PrefectureCode
    name_ja: str
    name_en: str


_PREFECTURE_NAMES: tuple[tuple[str, str], ...] = (
    ("北海道", "Hokkaido"),
    ("青森県", "Aomori"),
    ("岩手県", "Iwate"),
    ("宮城県", "Miyagi"),
    ("秋田県", "Akita"),
    ("山形県", "Yamagata"),
    ("福島県", "Fukushima"),
    ("茨城県", "Ibaraki"),
    ("栃木県", "Tochigi"),
    ("群馬県", "Gunma"),
    ("埼玉県", "Saitama"),
    ("千葉県", "Chiba"),
    ("東京都", "Tokyo"),
    ("神奈川県", "Kanagawa"),
    ("新潟県", "Niigata"),
    ("富山県", "Toyama"),
    ("石川県", "Ishikawa"),
    ("福井県", "Fukui"),
    ("山梨県", "Yamanashi"),
    ("長野県", "Nagano"),
    ("岐阜県", "Gifu"),
    ("静岡県", "Shizuoka"),
    ("愛知県", "Aichi"),
    ("三重県", "Mie"),
    ("滋賀県", "Shiga"),
    ("京都府", "Kyoto"),
    ("大阪府", "Osaka"),
    ("兵庫県", "Hyogo"),
    ("奈良県", "Nara"),
    ("和歌山県", "Wakayama"),
    ("鳥取県", "Tottori"),
    ("島根県", "Shimane"),
    ("岡山県", "Okayama"),
    ("広島県", "Hiroshima"),
    ("山口県", "Yamaguchi"),
    ("徳島県", "Tokushima"),
    ("香川県", "Kagawa"),
    ("愛媛県", "Ehime"),
    ("高知県", "Kochi"),
    ("福岡県", "Fukuoka"),
    ("佐賀県", "Saga"),
    ("長崎県", "Nagasaki"),
    ("熊本県", "Kumamoto"),
    ("大分県", "Oita"),
    ("宮崎県", "Miyazaki"),
    ("鹿児島県", "Kagoshima"),
    ("沖縄県", "Okinawa"),
)

PREFECTURES: tuple[Prefecture, ...] = tuple(
    Prefecture(PrefectureCode(f"{index:02d}"), name_ja, name_en)
    for index, (name_ja, name_en) in enumerate(_PREFECTURE_NAMES, start=1)
)
"""All 47 prefectures in code order."""

MUNICIPALITIES: tuple[Municipality, ...] = (
    Municipality(MunicipalityCode("13116"), PrefectureCode("13"), "豊島区", "Toshima City"),
    Municipality(MunicipalityCode("14130"), PrefectureCode("14"), "川崎市", "Kawasaki City"),
)
"""The municipalities the demo consortium runs, in code order."""


def find_prefecture(code: str) -> Prefecture | None:
    """Return the prefecture with this 2-digit code, or None."""
    return next((item for item in PREFECTURES if item.code == code), None)


def municipalities_in(prefecture_code: str) -> list[Municipality]:
    """Return the participating municipalities of one prefecture (possibly none)."""
    return [item for item in MUNICIPALITIES if item.prefecture_code == prefecture_code]


def find_municipality(
    *, prefecture_code: str, municipality_code: MunicipalityCode
) -> Municipality | None:
    """Return the participating municipality with this code in this prefecture, or None."""
    return next(
        (
            item
            for item in MUNICIPALITIES
            if item.code == municipality_code and item.prefecture_code == prefecture_code
        ),
        None,
    )
