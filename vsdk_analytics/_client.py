"""`AsyncClient`: one connection pool, one token, one limiter, many fetches.

A client holds what every request of an account shares: credentials (the token is re-minted
before it expires), the base URL, timeouts, the retry policy, the connection pool and the
limiter that paces requests to what the server allows (learned once, kept for every later
call). It is the one implementation: `vsdk_analytics.Client` runs it on a private
event-loop thread for synchronous callers. The module-level `fetch_sessions` and friends
open a short-lived client.

Examples
--------
>>> from vsdk_analytics.testing import FakeServer
>>> import asyncio
>>> async def twice(server):
...     async with AsyncClient(server.credentials(), base_url=server.url) as client:
...         first = await client.fetch_sessions(progress=False)
...         again = await client.fetch_sessions(progress=False)
...     return first.height, again.equals(first)
>>> with FakeServer(sessions=120) as server:
...     asyncio.run(twice(server))
(120, True)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING

import polars as pl

from ._config import check_client_options
from ._constants import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_PER_PAGE,
    MAX_RETRIES,
    READ_TIMEOUT_SECONDS,
    STREAM_BATCH_ROWS,
)
from ._credentials import Credentials
from ._deployments_fetch import fetch_deployments_frame
from ._errors import ConfigurationError
from ._fetch import FetchStats, TimeRange, fetch_frame, fetch_one_frame
from ._http import TransportName, build_wire, resolve_base_url
from ._limiter import RequestLimiter
from ._normalize import warn_problems
from ._options import time_range
from ._progress import ProgressArg
from ._transport import Requester
from ._wire import Wire

if TYPE_CHECKING:
    import httpx

__all__ = ["AsyncClient"]


class AsyncClient:
    """An async client of the VideoSDK Agent Cloud API (use with ``async with``).

    Parameters
    ----------
    credentials
        `Credentials`; None reads them from the environment (`Credentials.from_env`).
    base_url
        The API's base URL; None uses ``VIDEOSDK_API_ENDPOINT`` (or its alias
        ``VIDEOSDK_API_BASE_URL``) or ``https://api.videosdk.live``.
    max_concurrency
        Most requests in flight at once (lowered automatically on HTTP 429).
    max_requests_per_second
        A hard cap on the request rate, for users who know their quota. Without it the
        client paces itself to what the server signals (429, ``Retry-After``, rate-limit
        headers), and a ``Retry-After`` pauses every request of the client.
    max_retries
        Retries per request for 408/429/5xx, timeouts, dropped connections, cut bodies.
    timeout
        Seconds one request may take, end to end.
    transport
        ``"aiohttp"`` (default, fastest), ``"httpx"``, or an `httpx.AsyncBaseTransport`
        (e.g. `httpx.MockTransport` in tests).

    Notes
    -----
    The HTTP connection pool is created on first use, in the running event loop; use one
    client from one event loop (`Client` does this for you).
    """

    def __init__(
        self,
        credentials: Credentials | None = None,
        *,
        base_url: str | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        max_requests_per_second: float | None = None,
        max_retries: int = MAX_RETRIES,
        timeout: float = READ_TIMEOUT_SECONDS,
        transport: httpx.AsyncBaseTransport | TransportName = "aiohttp",
    ) -> None:
        check_client_options(
            max_concurrency=max_concurrency,
            max_retries=max_retries,
            timeout=timeout,
            max_requests_per_second=max_requests_per_second,
        )
        if isinstance(transport, str) and transport not in {
            "aiohttp",
            "httpx",
        }:
            raise ConfigurationError(f"unknown transport {transport!r}; use 'aiohttp' or 'httpx'")
        self._base_url = resolve_base_url(base_url)
        self._credentials = credentials if credentials is not None else Credentials.from_env()
        self._max_concurrency = max_concurrency
        self._max_retries = max_retries
        self._timeout = timeout
        self._transport = transport
        self._max_rps = max_requests_per_second
        self._wire: Wire | None = None
        self._requester: Requester | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._keeper: AsyncGenerator[None, None] | None = None
        self._closed = False

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<AsyncClient{state} base_url={self._base_url!r} credentials={self._credentials!r}>"

    @property
    def base_url(self) -> str:
        """The API's base URL."""
        return self._base_url

    @property
    def credentials(self) -> Credentials:
        """The credentials requests are signed with (a repr never shows the secret)."""
        return self._credentials

    @property
    def requests_sent(self) -> int:
        """HTTP requests this client has sent in its current event loop, retries included."""
        return 0 if self._requester is None else self._requester.counters.requests

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool; the client cannot be used afterwards."""
        self._closed = True
        wire, self._wire, self._requester = self._wire, None, None
        keeper, self._keeper = self._keeper, None
        if keeper is not None and self._loop is asyncio.get_running_loop():
            await keeper.aclose()  # closes the wire
        if wire is not None:
            await wire.aclose()

    async def _get_requester(self) -> Requester:
        if self._closed:
            raise ConfigurationError("this client is closed; open a new one")
        loop = asyncio.get_running_loop()
        if self._requester is not None and self._loop is not loop:
            # a pool belongs to one event loop: start a new one in this loop
            old, self._wire, self._requester = self._wire, None, None
            if old is not None and self._loop is not None and not self._loop.is_closed():
                asyncio.run_coroutine_threadsafe(old.aclose(), self._loop)
        if self._requester is None:
            self._wire = build_wire(
                base_url=self._base_url,
                credentials=self._credentials,
                max_concurrency=self._max_concurrency,
                timeout=self._timeout,
                transport=self._transport,
            )
            # The limiter's timers belong to the running loop: one per loop, kept for every
            # later call of this client in it (what it learned about the server stays).
            limiter = RequestLimiter(
                max_concurrency=self._max_concurrency, max_requests_per_second=self._max_rps
            )
            self._requester = Requester(
                self._wire,
                base_url=self._base_url,
                limit=limiter,
                max_retries=self._max_retries,
                timeout=self._timeout,
            )
            self._loop = loop
            self._keeper = _closed_with_loop(self._wire)
            await self._keeper.asend(None)
        return self._requester

    async def fetch_sessions_with_stats(
        self,
        *,
        per_page: int = DEFAULT_PER_PAGE,
        progress: ProgressArg = None,
        strict: bool = False,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        allow_incomplete: bool = False,
        keep_all: bool = False,
    ) -> tuple[pl.DataFrame, FetchStats]:
        """`fetch_sessions`, also returning the fetch's `FetchStats`."""
        check_client_options(per_page=per_page)
        window = time_range(since, until)
        if keep_all:
            window = TimeRange(window.since, window.until, keep_all=True)
        requester = await self._get_requester()
        frame, stats = await fetch_frame(
            requester,
            per_page=per_page,
            max_concurrency=self._max_concurrency,
            progress=progress,
            strict=strict,
            time_range=window,
            allow_incomplete=allow_incomplete,
        )
        warn_problems(stats.problems, stacklevel=3)
        return frame, stats

    async def fetch_sessions(
        self,
        *,
        per_page: int = DEFAULT_PER_PAGE,
        progress: ProgressArg = None,
        strict: bool = False,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        allow_incomplete: bool = False,
    ) -> pl.DataFrame:
        """Every AI deployment session of the account; see `vsdk_analytics.fetch_sessions`."""
        frame, _ = await self.fetch_sessions_with_stats(
            per_page=per_page,
            progress=progress,
            strict=strict,
            since=since,
            until=until,
            allow_incomplete=allow_incomplete,
        )
        return frame

    async def fetch_session(self, session_id: str, *, strict: bool = False) -> pl.DataFrame:
        """One session by id (a one-row frame); see `vsdk_analytics.fetch_session`."""
        frame, _ = await self.fetch_session_frames([session_id], strict=strict)
        return frame

    async def fetch_session_frames(
        self, session_ids: list[str], *, strict: bool = False
    ) -> tuple[pl.DataFrame, FetchStats]:
        """Several sessions by id, concurrently, with the fetch's `FetchStats`."""
        for given in session_ids:
            candidate: object = given
            if not isinstance(candidate, str) or not given.strip():
                raise ConfigurationError(f"session_id must be a non-empty string, got {given!r}")
        requester = await self._get_requester()
        frame, stats = await fetch_one_frame(
            requester, [s.strip() for s in session_ids], strict=strict
        )
        warn_problems(stats.problems, stacklevel=3)
        return frame, stats

    async def stream_sessions(
        self,
        on_batch: Callable[[pl.DataFrame], None],
        *,
        per_page: int = DEFAULT_PER_PAGE,
        batch_rows: int = STREAM_BATCH_ROWS,
        progress: ProgressArg = None,
        strict: bool = False,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        allow_incomplete: bool = False,
    ) -> FetchStats:
        """Every session, handed to ``on_batch`` in frames of about ``batch_rows``.

        The streaming core of `fetch_sessions_to_parquet`: memory holds about one
        batch, not the history. Sessions come in the API's order (newest first), each
        once (the first copy received wins, where `fetch_sessions` keeps the newest
        ``updated_at``). The completeness rule holds: when the pages cannot prove every
        session was seen, `IncompleteFetchError` is raised after the last batch
        (``allow_incomplete=True``: a `CompletenessWarning`).
        """
        check_client_options(per_page=per_page)
        requester = await self._get_requester()
        _, stats = await fetch_frame(
            requester,
            per_page=per_page,
            max_concurrency=self._max_concurrency,
            progress=progress,
            strict=strict,
            time_range=time_range(since, until),
            allow_incomplete=allow_incomplete,
            on_batch=on_batch,
            batch_rows=batch_rows,
        )
        warn_problems(stats.problems, stacklevel=3)
        return stats

    async def fetch_deployments(
        self,
        *,
        per_page: int = DEFAULT_PER_PAGE,
        strict: bool = False,
        allow_incomplete: bool = False,
    ) -> pl.DataFrame:
        """Every AI deployment of the account (`DEPLOYMENTS_SCHEMA`), for names and tags.

        Paged and proved complete like the sessions (`fetch_sessions`): every
        deployment once, or `IncompleteFetchError`. Join the names onto sessions with
        `with_deployment_names`.
        """
        check_client_options(per_page=per_page)
        requester = await self._get_requester()
        frame, _ = await fetch_deployments_frame(
            requester,
            per_page=per_page,
            max_concurrency=self._max_concurrency,
            strict=strict,
            allow_incomplete=allow_incomplete,
        )
        return frame

    async def iter_pages(
        self,
        *,
        per_page: int = DEFAULT_PER_PAGE,
        strict: bool = False,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
    ) -> AsyncIterator[pl.DataFrame]:
        """The sessions as typed frames of about a page each, as the fetch completes.

        Each session is yielded once (`SESSIONS_SCHEMA`, in the API's order within each
        frame), while later pages are still in flight. The completeness rule holds as
        for `fetch_sessions`: when the fetch cannot prove it saw every session, the
        iteration ends with `IncompleteFetchError` after yielding what was fetched.
        """
        check_client_options(per_page=per_page)
        window = time_range(since, until)
        requester = await self._get_requester()
        queue: asyncio.Queue[pl.DataFrame | None] = asyncio.Queue()
        fetch = asyncio.ensure_future(
            fetch_frame(
                requester,
                per_page=per_page,
                max_concurrency=self._max_concurrency,
                progress=False,
                strict=strict,
                time_range=window,
                on_batch=queue.put_nowait,
            )
        )
        fetch.add_done_callback(lambda _: queue.put_nowait(None))
        try:
            while (rows := await queue.get()) is not None:
                if rows.height:
                    yield rows
            _, stats = await fetch  # raises IncompleteFetchError, after what was yielded
            warn_problems(stats.problems, stacklevel=3)
        finally:
            if not fetch.done():
                fetch.cancel()
                await asyncio.gather(fetch, return_exceptions=True)


async def _closed_with_loop(wire: Wire) -> AsyncGenerator[None, None]:
    """Started in the loop that owns ``wire``'s pool: closes the pool when that loop ends.

    An event loop closes the async generators started in it before it stops
    (``loop.shutdown_asyncgens``, which `asyncio.run` calls): a client used in several
    ``asyncio.run`` calls, or never closed, leaves no open connections behind, and no
    "unclosed session" noise. `AsyncClient.aclose` closes it earlier.
    """
    try:
        yield
    finally:
        await wire.aclose()
