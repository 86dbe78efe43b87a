"""`Client`: `AsyncClient` on a private event-loop thread, for scripts and notebooks.

The pool, the token and the learned rate limit survive between calls, and the calls work
the same in a script and inside Jupyter's running loop (`vsdk_analytics._sync.LoopThread`).
Every method spells out its `AsyncClient` twin's parameters (a test holds them equal).

Examples
--------
>>> from vsdk_analytics.testing import FakeServer
>>> with FakeServer(sessions=120) as server:
...     with Client(server.credentials(), base_url=server.url) as client:
...         first = client.fetch_sessions(progress=False)
...         again = client.fetch_sessions(progress=False)
>>> first.height, again.equals(first)
(120, True)
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import polars as pl

from ._client import AsyncClient
from ._constants import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_PER_PAGE,
    MAX_RETRIES,
    READ_TIMEOUT_SECONDS,
    STREAM_BATCH_ROWS,
)
from ._credentials import Credentials
from ._fetch import FetchStats
from ._http import TransportName
from ._progress import ProgressArg
from ._sync import LoopThread

if TYPE_CHECKING:
    import httpx

__all__ = ["Client"]

T = TypeVar("T")


class Client:
    """The synchronous client: `AsyncClient` on a private event-loop thread.

    Same parameters as `AsyncClient`. Use it with ``with``, or call `close()`. Its calls
    work in scripts and inside a running loop (Jupyter) alike, and reuse one connection
    pool, one token and one learned rate limit between calls.
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
        self._async = AsyncClient(
            credentials,
            base_url=base_url,
            max_concurrency=max_concurrency,
            max_requests_per_second=max_requests_per_second,
            max_retries=max_retries,
            timeout=timeout,
            transport=transport,
        )
        self._thread: LoopThread | None = None

    def __repr__(self) -> str:
        return repr(self._async).replace("<AsyncClient", "<Client", 1)

    @property
    def base_url(self) -> str:
        """The API's base URL."""
        return self._async.base_url

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool and stop the client's thread."""
        thread, self._thread = self._thread, None
        if thread is not None:
            try:
                thread.run(self._async.aclose())
            finally:
                thread.stop()
        else:
            self._async._closed = True

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._thread is None:
            self._thread = LoopThread()
        return self._thread.run(coroutine)

    def fetch_sessions_with_stats(
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
        """`AsyncClient.fetch_sessions_with_stats`, synchronously."""
        return self._run(
            self._async.fetch_sessions_with_stats(
                per_page=per_page,
                progress=progress,
                strict=strict,
                since=since,
                until=until,
                allow_incomplete=allow_incomplete,
                keep_all=keep_all,
            )
        )

    def fetch_sessions(
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
        return self._run(
            self._async.fetch_sessions(
                per_page=per_page,
                progress=progress,
                strict=strict,
                since=since,
                until=until,
                allow_incomplete=allow_incomplete,
            )
        )

    def fetch_session(self, session_id: str, *, strict: bool = False) -> pl.DataFrame:
        """One session by id (a one-row frame)."""
        return self._run(self._async.fetch_session(session_id, strict=strict))

    def stream_sessions(
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
        """`AsyncClient.stream_sessions`, synchronously.

        ``on_batch`` runs on the client's thread, one batch at a time.
        """
        return self._run(
            self._async.stream_sessions(
                on_batch,
                per_page=per_page,
                batch_rows=batch_rows,
                progress=progress,
                strict=strict,
                since=since,
                until=until,
                allow_incomplete=allow_incomplete,
            )
        )

    def fetch_deployments(
        self,
        *,
        per_page: int = DEFAULT_PER_PAGE,
        strict: bool = False,
        allow_incomplete: bool = False,
    ) -> pl.DataFrame:
        """Every AI deployment of the account; see `AsyncClient.fetch_deployments`."""
        return self._run(
            self._async.fetch_deployments(
                per_page=per_page, strict=strict, allow_incomplete=allow_incomplete
            )
        )

    def iter_pages(
        self,
        *,
        per_page: int = DEFAULT_PER_PAGE,
        strict: bool = False,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
    ) -> list[pl.DataFrame]:
        """`AsyncClient.iter_pages`, collected (a sync caller cannot stream from the loop)."""

        async def collect() -> list[pl.DataFrame]:
            pages = self._async.iter_pages(
                per_page=per_page, strict=strict, since=since, until=until
            )
            return [frame async for frame in pages]

        return self._run(collect())
