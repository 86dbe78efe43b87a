"""Time in the helpers: the snapshot "now", time zones, and sessions per period.

**Snapshot time.** A sessions frame is a snapshot of the account, taken about when
its newest timestamp was written. Wherever a helper needs "now" (how long a session
without an end has been running, `effective_end`, `peak_concurrency`, the stale open
sessions of `data_quality`, the charts), the default is that snapshot time: the
latest ``start``, ``end``, ``created_at`` or ``updated_at`` of the frame
(`snapshot_instant`, `snapshot_time`), never the wall clock, so the same frame gives
the same answer on any day. ``now=`` overrides it.

**Time zones.** Helpers that bucket time take ``time_zone=`` (an IANA name, default
``"UTC"``): periods are the local calendar's (a day runs from local midnight to local
midnight, 23 or 25 hours across a DST change; an hour starts at the local hour, e.g.
at :30 UTC in Asia/Kolkata) and ``period_start`` is a ``Datetime("us", time_zone)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

import polars as pl

from vsdk_analytics._errors import ConfigurationError
from vsdk_analytics._schema import KNOWN_STATUSES
from vsdk_analytics._time import check_time_zone, parse_instant

from .frames import (
    COUNT,
    UTC_US,
    By,
    FrameT,
    check_columns,
    finish,
    group_columns,
    ordered_sum,
    schema_of,
    sort_result,
    validate_every,
)

__all__ = [
    "DEFAULT_STATUSES",
    "SNAPSHOT_COLUMNS",
    "effective_end",
    "effective_start",
    "in_time_zone",
    "now_expr",
    "period_grid",
    "sessions_over_time",
    "snapshot_instant",
    "snapshot_time",
]

SNAPSHOT_COLUMNS: Final = ("start", "end", "created_at", "updated_at")
"""The columns whose latest value is the frame's snapshot time."""

DEFAULT_STATUSES: Final = tuple(sorted(KNOWN_STATUSES))
"""The ``status_<status>`` columns of `sessions_over_time` by default, in this order."""


def snapshot_instant() -> pl.Expr:
    """The frame's snapshot time as an expression: the latest of `SNAPSHOT_COLUMNS`.

    Use it in ``select`` or ``with_columns`` (it is one value for the whole frame);
    inside ``group_by(...).agg`` it would be each group's latest instant instead.

    Returns
    -------
    polars.Expr
        ``snapshot``, Datetime("us", "UTC"); null for a frame without any timestamp.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, timezone
    >>> t = lambda h: datetime(2025, 1, 31, h, tzinfo=timezone.utc)
    >>> frame = pl.DataFrame(
    ...     {"start": [t(9), t(10)], "end": [t(11), None],
    ...      "created_at": [t(9), t(10)], "updated_at": [t(11), t(12)]}
    ... )
    >>> frame.select(snapshot_instant()).item()
    datetime.datetime(2025, 1, 31, 12, 0, tzinfo=zoneinfo.ZoneInfo(key='UTC'))
    """
    latest = pl.max_horizontal(*(pl.col(c).max() for c in SNAPSHOT_COLUMNS))
    return latest.cast(UTC_US).alias("snapshot")


def snapshot_time(frame: pl.DataFrame | pl.LazyFrame) -> datetime | None:
    """The frame's snapshot time as a value (one small query for a LazyFrame).

    Parameters
    ----------
    frame
        A sessions frame.

    Returns
    -------
    datetime.datetime or None
        The latest ``start``, ``end``, ``created_at`` or ``updated_at`` (aware, UTC);
        None when the frame has no timestamp at all.
    """
    schema = schema_of(frame)
    check_columns(schema, dict.fromkeys(SNAPSHOT_COLUMNS, UTC_US), "snapshot_time")
    value = frame.lazy().select(snapshot_instant()).collect().item()
    return value if isinstance(value, datetime) else None


def now_expr(now: datetime | None) -> pl.Expr:
    """``now`` as a UTC literal, or the snapshot expression when it is None."""
    if now is None:
        return snapshot_instant()
    if not isinstance(now, datetime):
        raise ConfigurationError(f"now= must be a datetime, got {type(now).__name__}")
    return pl.lit(parse_instant(now, name="now"), dtype=UTC_US)


def in_time_zone(expr: pl.Expr, time_zone: str) -> pl.Expr:
    """A UTC instant expression shown in ``time_zone`` (the same instant, local labels)."""
    return expr.dt.convert_time_zone(time_zone)


def effective_start() -> pl.Expr:
    """When a session counts as happening: ``start``, or ``created_at`` when it has none.

    Returns
    -------
    polars.Expr
        ``effective_start``, Datetime("us", "UTC").

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, timezone
    >>> started = datetime(2025, 6, 18, 9, tzinfo=timezone.utc)
    >>> created = datetime(2025, 6, 18, 8, tzinfo=timezone.utc)
    >>> frame = pl.DataFrame({"start": [started, None], "created_at": [created, created]})
    >>> frame.select(effective_start())["effective_start"].dt.hour().to_list()
    [9, 8]
    """
    return pl.coalesce(pl.col("start"), pl.col("created_at")).alias("effective_start")


def effective_end(now: datetime | None = None) -> pl.Expr:
    """When a session stops counting as running, for concurrency.

    ``end`` when known; otherwise ``start + duration_s``; otherwise (a session still
    open) ``now``. Never before ``start`` (a bad ``end`` gives an empty interval),
    and null when ``start`` is null.

    Parameters
    ----------
    now
        A timezone-aware instant for sessions without an end. Default: the frame's
        snapshot time (`snapshot_instant`), so use the expression in ``select`` or
        ``with_columns`` on the whole frame, not inside ``group_by(...).agg``.

    Returns
    -------
    polars.Expr
        ``effective_end``, Datetime("us", "UTC").

    Raises
    ------
    ConfigurationError
        ``now`` is naive or not a datetime.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, timezone
    >>> t0 = datetime(2025, 6, 18, 9, tzinfo=timezone.utc)
    >>> t1 = datetime(2025, 6, 18, 10, tzinfo=timezone.utc)
    >>> frame = pl.DataFrame(
    ...     {"start": [t0, t0, t0], "end": [t1, None, None], "duration_s": [3600.0, 60.0, None],
    ...      "created_at": [t0, t0, t0], "updated_at": [t1, t0, t1]}
    ... )
    >>> frame.select(effective_end())["effective_end"].dt.strftime("%H:%M").to_list()
    ['10:00', '09:01', '10:00']
    >>> now = datetime(2025, 6, 18, 12, tzinfo=timezone.utc)
    >>> frame.select(effective_end(now))["effective_end"].dt.strftime("%H:%M").to_list()
    ['10:00', '09:01', '12:00']
    """
    instant = now_expr(now)
    start = pl.col("start")
    by_duration = start + pl.duration(
        microseconds=(pl.col("duration_s") * 1_000_000).round(0).cast(pl.Int64())
    )
    end = pl.coalesce(pl.col("end"), by_duration, instant)
    return (
        pl.when(start.is_null())
        .then(None)
        .otherwise(pl.max_horizontal(start, end))
        .cast(UTC_US)
        .alias("effective_end")
    )


_QUARTER_HOUR_NS: Final = 15 * 60 * 10**9
_UNIT_NS: Final = {
    "ns": 1,
    "us": 10**3,
    "ms": 10**6,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}
_UNIT: Final = re.compile(r"(\d+)(ns|us|ms|mo|s|m|h|d|w|q|y)")


def _grid_step(every: str | timedelta) -> str | timedelta:
    """The step that reaches every local period start between two of them.

    A calendar ``every`` ("1d", "1w", "1mo"...) steps through the local calendar.
    A fixed one ("1h", "90m") steps in absolute time, so where a zone's offset changes
    by less than ``every`` (Australia/Lord_Howe's DST moves clocks by 30 minutes) the
    local periods no longer start one ``every`` apart. Every zone's offsets and their
    changes are whole quarter hours (since the 1970s), so every local period start is
    a multiple of gcd(``every``, 15 minutes) after the first one: that is the step
    (``every`` itself when it divides 15 minutes).
    """
    if isinstance(every, timedelta):
        nanos = every // timedelta(microseconds=1) * 1000
    else:
        parts = _UNIT.findall(every)
        if any(unit not in _UNIT_NS for _, unit in parts):
            return every
        nanos = sum(int(n) * _UNIT_NS[unit] for n, unit in parts)
    step = math.gcd(nanos, _QUARTER_HOUR_NS)
    if step == nanos:
        return every
    return timedelta(microseconds=step // 1000) if step % 1000 == 0 else f"{step}ns"


def period_grid(
    lf: pl.LazyFrame,
    groups: list[str],
    first: pl.Expr,
    last: pl.Expr,
    every: str | timedelta,
) -> pl.LazyFrame:
    """Every period start from the first to the last (both truncated), per group.

    ``first`` and ``last`` are instants already in the time zone of the periods; the
    grid follows that zone's calendar and clock: DST days are 23 or 25 hours long, and
    after a 30-minute shift the local hours start at :30 UTC instead of :00. The grid
    is the truncation of finer steps (`_grid_step`), so it holds exactly the starts
    ``Expr.dt.truncate`` gives, the ones the counts are keyed by.
    """
    bounds = [
        first.min().dt.truncate(every).alias("_lo"),
        last.max().dt.truncate(every).alias("_hi"),
    ]
    spans = lf.group_by(groups).agg(bounds) if groups else lf.select(bounds)
    step = _grid_step(every)
    grid = (
        spans.with_columns(pl.datetime_ranges("_lo", "_hi", step).alias("period_start"))
        .explode("period_start")
        .drop_nulls("period_start")
        .select(*groups, "period_start")
    )
    if step == every:
        return grid
    # The periods of `first` and `last` themselves too, in case an offset was off the
    # quarter hour (local mean time, before about 1900): never a period left out.
    seen = [
        lf.select(*groups, expr.dt.truncate(every).alias("period_start")) for expr in (first, last)
    ]
    fine = grid.with_columns(pl.col("period_start").dt.truncate(every))
    return pl.concat([fine, *seen]).drop_nulls("period_start").unique(maintain_order=True)


def _check_statuses(statuses: object) -> tuple[str, ...]:
    if statuses is None:
        return DEFAULT_STATUSES
    if isinstance(statuses, str) or not isinstance(statuses, Sequence):
        raise ConfigurationError(f"statuses= takes a list of status names, got {statuses!r}")
    chosen = tuple(statuses)
    if not all(isinstance(s, str) and s for s in chosen):
        raise ConfigurationError(f"statuses= takes non-empty status names, got {statuses!r}")
    if len(set(chosen)) != len(chosen):
        raise ConfigurationError(f"statuses= repeats a status: {list(chosen)!r}")
    if "other" in chosen:
        raise ConfigurationError("statuses= cannot name 'other': status_other counts the rest")
    return chosen


def sessions_over_time(
    frame: FrameT,
    *,
    every: str | timedelta = "1d",
    by: By = None,
    time_zone: str = "UTC",
    statuses: Sequence[str] | None = None,
) -> FrameT:
    """Sessions per period (day, hour, week...), with a count per status.

    A session belongs to the period holding its ``start``, or its ``created_at`` when
    ``start`` is null (a session that never started); rows with neither are left out.
    Periods with no session between a group's first and last period appear with zeros.

    The columns are the same for every frame (a fixed schema for BI tools): one
    ``status_<status>`` column per status of ``statuses`` (default `DEFAULT_STATUSES`,
    the statuses the vendor documents: completed, failed, running, started, starting,
    stopped, stopping), then ``status_other`` for any other status or a null one.

    Parameters
    ----------
    frame
        A sessions frame; ``start``, ``created_at``, ``status``, ``duration_s`` (and
        the ``by`` columns) are read.
    every
        Period length as a Polars duration ("1h", "1d", "1w" (Monday-aligned), "1mo")
        or a timedelta; periods are aligned as ``Expr.dt.truncate`` aligns them, in
        ``time_zone``'s local time.
    by
        Group column(s): each group gets its own range of periods.
    time_zone
        IANA name of the zone whose calendar defines the periods (default ``"UTC"``):
        with ``"America/New_York"`` a day starts at local midnight and the DST days
        have 23 and 25 hours.
    statuses
        The statuses with their own column, in this order.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        The group columns, then ``period_start`` (Datetime("us", time_zone), local
        midnight or the local hour...), ``sessions`` (Int64), one Int64 column
        ``status_<status>`` per status, ``status_other`` (Int64), and
        ``total_duration_s`` (Float64, sum of ``duration_s``, 0.0 when none). Sorted
        by group columns, then ``period_start``.

    Raises
    ------
    ConfigurationError
        A bad ``every``, ``time_zone`` or ``statuses``, unknown ``by`` columns, or
        mistyped columns.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, timezone
    >>> day = lambda d: datetime(2025, 6, d, 10, tzinfo=timezone.utc)
    >>> frame = pl.DataFrame(
    ...     {
    ...         "start": [day(1), day(1), day(3)],
    ...         "created_at": [day(1), day(1), day(3)],
    ...         "status": ["completed", "failed", "paused"],
    ...         "duration_s": [60.0, 5.0, 30.0],
    ...     }
    ... )
    >>> result = sessions_over_time(frame, every="1d", statuses=["completed", "failed"])
    >>> result.columns
    ['period_start', 'sessions', 'status_completed', 'status_failed', 'status_other',
     'total_duration_s']
    >>> result.drop("period_start")
    shape: (3, 5)
    ┌──────────┬──────────────────┬───────────────┬──────────────┬──────────────────┐
    │ sessions ┆ status_completed ┆ status_failed ┆ status_other ┆ total_duration_s │
    │ ---      ┆ ---              ┆ ---           ┆ ---          ┆ ---              │
    │ i64      ┆ i64              ┆ i64           ┆ i64          ┆ f64              │
    ╞══════════╪══════════════════╪═══════════════╪══════════════╪══════════════════╡
    │ 2        ┆ 1                ┆ 1             ┆ 0            ┆ 65.0             │
    │ 0        ┆ 0                ┆ 0             ┆ 0            ┆ 0.0              │
    │ 1        ┆ 0                ┆ 0             ┆ 1            ┆ 30.0             │
    └──────────┴──────────────────┴───────────────┴──────────────┴──────────────────┘
    >>> result["period_start"].dt.day().to_list()
    [1, 2, 3]
    """
    return finish(_sessions_over_time(frame, every, by, time_zone, statuses), frame)


def _sessions_over_time(
    frame: pl.DataFrame | pl.LazyFrame,
    every: str | timedelta,
    by: By,
    time_zone: str,
    statuses: Sequence[str] | None,
) -> pl.LazyFrame:
    period = validate_every(every)
    zone = check_time_zone(time_zone)
    chosen = _check_statuses(statuses)
    schema = schema_of(frame)
    check_columns(
        schema,
        {
            "start": UTC_US,
            "created_at": UTC_US,
            "status": pl.String(),
            "duration_s": pl.Float64(),
        },
        "sessions_over_time",
    )
    status_columns = [f"status_{s}" for s in chosen]
    groups = group_columns(
        by,
        schema,
        reserved=[
            "period_start",
            "sessions",
            "total_duration_s",
            *status_columns,
            "status_other",
        ],
    )
    base = (
        frame.lazy()
        .select(
            *groups,
            in_time_zone(effective_start(), zone).dt.truncate(period).alias("period_start"),
            pl.col("status"),
            pl.col("duration_s"),
        )
        .drop_nulls("period_start")
    )
    status = pl.col("status")
    counts = base.group_by([*groups, "period_start"]).agg(
        pl.len().cast(COUNT).alias("sessions"),
        *(
            (status == s).sum().cast(COUNT).alias(name)
            for s, name in zip(chosen, status_columns, strict=True)
        ),
        (status.is_null() | status.is_in(list(chosen)).not_())
        .sum()
        .cast(COUNT)
        .alias("status_other"),
        ordered_sum(pl.col("duration_s")).fill_null(0.0).alias("total_duration_s"),
    )
    periods = period_grid(base, groups, pl.col("period_start"), pl.col("period_start"), period)
    result = (
        periods.join(counts, on=[*groups, "period_start"], how="left", nulls_equal=True)
        .with_columns(
            pl.col("sessions", *status_columns, "status_other").fill_null(0),
            pl.col("total_duration_s").fill_null(0.0),
        )
        .select(
            *groups,
            "period_start",
            "sessions",
            *status_columns,
            "status_other",
            "total_duration_s",
        )
    )
    return sort_result(result, [*groups, "period_start"])
