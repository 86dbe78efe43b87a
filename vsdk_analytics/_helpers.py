"""Analytics helpers: summary tables computed from a sessions frame (`SESSIONS_SCHEMA`).

Every helper takes a `polars.DataFrame` or `polars.LazyFrame` and returns the same
kind: the work is planned lazily and collected only when the input was eager. Each
takes ``by=`` (a column name or a list of names) to compute one result per group;
the group columns come first in the result. Results are sorted deterministically
(group columns ascending with nulls last, then the helper's own key), and an empty
input gives an empty result with the same columns and dtypes.

Counts are ``Int64`` everywhere (not Polars' index type, whose width depends on the
Polars build), shares and seconds are ``Float64``, instants are ``Datetime("us", "UTC")``.

The small expression builders (`duration_stats`, `duration_bin_start`,
`effective_start`, `effective_end`) are public so the same definitions can be used
in one's own ``group_by``.
"""

from __future__ import annotations

import itertools
import json
import math
import numbers
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Final, TypeAlias, TypeVar

import polars as pl

from ._errors import ConfigurationError

__all__ = [
    "DEFAULT_HISTOGRAM_EDGES",
    "DEFAULT_QUANTILES",
    "FrameT",
    "duration_bin_start",
    "duration_distribution",
    "duration_histogram",
    "duration_stats",
    "effective_end",
    "effective_start",
    "peak_concurrency",
    "quantile_column_name",
    "sessions_over_time",
    "status_breakdown",
    "tag_counts",
    "unnest_metadata",
]

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)
"""A sessions frame, eager or lazy; helpers return the kind they were given."""

DEFAULT_QUANTILES: Final = (0.5, 0.9, 0.95, 0.99)
"""Quantiles `duration_distribution` reports by default (``p50_s`` ... ``p99_s``)."""

DEFAULT_HISTOGRAM_EDGES: Final = (0.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
"""Bin edges in seconds of `duration_histogram`; the last bin (1 h+) is open."""

_COUNT: Final = pl.Int64()
_UTC_US: Final = pl.Datetime("us", "UTC")
_EN_DASH: Final = "\u2013"
_DURATION_RE: Final = re.compile(r"(?:\d+(?:ns|us|ms|mo|s|m|h|d|w|q|y))+")
_INT_RE: Final = re.compile(r"-?\d+")
_MAX_EXACT_FLOAT_INT: Final = 2**53
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1

By: TypeAlias = str | Sequence[str] | None
"""A group column name, a list of them, or None for one overall result."""


# ---------------------------------------------------------------------------
# Shared plumbing
# ---------------------------------------------------------------------------


def _finish(result: pl.LazyFrame, like: FrameT) -> FrameT:
    """Return ``result`` as the kind of frame ``like`` is."""
    if isinstance(like, pl.DataFrame):
        return result.collect()
    return result


def _schema_of(frame: pl.DataFrame | pl.LazyFrame) -> pl.Schema:
    if isinstance(frame, pl.DataFrame):
        return frame.schema
    if isinstance(frame, pl.LazyFrame):
        return frame.collect_schema()
    raise ConfigurationError(
        f"expected a polars DataFrame or LazyFrame, got {type(frame).__name__}"
    )


def _check_columns(schema: pl.Schema, required: dict[str, pl.DataType], helper: str) -> None:
    """Raise `ConfigurationError` when a column the helper reads is missing or mistyped."""
    problems = []
    for name, dtype in required.items():
        if name not in schema:
            problems.append(f"missing column {name!r} ({dtype})")
        elif schema[name] != dtype:
            problems.append(f"column {name!r} is {schema[name]}, expected {dtype}")
    if problems:
        raise ConfigurationError(
            f"{helper} needs a sessions frame (SESSIONS_SCHEMA): " + "; ".join(problems)
        )


def _group_columns(by: By, schema: pl.Schema, *, reserved: Sequence[str]) -> list[str]:
    """Validate ``by=`` and return it as a list of column names."""
    if by is None:
        return []
    if not isinstance(by, (str, Iterable)):
        raise ConfigurationError(f"by= takes a column name or a list of them, got {by!r}")
    names = [by] if isinstance(by, str) else list(by)
    for name in names:
        if not isinstance(name, str):
            raise ConfigurationError(f"by= takes column names, got {name!r}")
        if name not in schema:
            raise ConfigurationError(
                f"by= names {name!r}, which is not a column of the frame "
                f"(columns: {', '.join(schema.names())})"
            )
        if name in reserved:
            raise ConfigurationError(
                f"by= cannot name {name!r}: the result has a column of that name"
            )
    if len(set(names)) != len(names):
        raise ConfigurationError(f"by= names a column twice: {names!r}")
    return names


def _sorted(lf: pl.LazyFrame, keys: Sequence[str], descending: Sequence[bool] = ()) -> pl.LazyFrame:
    if not keys:
        return lf
    flags = list(descending) or [False] * len(keys)
    return lf.sort(list(keys), descending=flags, nulls_last=True)


def _validate_every(every: object) -> str | timedelta:
    if isinstance(every, timedelta) and every > timedelta(0):
        return every
    if (
        isinstance(every, str)
        and _DURATION_RE.fullmatch(every)
        and any(int(n) for n in re.findall(r"\d+", every))
    ):
        return every
    raise ConfigurationError(
        f"every= must be a positive Polars duration such as '1h', '1d', '1w' or '1mo' "
        f"(or a positive timedelta), got {every!r}"
    )


def _utc_instant(now: object) -> datetime:
    if now is None:
        return datetime.now(timezone.utc)
    if not isinstance(now, datetime):
        raise ConfigurationError(f"now= must be a datetime, got {type(now).__name__}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ConfigurationError(
            "now= must be timezone-aware (for example datetime.now(timezone.utc)); "
            f"got the naive {now.isoformat()}"
        )
    return now.astimezone(timezone.utc)


# ---------------------------------------------------------------------------
# Expression builders
# ---------------------------------------------------------------------------


def quantile_column_name(quantile: float) -> str:
    """Name of the column holding one quantile of the duration: ``p<percent>_s``.

    Parameters
    ----------
    quantile
        A quantile in [0, 1].

    Returns
    -------
    str
        The percentage without superfluous digits, e.g. ``p50_s``, ``p99.9_s``.

    Examples
    --------
    >>> [quantile_column_name(q) for q in (0.5, 0.999, 0.0, 1.0)]
    ['p50_s', 'p99.9_s', 'p0_s', 'p100_s']
    """
    percent = (Decimal(repr(float(quantile))) * 100).normalize()
    return f"p{percent:f}_s"


def _numbers(values: object, what: str) -> list[float]:
    """The finite real numbers of a list, tuple or array, as floats."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ConfigurationError(f"{what} must be a sequence of numbers, got {values!r}")
    result = []
    for value in values:
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Real)
            or not math.isfinite(value)
        ):
            raise ConfigurationError(f"{what} must hold finite numbers, got {value!r}")
        result.append(float(value))
    return result


def _validate_quantiles(quantiles: object) -> tuple[float, ...]:
    result = _numbers(quantiles, "quantiles=")
    for q in result:
        if not 0 <= q <= 1:
            raise ConfigurationError(f"each quantile must be in [0, 1], got {q!r}")
    names = [quantile_column_name(q) for q in result]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"quantiles= repeats a quantile: {result!r}")
    return tuple(result)


def _ordered_sum(values: pl.Expr) -> pl.Expr:
    """Sum of the non-null values, added in ascending order; null when there are none.

    A plain ``sum`` rounds differently depending on how rows were split among threads,
    so the same data could give results differing in the last bits from run to run;
    a sequential sum in a fixed order is reproducible to the bit.
    """
    return values.drop_nulls().sort().cum_sum().last()


def duration_stats(quantiles: Sequence[float] = DEFAULT_QUANTILES) -> list[pl.Expr]:
    """Aggregations summarizing ``duration_s``: the columns of `duration_distribution`.

    Use them in ``select`` (one row) or ``group_by(...).agg`` (one row per group).

    Parameters
    ----------
    quantiles
        Quantiles in [0, 1], one column each, named by `quantile_column_name`.

    Returns
    -------
    list of polars.Expr
        ``sessions`` (all rows), ``with_duration`` (non-null ``duration_s``), ``mean_s``,
        ``std_s`` (sample standard deviation, ddof=1), ``min_s``, the quantiles (linear
        interpolation, as numpy's default), ``max_s`` and ``total_s``. Every statistic is
        null when no row has a duration (``total_s`` too, as SQL's ``SUM``).

    Raises
    ------
    ConfigurationError
        A quantile outside [0, 1] or repeated.

    Examples
    --------
    >>> import polars as pl
    >>> frame = pl.DataFrame({"duration_s": [10.0, 20.0, None, 40.0]})
    >>> frame.select(duration_stats(quantiles=[0.5]))
    shape: (1, 8)
    ┌──────────┬───────────────┬───────────┬───────────┬───────┬───────┬───────┬─────────┐
    │ sessions ┆ with_duration ┆ mean_s    ┆ std_s     ┆ min_s ┆ p50_s ┆ max_s ┆ total_s │
    │ ---      ┆ ---           ┆ ---       ┆ ---       ┆ ---   ┆ ---   ┆ ---   ┆ ---     │
    │ i64      ┆ i64           ┆ f64       ┆ f64       ┆ f64   ┆ f64   ┆ f64   ┆ f64     │
    ╞══════════╪═══════════════╪═══════════╪═══════════╪═══════╪═══════╪═══════╪═════════╡
    │ 4        ┆ 3             ┆ 23.333333 ┆ 15.275252 ┆ 10.0  ┆ 20.0  ┆ 40.0  ┆ 70.0    │
    └──────────┴───────────────┴───────────┴───────────┴───────┴───────┴───────┴─────────┘
    """
    qs = _validate_quantiles(quantiles)
    d = pl.col("duration_s")
    n = d.count().cast(pl.Float64())
    total = _ordered_sum(d)
    mean = total / n
    variance = _ordered_sum((d - mean) ** 2) / (n - 1)
    return [
        pl.len().cast(_COUNT).alias("sessions"),
        d.count().cast(_COUNT).alias("with_duration"),
        mean.alias("mean_s"),
        pl.when(n > 1).then(variance.sqrt()).otherwise(None).alias("std_s"),
        d.min().alias("min_s"),
        *(d.quantile(q, interpolation="linear").alias(quantile_column_name(q)) for q in qs),
        d.max().alias("max_s"),
        total.alias("total_s"),
    ]


def _validate_edges(edges: object) -> tuple[float, ...]:
    result = _numbers(edges, "edges=")
    if not result:
        raise ConfigurationError("edges= needs at least one edge")
    if any(e < 0 for e in result):
        raise ConfigurationError(f"edges must be non-negative, got {result!r}")
    if any(b <= a for a, b in itertools.pairwise(result)):
        raise ConfigurationError(f"edges must be strictly increasing, got {result!r}")
    return tuple(result)


def duration_bin_start(edges: Sequence[float] = DEFAULT_HISTOGRAM_EDGES) -> pl.Expr:
    """The start of the histogram bin holding each session's ``duration_s``.

    Bins are ``[edges[i], edges[i + 1])`` and the last one, ``[edges[-1], inf)``, is open.

    Parameters
    ----------
    edges
        Strictly increasing, non-negative bin edges in seconds.

    Returns
    -------
    polars.Expr
        ``bin_start_s`` (Float64): null for a null duration or one below ``edges[0]``.

    Raises
    ------
    ConfigurationError
        Edges that are empty, negative, not finite or not strictly increasing.

    Examples
    --------
    >>> import polars as pl
    >>> frame = pl.DataFrame({"duration_s": [0.0, 14.9, 15.0, 7200.0, None]})
    >>> frame.select(duration_bin_start(edges=[0, 15, 60]))["bin_start_s"].to_list()
    [0.0, 0.0, 15.0, 60.0, None]
    """
    es = _validate_edges(edges)
    d = pl.col("duration_s")
    bin_start = pl.lit(None, dtype=pl.Float64())
    for edge in es:  # the largest edge ends up outermost, tested first
        bin_start = pl.when(d >= edge).then(pl.lit(edge)).otherwise(bin_start)
    return bin_start.cast(pl.Float64()).alias("bin_start_s")


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

    ``end`` when known; otherwise ``start + duration_s``; otherwise (a running
    session) ``now``. Never before ``start`` (a bad ``end`` gives an empty interval),
    and null when ``start`` is null.

    Parameters
    ----------
    now
        A timezone-aware instant for sessions without an end; default: the current UTC
        time when this function is called.

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
    ...     {"start": [t0, t0, t0], "end": [t1, None, None], "duration_s": [3600.0, 60.0, None]}
    ... )
    >>> now = datetime(2025, 6, 18, 12, tzinfo=timezone.utc)
    >>> frame.select(effective_end(now))["effective_end"].dt.strftime("%H:%M").to_list()
    ['10:00', '09:01', '12:00']
    """
    instant = pl.lit(_utc_instant(now), dtype=_UTC_US)
    start = pl.col("start")
    by_duration = start + pl.duration(
        microseconds=(pl.col("duration_s") * 1_000_000).round(0).cast(pl.Int64())
    )
    end = pl.coalesce(pl.col("end"), by_duration, instant)
    return (
        pl.when(start.is_null())
        .then(None)
        .otherwise(pl.max_horizontal(start, end))
        .cast(_UTC_US)
        .alias("effective_end")
    )


# ---------------------------------------------------------------------------
# Duration distribution and histogram
# ---------------------------------------------------------------------------


def duration_distribution(
    frame: FrameT,
    *,
    by: By = None,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
) -> FrameT:
    """Summary statistics of session durations, overall or per group.

    Parameters
    ----------
    frame
        A sessions frame; only ``duration_s`` (and the ``by`` columns) are read.
    by
        Group column(s); without it the result has exactly one row, also for an
        empty frame (``sessions`` 0, every statistic null).
    quantiles
        Quantiles in [0, 1]; one column each named by `quantile_column_name`
        (0.5 -> ``p50_s``, 0.999 -> ``p99.9_s``), in the order given.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        The group columns, then ``sessions`` (Int64, every row, running sessions
        included), ``with_duration`` (Int64, non-null ``duration_s``), ``mean_s``,
        ``std_s`` (sample, ddof=1; null below two durations), ``min_s``, the quantile
        columns (linear interpolation, as numpy's default), ``max_s``, ``total_s``
        (Float64 seconds; null when the group has no duration). Sorted by the group
        columns, nulls last.

    Raises
    ------
    ConfigurationError
        Bad quantiles, unknown ``by`` columns, or no Float64 ``duration_s``.

    Examples
    --------
    >>> import polars as pl
    >>> frame = pl.DataFrame(
    ...     {"tag": ["a", "a", "b", "b"], "duration_s": [10.0, 30.0, 5.0, None]}
    ... )
    >>> duration_distribution(frame, by="tag", quantiles=[0.5]).select(
    ...     "tag", "sessions", "with_duration", "p50_s", "total_s"
    ... )
    shape: (2, 5)
    ┌─────┬──────────┬───────────────┬───────┬─────────┐
    │ tag ┆ sessions ┆ with_duration ┆ p50_s ┆ total_s │
    │ --- ┆ ---      ┆ ---           ┆ ---   ┆ ---     │
    │ str ┆ i64      ┆ i64           ┆ f64   ┆ f64     │
    ╞═════╪══════════╪═══════════════╪═══════╪═════════╡
    │ a   ┆ 2        ┆ 2             ┆ 20.0  ┆ 40.0    │
    │ b   ┆ 2        ┆ 1             ┆ 5.0   ┆ 5.0     │
    └─────┴──────────┴───────────────┴───────┴─────────┘
    """
    return _finish(_duration_distribution(frame, by, quantiles), frame)


def _duration_distribution(
    frame: pl.DataFrame | pl.LazyFrame, by: By, quantiles: Sequence[float]
) -> pl.LazyFrame:
    schema = _schema_of(frame)
    _check_columns(schema, {"duration_s": pl.Float64()}, "duration_distribution")
    stats = duration_stats(quantiles)
    reserved = [e.meta.output_name() for e in stats]
    groups = _group_columns(by, schema, reserved=reserved)
    lf = frame.lazy()
    result = lf.group_by(groups).agg(stats) if groups else lf.select(stats)
    return _sorted(result, groups)


def _format_amount(seconds: float, unit_seconds: int) -> str:
    return f"{seconds / unit_seconds:.2f}".rstrip("0").rstrip(".")


def _bin_label(start: float, end: float | None) -> str:
    """Label ``[start, end)`` in the unit fitting ``start``: "1-2 min" (en dash), "1 h+"."""
    unit, size = ("s", 1) if start < 60 else ("min", 60) if start < 3600 else ("h", 3600)
    if end is None:
        return f"{_format_amount(start, size)} {unit}+"
    return f"{_format_amount(start, size)}{_EN_DASH}{_format_amount(end, size)} {unit}"


def duration_histogram(
    frame: FrameT,
    *,
    edges: Sequence[float] | None = None,
    by: By = None,
) -> FrameT:
    """Sessions per duration bin, every bin listed (empty ones with 0).

    Parameters
    ----------
    frame
        A sessions frame; only ``duration_s`` (and the ``by`` columns) are read.
    edges
        Strictly increasing, non-negative bin edges in seconds; bins are
        ``[start, end)`` and the last, ``[edges[-1], inf)``, is open. Default:
        `DEFAULT_HISTOGRAM_EDGES` (0, 15, 30, 60, 120, 300, 600, 1800, 3600 s).
    by
        Group column(s): every bin is listed for each group that has a row.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        The group columns, then ``bin_start_s``, ``bin_end_s`` (Float64; null for the
        open last bin), ``label`` (String, e.g. "0–15 s", "1–2 min", "1 h+"),
        ``sessions`` (Int64) and ``share`` (Float64): the bin's sessions divided by the
        group's sessions *that have a duration* (running sessions are left out; a
        duration below ``edges[0]`` counts in the denominator but in no bin), null
        when the group has no duration at all. Sorted by group columns, then bin.

    Raises
    ------
    ConfigurationError
        Bad edges, unknown ``by`` columns, or no Float64 ``duration_s``.

    Examples
    --------
    >>> import polars as pl
    >>> frame = pl.DataFrame({"duration_s": [5.0, 20.0, 95.0, 4000.0, None]})
    >>> duration_histogram(frame, edges=[0, 15, 60, 3600])
    shape: (4, 5)
    ┌─────────────┬───────────┬──────────┬──────────┬───────┐
    │ bin_start_s ┆ bin_end_s ┆ label    ┆ sessions ┆ share │
    │ ---         ┆ ---       ┆ ---      ┆ ---      ┆ ---   │
    │ f64         ┆ f64       ┆ str      ┆ i64      ┆ f64   │
    ╞═════════════╪═══════════╪══════════╪══════════╪═══════╡
    │ 0.0         ┆ 15.0      ┆ 0–15 s   ┆ 1        ┆ 0.25  │
    │ 15.0        ┆ 60.0      ┆ 15–60 s  ┆ 1        ┆ 0.25  │
    │ 60.0        ┆ 3600.0    ┆ 1–60 min ┆ 1        ┆ 0.25  │
    │ 3600.0      ┆ null      ┆ 1 h+     ┆ 1        ┆ 0.25  │
    └─────────────┴───────────┴──────────┴──────────┴───────┘
    """  # noqa: RUF002
    return _finish(_duration_histogram(frame, edges, by), frame)


def _duration_histogram(
    frame: pl.DataFrame | pl.LazyFrame, edges: Sequence[float] | None, by: By
) -> pl.LazyFrame:
    es = _validate_edges(DEFAULT_HISTOGRAM_EDGES if edges is None else edges)
    schema = _schema_of(frame)
    _check_columns(schema, {"duration_s": pl.Float64()}, "duration_histogram")
    out = ["bin_start_s", "bin_end_s", "label", "sessions", "share"]
    groups = _group_columns(by, schema, reserved=[*out, "with_duration"])
    ends: list[float | None] = [*es[1:], None]
    bins = pl.LazyFrame(
        {
            "bin_start_s": list(es),
            "bin_end_s": ends,
            "label": [_bin_label(s, e) for s, e in zip(es, ends, strict=True)],
        },
        schema={"bin_start_s": pl.Float64(), "bin_end_s": pl.Float64(), "label": pl.String()},
    )
    lf = frame.lazy()
    d = pl.col("duration_s")
    totals_agg = d.count().cast(_COUNT).alias("with_duration")
    totals = lf.group_by(groups).agg(totals_agg) if groups else lf.select(totals_agg)
    counts = (
        lf.select(*groups, duration_bin_start(es))
        .drop_nulls("bin_start_s")
        .group_by([*groups, "bin_start_s"])
        .agg(pl.len().cast(_COUNT).alias("sessions"))
    )
    result = (
        totals.join(bins, how="cross")
        .join(counts, on=[*groups, "bin_start_s"], how="left", nulls_equal=True)
        .with_columns(pl.col("sessions").fill_null(0))
        .with_columns(
            pl.when(pl.col("with_duration") > 0)
            .then(pl.col("sessions") / pl.col("with_duration"))
            .otherwise(None)
            .alias("share")
        )
        .select(*groups, *out)
    )
    return _sorted(result, [*groups, "bin_start_s"])


# ---------------------------------------------------------------------------
# Counts by tag and status
# ---------------------------------------------------------------------------


def _category_counts(
    frame: pl.DataFrame | pl.LazyFrame, column: str, by: By, helper: str
) -> pl.LazyFrame:
    schema = _schema_of(frame)
    _check_columns(schema, {column: pl.String()}, helper)
    groups = _group_columns(by, schema, reserved=[column, "sessions", "share"])
    sessions = pl.col("sessions")
    total = sessions.sum().over(groups) if groups else sessions.sum()
    result = (
        frame.lazy()
        .group_by([*groups, column])
        .agg(pl.len().cast(_COUNT).alias("sessions"))
        .with_columns((sessions / total).alias("share"))
    )
    keys = [*groups, "sessions", column]
    descending = [False] * len(groups) + [True, False]
    return _sorted(result, keys, descending)


def tag_counts(frame: FrameT, *, by: By = None) -> FrameT:
    """Sessions per ``tag``; a missing tag is a row of its own (null ``tag``).

    Parameters
    ----------
    frame
        A sessions frame; only ``tag`` (and the ``by`` columns) are read.
    by
        Group column(s), e.g. ``"deployment_id"``.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        The group columns, then ``tag`` (String), ``sessions`` (Int64) and ``share``
        (Float64, of the group's sessions). Sorted by the group columns, then
        ``sessions`` descending, then ``tag``; nulls last.

    Raises
    ------
    ConfigurationError
        Unknown ``by`` columns, ``by="tag"``, or no String ``tag``.

    Examples
    --------
    >>> import polars as pl
    >>> frame = pl.DataFrame({"tag": ["support", None, "sales", "support"]})
    >>> tag_counts(frame)
    shape: (3, 3)
    ┌─────────┬──────────┬───────┐
    │ tag     ┆ sessions ┆ share │
    │ ---     ┆ ---      ┆ ---   │
    │ str     ┆ i64      ┆ f64   │
    ╞═════════╪══════════╪═══════╡
    │ support ┆ 2        ┆ 0.5   │
    │ sales   ┆ 1        ┆ 0.25  │
    │ null    ┆ 1        ┆ 0.25  │
    └─────────┴──────────┴───────┘
    """
    return _finish(_category_counts(frame, "tag", by, "tag_counts"), frame)


def status_breakdown(frame: FrameT, *, by: By = None) -> FrameT:
    """Sessions per ``status``; with ``by="tag"`` it is the failure-rate table per tag.

    Parameters
    ----------
    frame
        A sessions frame; only ``status`` (and the ``by`` columns) are read.
    by
        Group column(s), e.g. ``"tag"`` or ``"deployment_id"``.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        The group columns, then ``status`` (String; null is a row of its own),
        ``sessions`` (Int64) and ``share`` (Float64, of the group's sessions). Sorted
        by the group columns, then ``sessions`` descending, then ``status``; nulls last.

    Raises
    ------
    ConfigurationError
        Unknown ``by`` columns, ``by="status"``, or no String ``status``.

    Examples
    --------
    >>> import polars as pl
    >>> frame = pl.DataFrame(
    ...     {"tag": ["a", "a", "a", "b"], "status": ["failed", "completed", "completed", "failed"]}
    ... )
    >>> status_breakdown(frame, by="tag")
    shape: (3, 4)
    ┌─────┬───────────┬──────────┬──────────┐
    │ tag ┆ status    ┆ sessions ┆ share    │
    │ --- ┆ ---       ┆ ---      ┆ ---      │
    │ str ┆ str       ┆ i64      ┆ f64      │
    ╞═════╪═══════════╪══════════╪══════════╡
    │ a   ┆ completed ┆ 2        ┆ 0.666667 │
    │ a   ┆ failed    ┆ 1        ┆ 0.333333 │
    │ b   ┆ failed    ┆ 1        ┆ 1.0      │
    └─────┴───────────┴──────────┴──────────┘
    """
    return _finish(_category_counts(frame, "status", by, "status_breakdown"), frame)


# ---------------------------------------------------------------------------
# Time series
# ---------------------------------------------------------------------------


def _distinct_strings(frame: pl.DataFrame | pl.LazyFrame, column: str) -> list[str | None]:
    """Distinct values of a String column (a collect for a LazyFrame)."""
    values = frame.lazy().select(pl.col(column).unique()).collect().get_column(column)
    return values.to_list()


def sessions_over_time(
    frame: FrameT,
    *,
    every: str | timedelta = "1d",
    by: By = None,
) -> FrameT:
    """Sessions per period (day, hour, week...), with a count per status.

    A session belongs to the period holding its ``start``, or its ``created_at`` when
    ``start`` is null (a session that never started); rows with neither are left out.
    Periods with no session between a group's first and last period appear with zeros.

    For a LazyFrame the statuses present are found first by collecting the distinct
    ``status`` values (one small query); the rest stays lazy.

    Parameters
    ----------
    frame
        A sessions frame; ``start``, ``created_at``, ``status``, ``duration_s`` (and
        the ``by`` columns) are read.
    every
        Period length as a Polars duration ("1h", "1d", "1w" (Monday-aligned), "1mo")
        or a timedelta; periods are aligned as ``Expr.dt.truncate`` aligns them, in UTC.
    by
        Group column(s): each group gets its own range of periods.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        The group columns, then ``period_start`` (Datetime("us", "UTC")), ``sessions``
        (Int64), one Int64 column ``status_<status>`` per status present in the frame
        (in sorted name order; a null status is counted as ``status_null``, together
        with a literal status "null"), and ``total_duration_s`` (Float64, sum of
        ``duration_s``, 0.0 when none). Sorted by group columns, then ``period_start``.

    Raises
    ------
    ConfigurationError
        A bad ``every``, unknown ``by`` columns, or mistyped columns.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, timezone
    >>> day = lambda d: datetime(2025, 6, d, 10, tzinfo=timezone.utc)
    >>> frame = pl.DataFrame(
    ...     {
    ...         "start": [day(1), day(1), day(3)],
    ...         "created_at": [day(1), day(1), day(3)],
    ...         "status": ["completed", "failed", "completed"],
    ...         "duration_s": [60.0, 5.0, 30.0],
    ...     }
    ... )
    >>> sessions_over_time(frame, every="1d")
    shape: (3, 5)
    ┌─────────────────────────┬──────────┬──────────────────┬───────────────┬──────────────────┐
    │ period_start            ┆ sessions ┆ status_completed ┆ status_failed ┆ total_duration_s │
    │ ---                     ┆ ---      ┆ ---              ┆ ---           ┆ ---              │
    │ datetime[μs, UTC]       ┆ i64      ┆ i64              ┆ i64           ┆ f64              │
    ╞═════════════════════════╪══════════╪══════════════════╪═══════════════╪══════════════════╡
    │ 2025-06-01 00:00:00 UTC ┆ 2        ┆ 1                ┆ 1             ┆ 65.0             │
    │ 2025-06-02 00:00:00 UTC ┆ 0        ┆ 0                ┆ 0             ┆ 0.0              │
    │ 2025-06-03 00:00:00 UTC ┆ 1        ┆ 1                ┆ 0             ┆ 30.0             │
    └─────────────────────────┴──────────┴──────────────────┴───────────────┴──────────────────┘
    """
    return _finish(_sessions_over_time(frame, every, by), frame)


def _sessions_over_time(
    frame: pl.DataFrame | pl.LazyFrame, every: str | timedelta, by: By
) -> pl.LazyFrame:
    period = _validate_every(every)
    schema = _schema_of(frame)
    _check_columns(
        schema,
        {
            "start": _UTC_US,
            "created_at": _UTC_US,
            "status": pl.String(),
            "duration_s": pl.Float64(),
        },
        "sessions_over_time",
    )
    counted = frame.lazy().filter(effective_start().is_not_null())
    statuses = sorted({"null" if s is None else s for s in _distinct_strings(counted, "status")})
    status_columns = [f"status_{s}" for s in statuses]
    groups = _group_columns(
        by,
        schema,
        reserved=["period_start", "sessions", "total_duration_s", *status_columns],
    )
    base = (
        frame.lazy()
        .select(
            *groups,
            effective_start().dt.truncate(period).alias("period_start"),
            pl.col("status").fill_null("null"),
            pl.col("duration_s"),
        )
        .drop_nulls("period_start")
    )
    counts = base.group_by([*groups, "period_start"]).agg(
        pl.len().cast(_COUNT).alias("sessions"),
        *(
            (pl.col("status") == s).sum().cast(_COUNT).alias(name)
            for s, name in zip(statuses, status_columns, strict=True)
        ),
        _ordered_sum(pl.col("duration_s")).fill_null(0.0).alias("total_duration_s"),
    )
    periods = _period_grid(base, groups, pl.col("period_start"), pl.col("period_start"), period)
    result = (
        periods.join(counts, on=[*groups, "period_start"], how="left", nulls_equal=True)
        .with_columns(
            pl.col("sessions", *status_columns).fill_null(0),
            pl.col("total_duration_s").fill_null(0.0),
        )
        .select(*groups, "period_start", "sessions", *status_columns, "total_duration_s")
    )
    return _sorted(result, [*groups, "period_start"])


def _period_grid(
    lf: pl.LazyFrame,
    groups: list[str],
    first: pl.Expr,
    last: pl.Expr,
    every: str | timedelta,
) -> pl.LazyFrame:
    """Every period start from the first to the last (both truncated), per group."""
    bounds = [
        first.min().dt.truncate(every).alias("_lo"),
        last.max().dt.truncate(every).alias("_hi"),
    ]
    spans = lf.group_by(groups).agg(bounds) if groups else lf.select(bounds)
    return (
        spans.with_columns(pl.datetime_ranges("_lo", "_hi", every).alias("period_start"))
        .explode("period_start")
        .drop_nulls("period_start")
        .select(*groups, pl.col("period_start").cast(_UTC_US))
    )


# ---------------------------------------------------------------------------
# Concurrency
# ---------------------------------------------------------------------------


def peak_concurrency(
    frame: FrameT,
    *,
    every: str | timedelta | None = None,
    now: datetime | None = None,
    by: By = None,
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
        A timezone-aware instant where sessions without an end stop counting; default:
        the current UTC time at the call (for a LazyFrame: when it is built, not
        collected).
    by
        Group column(s).

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        The group columns, then (with ``every``) ``period_start``, then
        ``peak_sessions`` (Int64) and ``peak_at`` (Datetime("us", "UTC"), the earliest
        instant the peak is reached in the group or period; null when the peak is 0).
        Without ``by`` and ``every`` there is exactly one row, also for an empty frame.
        Sorted by group columns (nulls last), then ``period_start``.

    Raises
    ------
    ConfigurationError
        A bad ``every`` or ``now``, unknown ``by`` columns, or mistyped columns.

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
    return _finish(_peak_concurrency(frame, every, now, by), frame)


def _peak_concurrency(
    frame: pl.DataFrame | pl.LazyFrame, every: str | timedelta | None, now: datetime | None, by: By
) -> pl.LazyFrame:
    period = None if every is None else _validate_every(every)
    end_expr = effective_end(now)
    schema = _schema_of(frame)
    _check_columns(
        schema,
        {"start": _UTC_US, "end": _UTC_US, "duration_s": pl.Float64()},
        "peak_concurrency",
    )
    groups = _group_columns(by, schema, reserved=["period_start", "peak_sessions", "peak_at"])
    intervals = (
        frame.lazy()
        .drop_nulls("start")
        .select(*groups, pl.col("start").alias("_start"), end_expr.alias("_end"))
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
        grid = _period_grid(
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
        .cast(_UTC_US)
        .alias("peak_at"),
    ]
    if period is None:
        result = (
            points.group_by(groups).agg(aggregations) if groups else points.select(aggregations)
        )
        return _sorted(result, groups)
    keys = [*groups, "period_start"]
    result = (
        points.with_columns(pl.col("_t").dt.truncate(period).alias("period_start"))
        .group_by(keys)
        .agg(aggregations)
        .join(grid, on=keys, how="inner", nulls_equal=True)
        .select(*keys, "peak_sessions", "peak_at")
    )
    return _sorted(result, keys)


# ---------------------------------------------------------------------------
# Metadata
# ---------------------------------------------------------------------------


class _Number:
    """A JSON number kept as its exact text."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _compact_json(value: object) -> str:
    """Compact JSON text of a decoded value, numbers written as they were read."""
    if isinstance(value, _Number):
        return value.text
    if isinstance(value, dict):
        items = (
            f"{json.dumps(k, ensure_ascii=False)}:{_compact_json(v)}" for k, v in value.items()
        )
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_compact_json(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _parse_metadata(text: str) -> dict[str, object] | None:
    try:
        value = json.loads(text, parse_int=_Number, parse_float=_Number, parse_constant=_Number)
    except ValueError as exc:
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise ConfigurationError(f"metadata is not valid JSON text: {shown!r}") from exc
    return value if isinstance(value, dict) else None


def _is_int_text(text: str) -> bool:
    return _INT_RE.fullmatch(text) is not None


def _column_for(values: list[object]) -> tuple[pl.DataType, list[object]]:
    """Choose the dtype of one key's values (None = missing or JSON null) and convert them."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pl.Boolean(), values
    if present and all(isinstance(v, _Number) for v in present):
        texts = [v.text for v in present if isinstance(v, _Number)]
        if all(_is_int_text(t) and _INT64_MIN <= int(t) <= _INT64_MAX for t in texts):
            return pl.Int64(), [None if v is None else int(_text(v)) for v in values]
        if all(_float_exact(t) for t in texts):
            return pl.Float64(), [None if v is None else float(_text(v)) for v in values]
    if all(isinstance(v, str) for v in present):
        return pl.String(), values
    return pl.String(), [
        None if v is None else v if isinstance(v, str) else _compact_json(v) for v in values
    ]


def _text(value: object) -> str:
    assert isinstance(value, _Number)
    return value.text


def _float_exact(text: str) -> bool:
    """Whether a Float64 gives the JSON number back: its shortest text has the same value."""
    if text in ("NaN", "Infinity", "-Infinity"):
        return False
    if _is_int_text(text):
        return abs(int(text)) <= _MAX_EXACT_FLOAT_INT
    number = float(text)
    return math.isfinite(number) and Decimal(repr(number)) == Decimal(text)


def unnest_metadata(frame: FrameT, keys: Sequence[str] | None = None) -> FrameT:
    """Add one column ``metadata_<key>`` per key of the JSON ``metadata`` objects.

    Every original column is kept, in place; the new columns follow, in sorted key
    order (or the order of ``keys``). An existing column of such a name is replaced
    (and moves to the end).

    Keys are found in *all* rows. Each column's dtype follows a lossless rule over
    that key's values in all rows (JSON ``null`` and a missing key are null and do not
    count):

    - all strings -> String; all booleans -> Boolean;
    - all integers within Int64 -> Int64; all numbers a Float64 gives back (integers up
      to 2**53, decimals with at most the 15-17 significant digits of a double, so that
      the float's shortest text has the same value: 0.1, 2.50, 1e-3) -> Float64;
    - otherwise (mixed types, nested objects or arrays, huge or long numbers) -> String:
      strings without quotes, every other value as its compact JSON text with numbers
      written as in the source (``3``, ``true``, ``{"a":[1,2]}``, ``0.1``).

    In a mixed column the string "3" and the number 3 both read "3"; the ``metadata``
    column keeps the exact JSON. A ``metadata`` text that is JSON but not an object
    (an array, a string) has no keys.

    The distinct ``metadata`` texts are parsed once in Python (so cost grows with the
    number of distinct texts); for a LazyFrame they are collected first (one query)
    and the result stays lazy.

    Parameters
    ----------
    frame
        A sessions frame; ``metadata`` is read.
    keys
        The keys to extract (columns in this order; a key absent everywhere gives an
        all-null String column). Default: every key present.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        The frame with the ``metadata_<key>`` columns added, rows in their order.

    Raises
    ------
    ConfigurationError
        ``metadata`` text that is not valid JSON, a repeated key, or no String
        ``metadata`` column.

    Examples
    --------
    >>> import polars as pl
    >>> frame = pl.DataFrame(
    ...     {
    ...         "session_id": ["s1", "s2", "s3"],
    ...         "metadata": ['{"room":"r1","n":3}', '{"n":"x","vip":true}', None],
    ...     }
    ... )
    >>> unnest_metadata(frame)
    shape: (3, 5)
    ┌────────────┬──────────────────────┬────────────┬───────────────┬──────────────┐
    │ session_id ┆ metadata             ┆ metadata_n ┆ metadata_room ┆ metadata_vip │
    │ ---        ┆ ---                  ┆ ---        ┆ ---           ┆ ---          │
    │ str        ┆ str                  ┆ str        ┆ str           ┆ bool         │
    ╞════════════╪══════════════════════╪════════════╪═══════════════╪══════════════╡
    │ s1         ┆ {"room":"r1","n":3}  ┆ 3          ┆ r1            ┆ null         │
    │ s2         ┆ {"n":"x","vip":true} ┆ x          ┆ null          ┆ true         │
    │ s3         ┆ null                 ┆ null       ┆ null          ┆ null         │
    └────────────┴──────────────────────┴────────────┴───────────────┴──────────────┘
    """
    return _finish(_unnest_metadata(frame, keys), frame)


def _unnest_metadata(
    frame: pl.DataFrame | pl.LazyFrame, keys: Sequence[str] | None
) -> pl.LazyFrame:
    schema = _schema_of(frame)
    _check_columns(schema, {"metadata": pl.String()}, "unnest_metadata")
    wanted: list[str] | None = None
    if keys is not None:
        given: object = keys
        if (
            isinstance(given, str)
            or not isinstance(given, Iterable)
            or not all(isinstance(k, str) for k in given)
        ):
            raise ConfigurationError(f"keys= must be a list of key names, got {keys!r}")
        wanted = list(keys)
        if len(set(wanted)) != len(wanted):
            raise ConfigurationError(f"keys= repeats a key: {wanted!r}")
    texts = [t for t in _distinct_strings(frame, "metadata") if t is not None]
    parsed = [_parse_metadata(t) for t in texts]
    if wanted is None:
        wanted = sorted({k for obj in parsed if obj is not None for k in obj})
    columns = []
    for key in wanted:
        raw = [None if obj is None else obj.get(key) for obj in parsed]
        dtype, values = _column_for(raw)
        columns.append(
            pl.col("metadata")
            .replace_strict(texts, values, default=None, return_dtype=dtype)
            .alias(f"metadata_{key}")
        )
    names = {f"metadata_{k}" for k in wanted}
    lf = frame.lazy().drop([n for n in schema.names() if n in names and n != "metadata"])
    return lf.with_columns(columns)
