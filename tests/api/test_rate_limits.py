"""Rate limits and the client's address: bad tokens and public links cannot be tried at speed,
several API processes share the counts through Redis, and X-Forwarded-For is believed only
from a configured proxy, in the access log and the limits alike."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from api.app import create_app
from api.middleware import client_address, trusted_networks
from api.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter, limiter_for
from core.logs import JsonFormatter
from tests.conftest import REDIS_URL, TOKEN
from wiring.factory import build

BAD = {"Authorization": "Bearer not-a-real-token"}
GOOD = {"Authorization": f"Bearer {TOKEN}"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:  # pragma: no cover - environment problem, reported clearly
        pytest.fail(f"Redis at {REDIS_URL} is not reachable ({exc}); set SOHOA_TEST_REDIS_URL")
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A key prefix of this test's own, removed afterwards."""
    prefix = f"sohoa-test:{uuid.uuid4().hex}:"
    yield prefix
    for key in redis_client.scan_iter(match=prefix + "*"):
        redis_client.delete(key)


def _client(settings: Any, **kwargs: Any) -> TestClient:
    return TestClient(create_app(build(settings)), **kwargs)


# --- the limiters ------------------------------------------------------------------------------


def test_memory_limiter_counts_a_window_and_forgets_it() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock)
    verdicts = [limiter.hit("k", limit=3, window=60) for _ in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert verdicts[-1].retry_after == 60
    assert limiter.peek("other", limit=3, window=60).count == 0
    clock.now += 59.5
    assert limiter.peek("k", limit=3, window=60).retry_after == 1  # rounded up, never 0
    clock.now += 0.5
    assert limiter.peek("k", limit=3, window=60).count == 0
    assert limiter.hit("k", limit=3, window=60).count == 1


def test_memory_limiter_stays_bounded_under_many_clients() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock, max_keys=100)
    for i in range(1000):
        limiter.hit(f"ip-{i}", limit=5, window=60)
    assert len(limiter._windows) <= 100
    assert limiter.peek("ip-999", limit=5, window=60).count == 1  # the newest are kept


def test_redis_limiter_is_shared_between_processes(redis_client: redis.Redis, prefix: str) -> None:
    """Two limiters on one Redis stand for two API processes: one quota between them."""
    one: RateLimiter = RedisRateLimiter(redis.Redis.from_url(REDIS_URL), prefix=prefix)
    two: RateLimiter = RedisRateLimiter(redis.Redis.from_url(REDIS_URL), prefix=prefix)
    assert one.hit("1.2.3.4", limit=3, window=30).allowed
    assert two.hit("1.2.3.4", limit=3, window=30).allowed
    assert one.hit("1.2.3.4", limit=3, window=30).allowed
    fourth = two.hit("1.2.3.4", limit=3, window=30)
    assert not fourth.allowed and fourth.count == 4 and 29 <= fourth.retry_after <= 30
    assert one.peek("1.2.3.4", limit=3, window=30).count == 4
    assert one.peek("5.6.7.8", limit=3, window=30).count == 0
    ttl = redis_client.pttl(prefix + "1.2.3.4")
    assert 0 < ttl <= 30_000  # the window closes by itself


def test_redis_limiter_window_ends(redis_client: redis.Redis, prefix: str) -> None:
    limiter = RedisRateLimiter(redis_client, prefix=prefix)
    limiter.hit("k", limit=1, window=1)
    assert not limiter.hit("k", limit=1, window=1).allowed
    time.sleep(1.1)
    assert limiter.peek("k", limit=1, window=1).count == 0
    assert limiter.hit("k", limit=1, window=1).allowed


def test_redis_down_lets_requests_through() -> None:
    limiter = RedisRateLimiter(
        redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2), prefix="x:"
    )
    assert limiter.hit("k", limit=1, window=30).allowed
    assert limiter.peek("k", limit=1, window=30).count == 0


def test_backend_follows_the_broker(make_settings) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(limiter_for(make_settings()), MemoryRateLimiter)
    assert isinstance(limiter_for(make_settings(broker_url=REDIS_URL)), RedisRateLimiter)
    assert isinstance(
        limiter_for(make_settings(broker_url=REDIS_URL, rate_limit_backend="memory")),
        MemoryRateLimiter,
    )
    with pytest.raises(ValueError, match="RATE_LIMIT_REDIS_URL"):
        limiter_for(make_settings(rate_limit_backend="redis"))


# --- authentication failures -------------------------------------------------------------------


def test_bad_tokens_lock_the_client_out_until_the_window_ends(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(auth_failure_limit=3, auth_failure_window=120)
    with _client(settings) as client:
        limiter = client.app.state.rate_limiter  # type: ignore[attr-defined]
        clock = FakeClock()
        limiter._clock = clock
        answers = [client.get("/api/v1/units", headers=BAD).status_code for _ in range(4)]
        assert answers == [401, 401, 401, 429]
        locked = client.get("/api/v1/units", headers=GOOD)  # even the right token now
        assert locked.status_code == 429
        assert locked.headers["content-type"] == "application/problem+json"
        assert locked.headers["Retry-After"] == "120"
        assert locked.json()["code"] == "rate_limited" and locked.json()["retry_after"] == 120
        assert "thử lại sau 120 giây" in locked.json()["detail"]
        # A call without any token is no guess and is not counted, but is refused as well.
        assert client.get("/api/v1/units").status_code == 429
        clock.now += 121
        assert client.get("/api/v1/units", headers=GOOD).status_code == 200


def test_missing_tokens_are_not_counted(make_settings) -> None:  # type: ignore[no-untyped-def]
    with _client(make_settings(auth_failure_limit=2)) as client:
        assert {client.get("/api/v1/units").status_code for _ in range(5)} == {401}
        assert client.get("/api/v1/units", headers=GOOD).status_code == 200


def test_the_lockout_is_per_client(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(auth_failure_limit=2, trusted_proxies=["127.0.0.1"])
    with _client(settings, client=("127.0.0.1", 5000)) as client:
        attacker = {**BAD, "X-Forwarded-For": "203.0.113.9"}
        for _ in range(3):
            client.get("/api/v1/units", headers=attacker)
        assert client.get("/api/v1/units", headers=attacker).status_code == 429
        clerk = {**GOOD, "X-Forwarded-For": "198.51.100.20"}
        assert client.get("/api/v1/units", headers=clerk).status_code == 200


def test_two_api_processes_share_the_lockout_through_redis(make_settings, prefix: str) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(
        auth_failure_limit=3, rate_limit_backend="redis", rate_limit_redis_url=REDIS_URL
    )
    services = build(settings)
    first, second = create_app(services), create_app(services)
    for app in (first, second):
        app.state.rate_limiter._prefix = prefix  # this test's own keys
    with TestClient(first) as one, TestClient(second) as two:
        assert one.get("/api/v1/units", headers=BAD).status_code == 401
        assert two.get("/api/v1/units", headers=BAD).status_code == 401
        assert one.get("/api/v1/units", headers=BAD).status_code == 401
        refused = two.get("/api/v1/units", headers=GOOD)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0


# --- public endpoints --------------------------------------------------------------------------


def test_public_result_links_cannot_be_guessed_at_speed(make_settings) -> None:  # type: ignore[no-untyped-def]
    with _client(make_settings(public_rate_limit=5, public_rate_window=60)) as client:
        answers = [client.get(f"/public/results/guess-{i}").status_code for i in range(6)]
        assert answers[:5] == [404] * 5 and answers[5] == 429
        download = client.get("/public/results/guess/doc-1")
        assert download.status_code == 429 and download.headers["Retry-After"]
        # Presigned objects are public too.
        assert client.get("/api/v1/objects/a/b?expires=1&signature=x").status_code == 429
        # Staff calls are not charged to the public quota, nor are the health probes.
        assert client.get("/api/v1/units", headers=GOOD).status_code == 200
        assert client.get("/healthz").status_code == 200


# --- the client's address ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        # No proxy configured: the header is the client's own words and is ignored.
        ("203.0.113.5", ["1.1.1.1"], [], "203.0.113.5"),
        # A trusted proxy: the right-most entry it did not write is the client.
        ("10.0.0.2", ["198.51.100.7"], ["10.0.0.0/8"], "198.51.100.7"),
        # The client forged entries on the left; the proxy appended the real address.
        ("10.0.0.2", ["6.6.6.6, 198.51.100.7"], ["10.0.0.2"], "198.51.100.7"),
        # Two proxies of ours in a chain, and two header lines.
        ("10.0.0.2", ["198.51.100.7, 10.0.0.9", "10.0.0.3"], ["10.0.0.0/8"], "198.51.100.7"),
        # An untrusted peer's header is never read, whatever it says.
        ("198.51.100.7", ["10.0.0.1"], ["10.0.0.0/8"], "198.51.100.7"),
        # Garbage where an address should be: stop at the last hop we trust.
        ("10.0.0.2", ["<script>, 10.0.0.3"], ["10.0.0.0/8"], "10.0.0.3"),
        # Ports and brackets are what some proxies write.
        ("10.0.0.2", ["[2001:db8::1]:4711"], ["10.0.0.0/8"], "2001:db8::1"),
        ("10.0.0.2", [], ["10.0.0.0/8"], "10.0.0.2"),
        ("testclient", ["1.1.1.1"], ["10.0.0.0/8"], "testclient"),
    ],
)
def test_client_address(peer: str, forwarded: list[str], trusted: list[str], expected: str) -> None:
    assert client_address(peer, forwarded, trusted_networks(trusted)) == expected


def test_a_bad_trusted_proxy_fails_at_start(make_settings) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6"):
        make_settings(trusted_proxies=["10.0.0.0/8", "proxy.local"])


def _access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == "sohoa.access"]


def test_access_log_names_the_client_behind_a_trusted_proxy(
    make_settings, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(trusted_proxies=["10.0.0.0/8"])
    caplog.set_level(logging.INFO, logger="sohoa.access")
    with _client(settings, client=("10.0.0.2", 40000)) as client:
        client.get("/healthz", headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.7"})
    [line] = _access_lines(caplog)
    assert line["client"] == "198.51.100.7" and line["peer"] == "10.0.0.2"
    assert line["msg"].startswith("198.51.100.7 GET /healthz 200")


def test_access_log_ignores_forwarded_for_from_anyone_else(
    make_settings, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO, logger="sohoa.access")
    with _client(make_settings(), client=("203.0.113.5", 40000)) as client:
        client.get("/healthz", headers={"X-Forwarded-For": "198.51.100.7"})
    [line] = _access_lines(caplog)
    assert line["client"] == "203.0.113.5" and "peer" not in line


def test_the_limit_keys_on_the_logged_address(
    make_settings, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    """A client behind the proxy cannot dodge the limit by inventing X-Forwarded-For entries."""
    settings = make_settings(public_rate_limit=2, trusted_proxies=["10.0.0.2"])
    caplog.set_level(logging.INFO, logger="sohoa.access")
    with _client(settings, client=("10.0.0.2", 40000)) as client:
        codes = [
            client.get(
                "/public/results/x", headers={"X-Forwarded-For": f"9.9.9.{i}, 198.51.100.7"}
            ).status_code
            for i in range(3)
        ]
    assert codes == [404, 404, 429]
    assert {line["client"] for line in _access_lines(caplog)} == {"198.51.100.7"}
