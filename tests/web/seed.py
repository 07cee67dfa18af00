"""A realistic counter database in seconds: dossiers in every status with their papers scanned.

:func:`seed` fills the database of a :class:`~tests.dossiers.world.World` with ``dossiers``
dossiers (1,000 by default) spread over the world's one-stop units — most at ``OWN``, fewer at
``OTHER`` and at the other province's ``FOREIGN`` — and ``documents`` signed documents (10,000):
each dossier's history as the services would have written it (events, the control sheet, fees,
payments and receipts, forms, supplement requests, results and their return), and for every
document its scan, its Vietnamese page texts, its repository record, its search entry and its
link in the audit chain. Rows go in by bulk inserts of the real models, so pages, search,
harvesting and the chain check read them as they read the services' own rows; the counters the
services number from (dossier codes, receipts, tickets, repository, audit) continue after them.

What is shared instead of real: the signed PDFs. A handful of real ones are signed with the
development PKI (one per signer and page count) and every document points at the one that fits,
with its checksum, so a document opens, verifies and passes fixity; writing 10,000 files would
make the seed take minutes. Receipts, forms and forms' files point at the unit's signed PDF too;
originals are not stored. This morning's ticket queue at OWN and OTHER is filled. Nothing here
is a domain rule: it is test data, and the domain reads it only through its own queries.

:func:`seeded_site` serves a seeded world; :data:`MAIN_PAGES` are the screens whose cost and
weight ``test_page_budget.py`` and ``bench/pages.py`` measure; :func:`count_statements` counts
the SQL statements an engine runs, to show a page's cost does not grow with the data.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

from fastapi.testclient import TestClient
from fpdf import FPDF
from sqlalchemy import Engine, Table, event, insert, select, text
from sqlalchemy.orm import Session

from dossiers import calendar as cal
from dossiers.access import BOOTSTRAP
from dossiers.admin import staffing
from dossiers.audit import GENESIS, AuditEvent, canonical, event_hash
from dossiers.fees.amounts import amount_in_words
from dossiers.models import (
    CodeCounter,
    ComponentScan,
    Dossier,
    DossierComponent,
    DossierEvent,
    DossierFee,
    DossierForm,
    Handover,
    Payment,
    Procedure,
    QueueTicket,
    Receipt,
    ReceiptSeries,
    RepositoryRecord,
    Result,
    ResultReturn,
    SupplementRequest,
    Unit,
)
from dossiers.records.repository import _part
from dossiers.records.search import SearchEntry, fold
from dossiers.workflow.lifecycle import Status
from paper.page import FAMILY, a4_document
from storage.db import session_scope
from storage.models import Base, Document, Scan
from tests.dossiers.world import FOREIGN, OTHER, OWN, STAFF, VN, World, make_world

PDF = "application/pdf"
# The morning of the world's clock, as the ``site`` fixture has it: a Friday.
START = datetime(2026, 11, 27, 9, 0, tzinfo=VN)
# Where the dossiers are received, and by whom (FOREIGN has no clerk in the world: the
# development PKI's default clerk stands in).
UNITS: tuple[tuple[str, float, tuple[str, ...]], ...] = (
    (OWN, 0.55, ("lan.nt", "lan.nt", "cong.ch")),
    (OTHER, 0.35, ("minh.tv",)),
    (FOREIGN, 0.10, ("clerk1",)),
)
# How a year's dossiers stand on a given morning.
STATUSES: tuple[tuple[Status, float], ...] = (
    (Status.NEW, 0.04),
    (Status.RECEIVED, 0.04),
    (Status.REFUSED, 0.02),
    (Status.PROCESSING, 0.25),
    (Status.SUPPLEMENT, 0.04),
    (Status.AWAITING_PAYMENT, 0.02),
    (Status.WITHDRAWN, 0.02),
    (Status.STOPPED, 0.01),
    (Status.PROCESSED, 0.10),
    (Status.RETURNED, 0.46),
)
# How far back (working days) dossiers of each status were opened.
AGE = {
    Status.NEW: 0,
    Status.RECEIVED: 3,
    Status.AWAITING_PAYMENT: 5,
    Status.PROCESSING: 20,
    Status.SUPPLEMENT: 20,
    Status.PROCESSED: 25,
}
OLD = 120  # the others: refused, withdrawn, stopped, returned
AGENTS = {unit: staff for staff, (_, role, unit, _) in STAFF.items() if role == "agency" and unit}
FAMILY_NAMES = (
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ",
    "Hồ", "Ngô", "Dương", "Lý",
)  # fmt: skip
MIDDLE_NAMES = ("Văn", "Thị", "Hữu", "Đức", "Minh", "Ngọc", "Thanh", "Quốc", "Thu", "Gia")
GIVEN_NAMES = (
    "An", "Anh", "Bình", "Châu", "Cường", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hiếu", "Hoa",
    "Hùng", "Hương", "Khánh", "Lan", "Linh", "Long", "Mai", "Minh", "Nam", "Nga", "Ngọc",
    "Nhung", "Phúc", "Phương", "Quang", "Quyên", "Sơn", "Tâm", "Thảo", "Thắng", "Trang", "Trung",
    "Tuấn", "Vân", "Việt", "Yến",
)  # fmt: skip
STREETS = (
    "Lê Lợi", "Trần Hưng Đạo", "Nguyễn Trãi", "Hai Bà Trưng", "Quang Trung", "Lý Thường Kiệt",
    "Phan Đình Phùng", "Hùng Vương", "Điện Biên Phủ", "Nguyễn Du",
)  # fmt: skip
PLACES = {OWN: "phường Hòa Bình", OTHER: "xã Tân Lập", FOREIGN: "phường Khác"}
FILLER = (
    "Tôi xin cam đoan những nội dung khai trên đây là đúng sự thật và chịu trách nhiệm trước "
    "pháp luật về cam đoan của mình.",
    "Căn cứ Luật Hộ tịch ngày 20 tháng 11 năm 2014 và Nghị định số 123/2015/NĐ-CP ngày 15 "
    "tháng 11 năm 2015 của Chính phủ.",
    "Đề nghị cơ quan có thẩm quyền xem xét, giải quyết theo quy định.",
    "Hồ sơ gồm các giấy tờ kèm theo được liệt kê tại phiếu kiểm soát quá trình giải quyết.",
    "Người yêu cầu nhận kết quả tại Bộ phận Một cửa theo giấy tiếp nhận và hẹn trả kết quả.",
    "Giấy tờ này có giá trị kể từ ngày ký và được lưu trong kho dữ liệu số hóa của tổ chức, "
    "cá nhân.",
    "Trường hợp có thay đổi thông tin, người yêu cầu có trách nhiệm thông báo cho cơ quan đã "
    "cấp để điều chỉnh.",
    "Xác nhận của cơ quan, tổ chức nơi người yêu cầu cư trú hoặc làm việc.",
    "Thời hạn giải quyết được tính theo ngày làm việc kể từ ngày tiếp nhận đủ hồ sơ hợp lệ.",
    "Trường hợp hồ sơ chưa đầy đủ, cơ quan tiếp nhận hướng dẫn người nộp bổ sung một lần.",
    "Phí, lệ phí được nộp khi tiếp nhận hồ sơ và có biên lai điện tử kèm theo.",
    "Bản sao được cấp từ sổ gốc có giá trị sử dụng thay cho bản chính trong các giao dịch.",
    "Người đi đăng ký xuất trình bản chính giấy tờ tùy thân để đối chiếu.",
    "Nội dung đăng ký được ghi vào sổ và cơ sở dữ liệu điện tử theo quy định.",
    "Cán bộ tiếp nhận kiểm tra tính đầy đủ, hợp lệ của hồ sơ và ghi phiếu hẹn trả kết quả.",
    "Văn bản này được lập thành hai bản, mỗi bên giữ một bản có giá trị như nhau.",
)
# Folded once per distinct line: the fixed clauses make up most of every page.
_fold_line = lru_cache(maxsize=None)(fold)


@dataclass(frozen=True)
class Seeded:
    """What was written, and the rows a page test opens: the busiest dossier of ``OWN`` (a
    returned one with the most documents) and one of its documents."""

    dossiers: int
    documents: int
    seconds: float
    dossier_id: str
    dossier_code: str
    document_id: str
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class _Person:
    name: str
    id_number: str
    phone: str
    address: str
    birth: date


@dataclass
class _Signed:
    key: str
    sha256: str
    size: int
    signer: str
    level: str


@dataclass
class _Batch:
    """Rows per table, inserted together at the end."""

    rows: dict[type[Base], list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    audit: list[dict[str, Any]] = field(default_factory=list)

    def add(self, model: type[Base], **values: Any) -> dict[str, Any]:
        """Queue a row; the dict returned is the row itself, so later steps may still change it."""
        self.rows[model].append(values)
        return values


class _Ids:
    """Ids like the models' ``new_id`` (32 hex digits), but repeatable from the seed."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def __call__(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"


@contextmanager
def count_statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` runs inside the block, in order (pragmas of a new SQLite
    connection and pool pings are not statements of the page and are not counted)."""
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def seed(
    world: World, *, dossiers: int = 1000, documents: int = 10_000, rng_seed: int = 15
) -> Seeded:
    """Fill ``world``'s database; see the module's docstring. Run it once, on a fresh world."""
    started = time.monotonic()
    services = world.services
    rng = random.Random(rng_seed)
    now = world.clock().astimezone(UTC)
    with session_scope(services.sessions) as session:
        procedures = list(
            session.scalars(select(Procedure).where(Procedure.effective_to.is_(None)))
        )
        units = {u.code: u for u in session.scalars(select(Unit))}
        _ensure_series(session)
    with session_scope(services.sessions) as session:
        series = {s.unit_code: s for s in session.scalars(select(ReceiptSeries))}
    work = Path(tempfile.mkdtemp(prefix="seed-", dir=services.settings.work_dir))
    signed = _SignedFiles(services, work)
    builder = _Builder(
        rng=rng,
        now=now,
        procedures=procedures,
        units=units,
        series=series,
        signed=signed,
        calendar=services.dossiers.calendar,
        sessions=services.sessions,
    )
    try:
        builder.build(dossiers, documents)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with session_scope(services.sessions) as session:
        builder.write(session)
    with services.engine.connect() as conn:
        conn.execute(text("ANALYZE"))  # a database in use has statistics; the planner needs them
        conn.commit()
    return Seeded(
        dossiers=dossiers,
        documents=builder.document_count,
        seconds=time.monotonic() - started,
        dossier_id=builder.busiest[0],
        dossier_code=builder.busiest[1],
        document_id=builder.busiest[2],
        counts={m.__tablename__: len(r) for m, r in builder.batch.rows.items()}
        | {"audit_events": len(builder.batch.audit)},
    )


def _ensure_series(session: Session) -> None:
    """The world registers receipt series at OWN and OTHER; FOREIGN's dossiers are paid too."""
    have = set(session.scalars(select(ReceiptSeries.unit_code)))
    if FOREIGN not in have:
        staffing.register_series(
            session,
            BOOTSTRAP,
            unit_code=FOREIGN,
            form_symbol="01BLP0-002",
            series="BL-26K",
            collector_name="Văn phòng Đăng ký đất đai tỉnh Khác",
            collector_tax_code="0107777777",
            collector_address="Thành phố Khác",
            issuer_tax_code="0106666666",
            mandate="Ủy nhiệm lập biên lai (mẫu)",
            valid_from=date(2025, 1, 1),
        )


class _SignedFiles:
    """Real signed PDFs in the store, made on first use: one per (signer, pages)."""

    def __init__(self, services: Any, work: Path) -> None:
        self.services = services
        self.work = work
        self.made: dict[tuple[str, int], _Signed] = {}

    def get(self, signer_id: str, pages: int) -> _Signed:
        found = self.made.get((signer_id, pages))
        if found is None:
            found = self.made[(signer_id, pages)] = self._make(signer_id, pages)
        return found

    def _make(self, signer_id: str, pages: int) -> _Signed:
        svc = self.services
        backend = svc.signers.unit() if signer_id == "unit" else svc.signers.for_clerk(signer_id)
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = self.unsigned(pages), Path(tmp) / "signed.pdf"
            result = svc.document_signer.sign(
                src,
                dst,
                backend,
                stamp_lines=None,
                position="top-right" if signer_id == "unit" else "top-left",
                reason="Dữ liệu thử của sohoa",
                location=svc.settings.signing_location,
            )
            key = f"seed/{signer_id}-{pages}.pdf"
            svc.store.put_file(key, dst, content_type=PDF, sha256=result.sha256)
        return _Signed(key, result.sha256, result.size, result.signer_name, result.level)

    def unsigned(self, pages: int) -> Path:
        """A text PDF of ``pages`` A4 pages in Noto Sans, made once (fpdf2's font subsetting is
        most of the cost) and signed for each signer."""
        path = self.work / f"{pages}.pdf"
        if not path.exists():
            pdf = a4_document(
                FPDF,
                self.services.fonts,
                margins=(20, 20, 20),
                bottom=20,
                title="Tài liệu số hóa (dữ liệu thử)",
                subject="sohoa seed",
                author="sohoa",
                creator="sohoa tests",
                lang="vi",
                created_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
            for number in range(1, pages + 1):
                pdf.add_page()
                pdf.set_font(FAMILY, "B", 14)
                pdf.cell(0, 10, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", align="C")
                pdf.ln(12)
                pdf.set_font(FAMILY, "", 11)
                pdf.multi_cell(0, 6, f"Trang {number}/{pages}. " + " ".join(FILLER))
            pdf.output(str(path))
        return path


class _Builder:
    def __init__(
        self,
        *,
        rng: random.Random,
        now: datetime,
        procedures: list[Procedure],
        units: dict[str, Unit],
        series: dict[str, ReceiptSeries],
        signed: _SignedFiles,
        calendar: Any,
        sessions: Any,
    ) -> None:
        self.rng = rng
        self.new_id = _Ids(rng)
        self.now = now
        self.procedures = procedures
        self.units = units
        self.series = series
        self.signed = signed
        self.batch = _Batch()
        self.rules = cal.rules_in_force(now)
        with session_scope(sessions) as session:
            self.calendar = calendar(session, self.rules)
        self.people: list[_Person] = []
        self.dossiers: list[dict[str, Any]] = []
        self.components: dict[str, list[dict[str, Any]]] = {}
        self.document_count = 0
        self.receipt_numbers: Counter[str] = Counter()
        self.busiest: tuple[str, str, str] = ("", "", "")

    # -- people and time ----------------------------------------------------------------------

    def person(self) -> _Person:
        """A citizen; about one in four comes back with another dossier."""
        if self.people and self.rng.random() < 0.25:
            return self.rng.choice(self.people)
        r = self.rng
        name = f"{r.choice(FAMILY_NAMES)} {r.choice(MIDDLE_NAMES)} {r.choice(GIVEN_NAMES)}"
        person = _Person(
            name=name,
            id_number=f"0{r.randint(1, 96):02d}{r.randint(0, 1)}{r.randint(50, 99):02d}"
            f"{r.randint(0, 999_999):06d}",
            phone=f"09{r.randint(0, 99_999_999):08d}",
            address=f"{r.randint(1, 250)} {r.choice(STREETS)}",
            birth=date(r.randint(1950, 2005), r.randint(1, 12), r.randint(1, 28)),
        )
        self.people.append(person)
        return person

    def working_moment(self, back: int) -> datetime:
        """A moment of office hours up to ``back`` working days before now (today: before now)."""
        today = self.now.astimezone(VN).date()
        day = today
        for _ in range(self.rng.randint(0, back)):
            day -= timedelta(days=1)
            while not self.calendar.is_working_day(day):
                day -= timedelta(days=1)
        start = datetime.combine(day, clock_time(7, 30), tzinfo=VN)
        end = datetime.combine(day, clock_time(16, 30), tzinfo=VN)
        end = min(end, self.now - timedelta(minutes=30))
        if end <= start:
            start = end - timedelta(hours=1)
        seconds = self.rng.uniform(0, (end - start).total_seconds())
        return (start + timedelta(seconds=seconds)).astimezone(UTC)

    def later(self, at: datetime, *, minutes: float = 0, days: float = 0) -> datetime:
        """``at`` plus a random share of the given span; a step that would pass now is cut short
        (time still moves on by a second, so the history stays in order)."""
        span = timedelta(minutes=minutes, days=days) * self.rng.uniform(0.2, 1.0)
        target = min(at + span, self.now - timedelta(seconds=self.rng.randint(60, 600)))
        return max(target, at + timedelta(seconds=1))

    # -- dossiers -----------------------------------------------------------------------------

    def build(self, count: int, documents: int) -> None:
        # Every status at least once at OWN, so even a small seed fills every list of its pages.
        first = [s for s, _ in STATUSES][:count]
        statuses = first + self.rng.choices(
            [s for s, _ in STATUSES], [w for _, w in STATUSES], k=count - len(first)
        )
        unit_picks = [UNITS[0]] * len(first) + self.rng.choices(
            UNITS, [w for _, w, _ in UNITS], k=count - len(first)
        )
        for status, (unit_code, _, clerks) in zip(statuses, unit_picks, strict=True):
            self.dossier(status, unit_code, self.rng.choice(clerks))
        self.number_codes()
        self.scan_papers(documents)
        self.pick_busiest()
        self.tickets()
        self.audit_chain()

    def pick_procedure(self, status: Status) -> Procedure:
        if status == Status.AWAITING_PAYMENT:
            with_fees = [
                p for p in self.procedures if any(f["collect_at"] == "receipt" for f in p.fees)
            ]
            return self.rng.choice(with_fees)
        weights = [5 if p.field_code == "G15-HT" else 2 for p in self.procedures]
        return self.rng.choices(self.procedures, weights, k=1)[0]

    def dossier(self, status: Status, unit_code: str, clerk: str) -> None:
        proc = self.pick_procedure(status)
        who = self.person()
        created = self.working_moment(AGE.get(status, OLD))
        d: dict[str, Any] = {
            "id": self.new_id(),
            "code": None,
            "procedure_id": proc.id,
            "procedure_code": proc.code,
            "unit_code": unit_code,
            "channel": self.rng.choices((1, 2, 3), (85, 10, 5), k=1)[0],
            "status": int(Status.NEW),
            "applicant_name": who.name,
            "applicant_id_type": "CCCD",
            "applicant_id_number": who.id_number,
            "applicant_phone": who.phone,
            "applicant_address": f"{who.address}, {PLACES[unit_code]}",
            "sets": 1,
            "collect_at": self.rng.choices(("counter", "post", "online"), (80, 12, 8), k=1)[0],
            "rules_version": None,
            "created_by": clerk,
            "received_by": None,
            "pending_reception_by": None,
            "confirmed_by": None,
            "received_at": None,
            "original_due_at": None,
            "due_at": None,
            "route": [],
            "route_index": -1,
            "holder_code": unit_code,
            "supplement_count": 0,
            "counted_overdue": False,
            "finished_at": None,
            "returned_at": None,
            "created_at": created,
            "updated_at": created,
        }
        story = _Story(self, d, proc, clerk, who)
        story.tell(status)
        self.dossiers.append(d)
        self.batch.rows[Dossier].append(d)  # the same dict: its code is given later

    def number_codes(self) -> None:
        """Codes ``<unit>-<YYMMDD>-<NNNN>`` in reception order, as the daily sequence gives them."""
        received = sorted(
            (d for d in self.dossiers if d["received_at"] is not None),
            key=lambda d: d["received_at"],
        )
        last: Counter[tuple[str, str]] = Counter()
        for d in received:
            day = d["received_at"].astimezone(VN).strftime("%y%m%d")
            last[(d["unit_code"], day)] += 1
            d["code"] = f"{d['unit_code']}-{day}-{last[(d['unit_code'], day)]:04d}"
            d["_story"].coded(d["code"])
        for (unit_code, day), n in last.items():
            self.batch.add(CodeCounter, scope=f"dossier:{unit_code}", day=day, last=n)
        for d in self.dossiers:
            proc = d["_story"].proc
            words = (d["code"], d["applicant_name"], d["applicant_id_number"], proc.code, proc.name)
            self.batch.add(
                SearchEntry,
                dossier_id=d["id"],
                source="dossier",
                ref_id=d["id"],
                folded=fold(" ".join(w for w in words if w)),
                updated_at=d["updated_at"],
            )

    # -- papers -------------------------------------------------------------------------------

    def scan_papers(self, total: int) -> None:
        """Results first (one per result type of each finished dossier), then ``total`` less
        those spread over the papers to digitize of every dossier past the first check."""
        slots: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for d in self.dossiers:
            story: _Story = d["_story"]
            if d["status"] in (Status.PROCESSED, Status.RETURNED):
                for spec in story.proc.results or [{"code": "KQ", "name": "Kết quả giải quyết"}]:
                    if self.document_count < total:
                        story.result(spec)
            if d["status"] in (Status.NEW, Status.REFUSED) and self.rng.random() < 0.7:
                continue
            slots.extend((d, c) for c in self.components[d["id"]] if c["digitize"])
        left = total - self.document_count
        if not slots or left <= 0:
            return
        self.rng.shuffle(slots)
        per_slot = Counter({i: 1 for i in range(min(left, len(slots)))})
        for i in self.rng.choices(range(len(slots)), k=max(0, left - len(slots))):
            per_slot[i] += 1
        for i, n in per_slot.items():
            d, comp = slots[i]
            for _ in range(n):
                d["_story"].paper(comp)

    def pick_busiest(self) -> None:
        """The dossier of OWN a page test opens: a returned one with the most papers (any with a
        paper in a seed too small to have one), and its first paper."""
        best: tuple[int, int, str, str, str] = (-1, -1, "", "", "")
        for d in self.dossiers:
            docs = [i for c in self.components[d["id"]] for i in c["document_ids"]]
            if docs and d["unit_code"] == OWN:
                rank = (int(d["status"] == Status.RETURNED), len(docs))
                if rank > best[:2]:
                    best = (*rank, d["id"], d["code"] or d["id"], docs[0])
        if best[0] < 0:
            raise ValueError("the seed has no paper at OWN: give it more documents")
        self.busiest = best[2:]

    def document(
        self,
        d: dict[str, Any],
        *,
        signer: str,
        clerk: str,
        sign_as: str,
        at: datetime,
        title: str,
        issuer: str,
    ) -> tuple[str, str, list[str], dict[str, Any], datetime]:
        """A digitized scan and its signed document; returns (scan id, document id, texts,
        fields, signed at)."""
        r = self.rng
        pages = r.choices((1, 2, 3), (60, 30, 10), k=1)[0]
        kind = r.choice(("QĐ-UBND", "TB", "GCN", "TTr"))
        number = f"{r.randint(1, 999)}/{at.astimezone(VN).year}/{kind}"
        texts, folded = _page_texts(r, d, title, issuer, pages, number)
        signed_at = at + timedelta(seconds=r.randint(20, 240))
        fields = {
            "id_numbers": [d["applicant_id_number"]],
            "dates": [
                signed_at.astimezone(VN).date().isoformat(),
                d["_story"].who.birth.isoformat(),
            ],
            "document_numbers": [number],
            "issuing_body": issuer,
            "document_type": None,
            "language": "vi",
        }
        info = [
            {
                "path": "scan",
                "language": "vie",
                "dpi": 300,
                "ocr_confidence": round(r.uniform(78, 96), 1),
            }
            for _ in range(pages)
        ]
        scan_id, doc_id = self.new_id(), self.new_id()
        original = hashlib.sha256(scan_id.encode()).hexdigest()
        ocr_sha = hashlib.sha256(doc_id.encode()).hexdigest()
        file = self.signed.get(signer, pages)
        self.batch.add(
            Scan,
            id=scan_id,
            status="digitized",
            step=None,
            filename=f"scan-{r.randint(1, 9999):04d}.jpg",
            media_type="image/jpeg",
            size=r.randint(250_000, 2_500_000) * pages,
            sha256=original,
            original_key=f"originals/{scan_id}",
            source_key=None,
            clerk_id=clerk,
            unit_code=d["unit_code"],
            sign_as=sign_as,
            sign_options=None,
            pages_total=pages,
            pages_done=pages,
            attempts=1,
            lease_until=None,
            worker=None,
            reason_code=None,
            reason_message=None,
            warnings=[],
            ocr_key=None,
            ocr_result={
                "pages": pages,
                "language": "vie",
                "page_texts": texts,
                "fields": fields,
                "rotated_pages": [],
                "deskewed_pages": [],
                "ocr_sha256": ocr_sha,
                "page_info": info,
                "attachments": [],
            },
            created_at=at,
            updated_at=signed_at,
            finished_at=signed_at,
            ocr_languages=None,
        )
        self.batch.add(
            Document,
            id=doc_id,
            scan_id=scan_id,
            object_key=file.key,
            sha256=file.sha256,
            size=file.size,
            pages=pages,
            language="vie",
            original_sha256=original,
            ocr_sha256=ocr_sha,
            page_texts=texts,
            fields=fields,
            signer_name=file.signer,
            clerk_id=clerk,
            pades_level=file.level,
            signed_at=signed_at,
            created_at=signed_at,
            page_info=info,
            input_signatures=[],
            attachments=[],
            pdfa_source="converted",
        )
        self.batch.add(
            SearchEntry,
            dossier_id=d["id"],
            source="document",
            ref_id=doc_id,
            folded=folded,
            updated_at=signed_at,
        )
        self.audit(
            signed_at,
            clerk if sign_as == "clerk" else "unit",
            "pipeline",
            "document.signed",
            "document",
            doc_id,
            d["id"],
            {
                "scan_id": scan_id,
                "sha256": file.sha256,
                "pades_level": file.level,
                "sign_as": sign_as,
                "signer": file.signer,
            },
        )
        self.document_count += 1
        return scan_id, doc_id, texts, fields, signed_at

    def record(
        self,
        d: dict[str, Any],
        doc_id: str,
        texts: list[str],
        fields: dict[str, Any],
        at: datetime,
        *,
        kind: str,
        doc_type: str,
        title: str,
        digitizer: str,
        hidden: bool,
    ) -> None:
        """The document's entry in the citizen's repository (its ``seq`` is given later)."""
        proc: Procedure = d["_story"].proc
        number = fields["document_numbers"][0]
        self.batch.add(
            RepositoryRecord,
            id=self.new_id(),
            seq=0,
            code="",
            owner_id=d["applicant_id_number"],
            owner_id_type=d["applicant_id_type"],
            doc_type=doc_type,
            title=title,
            number_symbol=number[:64],
            issue_date=date.fromisoformat(fields["dates"][0]),
            issuer=fields["issuing_body"],
            valid_until=None,
            permanent=kind == "result",
            scope="",
            kind=kind,
            digitizer_id=digitizer,
            digitized_at=at,
            dossier_id=d["id"],
            dossier_code="",
            procedure_code=proc.code,
            field_code=proc.field_code,
            unit_code=d["unit_code"],
            document_id=doc_id,
            fields=fields,
            text="\n".join(texts),
            hidden=hidden,
            deleted=False,
            updated_at=at,
            _dossier=d,
        )

    def tickets(self, per_unit: int = 24) -> None:
        """This morning's queue at OWN and OTHER: most served, a few at a desk, some waiting."""
        r = self.rng
        local = self.now.astimezone(VN)
        day = local.strftime("%y%m%d")
        opened = datetime.combine(local.date(), clock_time(7, 30), tzinfo=VN).astimezone(UTC)
        for unit_code, clerk in ((OWN, "lan.nt"), (OTHER, "minh.tv")):
            for n in range(1, per_unit + 1):
                issued = opened + (self.now - opened) * (n / (per_unit + 1))
                share = n / per_unit
                called = served = None
                if share <= 0.8:
                    called = min(issued + timedelta(minutes=r.uniform(2, 14)), self.now)
                if share <= 0.7 and called is not None:
                    served = min(called + timedelta(minutes=r.uniform(3, 12)), self.now)
                self.batch.add(
                    QueueTicket,
                    id=self.new_id(),
                    unit_code=unit_code,
                    day=day,
                    number=n,
                    issued_at=issued,
                    called_at=called,
                    served_at=served,
                    staff_id=clerk if called else None,
                    dossier_id=None,
                )
            self.batch.add(CodeCounter, scope=f"ticket:{unit_code}", day=day, last=per_unit)

    # -- the audit chain ----------------------------------------------------------------------

    def audit(
        self,
        at: datetime,
        actor_id: str,
        actor_role: str,
        action: str,
        subject_type: str,
        subject_id: str,
        dossier_id: str | None,
        data: dict[str, Any],
    ) -> None:
        self.batch.audit.append(
            {
                "at": at,
                "actor_id": actor_id,
                "actor_role": actor_role,
                "action": action,
                "subject_type": subject_type,
                "subject_id": subject_id,
                "dossier_id": dossier_id,
                "data": json.loads(canonical(data)),
            }
        )

    def audit_chain(self) -> None:
        """Number the events in time order and chain their hashes, as :func:`dossiers.audit.record`
        would have one by one."""
        prev = GENESIS
        self.batch.audit.sort(key=lambda e: e["at"])
        for seq, e in enumerate(self.batch.audit, 1):
            e["seq"], e["prev_hash"] = seq, prev
            e["hash"] = prev = event_hash(**e)
        if self.batch.audit:
            self.batch.add(CodeCounter, scope="audit", day="all", last=len(self.batch.audit))

    # -- writing ------------------------------------------------------------------------------

    def write(self, session: Session) -> None:
        """Everything in dependency order; the repository's numbers are given here, in
        digitization order, with the counters that continue them."""
        records = sorted(self.batch.rows[RepositoryRecord], key=lambda r: r["digitized_at"])
        stems: Counter[str] = Counter()
        for seq, r in enumerate(records, 1):
            d = r.pop("_dossier")
            r["seq"], r["dossier_code"] = seq, d["code"] or ""
            stem = ".".join(
                _part(p) for p in (r["owner_id"], r["doc_type"], r["number_symbol"] or "0")
            )
            stems[stem] += 1
            r["code"] = f"{stem}.{stems[stem]:02d}"
        if records:
            self.batch.add(CodeCounter, scope="repository", day="all", last=len(records))
        for stem, n in stems.items():
            self.batch.add(CodeCounter, scope=f"dgt:{stem}"[:64], day="all", last=n)
        for number_scope, n in self.receipt_numbers.items():
            self.batch.add(CodeCounter, scope=number_scope, day="all", last=n)
        for d in self.batch.rows[Dossier]:
            d.pop("_story", None)
        order = (
            Dossier,
            DossierComponent,
            DossierEvent,
            Handover,
            SupplementRequest,
            DossierForm,
            DossierFee,
            Payment,
            Receipt,
            Scan,
            Document,
            ComponentScan,
            Result,
            ResultReturn,
            RepositoryRecord,
            SearchEntry,
            QueueTicket,
            CodeCounter,
        )
        for model in order:
            rows = self.batch.rows.get(model)
            if rows:
                # Core inserts: one executemany a table, the columns' types still applied.
                session.execute(insert(cast(Table, model.__table__)), rows)
        session.execute(insert(cast(Table, AuditEvent.__table__)), self.batch.audit)


class _Story:
    """One dossier's life up to ``status``: the rows the services would have written."""

    def __init__(
        self, builder: _Builder, d: dict[str, Any], proc: Procedure, clerk: str, who: _Person
    ) -> None:
        self.b = builder
        self.d = d
        self.proc = proc
        self.clerk = clerk
        self.who = who
        self.at = d["created_at"]
        self.coded_later: list[dict[str, Any]] = []
        d["_story"] = self

    # -- the steps ----------------------------------------------------------------------------

    def tell(self, status: Status) -> None:
        d, b = self.d, self.b
        self.event("create", None, procedure_version=self.proc.version)
        comps = []
        for c in self.proc.components:
            comps.append(
                b.batch.add(
                    DossierComponent,
                    id=b.new_id(),
                    dossier_id=d["id"],
                    key=c["key"],
                    name=c["name"],
                    kind=c["kind"],
                    count=c["count"],
                    required=c["required"],
                    digitize=c["digitize"],
                    provided=0,
                    document_ids=[],
                )
            )
        b.components[d["id"]] = comps
        if status == Status.NEW:
            return
        self.step(minutes=8)
        for c in comps:
            c["provided"] = c["count"] if c["required"] or b.rng.random() < 0.5 else 0
        self.event("check", d["status"], provided={c["key"]: c["provided"] for c in comps})
        self.step(minutes=6)
        if status == Status.REFUSED:
            self.move("refuse", Status.REFUSED, reason="Hồ sơ không thuộc thẩm quyền tiếp nhận")
            d["finished_at"] = self.at
            self.form("03")
            return
        self.receive()
        if status == Status.AWAITING_PAYMENT:
            self.step(minutes=4)
            due = [f for f in self.fees if f["collect_at"] == "receipt"]
            self.move(
                "await_payment",
                Status.AWAITING_PAYMENT,
                reason="Chưa nộp phí, lệ phí",
                fees=[{"code": f["code"], "amount": f["amount"]} for f in due],
            )
            return
        self.pay("receipt")
        if status == Status.RECEIVED:
            return
        if status == Status.WITHDRAWN:
            self.step(days=2)
            self.move("withdraw", Status.WITHDRAWN, reason="Công dân xin rút hồ sơ")
            d["finished_at"] = self.at
            return
        self.route()
        if status == Status.STOPPED:
            self.step(days=3)
            self.move(
                "stop",
                Status.STOPPED,
                reason="Dừng xử lý theo đề nghị của cơ quan",
                actor=self.agent,
            )
            d["finished_at"] = self.at
            return
        if status == Status.PROCESSING:
            return
        if status == Status.SUPPLEMENT:
            self.step(days=2)
            self.supplement_request()
            return
        while d["route_index"] + 1 < len(d["route"]):
            self.forward()
        self.step(days=max(1, self.proc.processing_days * 0.8))
        self.move("finish", Status.PROCESSED, actor=self.agent)
        d["finished_at"] = self.at
        self.handover(d["unit_code"], note="Trả kết quả về Bộ phận Một cửa")
        if status == Status.PROCESSED:
            return
        self.step(days=3)
        self.pay("return")
        self.give_back()

    def step(self, *, minutes: float = 0, days: float = 0) -> None:
        self.at = self.b.later(self.at, minutes=minutes, days=days)

    @property
    def agent(self) -> str:
        """Who acts for the agency holding the dossier now."""
        return _agent(self.d["holder_code"])

    def event(
        self,
        action: str,
        before: int | None,
        *,
        reason: str = "",
        actor: str | None = None,
        **data: Any,
    ) -> dict[str, Any]:
        d = self.d
        actor = actor or self.clerk
        role = "counter" if actor == self.clerk else "agency"
        row = self.b.batch.add(
            DossierEvent,
            dossier_id=d["id"],
            at=self.at,
            actor_id=actor,
            action=action,
            from_status=before,
            to_status=d["status"],
            reason=reason,
            data=data,
        )
        self.b.audit(
            self.at,
            actor,
            role,
            f"dossier.{action}",
            "dossier",
            d["id"],
            d["id"],
            {"from_status": before, "to_status": d["status"], **data},
        )
        d["updated_at"] = self.at
        return row

    def move(
        self, action: str, to: Status, *, reason: str = "", actor: str | None = None, **data: Any
    ) -> dict[str, Any]:
        before = self.d["status"]
        self.d["status"] = int(to)
        return self.event(action, before, reason=reason, actor=actor, **data)

    def receive(self) -> None:
        d, b = self.d, self.b
        d["received_at"] = self.at
        d["received_by"] = self.clerk
        d["rules_version"] = b.rules.version
        d["due_at"] = d["original_due_at"] = cal.due_at(
            self.at, self.proc.processing_days, b.calendar, b.rules
        ).astimezone(UTC)
        # Its code is known once every reception is numbered: the event waits for it.
        row = self.move(
            "receive",
            Status.RECEIVED,
            code=None,
            rules_version=b.rules.version,
            due_at=d["due_at"].isoformat(),
            received_by=self.clerk,
            confirmed_by=None,
        )
        self.coded_later += [row["data"], b.batch.audit[-1]["data"]]
        self.fees = [
            b.batch.add(
                DossierFee,
                id=b.new_id(),
                dossier_id=d["id"],
                code=f["code"],
                name=f["name"],
                kind=f["kind"],
                amount=int(f["amount"]),
                collect_at=f["collect_at"],
                status="due",
                payment_id=None,
                created_at=self.at,
            )
            for f in self.proc.fees
            if f["collect_at"] in ("receipt", "return")
        ]
        self.form("01")

    def coded(self, code: str) -> None:
        """The daily number is known: the reception's event and its audit data carry it."""
        for data in self.coded_later:
            data["code"] = code

    def pay(self, stage: str) -> None:
        d, b = self.d, self.b
        due = [f for f in self.fees if f["collect_at"] == stage and f["status"] == "due"]
        if not due:
            return
        self.step(minutes=3)
        series = b.series[d["unit_code"]]
        scope = f"receipt:{series.id}"
        b.receipt_numbers[scope] += 1
        number = b.receipt_numbers[scope]
        amount = sum(f["amount"] for f in due)
        method = b.rng.choices(("cash", "transfer"), (70, 30), k=1)[0]
        payment = b.batch.add(
            Payment,
            id=b.new_id(),
            dossier_id=d["id"],
            unit_code=d["unit_code"],
            staff_id=self.clerk,
            method=method,
            reference="" if method == "cash" else f"FT{b.rng.randint(10**9, 10**10 - 1)}",
            amount=amount,
            payer_name=d["applicant_name"],
            payer_address=d["applicant_address"],
            payer_tax_code="",
            fee_ids=[f["id"] for f in due],
            paid_at=self.at,
            reversed_at=None,
        )
        for f in due:
            f["status"], f["payment_id"] = "paid", payment["id"]
        form = b.signed.get("unit", 1)
        base = f"receipts/{series.id}/{number:07d}"
        b.batch.add(
            Receipt,
            id=b.new_id(),
            series_id=series.id,
            form_symbol=series.form_symbol,
            series=series.series,
            number=number,
            payment_id=payment["id"],
            dossier_id=d["id"],
            unit_code=d["unit_code"],
            staff_id=self.clerk,
            issued_at=self.at,
            method=method,
            amount=amount,
            amount_words=amount_in_words(amount),
            payer_name=d["applicant_name"],
            lines=[{"name": f["name"], "amount": f["amount"]} for f in due],
            status="issued",
            void_reason=None,
            voided_at=None,
            voided_by=None,
            replaces_id=None,
            # The receipt's own files are not written: the seed's signed PDF stands in.
            xml_key=f"{base}.xml",
            xml_sha256=hashlib.sha256(base.encode()).hexdigest(),
            pdf_key=form.key,
            pdf_sha256=form.sha256,
        )
        self.event(
            "payment",
            d["status"],
            amount=amount,
            method=method,
            receipt=number,
            series=series.series,
        )

    def route(self) -> None:
        d = self.d
        self.step(minutes=90)
        d["route"], d["route_index"] = list(self.proc.agency_codes), 0
        self.move("route", Status.PROCESSING, route=list(self.proc.agency_codes))
        self.handover(d["route"][0])
        self.take()

    def take(self) -> None:
        self.step(days=1)
        self.move("take", Status.PROCESSING, actor=self.agent)
        row = self.last_handover
        row["taken_at"], row["taken_by"] = self.at, self.agent

    def forward(self) -> None:
        d = self.d
        self.step(days=max(1, self.proc.processing_days * 0.3))
        self.move("forward", Status.PROCESSING, actor=self.agent)
        d["route_index"] += 1
        self.handover(d["route"][d["route_index"]], note="Liên thông", actor=self.agent)
        self.take()

    def supplement_request(self) -> None:
        d, b = self.d, self.b
        items = [b.rng.choice(self.proc.components)["name"]]
        reason = "Giấy tờ nộp kèm chưa rõ nội dung, đề nghị bổ sung bản chính"
        agent = self.agent
        self.move(
            "request_supplement",
            Status.SUPPLEMENT,
            reason=reason,
            actor=agent,
            items=items,
            stage="agency",
        )
        d["supplement_count"] = 1
        self.handover(d["unit_code"], note="Yêu cầu bổ sung hồ sơ", actor=agent)
        b.batch.add(
            SupplementRequest,
            id=b.new_id(),
            dossier_id=d["id"],
            requested_by=agent,
            requested_at=self.at,
            stage="agency",
            items=items,
            reason=reason,
            fulfilled_at=None,
            fulfilled_by=None,
        )
        self.form("02")

    def give_back(self) -> None:
        d, b = self.d, self.b
        channel = {"counter": "counter", "post": "post", "online": "online"}[d["collect_at"]]
        row: dict[str, Any] = {
            "id": b.new_id(),
            "dossier_id": d["id"],
            "channel": channel,
            "staff_id": self.clerk,
            "created_at": self.at,
            "recipient_name": "",
            "recipient_id": "",
            "relation": "",
            "record_key": None,
            "tracking_number": "",
            "postal_fee": 0,
            "postal_status": "",
            "postal_history": [],
            "link_sha256": None,
            "link_expires_at": None,
            "completed_at": self.at,
        }
        if channel == "counter":
            note = f"Người nhận: {d['applicant_name']} (bản thân)"
            row |= {
                "recipient_name": d["applicant_name"],
                "recipient_id": d["applicant_id_number"],
                "relation": "bản thân",
            }
        elif channel == "post":
            note = "Gửi qua bưu chính công ích"
            row |= {
                "tracking_number": f"EB{b.rng.randint(10**8, 10**9 - 1)}VN",
                "postal_fee": 25_000,
                "postal_status": "delivered",
                "postal_history": [
                    {"status": "accepted", "at": self.at.isoformat()},
                    {"status": "delivered", "at": self.at.isoformat()},
                ],
            }
        else:
            note = "Trả kết quả trực tuyến"
            row |= {
                "link_sha256": hashlib.sha256(row["id"].encode()).hexdigest(),
                "link_expires_at": self.at + timedelta(hours=72),
            }
        b.batch.add(ResultReturn, **row)
        self.move("return", Status.RETURNED, reason=note, channel=channel)
        d["returned_at"] = self.at
        self.handover("citizen", note=note)
        d["holder_code"] = None

    # -- rows of the steps ---------------------------------------------------------------------

    def handover(self, to_party: str, *, note: str = "", actor: str | None = None) -> None:
        d = self.d
        due = d["due_at"]
        self.last_handover = self.b.batch.add(
            Handover,
            dossier_id=d["id"],
            from_party=d["holder_code"] or d["unit_code"],
            to_party=to_party,
            given_by=actor or self.clerk,
            handed_at=self.at,
            taken_by=None,
            taken_at=None,
            due_at=due,
            result=cal.timeliness(self.at, due) if due else None,
            note=note,
        )
        d["holder_code"] = None if to_party == "citizen" else to_party

    def form(self, form_no: str) -> None:
        d, b = self.d, self.b
        file = b.signed.get("unit", 1)
        row = b.batch.add(
            DossierForm,
            id=b.new_id(),
            dossier_id=d["id"],
            form_no=form_no,
            object_key=file.key,
            sha256=file.sha256,
            size=file.size,
            issued_by=self.clerk,
            issued_at=self.at,
            qr_payload="",
        )
        payload = {
            "ma_tthc": self.proc.code,
            "mau": form_no,
            "ma_dinh_danh": d["applicant_id_number"],
        }
        row["qr_payload"] = json.dumps(payload, ensure_ascii=False, sort_keys=True)

    def paper(self, comp: dict[str, Any]) -> None:
        """A scan of ``comp`` made at the counter around the reception, signed by the clerk."""
        d, b = self.d, self.b
        at = d["received_at"] or d["created_at"]
        at = b.later(at, minutes=20)
        unit = b.units[d["unit_code"]]
        scan_id, doc_id, texts, fields, signed_at = b.document(
            d,
            signer=self.clerk,
            clerk=self.clerk,
            sign_as="clerk",
            at=at,
            title=comp["name"],
            issuer=unit.name,
        )
        b.batch.add(
            ComponentScan,
            scan_id=scan_id,
            component_id=comp["id"],
            dossier_id=d["id"],
            sha256=hashlib.sha256(scan_id.encode()).hexdigest(),
            created_at=at,
        )
        comp["document_ids"].append(doc_id)
        b.record(
            d,
            doc_id,
            texts,
            fields,
            signed_at,
            kind="component",
            doc_type=comp["key"],
            title=comp["name"],
            digitizer=self.clerk,
            hidden=False,
        )

    def result(self, spec: dict[str, Any]) -> None:
        """The agency's result paper, signed by the organization; hidden until returned."""
        d, b = self.d, self.b
        at = d["finished_at"] - timedelta(minutes=30)
        agent = self.route_agent(-1)
        agency = b.units.get(d["route"][-1]) if d["route"] else None
        scan_id, doc_id, texts, fields, signed_at = b.document(
            d,
            signer="unit",
            clerk=agent,
            sign_as="unit",
            at=at,
            title=spec["name"],
            issuer=agency.name if agency else "",
        )
        hidden = d["status"] != Status.RETURNED
        b.batch.add(
            Result,
            id=b.new_id(),
            dossier_id=d["id"],
            scan_id=scan_id,
            document_id=doc_id,
            code=spec["code"],
            name=spec["name"],
            valid_until=None,
            scope="",
            hidden=hidden,
            uploaded_by=agent,
            created_at=at,
        )
        b.record(
            d,
            doc_id,
            texts,
            fields,
            signed_at,
            kind="result",
            doc_type=spec["code"],
            title=spec["name"],
            digitizer=agent,
            hidden=hidden,
        )

    def route_agent(self, index: int) -> str:
        return _agent(self.d["route"][index] if self.d["route"] else self.d["unit_code"])


def _agent(unit_code: str | None) -> str:
    """The world's officer of an agency; agencies without one act as ``cb.<unit code>``."""
    return AGENTS.get(unit_code or "", f"cb.{unit_code}")


def _page_texts(
    rng: random.Random, d: dict[str, Any], title: str, issuer: str, pages: int, number: str
) -> tuple[list[str], str]:
    """What OCR reads off a Vietnamese administrative paper: the national header, the title,
    the applicant's particulars, a few clauses, and later pages with more clauses; with the
    text folded for the search index (as :func:`dossiers.records.search.fold` of the whole)."""
    story: _Story = d["_story"]
    who = story.who
    first = [
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        title.upper(),
        f"Kính gửi: {issuer}",
        f"Họ, chữ đệm, tên người yêu cầu: {who.name}",
        f"Số định danh cá nhân: {who.id_number}",
        f"Ngày, tháng, năm sinh: {who.birth:%d/%m/%Y}",
        f"Nơi cư trú: {d['applicant_address']}",
        f"Số điện thoại: {who.phone}",
        *rng.sample(FILLER, 6),
        f"Số: {number}",
    ]
    lines = [first] + [rng.sample(FILLER, 12) for _ in range(pages - 1)]
    texts = ["\n".join(page) for page in lines]
    folded = " ".join(_fold_line(line) for page in lines for line in page)
    return texts, folded


# -- the main pages on a seeded site --------------------------------------------------------


@dataclass(frozen=True)
class MainPage:
    """A main screen: who opens it (None: nobody signed in) and its path, whose ``{dossier}``,
    ``{document}``, ``{code}`` and ``{secret}`` are filled from the seeded rows."""

    name: str
    staff_id: str | None
    path: str


MAIN_PAGES: tuple[MainPage, ...] = (
    MainPage("login", None, "/web/login"),
    MainPage("counter", "lan.nt", "/web/counter"),
    MainPage("dossiers", "lan.nt", "/web/dossiers"),
    MainPage("dossiers-search", "lan.nt", "/web/dossiers?q=nguyen"),
    MainPage("dossier", "lan.nt", "/web/dossiers/{dossier}"),
    MainPage("deadlines", "lan.nt", "/web/deadlines"),
    MainPage("agency", "tuphap", "/web/agency"),
    MainPage("audit", "kiemtra", "/web/audit"),
    MainPage("audit-search", "kiemtra", "/web/audit?q=nguyen+van"),
    MainPage("document", "kiemtra", "/web/documents/{document}"),
    MainPage("admin", "quantri", "/web/admin"),
    MainPage("connections", "quantri", "/web/admin/connections"),
    MainPage("status", None, "/web/status/{code}?s={secret}"),
)
_NONCE = re.compile(r'name="nonce" value="([^"]+)"')
_ASSET = re.compile(r'<(?:link|script|img)\b[^>]*?\b(?:href|src)="(/web/static/[^"]+)"')


@dataclass
class SeededSite:
    """The application over a seeded database, with a signed-in client per staff member."""

    world: World
    seeded: Seeded
    app: Any
    clients: dict[str | None, TestClient] = field(default_factory=dict)

    def client(self, staff_id: str | None) -> TestClient:
        """A browser of its own for ``staff_id``, signed in through the form (None: anonymous)."""
        found = self.clients.get(staff_id)
        if found is None:
            found = self.clients[staff_id] = TestClient(self.app)
            if staff_id is not None:
                form = found.get("/web/login")
                nonce = _NONCE.search(form.text)
                assert nonce, form.text
                signed = found.post(
                    "/web/login",
                    data={"token": self.world.tokens[staff_id], "nonce": nonce.group(1)},
                    follow_redirects=False,
                )
                assert signed.status_code == 303, signed.text
        return found

    def path(self, page: MainPage) -> str:
        values = {"dossier": self.seeded.dossier_code, "document": self.seeded.document_id}
        if "{secret}" in page.path:
            values |= {"code": self.seeded.dossier_code, "secret": self.status_secret()}
        return page.path.format(**values)

    def status_secret(self) -> str:
        """The short secret printed on the busiest dossier's receipt (the citizen's page)."""
        try:
            from dossiers.workflow.lookup import status_secret
        except ImportError as exc:  # the citizen's page is not built yet
            raise LookupError(f"no status secret to open the citizen's page: {exc}") from exc
        return str(status_secret(self.world.services.url_secret, self.seeded.dossier_code))

    def get(self, page: MainPage) -> Any:
        return self.client(page.staff_id).get(self.path(page), follow_redirects=False)

    def weight(self, page: MainPage, html: bytes) -> tuple[int, int]:
        """(bytes of the HTML, bytes of the HTML and every asset it loads from us)."""
        client = self.client(page.staff_id)
        assets = sorted(set(_ASSET.findall(html.decode(errors="replace"))))
        total = len(html)
        for url in assets:
            resp = client.get(url.replace("&amp;", "&"))
            assert resp.status_code == 200, f"{url} answered {resp.status_code}"
            total += len(resp.content)
        return len(html), total

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
        self.world.services.engine.dispose()


def seeded_site(
    data_dir: Path,
    *,
    dossiers: int,
    documents: int,
    app: Callable[[Any], Any] | None = None,
    **settings: Any,
) -> SeededSite:
    """A world in ``data_dir`` on the embedded default (or ``database_url=``), seeded, served by
    ``wiring.asgi.application`` (wrapped by ``app`` if given, e.g. a timer)."""
    from core.settings import Settings
    from tests.conftest import TOKEN
    from wiring.asgi import application
    from wiring.factory import build

    values: dict[str, Any] = {
        "data_dir": data_dir,
        "api_token": TOKEN,
        "ocr_jobs": 1,
        "broker_poll_interval": 0.05,
        "pki": "development",
    }
    values.update(settings)
    services = build(Settings(**values))
    world = make_world(services, START)
    seeded = seed(world, dossiers=dossiers, documents=documents)
    asgi = application(services)
    return SeededSite(world, seeded, app(asgi) if app else asgi)
