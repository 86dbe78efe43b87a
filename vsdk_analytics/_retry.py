"""Retry decisions and adaptive concurrency, as small pure pieces.

`should_retry`, `parse_retry_after` and `backoff_delay` decide; the fetcher's
loop only sleeps and counts. `AdaptiveLimit` is the additive-increase /
multiplicative-decrease limit on requests in flight, so a long fetch converges
on the server's rate limit instead of hammering it. `set_backoff_scale` is the
testing switch that drops the waits (`vsdk_analytics.testing.no_backoff`).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import math
import random
from collections import deque
from collections.abc import Mapping
from datetime import datetime, timezone

from ._constants import (
    BACKOFF_BASE_SECONDS,
    BACKOFF_MAX_SECONDS,
    RETRY_AFTER_MAX_SECONDS,
    RETRY_STATUSES,
)

__all__ = [
    "AdaptiveLimit",
    "backoff_delay",
    "backoff_scale",
    "parse_retry_after",
    "set_backoff_scale",
    "should_retry",
]

_scale = 1.0


def set_backoff_scale(scale: float) -> float:
    """Multiply every wait by ``scale`` (0 in tests); return the previous scale."""
    global _scale
    if scale < 0 or math.isnan(scale):
        raise ValueError("scale must be >= 0")
    previous, _scale = _scale, float(scale)
    return previous


def backoff_scale() -> float:
    """The current multiplier applied to waits."""
    return _scale


def should_retry(status_code: int) -> bool:
    """Whether an HTTP status is worth another attempt (408, 429, 500, 502, 503, 504)."""
    return status_code in RETRY_STATUSES


def parse_retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date).

    Returns None when absent or unparseable; clamps to [0, 120] seconds.

    Examples
    --------
    >>> parse_retry_after({"retry-after": "3"})
    3.0
    >>> now = datetime(2025, 6, 18, 11, 0, 0, tzinfo=timezone.utc)
    >>> parse_retry_after({"Retry-After": "Wed, 18 Jun 2025 11:00:05 GMT"}, now)
    5.0
    >>> parse_retry_after({}) is None
    True
    """
    value = None
    for key, raw in headers.items():
        if key.lower() == "retry-after":
            value = raw.strip()
            break
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        current = now if now is not None else datetime.now(timezone.utc)
        seconds = (when - current).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_MAX_SECONDS)


def backoff_delay(
    attempt: int,
    *,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based).

    Capped exponential backoff with full jitter in its upper half; a server's
    ``Retry-After`` wins when it asks for longer. Scaled by `backoff_scale`.
    """
    r = rng.random() if rng is not None else random.random()  # noqa: S311 - jitter, not crypto
    exp = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** max(attempt - 1, 0))
    delay = exp * (0.5 + 0.5 * r)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay * _scale


class AdaptiveLimit:
    """An AIMD limit on concurrent requests, with first-come, first-served waiters.

    Starts at ``maximum``; each 429 halves it (at most once per round of
    requests in flight, so one burst counts once), each success adds
    ``1/limit``, never above ``maximum`` nor below 1. A release wakes only as
    many waiters as there are free slots (no thundering herd when thousands of
    page requests are queued).
    """

    def __init__(self, maximum: int) -> None:
        if maximum < 1:
            raise ValueError("maximum must be >= 1")
        self.maximum = maximum
        self._limit = float(maximum)
        self._in_flight = 0
        self._epoch = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.decreases = 0
        self.peak_in_flight = 0

    @property
    def limit(self) -> int:
        """The current whole number of requests allowed in flight."""
        return max(1, int(self._limit))

    def _take(self) -> None:
        self._in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self._in_flight)

    def _wake(self) -> None:
        while self._waiters and self._in_flight < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._take()
                waiter.set_result(None)

    async def acquire(self) -> int:
        """Wait for a slot; return the epoch the request starts in."""
        if not self._waiters and self._in_flight < self.limit:
            self._take()
            return self._epoch
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._in_flight -= 1  # granted, then cancelled: hand the slot on
                self._wake()
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise
        return self._epoch

    def release(self, *, epoch: int, throttled: bool) -> None:
        """Free a slot, adjusting the limit by what the request met."""
        self._in_flight -= 1
        if throttled:
            if epoch == self._epoch:
                self._limit = max(1.0, self._limit / 2)
                self._epoch += 1
                self.decreases += 1
        else:
            self._limit = min(float(self.maximum), self._limit + 1.0 / self._limit)
        self._wake()
