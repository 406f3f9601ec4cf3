"""Service links: a service's customer number for a resident, kept encrypted at rest.

A service (library, museum, sports facility, hospital …) links its customer number to a MyKey ID
with the resident's consent; only that service's number is ever opened for that service. The
number is stored only as AES-GCM ciphertext (`api.service_id_cipher`) and never goes on-chain.
Linking again replaces the number (a new card from the same service). Each write is audited
without the number itself.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.errors import FieldError, InvalidFields
from api.service_id_cipher import SealedServiceId, ServiceIdCipher
from api.services.audit import Actor, record_audit
from api.store.models import Account, ServiceLink

SERVICE_CODE = re.compile(r"[a-z0-9][a-z0-9-]{1,63}")
"""A service's code, e.g. `kawasaki-library`."""

SERVICE_ID = re.compile(r"[\x21-\x7e]{1,64}")
"""A customer number as printable ASCII text: only the number crosses the wire (deck slide 3)."""


def link_service(
    *,
    db: Session,
    cipher: ServiceIdCipher,
    actor: Actor,
    account: Account,
    service_code: str,
    service_id: str,
    now: int,
) -> ServiceLink:
    """Store (or replace) the encrypted service ID of `account` at `service_code`."""
    errors: list[FieldError] = []
    if SERVICE_CODE.fullmatch(service_code) is None:
        errors.append(FieldError.of("service_code", "invalid"))
    if SERVICE_ID.fullmatch(service_id) is None:
        errors.append(FieldError.of("service_id", "invalid"))
    if errors:
        raise InvalidFields(errors)
    sealed = cipher.seal(account_id=account.id, service_code=service_code, service_id=service_id)
    link = db.scalars(
        select(ServiceLink).where(
            ServiceLink.account_id == account.id, ServiceLink.service_code == service_code
        )
    ).one_or_none()
    if link is None:
        link = ServiceLink(account_id=account.id, service_code=service_code, created_at=now)
        db.add(link)
    link.key_id = sealed.key_id
    link.nonce = sealed.nonce
    link.service_id_ciphertext = sealed.ciphertext
    record_audit(
        db=db,
        at=now,
        actor=actor,
        action="service-link.linked",
        target=f"{account.mykey_id}/{service_code}",
    )
    db.commit()
    return link


def lookup_service_id(
    *, db: Session, cipher: ServiceIdCipher, account: Account, service_code: str
) -> str | None:
    """Return the decrypted service ID of `account` at `service_code`, or None if unlinked.

    Raises ServiceIdDecryptionFailed when the stored row does not authenticate.
    """
    link = db.scalars(
        select(ServiceLink).where(
            ServiceLink.account_id == account.id, ServiceLink.service_code == service_code
        )
    ).one_or_none()
    if link is None:
        return None
    return cipher.open(
        account_id=account.id,
        service_code=service_code,
        sealed=SealedServiceId(link.key_id, link.nonce, link.service_id_ciphertext),
    )
