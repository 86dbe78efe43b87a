"""Page frames into the fetch's frame: the newest version of each session, newest first.

Both ends of a fetch meet here: `combine_pages` takes the rows of every answer (pages
re-read after a shift repeat some sessions) and returns one row per session, ordered by
``created_at`` descending, then ``session_id``; `newest_per_session` is the
deduplication alone, which incremental syncs use to merge stored and fetched rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from ._normalize import empty_sessions

__all__ = ["combine_pages", "newest_per_session"]


def newest_per_session(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per ``session_id``: the newest ``updated_at`` (a tie or nulls: the first row).

    Rows with a null ``session_id`` count as one session; callers keep them apart.
    """
    return frame.sort("updated_at", descending=True, nulls_last=True, maintain_order=True).unique(
        "session_id", keep="first", maintain_order=True
    )


def combine_pages(frames: Sequence[pl.DataFrame], *, unique: bool = False) -> pl.DataFrame:
    """Concatenate page frames, keep the newest ``updated_at`` per session, sort.

    Rows are ordered by ``created_at`` descending, then ``session_id``. Rows
    without a session id are all kept (nothing to deduplicate them on). ``unique``:
    the caller knows every row has an id no other row has (the fetch's coverage
    counted them), so it is not checked again (200,000 ids: 9-15 ms).

    Rows already in that order keep the frames' chunks, as Polars' own readers keep
    one chunk per row group: copying 200,000 rows into one took 9-15 ms after the
    last answer (``rechunk()`` does it where it pays).
    """
    frames = [f for f in frames if f.height]
    if not frames:
        return empty_sessions()
    allrows = pl.concat(frames, how="vertical", rechunk=False)
    ids = allrows.get_column("session_id")
    if unique or (ids.null_count() == 0 and ids.n_unique() == allrows.height):
        # The common case (no shifted offsets): no string sort needed to deduplicate,
        # and none at all when the API's order is already this one (newest first)
        if _in_output_order(allrows):
            return allrows
        return allrows.sort(
            ["created_at", "session_id"], descending=[True, False], nulls_last=True
        ).rechunk()
    newest = newest_per_session(allrows.filter(pl.col("session_id").is_not_null()))
    out = pl.concat([newest, allrows.filter(pl.col("session_id").is_null())])
    return out.sort(
        ["created_at", "session_id"], descending=[True, False], nulls_last=True
    ).rechunk()


def _in_output_order(frame: pl.DataFrame) -> bool:
    """Whether rows with unique ids are already by ``created_at`` descending, then id.

    A few vectorized comparisons (about 3 ms for 200,000 rows) instead of a two-key
    sort (about 40 ms). A null creation time: False (the sort puts those last).
    """
    if frame.height < 2:
        return True
    if frame.get_column("created_at").null_count():
        return False
    step = pl.col("created_at").to_physical().diff()
    later_id = pl.col("session_id") > pl.col("session_id").shift(1)
    ordered = ((step < 0) | ((step == 0) & later_id)).slice(1).all()
    return bool(frame.select(ordered).item())
