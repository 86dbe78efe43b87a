"""Checked by mypy only: the public API types as users write it."""

from __future__ import annotations

import polars as pl

import vsdk_analytics as va


def typed_usage(creds: va.Credentials) -> pl.DataFrame:
    frame: pl.DataFrame = va.fetch_sessions(creds, per_page=100, max_concurrency=4, progress=False)
    schema: pl.Schema = va.SESSIONS_SCHEMA
    assert frame.schema == schema
    return frame


async def typed_async_usage() -> int:
    frame = await va.fetch_sessions_async(va.Credentials.from_env(), progress=None)
    return frame.height


def progress_callback(p: va.FetchProgress) -> None:
    done: int = p.pages_done
    total: int | None = p.pages_total
    del done, total


def sync_twins_keep_their_parameters(creds: va.Credentials) -> None:
    """The sync entry points take their async twins' parameters, typed (``_sync.blocking``)."""
    from typing_extensions import assert_type

    with va.Client(creds, base_url="http://127.0.0.1:8080", max_concurrency=4) as client:
        assert_type(client.fetch_sessions(per_page=50, since="2026-01-01T00:00:00Z"), pl.DataFrame)
        frame, stats = client.fetch_sessions_with_stats(progress=False)
        assert_type(stats, va.FetchStats)
        assert_type(client.fetch_session("id", strict=True), pl.DataFrame)
        assert_type(client.stream_sessions(print, batch_rows=10), va.FetchStats)
        client.fetch_sessions(per_page="50")  # type: ignore[arg-type]
        client.fetch_sessions(per_pag=50)  # type: ignore[call-arg]
    va.Client(creds, max_concurrency="4")  # type: ignore[arg-type]
    assert_type(va.fetch_sessions_to_parquet("s.parquet", creds, batch_rows=10), va.FetchStats)
    assert_type(va.sync_sessions("dataset", creds, full=True), va.SyncReport)
    va.fetch_sessions(creds, per_page="50")  # type: ignore[arg-type]
    va.fetch_deployments(creds, unknown=1)  # type: ignore[call-arg]
    del frame
