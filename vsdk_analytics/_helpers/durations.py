"""Duration helpers: the distribution of ``duration_s`` and a histogram of it.

`duration_distribution` and `duration_histogram` are the tables; `duration_stats` and
`duration_bin_start` are the expression builders behind them, public so the same
definitions can be used in one's own ``group_by``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from decimal import Decimal
from typing import Final

import polars as pl

from vsdk_analytics._errors import ConfigurationError

from .frames import (
    COUNT,
    By,
    FrameT,
    check_columns,
    finish,
    group_columns,
    numbers_of,
    ordered_sum,
    schema_of,
    sort_result,
)

__all__ = [
    "DEFAULT_HISTOGRAM_EDGES",
    "DEFAULT_QUANTILES",
    "duration_bin_start",
    "duration_distribution",
    "duration_histogram",
    "duration_stats",
    "quantile_column_name",
]

DEFAULT_QUANTILES: Final = (0.5, 0.9, 0.95, 0.99)
"""Quantiles `duration_distribution` reports by default (``p50_s`` ... ``p99_s``)."""

DEFAULT_HISTOGRAM_EDGES: Final = (0.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
"""Bin edges in seconds of `duration_histogram`; the last bin (1 h+) is open."""

_EN_DASH: Final = "\u2013"


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


def _validate_quantiles(quantiles: object) -> tuple[float, ...]:
    result = numbers_of(quantiles, "quantiles=")
    for q in result:
        if not 0 <= q <= 1:
            raise ConfigurationError(f"each quantile must be in [0, 1], got {q!r}")
    names = [quantile_column_name(q) for q in result]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"quantiles= repeats a quantile: {result!r}")
    return tuple(result)


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
    total = ordered_sum(d)
    mean = total / n
    variance = ordered_sum((d - mean) ** 2) / (n - 1)
    return [
        pl.len().cast(COUNT).alias("sessions"),
        d.count().cast(COUNT).alias("with_duration"),
        mean.alias("mean_s"),
        pl.when(n > 1).then(variance.sqrt()).otherwise(None).alias("std_s"),
        d.min().alias("min_s"),
        *(d.quantile(q, interpolation="linear").alias(quantile_column_name(q)) for q in qs),
        d.max().alias("max_s"),
        total.alias("total_s"),
    ]


def _validate_edges(edges: object) -> tuple[float, ...]:
    result = numbers_of(edges, "edges=")
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
    return finish(_duration_distribution(frame, by, quantiles), frame)


def _duration_distribution(
    frame: pl.DataFrame | pl.LazyFrame, by: By, quantiles: Sequence[float]
) -> pl.LazyFrame:
    schema = schema_of(frame)
    check_columns(schema, {"duration_s": pl.Float64()}, "duration_distribution")
    stats = duration_stats(quantiles)
    reserved = [e.meta.output_name() for e in stats]
    groups = group_columns(by, schema, reserved=reserved)
    lf = frame.lazy()
    result = lf.group_by(groups).agg(stats) if groups else lf.select(stats)
    return sort_result(result, groups)


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
    return finish(_duration_histogram(frame, edges, by), frame)


def _duration_histogram(
    frame: pl.DataFrame | pl.LazyFrame, edges: Sequence[float] | None, by: By
) -> pl.LazyFrame:
    es = _validate_edges(DEFAULT_HISTOGRAM_EDGES if edges is None else edges)
    schema = schema_of(frame)
    check_columns(schema, {"duration_s": pl.Float64()}, "duration_histogram")
    out = ["bin_start_s", "bin_end_s", "label", "sessions", "share"]
    groups = group_columns(by, schema, reserved=[*out, "with_duration"])
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
    totals_agg = d.count().cast(COUNT).alias("with_duration")
    totals = lf.group_by(groups).agg(totals_agg) if groups else lf.select(totals_agg)
    counts = (
        lf.select(*groups, duration_bin_start(es))
        .drop_nulls("bin_start_s")
        .group_by([*groups, "bin_start_s"])
        .agg(pl.len().cast(COUNT).alias("sessions"))
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
    return sort_result(result, [*groups, "bin_start_s"])
