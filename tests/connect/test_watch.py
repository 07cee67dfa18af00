"""A scanner's watch folder (``sohoa watch``): a complete file becomes a digitized scan and moves
to ``done/``; a file still being written is left alone; what cannot be a scan goes to
``failed/`` with the reason beside it; the same content is one scan, also across a restart; a
hostile name becomes no path outside the folder and no object key.

The pipeline is the real one on the embedded default (SQLite, a local store, the development
PKI), run in the test's process (``local``) or by a real worker from the broker."""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from connect.watch import (
    NAME_MAX,
    Handled,
    Outcome,
    Postponed,
    Verdict,
    WatchFolder,
    ignored,
    open_regular,
)
from dossiers.errors import NotFound
from dossiers.models import ComponentScan
from storage.db import session_scope
from storage.models import Document, Refusal, Scan
from tests.dossiers.world import VN, make_world
from tests.e2e.conftest import Stack
from tests.e2e.conftest import make_stack as e2e_stack  # noqa: F401  (a fixture, used below)
from tests.ocr.pagegen import A6, render_page
from wiring.factory import Services, build, enroll_dev_clerk
from wiring.watching import FolderIngest

REPO = Path(__file__).resolve().parents[2]
CLERK = "clerk1"  # the development PKI's default clerk


@pytest.fixture
def svc(make_settings: Callable[..., Any]) -> Iterator[Services]:
    services = build(make_settings())
    yield services
    services.engine.dispose()


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    path = tmp_path / "scanner share"  # a space, as a Windows share's folder often has
    path.mkdir()
    return path


def png(title: str, seed: int = 0) -> bytes:
    page = render_page(size_in=A6, paragraphs=(title, "Số: 12/UBND"), seed=seed)
    out = io.BytesIO()
    page.image.save(out, format="PNG", dpi=(300, 300))
    return out.getvalue()


def folder(root: Path, ingest: Callable[[Path], Outcome], **kwargs: Any) -> WatchFolder:
    """A watch folder as the CLI makes it, minus the waiting: tests drive the polls."""
    return WatchFolder(root, ingest, interval=0.01, **kwargs)


def scans(services: Services) -> list[Scan]:
    with session_scope(services.sessions) as session:
        rows = list(session.scalars(select(Scan).order_by(Scan.created_at)))
        session.expunge_all()
        return rows


def count(services: Services, model: Any) -> int:
    with session_scope(services.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def listing(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


class Recorder:
    """An ingest that keeps what it was given (and its bytes, read as the real one reads)."""

    def __init__(self, verdict: Verdict = Verdict.DONE) -> None:
        self.verdict = verdict
        self.seen: list[tuple[str, bytes]] = []
        self.fail_next = 0

    def __call__(self, path: Path) -> Outcome:
        with open_regular(path) as f:
            data = f.read()
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("the database is away")
        self.seen.append((path.name, data))
        return Outcome(self.verdict, "digitized", scan_id=f"s{len(self.seen)}")


# -- the real pipeline ------------------------------------------------------------------------


@pytest.mark.slow
def test_a_dropped_file_is_digitized_and_moved_to_done(svc: Services, inbox: Path) -> None:
    image = png("THÔNG BÁO tiếp nhận")
    (inbox / "thong-bao.png").write_bytes(image)
    handled: list[Handled] = []
    watch = folder(inbox, FolderIngest(svc, clerk=CLERK, local=True), on_handled=handled.append)

    assert watch.poll() == []  # seen once: not yet known to be complete
    [done] = watch.poll()
    assert done.outcome.verdict is Verdict.DONE and done.outcome.status == "digitized"
    assert done.moved_to == inbox / "done" / "thong-bao.png" and handled == [done]
    assert listing(inbox) == ["done"] and done.moved_to.read_bytes() == image
    [scan] = scans(svc)
    assert scan.id == done.outcome.scan_id and scan.status == "digitized"
    assert scan.filename == "thong-bao.png" and scan.clerk_id == CLERK
    with session_scope(svc.sessions) as session:
        doc = session.scalars(select(Document).where(Document.scan_id == scan.id)).one()
        assert doc.pages == 1
    assert watch.poll() == []  # nothing more to do, and done/ is not looked into


@pytest.mark.slow
def test_a_file_still_being_written_is_not_taken_until_complete(svc: Services, inbox: Path) -> None:
    """A writer thread appends a piece between every two polls: while it writes, no poll takes
    the file; the scan made once it stops is of the whole file."""
    image = png("GIẤY MỜI", seed=4)
    pieces = [image[i : i + 1024] for i in range(0, len(image), 1024)]
    assert len(pieces) > 4
    target = inbox / "giay-moi.png"
    turn, written = threading.Event(), threading.Event()

    def writer() -> None:
        with target.open("wb") as f:
            for piece in pieces:
                turn.wait()
                turn.clear()
                f.write(piece)
                f.flush()
                written.set()

    thread = threading.Thread(target=writer)
    thread.start()
    ingest = FolderIngest(svc, clerk=CLERK, local=True)
    watch = folder(inbox, ingest)
    for _ in pieces:
        turn.set()
        written.wait()
        written.clear()
        assert watch.poll() == [], "taken while the writer was still appending"
    thread.join()
    assert scans(svc) == []
    [done] = watch.poll()  # unchanged since the last poll: complete
    assert done.outcome.status == "digitized"
    [scan] = scans(svc)
    assert scan.size == len(image)
    assert (inbox / "done" / "giay-moi.png").read_bytes() == image


def test_garbage_goes_to_failed_with_the_reason_beside_it(svc: Services, inbox: Path) -> None:
    (inbox / "ghi-chu.pdf").write_bytes(b"not a scan at all, whatever the name says")
    (inbox / "hong.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <</Type /Catalog>> garbage")
    (inbox / "rong.png").write_bytes(b"")
    watch = folder(inbox, FolderIngest(svc, clerk=CLERK, local=True))
    watch.poll()
    handled = {h.name: h for h in watch.poll()}
    assert set(handled) == {"ghi-chu.pdf", "hong.pdf", "rong.png"}
    assert listing(inbox / "failed") == [
        "ghi-chu.pdf",
        "ghi-chu.pdf.reason.txt",
        "hong.pdf",
        "hong.pdf.reason.txt",
        "rong.png",
        "rong.png.reason.txt",
    ]
    assert listing(inbox) == ["failed"]
    codes = {name: h.outcome.reason_code for name, h in handled.items()}
    assert codes == {
        "ghi-chu.pdf": "unsupported_media_type",
        "hong.pdf": "file_corrupt",
        "rong.png": "empty_file",
    }
    reason = (inbox / "failed" / "ghi-chu.pdf.reason.txt").read_text(encoding="utf-8")
    assert "Tệp: ghi-chu.pdf" in reason
    assert "Mã lý do: unsupported_media_type" in reason
    assert "Lý do: Định dạng không hỗ trợ." in reason  # the problem catalog's Vietnamese
    assert "JPEG, PNG, TIFF or PDF" in reason  # the refusal's own words
    refusal_id = handled["ghi-chu.pdf"].outcome.scan_id
    assert refusal_id and f"Mã lượt quét: {refusal_id}" in reason
    assert handled["ghi-chu.pdf"].reason_file == inbox / "failed" / "ghi-chu.pdf.reason.txt"
    assert scans(svc) == []  # refused at the door: no scan, a refusal
    assert count(svc, Refusal) == 2  # the empty file is refused before anything is kept


@pytest.mark.slow
def test_the_same_content_twice_is_one_scan(svc: Services, inbox: Path) -> None:
    image = png("QUYẾT ĐỊNH", seed=2)
    garbage = b"MZ\x90\x00 a program, not a scan"
    (inbox / "a.png").write_bytes(image)
    (inbox / "x.bin").write_bytes(garbage)
    watch = folder(inbox, FolderIngest(svc, clerk=CLERK, local=True))
    watch.poll()
    first = {h.name: h.outcome for h in watch.poll()}
    # The clerk presses "scan" again on the same paper, and drops the same bad file again.
    (inbox / "b.png").write_bytes(image)
    (inbox / "a.png").write_bytes(image)  # the scanner reuses the name
    (inbox / "x.bin").write_bytes(garbage)
    watch.poll()
    second = {h.name: h.outcome for h in watch.poll()}
    assert set(second) == {"a.png", "b.png", "x.bin"}
    assert second["a.png"].scan_id == second["b.png"].scan_id == first["a.png"].scan_id
    assert second["a.png"].duplicate and second["b.png"].duplicate
    assert second["a.png"].verdict is Verdict.DONE
    assert second["x.bin"].scan_id == first["x.bin"].scan_id and second["x.bin"].duplicate
    assert len(scans(svc)) == 1 and count(svc, Refusal) == 1
    # Nothing is overwritten: the second a.png is kept beside the first.
    assert listing(inbox / "done") == ["a (1).png", "a.png", "b.png"]
    assert listing(inbox / "failed") == [
        "x (1).bin",
        "x (1).bin.reason.txt",
        "x.bin",
        "x.bin.reason.txt",
    ]
    again = (inbox / "failed" / "x (1).bin.reason.txt").read_text(encoding="utf-8")
    assert "đã được đưa vào trước đây" in again


@pytest.mark.slow
def test_a_restart_between_upload_and_move_makes_no_second_scan(
    make_settings: Callable[..., Any], inbox: Path
) -> None:
    """The process dies after the upload (and once more mid-pipeline): a new process, with
    nothing but the database to go on, finishes the same scans and moves the files."""
    settings = make_settings()
    image, other = png("BIÊN BẢN", seed=5), png("TỜ TRÌNH", seed=6)
    (inbox / "bien-ban.png").write_bytes(image)
    (inbox / "to-trinh.png").write_bytes(other)
    (inbox / "loi.txt").write_bytes(b"plain text")

    first = build(settings)
    # Uploaded and run to the end, then the process died before moving anything.
    FolderIngest(first, clerk=CLERK, local=True)(inbox / "bien-ban.png")
    FolderIngest(first, clerk=CLERK, local=True)(inbox / "loi.txt")
    # Accepted and queued, then stopped while waiting for a worker that never came.
    stopping = threading.Event()
    stopping.set()
    with pytest.raises(Postponed):
        FolderIngest(first, clerk=CLERK, stop=stopping)(inbox / "to-trinh.png")
    assert sorted(listing(inbox)) == ["bien-ban.png", "loi.txt", "to-trinh.png"]
    before = {s.filename: (s.id, s.status) for s in scans(first)}
    assert before["bien-ban.png"][1] == "digitized" and before["to-trinh.png"][1] == "received"
    assert count(first, Refusal) == 1
    first.engine.dispose()

    second = build(settings)
    handled = {
        h.name: h.outcome
        for h in folder(inbox, FolderIngest(second, clerk=CLERK, local=True)).once()
    }
    assert set(handled) == {"bien-ban.png", "to-trinh.png", "loi.txt"}
    after = {s.filename: (s.id, s.status) for s in scans(second)}
    assert after == {
        "bien-ban.png": (before["bien-ban.png"][0], "digitized"),
        "to-trinh.png": (before["to-trinh.png"][0], "digitized"),  # the same scan, finished
    }
    assert handled["to-trinh.png"].scan_id == before["to-trinh.png"][0]
    assert count(second, Refusal) == 1
    assert listing(inbox / "done") == ["bien-ban.png", "to-trinh.png"]
    assert listing(inbox / "failed") == ["loi.txt", "loi.txt.reason.txt"]
    second.engine.dispose()


@pytest.mark.slow
def test_a_failed_file_moved_back_into_the_folder_is_tried_again(
    svc: Services, inbox: Path
) -> None:
    """A scanner set up for a clerk who has no certificate yet: the scan fails at signing. The
    operator issues the certificate and moves the file back from failed/: the same scan is
    tried again from where it stopped, and the file goes to done/."""
    (inbox / "giay-to.png").write_bytes(png("GIẤY CHỨNG NHẬN", seed=8))
    watch = folder(inbox, FolderIngest(svc, clerk="moi.vao", local=True))
    watch.poll()
    (first,) = watch.poll()
    assert first.outcome.verdict is Verdict.FAILED
    assert first.outcome.reason_code == "signer_not_configured"
    assert listing(inbox / "failed") == ["giay-to.png", "giay-to.png.reason.txt"]

    assert enroll_dev_clerk(svc.settings, "moi.vao", "Trần Mới Vào")
    shutil.move(inbox / "failed" / "giay-to.png", inbox / "giay-to.png")
    watch.poll()
    (second,) = watch.poll()
    assert second.outcome.verdict is Verdict.DONE and second.outcome.retried
    assert second.outcome.scan_id == first.outcome.scan_id  # the same scan, not a second one
    assert [(s.id, s.status) for s in scans(svc)] == [(first.outcome.scan_id, "digitized")]
    assert listing(inbox / "done") == ["giay-to.png"]

    # Moved back once more while its cause is still there: it fails again, and says so.
    (inbox / "khac.png").write_bytes(png("TỜ KHAI", seed=9))
    other = folder(inbox, FolderIngest(svc, clerk="chua.co", local=True))
    other.poll()
    other.poll()
    shutil.move(inbox / "failed" / "khac.png", inbox / "khac.png")
    other.poll()
    (again,) = other.poll()
    assert again.outcome.verdict is Verdict.FAILED and again.outcome.retried
    reason = (inbox / "failed" / "khac (1).png.reason.txt").read_text(encoding="utf-8")
    assert "đã thử lại và vẫn không được" in reason


@pytest.mark.slow
def test_a_dossier_components_scans_join_it(svc: Services, inbox: Path) -> None:
    world = make_world(svc, datetime(2026, 11, 27, 9, 0, tzinfo=VN))
    lan = world.principal("lan.nt")
    from dossiers.workflow.service import ApplicantIn

    applicant = ApplicantIn(name="Phạm Thị Hương", id_type="CCCD", id_number="031190004567")
    ref = svc.dossiers.create(lan, procedure_code="1.004873", applicant=applicant)
    svc.dossiers.check_components(lan, ref, {"to_khai": 1})
    svc.dossiers.receive(lan, ref)  # now it has the code printed on form 01
    view = svc.dossiers.view(lan, ref)
    assert view.code
    paper = next(c for c in view.components if c.key == "to_khai")

    with pytest.raises(NotFound):
        FolderIngest(svc, clerk="lan.nt", dossier=view.code, component="nope").prepare()
    with pytest.raises(NotFound):  # another unit's counter does not see the dossier
        FolderIngest(svc, clerk="minh.tv", dossier=view.code, component=paper.id).prepare()

    ingest = FolderIngest(svc, clerk="lan.nt", dossier=view.code, component=paper.id, local=True)
    ingest.prepare()
    (inbox / "to-khai.png").write_bytes(png("TỜ KHAI", seed=7))
    watch = folder(inbox, ingest)
    watch.poll()
    [done] = watch.poll()
    assert done.outcome.status == "digitized"
    with session_scope(svc.sessions) as session:
        link = session.get(ComponentScan, done.outcome.scan_id)
        assert link is not None and link.component_id == paper.id
    after = svc.dossiers.view(lan, ref)
    assert next(c for c in after.components if c.id == paper.id).document_ids
    [scan] = scans(svc)
    assert scan.clerk_id == "lan.nt" and scan.unit_code == view.unit_code


# -- what is never taken, and names ----------------------------------------------------------


def test_only_complete_regular_files_of_the_folder_are_taken(inbox: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.pdf"
    secret.write_bytes(b"%PDF- outside the folder")
    names = [
        ".hidden.pdf",
        "scan.pdf.tmp",
        "scan.PART",
        "~$tokhai.docx",
        ".~lock.tokhai.docx#",
        "Thumbs.db",
        "desktop.ini",
        "copy.pdf~",
    ]
    for name in names:
        (inbox / name).write_bytes(b"x")
    for sub in ("done", "failed", "other"):
        (inbox / sub).mkdir()
        (inbox / sub / "inside.pdf").write_bytes(b"x")
    (inbox / "link.pdf").symlink_to(secret)
    os.mkfifo(inbox / "pipe.pdf")
    (inbox / "real.pdf").write_bytes(b"%PDF-1.7 real")
    recorder = Recorder()
    watch = folder(inbox, recorder)
    for _ in range(3):
        watch.poll()
    assert recorder.seen == [("real.pdf", b"%PDF-1.7 real")]
    assert all((inbox / name).exists() for name in names)
    assert listing(inbox / "done") == ["inside.pdf", "real.pdf"]
    assert listing(inbox / "other") == ["inside.pdf"] and (inbox / "link.pdf").is_symlink()
    assert secret.read_bytes() == b"%PDF- outside the folder"
    assert all(ignored(n) for n in names) and not ignored("a..b.pdf")
    with pytest.raises(OSError):  # even when asked directly: no link, no FIFO
        open_regular(inbox / "link.pdf")
    with pytest.raises(OSError):
        open_regular(inbox / "pipe.pdf")


def test_a_done_folder_that_is_a_link_leads_nowhere(inbox: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (inbox / "done").symlink_to(elsewhere)
    (inbox / "scan.pdf").write_bytes(b"%PDF-1 x")
    watch = folder(inbox, Recorder())
    watch.poll()
    with pytest.raises(NotADirectoryError):
        watch.poll()
    assert listing(elsewhere) == [] and (inbox / "scan.pdf").exists()


def test_a_file_that_changes_while_ingested_stays(inbox: Path) -> None:
    target = inbox / "scan.pdf"
    target.write_bytes(b"%PDF-1 first")

    def rewriting(path: Path) -> Outcome:
        path.write_bytes(b"%PDF-1 second, longer")
        return Outcome(Verdict.DONE, "digitized", scan_id="s1")

    watch = folder(inbox, rewriting)
    watch.poll()
    [handled] = watch.poll()
    assert handled.moved_to is None and target.read_bytes() == b"%PDF-1 second, longer"
    assert not (inbox / "done").exists()


def test_an_ingest_that_raises_leaves_the_file_and_tries_again_later(inbox: Path) -> None:
    now = [0.0]
    recorder = Recorder()
    recorder.fail_next = 2
    watch = WatchFolder(inbox, recorder, interval=1.0, clock=lambda: now[0])
    (inbox / "scan.pdf").write_bytes(b"%PDF-1 x")
    watch.poll()
    assert watch.poll() == [] and recorder.fail_next == 1  # failed once: stays
    assert (inbox / "scan.pdf").exists()
    assert watch.poll() == [] and recorder.fail_next == 1  # waits before trying again
    now[0] = 2.0
    assert watch.poll() == [] and recorder.fail_next == 0  # failed again: waits longer
    now[0] = 5.0
    assert watch.poll() == []
    now[0] = 6.0
    [done] = watch.poll()
    assert done.moved_to == inbox / "done" / "scan.pdf"


@pytest.mark.slow
def test_hostile_names_stay_inside_the_folder_and_out_of_the_keys(
    svc: Services, inbox: Path
) -> None:
    names = [
        "hồ sơ số 1 — ảnh chụp.png",  # Vietnamese, spaces, a dash
        "a..b.png",
        "..png..",  # a dotfile: never taken
        "x" * 240 + ".png",  # near the name limit: a numbered copy must still fit
        os.fsdecode(b"\xff\xferaw.png"),  # not UTF-8
        "<script>alert(1)<%2F..%2F.png",
        "CON.png",
    ]
    for i, name in enumerate(names):
        (inbox / name).write_bytes(png(f"GIẤY {i}", seed=10 + i))
    # A numbered copy is needed for the long name: one is in done/ already.
    (inbox / "done").mkdir()
    (inbox / "done" / names[3]).write_bytes(b"earlier")
    watch = folder(inbox, FolderIngest(svc, clerk=CLERK, local=True), parallel=2)
    watch.poll()
    handled = watch.poll()
    taken = {h.name for h in handled}
    assert taken == set(names) - {"..png.."}
    for h in handled:
        assert h.outcome.status == "digitized", h
        assert h.moved_to is not None and h.moved_to.parent == inbox / "done"
        assert len(os.fsencode(h.moved_to.name)) <= NAME_MAX
    moved = {h.name: h.moved_to for h in handled}
    assert moved[names[0]] == inbox / "done" / names[0]  # keeps its name
    long_copy = moved[names[3]]
    assert long_copy is not None and long_copy.name.endswith(" (1).png")
    assert (inbox / "done" / names[3]).read_bytes() == b"earlier"
    assert listing(inbox) == ["..png..", "done"]
    # No name reached the store: keys are scan ids.
    keys = [info.key for info in svc.store.list("")]
    assert keys and all(".." not in k and "hồ" not in k and "script" not in k for k in keys)
    rows = scans(svc)
    assert sorted(k for k in keys if k.startswith("originals/")) == sorted(
        f"originals/{s.id}/original.png" for s in rows
    )
    assert {s.id for s in rows} == {h.outcome.scan_id for h in handled}
    for scan in rows:
        assert "/" not in scan.filename and "\udcff" not in scan.filename


# -- through the broker, and the command ----------------------------------------------------


@pytest.fixture
def stack(request: pytest.FixtureRequest) -> Stack:
    """The end-to-end tests' topology on the embedded default: API services and real workers."""
    make: Callable[..., Stack] = request.getfixturevalue("e2e_stack")
    return make()


@pytest.mark.slow
def test_queued_scans_are_run_by_a_worker_then_moved(stack: Stack, inbox: Path) -> None:
    """The default: scans are queued like the API's uploads; a real worker runs them."""
    stack.start_worker()
    (inbox / "giay.png").write_bytes(png("GIẤY XÁC NHẬN", seed=20))
    (inbox / "rac.pdf").write_bytes(b"%PDF-")
    ingest = FolderIngest(stack.services, clerk=CLERK, wait_interval=0.2)
    handled = {h.name: h for h in folder(inbox, ingest).once()}
    assert handled["giay.png"].outcome.status == "digitized", stack.worker_logs()
    assert handled["rac.pdf"].outcome.verdict is Verdict.FAILED
    assert listing(inbox / "done") == ["giay.png"]
    assert listing(inbox / "failed") == ["rac.pdf", "rac.pdf.reason.txt"]
    api = stack.scan(handled["giay.png"].outcome.scan_id or "")
    assert api["status"] == "digitized" and api["document_id"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_sohoa_watch_once(tmp_path: Path, inbox: Path) -> None:
    """The command as a cron job runs it: the defaults (B-LTA on the development PKI, served
    by the command itself), the pipeline in its own process."""
    (inbox / "thong bao.png").write_bytes(png("THÔNG BÁO", seed=30))
    (inbox / "notes.txt").write_text("not a scan")
    (inbox / "dang-ghi.pdf.part").write_bytes(b"%PDF-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOHOA_")}
    env.update(
        SOHOA_DATA_DIR=str(tmp_path / "data"),
        SOHOA_PUBLIC_URL=f"http://127.0.0.1:{_free_port()}",
        OMP_THREAD_LIMIT="1",
        PYTHONWARNINGS="ignore",
        COLUMNS="200",
        # This checkout's code, whatever an older editable install of it maps (``connect``
        # joined the packages after some venvs were made).
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    )
    command = [sys.executable, "-m", "wiring.cli", "watch", str(inbox), "--clerk", CLERK]
    result = subprocess.run(
        [*command, "--once", "--local", "--interval", "0.3"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 1, out  # one of the two was not a scan
    assert "✓ thong bao.png → done/thong bao.png (digitized" in out
    assert "✗ notes.txt → failed/notes.txt (unsupported_media_type" in out
    assert "1 done, 1 failed" in out
    assert listing(inbox) == ["dang-ghi.pdf.part", "done", "failed"]
    assert listing(inbox / "failed") == ["notes.txt", "notes.txt.reason.txt"]

    signed = tmp_path / "signed.pdf"
    services = build_from(env)
    try:
        with session_scope(services.sessions) as session:
            doc = session.scalars(select(Document)).one()
            key = doc.object_key
        services.store.get_to_file(key, signed)
    finally:
        services.engine.dispose()
    verify = subprocess.run(
        [sys.executable, "-m", "wiring.cli", "verify", str(signed)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0 and "VALID" in verify.stdout, verify.stdout + verify.stderr

    # Run again: nothing new is complete, nothing is taken twice.
    again = subprocess.run(
        [*command, "--once", "--local", "--interval", "0.3"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 0 and "0 done, 0 failed" in again.stdout, again.stdout

    bad = subprocess.run(
        [*command, "--dossier", "000.00.16.H99-261127-0001", "--once"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "--component" in bad.stderr
    shutil.rmtree(tmp_path / "data", ignore_errors=True)


def build_from(env: dict[str, str]) -> Services:
    """The command's services, from the environment it was given."""
    from core.settings import Settings

    saved = dict(os.environ)
    os.environ.update({k: v for k, v in env.items() if k.startswith("SOHOA_")})
    try:
        return build(Settings())
    finally:
        os.environ.clear()
        os.environ.update(saved)
