"""The audit log: append-only, hash-chained events of who changed, signed, downloaded or read what.

Each event's ``hash`` is the SHA-256 of its canonical form, which includes the previous event's
hash, so editing, deleting, inserting or reordering a row breaks the chain at that point. Numbers
come from the gap-free ``code_counters`` row ("audit", "all"), bumped in the caller's
transaction: an event commits or rolls back with the change it records, concurrent writers are
serialized on that row, and a rolled-back event gives its number back.

Database triggers (migration 0005) refuse UPDATE and DELETE, but the database owner can drop
them; the chain is what still tells an auditor that rows were touched. It cannot tell whether
someone who knows the algorithm rewrote the whole tail and the counter too: for that, keep the
``head_hash`` of a verification somewhere the database owner cannot write (a signed report).

``data`` holds ids, codes and numbers, not the personal data itself: rows are never edited, so
anything written here can never be erased.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON, BigInteger, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from dossiers.access import Principal, dossier_filter
from dossiers.errors import InvalidInput
from dossiers.models import CodeCounter, Dossier
from dossiers.workflow.codes import next_in_sequence
from storage.models import Base, UTCDateTime

log = logging.getLogger(__name__)

GENESIS = "0" * 64
SCOPE, DAY = "audit", "all"  # the code_counters row holding the last seq given out
READERS = ("auditor", "admin")
# What the hash covers, in event_hash's keyword names; everything but the hash itself.
HASHED = (
    "seq",
    "at",
    "actor_id",
    "actor_role",
    "action",
    "subject_type",
    "subject_id",
    "dossier_id",
    "data",
    "prev_hash",
)
MAX_LIMIT = 1000


class AuditEvent(Base):
    """One link of the chain; ``seq`` is ours (1, 2, 3 …), never the database's autoincrement."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor_id: Mapped[str] = mapped_column(String(64), index=True)
    actor_role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))  # "dossier.receive", "document.download" …
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    # No foreign key: the log must outlive and never constrain what it describes.
    dossier_id: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    def view(self) -> AuditEventView:
        return AuditEventView(
            seq=self.seq,
            at=iso_utc(self.at),
            actor_id=self.actor_id,
            actor_role=self.actor_role,
            action=self.action,
            subject_type=self.subject_type,
            subject_id=self.subject_id,
            dossier_id=self.dossier_id,
            data=self.data,
            prev_hash=self.prev_hash,
            hash=self.hash,
        )


class AuditEventView(BaseModel):
    """One event as an auditor reads it: every field the hash covers, and the hash."""

    model_config = ConfigDict(extra="forbid")

    seq: int = Field(description="Position in the chain: 1, 2, 3 … without gaps.")
    at: str = Field(description="When, in UTC, ISO 8601 with microseconds (as hashed).")
    actor_id: str = Field(description="Staff id of who acted.")
    actor_role: str
    action: str = Field(description='What happened, e.g. "dossier.receive".')
    subject_type: str = Field(description='What it happened to, e.g. "dossier", "document".')
    subject_id: str
    dossier_id: str | None = Field(description="The dossier concerned, if any.")
    data: dict[str, Any] = Field(
        description="Ids, codes and numbers of the event; no personal data."
    )
    prev_hash: str = Field(description="The previous event's hash (64 zeros for the first).")
    hash: str = Field(description="SHA-256 (hex) of this event's canonical JSON.")


class ChainReport(BaseModel):
    """``checked`` counts the events that passed; ``head_hash`` is the last one's, to be kept
    outside the database so a later verification can show the past was not rewritten."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ok: bool
    checked: int = Field(description="Events that passed, from the first.")
    first_broken_seq: int | None = Field(
        default=None, description="The first event that is missing, edited or out of place."
    )
    reason: str | None = Field(
        default=None,
        description="hash_mismatch, prev_hash_mismatch, missing_event or unexpected_event.",
    )
    head_seq: int = Field(default=0, description="The last event that passed.")
    head_hash: str = Field(
        default=GENESIS, description="Its hash: keep it outside the database to compare later."
    )


def iso_utc(at: datetime) -> str:
    """One spelling per instant (UTC, always microseconds), whatever the database returns."""
    if at.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not allowed in audit data")


def canonical(value: Any) -> str:
    """The bytes we hash: sorted keys, no spaces, UTF-8 as is, no NaN."""
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_json_default,
    )


def event_hash(
    *,
    seq: int,
    at: datetime,
    actor_id: str,
    actor_role: str,
    action: str,
    subject_type: str,
    subject_id: str,
    dossier_id: str | None,
    data: dict[str, Any],
    prev_hash: str,
) -> str:
    """Changing this changes every hash ever written: a new algorithm needs a new chain."""
    body = {
        "seq": seq,
        "at": iso_utc(at),
        "actor_id": actor_id,
        "actor_role": actor_role,
        "action": action,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "dossier_id": dossier_id,
        "data": data,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical(body).encode()).hexdigest()


def _row_hash(row: Any) -> str:
    return event_hash(**{name: getattr(row, name) for name in HASHED})


def _previous_hash(session: Session, seq: int) -> str:
    if seq == 1:
        return GENESIS
    # An event recorded earlier in this transaction may not be flushed yet.
    for obj in session.new:
        if isinstance(obj, AuditEvent) and obj.seq == seq - 1:
            return obj.hash
    found = session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == seq - 1))
    if found is not None:
        return found
    # The previous row is gone: the chain is already broken there and verify_chain says so.
    # Refusing to write would stop the counters, so chain onto what is left.
    log.error("audit event %d is missing; event %d chains onto the latest one left", seq - 1, seq)
    latest = session.scalar(
        select(AuditEvent.hash).where(AuditEvent.seq < seq).order_by(AuditEvent.seq.desc())
    )
    return latest or GENESIS


def record(
    session: Session,
    *,
    actor_id: str,
    actor_role: str,
    action: str,
    subject_type: str,
    subject_id: str,
    dossier_id: str | None = None,
    data: Mapping[str, Any] | None = None,
    at: datetime,
) -> AuditEvent:
    """Append one event in the caller's transaction, so it commits or rolls back with the change.

    The counter row is bumped first: from then on no other writer can append until this
    transaction ends, so the previous hash read here is the one the chain ends with.
    """
    if at.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    at = at.astimezone(UTC)
    # What is stored is exactly what was hashed: datetimes as text, tuples as lists.
    stored = json.loads(canonical(dict(data or {})))
    seq = next_in_sequence(session, SCOPE, DAY)
    prev = _previous_hash(session, seq)
    fields: dict[str, Any] = {
        "seq": seq,
        "at": at,
        "actor_id": actor_id,
        "actor_role": actor_role,
        "action": action,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "dossier_id": dossier_id,
        "data": stored,
        "prev_hash": prev,
    }
    event = AuditEvent(**fields, hash=event_hash(**fields))
    session.add(event)
    return event


_COLUMNS = tuple(getattr(AuditEvent, name) for name in (*HASHED, "hash"))


def verify_chain(session: Session, *, batch: int = 5000) -> ChainReport:
    """Walk the chain in seq order, ``batch`` rows at a time, and stop at the first broken link.

    The counter and max(seq) are read in one statement first, and only events up to that
    counter are walked: events appended meanwhile are for the next verification.
    """
    if batch < 1:
        raise InvalidInput("batch must be at least 1", code="batch_invalid")
    counter = (
        select(CodeCounter.last)
        .where(CodeCounter.scope == SCOPE, CodeCounter.day == DAY)
        .scalar_subquery()
    )
    top = select(func.max(AuditEvent.seq)).scalar_subquery()
    head = session.execute(select(counter, top)).one()
    given, top_seq = int(head[0] or 0), int(head[1] or 0)

    checked, last_seq, last_hash = 0, 0, GENESIS

    def broken(seq: int, reason: str) -> ChainReport:
        return ChainReport(
            ok=False,
            checked=checked,
            first_broken_seq=seq,
            reason=reason,
            head_seq=last_seq,
            head_hash=last_hash,
        )

    while last_seq < given:
        rows = session.execute(
            select(*_COLUMNS)
            .where(AuditEvent.seq > last_seq, AuditEvent.seq <= given)
            .order_by(AuditEvent.seq)
            .limit(batch)
        ).all()
        if not rows:
            break
        for row in rows:
            if row.seq != last_seq + 1:
                return broken(last_seq + 1, "missing_event")
            if _row_hash(row) != row.hash:
                return broken(row.seq, "hash_mismatch")
            if row.prev_hash != last_hash:
                return broken(row.seq, "prev_hash_mismatch")
            checked, last_seq, last_hash = checked + 1, row.seq, row.hash
    if last_seq < given:  # the last rows were deleted: the counter remembers them
        return broken(last_seq + 1, "missing_event")
    if top_seq > given:  # a row the counter never gave out
        return broken(given + 1, "unexpected_event")
    return ChainReport(ok=True, checked=checked, head_seq=last_seq, head_hash=last_hash)


def list_events(
    session: Session,
    principal: Principal,
    *,
    dossier_id: str | None = None,
    actor_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_seq: int | None = None,
    limit: int = 100,
) -> list[AuditEvent]:
    """Events in seq order, for auditors (their province's dossiers) and admins (everything).

    ``since`` is inclusive and ``until`` exclusive; pass the last ``seq`` seen as ``after_seq``
    for the next page. Events without a dossier (staff, catalogue) are for admins only.
    """
    principal.require(*READERS)
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit is 1..{MAX_LIMIT}", code="limit_invalid")
    for bound in (since, until):
        if bound is not None and bound.tzinfo is None:
            raise InvalidInput("since and until need a time zone", code="time_invalid")
    stmt = select(AuditEvent)
    if principal.role != "admin":
        visible = select(Dossier.id).where(dossier_filter(principal))
        stmt = stmt.where(AuditEvent.dossier_id.in_(visible))
    if dossier_id is not None:
        stmt = stmt.where(AuditEvent.dossier_id == dossier_id)
    if actor_id is not None:
        stmt = stmt.where(AuditEvent.actor_id == actor_id)
    if since is not None:
        stmt = stmt.where(AuditEvent.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.at < until)
    if after_seq is not None:
        stmt = stmt.where(AuditEvent.seq > after_seq)
    return list(session.scalars(stmt.order_by(AuditEvent.seq).limit(limit)))
