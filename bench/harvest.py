"""Harvest benchmark: the change feed and OAI-PMH pages over a million records on PostgreSQL.

Creates its own database on the server at ``--url`` (dropped afterwards unless ``--keep``),
migrates it with Alembic, adds the indexes harvesting wants (``INDEXES``, unless
``--no-extra-indexes``), COPYs N records in plus two pages more, then measures in-process,
through the very functions the API calls:

(a) the feed: every record read with :func:`dossiers.records.harvest.feed` in pages of 1000, one session
    per page as the API opens, encoded by the router's response model -> records/s (goal >= 5,000/s);
(b) one ListRecords page of 100 built by :func:`dossiers.records.harvest.respond`, at the start and at
    offset N (through a resumption token), median of ``--runs`` -> ms (goal <= 100 ms both);
    then the same for other formats, sets and a ``from`` harvest, for the index choice.

The machine is shared, so only figures of one run compare. Usage:
``python bench/harvest.py [--records 1000000] [--url postgresql+psycopg://postgres@127.0.0.1:5432/]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from dossiers.access import Principal  # noqa: E402
from dossiers.models import CodeCounter, Dossier, Procedure, Unit  # noqa: E402
from dossiers.records import harvest  # noqa: E402
from storage import db  # noqa: E402
from storage.db import session_scope  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/"
FEED_PAGE = 1000
OAI_PAGE = 100
FEED_GOAL = 5000  # records/s
PAGE_GOAL = 0.100  # s
T0 = datetime(2025, 1, 1, tzinfo=UTC)
STEP = timedelta(seconds=30)  # a million records span a year
HARVESTER = Principal(staff_id="bench", name="bench", role="harvester", unit_code=None)
# A national harvester: granted every province, as the provincial-database harvester of a
# single-province deployment would be.
GRANTS = {"bench": ["*"]}
# What the report asks migration 0007 to add: keyset scans inside a set, and ``from`` harvests
# that start near the end. The single-column field/unit indexes become redundant prefixes.
INDEXES = {
    "ix_repository_records_field_seq": "(field_code, seq)",
    "ix_repository_records_unit_seq": "(unit_code, seq)",
    "ix_repository_records_updated_at": "(updated_at)",
}
# Field shares: a common field, two middling ones and a rare one (1 %).
FIELDS = (("G15-HT", 50), ("G10-DD", 30), ("G12-HKD", 19), ("G17-XD", 1))
PROCEDURES = {
    "G15-HT": "1.001193",
    "G10-DD": "1.004227",
    "G12-HKD": "2.000720",
    "G17-XD": "1.009994",
}
UNITS = tuple(f"000.00.{n:02d}.H99" for n in range(10, 20))
DOSSIERS = 1000
COLUMNS = (
    "id, seq, code, owner_id, owner_id_type, doc_type, title, number_symbol, issue_date, issuer, "
    "valid_until, permanent, scope, kind, digitizer_id, digitized_at, dossier_id, dossier_code, "
    "procedure_code, field_code, unit_code, document_id, fields, text, hidden, deleted, updated_at"
)
OCR_TEXT = (
    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\\nĐộc lập - Tự do - Hạnh phúc\\nGIẤY KHAI SINH\\n"
    "Họ, chữ đệm, tên: NGUYỄN VĂN AN\\nNgày, tháng, năm sinh: 01/01/2020\\nGiới tính: Nam\\n"
    "Dân tộc: Kinh  Quốc tịch: Việt Nam\\nNơi sinh: Bệnh viện Đa khoa tỉnh\\n"
    "Họ, chữ đệm, tên người mẹ: TRẦN THỊ BÌNH  Năm sinh: 1995\\n"
    "Họ, chữ đệm, tên người cha: NGUYỄN VĂN CƯỜNG  Năm sinh: 1993\\n"
    "Người đi khai sinh: Nguyễn Văn Cường  Giấy tờ tùy thân: CCCD 001093012345\\n"
)


def pg_conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def field_of(i: int) -> str:
    slot = (i * 37) % 100  # a fixed, well-spread share per field
    for code, share in FIELDS:
        if slot < share:
            return code
        slot -= share
    raise AssertionError("shares do not add up to 100")


def seed(sessions: sessionmaker[Session]) -> list[tuple[str, str, str]]:
    """Units, one procedure per field and dossiers for the records to point at."""
    with session_scope(sessions) as session:
        for code in UNITS:
            session.add(
                Unit(
                    code=code,
                    name=f"UBND phường {code[7:9]}",
                    kind="one_stop",
                    level="commune",
                    province_code="H99",
                    valid_from=date(2025, 1, 1),
                )
            )
        procs = {}
        for field, code in PROCEDURES.items():
            proc = Procedure(
                code=code,
                version=1,
                effective_from=date(2025, 1, 1),
                name=f"Thủ tục {code}",
                field_code=field,
                field_name=f"Lĩnh vực {field}",
                level="commune",
                agency_codes=[],
                processing_days=1,
                components=[],
            )
            session.add(proc)
            procs[field] = proc
        session.flush()
        dossiers = []
        for n in range(DOSSIERS):
            field = FIELDS[n % len(FIELDS)][0]
            d = Dossier(
                procedure_id=procs[field].id,
                procedure_code=PROCEDURES[field],
                unit_code=UNITS[n % len(UNITS)],
                applicant_name="Nguyễn Văn An",
                applicant_id_type="CCCD",
                applicant_id_number=f"{n:012d}",
                created_by="bench",
                code=f"{UNITS[n % len(UNITS)]}-250101-{n:04d}",
            )
            session.add(d)
            dossiers.append(d)
        session.flush()
        return [(d.id, d.code or "", d.unit_code) for d in dossiers]


def rows(total: int, dossiers: list[tuple[str, str, str]]) -> Iterator[str]:
    """COPY text lines; nothing generated contains a tab, a newline or a backslash escape
    other than the ``\\n`` of the OCR text."""
    for i in range(total):
        seq = i + 1
        dossier_id, dossier_code, unit = dossiers[i % len(dossiers)]
        field = field_of(i)
        result = i % 5 == 0
        at = (T0 + i * STEP).isoformat()
        owner = f"{(i * 7919) % 400_000:012d}"
        number = f"{i}/GKS"
        fields = json.dumps(
            {
                "id_numbers": [owner, "001093012345"],
                "dates": ["2020-01-01"],
                "document_numbers": [number],
                "issuing_body": "UBND phường Hòa Bình",
                "document_type": "giay_khai_sinh",
                "language": "vi",
            },
            ensure_ascii=False,
        )
        yield (
            "\t".join(
                (
                    uuid.uuid4().hex,
                    str(seq),
                    f"{owner}.GIAY-KHAI-SINH.{i}-GKS.01",
                    owner,
                    "CCCD",
                    "KQ.G15.000001" if result else "giay_khai_sinh",
                    "Trích lục khai sinh" if result else "Giấy khai sinh",
                    number,
                    (date(2020, 1, 1) + timedelta(days=i % 2000)).isoformat(),
                    "UBND phường Hòa Bình",
                    "2031-01-01" if result and i % 2 else "\\N",
                    "t" if result and not i % 2 else "f",
                    "Toàn quốc" if result else "",
                    "result" if result else "component",
                    "lan.nt",
                    at,
                    dossier_id,
                    dossier_code,
                    PROCEDURES[field],
                    field,
                    unit,
                    uuid.uuid4().hex,
                    fields,
                    OCR_TEXT,
                    "t" if result and i % 7 == 0 else "f",  # results not yet returned: ~3 %
                    "t" if i % 97 == 0 else "f",
                    at,
                )
            )
            + "\n"
        )


def load(url: str, total: int, dossiers: list[tuple[str, str, str]]) -> float:
    started = time.perf_counter()
    with psycopg.connect(pg_conninfo(url)) as conn:
        conn.execute("SET synchronous_commit = off")
        # No foreign-key trigger per row: the rows point at the dossiers seed() just made.
        conn.execute("SET session_replication_role = replica")
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY repository_records ({COLUMNS}) FROM STDIN") as cp,
        ):
            batch: list[str] = []
            for done, line in enumerate(rows(total, dossiers), 1):
                batch.append(line)
                if len(batch) == 10_000 or done == total:
                    cp.write("".join(batch).encode())
                    batch.clear()
                    if sys.stdout.isatty():
                        print(f"\r  {done:,}/{total:,}", end="", flush=True)
        if sys.stdout.isatty():
            print()
    return time.perf_counter() - started


def prepare(url: str, total: int, extra_indexes: bool) -> None:
    engine = db.make_engine(url)
    sessions = db.make_sessionmaker(engine)
    dossiers = seed(sessions)
    print(f"loading {total:,} records with COPY ...")
    seconds = load(url, total, dossiers)
    print(f"  {seconds:.1f} s ({total / seconds:,.0f} rows/s)")
    with session_scope(sessions) as session:
        # The gap-free counter goes on from the last seq, as if the rows had been written live.
        session.add(CodeCounter(scope="repository", day="all", last=total))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if extra_indexes:
            for name, columns in INDEXES.items():
                t = time.perf_counter()
                conn.execute(
                    text(f"CREATE INDEX IF NOT EXISTS {name} ON repository_records {columns}")
                )
                print(f"  index {name}: {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        conn.execute(text("VACUUM (ANALYZE) repository_records"))
        print(f"  vacuum analyze: {time.perf_counter() - t:.1f} s")
        size = conn.scalar(
            text("SELECT pg_size_pretty(pg_total_relation_size('repository_records'))")
        )
        print(f"  table with indexes and TOAST: {size}")
    engine.dispose()


def measure_feed(sessions: sessionmaker[Session]) -> tuple[int, float]:
    """Everything, page by page, as /api/v1/feed serves it (minus HTTP)."""
    count, after, more = 0, 0, True
    started = time.perf_counter()
    while more:
        with session_scope(sessions) as session:
            body = harvest.feed(session, HARVESTER, after=after, limit=FEED_PAGE, grants=GRANTS)
        body.model_dump_json()  # the router's own encoding (its response model)
        count += len(body.items)
        after, more = body.next, body.more
    return count, time.perf_counter() - started


def measure_page(
    sessions: sessionmaker[Session],
    config: harvest.HarvestConfig,
    args: list[tuple[str, str]],
    runs: int,
) -> tuple[float, int]:
    """Median seconds of one OAI response, after a warm-up; and how many items it held."""
    times, items = [], 0
    for n in range(runs + 1):
        started = time.perf_counter()
        with session_scope(sessions) as session:
            body = harvest.respond(session, HARVESTER, args, config=config, now=datetime.now(UTC))
        if n:
            times.append(time.perf_counter() - started)
        if b"<error" in body:
            raise SystemExit(f"the benchmark asked a bad question: {body[:600]!r}")
        items = body.count(b"<header")
    return statistics.median(times), items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="the deep page's offset")
    parser.add_argument("--url", default=DEFAULT_URL, help="a PostgreSQL server (any database)")
    parser.add_argument("--runs", type=int, default=7, help="runs per OAI page, median taken")
    parser.add_argument("--no-extra-indexes", action="store_true", help="migration indexes only")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()

    n = args.records
    total = n + 2 * OAI_PAGE  # so the page at offset N is a full one
    name = f"sohoa_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(args.url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.url).set(database=name).render_as_string(hide_password=False)
    print(f"database {name}")
    try:
        db.upgrade(url)
        prepare(url, total, not args.no_extra_indexes)
        engine = db.make_engine(url)
        sessions = db.make_sessionmaker(engine)

        count, seconds = measure_feed(sessions)
        feed_rate = count / seconds
        print(f"\nfeed: {count:,} visible records in {seconds:.1f} s, pages of {FEED_PAGE}")

        config = harvest.HarvestConfig(
            base_url="http://bench/oai", token_key=b"bench", page_size=OAI_PAGE, grants=GRANTS
        )

        def deep(prefix: str, set_spec: str | None = None, verb: str = "ListRecords") -> str:
            state = harvest.ListState(verb, prefix, set_spec, after=n, cursor=n)
            return harvest.encode_token(state, config.token_key)

        rare, unit = FIELDS[-1][0], UNITS[3]
        recent = (T0 + (total - 5000) * STEP).strftime("%Y-%m-%d")
        cases = [
            ("ListRecords sohoa, start", [("metadataPrefix", "sohoa")]),
            (f"ListRecords sohoa, offset {n:,}", [("resumptionToken", deep("sohoa"))]),
            ("ListRecords oai_dc, start", [("metadataPrefix", "oai_dc")]),
            (f"ListRecords oai_dc, offset {n:,}", [("resumptionToken", deep("oai_dc"))]),
            (
                f"ListIdentifiers, offset {n:,}",
                [("resumptionToken", deep("oai_dc", verb="ListIdentifiers"))],
            ),
            (
                f"set field:{rare} (1 %), start",
                [("metadataPrefix", "sohoa"), ("set", f"field:{rare}")],
            ),
            (
                f"set field:{rare}, offset {n:,}",
                [("resumptionToken", deep("sohoa", f"field:{rare}"))],
            ),
            (
                f"set unit:{unit}, offset {n:,}",
                [("resumptionToken", deep("sohoa", f"unit:{unit}"))],
            ),
            (f"from={recent}, first page", [("metadataPrefix", "sohoa"), ("from", recent)]),
        ]
        results = []
        for label, extra in cases:
            verb = "ListIdentifiers" if label.startswith("ListIdentifiers") else "ListRecords"
            results.append(
                (label, *measure_page(sessions, config, [("verb", verb), *extra], args.runs))
            )
        engine.dispose()

        print(f"\n{'OAI-PMH response (page of 100)':44} {'median ms':>9} {'items':>6} {'goal':>6}")
        for label, seconds, items in results:
            print(f"{label:44} {seconds * 1000:9.1f} {items:6d} {PAGE_GOAL / seconds:5.1f}×")
        start, deep_page = results[0][1], results[1][1]
        print(
            f"\nfeed: {feed_rate:,.0f} records/s (goal ≥ {FEED_GOAL:,}/s: {feed_rate / FEED_GOAL:.1f}×)"
        )
        print(
            f"ListRecords page: {start * 1000:.1f} ms at the start, {deep_page * 1000:.1f} ms at "
            f"offset {n:,} (goal ≤ {PAGE_GOAL * 1000:.0f} ms: {PAGE_GOAL / start:.1f}× and "
            f"{PAGE_GOAL / deep_page:.1f}×; deep/start {deep_page / start:.2f})"
        )
    finally:
        if args.keep:
            print(f"kept database {name}: {url}")
        else:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
