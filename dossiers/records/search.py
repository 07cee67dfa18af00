"""Dossier search that ignores Vietnamese diacritics, on SQLite (FTS5) and PostgreSQL (tsvector).

Every searchable text (a dossier's code and applicant fields, a document's OCR text) is stored
once, folded, in ``search_entries``; the full-text index is built over the folded text, and the
query is folded the same way, so "nguyen van an" finds "Nguyễn Văn An" on both databases.

Both dialects index the same tokens: runs of letters and digits (FTS5's ``unicode61``, and on
PostgreSQL a ``regexp_replace`` before ``to_tsvector('simple', …)``, whose own parser would keep
"12/2024/qd-ubnd" as one word). A query matches an entry holding every query word as a whole
word: "an" does not find "anh", because Vietnamese names differ by such endings. User input
never reaches a query language: words are extracted from it and quoted.

The full-text objects (FTS5 table and triggers, the generated ``tsv`` column and its index) are
not in the ORM metadata: migration 0003 creates them with its own copy of their SQL (a migration
must build the same schema whatever this module becomes), and :func:`include_name` hides them
from Alembic's comparison with the models.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnClause,
    Integer,
    Select,
    String,
    Text,
    UniqueConstraint,
    delete,
    func,
    literal_column,
    select,
    table,
)
from sqlalchemy import column as sql_column
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from dossiers.errors import InvalidInput
from storage.models import Base, UTCDateTime, utcnow

SOURCE_DOSSIER = "dossier"  # code and applicant fields of the dossier itself
SOURCE_DOCUMENT = "document"  # OCR text of one digitized document
SOURCES = (SOURCE_DOSSIER, SOURCE_DOCUMENT)

MAX_LIMIT = 200
# Bounds on what one query may cost: longer input is cut at a word, further words are ignored.
MAX_QUERY_CHARS = 256
MAX_QUERY_WORDS = 12
# No name, word or code part is this long: a query word over it is junk and finds nothing.
MAX_WORD_CHARS = 64
SNIPPET_BEFORE = 60
SNIPPET_AFTER = 100

FTS_TABLE = "search_fts"
TSV_COLUMN = "tsv"
TSV_INDEX = "ix_search_entries_tsv"

_WORD = re.compile(r"[^\W_]+")
_DD = str.maketrans({"đ": "d", "Đ": "D"})


class SearchQueryInvalid(InvalidInput, ValueError):
    """The query has nothing to search for (empty or blank)."""

    code = "search_query_invalid"
    http_status = 422


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One matching entry: a dossier appears once for its own fields and once per document."""

    dossier_id: str
    source: str
    ref_id: str
    snippet: str


class SearchEntry(Base):
    """The folded text of one searchable thing of a dossier.

    No foreign key to ``dossiers``: the index is derived data, and writing or dropping it must
    never block on, or cascade into, the ledger.
    """

    __tablename__ = "search_entries"
    # The unique index leads with dossier_id, so it also serves removal and scoping by dossier.
    __table_args__ = (
        UniqueConstraint("dossier_id", "source", "ref_id", name="uq_search_entries_ref"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dossier_id: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(32))
    ref_id: Mapped[str] = mapped_column(String(64))
    folded: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


def fold(text: str) -> str:
    """Lowercase ``text`` without diacritics and with single spaces: "Đặng  Văn" -> "dang van"."""
    decomposed = unicodedata.normalize("NFD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.translate(_DD).lower().split())


def include_name(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
    """Alembic ``include_name`` hook: skip the full-text objects the models cannot describe."""
    if type_ == "table":
        return not (name or "").startswith(FTS_TABLE)  # the FTS5 table and its shadow tables
    if type_ == "column":
        return not (parent_names.get("table_name") == "search_entries" and name == TSV_COLUMN)
    if type_ == "index":
        return name != TSV_INDEX
    return True


def index_entry(session: Session, dossier_id: str, source: str, ref_id: str, text: str) -> None:
    """Store ``text`` folded as the searchable text of (dossier, source, ref), replacing any."""
    if source not in SOURCES:
        raise ValueError(f"unknown search source {source!r}")
    dialect = _dialect(session)
    insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
    stmt = insert(SearchEntry).values(
        dossier_id=dossier_id, source=source, ref_id=ref_id, folded=fold(text), updated_at=utcnow()
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["dossier_id", "source", "ref_id"],
        set_={"folded": stmt.excluded.folded, "updated_at": stmt.excluded.updated_at},
    )
    session.execute(stmt)


def remove_entries(session: Session, dossier_id: str) -> None:
    """Forget everything indexed for a dossier."""
    session.execute(delete(SearchEntry).where(SearchEntry.dossier_id == dossier_id))


def search(
    session: Session,
    query: str,
    *,
    dossier_ids: Select[Any] | None = None,
    limit: int = 50,
) -> list[SearchHit]:
    """Entries holding every word of ``query``, most relevant first, then most recently updated.

    ``dossier_ids`` is a SELECT of the dossier ids the caller may see; scoping is the caller's
    business. A query without spaces that mixes digits and punctuation is a dossier code or
    document number ("000.00.16.H08-261128-0001", "12/2024/QĐ-UBND", "261128-0001"): its words
    must follow each other and the whole string must appear verbatim, separators included.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    folded = fold(query)
    if not folded:
        raise SearchQueryInvalid("the search query is empty")
    if len(folded) > MAX_QUERY_CHARS:
        folded = folded[: MAX_QUERY_CHARS + 1].rsplit(" ", 1)[0]  # half a word would match nothing
    words = _WORD.findall(folded)
    if not words or any(len(w) > MAX_WORD_CHARS for w in words):
        return []
    is_code = " " not in folded and not folded.isalnum() and any(c.isdigit() for c in folded)
    if not is_code:
        words = list(dict.fromkeys(words))
    words = words[:MAX_QUERY_WORDS]

    dialect = _dialect(session)
    cols = (SearchEntry.dossier_id, SearchEntry.source, SearchEntry.ref_id, SearchEntry.folded)
    if dialect == "sqlite":
        fts = table(FTS_TABLE, sql_column("rowid"))
        # Quoted FTS5 strings: AND, OR, NEAR, * and ^ typed by a user are plain words.
        quoted = ['"' + w.replace('"', '""') + '"' for w in words]
        match = " + ".join(quoted) if is_code else " ".join(quoted)  # a phrase, or all words
        stmt = (
            select(*cols)
            .select_from(fts)
            .join(SearchEntry, SearchEntry.id == fts.c.rowid)
            .where(literal_column(FTS_TABLE).match(match))
            .order_by(func.bm25(literal_column(FTS_TABLE)))
        )
    elif dialect == "postgresql":
        tsv: ColumnClause[Any] = literal_column(f"search_entries.{TSV_COLUMN}")
        to_tsquery = func.phraseto_tsquery if is_code else func.plainto_tsquery
        tsquery = to_tsquery(literal_column("'simple'::regconfig"), " ".join(words))
        stmt = (
            select(*cols)
            .where(tsv.bool_op("@@")(tsquery))
            .order_by(func.ts_rank(tsv, tsquery).desc())
        )
    else:
        raise NotImplementedError(f"no full-text search on {dialect}")
    if is_code:
        # Escaped: '%' and '_' in the query are characters of the code, not wildcards.
        stmt = stmt.where(SearchEntry.folded.contains(folded, autoescape=True))
    if dossier_ids is not None:
        # No correlation: a scope selecting from search_entries must stay its own subquery.
        stmt = stmt.where(SearchEntry.dossier_id.in_(dossier_ids.correlate(None)))
    stmt = stmt.order_by(SearchEntry.updated_at.desc(), SearchEntry.id.desc())
    rows = session.execute(stmt.limit(min(limit, MAX_LIMIT))).all()
    if is_code:
        needle = re.compile(re.escape(folded))
    else:
        needle = re.compile(rf"(?<![^\W_])(?:{'|'.join(map(re.escape, words))})(?![^\W_])")
    return [SearchHit(r.dossier_id, r.source, r.ref_id, _snippet(r.folded, needle)) for r in rows]


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _snippet(folded: str, needle: re.Pattern[str]) -> str:
    """A window of the folded text around the first match, cut at spaces."""
    found = needle.search(folded)
    at = found.start() if found else 0
    start, end = max(0, at - SNIPPET_BEFORE), min(len(folded), at + SNIPPET_AFTER)
    if start > 0:
        space = folded.find(" ", start, at)
        start = space + 1 if space != -1 else start
    if end < len(folded):
        space = folded.rfind(" ", at, end)
        end = space if space > at else end
    return ("…" if start > 0 else "") + folded[start:end] + ("…" if end < len(folded) else "")
