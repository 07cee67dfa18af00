"""Archive renewal over the ledger: documents signed by the pipeline (B-T, a real TSA over HTTP)
get a document timestamp from a newer TSA; the old file stays, fixity checks both, and the
scheduled fixity publishes its verdict on /metrics."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from asn1crypto import keys
from asn1crypto import x509 as asn1_x509
from PIL import Image
from pyhanko.sign.timestamps import DummyTimeStamper, HTTPTimeStamper, TimeStamper
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import select

from dossiers.audit import AuditEvent, verify_chain
from dossiers.records.fixity import check, scheduled_check
from dossiers.records.renewal import RenewalDeps, renew_due
from ingest.runner import run_step
from ingest.upload import accept_upload
from ingest.validate import spool
from signing.archive import archive_horizon
from signing.pki import DevPki
from signing.validation import validate_pdf
from signing.verify import load_certificates
from storage import metrics
from storage.db import session_scope
from storage.models import Document, DocumentVersion
from tests.fixtures.pki import LocalTsa
from wiring.factory import Services, build

SCRAPE = "prometheus-scrape-token"
# Due when the TSA certificate that made the signature timestamp (3 years) expires this soon.
MARGIN = dt.timedelta(days=5 * 365)


# --- a second, longer-lived TSA: the one a site would move to before the first one expires ----


@dataclass(frozen=True)
class NewTsa:
    timestamper: DummyTimeStamper
    root: asn1_x509.Certificate
    not_after: dt.datetime


@pytest.fixture(scope="module")
def new_tsa() -> NewTsa:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=10)

    def name(cn: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Renewal TSA (tests only)"),
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
            ]
        )

    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root = (
        x509.CertificateBuilder()
        .subject_name(name("Renewal Test Root"))
        .issuer_name(name("Renewal Test Root"))
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30 * 365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), False)
        .sign(root_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tsa = (
        x509.CertificateBuilder()
        .subject_name(name("Renewal Test TSA"))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=20 * 365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .sign(root_key, hashes.SHA256())
    )
    der = serialization.Encoding.DER
    tsa_cert = asn1_x509.Certificate.load(tsa.public_bytes(der))
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    return NewTsa(
        timestamper=DummyTimeStamper(
            tsa_cert=tsa_cert,
            tsa_key=keys.PrivateKeyInfo.load(
                key.private_bytes(
                    der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            ),
            certs_to_embed=SimpleCertificateStore(),
        ),
        root=asn1_x509.Certificate.load(root.public_bytes(der)),
        not_after=tsa_cert["tbs_certificate"]["validity"]["not_after"].native,
    )


# --- a ledger with signed documents -----------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def services(
    request: pytest.FixtureRequest, make_settings: Any, local_tsa: LocalTsa
) -> Iterator[Services]:
    # B-T through a TSA on 127.0.0.1: documents signed before B-LTA was the default.
    extra: dict[str, Any] = {
        "tsa_url": local_tsa.url,
        "pades_level": "B-T",
        "metrics_token": SCRAPE,
    }
    if request.param == "postgresql":
        extra["database_url"] = request.getfixturevalue("pg_database")
    svc = build(make_settings(**extra))
    yield svc
    svc.engine.dispose()


def _signed_document(services: Services, shade: int) -> str:
    """A one-page scan through the real pipeline (OCR, B-T signature, WORM store)."""
    image = Image.new("RGB", (600, 400), (255, 255, shade))
    buf = io.BytesIO()
    image.save(buf, "PNG", dpi=(300, 300))
    spooled = spool(
        [buf.getvalue()], services.settings.work_dir / f"up{shade}.png", max_bytes=10**6
    )
    scan = accept_upload(services, spooled, filename="page.png").scan
    run_step(services, scan.id, "ocr")
    run_step(services, scan.id, "sign")
    with session_scope(services.sessions) as session:
        return session.scalars(select(Document.id).where(Document.scan_id == scan.id)).one()


def _not_after(dev_pki: DevPki) -> dt.datetime:
    (cert,) = load_certificates(dev_pki.tsa_cert)
    value: dt.datetime = cert["tbs_certificate"]["validity"]["not_after"].native
    return value


def _trust(services: Services, dev_pki: DevPki, new_tsa: NewTsa) -> list[Any]:
    # The installation's roots, the signature TSA's, and the new TSA's.
    return [*services.trust_roots, *load_certificates(dev_pki.root_cert), new_tsa.root]


def _deps(services: Services, timestamper: TimeStamper, trust: list[Any]) -> RenewalDeps:
    return RenewalDeps(
        sessions=services.sessions,
        store=services.store,
        timestamper=timestamper,
        validation_context=lambda: ValidationContext(trust_roots=trust, allow_fetching=False),
        work_dir=services.settings.work_dir / "archive",
    )


def _row(services: Services, document_id: str) -> dict[str, Any]:
    with session_scope(services.sessions) as session:
        doc = session.get_one(Document, document_id)
        return {
            "key": doc.object_key,
            "sha256": doc.sha256,
            "size": doc.size,
            "version": doc.version,
            "archive_until": doc.archive_until,
            "lease": doc.renewal_lease_until,
        }


def _bytes(services: Services, key: str) -> bytes:
    with services.store.open(key) as fh:
        return fh.read()


def _object_keys(services: Services) -> set[str]:
    root = services.settings.resolved_store_path
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*.pdf")
        if p.is_file() and ".meta" not in p.parts
    }


def test_renewal_stores_a_new_version_and_keeps_the_old_one(
    services: Services, dev_pki: DevPki, new_tsa: NewTsa
) -> None:
    due_id = _signed_document(services, 250)
    later_id = _signed_document(services, 240)
    # Signing recorded when the signature timestamp's TSA certificate expires.
    assert _row(services, due_id)["archive_until"] == _not_after(dev_pki)
    far = dt.datetime.now(dt.UTC) + dt.timedelta(days=25 * 365)
    with session_scope(services.sessions) as session:
        # The second document was renewed already (its horizon is far away): left alone.
        session.get_one(Document, later_id).archive_until = far
        # The first was signed before the horizon was recorded: it is read from the file.
        session.get_one(Document, due_id).archive_until = None
    before, later_before = _row(services, due_id), _row(services, later_id)
    original = _bytes(services, before["key"])
    trust = _trust(services, dev_pki, new_tsa)

    report = renew_due(_deps(services, new_tsa.timestamper, trust), margin=MARGIN)

    assert report.ok and report.horizons_found == 1, report.to_dict()
    assert [r["id"] for r in report.renewed] == [due_id]
    after = _row(services, due_id)
    scan_dir = before["key"].rsplit("/", 1)[0]
    assert after["key"] == f"{scan_dir}/signed.v2.pdf" and after["version"] == 2
    assert after["archive_until"] == new_tsa.not_after and after["lease"] is None
    renewed = _bytes(services, after["key"])
    assert renewed.startswith(original) and len(renewed) == after["size"]
    assert hashlib.sha256(renewed).hexdigest() == after["sha256"]
    assert services.store.stat(after["key"]).sha256 == after["sha256"]
    # The old version is still there, byte for byte, and recorded.
    assert _bytes(services, before["key"]) == original
    with session_scope(services.sessions) as session:
        (old,) = session.scalars(select(DocumentVersion)).all()
        assert (old.document_id, old.version, old.object_key, old.sha256) == (
            due_id,
            1,
            before["key"],
            before["sha256"],
        )
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "document.archive_renewed")
        ).one()
        assert event.subject_id == due_id and event.data["previous_sha256"] == before["sha256"]
        assert verify_chain(session).ok
    assert _row(services, later_id) == later_before

    # Every signature and timestamp still validates, with one more document timestamp.
    path = services.settings.work_dir / "renewed.pdf"
    path.write_bytes(renewed)
    validation = validate_pdf(path, trust_roots=trust)
    (sig,) = validation.signatures
    assert sig.bottom_line and sig.timestamp is not None and sig.timestamp.ok, sig
    (doc_ts,) = validation.document_timestamps
    assert doc_ts.check.ok and doc_ts.check.tsa_name is not None
    assert "Renewal Test TSA" in doc_ts.check.tsa_name
    assert archive_horizon(path) == new_tsa.not_after

    # Fixity checks both versions of the renewed document.
    fixity = check(services.sessions, services.store)
    assert fixity.ok
    assert fixity.checked == 2 + 2 + 1  # two originals, two documents, one earlier version

    # Nothing is due any more: a second run renews nothing.
    again = renew_due(_deps(services, new_tsa.timestamper, trust), margin=MARGIN)
    assert again.due == 0 and not again.renewed and not again.failed


def test_a_tsa_failure_leaves_the_document_as_it_was(
    services: Services, dev_pki: DevPki, new_tsa: NewTsa, closed_port_url: str
) -> None:
    document_id = _signed_document(services, 250)
    keys_before = _object_keys(services)
    trust = _trust(services, dev_pki, new_tsa)
    down = HTTPTimeStamper(closed_port_url, timeout=2)

    report = renew_due(_deps(services, down, trust), margin=MARGIN)

    assert not report.ok and report.due == 1 and not report.renewed
    (failure,) = report.failed
    assert failure["id"] == document_id and failure["code"] == "timestamp_unavailable"
    row = _row(services, document_id)
    assert row["version"] == 1 and row["lease"] is None  # given back for the next run
    assert row["archive_until"] is not None  # the horizon read from the file is kept
    assert _object_keys(services) == keys_before
    with session_scope(services.sessions) as session:
        assert session.scalars(select(DocumentVersion)).all() == []
        counts = {(n, tuple(sorted(lab.items()))): v for n, lab, v in metrics.read_all(session)}
    assert counts[(metrics.RENEWALS, (("outcome", "failed"),))] == 1
    # The same TSA answering again: the next run renews it.
    assert renew_due(_deps(services, new_tsa.timestamper, trust), margin=MARGIN).renewed


def test_a_timestamp_from_the_same_expiring_tsa_is_not_stored(
    services: Services, dev_pki: DevPki, new_tsa: NewTsa
) -> None:
    """Renewing with the TSA whose certificate is the one expiring gains nothing and would
    leave a WORM copy behind every day: refused, reported, nothing written."""
    from tests.fixtures.pki import _load_tsa

    document_id = _signed_document(services, 250)
    keys_before = _object_keys(services)
    report = renew_due(
        _deps(services, _load_tsa(dev_pki), _trust(services, dev_pki, new_tsa)), margin=MARGIN
    )
    (failure,) = report.failed
    assert failure["id"] == document_id and failure["code"] == "archive_horizon_not_extended"
    assert _object_keys(services) == keys_before and _row(services, document_id)["version"] == 1


def test_dry_run_changes_nothing(services: Services, dev_pki: DevPki, new_tsa: NewTsa) -> None:
    document_id = _signed_document(services, 250)
    keys_before = _object_keys(services)
    trust = _trust(services, dev_pki, new_tsa)
    report = renew_due(_deps(services, new_tsa.timestamper, trust), margin=MARGIN, dry_run=True)
    assert report.due == 1 and [r["id"] for r in report.would_renew] == [document_id]
    assert report.unknown == 0 and not report.renewed
    assert _row(services, document_id)["version"] == 1 and _object_keys(services) == keys_before
    # A margin shorter than the TSA certificate's remaining life: nothing is due.
    short = renew_due(
        _deps(services, new_tsa.timestamper, trust), margin=dt.timedelta(days=30), dry_run=True
    )
    assert short.due == 0


class _HeldTimestamper(DummyTimeStamper):
    """A TSA that answers only when the test lets it: the first worker is then mid-renewal."""

    def __init__(self, inner: DummyTimeStamper) -> None:
        super().__init__(inner.tsa_cert, inner.tsa_key, inner.certs_to_embed)
        self.asked = threading.Event()
        self.release = threading.Event()

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> Any:
        self.asked.set()
        await asyncio.to_thread(self.release.wait)
        return await super().async_timestamp(message_digest, md_algorithm)


def test_two_workers_never_renew_the_same_document(
    pg_database: str, make_settings: Any, local_tsa: LocalTsa, dev_pki: DevPki, new_tsa: NewTsa
) -> None:
    services = build(
        make_settings(tsa_url=local_tsa.url, pades_level="B-T", database_url=pg_database)
    )
    try:
        document_id = _signed_document(services, 250)
        trust = _trust(services, dev_pki, new_tsa)
        held = _HeldTimestamper(new_tsa.timestamper)
        reports: list[Any] = []
        first = threading.Thread(
            target=lambda: reports.append(renew_due(_deps(services, held, trust), margin=MARGIN))
        )
        first.start()
        assert held.asked.wait(60), "the first worker never reached the TSA"
        # The first worker holds the document; a second one, now, finds nothing to do.
        second = renew_due(_deps(services, new_tsa.timestamper, trust), margin=MARGIN)
        held.release.set()
        first.join(60)
        assert not second.renewed and not second.failed, second.to_dict()
        (report,) = reports
        assert [r["id"] for r in report.renewed] == [document_id]
        with session_scope(services.sessions) as session:
            assert len(session.scalars(select(DocumentVersion)).all()) == 1
        assert _row(services, document_id)["version"] == 2
    finally:
        held.release.set()
        services.engine.dispose()


def _scrape(services: Services) -> dict[str, dict[tuple[str, tuple[Any, ...]], float]]:
    """/metrics as Prometheus reads it: family -> (sample, labels) -> value."""
    from fastapi.testclient import TestClient
    from prometheus_client.parser import text_string_to_metric_families

    from api.app import create_app

    with TestClient(create_app(services)) as client:
        resp = client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE}"})
    assert resp.status_code == 200, resp.text
    return {
        family.name: {(x.name, tuple(sorted(x.labels.items()))): x.value for x in family.samples}
        for family in text_string_to_metric_families(resp.text)
    }


def test_scheduled_fixity_publishes_a_mismatch(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    document_id = _signed_document(services, 250)
    ok = scheduled_check(services.sessions, services.store)
    assert ok.ok
    assert _scrape(services)["sohoa_fixity_last_run_ok"][("sohoa_fixity_last_run_ok", ())] == 1
    key = _row(services, document_id)["key"]
    stored = services.settings.resolved_store_path / key
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x01
    stored.write_bytes(bytes(data))

    bad = scheduled_check(services.sessions, services.store)

    assert [m["key"] for m in bad.mismatches] == [key]
    with session_scope(services.sessions) as session:
        values = {(n, tuple(sorted(lab.items()))): v for n, lab, v in metrics.read_all(session)}
    assert values[(metrics.FIXITY_PROBLEMS, (("kind", "mismatch"),))] == 1
    assert values[(metrics.FIXITY_LAST_OK, ())] == 0
    assert values[(metrics.FIXITY_LAST_RUN, ())] > 0
    scrape = _scrape(services)
    problems = scrape["sohoa_fixity_problems"]
    assert problems[("sohoa_fixity_problems_total", (("kind", "mismatch"),))] == 1
    assert scrape["sohoa_fixity_last_run_ok"][("sohoa_fixity_last_run_ok", ())] == 0
    alerts = [r for r in caplog.records if r.levelname == "ERROR" and "ALERT fixity" in r.message]
    assert len(alerts) == 1 and "1 mismatched" in alerts[0].getMessage()


def test_beat_schedules_both_jobs_and_the_tasks_run(services: Services) -> None:
    from dossiers.records.tasks import FIXITY_TASK, RENEW_TASK

    document_id = _signed_document(services, 250)
    app = services.celery  # the composition root puts both jobs on every app it builds
    schedule = app.conf.beat_schedule
    assert schedule["archive-renewal"]["task"] == RENEW_TASK
    assert schedule["fixity"]["task"] == FIXITY_TASK
    day = dt.timedelta(seconds=services.settings.fixity_interval)
    assert schedule["fixity"]["schedule"] == day == dt.timedelta(days=1)
    assert app.conf.task_routes[RENEW_TASK] == {"queue": "sign"}
    # Run as a worker would: the default 180-day margin finds nothing due (3-year TSA).
    assert app.tasks[RENEW_TASK].apply().get() == {"renewed": 0, "failed": 0}
    assert _row(services, document_id)["version"] == 1
    assert app.tasks[FIXITY_TASK].apply().get() == {"ok": True, "checked": 2}
    scrape = _scrape(services)
    assert scrape["sohoa_fixity_last_run_objects"][("sohoa_fixity_last_run_objects", ())] == 2


@pytest.mark.parametrize("services", ["sqlite"], indirect=True)
def test_archive_renew_command(services: Services) -> None:
    import os
    import subprocess
    import sys

    document_id = _signed_document(services, 250)
    s = services.settings
    env = {
        **os.environ,
        "SOHOA_DATA_DIR": str(s.data_dir),
        "SOHOA_TSA_URL": str(s.tsa_url),
        "SOHOA_PADES_LEVEL": "B-T",
        "SOHOA_PKI": "development",
    }

    def sohoa(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "wiring.cli", "archive", "renew", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    dry = sohoa("--margin-days", "2000", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert f"DUE {document_id}" in dry.stdout and "1 due" in dry.stdout
    # The signature timestamp came from a TSA outside this installation's trust roots (the
    # test PKI's): its chain cannot be extended, so the run refuses, says why and exits 1.
    real = sohoa("--margin-days", "2000")
    assert real.returncode == 1, real.stdout + real.stderr
    assert f"FAILED {document_id} archive_chain_broken" in real.stdout
    assert _row(services, document_id)["version"] == 1
