"""Every download names its file by RFC 6266/5987: a receipt series with "Đ" and a quote once
made the header unencodable (header values are latin-1) and broke every download of its
receipts; now the browser gets the exact name back and old clients an ASCII one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from api.app import create_app
from api.params import content_disposition
from dossiers.models import ReceiptSeries
from storage.db import session_scope
from tests.dossiers.world import OWN, VN, World, make_world
from wiring.factory import build

APPLICANT = {"name": "Nguyễn Văn An", "id_type": "CCCD", "id_number": "001090012345"}
PAPERS = {"don_dang_ky": 1, "giay_chung_nhan": 1, "hop_dong": 1, "to_khai_thue": 2}
SERIES = 'ĐB"26\\'
PARAM = re.compile(r';\s*([A-Za-z*]+)=("(?:[^"\\]|\\.)*"|[^;]*)')


def browser_filename(header: str) -> str:
    """What a browser saves (RFC 6266 section 4.3): ``filename*`` decoded when present, else
    the quoted ``filename``; the header must be latin-1 to have reached the browser at all."""
    header.encode("latin-1")
    assert header.startswith("attachment;")
    params = {k.lower(): v for k, v in PARAM.findall(header)}
    if "filename*" in params:
        charset, _, encoded = params["filename*"].partition("''")
        assert charset.upper() == "UTF-8"
        return unquote(encoded, encoding="utf-8", errors="strict")
    return re.sub(r"\\(.)", r"\1", params["filename"].strip('"'))


def ascii_fallback(header: str) -> str:
    quoted = dict(PARAM.findall(header))["filename"]
    assert quoted.startswith('"') and quoted.endswith('"')
    inner = quoted[1:-1]
    assert inner.isascii() and inner.isprintable() and '"' not in inner and "\\" not in inner
    return inner


@pytest.fixture
def api(make_settings) -> Iterator[tuple[World, TestClient]]:  # type: ignore[no-untyped-def]
    services = build(make_settings())
    world = make_world(services, datetime(2026, 11, 27, 9, 0, tzinfo=VN))
    client = TestClient(create_app(services), raise_server_exceptions=False)
    yield world, client
    client.close()
    services.engine.dispose()


def test_a_receipt_series_with_d_and_a_quote_downloads(api) -> None:  # type: ignore[no-untyped-def]
    world, client = api
    with session_scope(world.services.sessions) as session:
        session.execute(
            update(ReceiptSeries).where(ReceiptSeries.unit_code == OWN).values(series=SERIES)
        )
    clerk = world.headers("lan.nt")
    d = client.post(
        "/api/v1/dossiers",
        headers=clerk,
        json={"procedure_code": "1.004227", "applicant": APPLICANT},
    ).json()
    client.post(
        f"/api/v1/dossiers/{d['id']}/components/check", headers=clerk, json={"provided": PAPERS}
    )
    assert client.post(f"/api/v1/dossiers/{d['id']}/receive", headers=clerk).status_code == 200
    paid = client.post(
        f"/api/v1/dossiers/{d['id']}/payments", headers=clerk, json={"method": "cash"}
    )
    assert paid.status_code == 201, paid.text
    receipts = client.get(f"/api/v1/dossiers/{d['id']}/receipts", headers=clerk).json()["items"]
    assert receipts
    for r in receipts:
        for kind in ("pdf", "xml"):
            resp = client.get(r[f"{kind}_url"], headers=clerk)
            assert resp.status_code == 200, resp.text
            header = resp.headers["content-disposition"]
            name = browser_filename(header)
            assert name.startswith(f"bien-lai-{SERIES}-") and name.endswith(f".{kind}")
            assert ascii_fallback(header).startswith("bien-lai-DB26-")
            assert resp.content[:5] == (b"%PDF-" if kind == "pdf" else b"<?xml")


@pytest.mark.parametrize(
    ("name", "fallback"),
    [
        ("doi-chieu-000.00.16.H99-2026-11-27.pdf", "doi-chieu-000.00.16.H99-2026-11-27.pdf"),
        ('Biên lai "Đặc biệt"\\.pdf', "Bien lai Dac biet.pdf"),
        ("Hồ sơ; filename=x.pdf", "Ho so; filename=x.pdf"),
        ("tab\there\r\nnew.pdf", "tabherenew.pdf"),
        ("Đ", "D"),
        ("漢字.pdf", ".pdf"),
        ("\x00\x1f", "download"),
    ],
)
def test_the_header_round_trips_any_name(name: str, fallback: str) -> None:
    header = content_disposition(name)
    assert ascii_fallback(header) == fallback
    expected = re.sub(r"[\x00-\x1f\x7f]", "", name).strip() or "download"
    assert browser_filename(header) == expected
