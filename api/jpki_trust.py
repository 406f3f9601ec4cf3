"""The JPKI trust of a deployed API read from files: CA certificates and their revocation lists.

`mykey api serve` names them with MYKEY_API_JPKI_TRUST_ANCHORS (one PEM file holding one or
more CA certificates) and MYKEY_API_JPKI_CRLS (CRL files, PEM or DER, one CRL per file,
separated by os.pathsep). `load_trust` reads them at start and refuses unreadable ones with a
`TrustFileError` naming the variable and the file.

Invariants: `ReloadingJpkiVerifier` checks every card against the files' current contents. Before
each check it compares each file's size and modification time with what it last read (a stat per
file, no parse) and re-reads all of them when one changed, so a CRL the operator replaces daily
takes effect at the next card without a restart. A replacement that cannot be parsed (a file
caught half-written) is logged and the previous trust stays in force until the file is whole.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from api.cards import JpkiCardVerifier
from api.ports import VerifiedCard
from card_bridge.platform_checks.certificates import Purpose, TrustConfiguration

ANCHORS_VARIABLE = "MYKEY_API_JPKI_TRUST_ANCHORS"
CRLS_VARIABLE = "MYKEY_API_JPKI_CRLS"
_PEM = b"-----BEGIN"
_log = logging.getLogger(__name__)


class TrustFileError(Exception):
    """A JPKI trust file is missing or not what it should be; the message names it."""


@dataclass(frozen=True)
class TrustFiles:
    """Where the JPKI trust lives: the anchors' PEM file and the CRL files."""

    anchors: Path
    revocation_lists: tuple[Path, ...]

    def fingerprint(self) -> tuple[tuple[int, int], ...]:
        """Return (size, mtime_ns) of every file: what changes when one is replaced."""
        stamps = []
        for path in (self.anchors, *self.revocation_lists):
            try:
                status = path.stat()
            except OSError:
                stamps.append((-1, -1))  # gone for now: re-reading will say so
            else:
                stamps.append((status.st_size, status.st_mtime_ns))
        return tuple(stamps)


def _read(path: Path, variable: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise TrustFileError(
            f"{variable}: cannot read {path} ({error.strerror or type(error).__name__})"
        ) from None


def load_anchors(path: Path) -> tuple[x509.Certificate, ...]:
    """Return the CA certificates of a PEM file; raise TrustFileError when there are none."""
    data = _read(path, ANCHORS_VARIABLE)
    try:
        certificates = tuple(x509.load_pem_x509_certificates(data))
    except ValueError:
        certificates = ()
    if not certificates:
        raise TrustFileError(
            f"{ANCHORS_VARIABLE}: {path} holds no PEM certificate "
            "(expected one or more '-----BEGIN CERTIFICATE-----' blocks)"
        )
    return certificates


def load_revocation_list(path: Path) -> x509.CertificateRevocationList:
    """Return the CRL of a PEM or DER file; raise TrustFileError when it is not one."""
    data = _read(path, CRLS_VARIABLE)
    try:
        if data.lstrip().startswith(_PEM):
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError:
        raise TrustFileError(
            f"{CRLS_VARIABLE}: {path} is not a certificate revocation list (PEM or DER)"
        ) from None


def load_trust(files: TrustFiles) -> TrustConfiguration:
    """Read every trust file now; raise TrustFileError naming the first bad one."""
    anchors = load_anchors(files.anchors)
    revocation_lists = tuple(load_revocation_list(path) for path in files.revocation_lists)
    return TrustConfiguration(anchors=anchors, revocation_lists=revocation_lists)


class ReloadingJpkiVerifier(JpkiCardVerifier):
    """A JpkiCardVerifier whose trust follows its files (see the module's invariants)."""

    def __init__(
        self,
        files: TrustFiles,
        *,
        purpose: Purpose = Purpose.AUTHENTICATION,
        _shared: _TrustState | None = None,
    ) -> None:
        self._files = files
        self._state = _shared or _TrustState(files)
        super().__init__(self._state.trust, purpose=purpose)

    def for_previous_binding(self) -> JpkiCardVerifier:
        """Return the same (reloading) trust's check of a previous card's old binding."""
        return ReloadingJpkiVerifier(
            self._files, purpose=Purpose.PROVE_PREVIOUS_BINDING, _shared=self._state
        )

    def verify_challenge_response(
        self, *, challenge: bytes, certificate_der: bytes, signature: bytes, now: int
    ) -> VerifiedCard:
        """Refresh the trust when a file changed, then check as JpkiCardVerifier does."""
        self._trust = self._state.current()
        return super().verify_challenge_response(
            challenge=challenge, certificate_der=certificate_der, signature=signature, now=now
        )


class _TrustState:
    """The trust read last and the file stamps it was read at; shared by both purposes."""

    def __init__(self, files: TrustFiles) -> None:
        self._files = files
        self._lock = threading.Lock()
        self._stamp = files.fingerprint()
        self.trust = load_trust(files)

    def current(self) -> TrustConfiguration:
        stamp = self._files.fingerprint()
        if stamp == self._stamp:
            return self.trust
        with self._lock:
            if stamp != self._stamp:
                try:
                    self.trust = load_trust(self._files)
                except TrustFileError as error:
                    _log.warning("keeping the previous JPKI trust: %s", error)
                    return self.trust  # stamp kept old: the next check tries again
                self._stamp = stamp
                _log.info("JPKI trust re-read from its files")
            return self.trust


def trust_files(anchors: Path | None, revocation_lists: Sequence[Path]) -> TrustFiles | None:
    """Return the trust files settings name; None when neither is set.

    Raises TrustFileError for a half configuration (CRLs without anchors or the reverse): a CA
    whose revocations are unknown must not be trusted, and CRLs alone trust nobody.
    """
    if anchors is None and not revocation_lists:
        return None
    if anchors is None:
        raise TrustFileError(f"{CRLS_VARIABLE} is set but {ANCHORS_VARIABLE} is not: set both")
    if not revocation_lists:
        raise TrustFileError(
            f"{ANCHORS_VARIABLE} is set but {CRLS_VARIABLE} is not: the CAs' revocation lists "
            "are needed to refuse revoked cards; set both"
        )
    return TrustFiles(anchors, tuple(revocation_lists))
