"""Both front ends on the real stack: the text interface through its streams, the page over HTTP.

They share `CounterSession` and `render`, so the same refusal reads the same in both.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import zxingcpp
from PIL import Image

from card_bridge.counter.config import DeliveryMode
from card_bridge.counter.ports import TerminalKind
from card_bridge.counter.session import CounterSession
from card_bridge.counter.text_ui import TextUi
from card_bridge.counter.web import CounterWebPage, RunningPage
from card_bridge.virtual_card.vpcd import VpcdLink
from tests.card.conftest import TEST_PIN
from tests.counter.conftest import SERVICE_ID
from tests.counter.fake_api import FakePlatform, FakeResident

pytestmark = pytest.mark.realstack

ALL = (TerminalKind.SERVICE_ID_LOOKUP, TerminalKind.POINT_USE, TerminalKind.VOUCHER_ISSUE)


class Pins:
    def __init__(self, *pins: str) -> None:
        self.pins = list(pins)
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return self.pins.pop(0)


def run_text(session: CounterSession, script: str, pins: Pins, opened: list[Path]) -> str:
    out = io.StringIO()
    ui = TextUi(
        session, ALL, stdin=io.StringIO(script), stdout=out, read_pin=pins, open_file=opened.append
    )
    assert ui.run() == 0
    return out.getvalue()


def test_text_ui_lookup_as_barcode_then_redeem_then_a_refusal(
    inserted_card: VpcdLink, session: CounterSession, platform: FakePlatform
) -> None:
    session.delivery = DeliveryMode.BARCODE
    opened: list[Path] = []
    pins = Pins(TEST_PIN, TEST_PIN, TEST_PIN)
    # Enter at the delivery menu keeps the configured mode (barcode here)
    output = run_text(session, "1\n\no\n2\n1,200\n2\n99999\nq\n", pins, opened)
    assert "ＬＩＢ－" in output and SERVICE_ID in output
    assert "本日" in output  # valid today only
    assert "残りポイント: 2,800" in output and "Remaining: 2,800 points" in output
    assert "ポイントが足りません（残高 2,800 ポイント）" in output
    assert TEST_PIN not in output
    assert all("hidden" in prompt for prompt in pins.prompts)
    assert len(opened) == 1 and opened[0].suffix == ".svg"
    assert SERVICE_ID in opened[0].read_text(encoding="utf-8")
    opened[0].unlink()


def test_text_ui_wrong_pin_then_voucher_and_bad_amount(
    inserted_card: VpcdLink, session: CounterSession
) -> None:
    output = run_text(session, "3\n500\n3\n500\n2\nabc\n", Pins("9999", TEST_PIN), [])
    assert "暗証番号が違います。あと 2 回" in output
    assert "券番号: V-" in output and "残りポイント: 3,500" in output
    assert "金額は 1 以上の整数です" in output
    assert output.rstrip().endswith("Bye")


def test_text_ui_shows_only_the_kinds_registered(session: CounterSession) -> None:
    out = io.StringIO()
    TextUi(session, (TerminalKind.POINT_USE,), stdin=io.StringIO("1\nq\n"), stdout=out).run()
    text = out.getvalue()
    assert "Redeem points" in text and "Look up" not in text
    assert "Choose one of the numbers" in text


@pytest.fixture
def page(session: CounterSession, tmp_path: Path) -> Iterator[tuple[str, CounterWebPage]]:
    web_page = CounterWebPage(session, ALL, label_directory=tmp_path / "labels")
    running = RunningPage(web_page)
    port = running.start()
    yield f"http://127.0.0.1:{port}", web_page
    running.stop()


def test_web_page_forms_carry_the_token_and_no_script(
    page: tuple[str, CounterWebPage],
) -> None:
    url, web_page = page
    answer = httpx.get(url + "/")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    assert "<script" not in answer.text
    assert answer.text.count(f'value="{web_page.token}"') == 3
    assert 'type="password"' in answer.text and 'lang="ja"' in answer.text


def test_web_page_refuses_a_post_without_the_token(
    inserted_card: VpcdLink, page: tuple[str, CounterWebPage], resident: FakeResident
) -> None:
    url, _ = page
    answer = httpx.post(url + "/redeem", data={"amount": "100", "pin": TEST_PIN})
    assert answer.status_code == 403
    assert resident.balance == 4000


def test_web_page_lookup_shows_an_svg_barcode_and_links_the_label(
    inserted_card: VpcdLink, page: tuple[str, CounterWebPage], session: CounterSession
) -> None:
    url, web_page = page
    session.delivery = DeliveryMode.BARCODE
    answer = httpx.post(
        url + "/lookup", data={"token": web_page.token, "pin": TEST_PIN}, timeout=30
    )
    assert answer.status_code == 200
    assert "<svg" in answer.text and SERVICE_ID in answer.text
    assert TEST_PIN not in answer.text
    session.delivery = DeliveryMode.LABEL
    answer = httpx.post(
        url + "/lookup", data={"token": web_page.token, "pin": TEST_PIN}, timeout=30
    )
    links = re.findall(r'href="(/labels/[^"]+)"', answer.text)
    assert {link.rsplit(".", 1)[1] for link in links} == {"pdf", "png"}
    png = httpx.get(url + next(link for link in links if link.endswith(".png")))
    assert png.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(png.content)).convert("L")
    assert [found.text for found in zxingcpp.read_barcodes(image)] == [SERVICE_ID]
    assert httpx.get(url + "/labels/..%2Fsecret.png").status_code == 404


def test_web_page_redeem_and_refusal_read_like_the_text_interface(
    inserted_card: VpcdLink, page: tuple[str, CounterWebPage]
) -> None:
    url, web_page = page
    done = httpx.post(
        url + "/redeem",
        data={"token": web_page.token, "amount": "700", "pin": TEST_PIN},
        timeout=30,
    )
    assert "残りポイント: 3,300" in done.text
    refused = httpx.post(
        url + "/voucher", data={"token": web_page.token, "amount": "1", "pin": "0000"}, timeout=30
    )
    assert "暗証番号が違います。あと 2 回" in refused.text
    assert "Wrong PIN. 2 tries left" in refused.text
