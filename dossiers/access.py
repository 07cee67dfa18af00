"""Who is calling and which dossiers they may see.

Tokens are stored as SHA-256 digests. Every dossier query goes through :func:`dossier_filter`,
so a new endpoint cannot forget the unit scope: a commune counter sees its unit's dossiers (and
those of units merged into it, and of a counter it covers as backup); an agency sees what was
handed to it; an auditor sees its province read-only; a harvester sees no dossier.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import ColumnElement, false, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session

from dossiers.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from dossiers.models import ApiToken, BackupAssignment, Dossier, Handover, Staff, Unit

ROLES = ("counter", "agency", "harvester", "auditor", "admin")
TOKEN_PREFIX = "sohoa_"  # noqa: S105 - a visible prefix, not a secret


@dataclass(frozen=True)
class Principal:
    staff_id: str
    name: str
    role: str
    unit_code: str | None
    province_code: str | None = None
    employer: str = "civil_servant"
    on_probation: bool = False
    # Units whose dossiers this caller works on besides its own: merged-away units, backups.
    extra_units: frozenset[str] = field(default_factory=frozenset)

    @property
    def units(self) -> frozenset[str]:
        own = {self.unit_code} if self.unit_code else set()
        return frozenset(own) | self.extra_units

    def require(self, *roles: str) -> None:
        if self.role not in roles:
            raise Forbidden(
                f"role {self.role!r} may not do this; it needs {' or '.join(roles)}",
                code="role_forbidden",
            )


def require_installation_admin(principal: Principal, what: str) -> None:
    """``what`` serves every unit (the outbox): an administrator without a unit only."""
    principal.require("admin")
    if principal.unit_code is not None:
        raise Forbidden(
            f"{what} serves every unit: only an administrator without a unit may manage it",
            code="role_forbidden",
        )


BOOTSTRAP = Principal(
    staff_id="bootstrap-admin", name="Quản trị (khởi tạo)", role="admin", unit_code=None
)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    session: Session,
    staff_id: str,
    *,
    label: str = "",
    expires_at: datetime | None = None,
    created_at: datetime | None = None,
) -> str:
    """Create a token and return it in clear, the only time it is ever seen. ``created_at``
    is the service clock's now where a lifetime counts from it (a web session's longest day)."""
    if session.get(Staff, staff_id) is None:
        raise NotFound(f"no staff member {staff_id}", code="staff_not_found")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        staff_id=staff_id, token_sha256=token_digest(token), label=label, expires_at=expires_at
    )
    if created_at is not None:
        row.created_at = created_at
    session.add(row)
    return token


def authenticate(
    session: Session, token: str | None, *, now: datetime, bootstrap_sha256: str | None = None
) -> Principal:
    if not token:
        raise Unauthenticated("send 'Authorization: Bearer <token>'")
    digest = token_digest(token)
    if bootstrap_sha256 and hmac.compare_digest(digest, bootstrap_sha256):
        return BOOTSTRAP
    row = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == digest))
    if row is None or row.revoked_at is not None or (row.expires_at and row.expires_at <= now):
        raise Unauthenticated("the token is unknown, revoked or expired")
    staff = session.get(Staff, row.staff_id)
    if staff is None or not staff.active:
        raise Unauthenticated("the token's account is disabled")
    return principal_for(session, staff, today=now.date())


def principal_for(session: Session, staff: Staff, *, today: date) -> Principal:
    province = None
    extra: set[str] = set()
    if staff.unit_code:
        unit = session.get(Unit, staff.unit_code)
        province = unit.province_code if unit else None
        extra |= merged_into(session, staff.unit_code)
    extra |= set(
        session.scalars(
            select(BackupAssignment.unit_code).where(
                BackupAssignment.staff_id == staff.id,
                BackupAssignment.valid_from <= today,
                BackupAssignment.valid_to >= today,
            )
        )
    )
    return Principal(
        staff_id=staff.id,
        name=staff.name,
        role=staff.role,
        unit_code=staff.unit_code,
        province_code=province,
        employer=staff.employer,
        on_probation=bool(staff.probation_until and staff.probation_until >= today),
        extra_units=frozenset(extra - {staff.unit_code}),
    )


def merged_into(session: Session, unit_code: str) -> set[str]:
    """Every unit whose chain of successors leads to ``unit_code``."""
    found: set[str] = set()
    frontier = {unit_code}
    while frontier:
        rows = set(session.scalars(select(Unit.code).where(Unit.successor_code.in_(frontier))))
        frontier = rows - found - {unit_code}
        found |= frontier
    return found


def dossier_filter(principal: Principal) -> ColumnElement[bool]:
    """The WHERE clause that limits dossiers to what ``principal`` may read."""
    role = principal.role
    if role == "admin":
        return true()
    if role == "counter" and principal.units:
        return Dossier.unit_code.in_(principal.units)
    if role == "agency" and principal.unit_code:
        routed = select(Handover.dossier_id).where(Handover.to_party == principal.unit_code)
        return Dossier.id.in_(routed)
    if role == "auditor" and principal.province_code:
        province_units = select(Unit.code).where(Unit.province_code == principal.province_code)
        return Dossier.unit_code.in_(province_units)
    return false()


def unit_filter(
    principal: Principal, column: ColumnElement[str] | InstrumentedAttribute[str]
) -> ColumnElement[bool]:
    """Rows keyed by a unit code (lists, reports, tickets): the caller's units only."""
    if principal.role == "admin":
        return true()
    if principal.role == "auditor" and principal.province_code:
        return column.in_(select(Unit.code).where(Unit.province_code == principal.province_code))
    if principal.role in ("counter", "agency") and principal.units:
        return column.in_(principal.units)
    return false()


def check_unit(principal: Principal, unit_code: str, session: Session) -> None:
    """Raise unless ``principal`` may read data of ``unit_code``."""
    visible = session.scalar(
        select(Unit.code).where(Unit.code == unit_code, unit_filter(principal, Unit.code))
    )
    if visible is None:
        raise NotFound(f"no unit {unit_code}", code="unit_not_found")


def validate_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; one of {', '.join(ROLES)}", code="role_invalid")
    return role
