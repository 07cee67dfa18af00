"""Dossier codes, behind a generator chosen by configuration.

TT 01/2018/TT-VPCP: ``<unit code>-<YYMMDD>-<NNNN>``, a daily sequence per receiving unit. The
counter row is bumped in the same transaction that receives the dossier, so a reception that
rolls back gives its number back: the sequence stays gap-free, and concurrent receptions are
serialized by the row lock of ``INSERT … ON CONFLICT DO UPDATE``. TT 03/2025 may change the
format (not yet verified); a new generator then plugs in here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from dossiers.calendar import VN_TZ
from dossiers.errors import InvalidInput, SequenceExhausted
from dossiers.models import CodeCounter


class CodeGenerator(Protocol):
    name: str

    def next_code(self, session: Session, unit_code: str, received_at: datetime) -> str: ...


def next_in_sequence(session: Session, scope: str, day: str) -> int:
    """Take the next number of (scope, day) inside the caller's transaction."""
    dialect = session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if insert is None:  # pragma: no cover - only the two supported databases
        raise InvalidInput(f"no sequence support for {dialect}")
    stmt = insert(CodeCounter).values(scope=scope, day=day, last=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[CodeCounter.scope, CodeCounter.day],
        set_={"last": CodeCounter.last + 1},
    ).returning(CodeCounter.last)
    return int(session.execute(stmt).scalar_one())


class DailySequenceCode:
    """``000.00.16.H08-261128-0001``: unit code, local date received, daily number."""

    name = "tt01-2018"
    width = 4

    def next_code(self, session: Session, unit_code: str, received_at: datetime) -> str:
        if received_at.tzinfo is None:
            raise ValueError("received_at must be timezone-aware")
        day = received_at.astimezone(VN_TZ).strftime("%y%m%d")
        number = next_in_sequence(session, f"dossier:{unit_code}", day)
        if number >= 10**self.width:
            raise SequenceExhausted(
                f"unit {unit_code} has used all {10**self.width - 1} dossier numbers of {day}"
            )
        return f"{unit_code}-{day}-{number:0{self.width}d}"


GENERATORS: dict[str, type[DailySequenceCode]] = {"tt01-2018": DailySequenceCode}


def make_generator(name: str) -> CodeGenerator:
    try:
        return GENERATORS[name]()
    except KeyError:
        raise InvalidInput(
            f"unknown dossier code format {name!r}; one of {sorted(GENERATORS)}"
        ) from None
