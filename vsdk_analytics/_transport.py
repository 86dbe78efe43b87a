"""One request to the API: retries, typed errors, and what each failure really was.

`Requester.get` sends one GET inside the client's limiter and retries what retrying can fix
(408/429/5xx, timeouts, dropped connections, bodies cut off or garbled by a proxy), with
capped, jittered backoff that honours ``Retry-After``. Everything else ends the request at
once with its typed error, saying that it was not retried: 401/403/404 and other 4xx,
redirects (never followed: the token must not leave the host), 204, a 200 whose body is an
error, a strict schema violation. A connection that cannot be made on the very first request
(refused, a name that does not resolve, a TLS failure) is reported at once too, naming which:
retrying a wrong URL only makes the user wait. `classify_transport_error` reads the cause
chain of httpx's exceptions (the aiohttp transport reports a dropped connection as a
"connect timeout").
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    ResponseFormatError,
    status_error,
)
from ._limiter import RequestLimiter
from ._retry import backoff_delay, parse_retry_after, should_retry
from ._wire import Wire, WireAnswer, WireError, error_response

if TYPE_CHECKING:
    import httpx

__all__ = ["FailureKind", "RequestCounters", "Requester", "classify_transport_error"]

logger = logging.getLogger("vsdk_analytics")

T = TypeVar("T")

FailureKind = Literal["refused", "dns", "tls", "dropped", "timeout", "other"]

_FIRST_CONTACT_FATAL: frozenset[FailureKind] = frozenset({"refused", "dns", "tls"})

_DESCRIBE: dict[FailureKind, str] = {
    "refused": "connection refused: nothing listens there; is the base URL (host and port) right?",
    "dns": "the host name does not resolve (DNS): check the base URL for typos",
    "tls": "the TLS handshake failed (certificate or protocol): check the base URL's scheme "
    "and host, or a proxy intercepting TLS",
    "dropped": "the connection was dropped before the answer was complete",
    "timeout": "no complete answer in time",
    "other": "the connection failed",
}


def classify_transport_error(exc: BaseException) -> FailureKind:  # noqa: PLR0911 - one per kind
    """What a transport exception really was, from its cause chain.

    Examples
    --------
    >>> import httpx
    >>> classify_transport_error(httpx.ConnectError("x"))
    'other'
    >>> err = httpx.ConnectError("x")
    >>> err.__cause__ = ConnectionRefusedError(errno.ECONNREFUSED, "refused")
    >>> classify_transport_error(err)
    'refused'
    """
    # httpx's exceptions can only come from httpx: never loaded, never raised
    hx: Any = sys.modules.get("httpx")
    seen: set[int] = set()
    current: BaseException | None = exc
    timeout = False
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = type(current).__name__
        if isinstance(current, socket.gaierror) or "DNSError" in name:
            return "dns"
        if isinstance(current, ssl.SSLError) or "Certificate" in name or "SSLError" in name:
            return "tls"
        if isinstance(current, ConnectionRefusedError) or (
            isinstance(current, OSError) and current.errno == errno.ECONNREFUSED
        ):
            return "refused"
        if (
            name in {"ServerDisconnectedError", "ClientPayloadError"}
            or isinstance(current, (ConnectionResetError, BrokenPipeError))
            or (hx is not None and isinstance(current, hx.RemoteProtocolError))
        ):
            return "dropped"
        if isinstance(current, (TimeoutError, asyncio.TimeoutError)) or name in {
            "ServerTimeoutError",
            "SocketTimeoutError",
        }:
            timeout = True
        current = current.__cause__ or current.__context__
    if timeout:
        return "timeout"
    if hx is None:
        return "other"
    if isinstance(exc, (hx.ReadError, hx.WriteError)):
        return "dropped"
    if isinstance(exc, hx.TimeoutException) and not isinstance(exc, hx.ConnectTimeout):
        return "timeout"
    return "other"


@dataclass(slots=True)
class RequestCounters:
    """What the requester did: requests sent, retries, 429s, successes."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    successes: int = 0

    def snapshot(self) -> RequestCounters:
        """A copy, to measure one fetch as a difference."""
        return RequestCounters(self.requests, self.retries, self.throttled, self.successes)


class Requester:
    """Sends GETs for one fetch through one `Wire` and one limiter."""

    def __init__(
        self,
        wire: Wire,
        *,
        base_url: str,
        limit: RequestLimiter,
        max_retries: int,
        timeout: float,
        counters: RequestCounters | None = None,
        on_retry: Callable[[], None] | None = None,
    ) -> None:
        self._wire = wire
        self._base = base_url.rstrip("/")
        self._limit = limit
        self._max_retries = max_retries
        self._timeout = timeout
        self.counters = counters if counters is not None else RequestCounters()
        self._on_retry = on_retry

    @property
    def peak_in_flight(self) -> int:
        """Most requests in flight at once so far."""
        return self._limit.peak_in_flight

    @property
    def concurrency(self) -> int:
        """Requests allowed in flight now."""
        return self._limit.concurrency

    @property
    def limiter(self) -> RequestLimiter:
        """The limiter every request of this requester goes through."""
        return self._limit

    async def get(
        self,
        path: str,
        params: dict[str, int] | None,
        *,
        where: str,
        page: int | None,
        parse: Callable[[bytes], Awaitable[T]],
    ) -> T:
        """GET ``path`` and ``parse`` the body; retry what retrying can fix, raise the rest.

        ``parse`` raises `ResponseFormatError` for a body it cannot use; it is retried
        when its ``retryable`` says a proxy may have garbled it.
        """
        attempt = 0
        while True:
            attempt += 1
            outcome, retry_after = await self._attempt(
                path, params, where=where, page=page, attempt=attempt, parse=parse
            )
            if not isinstance(outcome, APIError):
                self.counters.successes += 1
                return outcome
            if attempt > self._max_retries:
                _say_attempts(outcome, attempt)
                raise outcome
            self.counters.retries += 1
            # a Retry-After already pauses every request in the limiter: no wait on top
            paused = isinstance(outcome, APIStatusError) and outcome.status_code in {429, 503}
            delay = backoff_delay(attempt, retry_after=None if paused else retry_after)
            logger.info(
                "%s: %s; retry %d of %d in %.2fs", where, outcome, attempt, self._max_retries, delay
            )
            if self._on_retry is not None:
                self._on_retry()
            await asyncio.sleep(delay)

    async def _attempt(
        self,
        path: str,
        params: dict[str, int] | None,
        *,
        where: str,
        page: int | None,
        attempt: int,
        parse: Callable[[bytes], Awaitable[T]],
    ) -> tuple[T | APIError, float | None]:
        permit = await self._limit.acquire()
        status: int | None = None
        headers: Mapping[str, str] | None = None
        self.counters.requests += 1
        query = "&".join(f"{k}={v}" for k, v in (params or {}).items())
        url = f"{self._base}{path}?{query}" if query else f"{self._base}{path}"
        try:
            try:
                answer = await _within(self._wire.get(url), self._timeout)
            except (WireError, asyncio.TimeoutError) as exc:
                cause = exc.__cause__ if isinstance(exc, WireError) and exc.__cause__ else exc
                return self._transport_failure(cause, where=where, url=url, page=page), None
            status, headers = answer.status, answer.headers
            if status == 429:
                self.counters.throttled += 1
        finally:
            self._limit.release(permit, status=status, headers=headers)
        if status != 200:
            return self._status_failure(answer, where=where, url=url, page=page, attempt=attempt)
        try:
            return await parse(answer.body), None
        except ResponseFormatError as exc:
            exc.url = url
            if not getattr(exc, "retryable", True):
                _not_retried(exc)
                raise
            return exc, None

    def _transport_failure(
        self, exc: BaseException, *, where: str, url: str, page: int | None
    ) -> APIError:
        kind = classify_transport_error(exc)
        what = _DESCRIBE[kind]
        if kind == "timeout":
            what = f"no complete answer within {self._timeout:g}s"
        text = f"{where}: {what} ({url}; {type(exc).__name__}: {exc})"
        if kind in _FIRST_CONTACT_FATAL and self.counters.successes == 0:
            error = APIConnectionError(text, url=url, page=page)
            error.kind = kind
            _not_retried(error)
            raise error from exc
        if kind == "timeout":
            error = APITimeoutError(
                f"{text}; the server may be overloaded: raise timeout= or lower max_concurrency",
                url=url,
                page=page,
            )
        else:
            error = APIConnectionError(text, url=url, page=page)
        error.kind = kind
        error.__cause__ = exc
        return error

    def _status_failure(
        self, answer: WireAnswer, *, where: str, url: str, page: int | None, attempt: int
    ) -> tuple[APIError, float | None]:
        status = answer.status
        response = error_response(url, answer)
        if 300 <= status < 400 or status == 204 or (200 < status < 300):
            location = answer.headers.get("location")
            what = (
                f"redirected to {location!r}; redirects are never followed (the token must "
                "not leave the API host): check the base URL"
                if 300 <= status < 400
                else "answered without a sessions page; check the base URL and API version"
            )
            error: APIError = APIStatusError(
                f"HTTP {status} for {where} ({url}): {what}",
                status_code=status,
                body=_text(response),
                url=url,
                page=page,
                response=response,
            )
            _not_retried(error)
            raise error
        retry_after = parse_retry_after(answer.headers)
        status_err = status_error(
            status,
            body=_text(response),
            url=url,
            page=page,
            retry_after=retry_after,
            attempts=attempt,
            response=response,
        )
        if not should_retry(status):
            _not_retried(status_err)
            raise status_err
        return status_err, retry_after


def _not_retried(error: APIError) -> None:
    error.args = (f"{error.args[0]} (not retried: this cannot succeed by retrying)",)


async def _within(request: Awaitable[T], seconds: float) -> T:
    """``request`` with an end-to-end deadline.

    httpx's timeouts are per read, so a body that trickles in never trips them.
    ``asyncio.timeout`` where it exists: ``wait_for`` runs the request as another task,
    a measurable cost per page.
    """
    timeout = getattr(asyncio, "timeout", None)
    if timeout is None:  # Python 3.10
        return await asyncio.wait_for(request, seconds)
    async with timeout(seconds):
        return await request


def _say_attempts(error: APIError, attempts: int) -> None:
    text = str(error)
    if f"after {attempts} attempts" not in text:
        error.args = (f"{text} (gave up after {attempts} attempts)",)


def _text(response: httpx.Response) -> str:
    """The body of an error answer as text (the token already removed)."""
    try:
        return response.text
    except (UnicodeDecodeError, LookupError):
        return response.content.decode("utf-8", "replace")
