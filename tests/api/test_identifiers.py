"""MyKey ID and municipality code parsing, the prefecture list and the demo municipalities."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.identifiers import municipality_check_digit, parse_municipality_code, parse_mykey_id
from api.municipalities import PREFECTURES, find_municipality, municipalities_in
from api.services.registration import GENERATION_ALPHABET, random_candidate


def test_mykey_id_format() -> None:
    assert parse_mykey_id("A01B2C3D") == "A01B2C3D"
    for bad in ["a01b2c3d", "A01B2C3", "A01B2C3D4", "A01B2C3Ｄ", "A01B 2C3", ""]:
        with pytest.raises(ValueError, match="8 half-width"):
            parse_mykey_id(bad)


def test_known_check_digits() -> None:
    assert municipality_check_digit("14130") == 5  # 川崎市 141305
    assert municipality_check_digit("13116") == 4  # 豊島区 131164
    assert municipality_check_digit("01100") == 2  # 札幌市 011002
    assert parse_municipality_code("141305") == "14130"
    with pytest.raises(ValueError, match="check digit"):
        parse_municipality_code("141306")


@given(st.from_regex(r"[0-9]{5}", fullmatch=True))
def test_six_digit_form_round_trips(code: str) -> None:
    six = code + str(municipality_check_digit(code))
    assert parse_municipality_code(six) == code
    wrong = code + str((municipality_check_digit(code) + 1) % 10)
    with pytest.raises(ValueError):
        parse_municipality_code(wrong)


def test_prefectures_and_demo_municipalities() -> None:
    assert len(PREFECTURES) == 47
    assert (PREFECTURES[0].code, PREFECTURES[12].name_ja, PREFECTURES[46].code) == (
        "01",
        "東京都",
        "47",
    )
    assert [item.name_en for item in municipalities_in("14")] == ["Kawasaki City"]
    assert find_municipality(
        prefecture_code="13", municipality_code=parse_municipality_code("13116")
    )
    assert (
        find_municipality(prefecture_code="14", municipality_code=parse_municipality_code("13116"))
        is None
    )


def test_generated_candidates_are_valid_ids() -> None:
    for _ in range(200):
        candidate = random_candidate()
        assert parse_mykey_id(candidate) == candidate
        assert set(candidate) <= set(GENERATION_ALPHABET)
    assert not set("IO01") & set(GENERATION_ALPHABET)


def test_municipality_lists_over_http(client: object) -> None:
    from fastapi.testclient import TestClient

    assert isinstance(client, TestClient)
    assert len(client.get("/prefectures").json()) == 47
    assert client.get("/municipalities", params={"prefecture_code": "13"}).json() == [
        {"code": "13116", "prefecture_code": "13", "name_ja": "豊島区", "name_en": "Toshima City"}
    ]
