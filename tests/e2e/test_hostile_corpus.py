"""Every hostile file ends as a 4xx at upload or a scan with a final state, and nothing is lost."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from storage.db import session_scope
from storage.models import Refusal, Scan

pytestmark = pytest.mark.slow

ENCRYPTED_AND_INVALID = (
    "ocrmypdf/skew-encrypted.pdf",
    "ocrmypdf/encrypted_algo4.pdf",
    "ocrmypdf/invalid.pdf",
)


def _hostile_files(corpus: Path) -> list[Path]:
    files = sorted(
        p
        for p in (corpus / "hostile").rglob("*")
        if p.is_file()
        and not p.name.startswith("_")
        and not p.name.endswith((".out", ".md", ".txt"))
    )
    return files + [corpus / name for name in ENCRYPTED_AND_INVALID]


def test_hostile_files_file_by_file(make_stack, corpus: Path) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack()
    worker = stack.start_worker()
    outcomes: dict[str, str] = {}
    accepted: dict[str, str] = {}
    for path in _hostile_files(corpus):
        with path.open("rb") as f:
            resp = stack.client.post(
                "/api/v1/scans", headers=stack.auth, files={"file": (path.name, f)}
            )
        body = resp.json()
        if resp.status_code in (200, 202):
            accepted[body["id"]] = path.name
            continue
        assert 400 <= resp.status_code < 500, (path.name, resp.status_code, body)
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert body["code"] and body["detail"], (path.name, body)
        outcomes[path.name] = f"{resp.status_code} {body['code']}"
        _assert_refusal_answerable(stack, body.get("scan_id"), body["code"], path)

    states = stack.wait(list(accepted), timeout=1200)
    for scan_id, state in states.items():
        name = accepted[scan_id]
        if state["status"] == "failed":
            assert state["reason_code"] and state["reason_message"], (name, state)
        outcomes[name] = state["status"] + (
            f" {state['reason_code']}" if state["reason_code"] else ""
        )
        _assert_original_kept(
            stack, scan_id, next(p for p in _hostile_files(corpus) if p.name == name)
        )

    assert worker.poll() is None, "the worker died on a hostile file:\n" + stack.worker_logs()
    print("\n" + "\n".join(f"{name:55} {outcome}" for name, outcome in sorted(outcomes.items())))
    assert len(outcomes) == len(_hostile_files(corpus))
    # The encrypted PDFs must be refused at the counter with a reason that names the password.
    assert outcomes["skew-encrypted.pdf"] == "422 pdf_encrypted"
    assert outcomes["invalid.pdf"].startswith("422 ")


def _assert_refusal_answerable(stack, scan_id: str | None, code: str, path: Path) -> None:  # type: ignore[no-untyped-def]
    """A refusal costs a row, not a copy, and its scan id answers 410 with the reason."""
    if scan_id is None:  # refused before the body was read (size cap): nothing was received
        return
    with session_scope(stack.services.sessions) as s:
        refusal = s.get(Refusal, scan_id)
        assert refusal is not None, path.name
        assert refusal.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert refusal.quarantine_key is None and s.get(Scan, scan_id) is None
    gone = stack.client.get(f"/api/v1/scans/{scan_id}", headers=stack.auth)
    assert gone.status_code == 410, (path.name, gone.text)
    assert gone.json()["reason_code"] == code


def _assert_original_kept(stack, scan_id: str, path: Path) -> None:  # type: ignore[no-untyped-def]
    with session_scope(stack.services.sessions) as s:
        scan = s.get(Scan, scan_id)
        assert scan is not None, path.name
        key = scan.original_key
    with stack.services.store.open(key) as f:
        assert hashlib.sha256(f.read()).hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()
