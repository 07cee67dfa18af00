"""An integrator's webhook receiver, as the documentation of :mod:`connect.webhooks` tells one
to write it, on a real HTTP port.

It checks every request itself, with its own code (not sohoa's): the signature over the
timestamp and the raw body, the timestamp's age, and the event id it already applied, which it
answers 200 without applying again. It keeps what it applied in order, and what it refused and
why. A test can take it down (the port refuses connections), make it answer 503, or give it a
new secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fixtures.seaweedfs import free_ports


@dataclass
class Received:
    event_id: int
    kind: str
    timestamp: int
    body: dict[str, Any]
    raw: bytes
    headers: dict[str, str]


@dataclass
class Receiver:
    secrets: list[str]
    tolerance: int = 300
    mode: str = "up"  # up | unavailable (503) | refuse (400)
    port: int = field(default_factory=lambda: free_ports(1)[0])
    applied: list[Received] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # why, per request refused
    requests: int = 0
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/sohoa"

    @property
    def ids(self) -> list[int]:
        return [r.event_id for r in self.applied]

    # -- what the integrator writes --------------------------------------------------------------

    def signature_ok(self, timestamp: str, raw: bytes, header: str) -> bool:
        signed = timestamp.encode() + b"." + raw
        given = [p.strip()[3:] for p in header.split(",") if p.strip().startswith("v1=")]
        for secret in self.secrets:
            expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
            if any(hmac.compare_digest(expected, g) for g in given):
                return True
        return False

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, str]:
        with self._lock:
            self.requests += 1
            if self.mode == "unavailable":
                return 503, "maintenance"
            if path != "/hooks/sohoa":
                return 404, "no such hook"
            timestamp = headers.get("sohoa-timestamp", "")
            if not timestamp.isdigit():
                self.refused.append("no timestamp")
                return 400, "no timestamp"
            if abs(time.time() - int(timestamp)) > self.tolerance:
                self.refused.append("stale")
                return 400, "stale timestamp"
            if not self.signature_ok(timestamp, raw, headers.get("sohoa-signature", "")):
                self.refused.append("signature")
                return 401, "bad signature"
            body = json.loads(raw)
            event_id = int(headers["sohoa-event-id"])
            if body["id"] != event_id or body["kind"] != headers.get("sohoa-event"):
                self.refused.append("headers disagree with the body")
                return 400, "inconsistent"
            if event_id in self.ids:
                self.duplicates.append(event_id)
                return 200, "already applied"
            if self.mode == "refuse":
                self.refused.append("refused")
                return 422, "we do not take this " + "x" * 5000
            self.applied.append(
                Received(event_id, body["kind"], int(timestamp), body, raw, dict(headers))
            )
            return 200, "ok"

    # -- the server ------------------------------------------------------------------------------

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, text = receiver.handle(self.path, headers, raw)
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Down: the port refuses connections until :meth:`start`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None
