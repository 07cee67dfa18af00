"""OAI-PMH 2.0 and a JSON change feed over the data repository: queries and serialisation.

Every list walks ``repository_records`` by ``seq`` with a keyset (``WHERE seq > :after ORDER BY
seq LIMIT n``), so the millionth page costs what the first does. ``seq`` order is commit order:
it comes from a gap-free counter whose row lock is held until commit, so a harvester resuming
after a ``seq`` never misses a change committed behind it, and a record that changes comes back
at the end of the list with its new state.

What leaves here is the least each format needs. Hidden results are never disseminated, to
anyone. OAI identifiers are built from the record's opaque id, not its digitization code,
because that code starts with the owner's personal ID number. ``oai_dc`` carries neither the
owner nor the OCR text; the full ``sohoa`` format and the feed carry the owner's ID (the key a
reuse needs) but not the OCR text, nor the ID numbers of other people found on the paper.

Scope: a provincial database harvests its own province, so a harvester sees the records of the
units in its unit's province, an auditor likewise, an admin everything. A harvester account
without a unit sees nothing unless an operator grants it provinces (``SOHOA_HARVEST_GRANTS``,
staff id → province codes, ``"*"`` for all, e.g. the national portal). Every verb and every
page applies the scope afresh, so a resumption token cannot widen it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, NamedTuple, TypeAlias
from xml.sax.saxutils import escape

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, Row, and_, false, func, select, true
from sqlalchemy.orm import QueryableAttribute, Session

from dossiers.access import Principal
from dossiers.models import Procedure, RepositoryRecord, Unit

HARVESTERS = ("harvester", "auditor", "admin")
PAGE_SIZE = 100  # records per ListRecords/ListIdentifiers response
FEED_LIMIT = 500  # feed items per response unless the caller asks
FEED_MAX = 1000
ID_PREFIX = "oai:sohoa:"
MAX_SEQ = 2**63  # seq is a BIGINT; a larger cursor is nonsense, not a database error
# OCR'd ID numbers of everyone named on the paper (parents, witnesses): the owner's own ID
# travels as ``owner``, the rest is nobody's business downstream.
WITHHELD_FIELDS = frozenset({"id_numbers"})

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
OAI_SCHEMA = "http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd"
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
OAI_DC_SCHEMA = "http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
DC_NS = "http://purl.org/dc/elements/1.1/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
SOHOA_NS = "urn:x-sohoa:record:1"
GRANULARITY = "YYYY-MM-DDThh:mm:ssZ"
ALL_PROVINCES = "*"

# Harvester staff id -> province codes it may harvest besides its own unit's ("*": all).
Grants = Mapping[str, Iterable[str]]
NO_GRANTS: Grants = {}

RR = RepositoryRecord
# A row of HEADER_COLUMNS or RECORD_COLUMNS, unpacked by position.
AnyRow: TypeAlias = "Row[*tuple[Any, ...]]"
# Writers unpack rows by position in these orders: a Row's attribute access costs a microsecond,
# and the feed runs it two dozen times per record.
HEADER_COLUMNS = (RR.id, RR.seq, RR.field_code, RR.unit_code, RR.deleted, RR.updated_at)
# Everything but the OCR text (up to 200 kB a row) and internal links.
RECORD_COLUMNS = (
    *HEADER_COLUMNS,
    RR.code,
    RR.owner_id,
    RR.owner_id_type,
    RR.doc_type,
    RR.title,
    RR.number_symbol,
    RR.issue_date,
    RR.issuer,
    RR.valid_until,
    RR.permanent,
    RR.scope,
    RR.kind,
    RR.digitizer_id,
    RR.digitized_at,
    RR.dossier_code,
    RR.procedure_code,
    RR.document_id,
    RR.fields,
)


@dataclass(frozen=True)
class HarvestConfig:
    base_url: str  # public URL of the OAI endpoint, echoed in every response
    token_key: bytes  # MAC key of resumption tokens; shared by every replica
    repository_name: str = "sohoa – kho dữ liệu số hóa"
    admin_email: str = "admin@localhost"
    page_size: int = PAGE_SIZE
    grants: Grants = field(default_factory=dict)

    @property
    def schema_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/schema/sohoa.xsd"


class OaiError(Exception):
    """A protocol error: answered as ``<error code=…>`` with HTTP 200, as the spec wants."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# -- who sees what ---------------------------------------------------------------------------


def visible(who: Principal, grants: Grants = NO_GRANTS) -> ColumnElement[bool]:
    """The records ``who`` may harvest: never a hidden one, and only in its provinces."""
    who.require(*HARVESTERS)
    return and_(RR.hidden.is_(False), _scope(who, RR.unit_code, grants))


def provinces(who: Principal, grants: Grants = NO_GRANTS) -> frozenset[str] | None:
    """Province codes ``who`` may harvest; ``None`` for all. Grants widen harvesters only."""
    if who.role == "admin":
        return None
    own = {who.province_code} if who.province_code else set()
    if who.role == "harvester":
        granted = set(grants.get(who.staff_id, ()))
        if ALL_PROVINCES in granted:
            return None
        return frozenset(own | granted)
    return frozenset(own) if who.role == "auditor" else frozenset()


def _scope(
    who: Principal, column: QueryableAttribute[str], grants: Grants = NO_GRANTS
) -> ColumnElement[bool]:
    allowed = provinces(who, grants)
    if allowed is None:
        return true()
    if not allowed:  # fail closed: a harvester bound to nothing harvests nothing
        return false()
    return column.in_(select(Unit.code).where(Unit.province_code.in_(sorted(allowed))))


# -- keyset pages ----------------------------------------------------------------------------


class Page(NamedTuple):
    rows: list[AnyRow]
    after: int  # resume after this seq: the last one returned, or the one asked for
    more: bool


def set_filter(spec: str) -> ColumnElement[bool]:
    """``field``, ``field:<field code>``, ``unit``, ``unit:<unit code>``."""
    kind, colon, value = spec.partition(":")
    column = {"field": RR.field_code, "unit": RR.unit_code}.get(kind)
    if column is None or (colon and not value) or ":" in value:
        raise OaiError("badArgument", f"no set {spec!r}: sets are field:<code> and unit:<code>")
    return column == value if value else true()


def page(
    session: Session,
    who: Principal,
    *,
    after: int = 0,
    limit: int,
    set_spec: str | None = None,
    from_: datetime | None = None,
    before: datetime | None = None,
    columns: Sequence[Any] = RECORD_COLUMNS,
    grants: Grants = NO_GRANTS,
) -> Page:
    """Up to ``limit`` visible records with ``seq > after``, changed in [from_, before)."""
    query = select(*columns).where(RR.seq > after, visible(who, grants))
    if set_spec is not None:
        query = query.where(set_filter(set_spec))
    if from_ is not None:
        query = query.where(RR.updated_at >= from_)
    if before is not None:
        query = query.where(RR.updated_at < before)
    rows = list(session.execute(query.order_by(RR.seq).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, rows[-1].seq if rows else after, more)


# -- the JSON change feed --------------------------------------------------------------------

_STAMP = "YYYY-MM-DDThh:mm:ssZ, UTC"


class FeedOwner(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="The owner's ID number: the key a reuse needs.")
    id_type: str = Field(description="CCCD, CMND, passport …")


class DeletedFeedItem(BaseModel):
    """A withdrawn record: it says only that it is gone (its code would name its owner)."""

    model_config = ConfigDict(extra="forbid")

    seq: int = Field(description="The change's place in the feed; a cursor.")
    id: str
    identifier: str = Field(description="The record's OAI-PMH identifier.")
    deleted: Literal[True]
    updated_at: str = Field(description=f"When it was withdrawn ({_STAMP}).")


class FeedRecord(BaseModel):
    """A published record of the data repository (kho dữ liệu), without its OCR text."""

    model_config = ConfigDict(extra="forbid")

    seq: int = Field(description="The change's place in the feed; a cursor.")
    id: str
    identifier: str = Field(description="The record's OAI-PMH identifier.")
    deleted: Literal[False]
    updated_at: str = Field(description=f"When it last changed ({_STAMP}).")
    code: str = Field(description="Digitization code: <owner ID>.<document type>.<number>.<NN>.")
    kind: str = Field(description="component (a paper of a dossier) or result.")
    doc_type: str
    title: str
    number_symbol: str = Field(description="The paper's number and symbol (số, ký hiệu).")
    issue_date: date | None
    issuer: str
    valid_until: date | None = Field(description="Last day valid; null if permanent or unknown.")
    permanent: bool = Field(description="Valid without an end date.")
    scope: str = Field(description="Where the paper is valid (phạm vi), if it says.")
    owner: FeedOwner
    digitizer_id: str = Field(description="Staff id of the clerk who digitized it.")
    digitized_at: str = Field(description=f"When it was digitized ({_STAMP}).")
    dossier_code: str
    procedure_code: str
    field_code: str
    unit_code: str
    document_id: str = Field(description="The signed PDF/A (GET /api/v1/documents/{id}).")
    fields: dict[str, Any] = Field(
        description="Fields extracted from the paper, minus other people's ID numbers."
    )


FeedItem = DeletedFeedItem | FeedRecord


class FeedPage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[FeedItem] = Field(description="Changes after the cursor, oldest first.")
    next: int = Field(description="Poll with this as ``after``; it never goes back.")
    more: bool = Field(description="More changes are waiting: ask again at once.")


def feed(
    session: Session,
    who: Principal,
    *,
    after: int = 0,
    limit: int = FEED_LIMIT,
    grants: Grants = NO_GRANTS,
) -> FeedPage:
    """Changes after cursor ``after``; ``next`` never goes back, so polling it is safe."""
    p = page(session, who, after=after, limit=limit, grants=grants)
    return FeedPage(items=[feed_item(r) for r in p.rows], next=p.after, more=p.more)


def feed_item(row: AnyRow) -> FeedItem:
    """One feed item from a row of RECORD_COLUMNS."""
    (
        id_, seq, field_code, unit_code, deleted, updated_at, code, owner_id, owner_id_type,
        doc_type, title, number_symbol, issue_date, issuer, valid_until, permanent, scope, kind,
        digitizer_id, digitized_at, dossier_code, procedure_code, document_id, fields,
    ) = row  # fmt: skip
    if deleted:
        return DeletedFeedItem(
            seq=seq,
            id=id_,
            identifier=ID_PREFIX + id_,
            deleted=True,
            updated_at=datestamp(updated_at),
        )
    return FeedRecord(
        seq=seq,
        id=id_,
        identifier=ID_PREFIX + id_,
        deleted=False,
        updated_at=datestamp(updated_at),
        code=code,
        kind=kind,
        doc_type=doc_type,
        title=title,
        number_symbol=number_symbol,
        issue_date=issue_date,
        issuer=issuer,
        valid_until=valid_until,
        permanent=permanent,
        scope=scope,
        owner=FeedOwner(id=owner_id, id_type=owner_id_type),
        digitizer_id=digitizer_id,
        digitized_at=datestamp(digitized_at),
        dossier_code=dossier_code,
        procedure_code=procedure_code,
        field_code=field_code,
        unit_code=unit_code,
        document_id=document_id,
        fields=public_fields(fields),
    )


def public_fields(fields: dict[str, Any] | None) -> dict[str, Any]:
    if not fields:
        return {}
    if WITHHELD_FIELDS.isdisjoint(fields):
        return fields
    return {k: v for k, v in fields.items() if k not in WITHHELD_FIELDS}


# -- dates and tokens ------------------------------------------------------------------------


def datestamp(at: datetime) -> str:
    """``YYYY-MM-DDThh:mm:ssZ``, the repository's granularity (isoformat: strftime is slow)."""
    return at.astimezone(UTC).isoformat(timespec="seconds")[:19] + "Z"


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_SECOND = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def _parse_stamp(value: str, name: str) -> tuple[datetime, timedelta]:
    """A ``from``/``until`` value and its granularity (a day or a second)."""
    try:
        if _DAY.fullmatch(value):
            return datetime.fromisoformat(value).replace(tzinfo=UTC), timedelta(days=1)
        if _SECOND.fullmatch(value):
            return datetime.fromisoformat(value[:-1]).replace(tzinfo=UTC), timedelta(seconds=1)
    except ValueError:
        pass
    raise OaiError("badArgument", f"{name}={value!r} is not YYYY-MM-DD or {GRANULARITY}")


def _window(from_: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """[from, until] as [start, end): ``until`` covers the whole of its day or second."""
    start = end = None
    step_from = step_until = None
    if from_ is not None:
        start, step_from = _parse_stamp(from_, "from")
    if until is not None:
        end, step_until = _parse_stamp(until, "until")
        end += step_until
    if step_from and step_until and step_from != step_until:
        raise OaiError("badArgument", "from and until must have the same granularity")
    if start is not None and end is not None and start >= end:
        raise OaiError("badArgument", "from is later than until")
    return start, end


@dataclass(frozen=True)
class ListState:
    """Where a list stands; the resumption token carries it, so the server keeps nothing."""

    verb: str
    prefix: str
    set_spec: str | None = None
    from_: str | None = None
    until: str | None = None
    after: int = 0
    cursor: int = 0  # records already delivered, the token's ``cursor`` attribute


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, body: str) -> str:
    return _b64(hmac.new(key, body.encode(), hashlib.sha256).digest()[:16])


def encode_token(state: ListState, key: bytes) -> str:
    data = {
        "v": 1,
        "k": state.verb,
        "m": state.prefix,
        "s": state.set_spec,
        "f": state.from_,
        "u": state.until,
        "a": state.after,
        "c": state.cursor,
    }
    body = _b64(json.dumps(data, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_mac(key, body)}"


def decode_token(token: str, key: bytes, verb: str) -> ListState:
    """The state in ``token``, or badResumptionToken for anything altered or made up.

    The MAC catches tampering and garbage; forging one would gain nothing, since the token only
    holds arguments the caller could send anyway and visibility is checked on every page.
    """
    bad = OaiError("badResumptionToken", "the resumption token is invalid")
    body, dot, mac = token.partition(".")
    if not dot or not hmac.compare_digest(mac.encode(), _mac(key, body).encode()):
        raise bad
    try:
        data = json.loads(_unb64(body))
        state = ListState(
            verb=data["k"],
            prefix=data["m"],
            set_spec=data["s"],
            from_=data["f"],
            until=data["u"],
            after=data["a"],
            cursor=data["c"],
        )
        ints = (state.after, state.cursor)
        strings = (state.set_spec, state.from_, state.until)
        valid = (
            data["v"] == 1
            and len(data) == 8
            and state.verb == verb
            and state.prefix in FORMATS
            and all(type(i) is int and 0 <= i < MAX_SEQ for i in ints)
            and all(s is None or isinstance(s, str) for s in strings)
        )
        if not valid:
            raise bad
        if state.set_spec is not None:
            set_filter(state.set_spec)
        _window(state.from_, state.until)
    except (ValueError, TypeError, KeyError, AttributeError, OaiError):
        raise bad from None
    return state


# -- XML --------------------------------------------------------------------------------------
# Written as text: the structure is fixed, and building it as an lxml tree took four times as
# long as the page's query. Every value goes through _text or _attr; the tests parse every
# response and validate every ``sohoa`` record against its schema.

# XML 1.0 forbids most control characters, and OCR output has them (form feeds, NULs).
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Most values need nothing done: one search lets them through untouched.
_UNSAFE = re.compile('[&<>"\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]')
_ATTR_ENTITIES = {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}


def _text(value: Any) -> str:
    text = str(value)
    return escape(_NOT_XML.sub("", text)) if _UNSAFE.search(text) else text


def _attr(value: Any) -> str:
    return escape(_NOT_XML.sub("", str(value)), _ATTR_ENTITIES)


def _el(out: list[str], tag: str, text: Any = None, attrs: Iterable[tuple[str, Any]] = ()) -> None:
    """``<tag attrs>text</tag>``, or ``<tag attrs/>`` without text."""
    a = "".join([f' {k}="{_attr(v)}"' for k, v in attrs]) if attrs else ""
    if text is None or text == "":
        out.append(f"<{tag}{a}/>")
    else:
        out.append(f"<{tag}{a}>{_text(text)}</{tag}>")


def _header(out: list[str], row: AnyRow) -> None:
    id_, _, field_code, unit_code, deleted, updated_at = row[:6]
    out.append('<header status="deleted">' if deleted else "<header>")
    _el(out, "identifier", ID_PREFIX + id_)
    _el(out, "datestamp", datestamp(updated_at))
    _el(out, "setSpec", f"field:{field_code}")
    _el(out, "setSpec", f"unit:{unit_code}")
    out.append("</header>")


def _validity(permanent: bool, valid_until: date | None) -> str | None:
    if permanent:
        return "hiệu lực vĩnh viễn"
    if valid_until:
        return f"hiệu lực đến {valid_until.isoformat()}"
    return None


_DC_OPEN = (
    f'<oai_dc:dc xmlns:oai_dc="{OAI_DC_NS}" xmlns:dc="{DC_NS}" xmlns:xsi="{XSI_NS}"'
    f' xsi:schemaLocation="{OAI_DC_NS} {OAI_DC_SCHEMA}">'
)


def oai_dc(out: list[str], row: AnyRow, config: HarvestConfig) -> None:
    """Simple Dublin Core: what the paper is, never whose it is."""
    (
        id_, _, _, _, _, _, _, _, _, doc_type, title, number_symbol, issue_date, issuer,
        valid_until, permanent, scope, _, _, _, _, procedure_code, _, _,
    ) = row  # fmt: skip
    out.append(_DC_OPEN)
    for name, value in (
        ("title", title),
        ("type", doc_type),
        ("identifier", ID_PREFIX + id_),
        ("identifier", number_symbol),
        ("date", _iso(issue_date)),
        ("publisher", issuer),
        ("relation", procedure_code),
        ("coverage", scope),
        ("rights", _validity(permanent, valid_until)),
    ):
        if value:
            _el(out, f"dc:{name}", value)
    out.append("</oai_dc:dc>")


def sohoa(out: list[str], row: AnyRow, config: HarvestConfig) -> None:
    """The full record, valid against ``sohoa.xsd`` (element order is the schema's)."""
    (
        _, _, field_code, unit_code, _, _, code, owner_id, owner_id_type, doc_type, title,
        number_symbol, issue_date, issuer, valid_until, permanent, scope, kind, digitizer_id,
        digitized_at, dossier_code, procedure_code, document_id, fields,
    ) = row  # fmt: skip
    out.append(
        f'<sohoa:record xmlns:sohoa="{SOHOA_NS}" xmlns:xsi="{XSI_NS}"'
        f' xsi:schemaLocation="{SOHOA_NS} {_attr(config.schema_url)}">'
    )
    _el(out, "sohoa:code", code)
    _el(out, "sohoa:kind", kind)
    _el(out, "sohoa:docType", doc_type)
    _el(out, "sohoa:title", title)
    if number_symbol:
        _el(out, "sohoa:numberSymbol", number_symbol)
    if issue_date:
        _el(out, "sohoa:issueDate", issue_date.isoformat())
    if issuer:
        _el(out, "sohoa:issuer", issuer)
    validity = [("permanent", "true" if permanent else "false")]
    if valid_until:
        validity.append(("until", valid_until.isoformat()))
    _el(out, "sohoa:validity", attrs=validity)
    if scope:
        _el(out, "sohoa:scope", scope)
    _el(out, "sohoa:owner", owner_id, [("idType", owner_id_type)])
    if digitizer_id:
        _el(out, "sohoa:digitizer", digitizer_id)
    _el(out, "sohoa:digitizedAt", datestamp(digitized_at))
    if dossier_code:
        _el(out, "sohoa:dossierCode", dossier_code)
    _el(out, "sohoa:procedureCode", procedure_code)
    _el(out, "sohoa:fieldCode", field_code)
    _el(out, "sohoa:unitCode", unit_code)
    _el(out, "sohoa:documentId", document_id)
    out.append("<sohoa:fields>")
    for name, value in sorted(public_fields(fields).items()):
        values = value if isinstance(value, list) else [value]
        if value is None or not values or not _NOT_XML.sub("", str(name)):
            continue
        out.append(f'<sohoa:field name="{_attr(name)}">')
        for v in values:
            if isinstance(v, dict | list):
                js = json.dumps(v, ensure_ascii=False)
                _el(out, "sohoa:value", js, [("json", "true")])
            elif isinstance(v, bool):
                _el(out, "sohoa:value", "true" if v else "false")
            else:
                _el(out, "sohoa:value", "" if v is None else v)
        out.append("</sohoa:field>")
    out.append("</sohoa:fields></sohoa:record>")


Writer = Callable[[list[str], AnyRow, HarvestConfig], None]
FORMATS: dict[str, tuple[str | None, str, Writer]] = {
    # prefix: (schema URL, None for our own; namespace; writer)
    "oai_dc": (OAI_DC_SCHEMA, OAI_DC_NS, oai_dc),
    "sohoa": (None, SOHOA_NS, sohoa),
}


# -- the protocol -----------------------------------------------------------------------------

# verb: (required arguments, optional ones); resumptionToken is exclusive wherever it is allowed
VERBS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "Identify": (frozenset(), frozenset()),
    "ListMetadataFormats": (frozenset(), frozenset({"identifier"})),
    "ListSets": (frozenset(), frozenset({"resumptionToken"})),
    "GetRecord": (frozenset({"identifier", "metadataPrefix"}), frozenset()),
    "ListIdentifiers": (
        frozenset({"metadataPrefix"}),
        frozenset({"from", "until", "set", "resumptionToken"}),
    ),
    "ListRecords": (
        frozenset({"metadataPrefix"}),
        frozenset({"from", "until", "set", "resumptionToken"}),
    ),
}


def parse_request(args: Iterable[tuple[str, str]]) -> tuple[str, dict[str, str]]:
    """The verb and its arguments, or badVerb/badArgument (missing, unknown, repeated, empty)."""
    args = list(args)
    verbs = [v for k, v in args if k == "verb"]
    if len(verbs) != 1 or verbs[0] not in VERBS:
        raise OaiError("badVerb", "the verb is missing, repeated or not an OAI-PMH verb")
    verb = verbs[0]
    required, optional = VERBS[verb]
    params: dict[str, str] = {}
    for key, value in args:
        if key == "verb":
            continue
        if key not in required | optional:
            raise OaiError("badArgument", f"{verb} takes no argument {key!r}")
        if key in params:
            raise OaiError("badArgument", f"the argument {key!r} is repeated")
        if not value:
            raise OaiError("badArgument", f"the argument {key!r} is empty")
        params[key] = value
    if "resumptionToken" in params:
        if len(params) > 1:
            raise OaiError("badArgument", "resumptionToken is an exclusive argument")
    elif missing := required - params.keys():
        raise OaiError("badArgument", f"{verb} needs {', '.join(sorted(missing))}")
    return verb, params


_ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    f'<OAI-PMH xmlns="{OAI_NS}" xmlns:xsi="{XSI_NS}"'
    f' xsi:schemaLocation="{OAI_NS} {OAI_SCHEMA}">'
)


def respond(
    session: Session,
    who: Principal,
    args: Iterable[tuple[str, str]],
    *,
    config: HarvestConfig,
    now: datetime,
) -> bytes:
    """One OAI-PMH response document for the request arguments ``args``."""
    who.require(*HARVESTERS)
    head = [_ENVELOPE]
    _el(head, "responseDate", datestamp(now))
    body: list[str] = []
    echo: list[tuple[str, str]] = []
    try:
        verb, params = parse_request(args)
        echo = [("verb", verb), *params.items()]
        _HANDLERS[verb](body, session, who, params, config)
    except OaiError as exc:
        if exc.code in ("badVerb", "badArgument"):  # the spec: echo the base URL only
            echo = []
        body = []
        _el(body, "error", str(exc), [("code", exc.code)])
    _el(head, "request", config.base_url, echo)
    return "".join((*head, *body, "</OAI-PMH>")).encode()


def _identify(
    out: list[str], session: Session, who: Principal, params: dict[str, str], config: HarvestConfig
) -> None:
    # Over all records, not only the visible ones: still a lower bound, and one index probe.
    earliest = session.scalar(select(func.min(RR.updated_at)))
    out.append("<Identify>")
    _el(out, "repositoryName", config.repository_name)
    _el(out, "baseURL", config.base_url)
    _el(out, "protocolVersion", "2.0")
    _el(out, "adminEmail", config.admin_email)
    _el(out, "earliestDatestamp", datestamp(earliest or datetime(2000, 1, 1, tzinfo=UTC)))
    _el(out, "deletedRecord", "persistent")
    _el(out, "granularity", GRANULARITY)
    out.append("</Identify>")


def _get_row(
    session: Session,
    who: Principal,
    identifier: str,
    columns: Sequence[Any],
    grants: Grants = NO_GRANTS,
) -> AnyRow:
    """A visible record by OAI identifier; hidden and out-of-scope ones do not exist."""
    local = identifier.removeprefix(ID_PREFIX)
    row = None
    if identifier.startswith(ID_PREFIX) and local:
        query = select(*columns).where(RR.id == local, visible(who, grants))
        row = session.execute(query).first()
    if row is None:
        raise OaiError("idDoesNotExist", f"no record {identifier}")
    return row


def _list_metadata_formats(
    out: list[str], session: Session, who: Principal, params: dict[str, str], config: HarvestConfig
) -> None:
    if "identifier" in params:  # every record has both formats
        _get_row(session, who, params["identifier"], (RR.id,), config.grants)
    out.append("<ListMetadataFormats>")
    for prefix, (schema, namespace, _) in FORMATS.items():
        out.append("<metadataFormat>")
        _el(out, "metadataPrefix", prefix)
        _el(out, "schema", schema or config.schema_url)
        _el(out, "metadataNamespace", namespace)
        out.append("</metadataFormat>")
    out.append("</ListMetadataFormats>")


def _list_sets(
    out: list[str], session: Session, who: Principal, params: dict[str, str], config: HarvestConfig
) -> None:
    """Fields from the procedure catalogue and units (the caller's provinces only)."""
    if "resumptionToken" in params:  # the list comes whole; no token was ever issued
        raise OaiError("badResumptionToken", "ListSets issues no resumption tokens")
    fields = session.execute(
        select(Procedure.field_code, func.max(Procedure.field_name))
        .group_by(Procedure.field_code)
        .order_by(Procedure.field_code)
    ).all()
    units = session.execute(
        select(Unit.code, Unit.name)
        .where(_scope(who, Unit.code, config.grants))
        .order_by(Unit.code)
    ).all()
    out.append("<ListSets>")
    for spec, name in (
        ("field", "Theo lĩnh vực thủ tục hành chính"),
        *((f"field:{code}", f"Lĩnh vực: {name}") for code, name in fields),
        ("unit", "Theo đơn vị tiếp nhận"),
        *((f"unit:{code}", f"Đơn vị: {name}") for code, name in units),
    ):
        out.append("<set>")
        _el(out, "setSpec", spec)
        _el(out, "setName", name)
        out.append("</set>")
    out.append("</ListSets>")


def _get_record(
    out: list[str], session: Session, who: Principal, params: dict[str, str], config: HarvestConfig
) -> None:
    write = _writer(params["metadataPrefix"])
    row = _get_row(session, who, params["identifier"], RECORD_COLUMNS, config.grants)
    out.append("<GetRecord>")
    _record(out, row, write, config)
    out.append("</GetRecord>")


def _writer(prefix: str) -> Writer:
    if prefix not in FORMATS:
        raise OaiError("cannotDisseminateFormat", f"no metadata format {prefix!r}")
    return FORMATS[prefix][2]


def _record(out: list[str], row: AnyRow, write: Writer, config: HarvestConfig) -> None:
    out.append("<record>")
    _header(out, row)
    if not row[4]:  # deleted: the header says so, and there is no metadata
        out.append("<metadata>")
        write(out, row, config)
        out.append("</metadata>")
    out.append("</record>")


def _list(
    out: list[str],
    session: Session,
    who: Principal,
    params: dict[str, str],
    config: HarvestConfig,
    verb: str,
) -> None:
    token = params.get("resumptionToken")
    if token is not None:
        state = decode_token(token, config.token_key, verb)
    else:
        state = ListState(verb, params["metadataPrefix"], params.get("set"))
        state = replace(state, from_=params.get("from"), until=params.get("until"))
    write = _writer(state.prefix)
    start, end = _window(state.from_, state.until)
    found = page(
        session,
        who,
        after=state.after,
        limit=config.page_size,
        set_spec=state.set_spec,
        from_=start,
        before=end,
        columns=RECORD_COLUMNS if verb == "ListRecords" else HEADER_COLUMNS,
        grants=config.grants,
    )
    if not found.rows and token is None:
        raise OaiError("noRecordsMatch", "no record matches these arguments")
    out.append(f"<{verb}>")
    for row in found.rows:
        if verb == "ListRecords":
            _record(out, row, write, config)
        else:
            _header(out, row)
    if found.more:
        following = replace(state, after=found.after, cursor=state.cursor + len(found.rows))
        value = encode_token(following, config.token_key)
        _el(out, "resumptionToken", value, [("cursor", state.cursor)])
    elif token is not None:  # the last part of an incomplete list: an empty token
        _el(out, "resumptionToken", attrs=[("cursor", state.cursor)])
    out.append(f"</{verb}>")


def _list_identifiers(
    out: list[str], session: Session, who: Principal, params: dict[str, str], config: HarvestConfig
) -> None:
    _list(out, session, who, params, config, "ListIdentifiers")


def _list_records(
    out: list[str], session: Session, who: Principal, params: dict[str, str], config: HarvestConfig
) -> None:
    _list(out, session, who, params, config, "ListRecords")


Handler = Callable[[list[str], Session, Principal, dict[str, str], HarvestConfig], None]
_HANDLERS: dict[str, Handler] = {
    "Identify": _identify,
    "ListMetadataFormats": _list_metadata_formats,
    "ListSets": _list_sets,
    "GetRecord": _get_record,
    "ListIdentifiers": _list_identifiers,
    "ListRecords": _list_records,
}
