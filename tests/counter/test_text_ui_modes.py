"""The text interface's per-lookup delivery menu, on the real card stack (pcscd + vpcd card).

The operator presses a-d (screen, barcode, keyboard, label: DOMAIN.md flow 2's A-D) or Enter for
the configured mode. Each test that picks a mode configures a different one, so a pass proves the
key pressed (not the configuration) decided how the number was delivered; each asserts that
mode's delivery happened and that no other mode's did (nothing typed, no label written).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from card_bridge.counter.barcode_views import large_text, terminal_bars
from card_bridge.counter.code128 import encode
from card_bridge.counter.config import DeliveryMode
from card_bridge.counter.ports import TerminalKind
from card_bridge.counter.session import CounterSession
from card_bridge.counter.text_ui import DELIVERY_KEYS, TextUi
from card_bridge.virtual_card.vpcd import VpcdLink
from tests.card.conftest import TEST_PIN
from tests.counter.conftest import SERVICE_ID, RecordingKeyboard

LOOKUP_ONLY = (TerminalKind.SERVICE_ID_LOOKUP,)
KEY_OF = {mode: key for key, mode in DELIVERY_KEYS.items()}


class Pins:
    """The PIN reader's fake: answers the PINs given, counts how often it was asked."""

    def __init__(self, *pins: str) -> None:
        self.pins = list(pins)
        self.asked = 0

    def __call__(self, prompt: str) -> str:
        self.asked += 1
        return self.pins.pop(0)


def run_text(
    session: CounterSession, script: str, pins: Pins, opened: list[Path] | None = None
) -> str:
    """Drive the text interface through `script` (one line per Enter); return what it printed."""
    out = io.StringIO()
    ui = TextUi(
        session,
        LOOKUP_ONLY,
        stdin=io.StringIO(script),
        stdout=out,
        read_pin=pins,
        open_file=(opened if opened is not None else []).append,
    )
    assert ui.run() == 0
    return out.getvalue()


def other_than(mode: DeliveryMode) -> DeliveryMode:
    """A configured mode that differs from `mode`, so the key pressed is what decides."""
    return DeliveryMode.LABEL if mode is not DeliveryMode.LABEL else DeliveryMode.KEYBOARD


@pytest.fixture
def labels(tmp_path: Path) -> Path:
    """Where the session writes labels (the `session` fixture's label directory)."""
    return tmp_path / "labels"


def test_the_keys_follow_flow_2s_a_to_d() -> None:
    assert DELIVERY_KEYS == {
        "a": DeliveryMode.SCREEN,
        "b": DeliveryMode.BARCODE,
        "c": DeliveryMode.KEYBOARD,
        "d": DeliveryMode.LABEL,
    }


@pytest.mark.parametrize("configured", list(DeliveryMode))
def test_the_menu_marks_the_configured_mode_and_end_of_input_uses_no_card(
    session: CounterSession, keyboard: RecordingKeyboard, configured: DeliveryMode
) -> None:
    session.delivery = configured
    pins = Pins()
    output = run_text(session, "1\n", pins)
    marked = [line for line in output.splitlines() if line.endswith(" *")]
    assert len(marked) == 1 and marked[0].startswith(f"  {KEY_OF[configured]}) ")
    for key in DELIVERY_KEYS:
        assert f"  {key}) " in output
    assert pins.asked == 0 and keyboard.typed == []
    assert output.rstrip().endswith("Bye")


@pytest.mark.realstack
def test_a_chooses_the_screen(
    inserted_card: VpcdLink,
    session: CounterSession,
    keyboard: RecordingKeyboard,
    labels: Path,
) -> None:
    session.delivery = other_than(DeliveryMode.SCREEN)
    output = run_text(session, "1\na\nq\n", Pins(TEST_PIN))
    assert large_text(SERVICE_ID) in output
    assert terminal_bars(encode(SERVICE_ID)) not in output
    assert keyboard.typed == [] and not labels.exists()
    assert TEST_PIN not in output


@pytest.mark.realstack
def test_b_chooses_the_barcode_and_o_opens_it(
    inserted_card: VpcdLink,
    session: CounterSession,
    keyboard: RecordingKeyboard,
    labels: Path,
) -> None:
    session.delivery = other_than(DeliveryMode.BARCODE)
    opened: list[Path] = []
    output = run_text(session, "1\nB\no\nq\n", Pins(TEST_PIN), opened)
    assert terminal_bars(encode(SERVICE_ID)) in output
    assert len(opened) == 1 and opened[0].suffix == ".svg"
    assert SERVICE_ID in opened[0].read_text(encoding="utf-8")
    opened[0].unlink()
    assert keyboard.typed == [] and not labels.exists()


@pytest.mark.realstack
def test_c_chooses_the_keyboard(
    inserted_card: VpcdLink,
    session: CounterSession,
    keyboard: RecordingKeyboard,
    labels: Path,
) -> None:
    session.delivery = other_than(DeliveryMode.KEYBOARD)
    output = run_text(session, "1\nc\nq\n", Pins(TEST_PIN))
    assert keyboard.typed == [(SERVICE_ID, True)]
    assert "番号を入力欄に自動入力しました。" in output
    assert terminal_bars(encode(SERVICE_ID)) not in output and not labels.exists()


@pytest.mark.realstack
def test_d_chooses_a_label_whose_barcode_decodes_to_the_number(
    inserted_card: VpcdLink,
    session: CounterSession,
    keyboard: RecordingKeyboard,
    labels: Path,
) -> None:
    session.delivery = other_than(DeliveryMode.LABEL)
    output = run_text(session, "1\nd\nq\n", Pins(TEST_PIN))
    png = next(line[5:] for line in output.splitlines() if line.startswith("PNG: "))
    pdf = next(line[5:] for line in output.splitlines() if line.startswith("PDF: "))
    assert Path(png).parent == labels and Path(pdf).read_bytes().startswith(b"%PDF")
    image = Image.open(png).convert("L")
    assert [found.text for found in zxingcpp.read_barcodes(image)] == [SERVICE_ID]
    assert keyboard.typed == []


@pytest.mark.realstack
def test_enter_keeps_the_configured_mode(
    inserted_card: VpcdLink, session: CounterSession, keyboard: RecordingKeyboard
) -> None:
    session.delivery = DeliveryMode.KEYBOARD
    run_text(session, "1\n\nq\n", Pins(TEST_PIN))
    assert keyboard.typed == [(SERVICE_ID, True)]


@pytest.mark.realstack
def test_a_wrong_key_asks_again_before_the_card_is_used(
    inserted_card: VpcdLink,
    session: CounterSession,
    keyboard: RecordingKeyboard,
    labels: Path,
) -> None:
    session.delivery = DeliveryMode.LABEL
    pins = Pins(TEST_PIN)
    output = run_text(session, "1\nx\n2\nc\nq\n", pins)
    assert output.count("Press a, b, c, d or Enter") == 2
    assert pins.asked == 1
    assert keyboard.typed == [(SERVICE_ID, True)] and not labels.exists()
