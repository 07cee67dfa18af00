"""Page-speed benchmark: server time and weight of each main screen on a realistic database.

Seeds a fresh database (``tests/web/seed.py``: 1,000 dossiers and 10,000 documents by default,
on the embedded default's SQLite in a temporary directory, or on ``--database-url``, an empty
database), signs in one in-process client per staff member, then for each main screen:

- server time: ``--runs`` requests after ``--warmup`` ones, measured inside the ASGI app from
  the request's arrival to the last byte of its answer (no client or network in it); median
  and p95 against the 200 ms budget;
- SQL statements of one request;
- weight: the HTML and every style, script and image it loads from us, against 300 KB.

The machine may be shared: only figures of one run compare with each other.
Usage: ``python bench/pages.py [--small] [--runs 30] [--database-url URL]``
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.web.seed import MAIN_PAGES, SeededSite, count_statements, seeded_site  # noqa: E402

TIME_BUDGET_MS = 200.0
WEIGHT_BUDGET = 300 * 1024
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class Timed:
    """ASGI wrapper remembering how long the last HTTP request took inside the application."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app
        self.last = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed_send(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.last = time.perf_counter() - started

        await self.app(scope, receive, timed_send)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def bench(site: SeededSite, timer: Timed, *, runs: int, warmup: int) -> list[dict[str, Any]]:
    rows = []
    for page in MAIN_PAGES:
        row: dict[str, Any] = {"page": page.name, "who": page.staff_id or "-"}
        try:
            path = site.path(page)
        except LookupError as exc:
            rows.append(row | {"error": str(exc)})
            continue
        client = site.client(page.staff_id)
        first = None
        for _ in range(warmup):
            first = client.get(path, follow_redirects=False)
        with count_statements(site.world.services.engine) as statements:
            resp = client.get(path, follow_redirects=False)
        if resp.status_code != 200:
            rows.append(row | {"error": f"HTTP {resp.status_code}"})
            continue
        times = []
        for _ in range(runs):
            client.get(path, follow_redirects=False)
            times.append(timer.last * 1000)
        html, total = site.weight(page, (first or resp).content)
        rows.append(
            row
            | {
                "median": statistics.median(times),
                "p95": p95(times),
                "statements": len(statements),
                "html": html,
                "total": total,
            }
        )
    return rows


def report(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'page':<16} {'who':<8} {'median ms':>9} {'p95 ms':>8} {'SQL':>4} "
        f"{'HTML KB':>8} {'total KB':>9}  budget (200 ms p95, 300 KB)"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['page']:<16} {r['who']:<8} {r['error']}")
            continue
        ok_time, ok_weight = r["p95"] <= TIME_BUDGET_MS, r["total"] < WEIGHT_BUDGET
        verdict = (
            "ok"
            if ok_time and ok_weight
            else "OVER: "
            + ", ".join(what for what, ok in (("time", ok_time), ("weight", ok_weight)) if not ok)
        )
        lines.append(
            f"{r['page']:<16} {r['who']:<8} {r['median']:>9.1f} {r['p95']:>8.1f} "
            f"{r['statements']:>4} {r['html'] / 1024:>8.1f} {r['total'] / 1024:>9.1f}  {verdict}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="100 dossiers, 1,000 documents")
    parser.add_argument("--dossiers", type=int, default=None)
    parser.add_argument("--documents", type=int, default=None)
    parser.add_argument("--runs", type=int, default=None, help="timed requests a page (30)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="an empty database (else SQLite)")
    args = parser.parse_args(argv)
    dossiers = args.dossiers or (100 if args.small else 1000)
    documents = args.documents or (1000 if args.small else 10_000)
    runs = args.runs or (10 if args.small else 30)
    extra = {"database_url": args.database_url} if args.database_url else {}
    timers: list[Timed] = []

    def wrap(app: Any) -> Timed:
        timers.append(Timed(app))
        return timers[0]

    with tempfile.TemporaryDirectory(prefix="sohoa-bench-pages-") as tmp:
        started = time.monotonic()
        site = seeded_site(
            Path(tmp) / "data", dossiers=dossiers, documents=documents, app=wrap, **extra
        )
        try:
            seeded = site.seeded
            print(
                f"seeded {seeded.dossiers} dossiers, {seeded.documents} documents in "
                f"{seeded.seconds:.1f} s ({time.monotonic() - started:.1f} s with the world); "
                f"{runs} timed requests a page after {args.warmup} to warm up"
            )
            print(report(bench(site, timers[0], runs=runs, warmup=args.warmup)))
        finally:
            site.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
