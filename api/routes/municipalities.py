"""Prefectures and participating municipalities, for choosing the home account."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.municipalities import MUNICIPALITIES, PREFECTURES, municipalities_in
from api.schemas.municipalities import MunicipalityResponse, PrefectureResponse

router = APIRouter(tags=["municipalities"])


@router.get("/prefectures", summary="All prefectures")
def list_prefectures() -> list[PrefectureResponse]:
    """Return the 47 prefectures in code order."""
    return [
        PrefectureResponse(code=item.code, name_ja=item.name_ja, name_en=item.name_en)
        for item in PREFECTURES
    ]


@router.get("/municipalities", summary="Participating municipalities")
def list_municipalities(
    prefecture_code: Annotated[
        str | None, Query(max_length=2, description="Only this prefecture's, e.g. `14`.")
    ] = None,
) -> list[MunicipalityResponse]:
    """Return the municipalities that take part, optionally of one prefecture."""
    chosen = MUNICIPALITIES if prefecture_code is None else municipalities_in(prefecture_code)
    return [
        MunicipalityResponse(
            code=item.code,
            prefecture_code=item.prefecture_code,
            name_ja=item.name_ja,
            name_en=item.name_en,
        )
        for item in chosen
    ]
