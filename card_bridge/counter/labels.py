"""Barcode labels for a label printer: a PNG and a PDF of the same label (delivery mode D).

The label is `width_mm` wide (62 mm continuous rolls by default) and carries the service's name,
the Code 128 barcode, the number as text under it, and "本日限り有効 / valid today only" with the
date when the service says a label is valid for the day. The PDF is vector (bars stay sharp at
any printer resolution; Japanese text in the standard HeiseiKakuGo-W5 CID font, so no font file
is embedded); the PNG is drawn at `dpi` with whole-pixel modules and uses IPA Gothic when it is
installed (Debian fonts-ipafont-gothic), else English text only.

Invariants: a label whose modules would be narrower than `MIN_MODULE_MM` is refused, not printed
unreadably; file names carry the time, never the number.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
from reportlab.pdfbase.cidfonts import UnicodeCIDFont  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]

from card_bridge.counter.code128 import QUIET_ZONE_MODULES, encode
from card_bridge.counter.refusals import CounterError

LABEL_HEIGHT_MM = 32.0
MARGIN_MM = 2.0
MIN_MODULE_MM = 0.19
"""Below about 0.19 mm (7.5 mil) bars blur on a 300 dpi thermal head."""

PDF_FONT = "HeiseiKakuGo-W5"
PNG_FONT_PATHS = (
    Path("/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf"),
    Path("/usr/share/fonts/truetype/fonts-japanese-gothic.ttf"),
)


class LabelTooNarrow(CounterError):
    """The number is too long to print readably on a label this wide."""


@dataclass(frozen=True)
class LabelContent:
    """What a label says."""

    service_name: str
    service_id: str
    valid_today_only: bool
    valid_on: str


@dataclass(frozen=True)
class LabelFiles:
    """The two files written for one label."""

    png: Path
    pdf: Path


def validity_line(content: LabelContent, *, japanese: bool = True) -> str:
    """Return the validity text, or "" when the label does not expire."""
    if not content.valid_today_only:
        return ""
    if japanese:
        return f"本日限り有効（{content.valid_on}）valid today only"
    return f"valid today only ({content.valid_on})"


def _module_mm(service_id: str, width_mm: float) -> float:
    barcode = encode(service_id)
    module = (width_mm - 2 * MARGIN_MM) / barcode.total_modules
    if module < MIN_MODULE_MM:
        raise LabelTooNarrow(
            f"a {len(service_id)}-character number needs a label wider than {width_mm:g} mm "
            f"(bars would be {module:.2f} mm, at least {MIN_MODULE_MM} mm is readable)"
        )
    return module


def render_pdf(content: LabelContent, *, width_mm: float = 62.0) -> bytes:
    """Return a one-page PDF exactly one label in size."""
    module = _module_mm(content.service_id, width_mm) * mm
    barcode = encode(content.service_id)
    if PDF_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(PDF_FONT))
    buffer = io.BytesIO()
    page = Canvas(buffer, pagesize=(width_mm * mm, LABEL_HEIGHT_MM * mm), invariant=1)
    page.setTitle("service ID label")
    top = LABEL_HEIGHT_MM * mm - MARGIN_MM * mm
    page.setFont(PDF_FONT, 8)
    page.drawString(MARGIN_MM * mm, top - 7, content.service_name)
    bar_top, bar_bottom = top - 10, 11 * mm
    left = MARGIN_MM * mm
    for start, span in barcode.bars():
        page.rect(left + start * module, bar_bottom, span * module, bar_top - bar_bottom, 0, 1)
    page.setFont("Courier-Bold", 11)
    page.drawCentredString(width_mm * mm / 2, bar_bottom - 4 * mm, content.service_id)
    validity = validity_line(content)
    if validity:
        page.setFont(PDF_FONT, 7)
        page.drawCentredString(width_mm * mm / 2, MARGIN_MM * mm, validity)
    page.showPage()
    page.save()
    return buffer.getvalue()


def render_png(content: LabelContent, *, width_mm: float = 62.0, dpi: int = 300) -> bytes:
    """Return the label as a 1-bit PNG at `dpi`, modules a whole number of pixels wide."""
    barcode = encode(content.service_id)
    width_px = round(width_mm / 25.4 * dpi)
    height_px = round(LABEL_HEIGHT_MM / 25.4 * dpi)
    margin_px = round(MARGIN_MM / 25.4 * dpi)
    module_px = (width_px - 2 * margin_px) // barcode.total_modules
    if module_px < 2 or module_px * 25.4 / dpi < MIN_MODULE_MM:
        raise LabelTooNarrow(
            f"a {len(content.service_id)}-character number does not fit a {width_mm:g} mm label "
            f"at {dpi} dpi: choose a wider label"
        )
    image = Image.new("1", (width_px, height_px), 1)
    draw = ImageDraw.Draw(image)
    japanese_font = next((path for path in PNG_FONT_PATHS if path.exists()), None)
    small = _font(japanese_font, height_px // 12)
    large = _font(japanese_font, height_px // 8)
    name = (
        content.service_name
        if japanese_font
        else content.service_name.encode("ascii", "ignore").decode()
    )
    draw.text((margin_px, margin_px // 2), name, font=small, fill=0)
    bar_top = margin_px + height_px // 8
    bar_bottom = height_px - height_px // 3
    left = margin_px + (width_px - 2 * margin_px - module_px * barcode.total_modules) // 2
    for start, span in barcode.bars():
        x = left + start * module_px
        draw.rectangle((x, bar_top, x + span * module_px - 1, bar_bottom), fill=0)
    draw.text((width_px // 2, bar_bottom + 4), content.service_id, font=large, fill=0, anchor="ma")
    validity = validity_line(content, japanese=japanese_font is not None)
    if validity:
        draw.text((width_px // 2, height_px - 4), validity, font=small, fill=0, anchor="md")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", dpi=(dpi, dpi))
    return buffer.getvalue()


def write_label(
    directory: Path, content: LabelContent, *, width_mm: float, now: datetime
) -> LabelFiles:
    """Write the PNG and the PDF of one label into `directory`; return their paths."""
    png = render_png(content, width_mm=width_mm)
    pdf = render_pdf(content, width_mm=width_mm)
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"label-{now:%Y%m%d-%H%M%S-%f}"
    files = LabelFiles(directory / f"{stem}.png", directory / f"{stem}.pdf")
    files.png.write_bytes(png)
    files.pdf.write_bytes(pdf)
    return files


def _font(path: Path | None, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if path is not None:
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


__all__ = ["QUIET_ZONE_MODULES", "LabelContent", "LabelFiles", "render_pdf", "render_png"]
