"""The web page in a real browser: a live server, a pipeline worker, and Debian's Chromium.

Fixtures (``tests/web/conftest.py`` imports them; or run pytest with ``-p tests.web.browser``):

- ``live_site``: the application ``sohoa run`` serves (``wiring.asgi.application``) under
  uvicorn on a free port of 127.0.0.1, in a thread of the test process, on the embedded default
  in the test's own data dir, with the dossier world of :mod:`tests.dossiers.world` loaded. The
  server shares the test's ``Services``, so moving ``live_site.world.clock`` moves the pages'
  time too. ``live_site.start_worker()`` starts a Celery worker process for the pipeline on the
  same data dir and settings (filesystem broker, development PKI), so uploads get digitized.
- ``live_worker``: ``live_site`` with its worker running.
- ``browser``: Chromium from ``/usr/bin/chromium`` (Debian's ``chromium`` package) driven by
  Playwright; nothing is downloaded. Missing, the tests fail and say which packages to install.
- ``page`` (1366×768, a counter PC) and ``tablet`` (820×1180, touch): a fresh browser context
  each, in Vietnamese and Vietnam's time zone, whose relative URLs go to ``live_site``.
- A test that fails leaves ``screens/failed-<test>-<desktop|tablet>.png`` behind.
- ``console``: what went wrong in ``page`` and ``tablet`` besides HTTP statuses of the pages
  themselves: console errors (a Content-Security-Policy refusal shows up there), uncaught
  exceptions, and assets (styles, scripts, images, fonts) answered with an error; assert it
  stays empty.

:func:`screenshot` saves ``<SOHOA_ARTIFACTS or test-artifacts/>screens/<name>.png``;
:func:`sign_in` signs a staff member in through the form, by keyboard.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import uvicorn
from playwright.sync_api import Browser, ConsoleMessage, Page, Response, sync_playwright

from core.settings import Settings
from tests.conftest import TOKEN
from tests.dossiers.world import World, make_world
from tests.web.seed import START
from wiring.asgi import application
from wiring.factory import Services, build

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
DESKTOP = {"width": 1366, "height": 768}
TABLET = {"width": 820, "height": 1180}
# The machine is shared: a page may wait for a busy CPU, never for a fixed sleep.
ACTION_TIMEOUT_MS = 20_000
# What a page loads for itself; a failed fetch of a script is the script's to report.
ASSET_TYPES = frozenset({"stylesheet", "script", "image", "font", "media"})


def artifacts() -> Path:
    """Where test artifacts go: ``SOHOA_ARTIFACTS``, else ``test-artifacts/`` in the checkout."""
    return Path(os.environ.get("SOHOA_ARTIFACTS") or REPO / "test-artifacts")


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save what ``page`` shows as ``screens/<name>.png`` under :func:`artifacts`."""
    path = artifacts() / "screens" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page)
    return path


def sign_in(page: Page, token: str, *, next_path: str | None = None) -> None:
    """Open the sign-in form and sign in with ``token`` using the keyboard only: the token
    field has the focus when the page opens, Enter submits."""
    target = "/web/login" + (f"?next={quote(next_path, safe='/')}" if next_path else "")
    page.goto(target)
    page.wait_for_function("document.activeElement && document.activeElement.id === 'token'")
    page.keyboard.type(token)
    with page.expect_navigation():
        page.keyboard.press("Enter")


@dataclass
class LiveSite:
    """A running server: its base ``url``, the world (staff tokens, clock) and the services."""

    url: str
    world: World
    services: Services
    env: dict[str, str]
    log_dir: Path
    server: uvicorn.Server
    thread: threading.Thread
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def token(self, staff_id: str) -> str:
        return self.world.tokens[staff_id]

    def start_worker(self, *, concurrency: int = 1) -> subprocess.Popen[bytes]:
        """A pipeline worker (``sohoa worker``) on this site's settings; idempotent."""
        for proc in self.workers:
            if proc.poll() is None:
                return proc
        with (self.log_dir / f"worker-{len(self.workers)}.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "wiring.cli", "worker", "--concurrency", str(concurrency)],
                env=self.env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopping it reaches the pool
            )
        self.workers.append(proc)
        return proc

    def worker_logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-4000:] for p in sorted(self.log_dir.glob("worker-*.log"))
        )

    def stop(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.terminate()  # the main process: Celery stops its own pool
        for proc in self.workers:
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.services.engine.dispose()


def _settings(env: dict[str, str]) -> Settings:
    """Settings read from ``env`` exactly as the worker process will read them."""
    saved = dict(os.environ)
    try:
        for key in [k for k in os.environ if k.startswith("SOHOA_")]:
            del os.environ[key]
        os.environ.update(env)
        return Settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def start_live_site(data_dir: Path, log_dir: Path, **overrides: str) -> LiveSite:
    """Serve the application on a free port; ``overrides`` are more ``SOHOA_*`` settings."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # held from here on: nobody can take the port meanwhile
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    sohoa = {
        "SOHOA_DATA_DIR": str(data_dir),
        "SOHOA_API_TOKEN": TOKEN,
        "SOHOA_PKI": "development",
        "SOHOA_OCR_JOBS": "1",
        "SOHOA_PADES_LEVEL": "B-B",  # no /pki server beside the workers here
        "SOHOA_BROKER_POLL_INTERVAL": "0.1",
        # Links the service writes (presigned objects, the citizen's status URL) point here.
        "SOHOA_PUBLIC_URL": url,
        **overrides,
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOHOA_")}
    env.update(sohoa, OMP_THREAD_LIMIT="1", PYTHONWARNINGS="ignore")
    services = build(_settings(sohoa))
    world = make_world(services, START)
    log_dir.mkdir(parents=True, exist_ok=True)
    config = uvicorn.Config(
        application(services),
        log_config=None,
        access_log=False,
        ws="none",  # no websockets: the pages do not use them
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="live-site", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            pytest.fail(f"the live server did not start on {url}")
        time.sleep(0.02)
    return LiveSite(url, world, services, env, log_dir, server, thread)


@pytest.fixture
def live_site(tmp_path: Path) -> Iterator[LiveSite]:
    site = start_live_site(tmp_path / "data", tmp_path / "logs")
    try:
        yield site
    finally:
        site.stop()


@pytest.fixture
def live_worker(live_site: LiveSite) -> LiveSite:
    live_site.start_worker()
    return live_site


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests drive Debian's Chromium. Install the "
            "packages `chromium` and `chromium-driver` (apt-get install chromium "
            "chromium-driver; `make test` does it through scripts/apt-packages-test.txt)."
        )
    args = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium's sandbox refuses root
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=args
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def console() -> list[str]:
    return []


def _open(
    request: pytest.FixtureRequest,
    browser: Browser,
    live_site: LiveSite,
    console: list[str],
    name: str,
    **options: Any,
) -> Iterator[Page]:
    context = browser.new_context(
        base_url=live_site.url,
        locale="vi-VN",
        timezone_id="Asia/Ho_Chi_Minh",
        **options,
    )
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    opened = context.new_page()
    opened.on("console", lambda m: _console(console, m))
    opened.on("pageerror", lambda e: console.append(f"uncaught: {e}"))
    opened.on("response", lambda r: _asset(console, r))
    failed_before = request.session.testsfailed
    try:
        yield opened
        # The test's report is in by teardown: a failure leaves a picture of where it stopped.
        if request.session.testsfailed > failed_before:
            test = re.sub(r"[^\w.-]+", "-", request.node.name)
            screenshot(opened, f"failed-{test}-{name}")
    finally:
        context.close()


def _console(seen: list[str], message: ConsoleMessage) -> None:
    # A page answered with 401 or 422 on purpose is logged as a failed load: the status is the
    # test's to check. A missing asset is caught by _asset instead.
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        seen.append(message.text)


def _asset(seen: list[str], response: Response) -> None:
    if response.status >= 400 and response.request.resource_type in ASSET_TYPES:
        seen.append(f"{response.request.resource_type} {response.url} answered {response.status}")


@pytest.fixture
def page(
    request: pytest.FixtureRequest, browser: Browser, live_site: LiveSite, console: list[str]
) -> Iterator[Page]:
    """A counter PC's window: 1366×768."""
    yield from _open(request, browser, live_site, console, "desktop", viewport=DESKTOP)


@pytest.fixture
def tablet(
    request: pytest.FixtureRequest, browser: Browser, live_site: LiveSite, console: list[str]
) -> Iterator[Page]:
    """A tablet held upright, by touch."""
    yield from _open(
        request,
        browser,
        live_site,
        console,
        "tablet",
        viewport=TABLET,
        has_touch=True,
        device_scale_factor=2,
    )


def overflows(page: Page) -> bool:
    """Whether the page scrolls sideways (something is wider than the window)."""
    return bool(page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1"))


def focused_text(page: Page) -> str:
    """The visible text (or value) of the element that has the keyboard focus."""
    return str(
        page.evaluate(
            "(() => { const e = document.activeElement;"
            " return e ? (e.innerText || e.value || '').trim() : ''; })()"
        )
    )


def tab_to(page: Page, text: str | re.Pattern[str], *, limit: int = 60) -> None:
    """Press Tab until the focused element reads ``text``; fail after ``limit`` presses."""
    pattern = re.compile(re.escape(text)) if isinstance(text, str) else text
    for _ in range(limit):
        page.keyboard.press("Tab")
        if pattern.search(focused_text(page)):
            return
    pytest.fail(f"{text!r} is not reachable with Tab within {limit} presses")
