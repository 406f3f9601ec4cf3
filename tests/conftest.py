"""Fixtures shared across test folders: the real PC/SC stack (pcscd with the vpcd readers).

Defined once here so one pytest run has one session-wide `vpcd_reader`: it holds the vpcd
reader's file lock for the whole run, and the card and counter tests both use that one fixture
(two definitions in two conftests would each take the lock and wait on each other forever).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest

from card_bridge.errors import CardBridgeError
from card_bridge.virtual_card.vpcd import VPCD_READER, reader_lock


def _pcscd_answers() -> bool:
    from card_bridge.pcsc import PcscReaders

    try:
        PcscReaders().list_readers()
    except CardBridgeError:
        return False
    return True


@pytest.fixture(scope="session")
def pcscd() -> Iterator[None]:
    """A running pcscd with the vpcd readers; started here (and stopped) when we must."""
    started: subprocess.Popen[bytes] | None = None
    if not _pcscd_answers():
        if os.geteuid() != 0 or shutil.which("pcscd") is None:
            reason = "pcscd is not running and cannot be started here (needs root and pcscd)"
            if os.environ.get("CI"):
                pytest.fail(f"{reason}: CI must run the real-stack card tests")
            pytest.skip(reason)
        os.makedirs("/run/pcscd", exist_ok=True)
        # Never -a: it would log APDUs, PIN bytes included.
        started = subprocess.Popen(
            ["pcscd", "--foreground"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while not _pcscd_answers():
            if time.monotonic() > deadline:
                started.terminate()
                pytest.fail("pcscd did not start within 10 s")
            time.sleep(0.1)
    from card_bridge.pcsc import PcscReaders

    names = [reader.name for reader in PcscReaders().list_readers()]
    if VPCD_READER not in names:
        if started is not None:  # leave no pcscd of ours behind
            started.terminate()
            started.wait(timeout=10)
        pytest.fail(f"pcscd runs but has no {VPCD_READER!r} reader: install vsmartcard-vpcd")
    yield
    if started is not None:
        started.terminate()
        started.wait(timeout=10)


@pytest.fixture(scope="session")
def vpcd_reader(pcscd: None) -> Iterator[str]:
    """The vpcd reader, held for this session so no other card test run uses it at once."""
    with reader_lock():
        yield VPCD_READER
