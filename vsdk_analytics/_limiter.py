"""One limiter per client: pace the request rate and the concurrency to the server.

`RequestLimiter` hands out permits (`Permit`) first come, first served. A permit waits for
any global pause (a ``Retry-After``, or a rate-limit window with nothing remaining),
then a concurrency slot, then a rate token. `RequestLimiter.release` tells it what
the request met, and it adapts:

- an explicit ``max_requests_per_second`` is a hard cap, never exceeded;
- without one there is no rate cap until the server pushes back. The first 429 sets
  a learned rate from the rate of recent successes; the learned rate then grows
  (doubling per second until the next 429, then additively, ``+RATE_INCREASE``
  requests/s per second) and each new 429 multiplies it by ``RATE_DECREASE``;
- each 429 halves the concurrency, at most once per round of requests in flight,
  and each success adds ``1/concurrency`` (the old ``AdaptiveLimit``);
- ``Retry-After`` / ``retry-after-ms`` on a 429 or 503 pauses *every* request until
  then; ``X-RateLimit-*`` / ``RateLimit-*`` headers set the rate (remaining spread
  over the time to the reset; ``RateLimit-Policy`` as a cap) and a window with
  nothing remaining pauses until its reset.

Waits the server asked for or that were learned from it (pauses, learned and
header rates) are multiplied by `vsdk_analytics._retry.backoff_scale`, so
``vsdk_analytics.testing.no_backoff()`` drops them; the explicit cap is never scaled.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from ._constants import RETRY_AFTER_MAX_SECONDS
from ._retry import backoff_scale, parse_rate_limit, parse_retry_after

__all__ = ["RATE_DECREASE", "RATE_INCREASE", "Permit", "RequestLimiter"]

RATE_DECREASE: Final = 0.85
"""A 429 multiplies the learned rate by this (the estimate is the successes' own rate)."""
RATE_INCREASE: Final = 0.25
"""Requests per second added to the learned rate per second of successes (after a 2nd 429)."""
_WINDOW_SECONDS: Final = 1.0
"""Successes older than this do not count in the observed rate."""
_MIN_WINDOW_SECONDS: Final = 0.5
"""The observed rate divides by at least this many seconds (a burst is not a rate)."""
_MIN_RATE: Final = 0.1
_PAUSE_STATUSES: Final = frozenset({429, 503})


@dataclass(eq=False)
class Permit:
    """One request's right to go; give it back with `RequestLimiter.release`.

    Attributes
    ----------
    granted_at
        The limiter clock's time when the request was let through.
    status, headers
        What `RequestLimiter.slot` releases with (set them with `record`).
    """

    granted_at: float
    _epoch: int
    released: bool = False
    status: int | None = None
    headers: Mapping[str, str] | None = field(default=None, repr=False)

    def record(self, status: int | None, headers: Mapping[str, str] | None) -> None:
        """Note the answer, for `RequestLimiter.slot` to release with."""
        self.status = status
        self.headers = headers


class RequestLimiter:
    """Paces the requests of one client: a global pause, concurrency and rate, FIFO.

    Parameters
    ----------
    max_concurrency
        Most requests in flight (the start and the ceiling of the adaptive limit).
    max_requests_per_second
        A hard cap on the request rate; ``None``: only what the server pushes back with.
    clock
        Monotonic seconds; it must run at the event loop's pace (tests pass ``loop.time``).

    Examples
    --------
    >>> import asyncio
    >>> async def one() -> int:
    ...     limiter = RequestLimiter(max_concurrency=2)
    ...     async with limiter.slot() as permit:
    ...         permit.record(200, {})
    ...     return limiter.peak_in_flight
    >>> asyncio.run(one())
    1
    """

    def __init__(
        self,
        *,
        max_concurrency: int,
        max_requests_per_second: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(max_concurrency, bool) or max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        cap = max_requests_per_second
        if cap is not None and not (math.isfinite(cap) and cap > 0):
            raise ValueError("max_requests_per_second must be a number > 0")
        self.max_concurrency = max_concurrency
        self.max_requests_per_second = cap
        self._clock = clock
        self._limit = float(max_concurrency)
        self._in_flight = 0
        self._epoch = 0
        self._rate_epoch = 0
        self._learned: float | None = None
        self._slow_start = True
        self._header_rate: float | None = None
        self._last_grant = -math.inf
        self._paused_until = -math.inf
        self._successes: deque[float] = deque()
        self._window_start = clock()
        self._waiters: deque[asyncio.Future[Permit]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self.peak_in_flight = 0
        """Most requests in flight at once."""
        self.throttled = 0
        """429 answers seen."""
        self.pauses = 0
        """Global pauses started (``Retry-After`` or an exhausted rate-limit window)."""

    def __repr__(self) -> str:
        rate = "none" if self.rate is None else f"{self.rate:.3g}/s"
        return (
            f"RequestLimiter(concurrency={self.concurrency}/{self.max_concurrency}, rate={rate}, "
            f"in_flight={self._in_flight}, waiting={len(self._waiters)})"
        )

    @property
    def concurrency(self) -> int:
        """The current whole number of requests allowed in flight."""
        return max(1, int(self._limit))

    @property
    def in_flight(self) -> int:
        """Requests holding a permit now."""
        return self._in_flight

    @property
    def rate(self) -> float | None:
        """The current cap in requests per second (before `backoff_scale`), or None."""
        server = self._header_rate if self._header_rate is not None else self._learned
        rates = [r for r in (self.max_requests_per_second, server) if r is not None]
        return min(rates) if rates else None

    @property
    def paused_until(self) -> float | None:
        """The clock time until which nothing is let through, when paused now."""
        return self._paused_until if self._paused_until > self._clock() else None

    def _interval(self) -> float:
        """Seconds between two permits."""
        gaps = [0.0]
        if self.max_requests_per_second is not None:
            gaps.append(1.0 / self.max_requests_per_second)
        server = self._header_rate if self._header_rate is not None else self._learned
        if server is not None:
            gaps.append(backoff_scale() / server)
        return max(gaps)

    async def acquire(self) -> Permit:
        """Wait for any pause, a concurrency slot and a rate token, in arrival order."""
        waiter: asyncio.Future[Permit] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._dispatch()
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._in_flight -= 1  # granted, then cancelled: hand the slot on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            self._dispatch()
            raise

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[Permit]:
        """``async with limiter.slot() as permit:``; `Permit.record` the answer inside."""
        permit = await self.acquire()
        try:
            yield permit
        finally:
            self.release(permit, status=permit.status, headers=permit.headers)

    def _dispatch(self) -> None:
        """Grant permits to the head of the queue while nothing holds it back."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._waiters:
            head = self._waiters[0]
            if head.done():
                self._waiters.popleft()
                continue
            if self._in_flight >= self.concurrency:
                return  # a release dispatches again
            now = self._clock()
            # spaced from the last grant at the rate of now, so a new rate applies at once
            ready_at = max(self._paused_until, self._last_grant + self._interval())
            if ready_at > now:
                loop = head.get_loop()
                self._timer = loop.call_later(ready_at - now, self._dispatch)
                return
            self._waiters.popleft()
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            self._last_grant = now
            head.set_result(Permit(granted_at=now, _epoch=self._epoch))

    def release(
        self,
        permit: Permit,
        *,
        status: int | None,
        headers: Mapping[str, str] | None,
        retry_after: float | None = None,
    ) -> None:
        """Give the permit back, adapting to the answer.

        Parameters
        ----------
        permit
            From `acquire`; each permit is released once.
        status
            The HTTP status, or None when no answer came (a transport error, a timeout).
        headers
            The answer's headers (``Retry-After``, rate-limit headers), if any.
        retry_after
            Seconds to pause everything, when already parsed (wins over the headers).
        """
        if permit.released:
            raise RuntimeError("this permit was already released")
        permit.released = True
        self._in_flight -= 1
        now = self._clock()
        if retry_after is None and headers and status in _PAUSE_STATUSES:
            retry_after = parse_retry_after(headers)
        if status == 429:
            self.throttled += 1
            self._throttle(permit, now)
        elif status is not None and status < 500:
            self._succeed(now)
        if headers:
            self._read_rate_headers(headers, now)
        if retry_after is not None and status in _PAUSE_STATUSES:
            self._pause(now, retry_after)
        self._dispatch()

    def _observed_rate(self, now: float) -> float:
        start = max(self._window_start, now - _WINDOW_SECONDS)
        while self._successes and self._successes[0] < start:
            self._successes.popleft()
        return len(self._successes) / max(now - start, _MIN_WINDOW_SECONDS)

    def _throttle(self, permit: Permit, now: float) -> None:
        if permit._epoch != self._epoch:
            return  # this round of requests already counted
        self._epoch += 1
        self._limit = max(1.0, self._limit / 2)
        observed = self._observed_rate(now)
        if self._learned is None:
            # nothing succeeded yet: no rate to learn from; the pause and the halved
            # concurrency hold the line until successes give one
            self._learned = observed if observed > 0 else None
        else:
            observed = observed if observed > 0 else self._learned
            self._learned = max(_MIN_RATE, min(self._learned, observed) * RATE_DECREASE)
            self._slow_start = False
        self._successes.clear()
        self._window_start = now

    def _succeed(self, now: float) -> None:
        successes = self._successes
        successes.append(now)
        # only the last window counts (`_observed_rate`): a client kept for months of
        # fetches must not hold a time for every request it ever sent
        while successes[0] < now - _WINDOW_SECONDS:
            successes.popleft()
        self._limit = min(float(self.max_concurrency), self._limit + 1.0 / self._limit)
        if self._learned is not None:
            if self._slow_start:
                # double per second of successes: +ln 2 * rate per second
                self._learned += math.log(2.0)
            else:
                self._learned += RATE_INCREASE / self._learned

    def _read_rate_headers(self, headers: Mapping[str, str], now: float) -> None:
        said = parse_rate_limit(headers)
        if said.empty:
            return
        rates = [r for r in (said.policy_rate,) if r is not None]
        if said.remaining is not None and said.reset is not None:
            if said.remaining < 1 and said.reset > 0:
                self._pause(now, said.reset)
            elif said.reset > 0:
                rates.append(said.remaining / said.reset)
        elif said.limit is not None and said.reset is not None and said.reset > 0:
            rates.append(said.limit / said.reset)
        if rates:
            self._header_rate = max(_MIN_RATE, min(rates))

    def _pause(self, now: float, seconds: float) -> None:
        wait = min(seconds, RETRY_AFTER_MAX_SECONDS) * backoff_scale()
        until = now + wait
        if wait > 0 and until > self._paused_until:
            if self._paused_until <= now:
                self.pauses += 1
            self._paused_until = until
            self._window_start = max(self._window_start, until)  # a pause is not a rate
