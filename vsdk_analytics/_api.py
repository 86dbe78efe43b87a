"""The public fetch entry points: `fetch_sessions_async` and its sync twin.

Both resolve configuration (credentials from the environment when not given,
the base URL policy), validate arguments, and hand over to the page fetcher.
The sync function wraps the async one (`run_sync`); there is one implementation.
"""

from __future__ import annotations

import httpx
import polars as pl

from ._client import TransportName, resolve_base_url
from ._constants import DEFAULT_MAX_CONCURRENCY, DEFAULT_PER_PAGE, MAX_RETRIES, READ_TIMEOUT_SECONDS
from ._credentials import Credentials
from ._errors import ConfigurationError
from ._fetch import FetchStats, fetch_frame
from ._normalize import warn_problems
from ._progress import ProgressArg
from ._sync import run_sync

__all__ = ["fetch_sessions", "fetch_sessions_async", "fetch_with_stats"]


def _whole(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check(per_page: int, max_concurrency: int, max_retries: int, timeout: float) -> None:
    _whole("per_page", per_page, 1)
    _whole("max_concurrency", max_concurrency, 1)
    _whole("max_retries", max_retries, 0)
    if not timeout > 0:
        raise ConfigurationError(f"timeout must be > 0 seconds, got {timeout!r}")


async def fetch_with_stats(
    credentials: Credentials | None = None,
    *,
    base_url: str | None = None,
    per_page: int = DEFAULT_PER_PAGE,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    progress: ProgressArg = None,
    strict: bool = False,
    max_retries: int = MAX_RETRIES,
    timeout: float = READ_TIMEOUT_SECONDS,
    transport: httpx.AsyncBaseTransport | TransportName = "aiohttp",
) -> tuple[pl.DataFrame, FetchStats]:
    """`fetch_sessions_async`, also returning the fetch's `FetchStats`."""
    _check(per_page, max_concurrency, max_retries, timeout)
    url = resolve_base_url(base_url)
    creds = credentials if credentials is not None else Credentials.from_env()
    frame, stats = await fetch_frame(
        creds,
        base_url=url,
        per_page=per_page,
        max_concurrency=max_concurrency,
        progress=progress,
        strict=strict,
        max_retries=max_retries,
        timeout=timeout,
        transport=transport,
    )
    warn_problems(stats.problems, stacklevel=3)
    return frame, stats


async def fetch_sessions_async(
    credentials: Credentials | None = None,
    *,
    base_url: str | None = None,
    per_page: int = DEFAULT_PER_PAGE,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    progress: ProgressArg = None,
    strict: bool = False,
    max_retries: int = MAX_RETRIES,
    timeout: float = READ_TIMEOUT_SECONDS,
    transport: httpx.AsyncBaseTransport | TransportName = "aiohttp",
) -> pl.DataFrame:
    """Fetch every AI deployment session of the account (async).

    Same arguments and result as `fetch_sessions`; ``await`` it in a
    notebook cell or an async application.
    """
    frame, _ = await fetch_with_stats(
        credentials,
        base_url=base_url,
        per_page=per_page,
        max_concurrency=max_concurrency,
        progress=progress,
        strict=strict,
        max_retries=max_retries,
        timeout=timeout,
        transport=transport,
    )
    return frame


def fetch_sessions(
    credentials: Credentials | None = None,
    *,
    base_url: str | None = None,
    per_page: int = DEFAULT_PER_PAGE,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    progress: ProgressArg = None,
    strict: bool = False,
    max_retries: int = MAX_RETRIES,
    timeout: float = READ_TIMEOUT_SECONDS,
    transport: httpx.AsyncBaseTransport | TransportName = "aiohttp",
) -> pl.DataFrame:
    """Fetch every AI deployment session of the account as a typed Polars frame.

    Pages are fetched concurrently (page 1 first, for the totals), retried on
    rate limits and server errors, re-checked for sessions that arrived while
    paging, deduplicated and sorted newest first. Works in scripts and inside
    a running event loop (Jupyter) alike.

    Parameters
    ----------
    credentials
        `Credentials`; None reads them from the environment (`Credentials.from_env`).
    base_url
        The API's base URL; None uses ``VIDEOSDK_API_BASE_URL`` or
        ``https://api.videosdk.live``. Plain ``http://`` only for loopback hosts.
    per_page
        Sessions per page to ask for; the server may serve fewer (its echoed
        ``perPage`` is what paging uses).
    max_concurrency
        Most requests in flight at once; lowered automatically on HTTP 429.
    progress
        None shows a bar in terminals and notebooks only; True/False force it;
        a callable receives `FetchProgress` updates.
    strict
        Raise `SchemaError` on the first value that does not fit the schema,
        instead of nulling it (original kept in ``extra``) with a warning.
    max_retries
        Retries per page for 408/429/5xx, timeouts, dropped connections and
        garbled bodies.
    timeout
        Seconds one request may take, end to end.
    transport
        ``"aiohttp"`` (default, fastest), ``"httpx"``, or an
        `httpx.AsyncBaseTransport` (e.g. `httpx.MockTransport` in tests).

    Returns
    -------
    polars.DataFrame
        Exactly `SESSIONS_SCHEMA`, one row per session, newest ``created_at`` first.

    Raises
    ------
    CredentialsError
        No or expired credentials.
    AuthenticationError, PermissionDeniedError, NotFoundError
        The API refused the request (401 even with a fresh token, 403, 404).
    IncompleteFetchError
        Some pages failed after every retry; ``.sessions`` holds what was fetched.
    ResponseFormatError
        Page 1 was not a sessions page.

    Examples
    --------
    >>> from vsdk_analytics.testing import FakeServer
    >>> with FakeServer(sessions=250) as server:
    ...     frame = fetch_sessions(server.credentials(), base_url=server.url, progress=False)
    >>> frame.height
    250
    >>> frame.schema == SESSIONS_SCHEMA
    True
    """
    return run_sync(
        lambda: fetch_sessions_async(
            credentials,
            base_url=base_url,
            per_page=per_page,
            max_concurrency=max_concurrency,
            progress=progress,
            strict=strict,
            max_retries=max_retries,
            timeout=timeout,
            transport=transport,
        )
    )
