"""Delivery mode C for real: xdotool types the service ID into an xterm on a private Xvfb display.

The xterm runs a one-line reader that writes what it receives to a file, so the test sees exactly
the keystrokes the service's application would have got (and that Enter was pressed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from card_bridge.counter.keyboard import KeyboardUnavailable, XdotoolKeyboard

pytestmark = pytest.mark.realstack

TOOLS = ("Xvfb", "xterm", "xdotool")


@pytest.fixture
def display() -> Iterator[str]:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        message = f"{', '.join(missing)} not installed (scripts/debian-packages.txt lists them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "800x600x24", "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    with os.fdopen(read_end) as handle:
        number = handle.readline().strip()
    try:
        assert number.isdigit(), "Xvfb did not report its display"
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_xdotool_types_the_number_and_enter_into_the_focused_window(
    display: str, tmp_path: Path
) -> None:
    received = tmp_path / "received.txt"
    ready = tmp_path / "ready"
    reader = (
        "import pathlib,sys\n"
        f"pathlib.Path({str(ready)!r}).touch()\n"
        f"pathlib.Path({str(received)!r}).write_text(sys.stdin.readline())\n"
    )
    environment = dict(os.environ, DISPLAY=display)
    terminal = subprocess.Popen(
        ["xterm", "-title", "mykey-keyboard-test", "-e", sys.executable, "-c", reader],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(ready.exists, 20, "the xterm's reader to start")
        subprocess.run(
            [
                "xdotool",
                "search",
                "--sync",
                "--name",
                "mykey-keyboard-test",
                "windowfocus",
                "--sync",
            ],
            env=environment,
            check=True,
            timeout=20,
            capture_output=True,
        )
        XdotoolKeyboard(display).type_text("LIB-00012345", press_enter=True)
        wait_for(received.exists, 20, "the typed line")
        assert received.read_text() == "LIB-00012345\n"
    finally:
        terminal.terminate()
        terminal.wait(timeout=10)


def test_no_display_is_reported_not_crashed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    keyboard = XdotoolKeyboard(None)
    with pytest.raises(KeyboardUnavailable):
        keyboard.type_text("123", press_enter=False)


def test_only_printable_ascii_is_typed(display: str) -> None:
    with pytest.raises(KeyboardUnavailable, match="ASCII"):
        XdotoolKeyboard(display).type_text("番号", press_enter=False)
