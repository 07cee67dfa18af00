"""The dossier page: one dossier's facts, route, checklist, counter actions, forms and history.

Every read and every action is the call the API's dossier router makes on
:class:`~dossiers.workflow.service.DossierService`; the page adds words (statuses, steps and
forms in Vietnamese) and offers only the buttons the status machine allows from the current
status. The domain still decides: when it refuses, the page comes back with what to do.

The scan, money and agency panels plug in through their modules' ``dossier_context`` hooks,
whose dicts join this page's context, and through the partials ``dossier/page.html`` includes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from sqlalchemy import select
from starlette.datastructures import FormData

from api.auditing import audit_access
from api.context import AppServices
from api.params import content_disposition
from api.scans import chunks
from core.errors import SohoaError
from core.i18n import N_
from dossiers.access import Principal
from dossiers.admin.reports import TICKING
from dossiers.kernel import CITIZEN
from dossiers.models import Procedure, Staff, Unit
from dossiers.workflow.dossier_views import DossierView, EventView, HandoverView
from dossiers.workflow.lifecycle import OPEN, TAKES_PAPERS, TRANSITIONS, Status
from storage.db import session_scope
from web.deps import InvalidForm, PageRoute, Svc, User, wants_json
from web.i18n import Gettext, gettext_for
from web.pages import agency, money, scans
from web.render import language, page

router = APIRouter(prefix="/web", route_class=PageRoute, include_in_schema=False)

Ref = Annotated[str, Path(min_length=1, max_length=64)]
Reason = Annotated[str, Form(max_length=4000)]
# The statuses DossierService.check_components records papers in.
# Refusals the clerk can act on without leaving the dossier: shown on the page itself.
IN_PAGE = frozenset({409, 422})
IN_PAGE_CODES = frozenset({"not_supervisor", "not_handed_to_postal"})
COPIES_PREFIX = "copies:"

# -- words ------------------------------------------------------------------------------------
# English sources; the catalog gives their Vietnamese (the national status names, etc.).

STATUS_WORDS = {
    Status.NEW: N_("Newly registered"),
    Status.RECEIVED: N_("Accepted for processing"),
    Status.REFUSED: N_("Not accepted"),
    Status.PROCESSING: N_("Being processed"),
    Status.SUPPLEMENT: N_("Supplement of papers requested"),
    Status.AWAITING_PAYMENT: N_("Financial obligation requested"),
    Status.WITHDRAWN: N_("Withdrawn at the citizen's request"),
    Status.STOPPED: N_("Processing stopped"),
    Status.PROCESSED: N_("Processing finished"),
    Status.RETURNED: N_("Result returned"),
}
STATUS_TONE = {
    Status.NEW: "info",
    Status.RECEIVED: "info",
    Status.PROCESSING: "info",
    Status.SUPPLEMENT: "warn",
    Status.AWAITING_PAYMENT: "warn",
    Status.PROCESSED: "ok",
    Status.RETURNED: "ok",
    Status.REFUSED: "bad",
    Status.WITHDRAWN: "bad",
    Status.STOPPED: "bad",
}
ACTION_WORDS = {
    "create": N_("Opened the dossier"),
    "check": N_("Checked the papers brought"),
    "reception_pending": N_("Received by a probationer, awaiting the supervisor"),
    "receive": N_("Received the dossier (form 01)"),
    "refuse": N_("Refused the dossier (form 03)"),
    "request_supplement": N_("Asked for a supplement (form 02)"),
    "supplement_counter": N_("Took the supplemented papers"),
    "supplement_received": N_("Took the supplemented papers"),
    "supplement_agency": N_("Took the supplemented papers"),
    "await_payment": N_("Waiting for fees and charges"),
    "payment": N_("Took a payment"),
    "paid": N_("Fees and charges settled"),
    "paid_before_routing": N_("Fees and charges settled"),
    "receipt_void": N_("Voided a receipt"),
    "route": N_("Sent to the competent agency"),
    "take": N_("Taken up for processing"),
    "forward": N_("Forwarded to the next agency"),
    "apology": N_("Apologised and set a new date (form 04)"),
    "finish": N_("Processing finished"),
    "return": N_("Returned the result"),
    "withdraw": N_("Withdrawn at the citizen's request"),
    "stop": N_("Processing stopped"),
    "reuse": N_("Took a paper from the repository"),
    "posted": N_("Sent the result by post"),
    "postal_in_transit": N_("The parcel is on its way"),
    "postal_returned_to_sender": N_("The parcel came back to the sender"),
    "link_issued": N_("Gave a link to download the result"),
}
FORM_WORDS = {
    "01": N_("Receipt and appointment (form 01)"),
    "02": N_("Supplement request (form 02)"),
    "03": N_("Refusal of the dossier (form 03)"),
    "04": N_("Apology and new date (form 04)"),
    "06": N_("Process-control sheet (form 06)"),
}
COLLECT_WORDS = {
    "counter": N_("At the one-stop counter"),
    "post": N_("By public postal service"),
    "online": N_("Online"),
}
CHANNEL_WORDS = {1: N_("In person"), 2: N_("Online"), 3: N_("By public postal service")}
TIMELINESS_WORDS = {"early": N_("Early"), "on_time": N_("On time"), "late": N_("Late")}
TIMELINESS_TONE = {"early": "ok", "on_time": "ok", "late": "bad"}
KIND_WORDS = {"original": N_("Original"), "copy": N_("Copy")}

# What the page says after an action (``?notice=<key>``).
NOTICES = {
    "complete": N_(
        "Every required paper is there. Press “Receive the dossier” to give the citizen form 01."
    ),
    "incomplete": N_(
        "Papers are still missing (listed below): ask the citizen for them, or give a "
        "supplement request (form 02)."
    ),
    "received": N_("The dossier is received. Print form 01 and hand it to the citizen."),
    "pending": N_(
        "Reception recorded. Your supervisor confirms it; then the dossier gets its code and "
        "form 01."
    ),
    "confirmed": N_("Reception confirmed. Print form 01 and hand it to the citizen."),
    "refused": N_("The dossier is refused. Print form 03 and hand it to the citizen."),
    "supplement_requested": N_(
        "Supplement request made. Print form 02 and hand it to the citizen."
    ),
    "supplemented": N_("The supplemented papers are recorded."),
    "withdrawn": N_("The dossier is withdrawn."),
    "routed": N_("The dossier is sent to the competent agency."),
    "awaiting_payment": N_("Fees are still due: take them, then send the dossier to the agency."),
}

# What to do when the domain refuses a step, by problem code.
REFUSALS = {
    "dossier_incomplete": N_(
        "Not received yet: required papers are missing (listed below). Enter the copies the "
        "citizen brought and press “Check completeness”, or give a supplement request (form 02)."
    ),
    "illegal_transition": N_(
        "This step is not possible while the dossier is “{status}”. The page shows the steps "
        "that are."
    ),
    "reason_required": N_("Write the reason, then press the button again."),
    "supplement_invalid": N_("Tick or write the papers to bring, and write why."),
    "count_invalid": N_("Copies are whole numbers from 0 to 100."),
    "component_unknown": N_("The list of papers has changed: reload the page and check again."),
    "invalid_request": N_("Check what you entered and send it again."),
    "nothing_to_confirm": N_("No reception is waiting for confirmation."),
    "not_supervisor": N_("Only the probationer's supervisor confirms this reception."),
    "not_handed_to_postal": N_(
        "Postal staff do not receive this procedure here yet: a civil servant receives it."
    ),
}
FALLBACK_REFUSAL = N_(
    "This step cannot be done now. Read the dossier below and try again, or ask your supervisor."
)


# -- reads ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Directory:
    """Names for the codes and ids the dossier's rows carry, read in a fixed three queries."""

    procedure_name: str = ""
    planned_route: list[str] = field(default_factory=list)
    units: dict[str, str] = field(default_factory=dict)
    staff: dict[str, str] = field(default_factory=dict)
    supervisors: dict[str, str | None] = field(default_factory=dict)

    def unit(self, code: str | None) -> str:
        return self.units.get(code or "", code or "")

    def person(self, staff_id: str | None) -> str:
        return self.staff.get(staff_id or "", staff_id or "")


def directory(
    svc: AppServices,
    dossier: DossierView,
    events: Iterable[EventView],
    handovers: Iterable[HandoverView],
) -> Directory:
    """Procedure, unit and staff names: catalog facts, not the dossier's data, so they need no
    scope; the codes asked for come from rows the caller was already allowed to read."""
    events, handovers = list(events), list(handovers)
    version = next((e.data.get("procedure_version") for e in events if e.action == "create"), None)
    staff_ids = {e.actor for e in events}
    staff_ids |= {h.given_by for h in handovers} | {h.taken_by for h in handovers if h.taken_by}
    staff_ids |= {
        s for s in (dossier.received_by, dossier.confirmed_by, dossier.pending_reception_by) if s
    }
    with session_scope(svc.sessions) as session:
        versions = session.execute(
            select(Procedure.version, Procedure.name, Procedure.agency_codes)
            .where(Procedure.code == dossier.procedure_code)
            .order_by(Procedure.version.desc())
        ).all()
        chosen = next(
            (v for v in versions if v.version == version), versions[0] if versions else None
        )
        planned = list(chosen.agency_codes) if chosen else []
        codes = {dossier.unit_code, *dossier.route, *planned}
        codes |= {dossier.holder_code} if dossier.holder_code else set()
        codes |= {h.from_party for h in handovers} | {h.to_party for h in handovers}
        codes.discard(CITIZEN)
        units = {
            code: name
            for code, name in session.execute(
                select(Unit.code, Unit.name).where(Unit.code.in_(codes))
            )
        }
        people = session.execute(
            select(Staff.id, Staff.name, Staff.supervisor_id).where(Staff.id.in_(staff_ids))
        ).all()
    return Directory(
        procedure_name=chosen.name if chosen else "",
        planned_route=planned,
        units=units,
        staff={p.id: p.name for p in people},
        supervisors={p.id: p.supervisor_id for p in people},
    )


def allowed(action: str, status: int) -> bool:
    """Whether the status machine lets ``action`` start from ``status``."""
    return Status(status) in TRANSITIONS[action]


def overdue(dossier: DossierView, now: datetime) -> bool:
    """Late as the overdue report counts it: past due while the clock runs (not while the
    citizen is bringing a supplement), or counted late by a second supplement request."""
    if dossier.status not in OPEN:
        return False
    if dossier.counted_overdue:
        return True
    return dossier.status in TICKING and dossier.due_at is not None and dossier.due_at < now


def counter_steps(user: Principal, dossier: DossierView, names: Directory) -> dict[str, bool]:
    """The counter's buttons the dossier's status allows; the domain checks again on press."""
    if user.role not in ("counter", "admin"):
        return {}
    status = dossier.status
    pending = dossier.pending_reception_by
    supervisor = names.supervisors.get(pending or "")
    return {
        "check": status in TAKES_PAPERS,
        "receive": allowed("receive", status) and not pending,
        "confirm": bool(pending) and (user.role == "admin" or supervisor == user.staff_id),
        "refuse": allowed("refuse", status),
        "request_supplement": allowed("request_supplement", status) and status != Status.PROCESSING,
        "supplement": status == Status.SUPPLEMENT,
        "withdraw": allowed("withdraw", status),
        "route": allowed("route", status),
    }


def show(
    request: Request,
    svc: AppServices,
    user: Principal,
    ref: str,
    *,
    status_code: int = 200,
    notice: str = "",
    error: str = "",
    kept: dict[str, str] | None = None,
) -> Response:
    """Render the dossier page: the domain's reads, words for them, and the panels' hooks."""
    _ = gettext_for(language(request))
    dossier = svc.dossiers.view(user, ref)
    audit_access(
        svc,
        user,
        "personal_data.read",
        "dossier",
        dossier.id,
        dossier_id=dossier.id,
        data={"fields": ["applicant"]},
    )
    events = svc.dossiers.events(user, dossier.id)
    handovers = svc.dossiers.handovers(user, dossier.id)
    forms = svc.dossiers.forms(user, dossier.id)
    names = directory(svc, dossier, events, handovers)
    receipt = next((f for f in reversed(forms) if f.form_no == "01"), None)
    context: dict[str, Any] = {}
    for hook in (scans.dossier_context, money.dossier_context, agency.dossier_context):
        context.update(hook(request, svc, user, dossier))
    context.update(
        dossier=dossier,
        ref=dossier.code or dossier.id,
        names=names,
        events=list(reversed(events)),
        handovers=list(reversed(handovers)),
        forms=forms,
        receipt=receipt,
        steps=counter_steps(user, dossier, names),
        is_overdue=overdue(dossier, svc.clock()),
        status_words=_(STATUS_WORDS[Status(dossier.status)]),
        status_tone=STATUS_TONE[Status(dossier.status)],
        words=_words(_),
        notice=notice,
        notice_key=request.query_params.get("notice", ""),
        error=error,
        kept=kept or {},
    )
    return page(request, "dossier/page.html", status_code=status_code, **context)


def _words(_: Gettext) -> dict[str, Callable[[Any], str]]:
    """Lookups the template calls: a code in, the translated words out (the code if unknown)."""

    def by(table: dict[Any, str]) -> Callable[[Any], str]:
        return lambda key: _(table[key]) if key in table else str(key or "")

    return {
        "status": lambda s: _(STATUS_WORDS[Status(s)]) if s is not None else "",
        "action": by(ACTION_WORDS),
        "form": by(FORM_WORDS),
        "collect": by(COLLECT_WORDS),
        "channel": by(CHANNEL_WORDS),
        "timeliness": by(TIMELINESS_WORDS),
        "kind": by(KIND_WORDS),
        "tone": lambda key: TIMELINESS_TONE.get(key, "info"),
    }


# -- pages ------------------------------------------------------------------------------------


@router.get("/dossiers/{ref}")
def dossier_page(request: Request, ref: Ref, user: User, svc: Svc) -> Response:
    key = request.query_params.get("notice", "")
    notice = gettext_for(language(request))(NOTICES[key]) if key in NOTICES else ""
    return show(request, svc, user, ref, notice=notice)


@router.get("/dossiers/{ref}/forms/{form_id}.pdf")
def form_pdf(
    ref: Ref,
    form_id: Annotated[str, Path(min_length=1, max_length=32)],
    user: User,
    svc: Svc,
) -> Response:
    """A form as issued, shown in the browser (to print), not saved as a download."""
    file = svc.dossiers.form_file(user, ref, form_id)
    audit_access(svc, user, "form.download", "form", form_id, dossier_id=file.dossier_id)
    return StreamingResponse(
        chunks(svc.store, file.object_key),
        media_type="application/pdf",
        headers={"Content-Disposition": content_disposition(file.filename, "inline")},
    )


# -- actions ----------------------------------------------------------------------------------


def act(
    request: Request,
    svc: AppServices,
    user: Principal,
    ref: str,
    step: Callable[[], str],
    kept: dict[str, str] | None = None,
) -> Response:
    """Run one counter step; 303 back to the dossier with its notice, or, when the domain
    refuses in a way the clerk can fix here, the dossier page again saying what to do."""
    try:
        key = step()
    except SohoaError as exc:
        status = int(getattr(exc, "http_status", 500))
        if wants_json(request) or (status not in IN_PAGE and exc.code not in IN_PAGE_CODES):
            raise
        return show(
            request,
            svc,
            user,
            ref,
            status_code=status,
            error=_refusal(request, svc, user, ref, exc),
            kept=kept,
        )
    return RedirectResponse(f"/web/dossiers/{quote(ref, safe='')}?notice={key}", status_code=303)


def _refusal(request: Request, svc: AppServices, user: Principal, ref: str, exc: SohoaError) -> str:
    _ = gettext_for(language(request))
    text = REFUSALS.get(exc.code, FALLBACK_REFUSAL)
    if "{status}" in text:
        return _(text, status=_(STATUS_WORDS[Status(svc.dossiers.view(user, ref).status)]))
    return _(text)


async def form_fields(request: Request) -> FormData:
    return await request.form()


@router.post("/dossiers/{ref}/check")
def check(
    request: Request,
    ref: Ref,
    user: User,
    svc: Svc,
    fields: Annotated[FormData, Depends(form_fields)],
) -> Response:
    """Record the copies brought (one ``copies:<key>`` field per paper; blank leaves it)."""
    provided: dict[str, int] = {}
    kept = {k: str(v) for k, v in fields.items() if k.startswith(COPIES_PREFIX)}

    def step() -> str:
        if len(kept) > 200:
            raise InvalidForm("too many papers in one check")
        for name, value in kept.items():
            if value.strip():
                try:
                    provided[name.removeprefix(COPIES_PREFIX)] = int(value)
                except ValueError:
                    raise InvalidForm(f"{name} is not a number", code="count_invalid") from None
        report = svc.dossiers.check_components(user, ref, provided)
        return "complete" if report.complete else "incomplete"

    return act(request, svc, user, ref, step, kept)


@router.post("/dossiers/{ref}/receive")
def receive(request: Request, ref: Ref, user: User, svc: Svc) -> Response:
    def step() -> str:
        return "pending" if svc.dossiers.receive(user, ref).pending_confirmation else "received"

    return act(request, svc, user, ref, step)


@router.post("/dossiers/{ref}/confirm-reception")
def confirm_reception(request: Request, ref: Ref, user: User, svc: Svc) -> Response:
    def step() -> str:
        svc.dossiers.confirm_reception(user, ref)
        return "confirmed"

    return act(request, svc, user, ref, step)


@router.post("/dossiers/{ref}/refuse")
def refuse(request: Request, ref: Ref, user: User, svc: Svc, reason: Reason = "") -> Response:
    def step() -> str:
        svc.dossiers.refuse(user, ref, reason)
        return "refused"

    return act(request, svc, user, ref, step, {"refuse_reason": reason})


@router.post("/dossiers/{ref}/request-supplement")
def request_supplement(
    request: Request,
    ref: Ref,
    user: User,
    svc: Svc,
    items: Annotated[list[str] | None, Form(max_length=50)] = None,
    other: Annotated[str, Form(max_length=512)] = "",
    reason: Reason = "",
    contact: Annotated[str, Form(max_length=255)] = "",
) -> Response:
    """The counter asks for missing papers while checking (form 02)."""
    papers = [i[:512] for i in items or []] + [line for line in other.splitlines() if line.strip()]

    def step() -> str:
        svc.dossiers.request_supplement(user, ref, items=papers, reason=reason, contact=contact)
        return "supplement_requested"

    return act(
        request,
        svc,
        user,
        ref,
        step,
        {"supplement_other": other, "supplement_reason": reason, "supplement_contact": contact},
    )


@router.post("/dossiers/{ref}/supplement")
def supplement(
    request: Request,
    ref: Ref,
    user: User,
    svc: Svc,
    note: Reason = "",
) -> Response:
    """The citizen brought the papers asked for."""

    def step() -> str:
        svc.dossiers.supplement(user, ref, note=note)
        return "supplemented"

    return act(request, svc, user, ref, step, {"supplement_note": note})


@router.post("/dossiers/{ref}/withdraw")
def withdraw(request: Request, ref: Ref, user: User, svc: Svc, reason: Reason = "") -> Response:
    def step() -> str:
        svc.dossiers.withdraw(user, ref, reason)
        return "withdrawn"

    return act(request, svc, user, ref, step, {"withdraw_reason": reason})


@router.post("/dossiers/{ref}/route")
def route(request: Request, ref: Ref, user: User, svc: Svc) -> Response:
    def step() -> str:
        return "routed" if svc.dossiers.route(user, ref) else "awaiting_payment"

    return act(request, svc, user, ref, step)
