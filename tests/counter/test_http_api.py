"""HttpCounterApi against the fake API over real loopback HTTP: signing, replay, problem types."""

from __future__ import annotations

import socket

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from card_bridge.counter.http_api import HttpCounterApi
from card_bridge.counter.ports import ActionKind, Points, TerminalKind
from card_bridge.counter.refusals import (
    AmountInvalid,
    ApiUnavailable,
    RequestRejected,
    TerminalNotRegistered,
    WrongTerminalKind,
)
from card_bridge.counter.signing import sign_request
from tests.counter.conftest import BUSINESS, SERVICE
from tests.counter.fake_api import FakeApiServer, FakePlatform


def test_describe_terminal(api: HttpCounterApi, terminal_account: LocalAccount) -> None:
    info = api.describe_terminal()
    assert info.address.lower() == terminal_account.address.lower()
    assert info.business == BUSINESS
    assert TerminalKind.POINT_USE in info.kinds


def test_a_lookup_challenge_is_32_bytes(api: HttpCounterApi) -> None:
    challenge = api.begin_lookup(service_code=SERVICE)
    assert len(challenge.challenge) == 32


def test_an_unregistered_terminal_is_refused(fake_api: FakeApiServer) -> None:
    stranger = HttpCounterApi(fake_api.url, Account.create())
    with pytest.raises(TerminalNotRegistered) as refused:
        stranger.describe_terminal()
    assert refused.value.status == 401
    assert "登録されていません" in refused.value.message().japanese
    stranger.close()


def test_a_replayed_request_is_refused(
    fake_api: FakeApiServer, terminal_account: LocalAccount
) -> None:
    import time

    headers = sign_request(
        terminal_account,
        method="GET",
        path="/terminal/v1/terminal",
        body=b"",
        timestamp=int(time.time()),
    ).as_dict()
    first = httpx.get(fake_api.url + "/terminal/v1/terminal", headers=headers)
    second = httpx.get(fake_api.url + "/terminal/v1/terminal", headers=headers)
    assert first.status_code == 200
    assert second.status_code == 401
    assert second.json()["type"] == "urn:mykey-ledger:problem:terminal-request-invalid"


def test_an_unsigned_request_is_refused(fake_api: FakeApiServer) -> None:
    answer = httpx.get(fake_api.url + "/terminal/v1/terminal")
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_a_terminal_clock_far_off_is_refused_with_advice(
    fake_api: FakeApiServer, terminal_account: LocalAccount
) -> None:
    skewed = HttpCounterApi(fake_api.url, terminal_account, clock=lambda: 0.0)
    with pytest.raises(RequestRejected) as refused:
        skewed.describe_terminal()
    assert "clock" in refused.value.message().english
    skewed.close()


def test_wrong_kind_and_invalid_amount_map_to_their_refusals(
    api: HttpCounterApi, platform: FakePlatform
) -> None:
    with pytest.raises(AmountInvalid):
        api.begin_action(ActionKind.REDEMPTION, amount=Points(0))
    for terminal in platform.terminals.values():
        terminal.kinds = ("point-use",)
    with pytest.raises(WrongTerminalKind):
        api.begin_lookup(service_code=SERVICE)
    pending = api.begin_action(ActionKind.REDEMPTION, amount=Points(20))
    assert pending.amount == 20 and pending.statement.startswith(b"mykey-ledger/")


def test_an_api_that_is_not_there_is_unavailable(terminal_account: LocalAccount) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    absent = HttpCounterApi(f"http://127.0.0.1:{port}", terminal_account)
    with pytest.raises(ApiUnavailable, match="cannot reach"):
        absent.describe_terminal()
    assert "サーバー" in ApiUnavailable("x").message().japanese
    absent.close()


def test_a_server_error_is_unavailable_not_a_refusal(terminal_account: LocalAccount) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(500, text="boom"))
    broken = HttpCounterApi("http://127.0.0.1:1", terminal_account, transport=transport)
    with pytest.raises(ApiUnavailable, match="500"):
        broken.describe_terminal()
    broken.close()
