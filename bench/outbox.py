"""Benchmark: how fast the outbox leaves the system, against plain HTTP in the same run.

An integrator's receiver (stdlib ThreadingHTTPServer, checking each HMAC signature) listens on
127.0.0.1. Three figures, measured back to back on the embedded default (SQLite ledger) or the
database named by ``--database-url``:

- raw: the same signed POSTs sent straight by ``--concurrency`` threads over one pooled httpx
  client, no ledger — the most any dispatcher could do here;
- throughput: ``--events`` outbox events (``--per-dossier`` each, so order constraints bite)
  fanned out and delivered by ``Dispatcher.run`` through the production ``WebhookSubscriber``;
- latency: events written one at a time at ``--rate`` per second while a dispatcher loop runs
  every ``--interval`` seconds (beat's ``SOHOA_OUTBOX_INTERVAL``): from the commit of the
  change to the receiver's answer, p50 / p95 / max.

    OMP_THREAD_LIMIT=1 .venv/bin/python bench/outbox.py --events 2000
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

UNIT = "000.00.16.H99"


class Sink:
    """The receiver: verifies the signature, records when each event id arrived."""

    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()
        self.arrived: dict[int, float] = {}
        self.bad = 0
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stamp = self.headers.get("Sohoa-Timestamp", "")
                mac = hmac.new(sink.secret, stamp.encode() + b"." + body, hashlib.sha256)
                ok = hmac.compare_digest(
                    f"v1={mac.hexdigest()}", self.headers.get("Sohoa-Signature", "")
                )
                with sink.lock:
                    if ok:
                        sink.arrived.setdefault(int(self.headers["Sohoa-Event-Id"]), time.time())
                    else:
                        sink.bad += 1
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def build_services(data_dir: Path, database_url: str | None) -> Any:
    from core.settings import Settings
    from dossiers.admin.catalog import import_catalog, sample_catalog
    from storage.db import session_scope
    from wiring.factory import build

    extra = {"database_url": database_url, "pki": "development"} if database_url else {}
    services = build(Settings(data_dir=data_dir, api_token="b" * 32, **extra))  # type: ignore[arg-type]
    with session_scope(services.sessions) as session:
        import_catalog(session, sample_catalog(), today=datetime.now(UTC).date())
    return services


def write_events(services: Any, n: int, per_dossier: int, tag: str) -> list[int]:
    """``n`` events for ``n / per_dossier`` dossiers, each in its own committed transaction
    (as the desk writes them: one change, one event)."""
    from dossiers.models import OutboxEvent
    from storage.db import session_scope

    ids = []
    for i in range(n):
        with session_scope(services.sessions) as session:
            row = OutboxEvent(
                at=datetime.now(UTC),
                kind="dossier.route",
                dossier_id=f"{tag}{i // per_dossier:06d}",
                unit_code=UNIT,
                province_code="H99",
                payload={"kind": "dossier.route", "n": i, "to_status": 4},
                fanned_out=False,
            )
            session.add(row)
            session.flush()
            ids.append(row.id)
    return ids


def raw_posts(sink: Sink, secret: str, n: int, concurrency: int) -> float:
    """Events/s of the same signed POSTs sent straight, over one pooled client (kept-alive
    connections): the most any dispatcher could get out of this receiver."""
    import httpx

    from connect.webhooks import sign

    def post(i: int) -> None:
        body = b'{"id":%d,"kind":"dossier.route"}' % (10**9 + i)
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "Sohoa-Event-Id": str(10**9 + i),
            "Sohoa-Timestamp": stamp,
            "Sohoa-Signature": sign(secret, stamp, body),
        }
        client.post(sink.url, content=body, headers=headers).raise_for_status()

    started = time.perf_counter()
    with httpx.Client(timeout=10) as client, ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(post, range(n)))
    return n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--per-dossier", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rate", type=float, default=20.0, help="events/s in the latency run")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the latency run")
    parser.add_argument("--interval", type=float, default=2.0, help="beat interval (s)")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    from connect.dispatcher import Dispatcher, DispatchPolicy
    from connect.webhooks import WebhookService, active_subscribers
    from dossiers.access import BOOTSTRAP

    with tempfile.TemporaryDirectory() as tmp:
        services = build_services(Path(tmp), args.database_url)
        sink = Sink("")
        hooks = WebhookService(
            services.sessions,
            services.url_secret,
            clock=lambda: datetime.now(UTC),
            https_only=False,
        )
        made = hooks.create(
            BOOTSTRAP, scope="province", scope_code="H99", url=sink.url, events=["dossier.*"]
        )
        sink.secret = made.secret.encode()
        dispatcher = Dispatcher(
            services.sessions,
            lambda: active_subscribers(services.sessions, services.url_secret, guard=False),
            policy=DispatchPolicy(concurrency=args.concurrency),
        )

        raw = raw_posts(sink, made.secret, args.events, args.concurrency)

        started = time.perf_counter()
        ids = write_events(services, args.events, args.per_dossier, "t")
        written = time.perf_counter() - started
        started = time.perf_counter()
        report = dispatcher.run(budget_seconds=3600)
        took = time.perf_counter() - started
        assert report.delivered == args.events and all(i in sink.arrived for i in ids), report
        rate = args.events / took

        stop = threading.Event()

        def loop() -> None:
            while not stop.is_set():
                dispatcher.run(budget_seconds=args.interval)
                stop.wait(args.interval)

        worker = threading.Thread(target=loop, daemon=True)
        worker.start()
        committed: dict[int, float] = {}
        count = int(args.rate * args.seconds)
        for i in range(count):
            [event_id] = write_events(services, 1, 1, f"l{i}-")
            committed[event_id] = time.time()
            time.sleep(1 / args.rate)
        deadline = time.time() + 60
        while time.time() < deadline and not all(i in sink.arrived for i in committed):
            time.sleep(0.05)
        stop.set()
        worker.join()
        lat = sorted(sink.arrived[i] - t for i, t in committed.items() if i in sink.arrived)

    print(f"database: {'SQLite (embedded)' if not args.database_url else args.database_url}")
    print(f"writing {args.events} events, one transaction each: {args.events / written:.0f}/s")
    print(f"raw signed POSTs, {args.concurrency} threads: {raw:.0f} events/s")
    print(
        f"outbox dispatcher ({args.per_dossier} events per dossier, {args.concurrency} in "
        f"flight): {rate:.0f} events/s = {rate / raw:.2f} x raw"
    )
    print(
        f"latency at {args.rate:g} events/s, dispatcher every {args.interval:g} s, "
        f"{len(lat)}/{count} delivered: p50 {statistics.median(lat):.2f} s, "
        f"p95 {lat[int(0.95 * (len(lat) - 1))]:.2f} s, max {lat[-1]:.2f} s"
    )
    print(f"signatures refused by the receiver: {sink.bad}")


if __name__ == "__main__":
    main()
