"""Results and their return: the agency's result papers, signed by the organization, and how
they reach the citizen — at the counter, by post, or through an expiring link.

A result stays hidden from the citizen's repository until it is returned. The dossier reaches
status 10 when the result is in the citizen's hands: handed over at the counter, delivered by
the post, or first downloaded through its link.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from dossiers import calendar as cal
from dossiers.access import Principal, unit_filter
from dossiers.audit import record as audit_record
from dossiers.errors import Conflict, DossierError, InvalidInput, NotFound
from dossiers.fees.cashier import unpaid
from dossiers.models import (
    Dossier,
    DownloadLog,
    Procedure,
    Result,
    ResultReturn,
    Unit,
)
from dossiers.records.repository import reveal_results
from dossiers.workflow.lifecycle import Status
from dossiers.workflow.scanhooks import ResultPaper
from storage import metrics
from storage.models import Document, Scan

if TYPE_CHECKING:
    from dossiers.kernel import DossierKernel

POSTAL_STEPS = {
    "accepted": ("in_transit", "returned_to_sender"),
    "in_transit": ("delivered", "returned_to_sender"),
}
LINK_PREFIX = "kq_"


class LinkGone(DossierError):
    code = "link_expired"
    http_status = 410


# -- read models ------------------------------------------------------------------------------


class ResultView(BaseModel):
    """A result paper of a dossier and where its scan stands."""

    model_config = ConfigDict(extra="forbid")

    id: str
    code: str = Field(description="Result document type, e.g. KQ.G10.000005.")
    name: str
    scan_id: str
    scan_status: str = Field(
        description="received, processing, awaiting_confirmation, digitized or failed."
    )
    document_id: str | None = Field(description="The signed document; null until digitized.")
    valid_until: date | None = Field(description="Last day the paper is valid; null: no end.")
    scope: str = Field(description="What it covers, e.g. a land parcel; may be empty.")
    hidden: bool = Field(
        description="Kept out of the citizen's repository until the result is returned."
    )
    uploaded_by: str = Field(description="Staff id of the agency officer who added it.")

    @classmethod
    def of(cls, r: Result, s: Scan) -> ResultView:
        return cls(
            id=r.id,
            code=r.code,
            name=r.name,
            scan_id=r.scan_id,
            scan_status=s.status,
            document_id=r.document_id,
            valid_until=r.valid_until,
            scope=r.scope,
            hidden=r.hidden,
            uploaded_by=r.uploaded_by,
        )


class PostalStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: str = Field(description="accepted, in_transit, delivered or returned_to_sender.")
    at: str = Field(description="ISO 8601 with its UTC offset.")


class LinkDownload(BaseModel):
    """One download of a result through its link."""

    model_config = ConfigDict(extra="forbid")

    at: str = Field(description="ISO 8601 with its UTC offset.")
    document_id: str
    client: str = Field(description="The downloader's address and user agent.")


class _ReturnBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    channel: str
    staff_id: str = Field(description="Who handed the result over, posted it or sent the link.")
    created_at: str = Field(description="ISO 8601 with its UTC offset.")
    completed_at: str | None = Field(
        description="When the result reached the citizen (ISO 8601); null until then."
    )


class CounterReturn(_ReturnBase):
    """Handed over at the counter, with a signed hand-over record."""

    channel: Literal["counter"]
    recipient_name: str
    recipient_id: str = Field(description="The recipient's ID number.")
    relation: str = Field(description="The recipient's relation to the applicant.")
    record_key: str | None = Field(
        description="Object key of the signed hand-over record; null when forms are not signed."
    )

    @classmethod
    def of(cls, r: ResultReturn) -> CounterReturn:
        return cls(
            **_return_fields(r),
            channel="counter",
            recipient_name=r.recipient_name,
            recipient_id=r.recipient_id,
            relation=r.relation,
            record_key=r.record_key,
        )


class PostalReturn(_ReturnBase):
    """Sent by post (tracking number, fee and delivery status)."""

    channel: Literal["post"]
    tracking_number: str
    postal_fee: int = Field(description="VND.")
    postal_status: str = Field(description="accepted, in_transit, delivered or returned_to_sender.")
    postal_history: list[PostalStep] = Field(description="Every status, oldest first.")

    @classmethod
    def of(cls, r: ResultReturn) -> PostalReturn:
        return cls(
            **_return_fields(r),
            channel="post",
            tracking_number=r.tracking_number,
            postal_fee=r.postal_fee,
            postal_status=r.postal_status,
            postal_history=[PostalStep.model_validate(step) for step in r.postal_history],
        )


class OnlineReturn(_ReturnBase):
    """Sent as an expiring link; the first download completes the return."""

    channel: Literal["online"]
    link_expires_at: str | None = Field(description="ISO 8601 with its UTC offset.")

    @classmethod
    def of(cls, r: ResultReturn) -> OnlineReturn:
        return cls(**_return_fields(r), channel="online", link_expires_at=_iso(r.link_expires_at))


ReturnView = Annotated[CounterReturn | PostalReturn | OnlineReturn, Field(discriminator="channel")]


class CounterReturnLog(CounterReturn):
    downloads: list[LinkDownload] = Field(description="Always empty: nothing to download.")


class PostalReturnLog(PostalReturn):
    downloads: list[LinkDownload] = Field(description="Always empty: nothing to download.")


class OnlineReturnLog(OnlineReturn):
    downloads: list[LinkDownload] = Field(description="Every download through the link, in order.")


ReturnLog = Annotated[
    CounterReturnLog | PostalReturnLog | OnlineReturnLog, Field(discriminator="channel")
]


class IssuedLink(OnlineReturn):
    """A new link; its token is shown in this answer only (it is stored hashed)."""

    token: str = Field(description="The credential in the link; not shown again.")
    url: str = Field(description="The citizen's page, relative to the service's root.")


class UncollectedDossier(BaseModel):
    """A processed dossier whose result has not reached the citizen."""

    model_config = ConfigDict(extra="forbid")

    code: str | None
    applicant_name: str
    unit_code: str
    finished_at: str | None = Field(description="When the result was ready (ISO 8601).")
    collect_at: str = Field(description="How the citizen asked to collect: counter, post, online.")
    attempts: list[ReturnView] = Field(description="Returns tried so far, in no set order.")


class LinkedResult(BaseModel):
    """A result behind a link, as the citizen sees it."""

    model_config = ConfigDict(extra="forbid")

    name: str
    code: str = Field(description="Result document type, e.g. KQ.G10.000005.")
    document_id: str
    valid_until: date | None = Field(description="Last day the paper is valid; null: no end.")


class ResultLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expires_at: str | None = Field(description="ISO 8601 with its UTC offset.")
    items: list[LinkedResult]


@dataclass(frozen=True)
class ResultUpload:
    """What the API needs to accept a result scan: where it belongs and how it is signed."""

    dossier_id: str
    unit_code: str
    sign_options: dict[str, Any]
    target: ResultPaper  # adds the hidden result row in the scan's own transaction


class Returns:
    def __init__(self, dossiers: DossierKernel) -> None:
        self.dossiers = dossiers

    # -- results ----------------------------------------------------------------------------

    def prepare_result(
        self,
        principal: Principal,
        ref: str,
        *,
        code: str,
        name: str,
        valid_until: date | None,
        scope: str,
    ) -> ResultUpload:
        """The agency holding a dossier adds a result paper; the QR carries its validity."""
        svc = self.dossiers
        if not name.strip() or not code.strip():
            raise InvalidInput("a result needs its type code and name", code="result_invalid")
        with svc.tx() as session:
            dossier = svc.find(session, principal, ref)
            svc.require_holder(principal, dossier)
            if dossier.status != Status.PROCESSING:
                raise Conflict(
                    "results are added while the agency processes the dossier",
                    code="illegal_transition",
                )
            proc = session.get(Procedure, dossier.procedure_id)
            assert proc is not None
            payload: dict[str, Any] = {
                "ma_ho_so": dossier.code,
                "ma_tthc": proc.code,
                "ma_dinh_danh": dossier.applicant_id_number,
                "tieu_de": name,
                "ma_ket_qua": code,
                "he_thong": svc.system_name,
                "thoi_gian": svc.now().astimezone(cal.VN_TZ).isoformat(timespec="seconds"),
            }
            if valid_until is not None:
                payload["hieu_luc_den"] = valid_until.isoformat()
            if scope:
                payload["pham_vi"] = scope
            dossier_id, unit_code = dossier.id, dossier.unit_code

        def on_created(session: Session, scan: Scan) -> None:
            session.add(
                Result(
                    dossier_id=dossier_id,
                    scan_id=scan.id,
                    code=code,
                    name=name,
                    valid_until=valid_until,
                    scope=scope,
                    hidden=True,
                    uploaded_by=principal.staff_id,
                )
            )

        qr = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return ResultUpload(dossier_id, unit_code, {"qr": qr}, ResultPaper(on_created))

    def results(self, principal: Principal, ref: str) -> list[ResultView]:
        with self.dossiers.tx() as session:
            dossier = self.dossiers.find(session, principal, ref)
            return [ResultView.of(r, s) for r, s in self._results(session, dossier.id)]

    def _results(self, session: Session, dossier_id: str) -> list[tuple[Result, Scan]]:
        return [
            (result, scan)
            for result, scan in session.execute(
                select(Result, Scan)
                .join(Scan, Scan.id == Result.scan_id)
                .where(Result.dossier_id == dossier_id)
                .order_by(Result.created_at)
            )
        ]

    # -- return --------------------------------------------------------------------------------

    def _ready(self, session: Session, principal: Principal, ref: str) -> Dossier:
        svc = self.dossiers
        dossier = svc.find(session, principal, ref, lock=True)
        svc.require_counter(principal, dossier)
        if dossier.status != Status.PROCESSED:
            raise Conflict(
                f"only a processed dossier (9) is returned; this one is {dossier.status}",
                code="illegal_transition",
                current_status=dossier.status,
            )
        due = unpaid(session, dossier.id, ("return", "receipt", "supplement", "assessed"))
        if due:
            raise Conflict(
                "fees are still due; take them first (POST .../payments)",
                code="fees_unpaid",
                fees=[{"code": f.code, "amount": f.amount} for f in due],
            )
        return dossier

    def _returned(
        self, session: Session, dossier: Dossier, principal: Principal, channel: str, note: str
    ) -> None:
        svc = self.dossiers
        svc.move(session, dossier, principal, "return", channel=channel, reason=note)
        dossier.returned_at = svc.now()
        svc.handover(session, dossier, principal, "citizen", note=note)
        for result in session.scalars(select(Result).where(Result.dossier_id == dossier.id)):
            result.hidden = False
        reveal_results(session, dossier.id, svc.now())

    def at_counter(
        self,
        principal: Principal,
        ref: str,
        *,
        recipient_name: str,
        recipient_id: str,
        relation: str,
    ) -> CounterReturn:
        """Hand the result over at the counter, with a signed hand-over record."""
        if not recipient_name.strip() or not recipient_id.strip() or not relation.strip():
            raise InvalidInput(
                "name the recipient, their ID number and relation to the applicant",
                code="recipient_required",
            )
        svc = self.dossiers
        with svc.tx() as session:
            dossier = self._ready(session, principal, ref)
            now = svc.now()
            row = ResultReturn(
                dossier_id=dossier.id,
                channel="counter",
                staff_id=principal.staff_id,
                created_at=now,
                recipient_name=recipient_name,
                recipient_id=recipient_id,
                relation=relation,
                completed_at=now,
            )
            session.add(row)
            session.flush()
            row.record_key = self._record(session, dossier, principal, row)
            self._returned(
                session, dossier, principal, "counter", f"Người nhận: {recipient_name} ({relation})"
            )
            return CounterReturn.of(row)

    def _record(
        self, session: Session, dossier: Dossier, principal: Principal, row: ResultReturn
    ) -> str | None:
        from dossiers.fees import receipts_doc as rd
        from dossiers.paperwork.issuing import context

        svc = self.dossiers
        if svc.form_signer is None:
            return None
        unit = session.get(Unit, dossier.unit_code)
        assert unit is not None
        names = [r.name for r, _ in self._results(session, dossier.id)]
        with tempfile.TemporaryDirectory() as tmp:
            rendered = rd.render_return_record(
                context(svc, session, dossier, principal),
                results=names or ["Kết quả giải quyết"],
                recipient_name=row.recipient_name,
                recipient_id=row.recipient_id,
                relation=row.relation,
                handed_at=row.created_at,
                out=Path(tmp) / "record.pdf",
            )
            signed = Path(tmp) / "signed.pdf"
            svc.form_signer(rendered, signed, unit.name)
            metrics.add(session, metrics.SIGNATURES, {"kind": "return_record"})
            key = f"returns/{dossier.id}/{row.id}.pdf"
            svc.store.put_file(
                key,
                signed,
                content_type="application/pdf",
                sha256=hashlib.sha256(signed.read_bytes()).hexdigest(),
                metadata={"dossier-id": dossier.id},
            )
        return key

    def by_post(
        self, principal: Principal, ref: str, *, tracking_number: str, postal_fee: int
    ) -> PostalReturn:
        if not tracking_number.strip() or len(tracking_number) > 64 or postal_fee < 0:
            raise InvalidInput(
                "give the tracking number and the postal fee (VND, ≥ 0)", code="postal_invalid"
            )
        svc = self.dossiers
        with svc.tx() as session:
            dossier = self._ready(session, principal, ref)
            now = svc.now()
            row = ResultReturn(
                dossier_id=dossier.id,
                channel="post",
                staff_id=principal.staff_id,
                created_at=now,
                tracking_number=tracking_number,
                postal_fee=postal_fee,
                postal_status="accepted",
                postal_history=[{"status": "accepted", "at": now.isoformat()}],
            )
            session.add(row)
            svc.event(
                session,
                dossier,
                principal,
                "posted",
                dossier.status,
                tracking_number=tracking_number,
                postal_fee=postal_fee,
            )
            session.flush()
            return PostalReturn.of(row)

    def postal_update(self, principal: Principal, return_id: str, status: str) -> PostalReturn:
        """accepted → in_transit → delivered | returned_to_sender; delivered closes the dossier."""
        svc = self.dossiers
        with svc.tx() as session:
            row = session.get(ResultReturn, return_id, with_for_update=True)
            if row is None or row.channel != "post":
                raise NotFound(f"no postal return {return_id}", code="return_not_found")
            dossier = svc.find(session, principal, row.dossier_id, lock=True)
            svc.require_counter(principal, dossier)
            if status not in POSTAL_STEPS.get(row.postal_status, ()):
                raise Conflict(
                    f"a parcel {row.postal_status} cannot become {status}",
                    code="illegal_transition",
                )
            now = svc.now()
            row.postal_status = status
            row.postal_history = [*row.postal_history, {"status": status, "at": now.isoformat()}]
            if status == "delivered":
                row.completed_at = now
                self._returned(
                    session, dossier, principal, "post", f"Bưu chính: {row.tracking_number}"
                )
            else:
                svc.event(
                    session,
                    dossier,
                    principal,
                    f"postal_{status}",
                    dossier.status,
                    tracking_number=row.tracking_number,
                )
            return PostalReturn.of(row)

    def online(self, principal: Principal, ref: str, *, hours: int) -> IssuedLink:
        """An expiring link to the signed results; the token is shown once, stored hashed."""
        if not 1 <= hours <= 24 * 30:
            raise InvalidInput("a link lives 1 hour to 30 days", code="link_invalid")
        svc = self.dossiers
        with svc.tx() as session:
            dossier = self._ready(session, principal, ref)
            if not any(r.document_id for r, _ in self._results(session, dossier.id)):
                raise Conflict(
                    "no digitized result to send yet; wait for its scan", code="no_result_document"
                )
            token = LINK_PREFIX + secrets.token_urlsafe(32)
            now = svc.now()
            expires = now + timedelta(hours=hours)
            row = ResultReturn(
                dossier_id=dossier.id,
                channel="online",
                staff_id=principal.staff_id,
                created_at=now,
                link_sha256=hashlib.sha256(token.encode()).hexdigest(),
                link_expires_at=expires,
            )
            session.add(row)
            svc.event(
                session,
                dossier,
                principal,
                "link_issued",
                dossier.status,
                expires_at=expires.isoformat(),
            )
            session.flush()
            return IssuedLink(
                **OnlineReturn.of(row).model_dump(), token=token, url=f"/public/results/{token}"
            )

    def open_link(self, token: str) -> tuple[ResultReturn, list[tuple[Result, Document]]]:
        svc = self.dossiers
        with svc.tx() as session:
            row = session.scalar(
                select(ResultReturn).where(
                    ResultReturn.link_sha256 == hashlib.sha256(token.encode()).hexdigest()
                )
            )
            if row is None:
                raise NotFound("no such link", code="link_not_found")
            if row.link_expires_at is None or row.link_expires_at <= svc.now():
                raise LinkGone("this link has expired; ask the counter for a new one")
            docs = [
                (result, document)
                for result, document in session.execute(
                    select(Result, Document)
                    .join(Document, Document.id == Result.document_id)
                    .where(Result.dossier_id == row.dossier_id)
                    .order_by(Result.created_at)
                )
            ]
            session.expunge_all()
            return row, docs

    def link(self, token: str) -> ResultLink:
        """What the citizen's page of a link lists: its expiry and the signed results."""
        row, docs = self.open_link(token)
        return ResultLink(
            expires_at=_iso(row.link_expires_at),
            items=[
                LinkedResult(name=r.name, code=r.code, document_id=d.id, valid_until=r.valid_until)
                for r, d in docs
            ],
        )

    def download(self, token: str, document_id: str, *, client: str) -> Document:
        """Log the download; the first one completes the electronic return (status 10)."""
        row, docs = self.open_link(token)
        match = [d for _, d in docs if d.id == document_id]
        if not match:
            raise NotFound("no such result behind this link", code="document_not_found")
        svc = self.dossiers
        with svc.tx() as session:
            session.add(
                DownloadLog(
                    return_id=row.id, document_id=document_id, at=svc.now(), client=client[:255]
                )
            )
            audit_record(
                session,
                actor_id="citizen",
                actor_role="citizen",
                action="document.download",
                subject_type="document",
                subject_id=document_id,
                dossier_id=row.dossier_id,
                data={"return_id": row.id, "channel": "online"},
                at=svc.now(),
            )
            fresh = session.get(ResultReturn, row.id, with_for_update=True)
            dossier = session.get(Dossier, row.dossier_id, with_for_update=True)
            assert fresh is not None and dossier is not None
            if fresh.completed_at is None and dossier.status == Status.PROCESSED:
                fresh.completed_at = svc.now()
                citizen = Principal(
                    staff_id="citizen", name=dossier.applicant_name, role="citizen", unit_code=None
                )
                self._returned(session, dossier, citizen, "online", "Tải kết quả trực tuyến")
        return match[0]

    def returns(self, principal: Principal, ref: str) -> list[ReturnLog]:
        with self.dossiers.tx() as session:
            dossier = self.dossiers.find(session, principal, ref)
            rows = session.scalars(
                select(ResultReturn)
                .where(ResultReturn.dossier_id == dossier.id)
                .order_by(ResultReturn.created_at)
            )
            return [
                return_log(
                    r,
                    [
                        LinkDownload(
                            at=d.at.isoformat(), document_id=d.document_id, client=d.client
                        )
                        for d in session.scalars(
                            select(DownloadLog)
                            .where(DownloadLog.return_id == r.id)
                            .order_by(DownloadLog.id)
                        )
                    ],
                )
                for r in rows
            ]

    def uncollected(
        self, principal: Principal, *, now: datetime, days: int = 0
    ) -> list[UncollectedDossier]:
        """Processed dossiers whose result has not reached the citizen ``days`` after it was
        ready: nobody came, the parcel came back, or the link ran out unused."""
        principal.require("counter", "auditor", "admin")
        with self.dossiers.tx() as session:
            rows = session.scalars(
                select(Dossier)
                .where(
                    Dossier.status == Status.PROCESSED,
                    unit_filter(principal, Dossier.unit_code),
                    Dossier.finished_at <= now - timedelta(days=days),
                )
                .order_by(Dossier.finished_at)
            )
            out = []
            for d in rows:
                attempts = list(
                    session.scalars(select(ResultReturn).where(ResultReturn.dossier_id == d.id))
                )
                out.append(
                    UncollectedDossier(
                        code=d.code,
                        applicant_name=d.applicant_name,
                        unit_code=d.unit_code,
                        finished_at=_iso(d.finished_at),
                        collect_at=d.collect_at,
                        attempts=[return_view(a) for a in attempts],
                    )
                )
            return out


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _return_fields(r: ResultReturn) -> dict[str, Any]:
    """What every channel's return shows, its channel aside."""
    return {
        "id": r.id,
        "staff_id": r.staff_id,
        "created_at": r.created_at.isoformat(),
        "completed_at": _iso(r.completed_at),
    }


def return_view(r: ResultReturn) -> ReturnView:
    if r.channel == "counter":
        return CounterReturn.of(r)
    if r.channel == "post":
        return PostalReturn.of(r)
    return OnlineReturn.of(r)


def return_log(r: ResultReturn, downloads: list[LinkDownload]) -> ReturnLog:
    """A return with the downloads through its link (none for the counter and the post)."""
    view = return_view(r)
    fields = view.model_dump()
    if isinstance(view, CounterReturn):
        return CounterReturnLog(**fields, downloads=downloads)
    if isinstance(view, PostalReturn):
        return PostalReturnLog(**fields, downloads=downloads)
    return OnlineReturnLog(**fields, downloads=downloads)
