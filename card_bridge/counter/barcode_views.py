"""The barcode on screen: an SVG for the web page and a large-text rendering for the terminal.

Both come from `code128.encode`, so the number a scanner reads from the tablet and the number the
text interface shows are the same one. The SVG uses whole-pixel modules and `shape-rendering:
crispEdges` so browsers do not blur bar edges into grey, which scanners misread.

Invariants: the SVG's text is XML-escaped; nothing here writes files or logs the number.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from card_bridge.counter.code128 import QUIET_ZONE_MODULES, Barcode

FULL_WIDTH_OFFSET = 0xFEE0
"""Printable ASCII 0x21-0x7E maps to the full-width forms at U+FF01-U+FF5E."""

GROUP = 4
"""Characters per group in the large rendering: staff read 4 at a time more reliably."""


def barcode_svg(barcode: Barcode, *, module_px: int = 3, bar_height_px: int = 120) -> str:
    """Return a standalone SVG of the barcode with its text below, white background."""
    width = barcode.total_modules * module_px
    text_height = 36
    height = bar_height_px + text_height
    bars = "".join(
        f'<rect x="{start * module_px}" y="0" width="{span * module_px}" height="{bar_height_px}"/>'
        for start, span in barcode.bars()
    )
    label = escape(barcode.text)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="barcode {label}" '
        'shape-rendering="crispEdges">'
        f'<rect width="{width}" height="{height}" fill="#fff"/>'
        f'<g fill="#000">{bars}</g>'
        f'<text x="{width // 2}" y="{bar_height_px + 28}" font-family="monospace" '
        f'font-size="26" text-anchor="middle" fill="#000">{label}</text>'
        "</svg>"
    )


def large_text(text: str) -> str:
    """Return `text` in full-width characters, grouped by four, inside a box (for the terminal)."""
    wide = "".join(
        chr(ord(character) + FULL_WIDTH_OFFSET) if 0x21 <= ord(character) <= 0x7E else "　"
        for character in text
    )
    groups = [wide[index : index + GROUP] for index in range(0, len(wide), GROUP)]
    line = "　".join(groups)
    # Full-width characters take two terminal columns each.
    columns = 2 * len(line)
    return "\n".join(
        ("┏" + "━" * (columns + 2) + "┓", f"┃ {line} ┃", "┗" + "━" * (columns + 2) + "┛")
    )


def terminal_bars(barcode: Barcode, *, rows: int = 4) -> str:
    """Return the bars drawn with half-block characters, two modules to a terminal column.

    For staff to see that a barcode exists and for wide terminals to scan; the SVG (opened from
    the text interface) is what a scanner reads reliably.
    """
    modules = [False] * QUIET_ZONE_MODULES
    for index, width in enumerate(barcode.widths):
        modules += [index % 2 == 0] * width
    modules += [False] * QUIET_ZONE_MODULES
    if len(modules) % 2:
        modules.append(False)
    glyphs = {(True, True): "█", (True, False): "▌", (False, True): "▐", (False, False): " "}
    line = "".join(glyphs[(modules[i], modules[i + 1])] for i in range(0, len(modules), 2))
    return "\n".join([line] * rows)
