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
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from lxml import etree
from sqlalchemy import ColumnElement, Row, and_, func, select, true
from sqlalchemy.orm import Session

from dossiers.access import Principal, unit_filter
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

RR = RepositoryRecord
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

    @property
    def schema_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/schema/sohoa.xsd"


class OaiError(Exception):
    """A protocol error: answered as ``<error code=…>`` with HTTP 200, as the spec wants."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# -- who sees what ---------------------------------------------------------------------------


def visible(who: Principal) -> ColumnElement[bool]:
    """The records ``who`` may harvest: never a hidden one; an auditor only its province's."""
    who.require(*HARVESTERS)
    return and_(RR.hidden.is_(False), _scope(who, RR.unit_code))


def _scope(who: Principal, column: Any) -> ColumnElement[bool]:
    return unit_filter(who, column) if who.role == "auditor" else true()


# -- keyset pages ----------------------------------------------------------------------------


class Page(NamedTuple):
    rows: list[Row[Any]]
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
) -> Page:
    """Up to ``limit`` visible records with ``seq > after``, changed in [from_, before)."""
    query = select(*columns).where(RR.seq > after, visible(who))
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


def feed(
    session: Session, who: Principal, *, after: int = 0, limit: int = FEED_LIMIT
) -> dict[str, Any]:
    """Changes after cursor ``after``; ``next`` never goes back, so polling it is safe."""
    p = page(session, who, after=after, limit=limit)
    return {"items": [feed_item(r) for r in p.rows], "next": p.after, "more": p.more}


def feed_item(row: Row[Any]) -> dict[str, Any]:
    item: dict[str, Any] = {
        "seq": row.seq,
        "id": row.id,
        "identifier": ID_PREFIX + row.id,
        "deleted": row.deleted,
        "updated_at": datestamp(row.updated_at),
    }
    if row.deleted:  # a withdrawn record says only that it is gone
        return item
    item.update(
        code=row.code,
        kind=row.kind,
        doc_type=row.doc_type,
        title=row.title,
        number_symbol=row.number_symbol,
        issue_date=_iso(row.issue_date),
        issuer=row.issuer,
        valid_until=_iso(row.valid_until),
        permanent=row.permanent,
        scope=row.scope,
        owner={"id": row.owner_id, "id_type": row.owner_id_type},
        digitizer_id=row.digitizer_id,
        digitized_at=datestamp(row.digitized_at),
        dossier_code=row.dossier_code,
        procedure_code=row.procedure_code,
        field_code=row.field_code,
        unit_code=row.unit_code,
        document_id=row.document_id,
        fields=public_fields(row.fields),
    )
    return item


def public_fields(fields: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (fields or {}).items() if k not in WITHHELD_FIELDS}


# -- dates and tokens ------------------------------------------------------------------------


def datestamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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

# XML 1.0 forbids most control characters, and OCR output has them (form feeds, NULs).
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _sub(parent: etree._Element, tag: str, text: Any = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = _NOT_XML.sub("", str(text))
    return el


def _oai(tag: str) -> str:
    return f"{{{OAI_NS}}}{tag}"


def _header(parent: etree._Element, row: Row[Any]) -> None:
    header = _sub(parent, _oai("header"), **({"status": "deleted"} if row.deleted else {}))
    _sub(header, _oai("identifier"), ID_PREFIX + row.id)
    _sub(header, _oai("datestamp"), datestamp(row.updated_at))
    _sub(header, _oai("setSpec"), f"field:{row.field_code}")
    _sub(header, _oai("setSpec"), f"unit:{row.unit_code}")


def _validity(row: Row[Any]) -> str | None:
    if row.permanent:
        return "hiệu lực vĩnh viễn"
    if row.valid_until:
        return f"hiệu lực đến {row.valid_until.isoformat()}"
    return None


def oai_dc(parent: etree._Element, row: Row[Any], config: HarvestConfig) -> None:
    """Simple Dublin Core: what the paper is, never whose it is."""
    dc = etree.SubElement(
        parent,
        f"{{{OAI_DC_NS}}}dc",
        {f"{{{XSI_NS}}}schemaLocation": f"{OAI_DC_NS} {OAI_DC_SCHEMA}"},
        nsmap={"oai_dc": OAI_DC_NS, "dc": DC_NS, "xsi": XSI_NS},
    )
    values = (
        ("title", row.title),
        ("type", row.doc_type),
        ("identifier", ID_PREFIX + row.id),
        ("identifier", row.number_symbol),
        ("date", _iso(row.issue_date)),
        ("publisher", row.issuer),
        ("relation", row.procedure_code),
        ("coverage", row.scope),
        ("rights", _validity(row)),
    )
    for name, value in values:
        if value:
            _sub(dc, f"{{{DC_NS}}}{name}", value)


def sohoa(parent: etree._Element, row: Row[Any], config: HarvestConfig) -> None:
    """The full record, valid against ``sohoa.xsd`` (element order is the schema's)."""

    def s(tag: str) -> str:
        return f"{{{SOHOA_NS}}}{tag}"

    rec = etree.SubElement(
        parent,
        s("record"),
        {f"{{{XSI_NS}}}schemaLocation": f"{SOHOA_NS} {config.schema_url}"},
        nsmap={"sohoa": SOHOA_NS, "xsi": XSI_NS},
    )
    _sub(rec, s("code"), row.code)
    _sub(rec, s("kind"), row.kind)
    _sub(rec, s("docType"), row.doc_type)
    _sub(rec, s("title"), row.title)
    for tag, value in (
        ("numberSymbol", row.number_symbol),
        ("issueDate", _iso(row.issue_date)),
        ("issuer", row.issuer),
    ):
        if value:
            _sub(rec, s(tag), value)
    validity = _sub(rec, s("validity"), permanent="true" if row.permanent else "false")
    if row.valid_until:
        validity.set("until", row.valid_until.isoformat())
    if row.scope:
        _sub(rec, s("scope"), row.scope)
    _sub(rec, s("owner"), row.owner_id, idType=row.owner_id_type)
    if row.digitizer_id:
        _sub(rec, s("digitizer"), row.digitizer_id)
    _sub(rec, s("digitizedAt"), datestamp(row.digitized_at))
    if row.dossier_code:
        _sub(rec, s("dossierCode"), row.dossier_code)
    _sub(rec, s("procedureCode"), row.procedure_code)
    _sub(rec, s("fieldCode"), row.field_code)
    _sub(rec, s("unitCode"), row.unit_code)
    _sub(rec, s("documentId"), row.document_id)
    fields = _sub(rec, s("fields"))
    for name, value in sorted(public_fields(row.fields).items()):
        values = value if isinstance(value, list) else [value]
        name = _NOT_XML.sub("", str(name))
        if value is None or not values or not name:
            continue
        field = _sub(fields, s("field"), name=name)
        for v in values:
            if isinstance(v, dict | list):
                _sub(field, s("value"), json.dumps(v, ensure_ascii=False), json="true")
            elif isinstance(v, bool):
                _sub(field, s("value"), "true" if v else "false")
            else:
                _sub(field, s("value"), "" if v is None else v)


Writer = Callable[[etree._Element, Row[Any], HarvestConfig], None]
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
    root = etree.Element(
        _oai("OAI-PMH"),
        {f"{{{XSI_NS}}}schemaLocation": f"{OAI_NS} {OAI_SCHEMA}"},
        nsmap={None: OAI_NS, "xsi": XSI_NS},
    )
    _sub(root, _oai("responseDate"), datestamp(now))
    request = _sub(root, _oai("request"), config.base_url)
    try:
        verb, params = parse_request(args)
        for key, value in (("verb", verb), *params.items()):
            request.set(key, value)
        # Each handler checks everything before it writes, so an error leaves root clean.
        _HANDLERS[verb](root, session, who, params, config)
    except OaiError as exc:
        if exc.code in ("badVerb", "badArgument"):  # the spec: echo the base URL only
            request.attrib.clear()
        _sub(root, _oai("error"), str(exc), code=exc.code)
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True)


def _identify(
    root: etree._Element,
    session: Session,
    who: Principal,
    params: dict[str, str],
    config: HarvestConfig,
) -> None:
    # Over all records, not only the visible ones: still a lower bound, and one index probe.
    earliest = session.scalar(select(func.min(RR.updated_at)))
    el = _sub(root, _oai("Identify"))
    _sub(el, _oai("repositoryName"), config.repository_name)
    _sub(el, _oai("baseURL"), config.base_url)
    _sub(el, _oai("protocolVersion"), "2.0")
    _sub(el, _oai("adminEmail"), config.admin_email)
    _sub(el, _oai("earliestDatestamp"), datestamp(earliest or datetime(2000, 1, 1, tzinfo=UTC)))
    _sub(el, _oai("deletedRecord"), "persistent")
    _sub(el, _oai("granularity"), GRANULARITY)


def _get_row(session: Session, who: Principal, identifier: str, columns: Sequence[Any]) -> Row[Any]:
    """A visible record by OAI identifier; hidden and out-of-scope ones do not exist."""
    local = identifier.removeprefix(ID_PREFIX)
    row = None
    if identifier.startswith(ID_PREFIX) and local:
        row = session.execute(select(*columns).where(RR.id == local, visible(who))).first()
    if row is None:
        raise OaiError("idDoesNotExist", f"no record {identifier}")
    return row


def _list_metadata_formats(
    root: etree._Element,
    session: Session,
    who: Principal,
    params: dict[str, str],
    config: HarvestConfig,
) -> None:
    if "identifier" in params:  # every record has both formats
        _get_row(session, who, params["identifier"], (RR.id,))
    el = _sub(root, _oai("ListMetadataFormats"))
    for prefix, (schema, namespace, _) in FORMATS.items():
        fmt = _sub(el, _oai("metadataFormat"))
        _sub(fmt, _oai("metadataPrefix"), prefix)
        _sub(fmt, _oai("schema"), schema or config.schema_url)
        _sub(fmt, _oai("metadataNamespace"), namespace)


def _list_sets(
    root: etree._Element,
    session: Session,
    who: Principal,
    params: dict[str, str],
    config: HarvestConfig,
) -> None:
    """Fields from the procedure catalogue and units (an auditor's province only)."""
    if "resumptionToken" in params:  # the list comes whole; no token was ever issued
        raise OaiError("badResumptionToken", "ListSets issues no resumption tokens")
    fields = session.execute(
        select(Procedure.field_code, func.max(Procedure.field_name))
        .group_by(Procedure.field_code)
        .order_by(Procedure.field_code)
    ).all()
    units = session.execute(
        select(Unit.code, Unit.name).where(_scope(who, Unit.code)).order_by(Unit.code)
    ).all()
    el = _sub(root, _oai("ListSets"))
    sets = [
        ("field", "Theo lĩnh vực thủ tục hành chính"),
        *((f"field:{code}", f"Lĩnh vực: {name}") for code, name in fields),
        ("unit", "Theo đơn vị tiếp nhận"),
        *((f"unit:{code}", f"Đơn vị: {name}") for code, name in units),
    ]
    for spec, name in sets:
        s = _sub(el, _oai("set"))
        _sub(s, _oai("setSpec"), spec)
        _sub(s, _oai("setName"), name)


def _get_record(
    root: etree._Element,
    session: Session,
    who: Principal,
    params: dict[str, str],
    config: HarvestConfig,
) -> None:
    write = _writer(params["metadataPrefix"])
    row = _get_row(session, who, params["identifier"], RECORD_COLUMNS)
    record = _sub(_sub(root, _oai("GetRecord")), _oai("record"))
    _record(record, row, write, config)


def _writer(prefix: str) -> Writer:
    if prefix not in FORMATS:
        raise OaiError("cannotDisseminateFormat", f"no metadata format {prefix!r}")
    return FORMATS[prefix][2]


def _record(record: etree._Element, row: Row[Any], write: Writer, config: HarvestConfig) -> None:
    _header(record, row)
    if not row.deleted:
        write(_sub(record, _oai("metadata")), row, config)


def _list(
    root: etree._Element,
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
    if state.set_spec is not None:
        set_filter(state.set_spec)
    start, end = _window(state.from_, state.until)
    columns = RECORD_COLUMNS if verb == "ListRecords" else HEADER_COLUMNS
    found = page(
        session,
        who,
        after=state.after,
        limit=config.page_size,
        set_spec=state.set_spec,
        from_=start,
        before=end,
        columns=columns,
    )
    if not found.rows and token is None:
        raise OaiError("noRecordsMatch", "no record matches these arguments")
    el = _sub(root, _oai(verb))
    for row in found.rows:
        if verb == "ListRecords":
            _record(_sub(el, _oai("record")), row, write, config)
        else:
            _header(el, row)
    if found.more:
        following = replace(state, after=found.after, cursor=state.cursor + len(found.rows))
        value = encode_token(following, config.token_key)
        _sub(el, _oai("resumptionToken"), value, cursor=str(state.cursor))
    elif token is not None:  # the last part of an incomplete list: an empty token
        _sub(el, _oai("resumptionToken"), cursor=str(state.cursor))


def _list_identifiers(
    root: etree._Element,
    session: Session,
    who: Principal,
    params: dict[str, str],
    config: HarvestConfig,
) -> None:
    _list(root, session, who, params, config, "ListIdentifiers")


def _list_records(
    root: etree._Element,
    session: Session,
    who: Principal,
    params: dict[str, str],
    config: HarvestConfig,
) -> None:
    _list(root, session, who, params, config, "ListRecords")


Handler = Callable[[etree._Element, Session, Principal, dict[str, str], HarvestConfig], None]
_HANDLERS: dict[str, Handler] = {
    "Identify": _identify,
    "ListMetadataFormats": _list_metadata_formats,
    "ListSets": _list_sets,
    "GetRecord": _get_record,
    "ListIdentifiers": _list_identifiers,
    "ListRecords": _list_records,
}
