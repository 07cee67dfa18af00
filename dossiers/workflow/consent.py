"""The citizen's consent to be notified, given at the counter, and its withdrawal at any time.

Consent is recorded on the dossier with the channels chosen (e-mail, SMS, Zalo); nothing is sent
without it, and nothing after an opt-out. The opt-out needs no sign-in: the dossier's lookup
secret (:mod:`dossiers.workflow.lookup`) is the credential, as on the status page, and an
unknown dossier and a wrong secret get the same answer. A dossier not yet received has no code,
so its messages name it by id; the secret is then the HMAC of the id, which works just the same.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from dossiers.audit import record
from dossiers.errors import InvalidInput
from dossiers.models import Dossier
from dossiers.workflow.lookup import CITIZEN, check_status_secret

CHANNELS = ("email", "sms", "zalo")
EMAIL_MAX = 254  # RFC 5321's path limit, less the brackets
# Deliberately plain: one @, no spaces or controls, a dotted domain. What a clerk types from a
# card; anything stranger is refused at the counter rather than bounced later.
_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+"
)
# Vietnamese mobile numbers: 0 or 84 then nine digits starting 3, 5, 7, 8 or 9 (since the 2018
# renumbering); what SMS gateways and Zalo expect, as 84xxxxxxxxx.
_MOBILE = re.compile(r"(?:\+?84|0)([35789]\d{8})")
_REF_SHAPE = re.compile(r"[A-Za-z0-9.\-]{1,64}")


def normalize_email(value: str) -> str:
    """The address as stored, or "" for none; refuses what is not an address."""
    value = value.strip()
    if not value:
        return ""
    if len(value) > EMAIL_MAX or not _EMAIL.fullmatch(value) or ".." in value:
        raise InvalidInput(
            "the e-mail address is not valid (name@domain, at most 254 characters)",
            code="notify_invalid",
            field="email",
        )
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def mobile_number(phone: str) -> str | None:
    """``phone`` as 84xxxxxxxxx if it is a Vietnamese mobile number, else None."""
    digits = re.sub(r"[\s.\-()]", "", phone or "")
    found = _MOBILE.fullmatch(digits)
    return f"84{found.group(1)}" if found else None


def check_consent(
    *, email: str, phone: str, consent: bool, channels: Sequence[str]
) -> tuple[str, bool, list[str]]:
    """(e-mail, consent, channels) as the dossier keeps them, or InvalidInput naming the field.

    Channels need consent, consent needs a channel, and each channel its address: a consent
    that cannot be honoured is refused at the counter, where the citizen can still correct it.
    """
    address = normalize_email(email)
    chosen: list[str] = []
    for channel in channels:
        if channel not in CHANNELS:
            raise InvalidInput(
                f"notification channels are {', '.join(CHANNELS)}",
                code="notify_invalid",
                field="notify_channels",
            )
        if channel not in chosen:
            chosen.append(channel)
    if not consent:
        if chosen:
            raise InvalidInput(
                "channels were chosen without the citizen's consent to be notified",
                code="notify_invalid",
                field="notify_consent",
            )
        return address, False, []
    if not chosen:
        raise InvalidInput(
            "choose at least one channel for the notifications consented to",
            code="notify_invalid",
            field="notify_channels",
        )
    if "email" in chosen and not address:
        raise InvalidInput(
            "notifications by e-mail need the applicant's e-mail address",
            code="notify_invalid",
            field="email",
        )
    if ("sms" in chosen or "zalo" in chosen) and mobile_number(phone) is None:
        raise InvalidInput(
            "SMS and Zalo notifications need a Vietnamese mobile number (0xxxxxxxxx)",
            code="notify_invalid",
            field="phone",
        )
    return address, True, chosen


# -- the opt-out --------------------------------------------------------------------------------


class OptedOut(BaseModel):
    """The dossier sends no more notifications."""

    model_config = ConfigDict(extra="forbid")

    ref: str = Field(description="The dossier code (or, before reception, the id) as given.")
    opted_out_at: datetime = Field(description="When notifications stopped (the first opt-out).")


def dossier_by_ref(session: Session, ref: str, *, lock: bool = False) -> Dossier | None:
    """A dossier by its code, or by its id while it has none (what messages name it by)."""
    stmt = select(Dossier).where(Dossier.code == ref if "-" in ref else Dossier.id == ref)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def opt_out(session: Session, ref: str, secret: str, key: bytes, now: datetime) -> OptedOut | None:
    """Stop ``ref``'s notifications if ``secret`` is its lookup secret, else None (an unknown
    dossier answers the same). Every attempt is audited; a second opt-out keeps the first time."""
    ref = ref.strip()
    ok = check_status_secret(key, ref, secret) if ref else False  # computed for unknown ones too
    dossier = dossier_by_ref(session, ref, lock=True) if ref and _REF_SHAPE.fullmatch(ref) else None
    found = dossier is not None and ok
    record(
        session,
        actor_id=CITIZEN,
        actor_role=CITIZEN,
        action="dossier.notify_opt_out",
        subject_type="dossier",
        subject_id=dossier.id if found and dossier else (ref if _REF_SHAPE.fullmatch(ref) else "-"),
        dossier_id=dossier.id if found and dossier else None,
        data={"found": found},
        at=now,
    )
    if not found or dossier is None:
        return None
    if dossier.notify_opted_out_at is None:
        dossier.notify_opted_out_at = now
    return OptedOut(ref=ref, opted_out_at=dossier.notify_opted_out_at.astimezone(UTC))
