"""The ``sohoa`` command: run the service, digitize files locally, verify signed files."""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(
    help="sohoa: scan → OCR → PDF/A → PAdES signature → object storage.", no_args_is_help=True
)
pki_app = typer.Typer(help="Development PKI.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
catalog_app = typer.Typer(help="The procedures catalog.", no_args_is_help=True)
staff_app = typer.Typer(help="Staff accounts and their tokens.", no_args_is_help=True)
archive_app = typer.Typer(help="Long-term archive of signed documents.", no_args_is_help=True)
app.add_typer(pki_app, name="pki")
app.add_typer(db_app, name="db")
app.add_typer(catalog_app, name="catalog")
app.add_typer(staff_app, name="staff")
app.add_typer(archive_app, name="archive")
outbox_app = typer.Typer(
    help="What leaves the system: the portal, notifications, webhooks.", no_args_is_help=True
)
app.add_typer(outbox_app, name="outbox")
dvcqg_app = typer.Typer(help="The national portal (DVCQG) sync.", no_args_is_help=True)
app.add_typer(dvcqg_app, name="dvcqg")
console = Console()
err = Console(stderr=True)


def _configure_logging(level: str | None = None) -> tuple[str, str]:
    """Logs on stderr as SOHOA_LOG_FORMAT and SOHOA_LOG_LEVEL say; returns (level, format).

    Settings that do not load give text at INFO, so the error about them is still readable.
    """
    from core.logs import configure_logging

    try:
        settings = _settings()
    except ValueError:  # pydantic's ValidationError and SettingsError are ValueErrors
        fmt, level = "text", (level or "INFO")
    else:
        fmt, level = settings.log_format, (level or settings.log_level)
    level = level.upper()
    try:
        configure_logging(level, fmt)
    except ValueError:  # an unknown level name
        configure_logging("INFO", fmt)
        logging.getLogger("sohoa").warning("unknown log level %r; logging at INFO", level)
        level = "INFO"
    return level, fmt


def _settings():  # type: ignore[no-untyped-def]
    from core.settings import Settings

    return Settings()


def _start_sweeper(services, stop: threading.Event) -> threading.Thread:  # type: ignore[no-untyped-def]
    from ingest.pipeline import sweep

    def loop() -> None:
        while not stop.wait(services.settings.sweep_interval):
            try:
                sweep(services)
            except Exception:
                logging.getLogger("sohoa.sweeper").warning("sweep failed", exc_info=True)

    thread = threading.Thread(target=loop, name="sweeper", daemon=True)
    thread.start()
    return thread


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Pool processes (default: CPU cores + 1).")] = 0,
    queues: Annotated[str, typer.Option(help="Queues to consume.")] = "ocr,sign",
    loglevel: Annotated[
        str | None, typer.Option(help="Log level (default: SOHOA_LOG_LEVEL, else INFO).")
    ] = None,
    beat: Annotated[
        bool, typer.Option(help="Also send the periodic tasks (one machine only, as `run`).")
    ] = False,
) -> None:
    """Run a Celery worker for the pipeline (and the sweeper that re-enqueues stalled scans)."""
    from wiring.factory import build

    loglevel, _ = _configure_logging(loglevel)
    services = build(_settings())
    stop = threading.Event()
    _start_sweeper(services, stop)
    argv = [
        "worker",
        "--queues",
        queues,
        "--concurrency",
        # One document more than cores: while one is being prepared or signed, the others'
        # pages keep every Tesseract slot (one per core, machine-wide) busy.
        str(concurrency or (os.cpu_count() or 2) + 1),
        "--pool",
        "prefork",
        "--hostname",
        f"sohoa-{os.getpid()}@{socket.gethostname()}",
        "--loglevel",
        loglevel,
        "--without-gossip",
        "--without-mingle",
    ]
    if beat:
        argv += ["--beat", "--schedule", str(services.settings.data_dir / "celerybeat-schedule")]
    try:
        services.celery.worker_main(argv)
    finally:
        stop.set()
        logging.shutdown()
    # Celery has shut its pool down by now. Skip multiprocessing's exit hooks: when a process
    # manager signals the whole group, the children die holding the pool's queue lock and
    # billiard's finalizer would wait for that lock forever.
    os._exit(0)


@app.command()
def api(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
) -> None:
    """Serve the REST API."""
    import uvicorn

    from core.logs import logging_dict

    level, fmt = _configure_logging()
    if workers > 1:
        # Spawned worker processes start with bare logging; uvicorn applies log_config in each.
        uvicorn.run(
            "wiring.asgi:create",
            host=host,
            port=port,
            workers=workers,
            factory=True,
            log_config=logging_dict(level, fmt),
            access_log=False,
        )
        return
    from wiring.asgi import application
    from wiring.factory import build

    # log_config=None: uvicorn keeps its hands off logging (its default installs handlers of its
    # own that stop propagation); our middleware writes the access lines.
    uvicorn.run(
        application(build(_settings())), host=host, port=port, log_config=None, access_log=False
    )


@app.command()
def run(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
) -> None:
    """API and worker together on one machine (the embedded default unless configured otherwise)."""
    import uvicorn

    from wiring.asgi import application
    from wiring.factory import build

    _configure_logging()
    # The development PKI's certificates name its OCSP/CRL/TSA at this server's address.
    os.environ.setdefault("SOHOA_PUBLIC_URL", f"http://{host}:{port}")
    if not os.environ.get("SOHOA_API_TOKEN"):
        os.environ["SOHOA_API_TOKEN"] = secrets.token_urlsafe(24)
        generated = True
    else:
        generated = False
    settings = _settings()
    services = build(settings)
    services.signers  # noqa: B018 - creates the development PKI before the worker starts
    sample = _load_sample_catalog_if_empty(services)
    demo = _demo_desk(services)
    worker_proc = subprocess.Popen(
        # One machine: its worker also sends archive renewal and fixity on their intervals.
        [sys.executable, "-m", "wiring.cli", "worker", "--beat"],
        env=os.environ.copy(),
        preexec_fn=_die_with_parent,
    )
    token = os.environ["SOHOA_API_TOKEN"]
    banner = [f"web   http://{host}:{port}/web/   (the counter's page: sign in with a token below)"]
    for staff_id, secret in (demo.tokens if demo else {}).items():
        banner.append(f"demo  {staff_id:<13} {secret}")
    banner += [
        f"token {token}   (administrator"
        + ("; this run only, set SOHOA_API_TOKEN to keep one)" if generated else ")"),
        f"API   http://{host}:{port}/api/v1",
        f"docs  http://{host}:{port}/docs",
        f"data  {settings.data_dir.resolve()} (development PKI: not for production)",
        f"sign  PAdES {settings.pades_level}; timestamps, OCSP and CRL of the development PKI "
        f"at {settings.resolved_pki_url}",
        f"try   curl -H 'Authorization: Bearer {token}' -F file=@scan.jpg http://{host}:{port}/api/v1/scans",
    ]
    if sample:
        banner.append(
            f"catalog: SAMPLE data loaded ({sample} procedures, fictitious province H99); "
            "replace it with `sohoa catalog import FILE --replace`"
        )
    print("\n".join(banner), flush=True)
    try:
        uvicorn.run(application(services), host=host, port=port, log_config=None, access_log=False)
    finally:
        worker_proc.send_signal(signal.SIGTERM)
        try:
            worker_proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker_proc.kill()


def _die_with_parent() -> None:
    """Linux: the worker gets SIGTERM when `sohoa run` goes, however it goes.

    uvicorn re-raises the signal that stopped it, so `run`'s own cleanup may never execute.
    """
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@app.command()
def sweep() -> None:
    """Re-enqueue accepted scans that are not running, once."""
    from ingest.pipeline import sweep as do_sweep
    from wiring.factory import build

    _configure_logging()
    console.print(f"re-enqueued {do_sweep(build(_settings()))} scan(s)")


@app.command()
def digitize(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True)],
    out: Annotated[Path, typer.Option(help="Where to write the signed PDFs.")] = Path("digitized"),
    clerk: Annotated[str | None, typer.Option(help="Clerk whose certificate signs.")] = None,
    password: Annotated[str | None, typer.Option(help="Password of encrypted PDFs.")] = None,
    languages: Annotated[
        str | None,
        typer.Option(
            help="Read every page in these (vi, en, fr; comma-separated) instead of "
            "Vietnamese first with English or French where a page is not."
        ),
    ] = None,
) -> None:
    """Run the whole pipeline locally on FILES, without a broker, and print a summary table.

    Several files are in flight at once, so their pages share the engine's Tesseract queue and
    one file's preparation and signing overlap another's reading: every core stays busy.
    """
    from collections import Counter
    from concurrent.futures import ThreadPoolExecutor

    from wiring.factory import build

    _configure_logging("WARNING")
    services = build(_settings())
    _serve_dev_pki_if_down(services)
    out.mkdir(parents=True, exist_ok=True)
    in_flight = max(1, min(len(files), 2 * services.settings.ocr_jobs))
    # Two inputs may share a stem (a.pdf, a.png): those outputs carry the file's number.
    stems = Counter(path.stem for path in files)
    targets = [
        out / (f"{p.stem}.signed.pdf" if stems[p.stem] == 1 else f"{p.stem}.{n + 1}.signed.pdf")
        for n, p in enumerate(files)
    ]
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        overall = progress.add_task("files", total=len(files))

        def one(numbered: tuple[int, Path]) -> _Digitized:
            number, path = numbered
            task = progress.add_task(f"  {path.name}", total=None)
            try:
                return _digitize_file(
                    services,
                    path,
                    number,
                    target=targets[number],
                    clerk=clerk,
                    password=password,
                    languages=languages,
                    watch=lambda scan_id: _progress_watcher(services, scan_id, progress, task),
                )
            finally:
                progress.remove_task(task)
                progress.advance(overall)

        with ThreadPoolExecutor(in_flight, thread_name_prefix="digitize") as pool:
            done = list(pool.map(one, enumerate(files)))
    table = Table("file", "pages (paths)", "status", "output", "signature valid")
    for result in done:
        table.add_row(*result.row)
    console.print(table)
    for result in done:
        for notice in result.notices:
            console.print(f"{result.row[0]}: {notice}")
    raise typer.Exit(1 if any(r.row[3] == "-" for r in done) else 0)


def _serve_dev_pki_if_down(services) -> None:  # type: ignore[no-untyped-def]
    """Without ``sohoa run`` nothing answers the development PKI's TSA and OCSP at the address
    its certificates name; a local ``digitize`` then serves them itself, from a thread, while it
    runs. Another server at that address is left alone (it is ``sohoa run``, or it says why
    signing fails)."""
    import urllib.parse

    import httpx

    settings = services.settings
    if settings.pades_level == "B-B" or settings.tsa_url or services.dev_authority is None:
        return
    url = settings.resolved_pki_url
    try:
        httpx.get(f"{url}/crl", timeout=2)
        return
    except httpx.TransportError:
        pass
    where = urllib.parse.urlsplit(url)
    if where.hostname not in ("127.0.0.1", "localhost"):
        return  # another machine's: nothing to start here
    import uvicorn

    from api.routers.pki import standalone_app

    server = uvicorn.Server(
        uvicorn.Config(
            standalone_app(services),
            host=where.hostname,
            port=where.port or 80,
            log_config=None,
            access_log=False,
        )
    )
    thread = threading.Thread(target=server.run, name="dev-pki", daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.02)
    if not server.started:
        err.print(
            f"the development PKI's services cannot be served at {url}; start `sohoa run`, or "
            "sign without timestamps: SOHOA_PADES_LEVEL=B-B"
        )
        raise typer.Exit(2)


@dataclass(frozen=True)
class _Digitized:
    row: tuple[str, str, str, str, str]  # file, pages, status, output, signature valid
    notices: list[str]


def _digitize_file(  # type: ignore[no-untyped-def]
    services,
    path: Path,
    number: int,
    *,
    target: Path,
    clerk: str | None,
    password: str | None,
    languages: str | None,
    watch,
) -> _Digitized:
    """One file of ``sohoa digitize``: accept, OCR, sign, fetch and verify it."""
    from ingest.errors import IngestError
    from ingest.runner import run_step
    from ingest.upload import accept_upload, upload_dir
    from ingest.validate import read_chunks, spool
    from signing.verify import verify_pdf
    from storage.db import session_scope
    from storage.models import Document, Scan, Step

    status, pages, output, valid = "failed", "-", "-", "-"
    notices: list[str] = []
    spooled_path = upload_dir(services.pipeline_config) / f"cli-{os.getpid()}-{number}"
    try:
        with path.open("rb") as f:
            spooled = spool(
                read_chunks(f), spooled_path, max_bytes=services.settings.max_upload_bytes
            )
        accepted = accept_upload(
            services,
            spooled,
            filename=path.name,
            clerk_id=clerk,
            password=password,
            languages=languages,
        )
        scan_id = accepted.scan.id
        for step in (Step.OCR, Step.SIGN):
            stop = watch(scan_id)
            outcome = run_step(services, scan_id, step)
            stop.set()
            if outcome.retry:
                outcome = run_step(services, scan_id, step)
        with session_scope(services.sessions) as session:
            scan = session.get(Scan, scan_id)
            assert scan is not None
            doc = session.query(Document).filter(Document.scan_id == scan_id).one_or_none()
            status = scan.status if not scan.reason_code else f"{scan.status}: {scan.reason_code}"
            pages = str(scan.pages_total or "-")
            notices.extend(w for w in scan.warnings if "rescan_suggested" in w)
            if doc is not None:
                pages = f"{doc.pages} {_paths_summary(doc.page_info)}"
                services.store.get_to_file(doc.object_key, target)
                output = str(target)
                report = verify_pdf(
                    target,
                    trust_roots=services.trust_roots,
                    other_certs=services.other_certs,
                    expected_sha256=doc.sha256,
                )
                valid = "yes" if report.ok else "NO"
    except IngestError as exc:
        status = f"refused: {exc.code}"
    finally:
        spooled_path.unlink(missing_ok=True)
    return _Digitized((path.name, pages, status, output, valid), notices)


def _paths_summary(page_info: list[dict[str, object]]) -> str:
    """ "(text 2, scan 1)": how the pages were made, for the operator's table."""
    from collections import Counter

    counts = Counter(str(page.get("path")) for page in page_info)
    return "(" + ", ".join(f"{path} {n}" for path, n in counts.items()) + ")" if counts else ""


def _progress_watcher(services, scan_id: str, progress: Progress, task) -> threading.Event:  # type: ignore[no-untyped-def]
    """Mirror the scan's pages done / total from the ledger onto the progress bar."""
    from storage.db import session_scope
    from storage.models import Scan

    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(0.5):
            with session_scope(services.sessions) as session:
                scan = session.get(Scan, scan_id)
                if scan is not None and scan.pages_total:
                    progress.update(task, total=scan.pages_total, completed=scan.pages_done)

    threading.Thread(target=loop, daemon=True).start()
    return stop


@app.command()
def watch(
    folder: Annotated[
        Path, typer.Argument(exists=True, file_okay=False, dir_okay=True, readable=True)
    ],
    clerk: Annotated[str, typer.Option(help="Clerk whose certificate signs the scans.")],
    dossier: Annotated[
        str | None,
        typer.Option(help="Attach every scan to this dossier, by code or id (with --component)."),
    ] = None,
    component: Annotated[
        str | None, typer.Option(help="The dossier's component (paper) the scans belong to.")
    ] = None,
    interval: Annotated[
        float, typer.Option(min=0.05, help="Seconds between two looks at the folder.")
    ] = 2.0,
    once: Annotated[
        bool, typer.Option("--once", help="Take what is complete now, then exit (cron, tests).")
    ] = False,
    local: Annotated[
        bool,
        typer.Option(
            "--local",
            help="Run the pipeline in this process, as `digitize` does, instead of queueing "
            "the scans for the workers of `sohoa run` / `sohoa worker`.",
        ),
    ] = False,
    parallel: Annotated[
        int, typer.Option(min=0, help="Files in flight at once (default: 2 × SOHOA_OCR_JOBS).")
    ] = 0,
    languages: Annotated[
        str | None, typer.Option(help="Read every page in these (vi, en, fr; comma-separated).")
    ] = None,
) -> None:
    """Watch FOLDER (a scanner's share) and digitize every file dropped in it.

    A file is taken once it has stopped growing (unchanged over two looks), uploaded like an
    upload to the API, and moved to FOLDER/done/ once its scan is digitized, or to
    FOLDER/failed/ with a <name>.reason.txt saying why. The same content is never scanned
    twice, also across restarts.
    """
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from connect.watch import Handled, Outcome, Verdict, WatchFolder, printable
    from core.errors import SohoaError
    from wiring.factory import build
    from wiring.watching import FolderIngest

    _configure_logging("WARNING")
    if (dossier is None) != (component is None):
        err.print("--dossier and --component go together")
        raise typer.Exit(2)
    services = build(_settings())
    stop = threading.Event()
    ingest = FolderIngest(
        services,
        clerk=clerk,
        dossier=dossier,
        component=component,
        local=local,
        languages=languages,
        wait_interval=min(interval, 0.5),
        stop=stop,
    )
    try:
        ingest.prepare()
    except SohoaError as exc:
        err.print(f"{exc} ({exc.code})", markup=False)
        raise typer.Exit(2) from None
    if local:
        _serve_dev_pki_if_down(services)

    def taken(path: Path) -> Outcome:
        console.print(f"… {printable(path.name)}", markup=False, highlight=False, soft_wrap=True)
        return ingest(path)

    def report(done: Handled) -> None:
        o = done.outcome
        moved = done.moved_to
        where = f"{o.verdict.value}/{printable(moved.name)}" if moved else "(left in place)"
        why = o.reason_code or o.status
        again = ", already seen" if o.duplicate else ""
        mark = "✓" if o.verdict is Verdict.DONE else "✗"
        line = f"{mark} {printable(done.name)} → {where} ({why}, scan {o.scan_id or '-'}{again})"
        console.print(line, markup=False, highlight=False, soft_wrap=True)

    zone = ZoneInfo(services.settings.timezone)
    watcher = WatchFolder(
        folder,
        taken,
        interval=interval,
        parallel=parallel or max(1, 2 * services.settings.ocr_jobs),
        on_handled=report,
        now=lambda: datetime.now(zone),  # the reason file's time, as the counter reads it
    )
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if once:
        handled = watcher.once(stop)
        failed = [h for h in handled if h.outcome.verdict is Verdict.FAILED]
        console.print(f"{len(handled) - len(failed)} done, {len(failed)} failed")
        raise typer.Exit(1 if failed else 0)
    console.print(
        f"watching {folder} every {interval:g} s as {clerk}"
        + (f" for {dossier} / {component}" if dossier else "")
        + ("; the pipeline runs here" if local else "; scans queued for the workers"),
        markup=False,
        highlight=False,
    )
    watcher.run(stop)


@app.command()
def verify(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    sha256: Annotated[
        str | None, typer.Option(help="SHA-256 recorded at signing, if known.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    revocation: Annotated[
        str | None,
        typer.Option(
            help="soft-fail or hard-fail (the auditor's); default SOHOA_VERIFY_REVOCATION."
        ),
    ] = None,
    online: Annotated[
        bool | None,
        typer.Option("--online/--offline", help="Fetch OCSP/CRL; default SOHOA_VERIFY_ONLINE."),
    ] = None,
    etsi_xml: Annotated[
        Path | None,
        typer.Option("--etsi-xml", help="Also write the ETSI TS 119 102-2 report here."),
    ] = None,
) -> None:
    """Verify a signed PDF; exit 0 only if every signature is intact, valid and trusted now,
    or proven valid at its timestamp by the long-term evidence it carries."""
    from signing.validation import etsi_report
    from signing.verify import verify_pdf
    from wiring.factory import build

    services = build(_settings())
    settings = services.settings
    mode = revocation or settings.verify_revocation
    if mode not in ("soft-fail", "hard-fail"):
        err.print("--revocation is soft-fail or hard-fail")
        raise typer.Exit(2)
    fetch = settings.verify_online if online is None else online
    report = verify_pdf(
        file,
        trust_roots=services.trust_roots,
        other_certs=services.other_certs,
        expected_sha256=sha256,
        revocation=mode,  # type: ignore[arg-type]
        online=fetch,
    )
    if etsi_xml is not None:
        try:
            xml = etsi_report(
                file,
                trust_roots=services.trust_roots,
                other_certs=services.other_certs,
                revocation=mode,  # type: ignore[arg-type]
                online=fetch,
            )
        except ValueError as exc:
            err.print(f"no ETSI report: {exc}")
            raise typer.Exit(1) from None
        etsi_xml.write_text(xml, encoding="utf-8")
    data = report.to_dict()
    if as_json:
        console.print_json(json.dumps(data, ensure_ascii=False, default=str))
    else:
        table = Table("check", "result", title=f"Verification of {file.name}")
        for key, value in data.items():
            if key != "signatures":
                table.add_row(key, str(value))
        console.print(table)
        for sig in data.get("signatures", []):
            sig_table = Table("field", "value", title=f"signature {sig.get('field_name', '')}")
            for key, value in sig.items():
                sig_table.add_row(key, str(value))
            console.print(sig_table)
        console.print("[green]VALID[/]" if report.ok else "[red]NOT VALID[/]")
    raise typer.Exit(0 if report.ok else 1)


@pki_app.command("init")
def pki_init(
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Where to create it (default: data/pki).")
    ] = None,
    clerk: Annotated[
        list[str] | None, typer.Option(help="Clerk as id:Full Name; repeatable.")
    ] = None,
) -> None:
    """Create a development CA, a unit certificate and clerk certificates (NOT for production)."""
    from signing.pki import init_dev_pki
    from wiring.factory import DEV_CLERKS

    settings = _settings()
    clerks = [tuple(c.split(":", 1)) for c in clerk] if clerk else list(DEV_CLERKS)
    if any(len(c) != 2 for c in clerks):
        err.print("give clerks as id:Full Name, e.g. --clerk clerk3:'Lê Văn Hùng'")
        raise typer.Exit(2)
    target = directory or settings.resolved_pki_dir
    pki = init_dev_pki(
        target,
        unit_name=settings.unit_name,
        unit_code=settings.unit_code,
        clerks=clerks,  # type: ignore[arg-type]
        password=settings.pkcs12_password.get_secret_value(),
        base_url=settings.resolved_pki_url,
    )
    console.print(f"development PKI in {target} (NOT FOR PRODUCTION)")
    console.print(str(pki))


@pki_app.command("serve")
def pki_serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8080,
) -> None:
    """Serve the development PKI's OCSP responder, CRL and TSA alone (compose's ``pki``)."""
    import uvicorn

    from api.ratelimit import limiter_for
    from api.routers.pki import standalone_app
    from wiring.factory import build

    _configure_logging()
    services = build(_settings())
    authority = services.dev_authority
    if authority is None:
        err.print("no development PKI here: it serves only where the development PKI signs")
        raise typer.Exit(2)
    app = standalone_app(services)
    app.state.rate_limiter = limiter_for(services.settings)  # shared with the API's, by Redis
    console.print(f"development PKI services at {services.settings.resolved_pki_url}")
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)


@pki_app.command("revoke")
def pki_revoke(
    signer: Annotated[str, typer.Argument(help="Clerk id, or 'unit'.")],
    reason: Annotated[str, typer.Option(help="RFC 5280 reason.")] = "key_compromise",
) -> None:
    """Revoke a development certificate: its signatures made from now on no longer validate."""
    from signing.errors import SignerConfigError
    from signing.pki import revoke

    settings = _settings()
    try:
        entry = revoke(settings.resolved_pki_dir, signer, reason=reason)
    except SignerConfigError as exc:
        err.print(str(exc))
        raise typer.Exit(2) from None
    console.print(
        f"revoked {entry.signer_id} (serial {entry.serial:X}) at {entry.revoked_at.isoformat()}"
        f" for {entry.reason}; restart the workers after issuing a new certificate"
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations to the configured database."""
    from storage.db import upgrade

    settings = _settings()
    upgrade(settings.resolved_database_url)
    console.print("database schema is up to date")


def _demo_desk(services):  # type: ignore[no-untyped-def]
    """On the SAMPLE catalog, the demo desk's people and this run's tokens; else None."""
    from dossiers.models import Unit
    from storage.db import session_scope
    from wiring.demo import WARD, open_demo_desk

    with session_scope(services.sessions) as session:
        if session.get(Unit, WARD) is None:
            return None
    return open_demo_desk(services)


def _load_sample_catalog_if_empty(services) -> int:  # type: ignore[no-untyped-def]
    """A first start has something to show; the sample is marked as such everywhere."""
    from sqlalchemy import func, select

    from dossiers.admin.catalog import import_catalog, sample_catalog
    from dossiers.models import Procedure
    from storage.db import session_scope

    with session_scope(services.sessions) as session:
        if session.scalar(select(func.count()).select_from(Procedure)):
            return 0
        report = import_catalog(session, sample_catalog(), today=services.dossiers.today())
        return len(report.created)


@catalog_app.command("import")
def catalog_import(
    file: Annotated[Path | None, typer.Argument(help="catalog as JSON or YAML")] = None,
    sample: Annotated[bool, typer.Option(help="import the bundled sample catalog")] = False,
    replace: Annotated[bool, typer.Option(help="retire procedures the file does not list")] = False,
) -> None:
    """Import units and procedure versions; unchanged procedures are left as they are."""
    from dossiers.admin.catalog import import_catalog, load_catalog_file, sample_catalog
    from dossiers.errors import DossierError
    from storage.db import session_scope
    from wiring.factory import build

    if (file is None) == (not sample):
        err.print("give a catalog FILE or --sample")
        raise typer.Exit(2)
    services = build(_settings())
    try:
        spec = sample_catalog() if sample else load_catalog_file(file)  # type: ignore[arg-type]
        with session_scope(services.sessions) as session:
            report = import_catalog(session, spec, replace=replace, today=services.dossiers.today())
    except (DossierError, OSError) as exc:
        err.print(f"catalog not imported: {exc}")
        for e in getattr(exc, "extra", {}).get("errors", []):
            err.print(f"  {e['loc']}: {e['msg']}")
        raise typer.Exit(1) from None
    console.print_json(json.dumps({"sample": spec.sample, **report.as_dict()}, ensure_ascii=False))


@staff_app.command("add")
def staff_add(
    staff_id: Annotated[str, typer.Argument()],
    name: Annotated[str, typer.Option()],
    role: Annotated[str, typer.Option(help="counter, agency, harvester, auditor or admin")],
    unit: Annotated[str | None, typer.Option(help="unit code, e.g. 000.00.16.H08")] = None,
    employer: Annotated[str, typer.Option(help="civil_servant or postal")] = "civil_servant",
    email: Annotated[str, typer.Option(help="where deadline alerts go")] = "",
    token: Annotated[bool, typer.Option(help="also print a new API token")] = True,
) -> None:
    """Create a staff account (a counter clerk also gets a development certificate)."""
    from dossiers.access import BOOTSTRAP
    from dossiers.admin import staffing
    from dossiers.errors import DossierError
    from storage.db import session_scope
    from wiring.factory import build, enroll_dev_clerk

    services = build(_settings())
    try:
        with session_scope(services.sessions) as session:
            staffing.create_staff(
                session,
                BOOTSTRAP,
                staff_id=staff_id,
                name=name,
                role=role,
                unit_code=unit,
                employer=employer,
                email=email,
                today=services.dossiers.today(),
            )
            session.flush()
            secret = staffing.new_token(session, BOOTSTRAP, staff_id) if token else None
    except DossierError as exc:
        err.print(f"staff not created: {exc}")
        raise typer.Exit(1) from None
    if role == "counter" and enroll_dev_clerk(services.settings, staff_id, name):
        console.print(f"issued a DEVELOPMENT signing certificate for {staff_id}")
    console.print(f"created {role} {staff_id}")
    if secret:
        console.print(f"token {secret}   (shown once; only its hash is stored)")


@staff_app.command("token")
def staff_token(staff_id: Annotated[str, typer.Argument()]) -> None:
    """Print a new API token for an existing staff member."""
    from dossiers.access import BOOTSTRAP
    from dossiers.admin import staffing
    from dossiers.errors import DossierError
    from storage.db import session_scope
    from wiring.factory import build

    services = build(_settings())
    try:
        with session_scope(services.sessions) as session:
            secret = staffing.new_token(session, BOOTSTRAP, staff_id)
    except DossierError as exc:
        err.print(f"no token: {exc}")
        raise typer.Exit(1) from None
    console.print(f"token {secret}   (shown once; only its hash is stored)")


@app.command()
def fixity(
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Re-hash every stored object against its recorded SHA-256; exit 1 on any mismatch."""
    from dossiers.records.fixity import check
    from wiring.factory import build

    services = build(_settings())
    with Progress(
        TextColumn("fixity"), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True
    ) as bar:
        task = bar.add_task("objects", total=None)
        report = check(
            services.sessions, services.store, progress=lambda n: bar.update(task, completed=n)
        )
    if as_json:
        console.print_json(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        console.print(f"checked {report.checked} objects, {report.bytes / 2**20:.1f} MiB")
        for label, rows in (
            ("MISMATCH", report.mismatches),
            ("MISSING", report.missing),
            ("UNREADABLE", report.unreadable),
        ):
            for row in rows:
                console.print(f"{label} {row['kind']} {row['id']} {row['key']}")
        console.print(
            "fixity ok" if report.ok else "fixity FAILED: restore from a replica or backup"
        )
    raise typer.Exit(0 if report.ok else 1)


@outbox_app.command("status")
def outbox_status(
    as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
) -> None:
    """Pending, retrying and dead deliveries per subscriber; exit 1 if any is dead."""
    from wiring.factory import build

    metrics = build(_settings()).dispatcher.metrics()
    if as_json:
        console.print_json(json.dumps(asdict(metrics), ensure_ascii=False))
    else:
        console.print(
            f"{metrics.undispatched} event(s) not fanned out yet "
            f"(oldest {metrics.oldest_undispatched_seconds:.0f} s)"
        )
        if not metrics.subscribers:
            console.print(
                "no deliveries yet: subscribers are the portal (SOHOA_DVCQG_URL), the citizen's "
                "channels (SOHOA_SMTP_HOST, SOHOA_SMS_URL, SOHOA_ZALO_URL) and webhooks"
            )
        for name, m in metrics.subscribers.items():
            console.print(
                f"{name}: {m.pending} pending ({m.retrying} retrying, oldest "
                f"{m.oldest_pending_seconds:.0f} s), {m.dead} dead, {m.delivered} delivered"
            )
    if any(m.dead for m in metrics.subscribers.values()):
        raise typer.Exit(1)


@outbox_app.command("dispatch")
def outbox_dispatch(
    budget: Annotated[float, typer.Option(help="Stop after this many seconds.")] = 30.0,
) -> None:
    """Deliver what is due now (what the beat task does), then exit."""
    from wiring.factory import build

    _configure_logging()
    report = build(_settings()).dispatcher.run(budget_seconds=budget)
    console.print(
        f"{report.fanned_out} event(s) fanned out, {report.delivered} delivered, "
        f"{report.retried} to retry, {report.dead} dead"
    )


@outbox_app.command("replay")
def outbox_replay(
    event: Annotated[
        list[int] | None, typer.Option("--event", help="An event id (repeatable).")
    ] = None,
    since: Annotated[
        datetime | None, typer.Option(help="Events at or after (ISO 8601, with offset).")
    ] = None,
    until: Annotated[datetime | None, typer.Option(help="Events before (ISO 8601).")] = None,
    subscriber: Annotated[
        str | None, typer.Option(help="Only this subscriber (and back-fill it).")
    ] = None,
    include_delivered: Annotated[
        bool, typer.Option(help="Send delivered events again too, not only dead letters.")
    ] = False,
) -> None:
    """Put dead letters (or named events) back in line for the next dispatcher run."""
    from dossiers.calendar import VN_TZ
    from wiring.factory import build

    # A time without an offset is the counter's: Vietnam's (as in the admin API).
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=VN_TZ)
    if until is not None and until.tzinfo is None:
        until = until.replace(tzinfo=VN_TZ)
    try:
        count = build(_settings()).dispatcher.replay(
            event_ids=event or [],
            since=since,
            until=until,
            subscriber=subscriber,
            include_delivered=include_delivered,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    console.print(f"{count} delivery(ies) back in line")


@dvcqg_app.command("report")
def dvcqg_report(
    since: Annotated[datetime, typer.Option(help="First day (YYYY-MM-DD, Vietnam's calendar).")],
    until: Annotated[datetime, typer.Option(help="Last day, included.")],
    unit: Annotated[str | None, typer.Option(help="One unit's code.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """The sync rate (dossiers synced / received, QĐ 766) per unit, and why the others are not;
    exit 1 if any dossier of the period is not synced."""
    from datetime import timedelta

    from connect.dvcqg.report import sync_rate
    from dossiers.access import BOOTSTRAP
    from dossiers.calendar import VN_TZ
    from storage.db import session_scope
    from wiring.factory import build

    start = since.replace(tzinfo=VN_TZ) if since.tzinfo is None else since
    end = (until.replace(tzinfo=VN_TZ) if until.tzinfo is None else until) + timedelta(days=1)
    if end <= start:
        raise typer.BadParameter("--until is before --since")
    services = build(_settings())
    with session_scope(services.sessions) as session:
        report = sync_rate(session, BOOTSTRAP, start, end, unit)
    if as_json:
        console.print_json(report.model_dump_json())
    else:

        def pct(rate: float | None) -> str:
            return "-" if rate is None else f"{rate:.1%}"

        for row in report.units:
            console.print(f"{row.unit_code}: {row.synced}/{row.received} ({pct(row.rate)})")
        console.print(f"all: {report.synced}/{report.received} ({pct(report.rate)})")
        for item in report.not_synced:
            said = f" [{item.portal_code}]" if item.portal_code else ""
            console.print(f"NOT SYNCED {item.code} {item.reason}{said}: {item.last_error}")
    if report.not_synced_total:
        raise typer.Exit(1)


@archive_app.command("renew")
def archive_renew(
    margin_days: Annotated[
        int | None,
        typer.Option(help="Renew what expires within N days (default: SOHOA_ARCHIVE_MARGIN_DAYS)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="List what is due; change nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Add a document timestamp to every document whose newest one expires soon; exit 1 on
    any failure."""
    from wiring.archive import renew
    from wiring.factory import build

    _configure_logging()
    report = renew(build(_settings()), margin_days=margin_days, dry_run=dry_run)
    if as_json:
        console.print_json(json.dumps(report.to_dict(), ensure_ascii=False, default=str))
    elif dry_run:
        for row in report.would_renew:
            console.print(f"DUE {row['id']} {row['key']} until {row['archive_until']}")
        console.print(f"{report.due} due, {report.unknown} not known yet (read on a real run)")
    else:
        for row in report.renewed:
            console.print(f"RENEWED {row['id']} v{row['version']} until {row['archive_until']}")
        for row in report.failed:
            console.print(f"FAILED {row['id']} {row['code']}: {row['error']}")
        console.print(
            f"{report.due} due, {len(report.renewed)} renewed, {len(report.failed)} failed, "
            f"{len(report.skipped)} held by another worker"
        )
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def beat(
    loglevel: Annotated[
        str | None, typer.Option(help="Log level (default: SOHOA_LOG_LEVEL, else INFO).")
    ] = None,
) -> None:
    """Send the periodic tasks (archive renewal, fixity) on their intervals; run exactly one."""
    from wiring.factory import build

    loglevel, _ = _configure_logging(loglevel)
    services = build(_settings())
    schedule = services.settings.data_dir / "celerybeat-schedule"
    services.celery.start(["beat", "--schedule", str(schedule), "--loglevel", loglevel])


def main() -> None:
    app()


if __name__ == "__main__":
    main()
