"""Rules about the card bridge's source that keep the allow-list unavoidable.

Every `.transmit(...)` call in the package goes through a GuardedChannel, except the channel's
own call to its transport; only `card_bridge.pcsc` imports pyscard; the JPKI layer never builds
raw command bytes of its own.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "card_bridge"


def transmit_calls() -> list[tuple[str, str]]:
    """Return (module, receiver source) for every `.transmit(...)` call in card_bridge."""
    calls = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "transmit"
            ):
                calls.append((str(path.relative_to(PACKAGE)), ast.unparse(node.func.value)))
    return calls


def test_only_the_guarded_channel_hands_bytes_to_a_transport() -> None:
    calls = transmit_calls()
    assert ("channel.py", "self._transport") in calls
    for module, receiver in calls:
        if module == "channel.py":
            assert receiver == "self._transport"
        else:
            assert receiver.endswith("channel"), (module, receiver)


def test_only_pcsc_imports_pyscard() -> None:
    importers = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(name == "smartcard" or name.startswith("smartcard.") for name in names):
                importers.append(path.name)
    assert importers == ["pcsc.py"]
