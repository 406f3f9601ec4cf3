"""TLS contexts for consortium links: TLS 1.3 only, both sides present CA-issued certificates.

Invariants: `minimum_version` is TLS 1.3; `verify_mode` is CERT_REQUIRED on both the dialing and
the accepting side; only the consortium CA is trusted (never the system store). Host names are not
checked: a node is identified by the node key its certificate binds (see `network.pki`), which the
permission check reads after the handshake; dialing `127.0.0.1` or a DNS name makes no difference.
"""

from __future__ import annotations

import ssl

from network.permissions import RefusalReason
from network.pki import NodeTlsFiles


def _harden(context: ssl.SSLContext, files: NodeTlsFiles) -> ssl.SSLContext:
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(certfile=str(files.certificate), keyfile=str(files.private_key))
    context.load_verify_locations(cafile=str(files.ca_certificate))
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def server_context(files: NodeTlsFiles) -> ssl.SSLContext:
    """Return the context for accepted connections: the client must present a certificate."""
    return _harden(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), files)


def client_context(files: NodeTlsFiles) -> ssl.SSLContext:
    """Return the context for dialing: we present our certificate and verify the server's."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # identity is the bound node key, checked after the handshake
    return _harden(context, files)


def classify_tls_failure(error: BaseException) -> RefusalReason:
    """Map a failed TLS handshake to the refusal word logged for it."""
    if isinstance(error, ssl.SSLCertVerificationError):
        message = (error.verify_message or "").lower()
        if "expired" in message or "not yet valid" in message:
            return RefusalReason.CERTIFICATE_EXPIRED
        return RefusalReason.NOT_CONSORTIUM_CA
    text = str(error).upper()
    if "CERTIFICATE_VERIFY_FAILED" in text or "UNKNOWN_CA" in text:
        return RefusalReason.NOT_CONSORTIUM_CA
    if "PEER_DID_NOT_RETURN_A_CERTIFICATE" in text or "CERTIFICATE_REQUIRED" in text:
        return RefusalReason.NO_CERTIFICATE
    return RefusalReason.TLS_HANDSHAKE
