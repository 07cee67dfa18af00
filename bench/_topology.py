"""Shared by bench/scale.py, bench/upload.py and bench/memory.py: the service as production runs it.

A :class:`Stack` is one deployment in a fresh data dir (and, for the scale-out topology, a fresh
PostgreSQL database and an emptied Redis database): ``sohoa db upgrade`` and ``sohoa pki init``
run first (so no two processes race to migrate or to create the development PKI), then the API
(``sohoa api``) and any number of workers (``sohoa worker``) as separate processes, each in a
process group of its own so that stopping one reaches its pool children and their Tesseract and
Ghostscript subprocesses. Every process is stopped on exit, exception, Ctrl-C or SIGTERM.

Also here: reading memory and CPU time of a process tree from /proc (psutil is not installed).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx

TOKEN = "bench-token-not-secret"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
TERMINAL = {"digitized", "failed"}
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


# ---------------------------------------------------------------------------------------------
# Choosing the topology


@dataclass(frozen=True)
class Backends:
    """Where the ledger and the broker live; None means the embedded default for that part."""

    postgres: str | None  # a server URL; each stack creates (and drops) a database of its own
    redis: str | None  # a Redis database URL; emptied before and after each stack

    @property
    def label(self) -> str:
        if not self.postgres and not self.redis:
            return "embedded (SQLite, filesystem broker, local object store)"
        db = "PostgreSQL" if self.postgres else "SQLite"
        broker = f"Redis db {self.redis.rsplit('/', 1)[-1]}" if self.redis else "filesystem broker"
        return f"{db} + {broker} + local object store"


def add_topology_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "topology",
        "default: PostgreSQL + Redis when both answer at their default addresses, else embedded",
    )
    group.add_argument(
        "--postgres",
        metavar="URL",
        help=f"PostgreSQL server; a database is created and dropped per stack (e.g. {DEFAULT_PG})",
    )
    group.add_argument(
        "--redis",
        metavar="URL",
        help=f"Redis database for the broker, emptied (e.g. {DEFAULT_REDIS})",
    )
    group.add_argument(
        "--embedded", action="store_true", help="SQLite and the filesystem broker, whatever answers"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder and its logs")


def _pg_answers(url: str) -> str | None:
    """None when the server answers, else why not."""
    import psycopg

    try:
        psycopg.connect(_admin_conninfo(url), connect_timeout=3).close()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()
    return None


def _redis_answers(url: str) -> str | None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        client.ping()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        client.close()
    return None


def choose_backends(args: argparse.Namespace) -> Backends:
    """Explicit URLs must answer; with none given, both defaults must answer or it is embedded."""
    if args.embedded:
        return Backends(None, None)
    if args.postgres or args.redis:
        for url, probe in ((args.postgres, _pg_answers), (args.redis, _redis_answers)):
            if url and (why := probe(url)):
                raise SystemExit(f"{url} does not answer: {why}")
        return Backends(args.postgres, args.redis)
    pg_why, redis_why = _pg_answers(DEFAULT_PG), _redis_answers(DEFAULT_REDIS)
    if pg_why is None and redis_why is None:
        return Backends(DEFAULT_PG, DEFAULT_REDIS)
    why = "; ".join(
        w for w in (pg_why and f"PostgreSQL: {pg_why}", redis_why and f"Redis: {redis_why}") if w
    )
    print(f"PostgreSQL/Redis not both reachable ({why[:200]}); using the embedded default")
    return Backends(None, None)


def _admin_conninfo(url: str) -> str:
    """The psycopg conninfo of the server's maintenance database ``postgres``."""
    from sqlalchemy.engine import make_url

    return (
        make_url(url)
        .set(drivername="postgresql", database="postgres")
        .render_as_string(hide_password=False)
    )


# ---------------------------------------------------------------------------------------------
# Processes


def install_signal_handlers() -> None:
    """SIGTERM and SIGHUP unwind like Ctrl-C, so every ``finally`` stops what it started."""

    def unwind(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, unwind)
    signal.signal(signal.SIGHUP, unwind)


def run_main(main: Callable[[], int]) -> None:
    """Exit with main's status; Ctrl-C (after the stacks have cleaned up) without a traceback."""
    install_signal_handlers()
    try:
        code = main()
    except KeyboardInterrupt:
        print("interrupted; every process started was stopped", file=sys.stderr)
        code = 130
    sys.exit(code)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _exited(pid: int) -> bool:
    """True once the child has exited; it stays a zombie (its group id reserved) until reaped."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def stop_process(proc: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM to the leader (Celery and uvicorn stop their own children), then SIGKILL the group.

    The group is killed while its leader is still an unreaped zombie, so the group id cannot have
    been reused by an unrelated process. Interrupted (a second Ctrl-C), it skips the grace.
    """
    try:
        if proc.returncode is None and not _exited(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and not _exited(proc.pid):
                time.sleep(0.1)
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# ---------------------------------------------------------------------------------------------
# /proc


def _stat_fields(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name (field 3, the state, comes first)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rindex(")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    """``root``, its descendants, and anything else in its session (orphans reparented away)."""
    parents: dict[int, int] = {}
    tree = {root}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat_fields(int(entry.name))
        except (OSError, ValueError):
            continue
        pid, ppid, session = int(entry.name), int(fields[1]), int(fields[3])
        parents[pid] = ppid
        if session == root:  # the stack starts every process as a session leader
            tree.add(pid)
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                changed = True
    return sorted(tree)


def status_kb(pid: int, *keys: str) -> dict[str, int]:
    """Values in kB of /proc/<pid>/status lines such as VmRSS and VmHWM (missing: absent)."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in keys:
                out[name] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return out


def rss_kb(pid: int) -> int:
    """Resident set size from /proc/<pid>/statm (cheaper than status); 0 when gone."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB
    except (OSError, ValueError, IndexError):
        return 0


def pss_kb(pid: int) -> int:
    """Proportional set size (shared pages divided among their sharers); 0 when unreadable."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def cpu_seconds(pids: Iterable[int]) -> float:
    """User+system CPU of the processes and of their children already reaped."""
    total = 0
    for pid in pids:
        try:
            f = _stat_fields(pid)
        except (OSError, ValueError):
            continue
        total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])  # utime stime cutime cstime
    return total / CLK_TCK


# ---------------------------------------------------------------------------------------------
# One deployment


def parse_time(value: str | None) -> float | None:
    """A scan's ISO timestamp as a Unix time (the ledger stores UTC)."""
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class ScanFailed(Exception):
    pass


@dataclass
class Stack:
    """The API and workers of one fresh deployment; use as a context manager."""

    backends: Backends
    work: Path  # this stack's folder: data dir and logs
    extra_env: dict[str, str] = field(default_factory=dict)
    keep: bool = False
    env: dict[str, str] = field(init=False, default_factory=dict)
    api: subprocess.Popen[bytes] | None = field(init=False, default=None)
    workers: list[subprocess.Popen[bytes]] = field(init=False, default_factory=list)
    client: httpx.Client | None = field(init=False, default=None)
    base_url: str = field(init=False, default="")
    _database: str | None = field(init=False, default=None)

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> Stack:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _start(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        values = {
            "SOHOA_DATA_DIR": str(self.work / "data"),
            "SOHOA_API_TOKEN": TOKEN,
            "SOHOA_OCR_JOBS": "1",
            "SOHOA_BROKER_POLL_INTERVAL": "0.1",
        }
        if self.backends.postgres or self.backends.redis:
            # A benchmark signs with the development PKI, which outside the embedded default
            # must be asked for by name.
            values["SOHOA_PKI"] = "development"
        if self.backends.postgres:
            values["SOHOA_DATABASE_URL"] = self._create_database(self.backends.postgres)
        if self.backends.redis:
            self._empty_redis(first=True)
            values["SOHOA_BROKER_URL"] = self.backends.redis
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        # The API serves the development PKI's TSA and OCSP under /pki, at the address its
        # certificates name: the workers sign B-LTA against it, as on a real deployment.
        values["SOHOA_PUBLIC_URL"] = self.base_url
        values.update(self.extra_env)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SOHOA_")}
        self.env.update(values, OMP_THREAD_LIMIT="1", PYTHONWARNINGS="ignore")

        self._cli("db", "upgrade")
        self._cli("pki", "init")  # once, before any worker could race to create it
        self.api = self._spawn("api", ["api", "--host", "127.0.0.1", "--port", str(port)])
        self.client = httpx.Client(
            base_url=self.base_url, headers=self.auth, timeout=httpx.Timeout(120.0)
        )
        self._wait_ready()

    def close(self) -> None:
        """Stop every process (workers first), drop the database, empty Redis, remove the data.

        Runs to the end even when interrupted: a Ctrl-C meanwhile only cuts the graceful stops
        short, and the first interruption is raised again once everything is cleaned up.
        """
        steps: list[Callable[[], object]] = [partial(stop_process, p, 10.0) for p in self.workers]
        if self.api is not None:
            steps.append(partial(stop_process, self.api))
        if self.client is not None:
            steps.append(self.client.close)
        if self._database:
            steps.append(self._drop_database)
        if self.backends.redis:
            steps.append(partial(self._empty_redis, first=False))
        if not self.keep:
            steps.append(partial(shutil.rmtree, self.work / "data", ignore_errors=True))
        interrupted: BaseException | None = None
        for step in steps:
            try:
                step()
            except Exception as exc:
                print(f"cleanup: {type(exc).__name__}: {exc}", file=sys.stderr)
            except BaseException as exc:  # KeyboardInterrupt, SystemExit from a signal
                interrupted = interrupted or exc
        self.workers, self.api, self.client = [], None, None
        if interrupted is not None:
            raise interrupted

    # -- services -------------------------------------------------------------------------------

    def _create_database(self, server: str) -> str:
        import psycopg
        from sqlalchemy.engine import make_url

        name = f"sohoa_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(_admin_conninfo(server), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self._database = name
        return make_url(server).set(database=name).render_as_string(hide_password=False)

    def _drop_database(self) -> None:
        import psycopg

        assert self.backends.postgres and self._database
        with psycopg.connect(_admin_conninfo(self.backends.postgres), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self._database}" WITH (FORCE)')
        self._database = None

    def _empty_redis(self, *, first: bool) -> None:
        import redis

        assert self.backends.redis
        client = redis.Redis.from_url(self.backends.redis)
        try:
            if first and (keys := client.dbsize()):
                raise SystemExit(
                    f"Redis {self.backends.redis} holds {keys} keys and would be emptied; "
                    "give an unused database with --redis redis://HOST:PORT/N"
                )
            client.flushdb()
        finally:
            client.close()

    # -- processes ------------------------------------------------------------------------------

    def _cli(self, *args: str) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "wiring.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode:
            raise SystemExit(f"sohoa {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        with (self.work / f"{name}.log").open("wb") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "wiring.cli", *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own session and group: see process_tree, stop_process
            )

    def _wait_ready(self, timeout: float = 120.0) -> None:
        assert self.client is not None and self.api is not None
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.api.poll() is not None:
                raise SystemExit(
                    f"the API exited with {self.api.returncode}\n{self.log_tail('api')}"
                )
            try:
                resp = self.client.get("/readyz")
                if resp.status_code == 200:
                    return
                last = resp.text
            except httpx.TransportError as exc:
                last = str(exc)
            time.sleep(0.2)
        raise SystemExit(
            f"the API was not ready after {timeout:.0f}s: {last}\n{self.log_tail('api')}"
        )

    def start_worker(
        self, *, concurrency: int = 1, queues: str = "ocr,sign", timeout: float = 120.0
    ) -> subprocess.Popen[bytes]:
        """Start ``sohoa worker`` and return once Celery logs that it is ready."""
        name = f"worker-{len(self.workers)}"
        proc = self._spawn(name, ["worker", "--concurrency", str(concurrency), "--queues", queues])
        self.workers.append(proc)
        log = self.work / f"{name}.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited with {proc.returncode}\n{self.log_tail(name)}")
            if b" ready." in log.read_bytes():
                return proc
            time.sleep(0.2)
        raise SystemExit(f"{name} not ready after {timeout:.0f}s\n{self.log_tail(name)}")

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.work / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def check_workers(self) -> None:
        for i, proc in enumerate(self.workers):
            if proc.poll() is not None:
                raise SystemExit(
                    f"worker-{i} exited with {proc.returncode}\n{self.log_tail(f'worker-{i}')}"
                )

    # -- API ------------------------------------------------------------------------------------

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}

    def upload(self, path: Path) -> dict[str, Any]:
        assert self.client is not None
        with path.open("rb") as f:
            resp = self.client.post("/api/v1/scans", files={"file": (path.name, f)})
        if resp.status_code != 202:
            raise ScanFailed(f"upload of {path.name}: {resp.status_code} {resp.text[:500]}")
        return dict(resp.json())

    def scan(self, scan_id: str) -> dict[str, Any]:
        assert self.client is not None
        resp = self.client.get(f"/api/v1/scans/{scan_id}")
        resp.raise_for_status()
        return dict(resp.json())

    def wait(
        self,
        scan_ids: list[str],
        *,
        timeout: float,
        poll: float = 0.5,
        on_poll: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Poll until every scan is terminal, gently (one request per ``poll`` while nothing moves).

        Scans are asked about in order, and only the first unfinished one is polled until it
        finishes: the API shares the cores with the workers being measured.
        """
        deadline = time.monotonic() + timeout
        pending = list(scan_ids)
        done: dict[str, dict[str, Any]] = {}
        while pending:
            body = self.scan(pending[0])
            if on_poll is not None:
                on_poll(body)
            if body["status"] in TERMINAL:
                done[pending.pop(0)] = body
                continue
            if time.monotonic() > deadline:
                raise ScanFailed(f"{len(pending)} scan(s) unfinished after {timeout:.0f}s: {body}")
            self.check_workers()
            time.sleep(poll)
        return done
