"""Code 128 (ISO/IEC 15417) encoding: a service ID as a list of bar and space widths.

Every barcode the counter shows or prints (the web page's SVG, the text interface's large
rendering, the PNG and PDF labels) is drawn from the one `encode` result, so they always agree.
Digit runs of four or more use code set C (two digits a symbol) for a shorter label; everything
else uses code set B (printable ASCII, 0x20-0x7E), which is what customer numbers are.

Invariants: the output starts and ends with a quiet zone of 10 modules, alternates bar/space
starting with a bar, and carries the modulo-103 check symbol.
"""

from __future__ import annotations

from dataclasses import dataclass

PATTERNS: tuple[str, ...] = (
    "212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312", "132212",
    "221213", "221312", "231212", "112232", "122132", "122231", "113222", "123122", "123221",
    "223211", "221132", "221231", "213212", "223112", "312131", "311222", "321122", "321221",
    "312212", "322112", "322211", "212123", "212321", "232121", "111323", "131123", "131321",
    "112313", "132113", "132311", "211313", "231113", "231311", "112133", "112331", "132131",
    "113123", "113321", "133121", "313121", "211331", "231131", "213113", "213311", "213131",
    "311123", "311321", "331121", "312113", "312311", "332111", "314111", "221411", "431111",
    "111224", "111422", "121124", "121421", "141122", "141221", "112214", "112412", "122114",
    "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111", "111242",
    "121142", "121241", "114212", "124112", "124211", "411212", "421112", "421211", "212141",
    "214121", "412121", "111143", "111341", "131141", "114113", "114311", "411113", "411311",
    "113141", "114131", "311141", "411131", "211412", "211214", "211232",
)  # fmt: skip
"""Symbol values 0..105 as bar/space widths; 103-105 are START A/B/C (the stop is separate)."""

STOP_PATTERN = "2331112"
START_B = 104
START_C = 105
CODE_B = 100
CODE_C = 99
QUIET_ZONE_MODULES = 10
"""ISO/IEC 15417 asks for at least 10 modules of white either side."""

MIN_DIGIT_RUN_FOR_C = 4


class NotEncodable(ValueError):
    """The text holds characters Code 128 set B cannot carry (only printable ASCII can)."""


@dataclass(frozen=True)
class Barcode:
    """An encoded barcode: the text it carries and its module widths, bar first."""

    text: str
    widths: tuple[int, ...]

    @property
    def total_modules(self) -> int:
        """Width in modules, quiet zones included."""
        return sum(self.widths) + 2 * QUIET_ZONE_MODULES

    def bars(self) -> list[tuple[int, int]]:
        """Return (start module, width) of each dark bar, counting from the left quiet zone."""
        position = QUIET_ZONE_MODULES
        found: list[tuple[int, int]] = []
        for index, width in enumerate(self.widths):
            if index % 2 == 0:
                found.append((position, width))
            position += width
        return found


def symbol_values(text: str) -> list[int]:
    """Return the symbol values for `text`, start symbol first, check symbol and stop excluded."""
    if not text:
        raise NotEncodable("there is nothing to encode: the service ID is empty")
    bad = sorted({character for character in text if not 0x20 <= ord(character) <= 0x7E})
    if bad:
        raise NotEncodable(
            f"Code 128 carries printable ASCII only; the service ID has {''.join(bad)!r}"
        )
    values: list[int] = []
    position = 0
    code_set = ""
    while position < len(text):
        run = _digit_run(text, position)
        use_c = run >= MIN_DIGIT_RUN_FOR_C or (code_set == "C" and run >= 2)
        if use_c:
            pairs = run // 2
            if code_set != "C":
                values.append(START_C if not values else CODE_C)
                code_set = "C"
            for _ in range(pairs):
                values.append(int(text[position : position + 2]))
                position += 2
        else:
            if code_set != "B":
                values.append(START_B if not values else CODE_B)
                code_set = "B"
            values.append(ord(text[position]) - 0x20)
            position += 1
    return values


def encode(text: str) -> Barcode:
    """Encode `text`; raise NotEncodable for characters outside printable ASCII."""
    values = symbol_values(text)
    check = (values[0] + sum(index * value for index, value in enumerate(values) if index)) % 103
    pattern = "".join(PATTERNS[value] for value in [*values, check]) + STOP_PATTERN
    return Barcode(text, tuple(int(width) for width in pattern))


def _digit_run(text: str, start: int) -> int:
    end = start
    while end < len(text) and text[end].isdigit() and text[end].isascii():
        end += 1
    return end - start
