"""How `mykey api serve` turns MYKEY_API_* variables into the pages' settings and public origin.

Covers the variables' defaults and validation (each error names its variable), the rule that a
served deployment gets the chain config's RPC URL and deployment and never the virtual card, the
refusal of pages without a chain, and `PublicOrigin` presenting requests as the browser made them.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from api.chain.side import ChainSide
from api.pages.from_settings import PagesWithoutChain, PublicOrigin, served_pages
from api.settings import ApiSettings, SettingsError
from card_bridge.browser_helper.config import DEFAULT_HELPER_URL

RPC_URL = "http://10.0.0.5:8545"


def _chain() -> ChainSide:
    """A stand-in chain side: `served_pages` reads only its config's RPC URL and deployment."""
    deployment = SimpleNamespace(chain_id=1337)
    return cast(
        ChainSide, SimpleNamespace(config=SimpleNamespace(rpc_url=RPC_URL, deployment=deployment))
    )


def test_serve_page_variables_default_to_a_deployment_behind_tls(tmp_path: Path) -> None:
    settings = ApiSettings.from_environment(tmp_path, {})
    assert settings.serve_pages is None  # decided by whether a chain is configured
    assert settings.secure_cookies is True
    assert settings.card_helper_url == DEFAULT_HELPER_URL
    assert settings.public_origin is None
    assert settings.run_keepers is False


def test_serve_page_variables_are_read(tmp_path: Path) -> None:
    settings = ApiSettings.from_environment(
        tmp_path,
        {
            "MYKEY_API_PAGES": "off",
            "MYKEY_API_SECURE_COOKIES": "off",
            "MYKEY_API_CARD_HELPER_URL": "http://127.0.0.1:9999/",
            "MYKEY_API_PUBLIC_ORIGIN": "https://mykey.example.jp",
            "MYKEY_API_RUN_KEEPERS": "on",
        },
    )
    assert settings.serve_pages is False
    assert settings.secure_cookies is False
    assert settings.card_helper_url == "http://127.0.0.1:9999"
    assert settings.public_origin == "https://mykey.example.jp"
    assert settings.run_keepers is True


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MYKEY_API_PAGES", "sometimes"),
        ("MYKEY_API_SECURE_COOKIES", "https"),
        ("MYKEY_API_RUN_KEEPERS", "2"),
        ("MYKEY_API_CARD_HELPER_URL", "127.0.0.1:47125"),
        ("MYKEY_API_CARD_HELPER_URL", "file:///helper"),
        ("MYKEY_API_PUBLIC_ORIGIN", "https://mykey.example.jp/"),
        ("MYKEY_API_PUBLIC_ORIGIN", "https://mykey.example.jp/my"),
        ("MYKEY_API_PUBLIC_ORIGIN", "mykey.example.jp"),
        ("MYKEY_API_PUBLIC_ORIGIN", "*"),
    ],
)
def test_malformed_page_variables_name_themselves(
    tmp_path: Path, variable: str, value: str
) -> None:
    with pytest.raises(SettingsError, match=variable):
        ApiSettings.from_environment(tmp_path, {variable: value})


def test_pages_with_a_chain_read_its_node_and_never_offer_the_virtual_card(tmp_path: Path) -> None:
    settings = ApiSettings.from_environment(
        tmp_path,
        {"MYKEY_API_CARD_HELPER_URL": "http://127.0.0.1:9999", "MYKEY_API_SECURE_COOKIES": "0"},
    )
    chain = _chain()
    pages = served_pages(settings, chain)
    assert pages is not None
    assert pages.rpc_url == RPC_URL
    assert pages.deployment is chain.config.deployment
    assert pages.virtual_card is None
    assert pages.secure_cookies is False
    assert pages.card_helper_url == "http://127.0.0.1:9999"
    assert served_pages(ApiSettings.from_environment(tmp_path, {}), chain) is not None


def test_pages_off_or_without_a_chain(tmp_path: Path) -> None:
    off = ApiSettings.from_environment(tmp_path, {"MYKEY_API_PAGES": "off"})
    assert served_pages(off, _chain()) is None
    assert served_pages(ApiSettings.from_environment(tmp_path, {}), None) is None
    on = ApiSettings.from_environment(tmp_path, {"MYKEY_API_PAGES": "on"})
    with pytest.raises(PagesWithoutChain, match="MYKEY_API_CHAIN_CONFIG"):
        served_pages(on, None)


def _echo_app() -> FastAPI:
    app = FastAPI()

    @app.get("/where")
    def where(request: Request) -> dict[str, str]:
        return {
            "base_url": str(request.base_url),
            "host": request.headers["host"],
            "scheme": request.url.scheme,
        }

    return app


@pytest.mark.parametrize(
    ("origin", "base_url"),
    [
        ("https://mykey.example.jp", "https://mykey.example.jp/"),
        ("http://counter.example.jp:8443", "http://counter.example.jp:8443/"),
    ],
)
def test_public_origin_presents_requests_as_the_browser_made_them(
    origin: str, base_url: str
) -> None:
    with TestClient(PublicOrigin(_echo_app(), origin), base_url="http://127.0.0.1:8080") as http:
        seen = http.get("/where", headers={"X-Forwarded-Host": "evil.example"}).json()
    assert seen["base_url"] == base_url
    assert seen["host"] == origin.split("://", 1)[1]
    assert seen["scheme"] == origin.split("://", 1)[0]


def test_without_public_origin_the_request_url_is_kept() -> None:
    with TestClient(_echo_app(), base_url="http://127.0.0.1:8080") as http:
        seen = http.get("/where").json()
    assert seen == {
        "base_url": "http://127.0.0.1:8080/",
        "host": "127.0.0.1:8080",
        "scheme": "http",
    }


def test_public_origin_refuses_a_non_origin() -> None:
    with pytest.raises(ValueError, match="scheme://host"):
        PublicOrigin(_echo_app(), "mykey.example.jp")
