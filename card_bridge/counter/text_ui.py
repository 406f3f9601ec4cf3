"""The text interface: works over SSH in any terminal, standard library only.

A menu of what this terminal's kinds allow; the PIN is read with `getpass` (not echoed, not
kept); each outcome is printed from `render`. Streams and the PIN reader are parameters, so
tests drive the whole interface through its input and output.

At each service-ID lookup the operator picks how the number is delivered with one key, a to d
for DOMAIN.md flow 2's A to D (screen, barcode, keyboard, label: the tablet page's choices and
words, `render.DELIVERY_CHOICES`); Enter keeps the configured mode. The choice goes to
`CounterSession.look_up_service_id(pin, delivery=...)`, the same call the tablet page makes.

Invariants: the interface never words a refusal itself; a card pulled out or any refusal returns
to the menu, so the next resident can be served without restarting; the delivery mode is chosen
before the card is touched, so a wrong key never costs a PIN try.
"""

from __future__ import annotations

import getpass
import tempfile
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from card_bridge.counter.barcode_views import barcode_svg, large_text, terminal_bars
from card_bridge.counter.config import DeliveryMode
from card_bridge.counter.ports import TerminalKind
from card_bridge.counter.render import DELIVERY_CHOICES, Line, outcome_lines
from card_bridge.counter.session import CounterSession, LookupDone

PinReader = Callable[[str], str]
FileOpener = Callable[[Path], None]

PIN_PROMPT = "暗証番号（数字4桁・表示されません） / PIN (4 digits, hidden): "

DELIVERY_KEYS: dict[str, DeliveryMode] = {
    key: mode for key, (mode, _, _) in zip("abcd", DELIVERY_CHOICES, strict=True)
}
"""One key per delivery mode: a-d in the order of DOMAIN.md flow 2 (A-D)."""


def open_in_viewer(path: Path) -> None:
    """Open a file in the desktop's default viewer (the barcode SVG, a label PDF)."""
    webbrowser.open(path.resolve().as_uri())


class TextUi:
    """The counter's menu loop over a pair of text streams."""

    def __init__(
        self,
        session: CounterSession,
        kinds: tuple[TerminalKind, ...],
        *,
        stdin: TextIO,
        stdout: TextIO,
        read_pin: PinReader = getpass.getpass,
        open_file: FileOpener = open_in_viewer,
    ) -> None:
        self._session = session
        self._kinds = kinds
        self._in = stdin
        self._out = stdout
        self._read_pin = read_pin
        self._open_file = open_file

    def run(self) -> int:
        """Serve until `q` or end of input; return the exit code (0)."""
        actions: dict[str, tuple[str, Callable[[], None]]] = {}
        if TerminalKind.SERVICE_ID_LOOKUP in self._kinds:
            actions["1"] = ("サービスID照会 / Look up a service ID", self._look_up)
        if TerminalKind.POINT_USE in self._kinds:
            actions["2"] = ("ポイント利用 / Redeem points", self._redeem)
        if TerminalKind.VOUCHER_ISSUE in self._kinds:
            actions["3"] = ("ポイント券発行 / Issue a voucher", self._voucher)
        while True:
            self._say("")
            self._say("== マイキー 窓口端末 / MyKey counter terminal ==")
            for key, (title, _) in actions.items():
                self._say(f"  {key}) {title}")
            self._say("  q) 終了 / Quit")
            choice = self._ask("> ")
            if choice is None or choice.lower() == "q":
                self._say("終了します / Bye")
                return 0
            if choice not in actions:
                self._say("番号を選んでください / Choose one of the numbers")
                continue
            actions[choice][1]()

    def _choose_delivery(self) -> DeliveryMode | None:
        """Return the delivery mode chosen by one key (Enter: the configured one), None at EOF."""
        configured = self._session.delivery
        self._say("番号の渡し方 / How to deliver the number:")
        for key, (mode, japanese, english) in zip(DELIVERY_KEYS, DELIVERY_CHOICES, strict=True):
            mark = " *" if mode is configured else ""
            self._say(f"  {key}) {japanese} / {english}{mark}")
        prompt = "a-d、Enter = * の方法 / a-d, Enter = the one marked *: "
        while True:
            answer = self._ask(prompt)
            if answer is None:
                return None
            if not answer:
                return configured
            chosen = DELIVERY_KEYS.get(answer.lower())
            if chosen is not None:
                return chosen
            self._say("a、b、c、d のどれかか Enter を押してください / Press a, b, c, d or Enter")

    def _look_up(self) -> None:
        delivery = self._choose_delivery()
        if delivery is None:
            return
        self._say("カードをリーダーに置いてください / Place the My Number Card on the reader")
        pin = self._read_pin(PIN_PROMPT)
        outcome = self._session.look_up_service_id(pin, delivery=delivery)
        del pin
        self._print(outcome_lines(outcome))
        if isinstance(outcome, LookupDone):
            if outcome.delivery is DeliveryMode.BARCODE:
                self._say(large_text(outcome.result.service_id))
                self._say(terminal_bars(outcome.barcode))
                answer = self._ask("o) バーコードを開く / open the barcode, Enter) 戻る / back: ")
                if answer is not None and answer.lower() == "o":
                    self._open_barcode(outcome)
            elif outcome.delivery is DeliveryMode.SCREEN:
                self._say(large_text(outcome.result.service_id))
            elif outcome.label is not None:
                self._say(f"PNG: {outcome.label.png}")
                self._say(f"PDF: {outcome.label.pdf}")

    def _redeem(self) -> None:
        amount = self._amount("利用ポイント数 / Points to redeem: ")
        if amount is None:
            return
        self._say("カードをリーダーに置いてください / Place the My Number Card on the reader")
        self._print(outcome_lines(self._session.redeem(amount, self._read_pin(PIN_PROMPT))))

    def _voucher(self) -> None:
        amount = self._amount("ポイント券の額面 / Voucher value in points: ")
        if amount is None:
            return
        self._say("カードをリーダーに置いてください / Place the My Number Card on the reader")
        self._print(outcome_lines(self._session.issue_voucher(amount, self._read_pin(PIN_PROMPT))))

    def _amount(self, prompt: str) -> int | None:
        text = self._ask(prompt)
        if text is None:
            return None
        cleaned = text.replace(",", "").strip()
        if not cleaned.isdigit() or not cleaned.isascii() or int(cleaned) < 1:
            self._say("金額は 1 以上の整数です / The amount is a whole number of 1 or more")
            return None
        return int(cleaned)

    def _open_barcode(self, outcome: LookupDone) -> None:
        with tempfile.NamedTemporaryFile(
            "w", suffix=".svg", prefix="mykey-barcode-", delete=False, encoding="utf-8"
        ) as handle:
            handle.write(barcode_svg(outcome.barcode))
        self._open_file(Path(handle.name))

    def _print(self, lines: list[Line]) -> None:
        for line in lines:
            mark = "!! " if line.emphasis else "   "
            self._say(f"{mark}{line.japanese}")
            if line.english != line.japanese:
                self._say(f"   {line.english}")

    def _ask(self, prompt: str) -> str | None:
        self._out.write(prompt)
        self._out.flush()
        line = self._in.readline()
        if not line:
            return None
        return line.strip()

    def _say(self, text: str) -> None:
        self._out.write(text + "\n")
        self._out.flush()
