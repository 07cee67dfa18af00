"""The procedures catalog (TTHC) and the units it routes to, imported from JSON or YAML.

A procedure is versioned by its effective date: importing a changed procedure adds a version
and closes the previous one the day before; a dossier keeps the version it was received under.
Importing the same catalog twice changes nothing.
"""

from __future__ import annotations

import contextlib
import json
import re
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from dossiers.errors import CatalogError, NotFound
from dossiers.models import Procedure, Unit

PROCEDURE_CODE = re.compile(r"^[12]\.\d{6}$")
UNIT_CODE = re.compile(r"^\d{3}\.\d{2}\.\d{2}\.[GH]\d{2}$")
SAMPLE_CATALOG = "sample_catalog.yaml"
MAX_DEPTH = 32  # the catalog itself needs 5
MAX_NODES = 500_000


class ComponentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=r"^[a-z0-9_]{1,64}$")
    name: str = Field(min_length=1, max_length=512)
    kind: Literal["original", "copy"] = "original"
    count: int = Field(default=1, ge=1, le=100)
    required: bool = True
    digitize: bool = True


class FeeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    name: str = Field(min_length=1)
    kind: Literal["fee", "charge"] = "fee"  # lệ phí | phí
    amount: int = Field(ge=0)  # VND
    collect_at: Literal["receipt", "supplement", "return"] = "receipt"


class ResultSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    name: str
    validity_months: int | None = None  # None: no end date


class ProcedureSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    name: str = Field(min_length=1, max_length=512)
    field_code: str
    field_name: str
    level: Literal["province", "commune", "district", "ministry"] = "commune"
    agencies: list[str] = Field(min_length=1)
    processing_days: int = Field(ge=0, le=365)
    effective_from: date
    components: list[ComponentSpec] = Field(min_length=1)
    fees: list[FeeSpec] = Field(default_factory=list)
    results: list[ResultSpec] = Field(default_factory=list)

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        if not PROCEDURE_CODE.match(v):
            raise ValueError("a national procedure code looks like 1.001193")
        return v

    @field_validator("agencies")
    @classmethod
    def _agencies(cls, v: list[str]) -> list[str]:
        for code in v:
            if not UNIT_CODE.match(code):
                raise ValueError(f"{code!r} is not an agency code like 000.00.16.H08")
        return v

    @field_validator("components")
    @classmethod
    def _unique_keys(cls, v: list[ComponentSpec]) -> list[ComponentSpec]:
        keys = [c.key for c in v]
        if len(keys) != len(set(keys)):
            raise ValueError("component keys must be unique")
        return v


class UnitSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    name: str
    kind: Literal["one_stop", "agency"]
    level: Literal["province", "commune", "district", "ministry"]
    area: Literal["urban", "rural", "remote"] = "urban"
    place: str = ""
    valid_from: date = date(2025, 7, 1)
    postal_contact: dict[str, str] = Field(default_factory=dict)

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        if not UNIT_CODE.match(v):
            raise ValueError("a unit code looks like 000.00.16.H08 (QĐ 20/2020)")
        return v


class CatalogSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sample: bool = False
    source: str = ""
    units: list[UnitSpec] = Field(default_factory=list)
    procedures: list[ProcedureSpec] = Field(default_factory=list)


class ImportReport(BaseModel):
    """What one import did, by procedure code (units by unit code)."""

    model_config = ConfigDict(extra="forbid")

    sample: bool = Field(default=False, description="The catalog is the bundled sample.")
    created: list[str] = Field(default_factory=list, description="Procedures given a new version.")
    unchanged: list[str] = Field(
        default_factory=list, description="Procedures whose version in force already matched."
    )
    retired: list[str] = Field(
        default_factory=list, description="Procedures closed because the catalog omits them."
    )
    units: list[str] = Field(default_factory=list, description="Units added or updated.")

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()


# -- read models ------------------------------------------------------------------------------


class UnitView(BaseModel):
    """A unit as the API shows it."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="Electronic agency code (QĐ 20/2020), e.g. 000.00.16.H08.")
    name: str
    kind: str = Field(description="one_stop (a one-stop counter) or agency.")
    level: str = Field(description="province, district, commune or ministry.")
    area: str = Field(description="urban, rural or remote: sets the staff norm.")
    province_code: str = Field(description="The last part of the unit code, e.g. H08.")
    valid_from: date
    valid_to: date | None = Field(description="Last day open; null while the unit is open.")
    successor_code: str | None = Field(description="The unit it was merged into, if any.")
    postal_contact: dict[str, str] = Field(
        description="The postal service's contact at this unit: name, phone, email, enterprise."
    )

    @classmethod
    def of(cls, u: Unit) -> UnitView:
        return cls(
            code=u.code,
            name=u.name,
            kind=u.kind,
            level=u.level,
            area=u.area,
            province_code=u.province_code,
            valid_from=u.valid_from,
            valid_to=u.valid_to,
            successor_code=u.successor_code,
            postal_contact=u.postal_contact,
        )


class UnitList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[UnitView]


class ProcedureView(BaseModel):
    """One version of a procedure (thủ tục hành chính) as the API shows it."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="National procedure code, e.g. 1.001193.")
    version: int = Field(description="1, 2, …: a new version per effective date.")
    name: str
    field_code: str = Field(description="The field (lĩnh vực) the procedure belongs to.")
    field_name: str
    level: str = Field(description="The level whose units decide it.")
    agencies: list[str] = Field(description="Unit codes of the competent agencies, in order.")
    processing_days: int = Field(description="Working days to process; 0 is same-day.")
    same_day: bool = Field(description="Settled the day it is received (processing_days 0).")
    effective_from: date
    effective_to: date | None = Field(description="Last day in force; null while in force.")
    components: list[ComponentSpec] = Field(description="The papers (thành phần hồ sơ).")
    fees: list[FeeSpec] = Field(description="Fees (lệ phí) and charges (phí), in VND.")
    results: list[ResultSpec] = Field(description="The documents the procedure results in.")
    sample: bool = Field(description="From the bundled sample catalog, not an official one.")

    @classmethod
    def of(cls, p: Procedure) -> ProcedureView:
        return cls(**_procedure_fields(p))


def _procedure_fields(p: Procedure) -> dict[str, Any]:
    return {
        "code": p.code,
        "version": p.version,
        "name": p.name,
        "field_code": p.field_code,
        "field_name": p.field_name,
        "level": p.level,
        "agencies": p.agency_codes,
        "processing_days": p.processing_days,
        "same_day": p.processing_days == 0,
        "effective_from": p.effective_from,
        "effective_to": p.effective_to,
        "components": p.components,
        "fees": p.fees,
        "results": p.results,
        "sample": p.sample,
    }


class ProcedureList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[ProcedureView]


class ProcedureVersion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int
    effective_from: date
    effective_to: date | None = Field(description="Last day in force; null while in force.")


class ProcedureDetail(ProcedureView):
    """The version in force on a day, and the dates of every version."""

    versions: list[ProcedureVersion]


def parse_catalog(
    raw: bytes | str,
    *,
    filename: str = "catalog.yaml",
    max_depth: int = MAX_DEPTH,
    max_nodes: int = MAX_NODES,
) -> CatalogSpec:
    """JSON or YAML (YAML is a superset; the name only improves the message).

    The shape is measured before anything is built: a deeply nested file would exhaust the
    parser's recursion, and YAML aliases can expand a few lines into billions of nodes.
    Synchronous and CPU-bound: call it off the event loop.
    """
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    data: Any = None
    parsed = False
    if text.lstrip().startswith(("{", "[")):
        _check_json_shape(text, filename, max_depth)
        # On failure (YAML flow style, or broken) the YAML parser below says which.
        with contextlib.suppress(ValueError):
            data, parsed = json.loads(text), True
    if not parsed:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        _check_yaml_shape(text, filename, max_depth, max_nodes, loader)
        try:
            data = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
        except yaml.YAMLError as exc:
            raise CatalogError(f"{filename} is not valid JSON or YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise CatalogError(f"{filename} must hold a mapping with 'procedures'")
    try:
        return CatalogSpec.model_validate(data)
    except ValidationError as exc:
        errors = [{"loc": [str(p) for p in e["loc"]], "msg": e["msg"]} for e in exc.errors()]
        raise CatalogError(f"{filename} does not match the catalog format", errors=errors) from exc


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def _too_deep(filename: str, max_depth: int) -> CatalogError:
    return CatalogError(
        f"{filename} lồng quá {max_depth} cấp (nested deeper than {max_depth} levels)",
        code="catalog_too_deep",
        max_depth=max_depth,
    )


def _check_json_shape(text: str, filename: str, max_depth: int) -> None:
    """Bracket depth outside strings, before ``json.loads`` recurses into it."""
    depth = 0
    for m in _JSON_BRACKET.finditer(_JSON_STRING.sub("", text)):
        depth += 1 if m.group() in "[{" else -1
        if depth > max_depth:
            raise _too_deep(filename, max_depth)


def _check_yaml_shape(
    text: str, filename: str, max_depth: int, max_nodes: int, loader: type[Any]
) -> None:
    """Walk the event stream (no recursion, nothing built): depth and nodes as expanded,
    aliases counted at the size of what they repeat, so a "billion laughs" stops here."""
    sizes: dict[str, tuple[int, int]] = {}  # anchor -> (nodes, height)
    stack: list[list[Any]] = []  # open collections: [anchor, nodes, height]
    total = 0

    def close(anchor: str | None, nodes: int, height: int) -> None:
        nonlocal total
        if anchor:
            sizes[anchor] = (nodes, height)
        if stack:
            stack[-1][1] += nodes
            stack[-1][2] = max(stack[-1][2], height + 1)  # heights count collections
        else:
            total += nodes
        if len(stack) + height > max_depth:
            raise _too_deep(filename, max_depth)
        if total + sum(c[1] for c in stack) > max_nodes:
            raise CatalogError(
                f"{filename} có quá {max_nodes} nút (more than {max_nodes} nodes)",
                code="catalog_too_many_nodes",
                max_nodes=max_nodes,
            )

    try:
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, yaml.CollectionStartEvent):
                stack.append([event.anchor, 1, 1])
                if len(stack) > max_depth:
                    raise _too_deep(filename, max_depth)
            elif isinstance(event, yaml.CollectionEndEvent):
                anchor, nodes, height = stack.pop()
                close(anchor, nodes, height)
            elif isinstance(event, yaml.ScalarEvent):
                close(event.anchor, 1, 0)
            elif isinstance(event, yaml.AliasEvent):
                if event.anchor not in sizes:
                    raise CatalogError(
                        f"{filename}: alias *{event.anchor} names no finished anchor",
                        code="catalog_invalid",
                    )
                close(None, *sizes[event.anchor])
    except yaml.YAMLError as exc:
        if "nesting depth" in str(exc):  # libyaml's own limit, met while scanning ahead
            raise _too_deep(filename, max_depth) from exc
        raise CatalogError(f"{filename} is not valid JSON or YAML: {exc}") from exc


def sample_catalog() -> CatalogSpec:
    text = resources.files("dossiers").joinpath("data", SAMPLE_CATALOG).read_text("utf-8")
    return parse_catalog(text, filename=SAMPLE_CATALOG)


def load_catalog_file(path: Path) -> CatalogSpec:
    return parse_catalog(path.read_bytes(), filename=path.name)


def import_catalog(
    session: Session, spec: CatalogSpec, *, replace: bool = False, today: date
) -> ImportReport:
    """Add units and procedure versions; with ``replace``, retire procedures not listed.

    A replacing catalog that lists no procedure is refused: it would retire every procedure in
    force (an empty or truncated file, not a decision anyone takes by uploading it)."""
    if replace and not spec.procedures:
        raise CatalogError(
            "a catalog that replaces the current one must list its procedures; this one lists "
            "none, which would retire them all",
            code="catalog_empty",
        )
    report = ImportReport(sample=spec.sample)
    for u in spec.units:
        unit = session.get(Unit, u.code)
        if unit is None:
            unit = Unit(code=u.code, valid_from=u.valid_from, province_code=u.code[-3:])
            session.add(unit)
        unit.name, unit.kind, unit.level, unit.area = u.name, u.kind, u.level, u.area
        unit.place, unit.postal_contact = u.place, dict(u.postal_contact)
        report.units.append(u.code)
    session.flush()
    listed: set[str] = set()
    for p in spec.procedures:
        listed.add(p.code)
        missing = [a for a in p.agencies if session.get(Unit, a) is None]
        if missing:
            raise CatalogError(
                f"procedure {p.code} routes to unknown units {missing}; "
                "import the units first or in the same file",
                code="catalog_unknown_unit",
            )
        content = _content(p, spec)
        latest = session.scalar(
            select(Procedure)
            .where(Procedure.code == p.code)
            .order_by(Procedure.version.desc())
            .limit(1)
        )
        if latest is not None and _same(latest, content) and latest.effective_to is None:
            report.unchanged.append(p.code)
            continue
        if latest is not None and p.effective_from <= latest.effective_from:
            raise CatalogError(
                f"procedure {p.code} changed but its effective_from {p.effective_from} is not "
                f"after the current version's {latest.effective_from}; give the new date",
                code="catalog_version_date",
            )
        if latest is not None and latest.effective_to is None:
            latest.effective_to = p.effective_from - timedelta(days=1)
        session.add(
            Procedure(
                code=p.code,
                version=(latest.version + 1) if latest else 1,
                effective_from=p.effective_from,
                **content,
            )
        )
        report.created.append(p.code)
    if replace:
        for proc in session.scalars(
            select(Procedure).where(Procedure.effective_to.is_(None), Procedure.code.not_in(listed))
        ):
            proc.effective_to = today
            report.retired.append(proc.code)
    session.flush()
    return report


def _content(p: ProcedureSpec, spec: CatalogSpec) -> dict[str, Any]:
    return {
        "name": p.name,
        "field_code": p.field_code,
        "field_name": p.field_name,
        "level": p.level,
        "agency_codes": list(p.agencies),
        "processing_days": p.processing_days,
        "components": [c.model_dump() for c in p.components],
        "fees": [f.model_dump() for f in p.fees],
        "results": [r.model_dump() for r in p.results],
        "sample": spec.sample,
        "source": spec.source[:255],
    }


def _same(proc: Procedure, content: dict[str, Any]) -> bool:
    return all(
        json.dumps(getattr(proc, k), sort_keys=True, default=str)
        == json.dumps(v, sort_keys=True, default=str)
        for k, v in content.items()
    )


def procedure_in_force(session: Session, code: str, at: date) -> Procedure:
    proc = session.scalar(
        select(Procedure)
        .where(
            Procedure.code == code,
            Procedure.effective_from <= at,
            or_(Procedure.effective_to.is_(None), Procedure.effective_to >= at),
        )
        .order_by(Procedure.version.desc())
        .limit(1)
    )
    if proc is None:
        raise NotFound(
            f"no procedure {code} in force on {at.isoformat()}", code="procedure_not_found"
        )
    return proc


def procedures_in_force(
    session: Session, at: date, *, query: str | None = None, field_code: str | None = None
) -> list[Procedure]:
    stmt = select(Procedure).where(
        Procedure.effective_from <= at,
        or_(Procedure.effective_to.is_(None), Procedure.effective_to >= at),
    )
    if field_code:
        stmt = stmt.where(Procedure.field_code == field_code)
    rows = list(session.scalars(stmt.order_by(Procedure.code)))
    if query:
        from dossiers.records.search import fold

        q = fold(query)
        rows = [p for p in rows if q in fold(f"{p.code} {p.name} {p.field_name}")]
    return rows


def list_procedures(
    session: Session, at: date, *, query: str | None = None, field_code: str | None = None
) -> ProcedureList:
    """The versions in force on ``at``, by code; ``query`` matches code, name or field."""
    rows = procedures_in_force(session, at, query=query, field_code=field_code)
    return ProcedureList(items=[ProcedureView.of(p) for p in rows])


def procedure_detail(session: Session, code: str, at: date) -> ProcedureDetail:
    """The version of ``code`` in force on ``at``, with the dates of all its versions."""
    proc = procedure_in_force(session, code, at)
    versions = [
        ProcedureVersion(
            version=v.version, effective_from=v.effective_from, effective_to=v.effective_to
        )
        for v in session.scalars(
            select(Procedure).where(Procedure.code == code).order_by(Procedure.version)
        )
    ]
    return ProcedureDetail(**_procedure_fields(proc), versions=versions)


def list_units(session: Session, *, kind: str | None = None) -> UnitList:
    stmt = select(Unit).order_by(Unit.code)
    if kind:
        stmt = stmt.where(Unit.kind == kind)
    return UnitList(items=[UnitView.of(u) for u in session.scalars(stmt)])
