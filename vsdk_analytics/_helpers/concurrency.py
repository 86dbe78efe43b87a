"""Concurrency: the most sessions running at once, overall or per period (a sweep line)."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from vsdk_analytics._time import check_time_zone

from .frames import (
    UTC_US,
    By,
    FrameT,
    check_columns,
    finish,
    group_columns,
    schema_of,
    sort_result,
    validate_every,
)
from .timeline import SNAPSHOT_COLUMNS, effective_end, in_time_zone, period_grid

__all__ = ["peak_concurrency"]


def peak_concurrency(
    frame: FrameT,
    *,
    every: str | timedelta | None = None,
    now: datetime | None = None,
    by: By = None,
    time_zone: str = "UTC",
) -> FrameT:
    """The largest number of sessions running at the same instant.

    A session runs over ``[start, effective_end)`` (see `effective_end`): ``end``,
    else ``start + duration_s``, else ``now`` (still running). Rows with a null
    ``start`` are ignored (also for forming groups). Computed by a sweep line:
    +1 at each start and -1 at each end, summed per instant (so a session ending when
    another starts does not overlap it), cumulated in time order; vectorized in Polars.

    Parameters
    ----------
    frame
        A sessions frame; ``start``, ``end``, ``duration_s`` (and the ``by`` columns)
        are read.
    every
        Without it: one row (per group). With it (a Polars duration such as "1h" or a
        timedelta): one row per period from the first session's period to the last
        one's, and a session spanning several periods counts in each.
    now
        A timezone-aware instant where sessions without an end stop counting. Default:
        the frame's snapshot time (the latest ``start``, ``end``, ``created_at`` or
        ``updated_at``; see `snapshot_instant`), never the wall clock: an old file
        gives the same answer on any day, and its timeline stops at its snapshot.
    by
        Group column(s).
    time_zone
        IANA name of the zone whose calendar defines the periods of ``every`` (local
        midnight, the local hour; 23- and 25-hour DST days); default ``"UTC"``.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        The group columns, then (with ``every``) ``period_start``, then
        ``peak_sessions`` (Int64) and ``peak_at`` (the earliest instant the peak is
        reached in the group or period; null when the peak is 0). ``period_start``
        and ``peak_at`` are Datetime("us", time_zone).
        Without ``by`` and ``every`` there is exactly one row, also for an empty frame.
        Sorted by group columns (nulls last), then ``period_start``.

    Raises
    ------
    ConfigurationError
        A bad ``every``, ``now`` or ``time_zone``, unknown ``by`` columns, or mistyped
        columns.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, timezone
    >>> at = lambda h, m=0: datetime(2025, 6, 18, h, m, tzinfo=timezone.utc)
    >>> frame = pl.DataFrame(
    ...     {
    ...         "start": [at(9), at(9, 30), at(10), at(11)],
    ...         "end": [at(10), at(10, 15), at(11), None],
    ...         "duration_s": [3600.0, 2700.0, 3600.0, None],
    ...     }
    ... )
    >>> peak_concurrency(frame, now=at(11, 30))
    shape: (1, 2)
    ┌───────────────┬─────────────────────────┐
    │ peak_sessions ┆ peak_at                 │
    │ ---           ┆ ---                     │
    │ i64           ┆ datetime[μs, UTC]       │
    ╞═══════════════╪═════════════════════════╡
    │ 2             ┆ 2025-06-18 09:30:00 UTC │
    └───────────────┴─────────────────────────┘
    >>> peak_concurrency(frame, every="1h", now=at(11, 30))
    shape: (3, 3)
    ┌─────────────────────────┬───────────────┬─────────────────────────┐
    │ period_start            ┆ peak_sessions ┆ peak_at                 │
    │ ---                     ┆ ---           ┆ ---                     │
    │ datetime[μs, UTC]       ┆ i64           ┆ datetime[μs, UTC]       │
    ╞═════════════════════════╪═══════════════╪═════════════════════════╡
    │ 2025-06-18 09:00:00 UTC ┆ 2             ┆ 2025-06-18 09:30:00 UTC │
    │ 2025-06-18 10:00:00 UTC ┆ 2             ┆ 2025-06-18 10:00:00 UTC │
    │ 2025-06-18 11:00:00 UTC ┆ 1             ┆ 2025-06-18 11:00:00 UTC │
    └─────────────────────────┴───────────────┴─────────────────────────┘
    """
    return finish(_peak_concurrency(frame, every, now, by, time_zone), frame)


def _peak_concurrency(
    frame: pl.DataFrame | pl.LazyFrame,
    every: str | timedelta | None,
    now: datetime | None,
    by: By,
    time_zone: str,
) -> pl.LazyFrame:
    period = None if every is None else validate_every(every)
    zone = check_time_zone(time_zone)
    end_expr = effective_end(now)
    schema = schema_of(frame)
    required = {"start": UTC_US, "end": UTC_US, "duration_s": pl.Float64()}
    if now is None:  # the snapshot time reads every timestamp column
        required |= dict.fromkeys(SNAPSHOT_COLUMNS, UTC_US)
    check_columns(schema, required, "peak_concurrency")
    groups = group_columns(by, schema, reserved=["period_start", "peak_sessions", "peak_at"])
    # The effective end is computed on the whole frame: its default "now" is the
    # frame's snapshot, which rows without a start still count towards.
    intervals = (
        frame.lazy()
        .select(*groups, pl.col("start").alias("_start"), end_expr.alias("_end"))
        .drop_nulls("_start")
        .with_columns(in_time_zone(pl.col("_start", "_end"), zone))
    )
    delta = pl.lit(1, dtype=pl.Int64())
    events = pl.concat(
        [
            intervals.select(*groups, pl.col("_start").alias("_t"), delta.alias("_delta")),
            intervals.select(*groups, pl.col("_end").alias("_t"), (-delta).alias("_delta")),
        ]
    )
    # Net change per instant: ends and starts at the same instant cancel out.
    points = (
        events.group_by([*groups, "_t"])
        .agg(pl.col("_delta").sum())
        .with_columns(pl.lit(0, dtype=pl.Int8()).alias("_order"))
    )
    if period is not None:
        grid = period_grid(
            intervals,
            groups,
            pl.col("_start"),
            # The last period is the one holding the last running instant.
            pl.col("_end") - pl.duration(microseconds=1),
            period,
        )
        # A zero-change row at each period start (after the instant's own changes)
        # carries the count running at that instant into the period.
        boundaries = grid.select(
            *groups,
            pl.col("period_start").alias("_t"),
            pl.lit(0, dtype=pl.Int64()).alias("_delta"),
            pl.lit(1, dtype=pl.Int8()).alias("_order"),
        )
        points = pl.concat([points, boundaries])
    running = pl.col("_delta").cum_sum()
    partition = [pl.col(g) for g in groups] or [pl.lit(0)]
    points = points.with_columns(
        running.over(partition, order_by=["_t", "_order"]).alias("_running")
    )
    peak = pl.col("_running").max()
    aggregations = [
        peak.fill_null(0).alias("peak_sessions"),
        pl.when(peak > 0)
        .then(pl.col("_t").filter(pl.col("_running") == peak).min())
        .otherwise(None)
        .cast(pl.Datetime("us", zone))
        .alias("peak_at"),
    ]
    if period is None:
        result = (
            points.group_by(groups).agg(aggregations) if groups else points.select(aggregations)
        )
        return sort_result(result, groups)
    keys = [*groups, "period_start"]
    result = (
        points.with_columns(pl.col("_t").dt.truncate(period).alias("period_start"))
        .group_by(keys)
        .agg(aggregations)
        .join(grid, on=keys, how="inner", nulls_equal=True)
        .select(*keys, "peak_sessions", "peak_at")
    )
    return sort_result(result, keys)
