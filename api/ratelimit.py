"""Per-client rate limits: one interface, a counter in the process or one shared through Redis.

Fixed windows: the first hit on a key opens a window of ``window`` seconds, every hit in it
counts, and the key is forgotten when it closes. That is coarser than a sliding log, but one
atomic step per request and one small key per client, which is what a limit on guessing needs.

The embedded default runs one API process, so a dictionary is enough; behind several API
processes (any Redis broker) the counts must be shared or each process would allow its own
quota. A limiter that cannot reach Redis lets the request through and logs it: a rate limit
that takes the counter down with Redis would be worse than none, and tokens are still checked.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import redis

    from core.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    """What a limiter knows of one key: hits in the current window and when the window ends."""

    count: int
    limit: int
    reset_after: float  # seconds until the window closes; 0 when there is no window

    @property
    def allowed(self) -> bool:
        return self.count <= self.limit

    @property
    def retry_after(self) -> int:
        """Whole seconds for ``Retry-After``: rounded up, at least 1."""
        return max(1, math.ceil(self.reset_after))


class RateLimiter(Protocol):
    """Counts hits per key in fixed windows."""

    def hit(self, key: str, *, limit: int, window: int) -> Verdict:
        """Count one hit and say whether it is within ``limit`` for the current window."""
        ...

    def peek(self, key: str, *, limit: int, window: int) -> Verdict:
        """The current count without adding to it (0 when no window is open)."""
        ...


class MemoryRateLimiter:
    """Counts in this process: right for the embedded default's single API process.

    Bounded: past ``max_keys`` live windows the closed ones are dropped, and if every window is
    still open the oldest go, so a flood of addresses costs memory only up to the bound.
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._windows: dict[str, tuple[float, int]] = {}  # key -> (closes at, count)
        self._lock = threading.Lock()

    def hit(self, key: str, *, limit: int, window: int) -> Verdict:
        now = self._clock()
        with self._lock:
            closes, count = self._windows.get(key, (0.0, 0))
            if closes <= now:
                closes, count = now + window, 0
                self._windows.pop(key, None)  # re-inserted last: dict order is age order
                if len(self._windows) >= self._max_keys:
                    self._prune(now)
            count += 1
            self._windows[key] = (closes, count)
        return Verdict(count, limit, closes - now)

    def peek(self, key: str, *, limit: int, window: int) -> Verdict:
        now = self._clock()
        with self._lock:
            closes, count = self._windows.get(key, (0.0, 0))
        if closes <= now:
            return Verdict(0, limit, 0.0)
        return Verdict(count, limit, closes - now)

    def _prune(self, now: float) -> None:
        """Drop closed windows; if that frees too little, the oldest tenth. Freeing a tenth at a
        time keeps a flood of new addresses from paying a full scan on every request."""
        for key in [k for k, (closes, _) in self._windows.items() if closes <= now]:
            del self._windows[key]
        target = self._max_keys - max(1, self._max_keys // 10)
        excess = len(self._windows) - target
        for key in list(self._windows)[: max(0, excess)]:
            del self._windows[key]


# INCR and the expiry in one step: two API processes cannot both see "first hit" and a key
# can never be left without an expiry (which would block its client for ever).
_HIT = """
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if count == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""
_PEEK = """
local count = redis.call('GET', KEYS[1])
if not count then return {0, 0} end
return {tonumber(count), redis.call('PTTL', KEYS[1])}
"""


class RedisRateLimiter:
    """Counts in Redis, shared by every API process that uses the same server and prefix."""

    def __init__(self, client: redis.Redis, *, prefix: str = "sohoa:ratelimit:") -> None:
        self._client = client
        self._prefix = prefix
        self._hit = client.register_script(_HIT)
        self._peek = client.register_script(_PEEK)

    def hit(self, key: str, *, limit: int, window: int) -> Verdict:
        return self._run(self._hit, key, limit, window)

    def peek(self, key: str, *, limit: int, window: int) -> Verdict:
        return self._run(self._peek, key, limit, window)

    def _run(
        self, script: redis.commands.core.Script, key: str, limit: int, window: int
    ) -> Verdict:
        import redis

        try:
            count, ttl_ms = script(keys=[self._prefix + key], args=[window * 1000])
        except redis.RedisError as exc:
            log.warning("rate limit not applied, Redis unavailable: %s", type(exc).__name__)
            return Verdict(0, limit, 0.0)
        return Verdict(int(count), limit, max(0, int(ttl_ms)) / 1000)


def redis_url_for(settings: Settings) -> str | None:
    """The Redis server the limits are shared through, or None to count in the process."""
    if settings.rate_limit_backend == "memory":
        return None
    url = settings.rate_limit_redis_url or settings.broker_url or ""
    if url.startswith(("redis://", "rediss://", "unix://")):
        return url
    if settings.rate_limit_backend == "redis":
        raise ValueError(
            "SOHOA_RATE_LIMIT_BACKEND=redis needs SOHOA_RATE_LIMIT_REDIS_URL or a Redis broker"
        )
    return None


def limiter_for(settings: Settings) -> RateLimiter:
    """The limiter the settings ask for; connects lazily, on the first request."""
    url = redis_url_for(settings)
    if url is None:
        return MemoryRateLimiter()
    import redis

    client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
    return RedisRateLimiter(client)
