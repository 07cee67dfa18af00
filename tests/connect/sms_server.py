"""A stand-in for the SMS gateway and the Zalo provider, which tests cannot reach: a real HTTP
server on 127.0.0.1 that checks every request as a strict provider would, and fails on demand.

It checks the bearer token, the JSON content type and the exact shape of the body, the phone
number (84 and nine digits of a Vietnamese mobile), the text's length (an SMS of at most five
Unicode segments), and that the ``Idempotency-Key`` header repeats the body's reference. A
request that breaks a rule is answered 400 and kept in ``violations``, so a test sees it even
where the sender swallowed the 400. ``fail(status)`` makes the next answers fail: 5xx (the
provider is down), 4xx (it refuses the message), or a 200 whose body carries an error code,
as Zalo's API answers.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SMS_MAX = 5 * 67  # five joined UCS-2 segments
PHONE = re.compile(r"84[35789]\d{8}")
SMS_KEYS = {"to", "text", "ref"}
ZALO_KEYS = {"phone", "template_id", "template_data", "tracking_id"}
ZNS_TEXT_MAX = 100  # what Zalo takes in a text parameter (a link may be longer)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class ProviderServer:
    """Serves ``/sms`` and ``/zalo``; ``url(path)`` is what the settings point at."""

    token: str = "provider-token-for-tests"
    # The OA's registered ZNS templates: template id -> its parameter names.
    zns: dict[str, set[str]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)  # accepted messages only
    violations: list[str] = field(default_factory=list)
    attempts: int = 0
    _failures: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                status, answer = provider._handle(self)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def url(self, path: str) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/{path}"

    def fail(self, status: int, times: int = 1, body: dict[str, Any] | None = None) -> None:
        """Answer the next ``times`` well-formed requests with ``status`` and ``body``."""
        with self._lock:
            self._failures.extend([(status, body or {"error": "forced"})] * times)

    def texts(self, path: str = "sms") -> list[str]:
        return [
            r.body["text"] if path == "sms" else r.body["template_data"]["message"]
            for r in self.received
            if r.path == f"/{path}"
        ]

    # -- the checks --------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.attempts += 1
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length)
        problems: list[str] = []
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            problems.append("wrong or missing bearer token")
        if not (request.headers.get("Content-Type") or "").startswith("application/json"):
            problems.append("not JSON")
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            body = None
        if not isinstance(body, dict):
            problems.append("body is not a JSON object")
            body = {}
        if request.path == "/sms":
            problems += self._check_sms(body, request.headers.get("Idempotency-Key"))
        elif request.path == "/zalo":
            problems += self._check_zalo(body, request.headers.get("Idempotency-Key"), self.zns)
        else:
            problems.append(f"unknown path {request.path}")
        if problems:
            with self._lock:
                self.violations.extend(problems)
            return 400, {"error": "; ".join(problems)}
        with self._lock:
            if self._failures:
                return self._failures.pop(0)
            self.received.append(Received(request.path, dict(request.headers), body))
            n = len(self.received)
        if request.path == "/zalo":
            return 200, {"error": 0, "message": "Success", "data": {"msg_id": f"z{n}"}}
        return 200, {"id": f"sms-{n}", "segments": -(-len(body["text"]) // 67)}

    @staticmethod
    def _check_sms(body: dict[str, Any], key: str | None) -> list[str]:
        problems = []
        if set(body) != SMS_KEYS:
            problems.append(f"SMS body keys {sorted(body)} are not {sorted(SMS_KEYS)}")
        if not PHONE.fullmatch(str(body.get("to", ""))):
            problems.append(f"not a mobile number as 84xxxxxxxxx: {body.get('to')!r}")
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            problems.append("empty text")
        elif len(text) > SMS_MAX:
            problems.append(f"text of {len(text)} characters is over {SMS_MAX}")
        if not body.get("ref") or key != body.get("ref"):
            problems.append("Idempotency-Key does not repeat ref")
        return problems

    @staticmethod
    def _check_zalo(body: dict[str, Any], key: str | None, zns: dict[str, set[str]]) -> list[str]:
        problems = []
        if set(body) != ZALO_KEYS:
            problems.append(f"Zalo body keys {sorted(body)} are not {sorted(ZALO_KEYS)}")
        if not PHONE.fullmatch(str(body.get("phone", ""))):
            problems.append(f"not a mobile number as 84xxxxxxxxx: {body.get('phone')!r}")
        registered = zns.get(str(body.get("template_id", "")))
        data = body.get("template_data")
        if registered is None:
            problems.append(f"template {body.get('template_id')!r} is not registered")
        elif not isinstance(data, dict) or set(data) != registered:
            got = sorted(data) if isinstance(data, dict) else data
            problems.append(f"template_data {got} is not the template's {sorted(registered)}")
        else:
            for name, value in data.items():
                if not isinstance(value, str) or not value.strip():
                    problems.append(f"parameter {name} is empty")
                elif len(value) > ZNS_TEXT_MAX and not value.startswith("http"):
                    problems.append(f"parameter {name} is over {ZNS_TEXT_MAX} characters")
        if not body.get("tracking_id") or key != body.get("tracking_id"):
            problems.append("Idempotency-Key does not repeat tracking_id")
        return problems
