"""Delivery mode C: type the service ID into the focused application as a keyboard would.

`Keyboard` is the port; `XdotoolKeyboard` types through xdotool on an X display (Debian's
xdotool package), the way a USB keyboard-wedge scanner does, so the service's existing system
needs no change (DOMAIN.md flow 2, "keyboard interface"). Tests use a recording fake and, where
Xvfb and xterm are installed, a real X server.

Invariants: the number is passed to xdotool as an argument after `--` (never through a shell),
and only printable ASCII is typed; nothing is logged.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Protocol

from card_bridge.counter.refusals import CounterError

TYPE_DELAY_MS = 12
"""xdotool's default; slower than a person is fast enough, faster risks dropped keys in VMs."""


class KeyboardUnavailable(CounterError):
    """No way to type here: no X display, or xdotool is not installed."""


class Keyboard(Protocol):
    """Types text into whatever application has the keyboard focus."""

    def type_text(self, text: str, *, press_enter: bool) -> None:
        """Type `text` (then Enter when asked); raise KeyboardUnavailable on failure."""
        ...


class XdotoolKeyboard:
    """Types with `xdotool type` on `display` (default: $DISPLAY)."""

    def __init__(self, display: str | None = None, *, delay_ms: int = TYPE_DELAY_MS) -> None:
        self._display = display or os.environ.get("DISPLAY")
        self._delay_ms = delay_ms
        self._binary = shutil.which("xdotool")

    def type_text(self, text: str, *, press_enter: bool) -> None:
        if self._binary is None:
            raise KeyboardUnavailable(
                "xdotool is not installed: `apt-get install xdotool`, or choose another delivery"
            )
        if not self._display:
            raise KeyboardUnavailable(
                "no X display (DISPLAY is not set): keyboard delivery needs the desktop session"
            )
        if not text.isascii() or not text.isprintable():
            raise KeyboardUnavailable("only printable ASCII can be typed as keystrokes")
        environment = dict(os.environ, DISPLAY=self._display)
        commands = [[self._binary, "type", "--delay", str(self._delay_ms), "--", text]]
        if press_enter:
            commands.append([self._binary, "key", "Return"])
        for command in commands:
            completed = subprocess.run(
                command, env=environment, capture_output=True, timeout=30, check=False
            )
            if completed.returncode != 0:
                raise KeyboardUnavailable(
                    f"xdotool failed on display {self._display} (exit {completed.returncode}): "
                    f"{completed.stderr.decode(errors='replace').strip()[:200]}"
                )
