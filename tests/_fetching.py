"""`fetch_with_stats`: one fetch and its `FetchStats` through a short-lived `AsyncClient`.

What `vsdk_analytics.fetch_sessions_async` does, keeping the stats: the options of
`AsyncClient.fetch_sessions_with_stats` go to it, every other keyword to the client.
"""

from __future__ import annotations

import inspect
from typing import Any

import polars as pl

from vsdk_analytics import AsyncClient, Credentials, FetchStats

_FETCH_OPTIONS = frozenset(inspect.signature(AsyncClient.fetch_sessions_with_stats).parameters)


async def fetch_with_stats(
    credentials: Credentials | None = None, **options: Any
) -> tuple[pl.DataFrame, FetchStats]:
    """Fetch every session with a client of its own; return the frame and the stats."""
    fetch = {k: v for k, v in options.items() if k in _FETCH_OPTIONS}
    client = {k: v for k, v in options.items() if k not in _FETCH_OPTIONS}
    async with AsyncClient(credentials, **client) as session_client:
        return await session_client.fetch_sessions_with_stats(**fetch)
