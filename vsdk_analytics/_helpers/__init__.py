"""Analytics helpers: summary tables computed from a sessions frame (`SESSIONS_SCHEMA`).

One module per concern:

- `frames`: the `FrameT` and `By` types and the checks every helper shares;
- `durations`: `duration_distribution`, `duration_histogram` and their expressions;
- `counts`: `tag_counts`, `status_breakdown`;
- `timeline`: the snapshot "now", time zones, `sessions_over_time`;
- `concurrency`: `peak_concurrency`;
- `metadata`: `unnest_metadata`;
- `quality`: `webhook_coverage`, `data_quality`.

The conventions of every helper: it takes a `polars.DataFrame` or `polars.LazyFrame`
(`FrameT`) and returns the same kind, planned lazily and collected only when the
input was eager. Each grouping helper takes ``by=`` (`By`: a column name or a list of
names) and puts the group columns first. Results are sorted deterministically (group
columns ascending with nulls last, then the helper's own key), and an empty input
gives an empty result with the same columns and dtypes. Counts are ``Int64``, shares
and seconds ``Float64``, instants ``Datetime("us", "UTC")`` (or the ``time_zone=``
asked for). Wherever "now" matters, the default is the frame's snapshot time, never
the wall clock (see `timeline`).
"""

from __future__ import annotations

from .concurrency import peak_concurrency
from .counts import status_breakdown, tag_counts
from .durations import (
    DEFAULT_HISTOGRAM_EDGES,
    DEFAULT_QUANTILES,
    duration_bin_start,
    duration_distribution,
    duration_histogram,
    duration_stats,
    quantile_column_name,
)
from .frames import By, FrameT
from .metadata import unnest_metadata
from .quality import DATA_QUALITY_CHECKS, STALE_AFTER, data_quality, webhook_coverage
from .timeline import (
    DEFAULT_STATUSES,
    SNAPSHOT_COLUMNS,
    effective_end,
    effective_start,
    sessions_over_time,
    snapshot_instant,
    snapshot_time,
)

__all__ = [
    "DATA_QUALITY_CHECKS",
    "DEFAULT_HISTOGRAM_EDGES",
    "DEFAULT_QUANTILES",
    "DEFAULT_STATUSES",
    "SNAPSHOT_COLUMNS",
    "STALE_AFTER",
    "By",
    "FrameT",
    "data_quality",
    "duration_bin_start",
    "duration_distribution",
    "duration_histogram",
    "duration_stats",
    "effective_end",
    "effective_start",
    "peak_concurrency",
    "quantile_column_name",
    "sessions_over_time",
    "snapshot_instant",
    "snapshot_time",
    "status_breakdown",
    "tag_counts",
    "unnest_metadata",
    "webhook_coverage",
]
