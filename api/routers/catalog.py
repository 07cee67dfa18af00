"""The procedures catalog and the units: readable by every signed-in caller."""

from __future__ import annotations

from fastapi import APIRouter, Query

from api.deps import Caller, Svc
from api.params import Day
from dossiers.admin import catalog
from dossiers.admin.catalog import ProcedureDetail, ProcedureList, UnitList
from storage.db import session_scope

router = APIRouter(tags=["catalog"])


@router.get("/procedures")
def list_procedures(
    who: Caller,
    svc: Svc,
    q: str | None = Query(default=None, max_length=200, description="name or code, any accents"),
    field_code: str | None = Query(default=None, max_length=32),
    at: Day | None = None,
) -> ProcedureList:
    with session_scope(svc.sessions) as session:
        return catalog.list_procedures(
            session, at or svc.dossiers.today(), query=q, field_code=field_code
        )


@router.get("/procedures/{code}")
def get_procedure(code: str, who: Caller, svc: Svc, at: Day | None = None) -> ProcedureDetail:
    """The version in force on ``at`` (today by default), with its components and fees."""
    with session_scope(svc.sessions) as session:
        return catalog.procedure_detail(session, code, at or svc.dossiers.today())


@router.get("/units")
def list_units(
    who: Caller, svc: Svc, kind: str | None = Query(default=None, max_length=16)
) -> UnitList:
    with session_scope(svc.sessions) as session:
        return catalog.list_units(session, kind=kind)
