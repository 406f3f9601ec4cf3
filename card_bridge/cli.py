"""`mykey card status | cert | sign | emulate | helper`: check that a reader and a card work.

For a counter operator or a developer: which readers are attached and which hold a card, whether
the card is a My Number Card, how many PIN tries are left, what the auth certificate says, and
whether the card signs a test challenge that verifies through the platform checks. `helper`
runs the card helper that lets the registration page in this PC's browser use the reader
(card_bridge.browser_helper).

Invariants: the PIN is read with `getpass` (never echoed), passed once to the card and not kept,
logged or retried; errors become one line on stderr and exit code 1, never a stack trace.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from card_bridge.errors import CardBridgeError, WrongPin
from card_bridge.jpki import JpkiCard
from card_bridge.platform_checks.authentication import CardAuthenticator
from card_bridge.platform_checks.certificates import TrustConfiguration, load_certificate
from card_bridge.platform_checks.challenges import ChallengeStore, Clock
from card_bridge.platform_checks.refusals import CardAuthenticationRefused
from card_bridge.transport import ReaderService

DEFAULT_TIMEOUT = 10.0
"""Seconds to wait for a card: long enough to fetch it from a wallet."""

PinReader = Callable[[str], str]


def build_parser() -> argparse.ArgumentParser:
    """The `mykey card` options."""
    parser = argparse.ArgumentParser(prog="mykey card", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("status", "readers, card, token and PIN tries left"),
        ("cert", "the auth certificate (subject, issuer, validity)"),
        ("sign", "verify the PIN and sign a test challenge, then check it as the platform does"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("--reader", help="reader name (default: the first holding a card)")
        command.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds")
    commands.choices["cert"].add_argument(
        "--pem", action="store_true", help="also print the certificate as PEM"
    )
    sign = commands.choices["sign"]
    sign.add_argument("--trust-anchor", type=Path, help="JPKI CA certificate (PEM) to trust")
    sign.add_argument("--crl", type=Path, help="CRL (PEM) from that CA")
    commands.add_parser("emulate", help="run a virtual My Number Card in vpcd", add_help=False)
    commands.add_parser(
        "helper",
        help="let the registration page in this PC's browser use the reader",
        add_help=False,
    )
    return parser


def main(
    argv: list[str],
    *,
    readers: ReaderService | None = None,
    read_pin: PinReader = getpass.getpass,
    out: TextIO | None = None,
    clock: Clock | None = None,
) -> int:
    """Run `mykey card ...`; return the exit code (0 ok, 1 card or check failed, 2 usage)."""
    if argv[:1] == ["emulate"]:
        from card_bridge.virtual_card.command import main as emulate  # noqa: PLC0415

        return emulate(argv[1:])
    if argv[:1] == ["helper"]:
        from card_bridge.browser_helper.command import main as helper  # noqa: PLC0415

        return helper(argv[1:], readers=readers)
    options = build_parser().parse_args(argv)
    stream = out or sys.stdout
    if readers is None:
        from card_bridge.pcsc import PcscReaders  # noqa: PLC0415 - loads pyscard only when used

        readers = PcscReaders()
    try:
        if options.command == "status":
            return _status(readers, options, stream)
        if options.command == "cert":
            return _cert(readers, options, stream)
        return _sign(readers, options, stream, read_pin, clock or _utc_now)
    except (CardBridgeError, CardAuthenticationRefused) as error:
        print(f"mykey card: {error}", file=sys.stderr)
        return 1


def _status(readers: ReaderService, options: argparse.Namespace, out: TextIO) -> int:
    listed = readers.list_readers()
    print("readers:", file=out)
    for reader in listed:
        print(f"  {reader.name}: {'card present' if reader.card_present else 'empty'}", file=out)
    if not listed:
        print("  (none)", file=out)
    connection = readers.connect(options.reader, timeout=options.timeout)
    try:
        print(f"card in: {connection.reader}", file=out)
        print(f"ATR: {connection.atr.hex(' ').upper()}", file=out)
        card = JpkiCard.open(connection)
        print(f"token: {card.token.decode('ascii')} (My Number Card)", file=out)
        print(f"PIN tries left: {card.pin_tries_left()}", file=out)
    finally:
        connection.close()
    return 0


def _cert(readers: ReaderService, options: argparse.Namespace, out: TextIO) -> int:
    connection = readers.connect(options.reader, timeout=options.timeout)
    try:
        card = JpkiCard.open(connection)
        certificate = load_certificate(card.read_auth_certificate())
    finally:
        connection.close()
    _describe(certificate, out)
    if options.pem:
        print(certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"), file=out)
    return 0


def _sign(
    readers: ReaderService,
    options: argparse.Namespace,
    out: TextIO,
    read_pin: PinReader,
    clock: Clock,
) -> int:
    connection = readers.connect(options.reader, timeout=options.timeout)
    try:
        card = JpkiCard.open(connection)
        certificate_der = card.read_auth_certificate()
        anchor_der = card.read_auth_ca_certificate()
        print(f"PIN tries left: {card.pin_tries_left()}", file=out)
        trust, note = _trust(options, anchor_der)
        authenticator = CardAuthenticator(trust, ChallengeStore(clock), clock)
        challenge = authenticator.issue_challenge()
        try:
            card.verify_pin(read_pin("auth PIN (4 digits, not shown): "))
        except WrongPin as error:
            print(f"mykey card: {error}", file=sys.stderr)
            return 1
        signature = card.sign(challenge.value)
    finally:
        connection.close()
    authenticator.verify(
        challenge=challenge.value, certificate_der=certificate_der, signature=signature
    )
    print(f"signature: {len(signature)} bytes, verified against the certificate {note}", file=out)
    return 0


def _trust(options: argparse.Namespace, card_ca_der: bytes) -> tuple[TrustConfiguration, str]:
    if options.trust_anchor is None:
        anchor = load_certificate(card_ca_der)
        return (
            TrustConfiguration((anchor,), require_revocation_list=False),
            "(chained to the CA certificate on the card itself: a self-check, not a trust check)",
        )
    lists: tuple[x509.CertificateRevocationList, ...] = ()
    try:
        anchor = x509.load_pem_x509_certificate(options.trust_anchor.read_bytes())
        if options.crl is not None:
            lists = (x509.load_pem_x509_crl(options.crl.read_bytes()),)
    except (OSError, ValueError) as error:
        raise TrustFileUnreadable(
            f"cannot use the trust anchor or CRL file: {error} (both must be PEM)"
        ) from None
    return (
        TrustConfiguration((anchor,), lists, require_revocation_list=options.crl is not None),
        f"(chained to {options.trust_anchor}{', CRL checked' if lists else ', no CRL given'})",
    )


class TrustFileUnreadable(CardBridgeError):
    """The --trust-anchor or --crl file is missing or not PEM."""


def _describe(certificate: x509.Certificate, out: TextIO) -> None:
    key = certificate.public_key()
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
        signs = "yes" if usage.digital_signature else "NO"
    except x509.ExtensionNotFound:
        signs = "not stated"
    print(f"subject: {certificate.subject.rfc4514_string()}", file=out)
    print(f"issuer: {certificate.issuer.rfc4514_string()}", file=out)
    print(f"valid from: {certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC", file=out)
    print(f"valid until: {certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC", file=out)
    kind = f"RSA {key.key_size}" if isinstance(key, rsa.RSAPublicKey) else "not RSA"
    print(f"key: {kind}", file=out)
    print(f"digital signature allowed: {signs}", file=out)


def _utc_now() -> datetime:
    return datetime.now(UTC)
