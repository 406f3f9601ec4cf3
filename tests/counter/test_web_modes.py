"""The tablet page's per-lookup delivery mode, on the real card stack (pcscd + vpcd virtual card).

Staff pick screen, barcode, keyboard or label on the lookup form; the configured mode is the one
preselected. Each test configures a different mode from the one chosen, so a pass proves the
choice on the page (not the configuration) decided how the number was delivered.
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
from card_bridge.counter.web import CounterWebPage, RunningPage
from card_bridge.virtual_card.vpcd import VpcdLink
from tests.card.conftest import TEST_PIN
from tests.counter.conftest import SERVICE_ID, RecordingKeyboard

LOOKUP_ONLY = (TerminalKind.SERVICE_ID_LOOKUP,)


@pytest.fixture
def labels(tmp_path: Path) -> Path:
    return tmp_path / "labels"


@pytest.fixture
def page(session: CounterSession, labels: Path) -> Iterator[tuple[str, CounterWebPage]]:
    web_page = CounterWebPage(session, LOOKUP_ONLY, label_directory=labels)
    running = RunningPage(web_page)
    port = running.start()
    yield f"http://127.0.0.1:{port}", web_page
    running.stop()


def checked_modes(html: str) -> list[str]:
    return re.findall(
        r'<input type="radio" id="delivery-\w+" name="delivery" value="(\w+)" checked>', html
    )


@pytest.mark.parametrize("configured", list(DeliveryMode))
def test_the_configured_mode_is_preselected_and_every_mode_is_offered(
    page: tuple[str, CounterWebPage], session: CounterSession, configured: DeliveryMode
) -> None:
    url, _ = page
    session.delivery = configured
    html = httpx.get(url + "/").text
    assert checked_modes(html) == [configured.value]
    offered = re.findall(r'name="delivery" value="(\w+)"', html)
    assert offered == [mode.value for mode in DeliveryMode]
    for mode in DeliveryMode:
        assert f'<label for="delivery-{mode.value}">' in html  # each radio has its label


def test_a_mode_the_form_never_offers_is_refused_before_the_card_is_used(
    page: tuple[str, CounterWebPage], keyboard: RecordingKeyboard, labels: Path
) -> None:
    url, web_page = page
    answer = httpx.post(
        url + "/lookup",
        data={"token": web_page.token, "pin": TEST_PIN, "delivery": "fax"},
        timeout=30,
    )
    assert answer.status_code == 400
    assert "unknown delivery mode 'fax'" in answer.text
    assert keyboard.typed == [] and not labels.exists()


def other_than(mode: DeliveryMode) -> DeliveryMode:
    """A configured mode that differs from `mode`, so the page's choice is what decides."""
    return DeliveryMode.LABEL if mode is not DeliveryMode.LABEL else DeliveryMode.KEYBOARD


def look_up(url: str, web_page: CounterWebPage, delivery: DeliveryMode | None) -> str:
    data = {"token": web_page.token, "pin": TEST_PIN}
    if delivery is not None:
        data["delivery"] = delivery.value
    answer = httpx.post(url + "/lookup", data=data, timeout=30)
    assert answer.status_code == 200, answer.text
    assert SERVICE_ID in answer.text and TEST_PIN not in answer.text
    return answer.text


def label_links(html: str) -> list[str]:
    return re.findall(r'href="(/labels/[^"]+)"', html)


@pytest.mark.realstack
@pytest.mark.parametrize(
    ("chosen", "shown", "not_shown", "typed"),
    [
        pytest.param(
            DeliveryMode.SCREEN,
            [f'<p class="number" aria-label="service ID">{SERVICE_ID}</p>'],
            ["<svg", 'href="/labels/'],
            [],
            id="screen-shows-the-number-only",
        ),
        pytest.param(
            DeliveryMode.BARCODE,
            ['<div class="barcode"><svg', "Scan the barcode."],
            [],
            [],
            id="barcode-shows-an-svg-barcode-to-scan",
        ),
        pytest.param(
            DeliveryMode.KEYBOARD,
            ["The number was typed into the app."],
            ["<svg"],
            [(SERVICE_ID, True)],
            id="keyboard-types-the-number-and-presses-enter",
        ),
    ],
)
def test_the_chosen_mode_delivers_the_number_and_makes_no_label(
    *,
    inserted_card: VpcdLink,
    page: tuple[str, CounterWebPage],
    session: CounterSession,
    keyboard: RecordingKeyboard,
    labels: Path,
    chosen: DeliveryMode,
    shown: list[str],
    not_shown: list[str],
    typed: list[tuple[str, bool]],
) -> None:
    url, web_page = page
    session.delivery = other_than(chosen)
    html = look_up(url, web_page, chosen)
    for fragment in shown:
        assert fragment in html
    for fragment in not_shown:
        assert fragment not in html
    assert keyboard.typed == typed
    assert not labels.exists()


@pytest.mark.realstack
def test_label_chosen_makes_a_label_whose_barcode_decodes_to_the_number(
    inserted_card: VpcdLink,
    page: tuple[str, CounterWebPage],
    session: CounterSession,
    keyboard: RecordingKeyboard,
) -> None:
    url, web_page = page
    session.delivery = other_than(DeliveryMode.LABEL)
    html = look_up(url, web_page, DeliveryMode.LABEL)
    links = label_links(html)
    assert {link.rsplit(".", 1)[1] for link in links} == {"pdf", "png"}
    png = httpx.get(url + next(link for link in links if link.endswith(".png")))
    image = Image.open(io.BytesIO(png.content)).convert("L")
    assert [found.text for found in zxingcpp.read_barcodes(image)] == [SERVICE_ID]
    assert keyboard.typed == []


@pytest.mark.realstack
def test_without_a_choice_the_configured_mode_delivers(
    inserted_card: VpcdLink,
    page: tuple[str, CounterWebPage],
    session: CounterSession,
    keyboard: RecordingKeyboard,
) -> None:
    url, web_page = page
    session.delivery = DeliveryMode.KEYBOARD
    look_up(url, web_page, None)
    assert keyboard.typed == [(SERVICE_ID, True)]
