"""The administrator's pages: catalog import, staff and their tokens, calendar corrections, each
unit's postal handover plan and backups, and receipt series.

Every change goes through the functions the admin API calls (``dossiers.admin``), with the API's
own body models as the form's validation, so the page accepts nothing the API would refuse.
A refusal renders the form again with what was typed and
the reason in the page's language; a success answers 303 with a one-time notice (a short-lived
cookie, so the notice does not ride in URLs or come back on reload). A new token is the one
exception: it is shown in the answer to its POST, since any redirect would have to store it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import PurePath
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.context import AppServices
from api.problem_types import problem_types
from api.routers.admin import (
    BackupBody,
    ContactBody,
    EvaluationBody,
    OverrideBody,
    PostalBody,
    SeriesBody,
    StaffBody,
    TokenBody,
)
from core.errors import SohoaError
from dossiers.access import ROLES, Principal
from dossiers.admin import catalog, staffing
from dossiers.calendar import DEFAULT_OVERRIDES, WorkingCalendar
from dossiers.errors import NotFound
from dossiers.models import (
    ApiToken,
    BackupAssignment,
    CalendarOverrideRow,
    ReceiptSeries,
    Staff,
    Unit,
)
from storage.db import session_scope
from web import render
from web.deps import (
    InvalidForm,
    PageRoute,
    Svc,
    User,
    require_csrf,
    secure_cookies,
    session_user,
    wants_json,
)
from web.i18n import Gettext, gettext_for
from web.sessions import SESSION_LABEL

router = APIRouter(prefix="/web", route_class=PageRoute, include_in_schema=False)

PAGE_SIZE = 50
NOTICE_COOKIE = "sohoa_admin_notice"
NOTICE_PATH = "/web/admin"
# A multipart body is the file plus a few short fields and their boundaries.
FORM_SLACK = 64 * 1024
SHOWN_CODES = 20  # procedure codes named in an import's notice; the rest are counted
TOKENS_SHOWN = 20
HOLIDAYS_AHEAD = 366  # days of public holidays listed beside the corrections


class CatalogTooLarge(SohoaError):
    code = "catalog_too_large"
    http_status = 413


# -- who may come in --------------------------------------------------------------------------


def admin(user: User) -> Principal:
    """Every admin page reads data no other role sees: the role is checked before any read."""
    user.require("admin")
    return user


AdminUser = Annotated[Principal, Depends(admin)]


async def upload_admin(request: Request, svc: Svc) -> Principal:
    """:data:`web.deps.User` for the catalog's multipart form.

    The shared dependency reads the CSRF field only from urlencoded bodies; a file must come as
    multipart, so the token is read here from the form's ``csrf`` field (or the header a script
    sends). The body's size is checked from its declared length before it is parsed: a browser
    always declares it, and the server holds the client to it.
    """
    who = await session_user(request)
    limit = svc.settings.catalog_max_bytes
    declared = request.headers.get("content-length", "")
    if not declared.isdigit():
        raise InvalidForm("send the catalog file from the page's form")
    if int(declared) > limit + FORM_SLACK:
        raise CatalogTooLarge(f"a catalog file is at most {limit} bytes", max_bytes=limit)
    form = await request.form(max_files=1, max_fields=8, max_part_size=4096)
    presented = request.headers.get("x-csrf-token") or form.get("csrf")
    require_csrf(request, presented if isinstance(presented, str) else None)
    who.require("admin")
    return who


UploadAdmin = Annotated[Principal, Depends(upload_admin)]


# -- what every page shares --------------------------------------------------------------------


def _gettext(request: Request) -> Gettext:
    return gettext_for(render.language(request))


def _today(svc: AppServices) -> date:
    return svc.dossiers.today()


def _show(request: Request, template: str, *, status_code: int = 200, **context: Any) -> Response:
    """Render a page, with the notice a redirect left for it (shown once, then forgotten)."""
    notice = context.pop("notice", "") or _read_notice(request)
    response = render.page(request, template, status_code=status_code, notice=notice, **context)
    if NOTICE_COOKIE in request.cookies:
        response.delete_cookie(NOTICE_COOKIE, path=NOTICE_PATH)
    return response


def _read_notice(request: Request) -> str:
    raw = request.cookies.get(NOTICE_COOKIE, "")
    try:
        return base64.urlsafe_b64decode(raw.encode()).decode("utf-8")[:1000] if raw else ""
    except (binascii.Error, UnicodeDecodeError):
        return ""


def _done(request: Request, svc: AppServices, target: str, notice: str) -> RedirectResponse:
    """303 to a page that shows ``notice`` once."""
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        NOTICE_COOKIE,
        base64.urlsafe_b64encode(notice[:1000].encode("utf-8")).decode(),
        max_age=120,
        path=NOTICE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )
    return response


async def _fields(request: Request) -> dict[str, str]:
    """The urlencoded form's fields, trimmed; the CSRF token is the dependency's business.

    Read here so that the handlers can be plain functions, run off the event loop.
    """
    form = await request.form()
    return {k: v.strip() for k, v in form.items() if isinstance(v, str) and k != "csrf"}


Values = Annotated[dict[str, str], Depends(_fields)]


def _optional(values: dict[str, str], *names: str) -> dict[str, Any]:
    """The fields with empty optional ones left out, so the body model's default applies."""
    data: dict[str, Any] = dict(values)
    for name in names:
        if not data.get(name):
            data.pop(name, None)
    return data


@dataclass
class Refusal:
    """Why a form was refused, for the form shown again: a summary and per-field reasons."""

    title: str
    meaning: str = ""
    detail: str = ""
    fields: dict[str, str] | None = None
    items: list[str] | None = None
    status: int = 422


def _from_problem(exc: SohoaError, _: Gettext, lang: str) -> Refusal:
    entry = problem_types().get(exc.code)
    items = [
        f"{'.'.join(e.get('loc', []))}: {e.get('msg', '')}"
        for e in exc.extra.get("errors", [])[:20]
    ]
    return Refusal(
        title=getattr(entry.title, lang) if entry else _("The change was refused"),
        meaning=getattr(entry.meaning, lang) if entry else "",
        detail=str(exc),
        items=items or None,
        status=int(exc.http_status),
    )


def _from_validation(exc: ValidationError, _: Gettext) -> Refusal:
    fields: dict[str, str] = {}
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "form"
        fields.setdefault(name, _explain(error, _))
    return Refusal(title=_("Check the fields marked below."), fields=fields)


def _explain(error: Any, _: Gettext) -> str:
    """A field error in words a clerk acts on (pydantic's own are English and technical)."""
    kind, ctx = str(error["type"]), error.get("ctx") or {}
    if kind == "missing" or (kind == "string_too_short" and ctx.get("min_length") == 1):
        return _("Fill this in.")
    if kind == "string_too_long":
        return _("Write at most {n} characters.", n=ctx.get("max_length", "?"))
    if kind.startswith(("date", "datetime")) or "YYYY-MM-DD" in str(error.get("msg", "")):
        return _("Give a valid date.")
    if kind in ("literal_error", "enum", "bool_parsing", "bool_type"):
        return _("Choose one of the options.")
    return _("This value is not accepted.")


def _refusable(exc: SohoaError, request: Request) -> bool:
    """A domain refusal to explain beside the form; sign-in, role and scripts get the usual."""
    return (
        400 <= exc.http_status < 500
        and exc.http_status not in (401, 403)
        and not wants_json(request)
    )


def _pages(total: int, page: int) -> dict[str, int]:
    last = max(1, -(-total // PAGE_SIZE))
    return {"page": min(page, last), "last": last, "total": total}


# -- reads the admin pages need beside the API's (admin-only, so no unit scope applies) --------


def _units(session: Session) -> list[catalog.UnitView]:
    return catalog.list_units(session).items


def _open_units(units: Iterable[catalog.UnitView]) -> list[catalog.UnitView]:
    return [u for u in units if u.valid_to is None]


def _staff_page(
    session: Session, *, query: str, unit: str, page: int
) -> tuple[list[Staff], int, dict[str, int]]:
    """One page of staff with each one's valid tokens counted (sessions apart)."""
    stmt = select(Staff)
    if query:
        like = f"%{query.replace('%', '').replace('_', '')}%"
        stmt = stmt.where(or_(Staff.id.ilike(like), Staff.name.ilike(like)))
    if unit:
        stmt = stmt.where(Staff.unit_code == unit)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    pages = _pages(total, page)
    rows = list(
        session.scalars(
            stmt.order_by(Staff.unit_code, Staff.id)
            .offset((pages["page"] - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        )
    )
    return rows, total, _valid_tokens(session, [s.id for s in rows])


def _valid_tokens(session: Session, staff_ids: list[str]) -> dict[str, int]:
    if not staff_ids:
        return {}
    stmt = (
        select(ApiToken.staff_id, func.count())
        .where(
            ApiToken.staff_id.in_(staff_ids),
            ApiToken.revoked_at.is_(None),
            ~ApiToken.label.startswith(SESSION_LABEL),
        )
        .group_by(ApiToken.staff_id)
    )
    return {staff_id: n for staff_id, n in session.execute(stmt)}


def _supervisors(session: Session) -> list[Staff]:
    """Civil servants at a counter: who may supervise a probationer (the domain checks the unit)."""
    return list(
        session.scalars(
            select(Staff)
            .where(Staff.employer == "civil_servant", Staff.role == "counter", Staff.active)
            .order_by(Staff.unit_code, Staff.name)
        )
    )


def _counter_staff(session: Session) -> list[Staff]:
    return list(
        session.scalars(
            select(Staff)
            .where(Staff.role == "counter", Staff.active)
            .order_by(Staff.unit_code, Staff.name)
        )
    )


def _staff(session: Session, staff_id: str) -> Staff:
    staff = session.get(Staff, staff_id)
    if staff is None:
        raise NotFound(f"no staff member {staff_id}", code="staff_not_found")
    return staff


def _unit(session: Session, code: str) -> Unit:
    unit = session.get(Unit, code)
    if unit is None:
        raise NotFound(f"no unit {code}", code="unit_not_found")
    return unit


def _tokens(session: Session, staff_id: str) -> tuple[list[ApiToken], int]:
    """The newest API tokens (never their digests) and how many web sessions are open."""
    tokens = list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.staff_id == staff_id, ~ApiToken.label.startswith(SESSION_LABEL))
            .order_by(ApiToken.created_at.desc())
            .limit(TOKENS_SHOWN)
        )
    )
    sessions = (
        session.scalar(
            select(func.count()).where(
                ApiToken.staff_id == staff_id,
                ApiToken.label.startswith(SESSION_LABEL),
                ApiToken.revoked_at.is_(None),
            )
        )
        or 0
    )
    return tokens, sessions


@dataclass(frozen=True)
class DayOverride:
    day: date
    working: bool
    note: str
    by: str  # "" for the corrections shipped with the service


def _overrides(session: Session, today: date) -> list[DayOverride]:
    """Corrections from today on: the administrators' and the built-in ones they do not replace."""
    rows = {
        r.day: DayOverride(r.day, r.working, r.note, r.created_by or "?")
        for r in session.scalars(
            select(CalendarOverrideRow)
            .where(CalendarOverrideRow.day >= today)
            .order_by(CalendarOverrideRow.day)
            .limit(500)
        )
    }
    for o in DEFAULT_OVERRIDES:
        if o.day >= today and o.day not in rows:
            rows[o.day] = DayOverride(o.day, o.working, o.note, "")
    return sorted(rows.values(), key=lambda o: o.day)


def _holidays(today: date, lang: str) -> list[tuple[date, str]]:
    """Public holidays of the coming year, as the deadline rules count them."""
    names = WorkingCalendar((), language="vi" if lang == "vi" else "en_US")
    found = []
    for n in range(HOLIDAYS_AHEAD):
        d = today + timedelta(days=n)
        name = names.holiday_name(d)
        if name:
            found.append((d, name))
    return found


def _fields_of_catalog(session: Session, today: date) -> tuple[dict[str, str], list[Any]]:
    """Fields (code -> name) and procedures in force: what a postal plan can name."""
    procedures = catalog.procedures_in_force(session, today)
    fields = {p.field_code: p.field_name for p in procedures}
    return dict(sorted(fields.items())), procedures


def _backups(session: Session, unit_code: str, today: date) -> list[tuple[BackupAssignment, str]]:
    """Current and coming backups at a unit, with the backup's name."""
    stmt = (
        select(BackupAssignment, Staff.name)
        .join(Staff, Staff.id == BackupAssignment.staff_id)
        .where(BackupAssignment.unit_code == unit_code, BackupAssignment.valid_to >= today)
        .order_by(BackupAssignment.valid_from)
    )
    return [(row, name) for row, name in session.execute(stmt)]


def _series(session: Session, unit_code: str | None = None) -> list[ReceiptSeries]:
    stmt = select(ReceiptSeries).order_by(ReceiptSeries.unit_code, ReceiptSeries.valid_from)
    if unit_code:
        stmt = stmt.where(ReceiptSeries.unit_code == unit_code)
    return list(session.scalars(stmt.limit(500)))


# -- overview ---------------------------------------------------------------------------------


@router.get("/admin")
def overview(request: Request, svc: Svc, user: AdminUser) -> Response:
    with session_scope(svc.sessions) as session:
        units = _units(session)
    return _show(request, "admin/overview.html", units=units, today=_today(svc))


# -- catalog ----------------------------------------------------------------------------------


def _catalog_page(
    request: Request,
    svc: AppServices,
    *,
    q: str = "",
    field: str = "",
    page: int = 1,
    refusal: Refusal | None = None,
    replace: bool = False,
) -> Response:
    today = _today(svc)
    with session_scope(svc.sessions) as session:
        fields, _all = _fields_of_catalog(session, today)
        found = catalog.procedures_in_force(
            session, today, query=q or None, field_code=field or None
        )
    pages = _pages(len(found), page)
    start = (pages["page"] - 1) * PAGE_SIZE
    return _show(
        request,
        "admin/catalog.html",
        status_code=refusal.status if refusal else 200,
        procedures=found[start : start + PAGE_SIZE],
        pages=pages,
        q=q,
        field=field,
        fields=fields,
        refusal=refusal,
        replace=replace,
        max_bytes=svc.settings.catalog_max_bytes,
    )


@router.get("/admin/catalog")
def catalog_view(
    request: Request,
    svc: Svc,
    user: AdminUser,
    q: str = Query(default="", max_length=200),
    field: str = Query(default="", max_length=32),
    page: int = Query(default=1, ge=1, le=10**6),
) -> Response:
    return _catalog_page(request, svc, q=q.strip(), field=field, page=page)


@router.post("/admin/catalog")
async def catalog_import(request: Request, svc: Svc, user: UploadAdmin) -> Response:
    """Parse and import as ``POST /api/v1/admin/catalog`` does: all of it, or nothing."""
    _ = _gettext(request)
    form = await request.form()
    replace = form.get("replace") in ("1", "on", "true")
    upload = form.get("file")
    s = svc.settings
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidForm("choose a catalog file (.yaml, .yml or .json)")
        raw = await upload.read(s.catalog_max_bytes + 1)
        if len(raw) > s.catalog_max_bytes:
            raise CatalogTooLarge(
                f"a catalog file is at most {s.catalog_max_bytes} bytes",
                max_bytes=s.catalog_max_bytes,
            )
        name = PurePath(upload.filename).name[:100] or "catalog.yaml"
        report = await run_in_threadpool(
            _import, svc, raw, name, replace, s.catalog_max_depth, s.catalog_max_nodes
        )
    except SohoaError as exc:
        if not _refusable(exc, request):
            raise
        refusal = _from_problem(exc, _, render.language(request))
        return await run_in_threadpool(
            _catalog_page, request, svc, refusal=refusal, replace=replace
        )
    return _done(request, svc, "/web/admin/catalog", _import_notice(report, _))


def _import(
    svc: AppServices, raw: bytes, name: str, replace: bool, max_depth: int, max_nodes: int
) -> catalog.ImportReport:
    spec = catalog.parse_catalog(raw, filename=name, max_depth=max_depth, max_nodes=max_nodes)
    with session_scope(svc.sessions) as session:
        return catalog.import_catalog(session, spec, replace=replace, today=_today(svc))


def _import_notice(report: catalog.ImportReport, _: Gettext) -> str:
    text = _(
        "Catalog imported: {created} procedures added or changed, {unchanged} unchanged, "
        "{retired} retired; {units} units updated.",
        created=len(report.created),
        unchanged=len(report.unchanged),
        retired=len(report.retired),
        units=len(report.units),
    )
    for label, codes in ((_("Added or changed"), report.created), (_("Retired"), report.retired)):
        if codes:
            listed = ", ".join(codes[:SHOWN_CODES])
            more = len(codes) - SHOWN_CODES
            if more > 0:
                listed = _("{codes} and {n} more", codes=listed, n=more)
            text += f" {label}: {listed}."
    return text


# -- staff ------------------------------------------------------------------------------------


def _staff_list(
    request: Request,
    svc: AppServices,
    *,
    q: str = "",
    unit: str = "",
    page: int = 1,
    values: dict[str, str] | None = None,
    refusal: Refusal | None = None,
) -> Response:
    with session_scope(svc.sessions) as session:
        rows, total, tokens = _staff_page(session, query=q, unit=unit, page=page)
        units = _units(session)
        supervisors = _supervisors(session)
    return _show(
        request,
        "admin/staff.html",
        status_code=refusal.status if refusal else 200,
        staff=rows,
        tokens=tokens,
        pages=_pages(total, page),
        q=q,
        unit=unit,
        units=units,
        open_units=_open_units(units),
        supervisors=supervisors,
        roles=ROLES,
        values=values or {},
        refusal=refusal,
        today=_today(svc),
    )


@router.get("/admin/staff")
def staff_view(
    request: Request,
    svc: Svc,
    user: AdminUser,
    q: str = Query(default="", max_length=100),
    unit: str = Query(default="", max_length=32),
    page: int = Query(default=1, ge=1, le=10**6),
) -> Response:
    return _staff_list(request, svc, q=q.strip(), unit=unit, page=page)


@router.post("/admin/staff")
def staff_create(request: Request, svc: Svc, values: Values, user: AdminUser) -> Response:
    """``POST /api/v1/admin/staff``: the row and, for a counter clerk, a certificate, or nothing."""
    _ = _gettext(request)
    try:
        body = StaffBody.model_validate(
            _optional(values, "unit_code", "probation_until", "supervisor_id", "employer")
        )
    except ValidationError as exc:
        refusal = _from_validation(exc, _)
        return _staff_list(request, svc, values=values, refusal=refusal)
    data = body.model_dump()
    try:
        with session_scope(svc.sessions) as session:
            staff = staffing.create_staff(
                session, user, staff_id=data.pop("id"), **data, today=_today(svc)
            )
            session.flush()  # the row's own constraints fail here, before a certificate
            if staff.role == "counter":
                svc.enroll_clerk(staff.id, body.name)
    except SohoaError as exc:
        if not _refusable(exc, request):
            raise
        refusal = _from_problem(exc, _, render.language(request))
        return _staff_list(request, svc, values=values, refusal=refusal)
    notice = _("Account {id} created. Issue a token so its holder can sign in.", id=body.id)
    return _done(request, svc, f"/web/admin/staff/{body.id}", notice)


def _staff_detail(
    request: Request,
    svc: AppServices,
    staff_id: str,
    *,
    failed: str = "",
    values: dict[str, str] | None = None,
    refusal: Refusal | None = None,
) -> Response:
    with session_scope(svc.sessions) as session:
        staff = _staff(session, staff_id)
        tokens, sessions = _tokens(session, staff_id)
        unit = session.get(Unit, staff.unit_code) if staff.unit_code else None
    return _show(
        request,
        "admin/staff_member.html",
        status_code=refusal.status if refusal else 200,
        member=staff,
        unit=unit,
        tokens=tokens,
        sessions=sessions,
        now=svc.clock(),
        today=_today(svc),
        failed=failed,
        values=values or {},
        refusal=refusal,
    )


@router.get("/admin/staff/{staff_id}")
def staff_member(request: Request, staff_id: str, svc: Svc, user: AdminUser) -> Response:
    return _staff_detail(request, svc, staff_id)


@router.post("/admin/staff/{staff_id}/tokens")
def token_issue(
    request: Request, staff_id: str, svc: Svc, values: Values, user: AdminUser
) -> Response:
    """The token appears in this answer only: not in a redirect, a cookie or the database."""
    _ = _gettext(request)
    data: dict[str, Any] = {"label": values.get("label", "")}
    refusal: Refusal | None = None
    if values.get("expires_on"):
        problem = ""
        try:
            day = date.fromisoformat(values["expires_on"])
        except ValueError:
            problem = _("Give a valid date.")
        else:
            if day < _today(svc):
                problem = _("Choose today or a later day.")
            # Valid through the chosen day, by the installation's wall clock.
            zone = ZoneInfo(svc.settings.timezone)
            data["expires_at"] = datetime.combine(day + timedelta(days=1), time(), zone)
        if problem:
            refusal = Refusal(_("Check the fields marked below."), fields={"expires_on": problem})
    if refusal is None:
        try:
            body = TokenBody.model_validate(data)
        except ValidationError as exc:
            refusal = _from_validation(exc, _)
    if refusal is not None:
        return _staff_detail(request, svc, staff_id, failed="token", values=values, refusal=refusal)
    with session_scope(svc.sessions) as session:
        member = _staff(session, staff_id)
        name = member.name
        token = staffing.new_token(
            session, user, staff_id, label=body.label, expires_at=body.expires_at
        )
    return render.page(
        request,
        "admin/token.html",
        staff_id=staff_id,
        name=name,
        token=token,
        expires_at=body.expires_at,
    )


@router.post("/admin/staff/{staff_id}/revoke")
def tokens_revoke(
    request: Request, staff_id: str, svc: Svc, values: Values, user: AdminUser
) -> Response:
    """Every token of the member, web sessions included: they are signed out at once."""
    _ = _gettext(request)
    with session_scope(svc.sessions) as session:
        _staff(session, staff_id)
        n = staffing.revoke_tokens(session, user, staff_id, now=svc.clock())
    notice = _("{n} tokens and sessions of {id} revoked.", n=n, id=staff_id)
    return _done(request, svc, f"/web/admin/staff/{staff_id}", notice)


@router.post("/admin/staff/{staff_id}/probation")
def probation_evaluate(
    request: Request, staff_id: str, svc: Svc, values: Values, user: AdminUser
) -> Response:
    _ = _gettext(request)
    try:
        body = EvaluationBody.model_validate(
            {"passed": values.get("passed") or None, "note": values.get("note", "")}
        )
        with session_scope(svc.sessions) as session:
            _staff(session, staff_id)
            staff = staffing.evaluate_probation(
                session, user, staff_id, passed=body.passed, note=body.note, now=svc.clock()
            )
            active = staff.active
    except ValidationError as exc:
        return _staff_detail(
            request,
            svc,
            staff_id,
            failed="probation",
            values=values,
            refusal=_from_validation(exc, _),
        )
    except SohoaError as exc:
        if not _refusable(exc, request) or exc.code == "staff_not_found":
            raise
        refusal = _from_problem(exc, _, render.language(request))
        return _staff_detail(
            request, svc, staff_id, failed="probation", values=values, refusal=refusal
        )
    notice = (
        _("Probation passed: {id} stays on.", id=staff_id)
        if active
        else _("Probation not passed: {id} can no longer sign in.", id=staff_id)
    )
    return _done(request, svc, f"/web/admin/staff/{staff_id}", notice)


# -- calendar ---------------------------------------------------------------------------------


def _calendar_page(
    request: Request,
    svc: AppServices,
    *,
    values: dict[str, str] | None = None,
    refusal: Refusal | None = None,
) -> Response:
    today = _today(svc)
    with session_scope(svc.sessions) as session:
        overrides = _overrides(session, today)
    return _show(
        request,
        "admin/calendar.html",
        status_code=refusal.status if refusal else 200,
        overrides=overrides,
        holidays=_holidays(today, render.language(request)),
        values=values or {},
        refusal=refusal,
        today=today,
    )


@router.get("/admin/calendar")
def calendar_view(request: Request, svc: Svc, user: AdminUser) -> Response:
    return _calendar_page(request, svc)


@router.post("/admin/calendar")
def calendar_set(request: Request, svc: Svc, values: Values, user: AdminUser) -> Response:
    """``PUT /api/v1/admin/calendar/{day}``: a compensating working day, or an extra day off."""
    _ = _gettext(request)
    working = {"1": True, "0": False}.get(values.get("working", ""))
    try:
        body = OverrideBody.model_validate(
            {"day": values.get("day") or None, "working": working, "note": values.get("note", "")}
        )
        with session_scope(svc.sessions) as session:
            staffing.set_calendar_override(
                session, user, day=body.day, working=body.working, note=body.note
            )
    except ValidationError as exc:
        return _calendar_page(request, svc, values=values, refusal=_from_validation(exc, _))
    except SohoaError as exc:
        if not _refusable(exc, request):
            raise
        refusal = _from_problem(exc, _, render.language(request))
        return _calendar_page(request, svc, values=values, refusal=refusal)
    day = body.day.strftime("%d/%m/%Y")
    notice = (
        _("{day} is now a working day.", day=day)
        if body.working
        else _("{day} is now a day off.", day=day)
    )
    return _done(request, svc, "/web/admin/calendar", notice)


# -- a unit: postal contact and plan, backups, its series -------------------------------------


def _unit_page(
    request: Request,
    svc: AppServices,
    code: str,
    *,
    failed: str = "",
    values: dict[str, str] | None = None,
    refusal: Refusal | None = None,
) -> Response:
    today = _today(svc)
    with session_scope(svc.sessions) as session:
        unit = catalog.UnitView.of(_unit(session, code))
        plan = staffing.postal_plan(session, code)
        fields, procedures = _fields_of_catalog(session, today)
        backups = _backups(session, code, today)
        counters = _counter_staff(session)
        series = _series(session, code)
    return _show(
        request,
        "admin/unit.html",
        status_code=refusal.status if refusal else 200,
        unit=unit,
        plan=plan,
        fields=fields,
        procedures=procedures,
        backups=backups,
        counters=counters,
        series=series,
        today=today,
        failed=failed,
        values=values or {},
        refusal=refusal,
    )


@router.get("/admin/units/{code}")
def unit_view(request: Request, code: str, svc: Svc, user: AdminUser) -> Response:
    return _unit_page(request, svc, code)


def _unit_change(
    request: Request,
    svc: AppServices,
    code: str,
    form_name: str,
    model: type[BaseModel],
    data: dict[str, Any],
    values: dict[str, str],
    change: Callable[[Session, Any], None],
) -> Response | None:
    """Validate with the API's body model and apply; a refusal is the unit page shown again."""
    _ = _gettext(request)
    try:
        body = model.model_validate(data)
        with session_scope(svc.sessions) as session:
            _unit(session, code)
            change(session, body)
    except ValidationError as exc:
        refusal = _from_validation(exc, _)
    except SohoaError as exc:
        if not _refusable(exc, request) or exc.code == "unit_not_found":
            raise
        refusal = _from_problem(exc, _, render.language(request))
    else:
        return None
    return _unit_page(request, svc, code, failed=form_name, values=values, refusal=refusal)


@router.post("/admin/units/{code}/postal-plan")
def postal_plan_set(
    request: Request, code: str, svc: Svc, values: Values, user: AdminUser
) -> Response:
    """``POST /api/v1/admin/postal-plan``: from when postal staff take a field or procedure."""
    _ = _gettext(request)
    data = _optional(values, "procedure_code", "postal_from") | {"unit_code": code}
    if values.get("who") == "civil":
        data.pop("postal_from", None)  # the field stays with the civil servants
    elif "postal_from" not in data:
        refusal = Refusal(
            _("Check the fields marked below."),
            fields={"postal_from": _("Give the day postal staff take it over.")},
        )
        return _unit_page(request, svc, code, failed="postal", values=values, refusal=refusal)

    def change(session: Session, body: Any) -> None:
        staffing.plan_postal(session, user, **body.model_dump())

    refused = _unit_change(request, svc, code, "postal", PostalBody, data, values, change)
    if refused is not None:
        return refused
    return _done(
        request, svc, f"/web/admin/units/{code}", _("Postal plan saved for {code}.", code=code)
    )


@router.post("/admin/units/{code}/backups")
def backup_assign(
    request: Request, code: str, svc: Svc, values: Values, user: AdminUser
) -> Response:
    """``POST /api/v1/admin/backups``: a counter clerk who works this unit's dossiers for a time."""
    _ = _gettext(request)
    data = _optional(values, "covers_staff_id") | {"unit_code": code}

    def change(session: Session, body: Any) -> None:
        staffing.assign_backup(session, user, **body.model_dump())

    refused = _unit_change(request, svc, code, "backup", BackupBody, data, values, change)
    if refused is not None:
        return refused
    notice = _(
        "{staff} covers {code} from {start} to {end}.",
        staff=values.get("staff_id", ""),
        code=code,
        start=_dmy(values.get("valid_from")),
        end=_dmy(values.get("valid_to")),
    )
    return _done(request, svc, f"/web/admin/units/{code}", notice)


@router.post("/admin/units/{code}/postal-contact")
def postal_contact_set(
    request: Request, code: str, svc: Svc, values: Values, user: AdminUser
) -> Response:
    """``PUT /api/v1/admin/units/{code}/postal-contact``: whom the unit calls at the post office."""
    _ = _gettext(request)
    data = {k: values.get(k, "") for k in ("name", "phone", "email", "enterprise")}

    def change(session: Session, body: Any) -> None:
        staffing.set_postal_contact(session, user, code, body.model_dump())

    refused = _unit_change(request, svc, code, "contact", ContactBody, data, values, change)
    if refused is not None:
        return refused
    return _done(
        request, svc, f"/web/admin/units/{code}", _("Postal contact saved for {code}.", code=code)
    )


def _dmy(iso: str | None) -> str:
    try:
        return date.fromisoformat(iso or "").strftime("%d/%m/%Y")
    except ValueError:
        return iso or ""


# -- receipt series ---------------------------------------------------------------------------


def _series_page(
    request: Request,
    svc: AppServices,
    *,
    values: dict[str, str] | None = None,
    refusal: Refusal | None = None,
) -> Response:
    with session_scope(svc.sessions) as session:
        series = _series(session)
        units = _units(session)
    return _show(
        request,
        "admin/series.html",
        status_code=refusal.status if refusal else 200,
        series=series,
        unit_names={u.code: u.name for u in units},
        open_units=[u for u in _open_units(units) if u.kind == "one_stop"],
        today=_today(svc),
        values=values or {},
        refusal=refusal,
    )


@router.get("/admin/series")
def series_view(request: Request, svc: Svc, user: AdminUser) -> Response:
    return _series_page(request, svc)


@router.post("/admin/series")
def series_register(request: Request, svc: Svc, values: Values, user: AdminUser) -> Response:
    """``POST /api/v1/admin/receipt-series``: a series as registered with the tax authority."""
    _ = _gettext(request)
    try:
        body = SeriesBody.model_validate(_optional(values, "valid_to"))
        with session_scope(svc.sessions) as session:
            staffing.register_series(session, user, **body.model_dump())
    except ValidationError as exc:
        return _series_page(request, svc, values=values, refusal=_from_validation(exc, _))
    except SohoaError as exc:
        if not _refusable(exc, request):
            raise
        refusal = _from_problem(exc, _, render.language(request))
        return _series_page(request, svc, values=values, refusal=refusal)
    notice = _(
        "Series {symbol} {series} registered for {unit}.",
        symbol=body.form_symbol,
        series=body.series,
        unit=body.unit_code,
    )
    return _done(request, svc, "/web/admin/series", notice)
