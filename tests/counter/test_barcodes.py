"""Code 128 and the label files: every rendering decodes back to the number it was made from."""

from __future__ import annotations

import io
import string

import pypdfium2
import pytest
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from card_bridge.counter.barcode_views import barcode_svg, large_text, terminal_bars
from card_bridge.counter.code128 import QUIET_ZONE_MODULES, NotEncodable, encode
from card_bridge.counter.labels import (
    LabelContent,
    LabelTooNarrow,
    render_pdf,
    render_png,
    write_label,
)

PRINTABLE = st.text(alphabet=[chr(code) for code in range(0x20, 0x7F)], min_size=1, max_size=20)


def decode_widths(text: str) -> list[str]:
    barcode = encode(text)
    scale = 3
    image = Image.new("L", (barcode.total_modules * scale, 40), 255)
    draw = ImageDraw.Draw(image)
    for start, span in barcode.bars():
        draw.rectangle((start * scale, 0, (start + span) * scale - 1, 39), fill=0)
    return [found.text for found in zxingcpp.read_barcodes(image)]


@settings(max_examples=60, deadline=None)
@given(PRINTABLE.filter(lambda text: text.strip() == text))
def test_any_printable_ascii_round_trips_through_a_decoder(text: str) -> None:
    assert decode_widths(text) == [text]


@pytest.mark.parametrize("text", ["0123456789", "A1234B", "12345", "LIB-00012345", "9"])
def test_digit_runs_switch_code_sets_and_still_decode(text: str) -> None:
    assert decode_widths(text) == [text]


def test_digits_use_code_set_c_and_make_a_shorter_barcode() -> None:
    assert encode("12345678").total_modules < encode("ABCDEFGH").total_modules


def test_the_structure_has_quiet_zones_and_eleven_modules_a_symbol() -> None:
    barcode = encode("AB")
    # start + 2 symbols + check = 4 x 11 modules, stop = 13 modules.
    assert sum(barcode.widths) == 4 * 11 + 13
    assert barcode.bars()[0][0] == QUIET_ZONE_MODULES


@pytest.mark.parametrize("text", ["", "番号", "tab\there"])
def test_text_outside_printable_ascii_is_refused(text: str) -> None:
    with pytest.raises(NotEncodable):
        encode(text)


def test_svg_and_terminal_views() -> None:
    barcode = encode("LIB-<&>")
    svg = barcode_svg(barcode)
    assert svg.startswith("<svg") and "LIB-&lt;&amp;&gt;" in svg
    assert svg.count("<rect") == len(barcode.bars()) + 1
    assert "ＬＩＢ－" in large_text("LIB-0001")
    rows = terminal_bars(encode("A1"), rows=2).split("\n")
    assert len(rows) == 2 and len(rows[0]) * 2 >= encode("A1").total_modules


CONTENT = LabelContent("川崎市立図書館", "LIB-00012345", True, "2027-04-01")


def test_png_label_is_62_mm_wide_and_decodes() -> None:
    image = Image.open(io.BytesIO(render_png(CONTENT, width_mm=62.0, dpi=300)))
    assert image.width == round(62 / 25.4 * 300)
    assert image.info["dpi"][0] == pytest.approx(300, abs=0.01)
    assert [found.text for found in zxingcpp.read_barcodes(image.convert("L"))] == ["LIB-00012345"]


def test_pdf_label_is_one_label_page_that_decodes_and_says_valid_today_only() -> None:
    document = pypdfium2.PdfDocument(render_pdf(CONTENT, width_mm=62.0))
    assert len(document) == 1
    page = document[0]
    width, _ = page.get_size()
    assert width == pytest.approx(62 / 25.4 * 72, abs=0.1)
    text = page.get_textpage().get_text_range()
    assert "LIB-00012345" in text
    assert "本日限り有効" in text and "2027-04-01" in text and "valid today only" in text
    image = page.render(scale=300 / 72).to_pil()
    assert [found.text for found in zxingcpp.read_barcodes(image)] == ["LIB-00012345"]
    document.close()


def test_a_label_without_a_day_limit_says_nothing_of_it() -> None:
    content = LabelContent("Museum", "M-1", False, "2027-04-01")
    document = pypdfium2.PdfDocument(render_pdf(content))
    text = document[0].get_textpage().get_text_range()
    assert "本日限り" not in text and "M-1" in text
    document.close()


def test_a_number_too_long_for_the_label_is_refused() -> None:
    long_number = "".join(string.ascii_uppercase * 2)
    with pytest.raises(LabelTooNarrow, match="wider"):
        render_pdf(LabelContent("x", long_number, False, "2027-04-01"), width_mm=29.0)


def test_label_files_are_named_by_time_not_by_number(tmp_path: object) -> None:
    from datetime import UTC, datetime
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    files = write_label(tmp_path, CONTENT, width_mm=62.0, now=datetime(2027, 4, 1, tzinfo=UTC))
    assert files.png.exists() and files.pdf.exists()
    assert "LIB" not in files.png.name and "LIB" not in files.pdf.name
