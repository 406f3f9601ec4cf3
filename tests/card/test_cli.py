"""`mykey card status | cert | sign | emulate`: in memory, then on the real stack."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from card_bridge.cli import main
from card_bridge.errors import ReaderNotFound
from card_bridge.transport import CardConnection, ReaderStatus
from card_bridge.virtual_card.card import VirtualMyNumberCard
from card_bridge.virtual_card.vpcd import VPCD_READER, VpcdLink
from tests.card.conftest import TEST_PIN, FakeClock, MemoryTransport

ROOT = Path(__file__).resolve().parents[2]


class MemoryConnection(MemoryTransport):
    reader = "Memory Reader 00"
    atr = bytes.fromhex("3BE000FF8131FE4514")
    closed = False

    def close(self) -> None:
        self.closed = True


class MemoryReaders:
    def __init__(self, card: VirtualMyNumberCard | None) -> None:
        self.card = card
        self.connections: list[MemoryConnection] = []

    def list_readers(self) -> list[ReaderStatus]:
        return [ReaderStatus(MemoryConnection.reader, self.card is not None)]

    def connect(self, reader: str | None, *, timeout: float) -> CardConnection:
        if reader not in (None, MemoryConnection.reader):
            raise ReaderNotFound(f"no reader named {reader!r}")
        assert self.card is not None
        connection = MemoryConnection(self.card)
        self.connections.append(connection)
        return connection


def run(argv: list[str], readers: MemoryReaders, pin: str = TEST_PIN) -> tuple[int, str]:
    out = io.StringIO()
    code = main(argv, readers=readers, read_pin=lambda prompt: pin, out=out, clock=FakeClock())
    return code, out.getvalue()


def test_status_shows_reader_token_and_tries(card: VirtualMyNumberCard) -> None:
    readers = MemoryReaders(card)
    code, text = run(["status"], readers)
    assert code == 0
    assert "Memory Reader 00: card present" in text
    assert "token: JPKIAPICCTOKEN2" in text
    assert "PIN tries left: 3" in text
    assert all(connection.closed for connection in readers.connections)


def test_cert_describes_the_auth_certificate(card: VirtualMyNumberCard) -> None:
    code, text = run(["cert", "--pem"], MemoryReaders(card))
    assert code == 0
    assert "issuer: CN=MyKey Ledger TEST JPKI user authentication CA" in text
    assert "key: RSA 2048" in text and "digital signature allowed: yes" in text
    assert "-----BEGIN CERTIFICATE-----" in text


def test_sign_verifies_and_never_prints_the_pin(
    card: VirtualMyNumberCard, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = run(["sign"], MemoryReaders(card))
    assert code == 0
    assert "signature: 256 bytes, verified" in text
    assert TEST_PIN not in text + capsys.readouterr().err


def test_a_wrong_pin_reports_tries_left_and_fails(
    card: VirtualMyNumberCard, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run(["sign"], MemoryReaders(card), pin="0000")
    error = capsys.readouterr().err
    assert code == 1
    assert "wrong PIN: 2 tries left" in error
    assert "0000" not in error


def test_errors_are_one_line_not_a_traceback(
    card: VirtualMyNumberCard, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run(["status", "--reader", "Nowhere 00"], MemoryReaders(card))
    error = capsys.readouterr().err
    assert code == 1
    assert error == "mykey card: no reader named 'Nowhere 00'\n"


def test_an_unreadable_trust_anchor_is_one_line(
    card: VirtualMyNumberCard, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "anchor.pem").write_text("not a certificate")
    argv = ["sign", "--trust-anchor", str(tmp_path / "anchor.pem")]
    code, _ = run(argv, MemoryReaders(card))
    assert code == 1
    assert capsys.readouterr().err.startswith("mykey card: cannot use the trust anchor")


# ---- the real stack ------------------------------------------------------------------------


@pytest.mark.realstack
def test_status_and_sign_on_the_real_stack(inserted_card: VpcdLink) -> None:
    out = io.StringIO()
    assert main(["status", "--reader", VPCD_READER], out=out) == 0
    assert f"card in: {VPCD_READER}" in out.getvalue()
    assert "ATR: 3B E0 00 FF 81 31 FE 45 14" in out.getvalue()
    out = io.StringIO()
    assert main(["sign"], read_pin=lambda prompt: TEST_PIN, out=out, clock=FakeClock()) == 0
    assert "verified" in out.getvalue()


@pytest.fixture
def emulator(vpcd_reader: str, tmp_path: Path) -> Iterator[Path]:
    """`python -m card_bridge.virtual_card` as a demo runs it, with its CA files in tmp_path."""
    from tests.card.conftest import wait_for_presence

    wait_for_presence(False)
    process = subprocess.Popen(
        [sys.executable, "-m", "card_bridge.virtual_card", "--pin", "2468", "--out", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert process.stdout is not None
    first_line = process.stdout.readline()
    assert "connected to vpcd" in first_line, process.stderr.read() if process.stderr else ""
    yield tmp_path
    process.send_signal(signal.SIGTERM)
    remaining, _ = process.communicate(timeout=15)
    assert process.returncode == 0
    assert "virtual card removed after" in remaining
    wait_for_presence(False)


@pytest.mark.realstack
def test_emulate_command_serves_a_card_that_verifies_against_its_ca_files(
    emulator: Path,
) -> None:
    out = io.StringIO()
    argv = [
        "sign",
        "--reader",
        VPCD_READER,
        "--trust-anchor",
        str(emulator / "test-jpki-ca.pem"),
        "--crl",
        str(emulator / "test-jpki-crl.pem"),
    ]
    assert main(argv, read_pin=lambda prompt: "2468", out=out) == 0
    assert "CRL checked" in out.getvalue()
