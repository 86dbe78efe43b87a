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
