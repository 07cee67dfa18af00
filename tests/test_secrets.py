"""The URL secret: random per data dir when SOHOA_URL_SECRET is unset, shared by every process
on that data dir, and never a key from the source: OAI resumption tokens and the local store's
presigned URLs made by one installation mean nothing to another, and the key never leaves."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import stat
import threading
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.routers import oai
from dossiers.records import harvest
from tests.api.test_oai import NS, add_records
from tests.conftest import TOKEN
from tests.dossiers.world import VN, make_world
from wiring.factory import URL_SECRET_FILE, Services, build, url_secret

# What api/routers/oai.py signed tokens with when SOHOA_URL_SECRET was unset (issue 13).
OLD_SOURCE_KEY = b"sohoa-oai-development-key"


def _services(make_settings: Any, data: Path, **overrides: Any) -> Services:
    return build(make_settings(data_dir=data, harvest_grants={"harvest": ["*"]}, **overrides))


def _client(services: Services) -> TestClient:
    app = create_app(services)
    app.state.harvest = replace(
        oai.config_from_settings(services.settings, services.url_secret), page_size=5
    )
    return TestClient(app)


def test_the_secret_is_random_private_and_kept_in_the_data_dir(
    make_settings: Any, tmp_path: Path
) -> None:
    a = _services(make_settings, tmp_path / "a")
    again = _services(make_settings, tmp_path / "a")
    other = _services(make_settings, tmp_path / "b")
    path = tmp_path / "a" / URL_SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert a.url_secret == again.url_secret == path.read_text().strip().encode()
    assert len(a.url_secret) >= 64 and a.url_secret != other.url_secret
    assert OLD_SOURCE_KEY not in (a.url_secret, other.url_secret)
    for svc in (a, again, other):
        svc.engine.dispose()


def test_processes_starting_together_agree(make_settings: Any, tmp_path: Path) -> None:
    settings = make_settings(data_dir=tmp_path / "fresh")
    got: list[bytes] = []
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        got.append(url_secret(settings))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8 and len(set(got)) == 1
    assert [p.name for p in (tmp_path / "fresh").iterdir()] == [URL_SECRET_FILE]  # no leftovers


def test_a_configured_secret_wins_and_no_file_is_made(make_settings: Any, tmp_path: Path) -> None:
    settings = make_settings(data_dir=tmp_path / "c", url_secret="operator-chosen-secret-value")
    assert url_secret(settings) == b"operator-chosen-secret-value"
    assert not (tmp_path / "c" / URL_SECRET_FILE).exists()


def _forge(data: dict[str, Any], key: bytes) -> str:
    body = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{body}.{harvest._mac(key, body)}"


def test_tokens_are_good_on_the_same_data_dir_only(
    make_settings: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    a = _services(make_settings, tmp_path / "a")
    make_world(a, datetime(2026, 11, 27, 9, 0, tzinfo=VN))
    add_records(a, 12)
    replica = _services(make_settings, tmp_path / "a")  # a second API process, same data dir
    stranger = _services(make_settings, tmp_path / "b")  # another installation
    make_world(stranger, datetime(2026, 11, 27, 9, 0, tzinfo=VN))
    headers = {"Authorization": f"Bearer {TOKEN}"}
    bodies: list[str] = []

    def ask(svc: Services, **params: str) -> str | None:
        with _client(svc) as client:
            resp = client.get("/oai", params=params, headers=headers)
            bodies.append(resp.text)
            for path in ("/readyz", "/healthz"):
                bodies.append(client.get(path).text)
        from lxml import etree

        doc = etree.fromstring(resp.content)
        err = doc.find("o:error", NS)
        if err is not None:
            return str(err.get("code"))
        token = doc.find(".//o:resumptionToken", NS)
        return token.text if token is not None else None

    token = ask(a, verb="ListIdentifiers", metadataPrefix="oai_dc")
    assert token and "." in token
    assert ask(replica, verb="ListIdentifiers", resumptionToken=token) not in (
        "badResumptionToken",
        None,
    )
    assert ask(stranger, verb="ListIdentifiers", resumptionToken=token) == "badResumptionToken"

    # A token keyed with what used to be in the source is worthless everywhere now.
    old_key = hmac.new(OLD_SOURCE_KEY, b"oai-pmh resumption token", hashlib.sha256).digest()
    forged = _forge(
        {"v": 1, "k": "ListIdentifiers", "m": "oai_dc", "s": None, "f": None, "u": None, "a": 0,
         "c": 0},
        old_key,
    )  # fmt: skip
    assert ask(a, verb="ListIdentifiers", resumptionToken=forged) == "badResumptionToken"

    # A presigned link of the local store made by one installation is refused by another.
    key = "probe/secret-test.txt"
    for svc in (a, stranger):
        svc.store.put(key, io.BytesIO(b"hello"), content_type="text/plain")
    url = a.store.presigned_url(key, timedelta(minutes=5))
    path = url.split("://", 1)[1].split("/", 1)[1]
    with _client(replica) as client:
        assert client.get("/" + path).status_code == 200
    with _client(stranger) as client:
        refused = client.get("/" + path)
        assert refused.status_code == 403
        bodies.append(refused.text)

    secrets_ = {a.url_secret.decode(), stranger.url_secret.decode()}
    for body in bodies:
        assert not any(s in body for s in secrets_)
    assert not any(s in caplog.text for s in secrets_)
    for svc in (a, replica, stranger):
        svc.engine.dispose()
