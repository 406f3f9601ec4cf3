"""The card helper (`mykey card helper`): its rules in-process, then the real process on pcscd.

Unit tests drive the aiohttp app through aiohttp's test client over a real loopback socket, with
the virtual card behind an in-memory reader service: origin and Host rules, the CORS and Private
Network Access preflight, body size and media type, the signing rule (only a registration
statement issued for the asking page and not expired: lookup challenges, spending statements and
other sites' statements are refused before the card is touched; Hypothesis drives the rule with
arbitrary statements, clocks and bytes), the PIN shape, one card operation at a time, and each
card error as a problem. The helper's clock is pinned in these tests. The real-stack tests start
the helper as a subprocess (`python -m mykey_cli card helper ...`) against pcscd + vpcd with the
virtual card in `Virtual PCD 00 00`, and talk to it over HTTP as a page would.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given
from hypothesis import strategies as st

from card_bridge import apdu
from card_bridge.browser_helper.card_desk import CardDesk
from card_bridge.browser_helper.config import (
    HelperConfig,
    HelperConfigError,
    check_loopback,
    normalise_origin,
)
from card_bridge.browser_helper.registration_statement import (
    NO_ORIGIN,
    MalformedChallenge,
    RegistrationStatement,
    encode_base64url,
    parse_registration_statement,
)
from card_bridge.browser_helper.server import build_app
from card_bridge.browser_helper.signing_rule import (
    CLOCK_SKEW_SECONDS,
    OriginMismatch,
    StatementExpired,
    check_registration_statement,
)
from card_bridge.cli import main as card_main
from card_bridge.counter.statements import build_statement
from card_bridge.errors import NoCardPresent, PcscUnavailable, ReaderNotFound
from card_bridge.platform_checks.authentication import verify_challenge_signature
from card_bridge.platform_checks.certificates import load_certificate
from card_bridge.transport import ReaderStatus
from card_bridge.virtual_card.card import VirtualMyNumberCard
from card_bridge.virtual_card.vpcd import VpcdLink
from tests.card.conftest import TEST_PIN, MemoryTransport, Pki, wait_for_presence

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "http://127.0.0.1:8123"
"""The registration page's site in these tests (a page on another port of this PC)."""
OTHER_ORIGIN = "http://127.0.0.1:8124"
"""Another page allowed by the same helper in some tests."""
NOW = 1_790_000_000
"""The helper's pinned clock in the in-process tests."""
TTL = 300
RANDOM_PART = bytes(range(32))


def statement_text(
    origin: str = ORIGIN, expires_at: int = NOW + TTL, random_part: bytes = RANDOM_PART
) -> str:
    """A registration statement as the platform issues it (base64url), for `origin`."""
    statement = RegistrationStatement(challenge=random_part, origin=origin, expires_at=expires_at)
    return encode_base64url(statement.encode())


def live_statement_text(origin: str = ORIGIN) -> str:
    """A statement valid by the real clock, for the helper running as a process."""
    return statement_text(origin, expires_at=int(time.time()) + TTL)


CHALLENGE_TEXT = statement_text()
CHALLENGE = base64.urlsafe_b64decode(CHALLENGE_TEXT + "=" * (-len(CHALLENGE_TEXT) % 4))
READER = "Fake Reader 0"


# ---- an in-memory reader service around the virtual card ----------------------------------


class FakeConnection:
    """A `CardConnection` handing APDUs to the virtual card in memory."""

    def __init__(self, readers: FakeReaders, card: VirtualMyNumberCard) -> None:
        self._readers = readers
        self._transport = MemoryTransport(card)

    @property
    def reader(self) -> str:
        return READER

    @property
    def atr(self) -> bytes:
        return bytes.fromhex("3BE000FF8131FE4514")

    def transmit(self, command: bytes) -> bytes:
        return self._transport.transmit(command)

    def close(self) -> None:
        self._readers.closed += 1


@dataclass
class FakeReaders:
    """A `ReaderService` with one reader (or none, or no pcscd) and maybe a card in it."""

    card: VirtualMyNumberCard | None
    attached: bool = True
    pcscd: bool = True
    gate: threading.Event | None = None
    """When set, `connect` waits for it: holds an authentication open to test the busy rule."""
    entered: threading.Event = field(default_factory=threading.Event)
    closed: int = 0
    connects: int = 0

    def list_readers(self) -> list[ReaderStatus]:
        if not self.pcscd:
            raise PcscUnavailable("the PC/SC service is not running: start pcscd")
        if not self.attached:
            return []
        return [ReaderStatus(READER, self.card is not None)]

    def connect(self, reader: str | None, *, timeout: float) -> FakeConnection:
        self.connects += 1
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(10), "the test never released the card"
        if not self.pcscd:
            raise PcscUnavailable("the PC/SC service is not running: start pcscd")
        if not self.attached:
            raise ReaderNotFound("no card reader is attached: plug one in")
        if self.card is None:
            raise NoCardPresent("no card in any reader before the deadline")
        self.card.power_on()
        return FakeConnection(self, self.card)


@dataclass
class Answer:
    """What a page would see of one answer."""

    status: int
    headers: dict[str, str]
    body: Any


Scenario = Callable[[TestClient[web.Request, web.Application]], Awaitable[Any]]


def run(
    readers: FakeReaders,
    scenario: Scenario,
    *,
    origins: frozenset[str] | None = None,
    now: float = NOW,
) -> Any:
    """Serve the helper app on a loopback port with `readers` and run `scenario` against it."""
    config = HelperConfig(allowed_origins=origins or frozenset({ORIGIN}), port=0)
    desk = CardDesk(readers, reader=None, card_wait=0.1)

    async def main() -> Any:
        async with TestClient(TestServer(build_app(config, desk, clock=lambda: now))) as client:
            return await scenario(client)

    return asyncio.run(main())


async def answer_of(response: Any) -> Answer:
    text = await response.text()
    body = json.loads(text) if text else None
    return Answer(response.status, dict(response.headers), body)


def post(
    body: object, *, origin: str | None = ORIGIN, headers: dict[str, str] | None = None
) -> Scenario:
    async def scenario(client: TestClient[web.Request, web.Application]) -> Answer:
        sent = {"Content-Type": "application/json"}
        if origin is not None:
            sent["Origin"] = origin
        sent.update(headers or {})
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await answer_of(await client.post("/v1/authentications", data=data, headers=sent))

    return scenario


def get(path: str = "/v1/status", headers: dict[str, str] | None = None) -> Scenario:
    async def scenario(client: TestClient[web.Request, web.Application]) -> Answer:
        return await answer_of(
            await client.get(path, headers={"Origin": ORIGIN} if headers is None else headers)
        )

    return scenario


def preflight(headers: dict[str, str]) -> Scenario:
    async def scenario(client: TestClient[web.Request, web.Application]) -> Answer:
        return await answer_of(await client.options("/v1/authentications", headers=headers))

    return scenario


@pytest.fixture
def readers(card: VirtualMyNumberCard) -> FakeReaders:
    return FakeReaders(card)


def authentication(pin: str = TEST_PIN, challenge: str = CHALLENGE_TEXT) -> dict[str, str]:
    return {"challenge": challenge, "pin": pin}


# ---- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["0.0.0.0", "192.168.1.20", "::", "::1", "localhost", ""],  # noqa: S104 - each is refused
)
def test_the_helper_refuses_to_listen_anywhere_but_127_0_0_1(host: str) -> None:
    with pytest.raises(HelperConfigError, match=r"127\.0\.0\.1 only"):
        check_loopback(host)
    with pytest.raises(HelperConfigError, match=r"127\.0\.0\.1 only"):
        HelperConfig(allowed_origins=frozenset({ORIGIN}), host=host)


@pytest.mark.parametrize(
    ("given_origin", "exact"),
    [
        ("https://mykey.example.jp/", "https://mykey.example.jp"),
        ("https://mykey.example.jp:443", "https://mykey.example.jp"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("HTTP://MyKey.Example.JP", "http://mykey.example.jp"),
    ],
)
def test_allowed_origins_are_kept_in_the_exact_form_browsers_send(
    given_origin: str, exact: str
) -> None:
    assert normalise_origin(given_origin) == exact


@pytest.mark.parametrize(
    "bad",
    [
        "*",
        "null",
        "mykey.example.jp",
        "ftp://x.jp",
        "https://x.jp/my/register",
        "https://u@x.jp",
        "http://[",
    ],
)
def test_wildcards_paths_and_other_schemes_cannot_be_allowed(bad: str) -> None:
    with pytest.raises(HelperConfigError):
        normalise_origin(bad)


def test_the_command_refuses_bad_options_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert card_main(["helper", "--port", "0", "--allow-origin", "*"]) == 2
    assert "cannot be allowed" in capsys.readouterr().err
    assert card_main(["helper", "--port", "70000", "--allow-origin", ORIGIN]) == 2
    assert "not a TCP port" in capsys.readouterr().err


# ---- origin, Host and preflight ------------------------------------------------------------------


def test_an_allowed_origin_gets_the_status_with_cors_headers(readers: FakeReaders) -> None:
    answer = run(readers, get())
    assert answer.status == 200
    assert answer.body == {"reader_present": True, "card_present": True, "busy": False}
    assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert answer.headers["Vary"] == "Origin"
    assert answer.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:8124",
        "https://127.0.0.1:8123",
        "http://127.0.0.1:8123/",
        "http://localhost:8123",
        "http://evil.example",
        "null",
    ],
)
def test_any_other_origin_is_refused_without_cors_headers(
    readers: FakeReaders, origin: str
) -> None:
    for scenario in (get(headers={"Origin": origin}), post(authentication(), origin=origin)):
        answer = run(readers, scenario)
        assert answer.status == 403
        assert answer.body["code"] == "origin-not-allowed"
        assert "Access-Control-Allow-Origin" not in answer.headers
    assert readers.connects == 0
    assert readers.card is not None and readers.card.apdu_log == []


def test_a_request_without_origin_is_refused(readers: FakeReaders) -> None:
    assert run(readers, get(headers={})).status == 403
    answer = run(readers, post(authentication(), origin=None))
    assert (answer.status, answer.body["code"]) == (403, "origin-not-allowed")
    assert readers.connects == 0


def test_a_rebound_dns_name_is_refused_by_its_host_header(readers: FakeReaders) -> None:
    # A page on evil.example that rebinds its name to 127.0.0.1 sends Host: evil.example:<port>.
    answer = run(readers, post(authentication(), headers={"Host": "evil.example:47831"}))
    assert (answer.status, answer.body["code"]) == (403, "host-not-allowed")
    assert readers.connects == 0


def test_the_preflight_is_granted_to_an_allowed_origin_with_private_network_access(
    readers: FakeReaders,
) -> None:
    answer = run(
        readers,
        preflight(
            {
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
                "Access-Control-Request-Private-Network": "true",
            }
        ),
    )
    assert answer.status == 204
    assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert answer.headers["Access-Control-Allow-Private-Network"] == "true"
    assert answer.headers["Access-Control-Allow-Methods"] == "GET, POST"
    assert answer.headers["Access-Control-Allow-Headers"] == "Content-Type"
    plain = run(readers, preflight({"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}))
    assert plain.status == 204
    assert "Access-Control-Allow-Private-Network" not in plain.headers


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST",
         "Access-Control-Request-Private-Network": "true"},
        {"Origin": ORIGIN, "Access-Control-Request-Method": "DELETE"},
        {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
         "Access-Control-Request-Headers": "content-type, x-pin"},
        {"Access-Control-Request-Method": "POST", "Access-Control-Request-Private-Network": "true"},
    ],
)  # fmt: skip
def test_other_preflights_are_refused_and_private_network_access_is_not_granted(
    readers: FakeReaders, headers: dict[str, str]
) -> None:
    answer = run(readers, preflight(headers))
    assert answer.status == 403
    assert "Access-Control-Allow-Origin" not in answer.headers
    assert "Access-Control-Allow-Private-Network" not in answer.headers


def test_unknown_paths_and_methods_are_problems(readers: FakeReaders) -> None:
    missing = run(readers, get("/v1/pin"))
    assert (missing.status, missing.body["code"]) == (404, "not-found")
    wrong = run(readers, get("/v1/authentications"))
    assert (wrong.status, wrong.body["code"]) == (405, "method-not-allowed")


# ---- body, challenge and PIN shape -------------------------------------------------------------


def test_a_body_over_the_cap_is_refused_before_it_is_read(readers: FakeReaders) -> None:
    answer = run(readers, post({"challenge": CHALLENGE_TEXT, "pin": TEST_PIN, "x": "a" * 2000}))
    assert (answer.status, answer.body["code"]) == (413, "body-too-large")
    assert readers.connects == 0


@pytest.mark.parametrize(
    ("body", "headers", "code"),
    [
        (b"challenge=x&pin=1234", {"Content-Type": "application/x-www-form-urlencoded"},
         "unsupported-media-type"),
        (b"{not json", {}, "malformed-request"),
        (b"[]", {}, "malformed-request"),
        (json.dumps({"challenge": CHALLENGE_TEXT}).encode(), {}, "malformed-request"),
        (json.dumps({**authentication(), "data": "sign me"}).encode(), {}, "malformed-request"),
    ],
)  # fmt: skip
def test_a_body_that_is_not_the_json_object_is_refused(
    readers: FakeReaders, body: bytes, headers: dict[str, str], code: str
) -> None:
    answer = run(readers, post(body, headers=headers))
    assert answer.body["code"] == code
    assert answer.status in {400, 415}
    assert readers.connects == 0


TERMINAL_STATEMENT = build_statement(
    {"action": "redeem", "amount": "500", "terminal": "0xabc", "business": "B1", "action_id": "1"}
)
PLACEMENT_STATEMENT = "\n".join(
    [
        "mykey-ledger/reserve-placement/v1",
        "reserve_id=7",
        "mykey_id=K7M2Q9XA",
        "municipality=14130",
        "amount=500",
        f"challenge={encode_base64url(RANDOM_PART)}",
        f"expires_at={NOW + TTL}",
    ]
).encode()
"""The shape of api/chain/reserves.py's placement statement: spends the resident's points."""
REBINDING_STATEMENT = "\n".join(
    [
        "mykey-ledger/card-rebinding/v1",
        "role=previous",
        "mykey_id=K7M2Q9XA",
        f"challenge={encode_base64url(RANDOM_PART)}",
        f"expires_at={NOW + TTL}",
    ]
).encode()
"""The shape of api/services/rebinding.py's statement: moves a MyKey ID to another card."""
LOOKUP_CHALLENGE = bytes(range(100, 132))
"""The counter's service-ID lookup challenge (api/chain/lookups.py): 32 random bytes."""


def altered(replace: str, by: str) -> str:
    """CHALLENGE_TEXT's statement with one piece of its text changed, re-encoded."""
    text = CHALLENGE.decode()
    assert replace in text
    return encode_base64url(text.replace(replace, by).encode())


@pytest.mark.parametrize(
    "challenge",
    [
        encode_base64url(LOOKUP_CHALLENGE),
        encode_base64url(TERMINAL_STATEMENT),
        encode_base64url(PLACEMENT_STATEMENT),
        encode_base64url(REBINDING_STATEMENT),
        base64.urlsafe_b64encode(CHALLENGE).decode(),  # padded
        CHALLENGE_TEXT[:10] + "+" + CHALLENGE_TEXT[11:],  # the standard alphabet's + and /
        CHALLENGE_TEXT[:10] + "/" + CHALLENGE_TEXT[11:],
        CHALLENGE.hex(),
        CHALLENGE.decode(),  # the statement as plain text, not base64url
        encode_base64url(CHALLENGE + b"\n"),
        encode_base64url(CHALLENGE + b"\namount=500"),
        altered("mykey-ledger/registration/v1", "mykey-ledger/registration/v2"),
        altered("origin=", "site="),
        altered(f"origin={ORIGIN}", f"origin={ORIGIN}/"),
        altered(f"expires_at={NOW + TTL}", f"expires_at=0{NOW + TTL}"),
        altered(f"expires_at={NOW + TTL}", "expires_at=soon"),
        altered("\n", "\r\n"),
        "",
    ],
)
def test_only_a_registration_statement_is_signed(readers: FakeReaders, challenge: str) -> None:
    answer = run(readers, post(authentication(challenge=challenge)))
    assert (answer.status, answer.body["code"]) == (422, "malformed-challenge")
    assert readers.connects == 0


@pytest.mark.parametrize(
    "issued_for", [OTHER_ORIGIN, NO_ORIGIN, "https://127.0.0.1:8123", "http://evil.example"]
)
def test_a_statement_issued_for_another_page_is_refused(
    readers: FakeReaders, card: VirtualMyNumberCard, issued_for: str
) -> None:
    # OTHER_ORIGIN is allowed too: being allowed does not let a page use another page's statement.
    answer = run(
        readers,
        post(authentication(challenge=statement_text(issued_for))),
        origins=frozenset({ORIGIN, OTHER_ORIGIN}),
    )
    assert (answer.status, answer.body["code"]) == (403, "origin-mismatch")
    assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN  # the page may show why
    assert readers.connects == 0
    assert card.apdu_log == []


def test_each_allowed_page_gets_its_own_statement_signed(readers: FakeReaders) -> None:
    answer = run(
        readers,
        post(authentication(challenge=statement_text(OTHER_ORIGIN)), origin=OTHER_ORIGIN),
        origins=frozenset({ORIGIN, OTHER_ORIGIN}),
    )
    assert answer.status == 200, answer.body


@pytest.mark.parametrize(
    ("now", "signed"),
    [
        (NOW + TTL - 1, True),
        (NOW + TTL + CLOCK_SKEW_SECONDS - 1, True),  # the PC's clock runs a little fast
        (NOW + TTL + CLOCK_SKEW_SECONDS, False),
        (NOW + 10 * TTL, False),
    ],
)
def test_an_expired_statement_is_refused_within_the_clock_skew(
    readers: FakeReaders, now: int, signed: bool
) -> None:
    answer = run(readers, post(authentication()), now=now)
    if signed:
        assert answer.status == 200, answer.body
    else:
        assert (answer.status, answer.body["code"]) == (422, "challenge-expired")
        assert readers.connects == 0


def test_a_challenge_that_is_not_text_is_refused(readers: FakeReaders) -> None:
    answer = run(readers, post({"challenge": list(RANDOM_PART), "pin": TEST_PIN}))
    assert (answer.status, answer.body["code"]) == (422, "malformed-challenge")


ORIGINS = st.sampled_from([ORIGIN, OTHER_ORIGIN, NO_ORIGIN, "https://mykey.example.jp"])


@given(
    random_part=st.binary(min_size=32, max_size=32),
    issued_for=ORIGINS,
    asking=st.sampled_from([ORIGIN, OTHER_ORIGIN]),
    expires_at=st.integers(min_value=0, max_value=2**40),
    now=st.integers(min_value=0, max_value=2**40),
)
def test_the_signing_rule_signs_exactly_the_asking_pages_live_statements(
    random_part: bytes, issued_for: str, asking: str, expires_at: int, now: int
) -> None:
    statement = RegistrationStatement(random_part, issued_for, expires_at)
    data = statement.encode()
    assert parse_registration_statement(data) == statement
    text = encode_base64url(data)
    if issued_for != asking:
        with pytest.raises(OriginMismatch):
            check_registration_statement(text, origin=asking, now=now)
    elif expires_at + CLOCK_SKEW_SECONDS <= now:
        with pytest.raises(StatementExpired):
            check_registration_statement(text, origin=asking, now=now)
    else:
        assert check_registration_statement(text, origin=asking, now=now) == data


@given(value=st.binary(max_size=200))
def test_arbitrary_bytes_such_as_lookup_challenges_are_never_signed(value: bytes) -> None:
    with pytest.raises(MalformedChallenge):
        check_registration_statement(encode_base64url(value), origin=ORIGIN, now=NOW)


@given(position=st.integers(min_value=0, max_value=len(CHALLENGE) - 1), byte=st.integers(0, 255))
def test_a_changed_statement_is_signed_only_if_it_is_itself_a_canonical_statement(
    position: int, byte: int
) -> None:
    changed = CHALLENGE[:position] + bytes([byte]) + CHALLENGE[position + 1 :]
    try:
        signed = check_registration_statement(encode_base64url(changed), origin=ORIGIN, now=NOW)
    except (MalformedChallenge, OriginMismatch, StatementExpired):
        return
    # only the random part or the deadline's digits can change and still be a statement
    assert signed == changed
    assert parse_registration_statement(signed).encode() == changed
    assert changed.startswith(b"mykey-ledger/registration/v1\nchallenge=")
    assert f"\norigin={ORIGIN}\n".encode() in changed


@pytest.mark.parametrize("pin", ["123", "12345", "12a4", "１２３４", " 1234", 4321, None])
def test_a_malformed_pin_is_refused_and_no_try_is_used(
    readers: FakeReaders, card: VirtualMyNumberCard, pin: object
) -> None:
    answer = run(readers, post({"challenge": CHALLENGE_TEXT, "pin": pin}))
    assert (answer.status, answer.body["code"]) == (422, "malformed-pin")
    assert readers.connects == 0
    assert card.tries_left == 3


# ---- the card ------------------------------------------------------------------------------------


def test_the_card_signs_the_challenge_after_the_pin(
    readers: FakeReaders, card: VirtualMyNumberCard, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = run(readers, post(authentication()))
    assert answer.status == 200, answer.body
    assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
    certificate = base64.b64decode(answer.body["certificate"], validate=True)
    signature = base64.b64decode(answer.body["signature"], validate=True)
    assert certificate == pki.card.auth_certificate.public_bytes(Encoding.DER)
    verify_challenge_signature(load_certificate(certificate), CHALLENGE, signature)
    assert readers.closed == 1
    logged = [record.getMessage() for record in caplog.records]
    assert any("answered" in line for line in logged)
    assert not any(TEST_PIN in line or TEST_PIN.encode().hex() in line for line in logged)


def test_a_wrong_pin_tells_the_tries_left_then_the_lock(
    readers: FakeReaders, card: VirtualMyNumberCard, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen = [run(readers, post(authentication(pin=pin))) for pin in ("1111", "2222", "3333")]
    assert [(item.status, item.body["code"]) for item in seen] == [
        (403, "wrong-pin"),
        (403, "wrong-pin"),
        (423, "pin-locked"),
    ]
    assert [item.body.get("tries_left") for item in seen] == [2, 1, None]
    assert card.tries_left == 0
    assert readers.closed == 3
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert not any(pin in logged for pin in ("1111", "2222", "3333"))


def test_card_errors_become_problems_a_page_can_name(card: VirtualMyNumberCard) -> None:
    cases = [
        (FakeReaders(card, attached=False), 503, "no-reader"),
        (FakeReaders(card, pcscd=False), 503, "pcsc-unavailable"),
        (FakeReaders(None), 409, "no-card"),
    ]
    for readers, status, code in cases:
        answer = run(readers, post(authentication()))
        assert (answer.status, answer.body["code"]) == (status, code), answer.body
        assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_a_card_removed_mid_way_is_reported_and_the_connection_closed(
    readers: FakeReaders, card: VirtualMyNumberCard
) -> None:
    card.withdraw_at_instruction = apdu.INS_COMPUTE_DIGITAL_SIGNATURE
    answer = run(readers, post(authentication()))
    assert (answer.status, answer.body["code"]) == (409, "card-removed")
    assert readers.closed == 1


def test_status_reports_reader_and_card_without_personal_data(card: VirtualMyNumberCard) -> None:
    assert run(FakeReaders(None), get()).body == {
        "reader_present": True,
        "card_present": False,
        "busy": False,
    }
    assert run(FakeReaders(card, attached=False), get()).body["reader_present"] is False
    down = run(FakeReaders(card, pcscd=False), get())
    assert (down.status, down.body["code"]) == (503, "pcsc-unavailable")


def test_one_card_operation_at_a_time(card: VirtualMyNumberCard) -> None:
    readers = FakeReaders(card, gate=threading.Event())

    async def scenario(client: TestClient[web.Request, web.Application]) -> list[Answer]:
        first = asyncio.ensure_future(post(authentication())(client))
        assert await asyncio.to_thread(readers.entered.wait, 10)
        second = await post(authentication())(client)
        status = await get()(client)
        readers.gate.set()  # type: ignore[union-attr]
        return [await first, second, status]

    first, second, status = run(readers, scenario)
    assert (second.status, second.body["code"]) == (409, "card-busy")
    assert status.body["busy"] is True
    assert first.status == 200
    assert readers.connects == 1
    assert card.tries_left == 3


# ---- the real process on pcscd + vpcd ------------------------------------------------------------


@dataclass
class HelperProcess:
    """`mykey card helper` running as a subprocess."""

    url: str
    process: subprocess.Popen[str]

    def request(self, method: str, path: str, body: object = None, origin: str = ORIGIN) -> Answer:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - the helper's http://127.0.0.1 URL
            self.url + path,
            data=data,
            method=method,
            headers={"Origin": origin, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310
                return Answer(response.status, dict(response.headers), json.load(response))
        except urllib.error.HTTPError as error:
            return Answer(error.code, dict(error.headers), json.load(error))


@pytest.fixture
def helper_process(vpcd_reader: str) -> Iterator[HelperProcess]:
    """The helper, started as `mykey card helper --port 0 ...` with the venv's python."""
    process = subprocess.Popen(
        [
            sys.executable, "-m", "mykey_cli", "card", "helper", "--port", "0",
            "--allow-origin", ORIGIN, "--reader", vpcd_reader, "--card-wait", "1.5",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert process.stdout is not None
    first = process.stdout.readline()
    if not first.startswith("card helper listening on http://127.0.0.1:"):
        process.kill()
        pytest.fail(f"the helper did not start: {first!r} {process.communicate()[1]}")
    helper = HelperProcess(first.split()[-1], process)
    yield helper
    process.terminate()
    out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    for pin in (TEST_PIN, "1111"):
        assert pin not in out and pin not in err


@pytest.mark.realstack
def test_the_real_helper_reports_an_empty_reader(helper_process: HelperProcess) -> None:
    wait_for_presence(False)
    status = helper_process.request("GET", "/v1/status")
    assert status.body == {"reader_present": True, "card_present": False, "busy": False}
    answer = helper_process.request(
        "POST", "/v1/authentications", authentication(challenge=live_statement_text())
    )
    assert (answer.status, answer.body["code"]) == (409, "no-card")


@pytest.mark.realstack
def test_the_real_helper_answers_a_page_with_the_card_in_vpcd(
    helper_process: HelperProcess,
    inserted_card: VpcdLink,
    card: VirtualMyNumberCard,
    pki: Pki,
) -> None:
    wait_for_presence(True)
    assert helper_process.request("GET", "/v1/status").body["card_present"] is True
    live = live_statement_text()
    refused = helper_process.request(
        "POST", "/v1/authentications", authentication(pin="1111", challenge=live)
    )
    assert (refused.status, refused.body["code"], refused.body["tries_left"]) == (
        403,
        "wrong-pin",
        2,
    )
    stranger = helper_process.request(
        "POST", "/v1/authentications", authentication(challenge=live), origin="http://evil.example"
    )
    assert stranger.status == 403
    for other in (live_statement_text(NO_ORIGIN), encode_base64url(LOOKUP_CHALLENGE)):
        oracle = helper_process.request(
            "POST", "/v1/authentications", authentication(challenge=other)
        )
        assert oracle.body["code"] in {"origin-mismatch", "malformed-challenge"}, oracle.body
    answer = helper_process.request("POST", "/v1/authentications", authentication(challenge=live))
    assert answer.status == 200, answer.body
    assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
    certificate = base64.b64decode(answer.body["certificate"])
    assert certificate == pki.card.auth_certificate.public_bytes(Encoding.DER)
    verify_challenge_signature(
        load_certificate(certificate),
        base64.urlsafe_b64decode(live + "=" * (-len(live) % 4)),
        base64.b64decode(answer.body["signature"]),
    )
    assert card.tries_left == 3
    assert sum(entry.command.startswith("802A") for entry in card.apdu_log) == 1
    forbidden = tuple("00A4040C0A" + aid.hex().upper() for aid in apdu.FORBIDDEN_APPLICATIONS)
    assert not any(entry.command.startswith(forbidden) for entry in card.apdu_log)
    assert not any(TEST_PIN.encode().hex().upper() in entry.command for entry in card.apdu_log)


@pytest.mark.realstack
def test_the_real_helper_reports_a_card_pulled_out_mid_way(
    helper_process: HelperProcess, inserted_card: VpcdLink, card: VirtualMyNumberCard
) -> None:
    wait_for_presence(True)
    card.withdraw_at_instruction = apdu.INS_COMPUTE_DIGITAL_SIGNATURE
    answer = helper_process.request(
        "POST", "/v1/authentications", authentication(challenge=live_statement_text())
    )
    assert (answer.status, answer.body["code"]) == (409, "card-removed")
