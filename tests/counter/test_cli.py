"""`mykey counter init | check | text | web` as an operator runs them, against the fake API."""

from __future__ import annotations

import io
import stat
import threading
import time
import tomllib
from pathlib import Path

import httpx
import pytest

from card_bridge.counter import main
from card_bridge.counter.config import ConfigError, load_config, unlock_keystore
from card_bridge.pcsc import PcscReaders
from card_bridge.virtual_card.vpcd import VpcdLink
from tests.card.conftest import TEST_PIN
from tests.counter.conftest import BUSINESS, SERVICE, SERVICE_ID
from tests.counter.fake_api import FakeApiServer, FakeTerminal

PASSPHRASE = "correct horse battery staple"


def no_prompt(prompt: str) -> str:
    raise AssertionError(f"unexpected prompt {prompt!r}")


@pytest.fixture
def configured(
    tmp_path: Path, fake_api: FakeApiServer, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, str]:
    """A counter set up by `init` and registered at the fake API; returns (config, address)."""
    monkeypatch.setenv("MYKEY_TERMINAL_PASSPHRASE", PASSPHRASE)
    config = tmp_path / "counter" / "counter.toml"
    out = io.StringIO()
    code = _run_init(config, fake_api.url, out)
    assert code == 0, out.getvalue()
    address = next(line.split(": ")[1] for line in out.getvalue().splitlines() if "address" in line)
    fake_api.platform.terminals[address.lower()] = FakeTerminal(
        BUSINESS, ("service-id-lookup", "point-use")
    )
    return config, address


def _run_init(config: Path, url: str, out: io.StringIO) -> int:
    from card_bridge.counter.cli import main as cli_main

    return cli_main(
        [
            "init",
            "--config",
            str(config),
            "--api-url",
            url,
            "--business",
            BUSINESS,
            "--kind",
            "service-id-lookup",
            "--kind",
            "point-use",
            "--service-code",
            SERVICE,
            "--delivery",
            "barcode",
            "--reader",
            "Virtual PCD 00 00",
        ],
        read_secret=no_prompt,
        stdout=out,
    )


def test_init_writes_a_private_config_and_an_encrypted_key(configured: tuple[Path, str]) -> None:
    config_path, address = configured
    config = load_config(config_path)
    assert config.business == BUSINESS and config.service_code == SERVICE
    assert config.keystore == config_path.parent / "terminal-key.json"
    for path in (config_path, config.keystore):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = tomllib.loads(config_path.read_text())
    assert raw["delivery"] == "barcode" and raw["keystore"] == "terminal-key.json"
    assert PASSPHRASE not in config.keystore.read_text()
    assert unlock_keystore(config.keystore, PASSPHRASE).address == address
    with pytest.raises(ConfigError, match="passphrase"):
        unlock_keystore(config.keystore, "wrong")


def test_init_refuses_to_overwrite(
    configured: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    config_path, _ = configured
    assert _run_init(config_path, "http://127.0.0.1:1", io.StringIO()) == 1
    assert "already exists" in capsys.readouterr().err


def test_check_reports_the_registration(configured: tuple[Path, str]) -> None:
    from card_bridge.counter.cli import main as cli_main

    config_path, address = configured
    out = io.StringIO()
    assert cli_main(["check", "--config", str(config_path)], stdout=out) == 0
    assert address.lower() in out.getvalue() and BUSINESS in out.getvalue()


def test_check_of_an_unregistered_terminal_says_so(
    configured: tuple[Path, str], fake_api: FakeApiServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from card_bridge.counter.cli import main as cli_main

    config_path, _ = configured
    fake_api.platform.terminals.clear()
    assert cli_main(["check", "--config", str(config_path)], stdout=io.StringIO()) == 1
    assert "登録されていません" in capsys.readouterr().err


def test_a_missing_config_says_how_to_make_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--config", str(tmp_path / "none.toml")]) == 1
    assert "mykey counter init" in capsys.readouterr().err


@pytest.mark.realstack
def test_text_command_serves_a_lookup_with_the_card(
    configured: tuple[Path, str], inserted_card: VpcdLink
) -> None:
    from card_bridge.counter.cli import main as cli_main

    config_path, _ = configured
    out = io.StringIO()
    code = cli_main(
        ["text", "--config", str(config_path)],
        readers=PcscReaders(),
        read_secret=lambda prompt: TEST_PIN,
        stdin=io.StringIO("1\n\nq\n"),
        stdout=out,
    )
    assert code == 0
    assert SERVICE_ID in out.getvalue()


def test_web_command_serves_on_loopback_until_stopped(configured: tuple[Path, str]) -> None:
    from card_bridge.counter.cli import main as cli_main

    config_path, _ = configured
    out = io.StringIO()
    stop = threading.Event()
    codes: list[int] = []
    runner = threading.Thread(
        target=lambda: codes.append(
            cli_main(["web", "--config", str(config_path), "--port", "0"], stdout=out, stop=stop)
        )
    )
    runner.start()
    try:
        deadline = time.monotonic() + 30
        while "counter page:" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.05)
        url = out.getvalue().split("counter page: ")[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        page = httpx.get(url)
        assert page.status_code == 200 and "サービスID照会" in page.text
        assert "ポイント券発行" not in page.text  # not a voucher terminal
    finally:
        stop.set()
        runner.join(timeout=30)
    assert codes == [0]
