"""The public fetch functions: each async one opens a short-lived `AsyncClient`.

The client resolves the configuration (credentials from the environment when not
given, the base URL policy) and validates the arguments. Each sync function is its
async twin run by `vsdk_analytics._sync.blocking`: one implementation, one signature.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl

from ._client import AsyncClient
from ._constants import DEFAULT_MAX_CONCURRENCY, DEFAULT_PER_PAGE, MAX_RETRIES, READ_TIMEOUT_SECONDS
from ._credentials import Credentials
from ._http import TransportName
from ._progress import ProgressArg
from ._sync import blocking

if TYPE_CHECKING:
    import httpx

__all__ = [
    "fetch_deployments",
    "fetch_deployments_async",
    "fetch_session",
    "fetch_session_async",
    "fetch_sessions",
    "fetch_sessions_async",
]


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
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    allow_incomplete: bool = False,
) -> pl.DataFrame:
    """Fetch every AI deployment session of the account (async).

    Same arguments and result as `fetch_sessions`; ``await`` it in a
    notebook cell or an async application.
    """
    async with AsyncClient(
        credentials,
        base_url=base_url,
        max_concurrency=max_concurrency,
        max_retries=max_retries,
        timeout=timeout,
        transport=transport,
    ) as client:
        return await client.fetch_sessions(
            per_page=per_page,
            progress=progress,
            strict=strict,
            since=since,
            until=until,
            allow_incomplete=allow_incomplete,
        )


@blocking(fetch_sessions_async)
def fetch_sessions() -> None:
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
        Sessions per page to ask for; the server may serve fewer. Paging uses the
        number of rows page 1 returned, never the ``perPage`` the server echoes.
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
    since, until
        Keep sessions with ``since <= created_at < until``: aware datetimes or
        ISO-8601 text with a zone (naive ones are refused). With ``since``,
        paging stops after the first page older than it, as long as the pages
        come newest first (checked; otherwise everything is fetched and
        filtered, with a `CompletenessWarning`).
    allow_incomplete
        Return what was fetched, with a `CompletenessWarning`, when the fetch cannot
        prove it saw every session (instead of raising `IncompleteFetchError`).

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
        The pages received cannot prove that every session was seen (pages failed after
        every retry, or sessions kept changing); ``.sessions`` holds what was fetched.
    SchemaError
        With ``strict=True``, the first value that does not fit, naming session and field.
    APIConnectionError
        The API cannot be reached (``.kind``: refused, dns, tls, dropped, timeout).
    ResponseFormatError
        Page 1 was not a sessions page.

    Examples
    --------
    >>> from vsdk_analytics import SESSIONS_SCHEMA
    >>> from vsdk_analytics.testing import FakeServer
    >>> with FakeServer(sessions=250) as server:
    ...     frame = fetch_sessions(server.credentials(), base_url=server.url, progress=False)
    >>> frame.height
    250
    >>> frame.schema == SESSIONS_SCHEMA
    True
    """


async def fetch_session_async(
    session_id: str,
    credentials: Credentials | None = None,
    *,
    base_url: str | None = None,
    strict: bool = False,
    max_retries: int = MAX_RETRIES,
    timeout: float = READ_TIMEOUT_SECONDS,
    transport: httpx.AsyncBaseTransport | TransportName = "aiohttp",
) -> pl.DataFrame:
    """Fetch one session by id (async); see `fetch_session`."""
    async with AsyncClient(
        credentials,
        base_url=base_url,
        max_concurrency=1,
        max_retries=max_retries,
        timeout=timeout,
        transport=transport,
    ) as client:
        return await client.fetch_session(session_id, strict=strict)


@blocking(fetch_session_async)
def fetch_session() -> None:
    """Fetch one session by id from ``GET /ai/v1/ai-deployment-sessions/{sessionId}``.

    Returns a one-row frame with `SESSIONS_SCHEMA`. That endpoint returns no
    webhook or metadata, so ``webhook_endpoint``, ``webhook_events`` and
    ``metadata`` are null. Useful to refresh sessions that were still running.

    Raises
    ------
    NotFoundError
        The API does not know the id.
    """


async def fetch_deployments_async(
    credentials: Credentials | None = None,
    *,
    base_url: str | None = None,
    per_page: int = DEFAULT_PER_PAGE,
    strict: bool = False,
    allow_incomplete: bool = False,
    max_retries: int = MAX_RETRIES,
    timeout: float = READ_TIMEOUT_SECONDS,
    transport: httpx.AsyncBaseTransport | TransportName = "aiohttp",
) -> pl.DataFrame:
    """Every AI deployment of the account (async); see `fetch_deployments`."""
    async with AsyncClient(
        credentials,
        base_url=base_url,
        max_retries=max_retries,
        timeout=timeout,
        transport=transport,
    ) as client:
        return await client.fetch_deployments(
            per_page=per_page, strict=strict, allow_incomplete=allow_incomplete
        )


@blocking(fetch_deployments_async)
def fetch_deployments() -> None:
    """Every AI deployment of the account, from ``GET /ai/v1/ai-deployments``.

    Sessions carry only ``deployment_id``; this list has the names (and tags,
    descriptions, statuses). It is paged and proved complete like the sessions.
    Attach the names with `with_deployment_names`.

    Returns
    -------
    polars.DataFrame
        One row per deployment, `DEPLOYMENTS_SCHEMA`, in the API's order.

    Raises
    ------
    IncompleteFetchError
        The pages could not prove every deployment was seen (``.sessions`` holds
        the deployments fetched); ``allow_incomplete=True`` warns instead.

    Examples
    --------
    >>> from vsdk_analytics.testing import FakeServer
    >>> with FakeServer(sessions=200) as server:
    ...     deployments = fetch_deployments(server.credentials(), base_url=server.url)
    ...     sessions = fetch_sessions(server.credentials(), base_url=server.url, progress=False)
    >>> deployments.columns[:2]
    ['deployment_id', 'name']
    >>> set(sessions["deployment_id"]) <= set(deployments["deployment_id"])
    True
    """
