"""Fixtures for the RPC tests: a fake ledger, a dispatcher over it, and a fake clock."""

from __future__ import annotations

import json
from typing import Any

import pytest

from node.rpc.dispatch import Dispatcher
from node.rpc.filters import FilterTable
from node.rpc.methods import EthApi, RpcLimits
from tests.rpc.fakes import FakeLedger


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class Rpc:
    """Calls a dispatcher the way a client would: JSON in, decoded JSON out."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.next_id = 0

    def raw(self, body: str | bytes) -> Any:
        answer = self.dispatcher.handle_bytes(body)
        return None if answer is None else json.loads(answer)

    def request(self, method: str, *params: Any) -> dict[str, Any]:
        self.next_id += 1
        message = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": list(params)}
        response = self.raw(json.dumps(message))
        assert response["id"] == self.next_id
        return dict(response)

    def __call__(self, method: str, *params: Any) -> Any:
        response = self.request(method, *params)
        assert "error" not in response, response
        return response["result"]

    def error(self, method: str, *params: Any) -> dict[str, Any]:
        response = self.request(method, *params)
        assert "error" in response, response
        return dict(response["error"])


@pytest.fixture
def ledger() -> FakeLedger:
    return FakeLedger()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def api(ledger: FakeLedger, clock: FakeClock) -> EthApi:
    limits = RpcLimits(max_batch=5, max_logs_block_range=3, max_request_bytes=4096)
    filters = FilterTable(idle_timeout=300.0)
    ledger.subscribe(filters.on_head)
    api = EthApi(ledger, ledger, filters, clock, limits)
    ledger.subscribe(api.on_head)
    return api


@pytest.fixture
def rpc(api: EthApi) -> Rpc:
    return Rpc(Dispatcher(api))
