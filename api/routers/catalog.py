"""The procedures catalog and the units: readable by every signed-in caller."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from api.deps import Caller, Svc
from api.params import Day
from dossiers.catalog import procedure_in_force, procedures_in_force
from dossiers.models import Procedure, Unit
from storage.db import session_scope

router = APIRouter(tags=["catalog"])


@router.get("/procedures")
def list_procedures(
    who: Caller,
    svc: Svc,
    q: str | None = Query(default=None, max_length=200, description="name or code, any accents"),
    field_code: str | None = Query(default=None, max_length=32),
    at: Day | None = None,
) -> dict[str, Any]:
    with session_scope(svc.sessions) as session:
        rows = procedures_in_force(
            session, at or svc.dossiers.today(), query=q, field_code=field_code
        )
        return {"items": [procedure_body(p) for p in rows]}


@router.get("/procedures/{code}")
def get_procedure(code: str, who: Caller, svc: Svc, at: Day | None = None) -> dict[str, Any]:
    """The version in force on ``at`` (today by default), with its components and fees."""
    with session_scope(svc.sessions) as session:
        proc = procedure_in_force(session, code, at or svc.dossiers.today())
        body = procedure_body(proc)
        body["versions"] = [
            {
                "version": v.version,
                "effective_from": v.effective_from.isoformat(),
                "effective_to": v.effective_to.isoformat() if v.effective_to else None,
            }
            for v in session.scalars(
                select(Procedure).where(Procedure.code == code).order_by(Procedure.version)
            )
        ]
        return body


@router.get("/units")
def list_units(
    who: Caller, svc: Svc, kind: str | None = Query(default=None, max_length=16)
) -> dict[str, Any]:
    with session_scope(svc.sessions) as session:
        stmt = select(Unit).order_by(Unit.code)
        if kind:
            stmt = stmt.where(Unit.kind == kind)
        return {"items": [unit_body(u) for u in session.scalars(stmt)]}


def procedure_body(p: Procedure) -> dict[str, Any]:
    return {
        "code": p.code,
        "version": p.version,
        "name": p.name,
        "field_code": p.field_code,
        "field_name": p.field_name,
        "level": p.level,
        "agencies": p.agency_codes,
        "processing_days": p.processing_days,
        "same_day": p.processing_days == 0,
        "effective_from": p.effective_from.isoformat(),
        "effective_to": p.effective_to.isoformat() if p.effective_to else None,
        "components": p.components,
        "fees": p.fees,
        "results": p.results,
        "sample": p.sample,
    }


def unit_body(u: Unit) -> dict[str, Any]:
    return {
        "code": u.code,
        "name": u.name,
        "kind": u.kind,
        "level": u.level,
        "area": u.area,
        "province_code": u.province_code,
        "valid_from": u.valid_from.isoformat(),
        "valid_to": u.valid_to.isoformat() if u.valid_to else None,
        "successor_code": u.successor_code,
        "postal_contact": u.postal_contact,
    }
