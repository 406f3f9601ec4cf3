"""Bodies of the prefecture and municipality lists (for the home-account choice)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class PrefectureResponse(BaseModel):
    """One prefecture."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"code": "14", "name_ja": "神奈川県", "name_en": "Kanagawa"}]
        }
    )

    code: str
    name_ja: str
    name_en: str


class MunicipalityResponse(BaseModel):
    """One participating municipality."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "14130",
                    "prefecture_code": "14",
                    "name_ja": "川崎市",
                    "name_en": "Kawasaki City",
                }
            ]
        }
    )

    code: str
    prefecture_code: str
    name_ja: str
    name_en: str
