"""The reception desk (tiếp nhận): the ticket queue, procedure guidance, opening a dossier, and
the lists a clerk works from (dossiers, due soon and overdue).

Every read and move is a call the API makes too (:mod:`dossiers.admin.reports` for the queue
and deadlines, :mod:`dossiers.admin.catalog` for procedures, the DossierService for dossiers),
plus the desk's own reads in :mod:`dossiers.workflow.desk`. The pages are the counter's (an
admin may look on); the dossier list is also an agency's, scoped as the API scopes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from api.problem_types import problem_types
from api.routers.dossiers import CreateBody
from core.errors import SohoaError
from core.i18n import N_
from dossiers.access import Principal
from dossiers.admin import catalog, reports
from dossiers.admin.catalog import ProcedureDetail
from dossiers.calendar import due_at, rules_in_force
from dossiers.workflow import desk
from dossiers.workflow.desk import QueueBoard
from dossiers.workflow.service import ApplicantIn
from storage.db import session_scope
from web.deps import PageRoute, Svc, User
from web.i18n import Gettext, gettext_for
from web.render import language, page

log = logging.getLogger(__name__)
router = APIRouter(prefix="/web", route_class=PageRoute, include_in_schema=False)

DESK_ROLES = ("counter", "admin")
# The list is also an agency's (its nav links here); dossier_filter scopes it per role.
LIST_ROLES = ("counter", "agency", "admin")
LOOKUP_LIMIT = 50
SEARCH_LIMIT = 50


# National status codes in words (the Vietnamese is the official name of each status).
STATUS_WORDS = {
    1: N_("Newly registered"),
    2: N_("Received"),
    3: N_("Not accepted"),
    4: N_("Being processed"),
    5: N_("Supplement requested"),
    6: N_("Awaiting financial obligation"),
    7: N_("Withdrawn by the citizen"),
    8: N_("Processing stopped"),
    9: N_("Processed"),
    10: N_("Result returned"),
}
ID_TYPES = {
    "CCCD": N_("Citizen ID card (CCCD)"),
    "HC": N_("Passport"),
    "MST": N_("Tax code (MST)"),
}
COLLECT_AT = {
    "counter": N_("At the one-stop counter"),
    "post": N_("By public postal service, to the address given"),
    "online": N_("Online: a download link sent to the citizen"),
}
CHANNELS = {1: N_("In person"), 2: N_("Online"), 3: N_("By post")}
NOTIFY_CHANNELS = {"email": N_("E-mail"), "sms": N_("SMS"), "zalo": N_("Zalo")}
COMPONENT_KINDS = {"original": N_("Original"), "copy": N_("Copy")}
FEE_KINDS = {"fee": N_("Fee (lệ phí)"), "charge": N_("Charge (phí)")}
FEE_WHEN = {
    "receipt": N_("paid at reception"),
    "supplement": N_("paid when the supplement is brought"),
    "return": N_("paid when the result is collected"),
}
LEVELS = {
    "commune": N_("commune level"),
    "district": N_("district level"),
    "province": N_("province level"),
    "ministry": N_("ministry level"),
}
NOTICES = {
    "issued": N_("Ticket number {n} issued: give it to the citizen."),
    "called": N_("Now calling number {n}."),
    "served": N_("Number {n} served."),
    "nobody": N_("Nobody is waiting."),
    "no_dossier": N_("No dossier with that code in your unit: check the code or leave it empty."),
}
# What the clerk does about a refused field, in place of the domain's English detail.
FIELD_REASONS = {
    "name": N_("Enter the applicant's full name (at most 255 characters)."),
    "id_type": N_("Choose the kind of ID paper."),
    "id_number": N_("Enter the ID number as printed on the paper (at most 32 characters)."),
    "phone": N_("A phone number has at most 32 characters."),
    "address": N_("An address has at most 512 characters."),
    "sets": N_("Number of sets: a whole number from 1 to 20."),
    "collect_at": N_("Choose where the citizen collects the result."),
    "channel": N_("Choose how the dossier was submitted."),
    "unit_code": N_("Choose the receiving unit."),
    "email": N_("Enter a valid e-mail address (name@domain), or leave it empty."),
}
# Refusals of the notification choices (code notify_invalid), by the field they name.
NOTIFY_REASONS = {
    "email": N_("Notifications by e-mail need a valid e-mail address (name@domain)."),
    "phone": N_("SMS and Zalo need a Vietnamese mobile number (0xxxxxxxxx)."),
    "notify_consent": N_("Tick the citizen's consent, or choose no channel."),
    "notify_channels": N_("Choose at least one channel, or untick the consent."),
}
FORM_ORDER = (
    "name",
    "id_type",
    "id_number",
    "phone",
    "address",
    "email",
    "notify_consent",
    "notify_channels",
    "sets",
    "collect_at",
    "channel",
    "unit_code",
)
CCCD_DIGITS = N_("A CCCD number has exactly 12 digits: check it against the card.")
ID_CHARACTERS = N_("An ID number has only letters, digits and '-': copy it from the paper.")


# -- small helpers ----------------------------------------------------------------------------


def _words(request: Request) -> Gettext:
    return gettext_for(language(request))


def _notice(request: Request) -> str:
    """The message a redirect asked for (``?notice=<key>&n=<number>``), translated."""
    key = request.query_params.get("notice", "")
    if key not in NOTICES:
        return ""
    n = request.query_params.get("n", "")
    return _words(request)(NOTICES[key], n=n if n.isdigit() else "")


def _back(path: str, **params: str | int | None) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return RedirectResponse(f"{path}?{query}" if query else path, status_code=303)


def _desk_unit(
    svc: Svc, user: Principal, asked: str | None
) -> tuple[str | None, list[tuple[str, str]]]:
    """The unit whose queue the desk shows, and the units the user may choose between: a
    clerk's own unit unless they cover another; an admin picks one."""
    with session_scope(svc.sessions) as session:
        units = desk.one_stop_units(session, user, svc.dossiers.today())
    codes = [c for c, _name in units]
    if asked and asked in codes:
        return asked, units
    if user.unit_code in codes:
        return user.unit_code, units
    return (codes[0] if len(codes) == 1 else None), units


def _board(svc: Svc, user: Principal, unit: str | None) -> QueueBoard | None:
    if unit is None:
        return None
    with session_scope(svc.sessions) as session:
        return desk.queue_board(session, user, unit, svc.dossiers.now())


def _span(tr: Gettext, seconds: int) -> str:
    """A duration as a clerk says it: days and hours, or hours and minutes."""
    minutes = max(0, seconds) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return tr(N_("{days} d {hours} h"), days=days, hours=hours)
    if hours:
        return tr(N_("{hours} h {minutes} min"), hours=hours, minutes=minutes)
    return tr(N_("{minutes} min"), minutes=minutes)


def _labels() -> dict[str, Any]:
    return {
        "status_words": STATUS_WORDS,
        "id_types": ID_TYPES,
        "collect_options": COLLECT_AT,
        "channels": CHANNELS,
        "notify_options": NOTIFY_CHANNELS,
        "component_kinds": COMPONENT_KINDS,
        "fee_kinds": FEE_KINDS,
        "fee_when": FEE_WHEN,
        "levels": LEVELS,
    }


# -- the desk's home: queue, lookup, today's work ---------------------------------------------


@router.get("/counter")
def counter_home(
    request: Request,
    user: User,
    svc: Svc,
    q: Annotated[str, Query(max_length=200)] = "",
    unit: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    user.require(*DESK_ROLES)
    unit_code, units = _desk_unit(svc, user, unit)
    board = _board(svc, user, unit_code)
    now = svc.dossiers.now()
    found = None
    with session_scope(svc.sessions) as session:
        if q.strip():
            found = catalog.list_procedures(session, svc.dossiers.today(), query=q).items
        overdue = reports.overdue(session, user, now)
        calendar = svc.dossiers.calendar(session, rules_in_force(now))
        soon = reports.due_soon(session, user, now, calendar, svc.settings.due_soon_working_days)
        counts = desk.status_counts(session, user)
    return page(
        request,
        "counter/home.html",
        notice=_notice(request),
        board=board,
        unit_code=unit_code,
        units=units,
        q=q,
        found=found[:LOOKUP_LIMIT] if found is not None else None,
        more_found=len(found) > LOOKUP_LIMIT if found is not None else False,
        overdue_count=len(overdue),
        due_soon_count=len(soon),
        new_count=counts.get(1, 0),
        due_soon_days=svc.settings.due_soon_working_days,
        wait_target=svc.settings.queue_wait_target_minutes,
        **_labels(),
    )


@router.get("/counter/queue")
def queue_fragment(
    request: Request,
    user: User,
    svc: Svc,
    unit: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """The queue card alone, which the desk page re-reads while it stays open."""
    user.require(*DESK_ROLES)
    unit_code, units = _desk_unit(svc, user, unit)
    return page(
        request,
        "counter/_queue.html",
        board=_board(svc, user, unit_code),
        unit_code=unit_code,
        units=units,
        wait_target=svc.settings.queue_wait_target_minutes,
    )


@router.post("/counter/tickets")
def issue_ticket(user: User, svc: Svc, unit: Annotated[str, Form(max_length=32)] = "") -> Response:
    """ "Cấp số": a number for a citizen who walked in without one."""
    user.require(*DESK_ROLES)
    unit_code = unit or user.unit_code or ""
    with session_scope(svc.sessions) as session:
        ticket = reports.issue_ticket(session, user, unit_code, svc.dossiers.now())
        number = ticket.number
    return _back("/web/counter", notice="issued", n=number, unit=unit)


@router.post("/counter/call-next")
def call_next(user: User, svc: Svc, unit: Annotated[str, Form(max_length=32)] = "") -> Response:
    user.require(*DESK_ROLES)
    unit_code = unit or user.unit_code or ""
    with session_scope(svc.sessions) as session:
        ticket = desk.call_next(session, user, unit_code, svc.dossiers.now())
        number = ticket.number if ticket else None
    if number is None:
        return _back("/web/counter", notice="nobody", unit=unit)
    return _back("/web/counter", notice="called", n=number, unit=unit)


@router.post("/counter/tickets/{ticket_id}/serve")
def serve_ticket(
    ticket_id: str,
    user: User,
    svc: Svc,
    dossier: Annotated[str, Form(max_length=48)] = "",
    unit: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """ "Phục vụ xong", optionally naming the dossier opened for the citizen (code or id)."""
    user.require(*DESK_ROLES)
    ref = dossier.strip() or None
    try:
        with session_scope(svc.sessions) as session:
            ticket = reports.serve_ticket(session, user, ticket_id, svc.dossiers.now(), ref)
            number = ticket.number
    except SohoaError as exc:
        if ref is not None and exc.code == "dossier_not_found":
            return _back("/web/counter", notice="no_dossier", unit=unit)
        raise
    return _back("/web/counter", notice="served", n=number, unit=unit)


# -- a procedure's guidance and the form that opens a dossier ---------------------------------


@dataclass
class OpenForm:
    """The "open a dossier" form as typed, and what was refused in it."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    problem: str = ""  # a refusal that is not about one field
    problem_action: str = ""


def _guidance(
    request: Request,
    svc: Svc,
    user: Principal,
    code: str,
    form: OpenForm,
    *,
    status_code: int = 200,
) -> Response:
    now = svc.dossiers.now()
    today = svc.dossiers.today()
    unit_code, units = _desk_unit(svc, user, form.values.get("unit_code"))
    board = _board(svc, user, unit_code)
    with session_scope(svc.sessions) as session:
        proc: ProcedureDetail = catalog.procedure_detail(session, code, today)
        agencies = desk.unit_names(session, proc.agencies)
        rules = rules_in_force(now)
        promised = due_at(now, proc.processing_days, svc.dossiers.calendar(session, rules), rules)
    at_reception = sum(f.amount for f in proc.fees if f.collect_at == "receipt")
    values = {
        "name": "",
        "id_type": "CCCD",
        "id_number": "",
        "phone": "",
        "address": "",
        "email": "",
        "notify_consent": "",
        "notify_channels": "",
        "sets": "1",
        "collect_at": "counter",
        "channel": "1",
        "ticket": _my_ticket(board, user),
        "unit_code": unit_code or "",
    }
    values.update(form.values)
    return page(
        request,
        "counter/procedure.html",
        status_code=status_code,
        proc=proc,
        agencies=[(a, agencies.get(a, a)) for a in proc.agencies],
        promised=promised,
        cutoff=rules.cutoff.strftime("%H:%M"),
        at_reception=at_reception,
        values=values,
        errors=form.errors,
        focus=next((f for f in FORM_ORDER if f in form.errors), "name"),
        problem=form.problem,
        problem_action=form.problem_action,
        serving=board.serving if board else [],
        units=units if user.role == "admin" or len(units) > 1 else [],
        **_labels(),
    )


def _my_ticket(board: QueueBoard | None, user: Principal) -> str:
    """The ticket this clerk called last and has not served: most likely the citizen here."""
    if board is None:
        return ""
    mine = [t for t in board.serving if t.staff_id == user.staff_id]
    return mine[-1].id if mine else ""


@router.get("/procedures/{code}")
def procedure_page(code: str, request: Request, user: User, svc: Svc) -> Response:
    user.require(*DESK_ROLES)
    return _guidance(request, svc, user, code, OpenForm())


def _field_of(exc: SohoaError) -> tuple[str, str]:
    """(field, reason) for a refusal of one field of the form, else ("", "").

    The applicant's refusals name their ``field`` (and ``rule``); the other codes are each
    about one field of the form.
    """
    named = str(exc.extra.get("field", "")) if exc.extra else ""
    if exc.code == "applicant_invalid" and named in FIELD_REASONS:
        if named == "id_number":
            rule = exc.extra.get("rule")
            return named, CCCD_DIGITS if rule == "cccd_digits" else ID_CHARACTERS
        return named, FIELD_REASONS[named]
    if exc.code == "notify_invalid" and named in NOTIFY_REASONS:
        return named, NOTIFY_REASONS[named]
    if exc.code == "channel_invalid":
        return "channel", FIELD_REASONS["channel"]
    if exc.code == "collect_at_invalid":
        return "collect_at", FIELD_REASONS["collect_at"]
    if exc.code in ("unit_required", "unit_forbidden", "unit_not_found", "unit_closed"):
        return "unit_code", FIELD_REASONS["unit_code"]
    return "", ""


def _shape_errors(exc: ValidationError) -> dict[str, str]:
    """The API body's own limits (lengths, 1..20 sets), each put next to its field."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        loc = [part for part in error["loc"] if not isinstance(part, int)]  # list items
        name = str(loc[-1]) if loc else ""
        if name == "notify_channels":
            errors.setdefault(name, NOTIFY_REASONS[name])
        if name in FIELD_REASONS:
            errors.setdefault(name, FIELD_REASONS[name])
    return errors or {"name": FIELD_REASONS["name"]}


@router.post("/dossiers")
def open_dossier(
    request: Request,
    user: User,
    svc: Svc,
    procedure_code: Annotated[str, Form(max_length=32)],
    name: Annotated[str, Form()] = "",
    id_type: Annotated[str, Form()] = "CCCD",
    id_number: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
    address: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    notify_consent: Annotated[str, Form(max_length=8)] = "",
    notify_channels: Annotated[list[str], Form(max_length=8)] = [],  # noqa: B006 - FastAPI's
    sets: Annotated[str, Form()] = "1",
    collect_at: Annotated[str, Form()] = "counter",
    channel: Annotated[str, Form()] = "1",
    ticket: Annotated[str, Form(max_length=32)] = "",
    unit_code: Annotated[str, Form()] = "",
) -> Response:
    """Open a dossier (status 1) as POST /api/v1/dossiers does; a refusal comes back on the
    same form with everything typed kept and the reason beside its field."""
    user.require(*DESK_ROLES)
    typed = {
        "name": name,
        "id_type": id_type,
        "id_number": id_number,
        "phone": phone,
        "address": address,
        "email": email,
        "notify_consent": "1" if notify_consent else "",
        "notify_channels": ",".join(notify_channels[:8]),
        "sets": sets,
        "collect_at": collect_at,
        "channel": channel,
        "ticket": ticket,
        "unit_code": unit_code,
    }
    # Long junk is cut before it is echoed back into the page.
    typed = {k: v[:600] for k, v in typed.items()}
    try:
        body = CreateBody.model_validate(
            {
                "procedure_code": procedure_code,
                "applicant": {
                    "name": name,
                    "id_type": id_type,
                    "id_number": id_number.strip(),
                    "phone": phone.strip(),
                    "address": address.strip(),
                    "email": email.strip(),
                },
                "notify_consent": bool(notify_consent),
                "notify_channels": notify_channels,
                "channel": channel,
                "collect_at": collect_at,
                "sets": sets.strip() or "1",
                "unit_code": unit_code or None,
            }
        )
    except ValidationError as exc:
        form = OpenForm(typed, _shape_errors(exc))
        return _guidance(request, svc, user, procedure_code, form, status_code=422)
    a = body.applicant
    try:
        dossier_id = svc.dossiers.create(
            user,
            procedure_code=body.procedure_code,
            applicant=ApplicantIn(a.name, a.id_type, a.id_number, a.phone, a.address, a.email),
            channel=body.channel,
            collect_at=body.collect_at,
            sets=body.sets,
            unit_code=body.unit_code,
            notify_consent=body.notify_consent,
            notify_channels=body.notify_channels,
        )
    except SohoaError as exc:
        if exc.code == "procedure_not_found":
            raise
        status = int(getattr(exc, "http_status", 422))
        where, reason = _field_of(exc)
        if where:
            form = OpenForm(typed, {where: reason})
        else:
            entry = problem_types().get(exc.code)
            lang = language(request)
            form = OpenForm(
                typed,
                problem=getattr(entry.title, lang) if entry else str(exc),
                problem_action=getattr(entry.action, lang) if entry else "",
            )
        return _guidance(request, svc, user, procedure_code, form, status_code=status)
    if ticket:
        _serve_for(svc, user, ticket, dossier_id)
    return RedirectResponse(f"/web/dossiers/{dossier_id}", status_code=303)


def _serve_for(svc: Svc, user: Principal, ticket_id: str, dossier_id: str) -> None:
    """The citizen's ticket is served with the dossier opened for them. The dossier exists
    whatever happens here: a ticket a colleague already served is only logged."""
    try:
        with session_scope(svc.sessions) as session:
            reports.serve_ticket(session, user, ticket_id, svc.dossiers.now(), dossier_id)
    except SohoaError as exc:
        log.info("ticket %s not served with dossier %s: %s", ticket_id, dossier_id, exc)


# -- lists ------------------------------------------------------------------------------------


@router.get("/dossiers")
def dossier_list(
    request: Request,
    user: User,
    svc: Svc,
    status: Annotated[int | None, Query(ge=1, le=10)] = None,
    q: Annotated[str, Query(max_length=256)] = "",
    page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> Response:
    user.require(*LIST_ROLES)
    now = svc.dossiers.now()
    query = q.strip()
    ids = [h.id for h in svc.dossiers.search(user, query, limit=SEARCH_LIMIT)] if query else []
    with session_scope(svc.sessions) as session:
        counts = desk.status_counts(session, user)
        if query:
            lines = desk.dossier_lines(session, user, ids, now)
            if status is not None:
                lines = [line for line in lines if line.status == status]
            listing = desk.DeskPage(items=lines, page=1, pages=1, total=len(lines))
        else:
            listing = desk.dossier_page(session, user, now, status=status, page=page_no)

    def link(**change: str | int | None) -> str:
        """This list's URL with ``change`` applied; page 1 and empty filters are left out."""
        params: dict[str, str | int | None] = {"status": status, "q": query or None}
        params["page"] = page_no
        params.update(change)
        if params["page"] == 1:
            params["page"] = None
        clean = {k: v for k, v in params.items() if v is not None}
        return "/web/dossiers" + ("?" + urlencode(clean) if clean else "")

    return page(
        request,
        "counter/dossiers.html",
        listing=listing,
        status=status,
        q=query,
        counts=counts,
        all_count=sum(counts.values()),
        searched=bool(query),
        search_capped=len(ids) >= SEARCH_LIMIT,
        link=link,
        **_labels(),
    )


@router.get("/deadlines")
def deadlines(request: Request, user: User, svc: Svc) -> Response:
    user.require(*DESK_ROLES)
    now = svc.dossiers.now()
    days = svc.settings.due_soon_working_days
    with session_scope(svc.sessions) as session:
        overdue = reports.overdue(session, user, now)
        calendar = svc.dossiers.calendar(session, rules_in_force(now))
        soon = reports.due_soon(session, user, now, calendar, days)
        lines = [*overdue, *soon]
        procedures = desk.procedure_names(session, {d.procedure_code for d in lines})
        holders = desk.unit_names(session, {d.holder_code for d in lines})
    tr = _words(request)
    return page(
        request,
        "counter/deadlines.html",
        overdue=overdue,
        soon=soon,
        late_by={d.id: _span(tr, d.overdue_by) for d in overdue},
        left={d.id: _span(tr, d.remaining) for d in soon},
        procedures=procedures,
        holders=holders,
        days=days,
        **_labels(),
    )
