"""The citizen's status lookup: a short secret printed on form 01 and the e-receipt, and what the
public page shows with it.

The secret is derived, never stored: an HMAC of the dossier's code under the installation's URL
secret, cut to eight characters of an alphabet without look-alikes (no 0/O, 1/I/L), so it can
be read off paper and typed on a phone. Rotating the URL secret invalidates every printed one.

A lookup answers the same "not found" for an unknown code and a wrong secret, so the page is no
oracle for which codes exist, and it shows nothing more personal than the receipt does: the
applicant's name masked to initials, no ID number, phone or address. Every lookup, found or
not, is written to the audit chain.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dossiers.audit import record
from dossiers.models import Dossier, DossierFee, Procedure, ResultReturn, Unit
from dossiers.workflow.lifecycle import LABELS_VI, OPEN, Status

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH = 8
# Keeps these HMACs apart from everything else the same URL secret keys (CSRF, presigned URLs).
_PURPOSE = b"sohoa status lookup v1\x00"
# A presented code is written to the audit log only when it looks like one: whatever else a
# visitor types stays out of a log that can never be erased.
_CODE_SHAPE = re.compile(r"[A-Za-z0-9.\-]{1,48}")
CITIZEN = "citizen"
STATUS_PATH = "/web/status"


def status_secret(key: bytes, code: str) -> str:
    """The dossier's eight-character lookup secret, as stored nowhere and printed as XXXX-XXXX."""
    if not key:
        raise ValueError("the lookup key must not be empty")
    digest = hmac.new(key, _PURPOSE + code.encode(), hashlib.sha256).digest()
    n = int.from_bytes(digest, "big")
    out = []
    for _ in range(LENGTH):
        n, r = divmod(n, len(ALPHABET))
        out.append(ALPHABET[r])
    return "".join(out)


def format_secret(secret: str) -> str:
    """ "ABCD-EFGH": two groups of four read more easily over the counter."""
    return f"{secret[:4]}-{secret[4:]}"


def normalize_secret(presented: str) -> str:
    """What a citizen typed, as the secret is spelled: capitals, no spaces or dashes."""
    return re.sub(r"[\s\-]", "", presented).upper()


def check_status_secret(key: bytes, code: str, presented: str) -> bool:
    """Whether ``presented`` is ``code``'s secret, compared in constant time."""
    expected = status_secret(key, code).encode()
    return hmac.compare_digest(expected, normalize_secret(presented).encode("utf-8"))


@dataclass(frozen=True)
class StatusLookup:
    """What printed papers need to send a citizen to the status page: the key and our address."""

    key: bytes
    public_url: str

    @property
    def page(self) -> str:
        """The lookup form, where the code and the secret are typed."""
        return self.public_url.rstrip("/") + STATUS_PATH

    def secret(self, code: str) -> str:
        return format_secret(status_secret(self.key, code))

    def url(self, code: str) -> str:
        """The status page of one dossier, secret included: what form 01's lookup QR opens."""
        return f"{self.page}/{quote(code, safe='')}?s={status_secret(self.key, code)}"

    def line(self, code: str) -> str:
        """The line printed on form 01 and the e-receipt."""
        return f"Mã tra cứu: {self.secret(code)} · tra cứu tại {self.page}"


# -- what the public page shows ------------------------------------------------------------------


class PublicStatus(BaseModel):
    """A dossier as anyone holding its code and secret may see it."""

    model_config = ConfigDict(extra="forbid")

    code: str
    applicant: str = Field(
        description='The name masked to initials after the first word: "Phạm T. H.".'
    )
    procedure_code: str
    procedure_name: str
    unit_name: str = Field(description="The one-stop unit that received it.")
    status: Status
    status_label: str = Field(description="The status's Vietnamese name.")
    received_at: datetime | None
    due_at: datetime | None = Field(description="The appointment for the result.")
    late: bool = Field(description="Past its appointment with no result yet.")
    collect_at: str = Field(description="Where the result is collected: counter, post, online.")
    result_ready: bool = Field(description="Processed; the result waits to be handed back.")
    posted: bool = Field(description="The result is on its way by post.")
    link_sent: bool = Field(description="The result was sent as a download link.")
    returned: bool = Field(description="The result is in the citizen's hands.")
    returned_at: datetime | None
    return_channel: str | None = Field(description="counter, post or online, once returned.")
    amount_due: int = Field(description="Fees still to pay, VND.")


def mask_name(name: str) -> str:
    """ "Phạm Thị Hương" -> "Phạm T. H.": the family name, then initials."""
    words = name.split()
    if not words:
        return ""
    if len(words) == 1:
        return f"{words[0][0]}."
    return " ".join([words[0], *(f"{w[0]}." for w in words[1:])])


def public_status(
    session: Session, code: str, secret: str, key: bytes, now: datetime
) -> PublicStatus | None:
    """The dossier ``code`` if ``secret`` is its lookup secret, else None (either way the same
    answer), with the lookup audited in ``session``'s transaction."""
    code = code.strip()
    ok = check_status_secret(key, code, secret)  # computed even for an unknown code
    row = (
        session.execute(
            select(Dossier, Procedure.name, Unit.name)
            .join(Procedure, Procedure.id == Dossier.procedure_id)
            .join(Unit, Unit.code == Dossier.unit_code)
            .where(Dossier.code == code)
        ).first()
        if code
        else None
    )
    found = row is not None and ok
    dossier = row[0] if row is not None else None
    record(
        session,
        actor_id=CITIZEN,
        actor_role=CITIZEN,
        action="dossier.status_lookup",
        subject_type="dossier",
        subject_id=dossier.id if found and dossier else _loggable(code),
        dossier_id=dossier.id if found and dossier else None,
        data={"found": found},
        at=now,
    )
    if not found or row is None or dossier is None:
        return None
    _, procedure_name, unit_name = row
    returns = session.execute(
        select(
            ResultReturn.channel,
            ResultReturn.postal_status,
            ResultReturn.link_expires_at,
            ResultReturn.completed_at,
        )
        .where(ResultReturn.dossier_id == dossier.id)
        .order_by(ResultReturn.created_at)
    ).all()
    due_fees = session.scalar(
        select(func.coalesce(func.sum(DossierFee.amount), 0)).where(
            DossierFee.dossier_id == dossier.id, DossierFee.status == "due"
        )
    )
    status = Status(dossier.status)
    processed = status == Status.PROCESSED
    returned = status == Status.RETURNED
    completed = [r.channel for r in returns if r.completed_at is not None]
    return PublicStatus(
        code=code,
        applicant=mask_name(dossier.applicant_name),
        procedure_code=dossier.procedure_code,
        procedure_name=procedure_name,
        unit_name=unit_name,
        status=status,
        status_label=LABELS_VI[status],
        received_at=dossier.received_at,
        due_at=dossier.due_at,
        late=dossier.due_at is not None
        and dossier.due_at < now
        # While a supplement is awaited the clock waits for the citizen, not for us.
        and status in OPEN
        and status != Status.SUPPLEMENT,
        collect_at=dossier.collect_at,
        result_ready=processed,
        posted=processed
        and any(
            r.channel == "post" and r.postal_status in ("accepted", "in_transit") for r in returns
        ),
        link_sent=processed
        and any(
            r.channel == "online" and r.link_expires_at is not None and r.link_expires_at > now
            for r in returns
        ),
        returned=returned,
        returned_at=dossier.returned_at,
        return_channel=(completed[-1] if completed else None) if returned else None,
        amount_due=int(due_fees or 0),
    )


def _loggable(code: str) -> str:
    return code if _CODE_SHAPE.fullmatch(code) else "-"
