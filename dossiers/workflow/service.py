"""The counter's day as service calls: open, check, receive, route, supplement, finish, return.

Each call takes the caller (:class:`~dossiers.access.Principal`), runs in one transaction, moves
the status through :mod:`dossiers.workflow.lifecycle`, records an event and, where the mechanism says a
hand-over happens, a control-sheet row. Forms are rendered, signed with the unit certificate
and stored after the transaction that decided them commits.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dossiers import calendar as cal
from dossiers.access import Principal, dossier_filter
from dossiers.admin.catalog import procedure_in_force
from dossiers.errors import (
    Conflict,
    Forbidden,
    IllegalTransition,
    IncompleteDossier,
    InvalidInput,
    NotFound,
)
from dossiers.fees.cashier import BLOCKING, create_fees, unpaid
from dossiers.kernel import DossierKernel
from dossiers.models import (
    ComponentScan,
    Dossier,
    DossierComponent,
    DossierEvent,
    DossierForm,
    Handover,
    PostalAssignment,
    Procedure,
    Result,
    Staff,
    SupplementRequest,
    Unit,
)
from dossiers.workflow.codes import CodeGenerator
from dossiers.workflow.consent import check_consent
from dossiers.workflow.dossier_views import (
    Completeness,
    DossierSummary,
    DossierView,
    EventView,
    FormFile,
    FormView,
    HandoverView,
    Reception,
    ReusableRecord,
    ReuseView,
    SearchResult,
    SupplementRequested,
    SupplementStage,
    completeness,
    dossier_view,
)
from dossiers.workflow.lifecycle import (
    TAKES_PAPERS,
    TAKES_REUSE,
    TAKES_SCANS,
    Status,
    next_status,
)
from paper.fonts import DEFAULT_FONTS, Fonts

if TYPE_CHECKING:
    from dossiers.workflow.lookup import StatusLookup
    from storage.objects import ObjectStore

log = logging.getLogger(__name__)

ID_TYPES = ("CCCD", "CMND", "HC", "MST")
COLLECT_AT = {
    "counter": "Tại Bộ phận Một cửa",
    "post": "Qua dịch vụ bưu chính công ích",
    "online": "Trực tuyến",
}


@dataclass(frozen=True)
class ApplicantIn:
    name: str
    id_type: str
    id_number: str
    phone: str = ""
    address: str = ""
    email: str = ""  # for notifications by e-mail, if the citizen consents


@dataclass
class FormRequest:
    """A form to issue once the deciding transaction has committed."""

    form_no: str
    kwargs: dict[str, Any] = field(default_factory=dict)


FormIssuer = Callable[[Session, Dossier, str, Principal, dict[str, Any]], DossierForm]


class DossierService(DossierKernel):
    """Everything the counter and the agencies do to a dossier."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: ObjectStore,
        *,
        codes: CodeGenerator,
        clock: Callable[[], datetime],
        form_signer: Callable[[Path, Path, str], Any] | None = None,
        system_name: str = "sohoa",
        fonts: Fonts = DEFAULT_FONTS,
        status_lookup: StatusLookup | None = None,
    ) -> None:
        super().__init__(
            sessions,
            store,
            clock=clock,
            form_signer=form_signer,
            system_name=system_name,
            fonts=fonts,
            status_lookup=status_lookup,
        )
        self.codes = codes

    # -- reading ---------------------------------------------------------------------------

    def view(self, principal: Principal, ref: str) -> DossierView:
        """The dossier with its applicant, route, papers and completeness."""
        with self.tx() as session:
            return dossier_view(session, self.find(session, principal, ref))

    def listing(
        self,
        principal: Principal,
        *,
        status: int | None = None,
        unit_code: str | None = None,
        before: str | None = None,
        limit: int = 50,
    ) -> list[DossierSummary]:
        """The caller's dossiers, newest id first; ``before`` is the last id of the page before."""
        stmt = select(Dossier).where(dossier_filter(principal))
        if status is not None:
            stmt = stmt.where(Dossier.status == status)
        if unit_code:
            stmt = stmt.where(Dossier.unit_code == unit_code)
        if before:
            stmt = stmt.where(Dossier.id < before)
        with self.tx() as session:
            rows = session.scalars(stmt.order_by(Dossier.id.desc()).limit(limit))
            return [DossierSummary.of(d) for d in rows]

    def search(self, principal: Principal, query: str, *, limit: int = 20) -> list[SearchResult]:
        """Dossiers the caller may read whose fields or scans hold every word of ``query``."""
        from dossiers.records.search import search

        with self.tx() as session:
            visible = select(Dossier.id).where(dossier_filter(principal))
            hits = search(session, query, dossier_ids=visible, limit=limit)
            ids = {h.dossier_id for h in hits}
            found = {d.id: d for d in session.scalars(select(Dossier).where(Dossier.id.in_(ids)))}
            return [
                SearchResult.of_hit(found[h.dossier_id], h) for h in hits if h.dossier_id in found
            ]

    def events(self, principal: Principal, ref: str) -> list[EventView]:
        """The dossier's history, oldest first."""
        with self.tx() as session:
            dossier = self.find(session, principal, ref)
            rows = session.scalars(
                select(DossierEvent)
                .where(DossierEvent.dossier_id == dossier.id)
                .order_by(DossierEvent.id)
            )
            return [EventView.of(e) for e in rows]

    def handovers(self, principal: Principal, ref: str) -> list[HandoverView]:
        """The rows of the dossier's process-control sheet, in order."""
        with self.tx() as session:
            dossier = self.find(session, principal, ref)
            rows = session.scalars(
                select(Handover).where(Handover.dossier_id == dossier.id).order_by(Handover.id)
            )
            return [HandoverView.of(h) for h in rows]

    def forms(self, principal: Principal, ref: str) -> list[FormView]:
        """The forms issued for the dossier, in issue order."""
        with self.tx() as session:
            dossier = self.find(session, principal, ref)
            rows = session.scalars(
                select(DossierForm)
                .where(DossierForm.dossier_id == dossier.id)
                .order_by(DossierForm.issued_at)
            )
            return [FormView.of(f) for f in rows]

    def form_file(self, principal: Principal, ref: str, form_id: str) -> FormFile:
        """Where one of the dossier's forms is stored; 404 for a form of another dossier."""
        with self.tx() as session:
            dossier = self.find(session, principal, ref)
            form = session.get(DossierForm, form_id)
            if form is None or form.dossier_id != dossier.id:
                raise NotFound(f"no form {form_id} in this dossier", code="form_not_found")
            return FormFile(
                object_key=form.object_key,
                filename=f"mau-{form.form_no}-{dossier.code or dossier.id}.pdf",
                dossier_id=dossier.id,
            )

    # -- counter ---------------------------------------------------------------------------

    def create(
        self,
        principal: Principal,
        *,
        procedure_code: str,
        applicant: ApplicantIn,
        channel: int = 1,
        collect_at: str = "counter",
        sets: int = 1,
        unit_code: str | None = None,
        notify_consent: bool = False,
        notify_channels: Sequence[str] = (),
    ) -> str:
        """Open a dossier (status 1). Notifications go out only with the citizen's consent,
        on the channels chosen (:mod:`dossiers.workflow.consent`)."""
        principal.require("counter", "admin")
        if channel not in (1, 2, 3):
            raise InvalidInput(
                "channel must be 1 (in person), 2 (online) or 3 (by post)", code="channel_invalid"
            )
        if collect_at not in COLLECT_AT:
            raise InvalidInput(
                f"collect_at must be one of {sorted(COLLECT_AT)}", code="collect_at_invalid"
            )
        _check_applicant(applicant)
        email, consent, channels = check_consent(
            email=applicant.email,
            phone=applicant.phone,
            consent=notify_consent,
            channels=notify_channels,
        )
        with self.tx() as session:
            unit = self._receiving_unit(session, principal, unit_code)
            proc = procedure_in_force(session, procedure_code, self.today())
            self._check_handed_to_postal(session, principal, unit, proc)
            dossier = Dossier(
                procedure_id=proc.id,
                procedure_code=proc.code,
                unit_code=unit.code,
                channel=channel,
                status=int(Status.NEW),
                applicant_name=applicant.name.strip(),
                applicant_id_type=applicant.id_type,
                applicant_id_number=applicant.id_number,
                applicant_phone=applicant.phone,
                applicant_address=applicant.address,
                applicant_email=email,
                notify_consent=consent,
                notify_channels=channels,
                sets=sets,
                collect_at=collect_at,
                created_by=principal.staff_id,
                holder_code=unit.code,
            )
            session.add(dossier)
            session.flush()
            for c in proc.components:
                session.add(
                    DossierComponent(
                        dossier_id=dossier.id,
                        key=c["key"],
                        name=c["name"],
                        kind=c["kind"],
                        count=c["count"],
                        required=c["required"],
                        digitize=c["digitize"],
                    )
                )
            self.event(session, dossier, principal, "create", None, procedure_version=proc.version)
            self._index(session, dossier, proc)
            return dossier.id

    def _receiving_unit(
        self, session: Session, principal: Principal, unit_code: str | None
    ) -> Unit:
        code = unit_code if principal.role == "admin" else principal.unit_code
        if principal.role == "counter" and unit_code and unit_code not in principal.units:
            raise Forbidden(f"you do not work at unit {unit_code}", code="unit_forbidden")
        if principal.role == "counter" and unit_code:
            code = unit_code
        if not code:
            raise InvalidInput("give unit_code: the receiving one-stop unit", code="unit_required")
        unit = session.get(Unit, code)
        if unit is None or unit.kind != "one_stop":
            raise NotFound(f"no one-stop unit {code}", code="unit_not_found")
        today = self.today()
        if unit.valid_to is not None and unit.valid_to < today:
            raise Conflict(
                f"unit {unit.code} was merged into {unit.successor_code} on "
                f"{unit.valid_to.isoformat()}; receive new dossiers there",
                code="unit_closed",
                successor=unit.successor_code,
            )
        return unit

    def _check_handed_to_postal(
        self, session: Session, principal: Principal, unit: Unit, proc: Procedure
    ) -> None:
        """Postal staff take only the fields the district plan has handed over, from its date."""
        if principal.employer != "postal":
            return
        plans = list(
            session.scalars(
                select(PostalAssignment).where(
                    PostalAssignment.unit_code == unit.code,
                    PostalAssignment.field_code == proc.field_code,
                )
            )
        )
        specific = [p for p in plans if p.procedure_code == proc.code]
        generic = [p for p in plans if p.procedure_code is None]
        plan = next(iter(specific or generic), None)
        if plan is None or plan.postal_from is None or plan.postal_from > self.today():
            since = f" from {plan.postal_from.isoformat()}" if plan and plan.postal_from else ""
            raise Forbidden(
                f"procedure {proc.code} ({proc.field_name}) is not handed to postal staff at "
                f"{unit.code}{since}; a civil servant receives it",
                code="not_handed_to_postal",
            )

    def check_components(
        self, principal: Principal, ref: str, provided: dict[str, int]
    ) -> Completeness:
        """Record what the citizen brought; returns what is still missing."""
        with self.tx() as session:
            dossier = self.find(session, principal, ref, lock=True)
            self.require_counter(principal, dossier)
            if dossier.status not in TAKES_PAPERS:
                raise IllegalTransition(f"dossier in status {dossier.status} takes no papers")
            comps = {c.key: c for c in self._components(session, dossier)}
            unknown = sorted(set(provided) - set(comps))
            if unknown:
                raise InvalidInput(f"unknown components {unknown}", code="component_unknown")
            for key, count in provided.items():
                if count < 0 or count > 100:
                    raise InvalidInput(f"count for {key} must be 0..100", code="count_invalid")
                comps[key].provided = count
            self.event(
                session, dossier, principal, "check", dossier.status, provided=dict(provided)
            )
            return completeness(comps.values())

    def _components(self, session: Session, dossier: Dossier) -> list[DossierComponent]:
        return list(
            session.scalars(
                select(DossierComponent)
                .where(DossierComponent.dossier_id == dossier.id)
                .order_by(DossierComponent.key)
            )
        )

    def receive(self, principal: Principal, ref: str) -> Reception:
        """Receive a complete dossier: code, deadline, form 01. A probationer's waits."""
        with self.tx() as session:
            dossier = self.find(session, principal, ref, lock=True)
            self.require_counter(principal, dossier)
            next_status("receive", dossier.status)
            report = completeness(self._components(session, dossier))
            if not report.complete:
                raise IncompleteDossier(
                    "the dossier lacks required papers; request a supplement (form 02)",
                    missing=[m.model_dump() for m in report.missing],
                )
            if principal.on_probation:
                dossier.pending_reception_by = principal.staff_id
                self.event(session, dossier, principal, "reception_pending", dossier.status)
                return Reception(id=dossier.id, pending_confirmation=True)
            self._receive(session, dossier, principal, received_by=principal.staff_id)
            dossier_id = dossier.id
        self.issue_form(principal, dossier_id, "01")
        return Reception(id=dossier_id, pending_confirmation=False)

    def confirm_reception(self, principal: Principal, ref: str) -> Reception:
        """The supervising civil servant confirms a probationer's reception."""
        with self.tx() as session:
            dossier = self.find(session, principal, ref, lock=True)
            self.require_counter(principal, dossier)
            pending = dossier.pending_reception_by
            if not pending:
                raise Conflict(
                    "no reception is waiting for confirmation", code="nothing_to_confirm"
                )
            trainee = session.get(Staff, pending)
            if principal.role != "admin" and (
                trainee is None or trainee.supervisor_id != principal.staff_id
            ):
                raise Forbidden(
                    f"only {pending}'s supervisor confirms their receptions", code="not_supervisor"
                )
            self._receive(
                session, dossier, principal, received_by=pending, confirmed_by=principal.staff_id
            )
            dossier_id = dossier.id
        self.issue_form(principal, dossier_id, "01")
        return Reception(id=dossier_id, pending_confirmation=False)

    def _receive(
        self,
        session: Session,
        dossier: Dossier,
        principal: Principal,
        *,
        received_by: str,
        confirmed_by: str | None = None,
    ) -> None:
        now = self.now()
        proc = session.get(Procedure, dossier.procedure_id)
        assert proc is not None
        rules = cal.rules_in_force(now)
        dossier.code = self.codes.next_code(session, dossier.unit_code, now)
        dossier.received_at = now
        dossier.received_by = received_by
        dossier.confirmed_by = confirmed_by
        dossier.pending_reception_by = None
        dossier.rules_version = rules.version
        dossier.due_at = cal.due_at(now, proc.processing_days, self.calendar(session, rules), rules)
        dossier.original_due_at = dossier.due_at
        create_fees(session, dossier, proc)
        self.move(
            session,
            dossier,
            principal,
            "receive",
            code=dossier.code,
            rules_version=rules.version,
            due_at=dossier.due_at.isoformat(),
            received_by=received_by,
            confirmed_by=confirmed_by,
        )
        self._index(session, dossier, proc)

    def refuse(self, principal: Principal, ref: str, reason: str) -> None:
        if not reason.strip():
            raise InvalidInput("a refusal must give its reason", code="reason_required")
        with self.tx() as session:
            dossier = self.find(session, principal, ref, lock=True)
            self.require_counter(principal, dossier)
            self.move(session, dossier, principal, "refuse", reason=reason)
            dossier.finished_at = self.now()
            dossier_id = dossier.id
        self.issue_form(principal, dossier_id, "03", reason=reason)

    def request_supplement(
        self,
        principal: Principal,
        ref: str,
        *,
        items: Sequence[str],
        reason: str,
        contact: str = "",
    ) -> SupplementRequested:
        """Ask for missing papers (form 02): at the counter, or by the agency holding it.

        The agency may ask once; a second request is allowed but counts the dossier overdue,
        as the national scoring does.
        """
        items = [i.strip() for i in items if i.strip()]
        if not items or not reason.strip():
            raise InvalidInput(
                "list the papers to supplement and say why", code="supplement_invalid"
            )
        with self.tx() as session:
            dossier = self.find(session, principal, ref, lock=True)
            stage: SupplementStage
            if dossier.status == Status.PROCESSING:
                self.require_holder(principal, dossier)
                stage = "agency"
            else:
                self.require_counter(principal, dossier)
                stage = "counter"
            self.move(
                session,
                dossier,
                principal,
                "request_supplement",
                reason=reason,
                items=items,
                stage=stage,
            )
            if stage == "agency":
                dossier.supplement_count += 1
                if dossier.supplement_count > 1:
                    dossier.counted_overdue = True
                self.handover(
                    session, dossier, principal, dossier.unit_code, note="Yêu cầu bổ sung hồ sơ"
                )
            session.add(
                SupplementRequest(
                    dossier_id=dossier.id,
                    requested_by=principal.staff_id,
                    requested_at=self.now(),
                    stage=stage,
                    items=items,
                    reason=reason,
                )
            )
            dossier_id, overdue = dossier.id, dossier.counted_overdue
        self.issue_form(
            principal,
            dossier_id,
            "02",
            items=items,
            reason=reason,
            contact=contact or principal.name,
        )
        return SupplementRequested(stage=stage, counted_overdue=overdue)

    def supplement(self, principal: Principal, ref: str, *, note: str = "") -> None:
        """The citizen brought the papers: back to the counter's check, or to the agency with
        the clock restarted."""
        with self.tx() as session:
            dossier = self.find(session, principal, ref, lock=True)
            self.require_counter(principal, dossier)
            request = session.scalar(
                select(SupplementRequest)
                .where(
                    SupplementRequest.dossier_id == dossier.id,
                    SupplementRequest.fulfilled_at.is_(None),
                )
                .order_by(SupplementRequest.requested_at.desc())
                .limit(1)
            )
            if request is None or dossier.status != Status.SUPPLEMENT:
                raise IllegalTransition("no supplement is outstanding")
            now = self.now()
            request.fulfilled_at, request.fulfilled_by = now, principal.staff_id
            proc = session.get(Procedure, dossier.procedure_id)
            assert proc is not None
            if dossier.code is not None:
                create_fees(session, dossier, proc, stages=("supplement",))
            if request.stage == "counter" and dossier.code is None:
                self.move(session, dossier, principal, "supplement_counter", reason=note)
                return
            if dossier.received_at is not None:
                rules = self.rules_for(dossier)
                dossier.due_at = cal.due_at(
                    now, proc.processing_days, self.calendar(session, rules), rules
                )
                dossier.overdue_alerted_at = None  # a new deadline gets its own alert
            if request.stage == "counter":
                self.move(
                    session,
                    dossier,
                    principal,
                    "supplement_received",
                    reason=note,
                    due_at=dossier.due_at.isoformat() if dossier.due_at else None,
                )
                return
            self.move(
                session,
                dossier,
                principal,
                "supplement_agency",
                reason=note,
                due_at=dossier.due_at.isoformat() if dossier.due_at else None,
            )
            agency = dossier.route[dossier.route_index]
            self.handover(session, dossier, principal, agency, note="Hồ sơ đã bổ sung")

    def route(self, principal: Principal, ref: str) -> str | None:
        """Send a received dossier to the first competent agency of its procedure; one with
        fees still due waits for payment instead (status 6) and None is returned."""
        with self.tx() as session:
            dossier = self.find(session, principal, ref, lock=True)
            self.require_counter(principal, dossier)
            proc = session.get(Procedure, dossier.procedure_id)
            assert proc is not None
            due = unpaid(session, dossier.id, BLOCKING)
            if due:
                # It cannot go on before payment: status 6 until the counter takes the fees.
                self.move(
                    session,
                    dossier,
                    principal,
                    "await_payment",
                    reason="Chưa nộp phí, lệ phí",
                    fees=[{"code": f.code, "amount": f.amount} for f in due],
                )
                return None
            self.move(session, dossier, principal, "route", route=proc.agency_codes)
            dossier.route = list(proc.agency_codes)
            dossier.route_index = 0
            self.handover(session, dossier, principal, dossier.route[0])
            return str(dossier.route[0])

    def take(self, principal: Principal, ref: str) -> None:
        """The agency acknowledges the dossier it was handed (the 'Nhận' half of the row)."""
        with self.tx() as session:
            dossier = self.find(session, principal, ref, lock=True)
            self.require_holder(principal, dossier)
            self.move(session, dossier, principal, "take")
            row = session.scalar(
                select(Handover)
                .where(Handover.dossier_id == dossier.id, Handover.to_party == dossier.holder_code)
                .order_by(Handover.id.desc())
                .limit(1)
            )
            if row is not None and row.taken_at is None:
                row.taken_at, row.taken_by = self.now(), principal.staff_id

    def forward(self, principal: Principal, ref: str) -> str:
        """Hand an inter-linked (liên thông) dossier to the next agency of its route."""
        with self.tx() as session:
            dossier = self.find(session, principal, ref, lock=True)
            self.require_holder(principal, dossier)
            if dossier.route_index + 1 >= len(dossier.route):
                raise Conflict(
                    "this is the last agency of the route; finish the dossier",
                    code="route_complete",
                )
            self.move(session, dossier, principal, "forward")
            dossier.route_index += 1
            nxt = dossier.route[dossier.route_index]
            self.handover(session, dossier, principal, nxt, note="Liên thông")
            return str(nxt)

    def finish(self, principal: Principal, ref: str, *, note: str = "") -> None:
        """The last agency decided: the result goes back to the one-stop unit (status 9)."""
        with self.tx() as session:
            dossier = self.find(session, principal, ref, lock=True)
            self.require_holder(principal, dossier)
            if dossier.route_index + 1 < len(dossier.route):
                raise Conflict(
                    f"the route goes on to {dossier.route[dossier.route_index + 1]}; forward it",
                    code="route_not_complete",
                )
            self.move(session, dossier, principal, "finish", reason=note)
            dossier.finished_at = self.now()
            self.handover(
                session,
                dossier,
                principal,
                dossier.unit_code,
                note="Trả kết quả về Bộ phận Một cửa",
            )

    def withdraw(self, principal: Principal, ref: str, reason: str) -> None:
        self._close(principal, ref, "withdraw", reason)

    def stop(self, principal: Principal, ref: str, reason: str) -> None:
        self._close(principal, ref, "stop", reason)

    def _close(self, principal: Principal, ref: str, action: str, reason: str) -> None:
        if not reason.strip():
            raise InvalidInput(f"say why the dossier is {action}n", code="reason_required")
        with self.tx() as session:
            dossier = self.find(session, principal, ref, lock=True)
            # A citizen withdraws at the counter; whoever holds the dossier may stop it.
            if action == "stop":
                self.require_current_side(principal, dossier)
            else:
                self.require_counter(principal, dossier)
            self.move(session, dossier, principal, action, reason=reason)
            dossier.finished_at = self.now()

    def apology(self, principal: Principal, ref: str, *, new_due: datetime, reason: str) -> None:
        """Form 04: the processing side apologises and sets a new date before the old one."""
        if not reason.strip():
            raise InvalidInput("an apology gives its reason", code="reason_required")
        if new_due.tzinfo is None:
            raise InvalidInput("new_due needs a time zone", code="datetime_naive")
        with self.tx() as session:
            dossier = self.find(session, principal, ref, lock=True)
            # Form 04 comes from the processing side: whoever holds the dossier now.
            self.require_current_side(principal, dossier)
            old = dossier.due_at
            if old is None or new_due <= old:
                raise InvalidInput(
                    "the new date must be after the current appointment", code="new_due_invalid"
                )
            self.move(
                session,
                dossier,
                principal,
                "apology",
                reason=reason,
                original_due=old.isoformat(),
                new_due=new_due.isoformat(),
                late_notice=self.now() > old,
            )
            dossier.due_at = new_due
            dossier.overdue_alerted_at = None  # a new deadline gets its own alert
            dossier_id = dossier.id
        self.issue_form(
            principal, dossier_id, "04", original_due=old, new_due=new_due, reason=reason
        )

    # -- scans of components ---------------------------------------------------------------

    def component_for_upload(
        self, principal: Principal, ref: str, component_id: str
    ) -> tuple[str, str]:
        """Check the caller may add a scan to this component; returns (dossier id, unit)."""
        with self.tx() as session:
            dossier = self.find(session, principal, ref)
            self.require_counter(principal, dossier)
            if dossier.status not in TAKES_SCANS:
                raise IllegalTransition(f"dossier in status {dossier.status} takes no scans")
            comp = session.get(DossierComponent, component_id)
            if comp is None or comp.dossier_id != dossier.id:
                raise NotFound(
                    f"no component {component_id} in this dossier", code="component_not_found"
                )
            return dossier.id, dossier.unit_code

    def link_scan(self, session: Session, scan_id: str, component_id: str, dossier_id: str) -> None:
        if session.get(ComponentScan, scan_id) is None:
            session.add(
                ComponentScan(scan_id=scan_id, component_id=component_id, dossier_id=dossier_id)
            )

    # -- reuse from the repository --------------------------------------------------------

    def reusable(self, principal: Principal, ref: str, component_id: str) -> list[ReusableRecord]:
        """Valid papers of the dossier's owner, of the component's type, newest first."""
        from dossiers.records.repository import reusable

        with self.tx() as session:
            dossier, comp = self._component(session, principal, ref, component_id)
            rows = reusable(session, dossier, comp, self.today())
            return [ReusableRecord.of(r) for r in rows]

    def reuse(
        self,
        principal: Principal,
        ref: str,
        component_id: str,
        record_id: str,
        *,
        replaced_by_code: str | None = None,
    ) -> ReuseView:
        """Satisfy a component from the citizen's repository instead of a new scan."""
        from dossiers.records.repository import reuse

        with self.tx() as session:
            dossier, comp = self._component(session, principal, ref, component_id, lock=True)
            if dossier.status not in TAKES_REUSE:
                raise IllegalTransition("papers are reused while the dossier is checked")
            row = reuse(
                session,
                dossier,
                comp,
                record_id,
                by=principal.staff_id,
                now=self.now(),
                replaced_by_code=replaced_by_code,
            )
            self.event(
                session,
                dossier,
                principal,
                "reuse",
                dossier.status,
                component=comp.key,
                record=record_id,
                flag=row.flag,
            )
            return ReuseView(component_id=comp.id, record_id=record_id, flag=row.flag)

    def _component(
        self,
        session: Session,
        principal: Principal,
        ref: str,
        component_id: str,
        *,
        lock: bool = False,
    ) -> tuple[Dossier, DossierComponent]:
        dossier = self.find(session, principal, ref, lock=lock)
        self.require_counter(principal, dossier)
        comp = session.get(DossierComponent, component_id)
        if comp is None or comp.dossier_id != dossier.id:
            raise NotFound(
                f"no component {component_id} in this dossier", code="component_not_found"
            )
        return dossier, comp

    # -- forms ------------------------------------------------------------------------------

    def issue_form(
        self, principal: Principal, dossier_id: str, form_no: str, **kwargs: Any
    ) -> DossierForm | None:
        from dossiers.paperwork.issuing import issue

        if self.form_signer is None:
            return None
        with self.tx() as session:
            dossier = session.get(Dossier, dossier_id)
            assert dossier is not None
            with tempfile.TemporaryDirectory() as tmp:
                form = issue(
                    self,
                    session,
                    dossier,
                    form_no,
                    principal,
                    Path(tmp),
                    kwargs,
                    lookup=self.status_lookup,
                )
            session.flush()
            session.expunge(form)
            return form

    def issue_control_sheet(self, principal: Principal, ref: str) -> FormView | None:
        """Form 06 as the dossier stands now; None while form signing is switched off."""
        principal.require("counter", "agency", "admin")
        with self.tx() as session:
            dossier_id = self.find(session, principal, ref).id
        form = self.issue_form(principal, dossier_id, "06")
        return FormView.of(form) if form is not None else None

    # -- search index -------------------------------------------------------------------------

    def _index(self, session: Session, dossier: Dossier, proc: Procedure) -> None:
        from dossiers.records.search import index_entry

        text = " ".join(
            filter(
                None,
                (
                    dossier.code,
                    dossier.applicant_name,
                    dossier.applicant_id_number,
                    proc.code,
                    proc.name,
                ),
            )
        )
        index_entry(session, dossier.id, "dossier", dossier.id, text)


def _check_applicant(a: ApplicantIn) -> None:
    """Each refusal names its ``field`` (and, for the ID number, the ``rule``), so a form can
    put the reason beside the field it concerns."""
    if not a.name.strip() or len(a.name) > 255:
        raise InvalidInput(
            "the applicant's name is required (at most 255 characters)",
            code="applicant_invalid",
            field="name",
        )
    if a.id_type not in ID_TYPES:
        raise InvalidInput(
            f"id_type must be one of {ID_TYPES}", code="applicant_invalid", field="id_type"
        )
    digits = a.id_number.strip()
    if a.id_type == "CCCD" and not (digits.isdigit() and len(digits) == 12):
        raise InvalidInput(
            "a CCCD number has 12 digits",
            code="applicant_invalid",
            field="id_number",
            rule="cccd_digits",
        )
    if not digits or len(digits) > 32 or not all(ch.isalnum() or ch == "-" for ch in digits):
        raise InvalidInput(
            "the ID number has letters, digits or '-' only",
            code="applicant_invalid",
            field="id_number",
            rule="characters",
        )


def attach_document(
    session: Session, scan_id: str, document_id: str, page_texts: Sequence[str]
) -> None:
    """Called by the pipeline when a scan's signed document exists; a no-op for loose scans."""
    from dossiers.records.repository import on_document
    from dossiers.records.search import index_entry
    from storage.models import Document, utcnow

    document = session.get(Document, document_id)
    if document is not None:
        on_document(session, scan_id, document, utcnow())

    result = session.scalar(select(Result).where(Result.scan_id == scan_id))
    if result is not None:
        result.document_id = document_id
        index_entry(session, result.dossier_id, "document", document_id, "\n".join(page_texts))
        return
    link = session.get(ComponentScan, scan_id)
    if link is None:
        return
    comp = session.get(DossierComponent, link.component_id, with_for_update=True)
    if comp is None:
        return
    if document_id not in comp.document_ids:
        comp.document_ids = [*comp.document_ids, document_id]
    index_entry(session, link.dossier_id, "document", document_id, "\n".join(page_texts))
