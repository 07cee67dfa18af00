"""The agency's desk: its inbox, its actions on a dossier it holds, and the result's upload.

Every action is the API's service call (:mod:`api.routers.dossiers`, ``api.routers.money``)
behind a plain form that answers 303 back to the dossier page with ``?done=<key>``; this
module's partial (``agency/_actions.html``) says what was done. The domain decides what is
allowed: the page only hides buttons that would surely be refused.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.context import AppServices
from api.scans import accept_scan
from core.errors import SohoaError
from core.i18n import N_
from dossiers.access import Principal
from dossiers.results.returns import ResultUpload
from dossiers.workflow.dossier_views import DossierView
from dossiers.workflow.inbox import PAGE, PILES, Pile, agency_desk, agency_inbox
from dossiers.workflow.lifecycle import Status
from web.deps import InvalidForm, PageRoute, Svc, User
from web.pages.scans import page_answer
from web.render import page

router = APIRouter(prefix="/web", route_class=PageRoute, include_in_schema=False)

Text = Annotated[str, Form(max_length=4000)]


#: What each action's ``?done=`` key says on the dossier page (the partial translates it).
DONE = {
    "agency_taken": N_("You took the dossier; it is in your work in progress."),
    "agency_supplement": N_("The supplement request (form 02) went back to the one-stop counter."),
    "agency_forwarded": N_("The dossier was forwarded to the next agency of its route."),
    "agency_finished": N_("Finished: the dossier and its result go back to the one-stop counter."),
    "agency_stopped": N_("Processing of the dossier was stopped."),
    "agency_apology": N_("The apology with the new appointment (form 04) was issued."),
}


# -- the inbox ---------------------------------------------------------------------------------


@router.get("/agency")
def inbox(
    request: Request,
    user: User,
    svc: Svc,
    pile: Pile | None = None,
    page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> Response:
    """The three piles on one screen; ``?pile=…&page=N`` pages through one of them."""
    piles = (pile,) if pile else PILES
    found = agency_inbox(svc.dossiers, user, piles=piles, offset=(page_no - 1) * PAGE)
    return page(request, "agency/inbox.html", inbox=found, one=pile, page_no=page_no)


# -- actions on a dossier ---------------------------------------------------------------------


def _back(ref: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"/web/dossiers/{quote(ref, safe='')}?done={done}", status_code=303)


@router.post("/dossiers/{ref}/agency/take")
def take(ref: str, user: User, svc: Svc) -> Response:
    svc.dossiers.take(user, ref)
    return _back(ref, "agency_taken")


@router.post("/dossiers/{ref}/agency/supplement-request")
def supplement_request(
    ref: str,
    user: User,
    svc: Svc,
    reason: Text,
    item: Annotated[list[str], Form(max_length=50)] = [],  # noqa: B006 - FastAPI copies it
    other: Text = "",
    contact: Annotated[str, Form(max_length=255)] = "",
) -> Response:
    """Form 02: the papers ticked from the dossier's list and any others, one per line."""
    items = [i for i in (*item, *other.splitlines()) if i.strip()]
    if len(items) > 50 or any(len(i) > 512 for i in items):
        raise InvalidForm("list at most 50 papers, each under 512 characters")
    svc.dossiers.request_supplement(user, ref, items=items, reason=reason, contact=contact)
    return _back(ref, "agency_supplement")


@router.post("/dossiers/{ref}/agency/forward")
def forward(ref: str, user: User, svc: Svc) -> Response:
    svc.dossiers.forward(user, ref)
    return _back(ref, "agency_forwarded")


@router.post("/dossiers/{ref}/agency/finish")
def finish(ref: str, user: User, svc: Svc, note: Text = "") -> Response:
    svc.dossiers.finish(user, ref, note=note)
    return _back(ref, "agency_finished")


@router.post("/dossiers/{ref}/agency/stop")
def stop(ref: str, user: User, svc: Svc, reason: Text) -> Response:
    svc.dossiers.stop(user, ref, reason)
    return _back(ref, "agency_stopped")


@router.post("/dossiers/{ref}/agency/apology")
def apology(
    ref: str,
    user: User,
    svc: Svc,
    new_day: Annotated[date, Form()],
    reason: Text,
    new_time: Annotated[time, Form()] = time(17, 0),
) -> Response:
    """Form 04: the new appointment is a local day and time at the installation."""
    zone = ZoneInfo(svc.settings.timezone)
    new_due = datetime.combine(new_day, new_time.replace(tzinfo=None), tzinfo=zone)
    svc.dossiers.apology(user, ref, new_due=new_due, reason=reason)
    return _back(ref, "agency_apology")


# -- the result --------------------------------------------------------------------------------


@router.post("/dossiers/{ref}/results")
async def upload_result(ref: str, request: Request, user: User, svc: Svc) -> Response:
    """One result file (a scan or an already-signed PDF) for the dossier the agency holds.

    The body is the API's upload (``file``, ``password``, ``languages``) with the result's
    fields beside it: ``code`` (result type), ``name`` (its title), ``valid_until``, ``scope``.
    It goes the API's way (``Returns.prepare_result``, then the ingest path), signed by the
    organization; an incoming signature is kept. Answers 202 ``{"scan_id", "status_url"}``.
    """
    # Refuse before the body is read: not the holder, or not being processed.
    await run_in_threadpool(_prepare, svc, user, ref, {"code": "-", "name": "-"})

    def plan(fields: dict[str, str]) -> dict[str, Any]:
        upload = _prepare(svc, user, ref, {**request.query_params, **fields})
        return {
            "unit_code": upload.unit_code,
            "target": upload.target,
            "sign_options": upload.sign_options,
        }

    try:
        answer = await accept_scan(
            request,
            svc,
            clerk_id=lambda _fields: user.staff_id,
            unit_code=None,
            sign_as="unit",
            from_fields=plan,
        )
    except SohoaError as exc:
        # A refused file keeps a scan id that answers why; the script shows it by the file.
        if getattr(exc, "scan_id", None):
            exc.extra.setdefault("scan_id", exc.scan_id)  # type: ignore[attr-defined]
        raise
    return page_answer(answer)


def _prepare(svc: AppServices, user: Principal, ref: str, fields: dict[str, str]) -> ResultUpload:
    """The API's result preparation, from the form's fields (checked as the API's query is)."""
    code = (fields.get("code") or "").strip()
    name = (fields.get("name") or "").strip()
    scope = (fields.get("scope") or "").strip()
    if len(code) > 32 or len(name) > 255 or len(scope) > 255:
        raise InvalidForm("the result's type code, title or scope is too long")
    raw = (fields.get("valid_until") or "").strip()
    try:
        valid_until = date.fromisoformat(raw) if raw else None
    except ValueError:
        raise InvalidForm("valid_until is a day: YYYY-MM-DD") from None
    return svc.returns.prepare_result(
        user, ref, code=code, name=name, valid_until=valid_until, scope=scope
    )


# -- the dossier page's panel ------------------------------------------------------------------


def dossier_context(
    request: Request, svc: AppServices, user: Principal, dossier: DossierView
) -> dict[str, Any]:
    """What this module's partials on the dossier page need (``dossier/page.html`` includes them)."""
    done = request.query_params.get("done", "")
    context: dict[str, Any] = {"agency_done": DONE.get(done, "")}
    if user.role != "agency":
        return context
    desk = agency_desk(svc.dossiers, user, dossier.id)
    working = desk.holds and dossier.status == Status.PROCESSING
    context.update(
        agency_desk=desk,
        agency_can_take=working and not desk.taken,
        agency_can_work=working and desk.taken,
        agency_can_stop=desk.holds
        and dossier.status in (Status.PROCESSING, Status.AWAITING_PAYMENT),
        agency_results=svc.returns.results(user, dossier.id),
        agency_ref=dossier.code or dossier.id,
    )
    return context
