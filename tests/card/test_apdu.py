"""APDU building and parsing: exact bytes from JPKI.md, round trips, and redaction."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from card_bridge import apdu


def test_builders_produce_the_documented_bytes() -> None:
    assert apdu.select_application(apdu.JPKI_AP_AID).to_bytes() == bytes.fromhex(
        "00A4040C0AD392F000260100000001"
    )
    assert apdu.select_file(0x000A).to_bytes() == bytes.fromhex("00A4020C02000A")
    assert apdu.read_binary(0x0104, 256).to_bytes() == bytes.fromhex("00B0010400")
    assert apdu.read_binary(0, 4).to_bytes() == bytes.fromhex("00B0000004")
    assert apdu.pin_tries_left_query().to_bytes() == bytes.fromhex("00200080")
    assert apdu.verify_pin(b"1234").to_bytes() == bytes.fromhex("002000800431323334")
    digest_info = apdu.sha256_digest_info(b"challenge")
    assert len(digest_info) == 0x33
    assert apdu.compute_digital_signature(digest_info).to_bytes() == (
        bytes.fromhex("802A008033") + digest_info + b"\x00"
    )


def test_sha256_digest_info_is_the_der_of_rfc_8017() -> None:
    # SHA-256 of the empty string, behind the DigestInfo prefix of RFC 8017 section 9.2.
    assert apdu.sha256_digest_info(b"").hex() == (
        "3031300d060960864801650304020105000420"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_out_of_range_values_are_refused() -> None:
    with pytest.raises(ValueError, match="offset"):
        apdu.read_binary(0x8000, 1)
    with pytest.raises(ValueError, match="Le"):
        apdu.read_binary(0, 257)
    with pytest.raises(ValueError, match="extended"):
        apdu.CommandApdu(0, 0xA4, 0, 0, bytes(256)).to_bytes()


commands = st.builds(
    apdu.CommandApdu,
    cla=st.integers(0, 255),
    ins=st.integers(0, 255),
    p1=st.integers(0, 255),
    p2=st.integers(0, 255),
    data=st.binary(max_size=255),
    le=st.none() | st.integers(1, 256),
)


@given(commands)
def test_command_round_trips(command: apdu.CommandApdu) -> None:
    assert apdu.CommandApdu.parse(command.to_bytes()) == command


@given(st.binary(min_size=2, max_size=300))
def test_response_round_trips(raw: bytes) -> None:
    response = apdu.ResponseApdu.parse(raw)
    assert response.to_bytes() == raw
    assert response.status_word == int.from_bytes(raw[-2:], "big")


def test_malformed_commands_and_responses_raise() -> None:
    with pytest.raises(ValueError):
        apdu.CommandApdu.parse(b"\x00\xa4\x04")
    with pytest.raises(ValueError, match="Lc"):
        apdu.CommandApdu.parse(bytes.fromhex("00A4040C0AD392"))
    with pytest.raises(ValueError, match="extended"):
        apdu.CommandApdu.parse(bytes.fromhex("00B000000001000000"))
    with pytest.raises(ValueError):
        apdu.ResponseApdu.parse(b"\x90")


def test_redacted_never_shows_verify_data() -> None:
    line = apdu.verify_pin(b"1234").redacted()
    assert "1234" not in line and "31323334" not in line
    assert line == "00 20 00 80 Lc=04 (masked)"
    assert apdu.select_file(0x0018).redacted() == "00 A4 02 0C Lc=02 0018"
    signing = apdu.compute_digital_signature(apdu.sha256_digest_info(b"x")).redacted()
    assert signing == "80 2A 00 80 Lc=33 (51 bytes) Le=00"


def test_der_total_length_reads_short_and_long_forms() -> None:
    assert apdu.der_total_length(bytes.fromhex("30820366")) == 4 + 0x366
    assert apdu.der_total_length(bytes.fromhex("3081F0")) == 3 + 0xF0
    assert apdu.der_total_length(bytes.fromhex("3010")) == 2 + 0x10
    with pytest.raises(ValueError, match="SEQUENCE"):
        apdu.der_total_length(b"\x00\x00\x00\x00")
    with pytest.raises(ValueError, match="length"):
        apdu.der_total_length(bytes.fromhex("3080"))
