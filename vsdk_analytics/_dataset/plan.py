"""The plan of one sync: which stored sessions are still open, and how far down to page.

A session is open while its status is running (`RUNNING_STATUSES`), or it has no ``end``
and its status is not final; a final status (`FINISHED_STATUSES`) is finished with or
without an ``end``. **The rule**: when paging further down to the oldest open session
below the watermark costs fewer requests than fetching those one by one, ``since``
widens to its ``created_at``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from vsdk_analytics._schema import FINISHED_STATUSES, RUNNING_STATUSES

from .state import SyncState
from .stored import StoredDataset

__all__ = ["Plan", "open_sessions", "plan_sync"]


@dataclass(frozen=True, slots=True)
class Plan:
    """What one sync fetches: the ``since`` to page down to, why, and the open ids."""

    since: datetime | None
    reason: str
    unfinished: list[str]  # stored open ids the pages must bring back or be fetched


def open_sessions(index: pl.DataFrame) -> pl.DataFrame:
    """Stored sessions that may still change: running, or no end and no final status."""
    running = pl.col("status").is_in(sorted(RUNNING_STATUSES)).fill_null(False)
    final = pl.col("status").is_in(sorted(FINISHED_STATUSES)).fill_null(False)
    return index.filter(
        (running | (pl.col("end").is_null() & ~final)) & pl.col("session_id").is_not_null()
    )


def plan_sync(
    stored: StoredDataset, state: SyncState | None, why_no_state: str, per_page: int, *, full: bool
) -> Plan:
    """Choose ``since``: every page, the watermark, or the oldest open session below it."""
    index = stored.index
    unfinished = open_sessions(index).unique("session_id")
    ids = sorted(unfinished.get_column("session_id").to_list())
    if full:
        return Plan(None, "full=True: every page fetched and merged", ids)
    if state is None:
        reason = "first sync" if index.is_empty() else why_no_state + ": every page fetched"
        return Plan(None, reason, ids)
    if state.watermark is None:
        return Plan(None, "no session stored yet: every page fetched", ids)
    watermark = state.watermark
    older = unfinished.filter(pl.col("created_at") < watermark)
    base = "incremental: pages newest first down to the watermark"
    if older.is_empty():
        return Plan(watermark, base, ids)
    oldest = older.get_column("created_at").min()
    assert isinstance(oldest, datetime)
    between = index.filter(
        (pl.col("created_at") >= oldest) & (pl.col("created_at") < watermark)
    ).height
    extra_pages = math.ceil(between / per_page)
    if extra_pages < older.height:
        reason = (
            f"incremental: pages newest first down to the oldest of {older.height} unfinished "
            f"sessions ({extra_pages} more pages instead of {older.height} single requests)"
        )
        return Plan(oldest, reason, ids)
    return Plan(watermark, base, ids)
