"""Analytics helpers against independently computed numbers (plain Python and numpy)."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vsdk_analytics._namespace  # noqa: F401  (registers .vsdk)
from tests._frames import T0, at, both, empty, random_sessions, sessions
from vsdk_analytics._errors import ConfigurationError
from vsdk_analytics._helpers import (
    DEFAULT_HISTOGRAM_EDGES,
    DEFAULT_STATUSES,
    duration_bin_start,
    duration_distribution,
    duration_histogram,
    effective_end,
    peak_concurrency,
    quantile_column_name,
    sessions_over_time,
    snapshot_time,
    status_breakdown,
    tag_counts,
    unnest_metadata,
)

UTC_US = pl.Datetime("us", "UTC")
STATUS_COLUMNS = [f"status_{s}" for s in DEFAULT_STATUSES]
NOW = at(days=11)


@pytest.fixture(scope="module")
def big() -> pl.DataFrame:
    return random_sessions(3000, seed=7)


def groups_of(frame: pl.DataFrame, key: str) -> dict[Any, list[dict[str, Any]]]:
    result: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in frame.iter_rows(named=True):
        result[row[key]].append(row)
    return result


def nulls_last(value: Any) -> tuple[bool, Any]:
    return (value is None, "" if value is None else value)


# ---------------------------------------------------------------------------
# duration_distribution
# ---------------------------------------------------------------------------

STAT_COLUMNS = ["sessions", "with_duration", "mean_s", "std_s", "min_s"]


def expected_stats(durations: list[float | None], quantiles: tuple[float, ...]) -> dict[str, Any]:
    values = np.array([d for d in durations if d is not None], dtype=float)
    if values.size == 0:
        stats: dict[str, Any] = dict.fromkeys(
            ["mean_s", "std_s", "min_s", "max_s", "total_s"]
            + [quantile_column_name(q) for q in quantiles]
        )
    else:
        stats = {
            "mean_s": float(values.mean()),
            "std_s": float(values.std(ddof=1)) if values.size > 1 else None,
            "min_s": float(values.min()),
            "max_s": float(values.max()),
            "total_s": float(values.sum()),
        }
        for q in quantiles:
            stats[quantile_column_name(q)] = float(np.percentile(values, q * 100))
    stats["sessions"] = len(durations)
    stats["with_duration"] = int(values.size)
    return stats


def assert_row_close(row: dict[str, Any], expected: dict[str, Any]) -> None:
    for key, value in expected.items():
        got = row[key]
        if value is None:
            assert got is None, (key, got)
        elif isinstance(value, float):
            assert got == pytest.approx(value, rel=1e-9, abs=1e-9), key
        else:
            assert got == value, key


def test_distribution_empty_frame_is_one_row_of_nulls() -> None:
    result = both(duration_distribution, empty())
    assert result.columns == [
        *STAT_COLUMNS,
        "p50_s",
        "p90_s",
        "p95_s",
        "p99_s",
        "max_s",
        "total_s",
    ]
    assert result.schema["sessions"] == pl.Int64()
    assert result.schema["with_duration"] == pl.Int64()
    assert all(result.schema[c] == pl.Float64() for c in result.columns[2:])
    assert result.height == 1
    row = result.row(0, named=True)
    assert row["sessions"] == 0
    assert row["with_duration"] == 0
    assert all(row[c] is None for c in result.columns[2:])


def test_distribution_empty_frame_by_group_has_no_rows() -> None:
    result = both(duration_distribution, empty(), by=["deployment_id", "tag"])
    assert result.height == 0
    assert result.columns[:3] == ["deployment_id", "tag", "sessions"]
    overall = duration_distribution(empty())
    assert result.drop("deployment_id", "tag").schema == overall.schema


def test_distribution_all_running_sessions() -> None:
    frame = sessions([{"status": "running", "start": at(1)}] * 3)
    row = both(duration_distribution, frame).row(0, named=True)
    assert row["sessions"] == 3
    assert row["with_duration"] == 0
    assert row["total_s"] is None
    assert row["p50_s"] is None
    assert row["mean_s"] is None


def test_distribution_one_session() -> None:
    frame = sessions([{"duration_s": 42.5}])
    row = both(duration_distribution, frame, quantiles=[0.0, 0.5, 1.0]).row(0, named=True)
    assert_row_close(row, expected_stats([42.5], (0.0, 0.5, 1.0)))
    assert row["std_s"] is None


def test_distribution_ties_running_and_null_groups() -> None:
    rows: list[dict[str, Any]] = [
        {"tag": "a", "duration_s": 10.0},
        {"tag": "a", "duration_s": 10.0},
        {"tag": "a", "duration_s": 10.0},
        {"tag": "a", "duration_s": 70.0},
        {"tag": "a", "duration_s": None, "status": "running"},
        {"tag": None, "duration_s": 5.0},
        {"tag": None, "duration_s": 6.0},
        {"tag": "b", "duration_s": None},
    ]
    frame = sessions(rows)
    quantiles = (0.25, 0.5, 0.9, 0.999)
    result = both(duration_distribution, frame, by="tag", quantiles=quantiles)
    assert result["tag"].to_list() == ["a", "b", None]
    assert "p99.9_s" in result.columns
    for row in result.iter_rows(named=True):
        durations = [r["duration_s"] for r in rows if r["tag"] == row["tag"]]
        assert_row_close(row, expected_stats(durations, quantiles))


def test_distribution_matches_numpy_on_random_frame(big: pl.DataFrame) -> None:
    quantiles = (0.0, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0)
    result = both(duration_distribution, big, by="deployment_id", quantiles=quantiles)
    assert result["deployment_id"].to_list() == sorted(set(big["deployment_id"]))
    for row in result.iter_rows(named=True):
        part = big.filter(pl.col("deployment_id") == row["deployment_id"])
        assert_row_close(row, expected_stats(part["duration_s"].to_list(), quantiles))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(st.none(), st.floats(min_value=0, max_value=1e6, allow_nan=False)),
        max_size=40,
    ),
    st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=4, unique=True),
)
def test_distribution_property(durations: list[float | None], quantiles: list[float]) -> None:
    names = {quantile_column_name(q) for q in quantiles}
    if len(names) != len(quantiles):
        return
    frame = sessions([{"duration_s": d} for d in durations])
    row = duration_distribution(frame, quantiles=quantiles).row(0, named=True)
    expected = expected_stats(durations, tuple(quantiles))
    for key, value in expected.items():
        if value is None:
            assert row[key] is None
        elif isinstance(value, float):
            assert row[key] == pytest.approx(value, rel=1e-9, abs=1e-6), key
        else:
            assert row[key] == value


@pytest.mark.parametrize(
    ("quantile", "name"),
    [(0.5, "p50_s"), (0.999, "p99.9_s"), (0.0, "p0_s"), (1, "p100_s"), (0.125, "p12.5_s")],
)
def test_quantile_column_name(quantile: float, name: str) -> None:
    assert quantile_column_name(quantile) == name


@pytest.mark.parametrize(
    "quantiles",
    [[1.5], [-0.1], [float("nan")], ["0.5"], [True], [0.5, 0.5], "0.5", 0.5],
)
def test_distribution_rejects_bad_quantiles(quantiles: Any) -> None:
    with pytest.raises(ConfigurationError):
        duration_distribution(empty(), quantiles=quantiles)


@pytest.mark.parametrize(
    "by", ["nope", ["tag", "tag"], "sessions", ["tag", 3], "p50_s", "with_duration"]
)
def test_distribution_rejects_bad_by(by: Any) -> None:
    with pytest.raises(ConfigurationError):
        duration_distribution(empty(), by=by)


def test_numpy_arrays_are_accepted_for_numbers() -> None:
    frame = sessions([{"duration_s": d} for d in (1.0, 20.0, 90.0)])
    hist = duration_histogram(frame, edges=np.array([0, 60]))
    assert hist["sessions"].to_list() == [2, 1]
    dist = duration_distribution(frame, quantiles=np.array([0.5, 0.75]))
    assert dist.columns[5:7] == ["p50_s", "p75_s"]
    with pytest.raises(ConfigurationError):
        duration_distribution(frame, by=3)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        unnest_metadata(frame, keys=3)  # type: ignore[arg-type]


def test_helpers_check_the_columns_they_read() -> None:
    with pytest.raises(ConfigurationError, match="duration_s"):
        duration_distribution(pl.DataFrame({"x": [1]}))
    with pytest.raises(ConfigurationError, match="is Int64"):
        duration_histogram(pl.DataFrame({"duration_s": [1]}))
    with pytest.raises(ConfigurationError, match="DataFrame or LazyFrame"):
        tag_counts({"tag": ["a"]})  # type: ignore[type-var]


# ---------------------------------------------------------------------------
# duration_histogram
# ---------------------------------------------------------------------------

DEFAULT_LABELS = [
    "0\u201315 s",
    "15\u201330 s",
    "30\u201360 s",
    "1\u20132 min",
    "2\u20135 min",
    "5\u201310 min",
    "10\u201330 min",
    "30\u201360 min",
    "1 h+",
]


def expected_histogram(durations: list[float | None], edges: tuple[float, ...]) -> list[int]:
    values = np.array([d for d in durations if d is not None], dtype=float)
    index = np.searchsorted(np.array(edges), values, side="right") - 1
    return [int((index == i).sum()) for i in range(len(edges))]


def test_histogram_default_bins_and_boundaries() -> None:
    durations: list[float | None] = [0.0, 14.999, 15.0, 59.9, 60.0, 3599.0, 3600.0, 1e6, None]
    frame = sessions([{"duration_s": d} for d in durations])
    result = both(duration_histogram, frame)
    assert result.columns == ["bin_start_s", "bin_end_s", "label", "sessions", "share"]
    assert result.dtypes == [pl.Float64(), pl.Float64(), pl.String(), pl.Int64(), pl.Float64()]
    assert result["label"].to_list() == DEFAULT_LABELS
    assert result["bin_start_s"].to_list() == list(DEFAULT_HISTOGRAM_EDGES)
    assert result["bin_end_s"].to_list() == [*DEFAULT_HISTOGRAM_EDGES[1:], None]
    counts = expected_histogram(durations, DEFAULT_HISTOGRAM_EDGES)
    assert result["sessions"].to_list() == counts == [2, 1, 1, 1, 0, 0, 0, 1, 2]
    # The share is of sessions with a duration (8), the running one left out.
    assert result["share"].to_list() == pytest.approx([c / 8 for c in counts])


def test_histogram_empty_frame_lists_every_bin() -> None:
    result = both(duration_histogram, empty())
    assert result["label"].to_list() == DEFAULT_LABELS
    assert result["sessions"].to_list() == [0] * 9
    assert result["share"].to_list() == [None] * 9
    assert both(duration_histogram, empty(), by="tag").height == 0


def test_histogram_custom_edges_below_first_edge_and_groups() -> None:
    rows: list[dict[str, Any]] = [
        {"tag": "a", "duration_s": 5.0},  # below the first edge: counted in no bin
        {"tag": "a", "duration_s": 10.0},
        {"tag": "a", "duration_s": 200.0},
        {"tag": "b", "duration_s": None},
        {"tag": None, "duration_s": 7200.0},
    ]
    result = both(duration_histogram, sessions(rows), edges=[10, 90.0, 3600], by="tag")
    assert result["tag"].to_list() == ["a"] * 3 + ["b"] * 3 + [None] * 3
    assert result["label"].to_list()[:3] == ["10\u201390 s", "1.5\u201360 min", "1 h+"]
    by_tag = groups_of(result, "tag")
    assert [r["sessions"] for r in by_tag["a"]] == [1, 1, 0]
    assert [r["share"] for r in by_tag["a"]] == pytest.approx([1 / 3, 1 / 3, 0.0])
    assert [r["sessions"] for r in by_tag["b"]] == [0, 0, 0]
    assert [r["share"] for r in by_tag["b"]] == [None, None, None]
    assert [r["share"] for r in by_tag[None]] == [0.0, 0.0, 1.0]


def test_histogram_matches_numpy_on_random_frame(big: pl.DataFrame) -> None:
    edges = (0.0, 30.0, 100.0, 250.0, 1000.0)
    result = both(duration_histogram, big, edges=edges, by="tag")
    for tag, rows in groups_of(result, "tag").items():
        durations = big.filter(pl.col("tag").eq_missing(tag))["duration_s"].to_list()
        assert [r["sessions"] for r in rows] == expected_histogram(durations, edges)
        with_duration = sum(d is not None for d in durations)
        assert sum(r["share"] for r in rows) == pytest.approx(1.0)
        assert rows[0]["share"] == pytest.approx(rows[0]["sessions"] / with_duration)


@pytest.mark.parametrize(
    "edges", [[], [10, 5], [0, 0], [-1, 5], [0, float("inf")], "0,15", [0, "1"]]
)
def test_histogram_rejects_bad_edges(edges: Any) -> None:
    with pytest.raises(ConfigurationError):
        duration_histogram(empty(), edges=edges)


def test_duration_bin_start_expression() -> None:
    frame = pl.DataFrame({"duration_s": [None, 0.0, 14.0, 15.0, 4000.0, 2.0]})
    got = frame.select(duration_bin_start([1, 15, 60]))["bin_start_s"].to_list()
    assert got == [None, None, 1.0, 15.0, 60.0, 1.0]


# ---------------------------------------------------------------------------
# Tag and status counts
# ---------------------------------------------------------------------------


def expected_counts(values: list[Any]) -> list[tuple[Any, int, float]]:
    counts = Counter(values)
    total = sum(counts.values())
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], *nulls_last(kv[0])))
    return [(value, n, n / total) for value, n in ordered]


def test_tag_counts_null_tag_and_tie_order() -> None:
    tags = ["b", "a", None, "c", "c", None, "a", "b"]  # every count is 2: order by tag
    result = both(tag_counts, sessions([{"tag": t} for t in tags]))
    assert result.columns == ["tag", "sessions", "share"]
    assert result.dtypes == [pl.String(), pl.Int64(), pl.Float64()]
    assert result["tag"].to_list() == ["a", "b", "c", None]
    assert result.rows() == [(t, n, pytest.approx(s)) for t, n, s in expected_counts(tags)]


def test_tag_counts_by_group(big: pl.DataFrame) -> None:
    result = both(tag_counts, big, by="deployment_id")
    assert result["deployment_id"].to_list() == sorted(result["deployment_id"].to_list())
    for deployment, rows in groups_of(result, "deployment_id").items():
        tags = big.filter(pl.col("deployment_id") == deployment)["tag"].to_list()
        expected = expected_counts(tags)
        assert [(r["tag"], r["sessions"]) for r in rows] == [(t, n) for t, n, _ in expected]
        assert [r["share"] for r in rows] == pytest.approx([s for _, _, s in expected])


def test_tag_counts_empty() -> None:
    result = both(tag_counts, empty(), by="status")
    assert result.height == 0
    assert result.columns == ["status", "tag", "sessions", "share"]


def test_tag_counts_rejects_by_tag() -> None:
    with pytest.raises(ConfigurationError, match="tag"):
        tag_counts(empty(), by="tag")


def test_status_breakdown_is_failure_rate_per_tag(big: pl.DataFrame) -> None:
    result = both(status_breakdown, big, by="tag")
    assert result.columns == ["tag", "status", "sessions", "share"]
    assert list(groups_of(result, "tag")) == ["onboarding", "sales", "support", None]
    for tag, rows in groups_of(result, "tag").items():
        statuses = big.filter(pl.col("tag").eq_missing(tag))["status"].to_list()
        expected = expected_counts(statuses)
        assert [(r["status"], r["sessions"]) for r in rows] == [(s, n) for s, n, _ in expected]
        failed = next(r["share"] for r in rows if r["status"] == "failed")
        assert failed == pytest.approx(statuses.count("failed") / len(statuses))


def test_status_breakdown_null_status() -> None:
    frame = sessions([{"status": s} for s in ["failed", None, "completed", "completed"]])
    assert both(status_breakdown, frame).rows() == [
        ("completed", 2, 0.5),
        ("failed", 1, 0.25),
        (None, 1, 0.25),
    ]


# ---------------------------------------------------------------------------
# sessions_over_time
# ---------------------------------------------------------------------------


def test_sessions_over_time_fills_gaps_and_falls_back_to_created_at() -> None:
    rows: list[dict[str, Any]] = [
        {"start": at(1), "status": "completed", "duration_s": 10.0},
        {"start": at(23.5), "status": "failed", "duration_s": 2.5},
        # never started: counted on the day it was created
        {"start": None, "created_at": at(5, days=3), "status": "failed"},
        {"start": at(2, days=3), "status": None},
        {"start": None, "created_at": None, "status": "stopped"},  # left out, no column
    ]
    result = both(sessions_over_time, sessions(rows), statuses=["completed", "failed"])
    assert result.columns == [
        "period_start",
        "sessions",
        "status_completed",
        "status_failed",
        "status_other",
        "total_duration_s",
    ]
    assert result.schema["period_start"] == UTC_US
    assert all(result.schema[c] == pl.Int64() for c in result.columns[1:-1])
    assert result.rows() == [
        (T0, 2, 1, 1, 0, 12.5),
        (at(days=1), 0, 0, 0, 0, 0.0),
        (at(days=2), 0, 0, 0, 0, 0.0),
        (at(days=3), 2, 0, 1, 1, 0.0),
    ]
    # The default columns are fixed: every known status, whatever occurs.
    default = both(sessions_over_time, sessions(rows))
    assert default.columns == [
        "period_start",
        "sessions",
        *STATUS_COLUMNS,
        "status_other",
        "total_duration_s",
    ]
    assert default["status_other"].to_list() == [0, 0, 0, 1]


def test_sessions_over_time_hourly_by_group(big: pl.DataFrame) -> None:
    result = both(sessions_over_time, big, every="1h", by="deployment_id")
    statuses = list(DEFAULT_STATUSES)
    assert set(big["status"].to_list()) <= set(statuses)
    assert result.columns == [
        "deployment_id",
        "period_start",
        "sessions",
        *STATUS_COLUMNS,
        "status_other",
        "total_duration_s",
    ]
    anchored = big.with_columns(t=pl.coalesce("start", "created_at"))
    for deployment, rows in groups_of(result, "deployment_id").items():
        part = anchored.filter(pl.col("deployment_id") == deployment)
        hours: Counter[datetime] = Counter()
        per_status: Counter[tuple[datetime, str]] = Counter()
        totals: dict[datetime, float] = defaultdict(float)
        for r in part.iter_rows(named=True):
            hour = r["t"].replace(minute=0, second=0, microsecond=0)
            hours[hour] += 1
            per_status[hour, r["status"]] += 1
            totals[hour] += r["duration_s"] or 0.0
        first, last = min(hours), max(hours)
        expected_hours = [
            first + timedelta(hours=i) for i in range(int((last - first) / timedelta(hours=1)) + 1)
        ]
        assert [r["period_start"] for r in rows] == expected_hours
        for r in rows:
            assert r["sessions"] == hours[r["period_start"]]
            assert r["total_duration_s"] == pytest.approx(totals[r["period_start"]])
            for s in statuses:
                assert r[f"status_{s}"] == per_status[r["period_start"], s]


def test_sessions_over_time_weeks_and_months() -> None:
    frame = sessions([{"start": at(days=d)} for d in (0, 20, 45)])  # 2025-06-18 is a Wednesday
    weeks = both(sessions_over_time, frame, every="1w")
    assert weeks["period_start"][0] == datetime(2025, 6, 16, tzinfo=timezone.utc)
    assert weeks["sessions"].sum() == 3
    assert weeks.height == 7
    months = both(sessions_over_time, frame, every="1mo")
    assert months["period_start"].dt.month().to_list() == [6, 7, 8]
    assert months["sessions"].to_list() == [1, 1, 1]
    assert both(sessions_over_time, frame, every=timedelta(days=30))["sessions"].sum() == 3


def test_sessions_over_time_empty() -> None:
    result = both(sessions_over_time, empty(), by="tag")
    assert result.columns == [
        "tag",
        "period_start",
        "sessions",
        *STATUS_COLUMNS,
        "status_other",
        "total_duration_s",
    ]
    assert result.height == 0
    assert both(sessions_over_time, empty()).height == 0


@pytest.mark.parametrize("every", ["", "0d", "1x", "day", 3, timedelta(0), "-1d"])
def test_sessions_over_time_rejects_bad_every(every: Any) -> None:
    with pytest.raises(ConfigurationError, match="every"):
        sessions_over_time(empty(), every=every)


# ---------------------------------------------------------------------------
# peak_concurrency
# ---------------------------------------------------------------------------


def brute_intervals(frame: pl.DataFrame, now: datetime) -> list[tuple[Any, datetime, datetime]]:
    result = []
    for r in frame.iter_rows(named=True):
        if r["start"] is None:
            continue
        end = r["end"]
        if end is None and r["duration_s"] is not None:
            end = r["start"] + timedelta(microseconds=round(r["duration_s"] * 1e6))
        end = max(r["start"], end or now)
        result.append((r["tag"], r["start"], end))
    return result


def brute_peak(
    intervals: list[tuple[datetime, datetime]], candidates: set[datetime]
) -> tuple[int, datetime | None]:
    best, best_at = 0, None
    for t in sorted(candidates):
        running = sum(s <= t < e for s, e in intervals)
        if running > best:
            best, best_at = running, t
    return best, best_at


def test_peak_touching_sessions_do_not_overlap() -> None:
    frame = sessions(
        [
            {"start": at(1), "end": at(2)},
            {"start": at(2), "end": at(3)},
            {"start": at(3), "end": at(3)},  # zero length: never running
        ]
    )
    assert both(peak_concurrency, frame, now=NOW).rows() == [(1, at(1))]


def test_peak_running_sessions_count_until_now_and_null_start_is_ignored() -> None:
    frame = sessions(
        [
            {"start": at(1), "end": at(5)},
            {"start": at(4), "status": "running"},  # no end: until now
            {"start": None, "created_at": at(4), "status": "starting"},
            {"start": at(2), "duration_s": 7200.0},  # no end: start + duration
            {"start": at(6), "end": at(1)},  # end before start: empty
        ]
    )
    assert both(peak_concurrency, frame, now=at(10)).rows() == [(2, at(2))]
    assert both(peak_concurrency, frame, now=at(4.5)).rows() == [(2, at(2))]
    # With `now` before the running session's start it never runs.
    assert peak_concurrency(frame, now=at(3)).rows() == [(2, at(2))]


def test_peak_empty_and_all_null_starts() -> None:
    for frame in (empty(), sessions([{"start": None, "created_at": at(1)}])):
        result = both(peak_concurrency, frame, now=NOW)
        assert result.rows() == [(0, None)]
        assert result.schema == pl.Schema({"peak_sessions": pl.Int64(), "peak_at": UTC_US})
        assert both(peak_concurrency, frame, now=NOW, by="tag").height == 0
        series = both(peak_concurrency, frame, every="1h", now=NOW)
        assert series.columns == ["period_start", "peak_sessions", "peak_at"]
        assert series.height == 0


def test_peak_series_spanning_periods() -> None:
    frame = sessions(
        [
            {"start": at(0.5), "end": at(3.25)},  # spans four hours
            {"start": at(1.5), "end": at(1.75)},
            {"start": at(1.75), "end": at(2)},
        ]
    )
    result = both(peak_concurrency, frame, every="1h", now=NOW)
    assert result.rows() == [
        (at(0), 1, at(0.5)),
        (at(1), 2, at(1.5)),
        (at(2), 1, at(2)),
        (at(3), 1, at(3)),
    ]


def test_peak_series_has_zero_rows_for_idle_periods() -> None:
    frame = sessions([{"start": at(0), "end": at(0.5)}, {"start": at(3), "end": at(3.5)}])
    result = both(peak_concurrency, frame, every="1h", now=NOW)
    assert result.rows() == [
        (at(0), 1, at(0)),
        (at(1), 0, None),
        (at(2), 0, None),
        (at(3), 1, at(3)),
    ]


def test_peak_matches_brute_force_on_random_frame() -> None:
    frame = random_sessions(400, seed=11)
    intervals = brute_intervals(frame, NOW)
    result = both(peak_concurrency, frame, now=NOW, by="tag")
    assert result["tag"].to_list() == ["onboarding", "sales", "support", None]
    for row in result.iter_rows(named=True):
        mine = [(s, e) for tag, s, e in intervals if tag == row["tag"]]
        expected = brute_peak(mine, {s for s, _ in mine} | {e for _, e in mine})
        assert (row["peak_sessions"], row["peak_at"]) == expected
    overall = both(peak_concurrency, frame, now=NOW).row(0)
    pairs = [(s, e) for _, s, e in intervals]
    assert overall == brute_peak(pairs, {s for s, _ in pairs} | {e for _, e in pairs})


def test_peak_series_matches_brute_force_on_random_frame() -> None:
    frame = random_sessions(300, seed=5).filter(pl.col("start") < at(days=2))
    intervals = [(s, e) for _, s, e in brute_intervals(frame, at(days=2, hours=3))]
    result = both(peak_concurrency, frame, every="6h", now=at(days=2, hours=3))
    events = {s for s, _ in intervals} | {e for _, e in intervals}
    first = min(s for s, _ in intervals).replace(hour=0, minute=0, second=0)
    for i, row in enumerate(result.iter_rows(named=True)):
        p = first + timedelta(hours=6 * i)
        assert row["period_start"] == p
        inside = {t for t in events if p <= t < p + timedelta(hours=6)} | {p}
        assert (row["peak_sessions"], row["peak_at"]) == brute_peak(intervals, inside)
    last_end = max(e for _, e in intervals)
    assert result["period_start"][-1] <= last_end < result["period_start"][-1] + timedelta(hours=6)


minutes = st.integers(min_value=0, max_value=300)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(minutes, st.one_of(st.none(), st.integers(0, 120))), max_size=25))
def test_peak_property(spans: list[tuple[int, int | None]]) -> None:
    now = at(6)
    rows: list[dict[str, Any]] = [
        {
            "start": T0 + timedelta(minutes=m),
            "end": None if d is None else T0 + timedelta(minutes=m + d),
        }
        for m, d in spans
    ]
    frame = sessions(rows)
    pairs = [(s, e) for _, s, e in brute_intervals(frame, now)]
    candidates = {s for s, _ in pairs} | {e for _, e in pairs}
    assert peak_concurrency(frame, now=now).row(0) == brute_peak(pairs, candidates)
    series = peak_concurrency(frame, every="1h", now=now)
    for p, peak, peak_at in series.iter_rows():
        inside = {t for t in candidates if p <= t < p + timedelta(hours=1)} | {p}
        assert (peak, peak_at) == brute_peak(pairs, inside)


def test_peak_rejects_naive_now() -> None:
    with pytest.raises(ConfigurationError, match="no time zone"):
        peak_concurrency(empty(), now=datetime(2025, 1, 1))
    with pytest.raises(ConfigurationError, match="every"):
        peak_concurrency(empty(), every="soon")


def test_peak_default_now_is_the_snapshot_time() -> None:
    # A history that ended in January 2025, with sessions still open at the snapshot:
    # the timeline stops at the snapshot, whatever today's date.
    jan = lambda d, h=0: datetime(2025, 1, d, h, tzinfo=timezone.utc)  # noqa: E731
    rows: list[dict[str, Any]] = [
        {"start": jan(30, 9), "end": jan(30, 10), "duration_s": 3600.0, "status": "completed"},
        {"start": jan(30, 9), "status": "running", "updated_at": jan(30, 9)},
        {"start": jan(31, 8), "status": "running", "updated_at": jan(31, 23)},
    ]
    frame = sessions(rows)
    assert snapshot_time(frame) == jan(31, 23)
    series = both(peak_concurrency, frame, every="1h")
    assert series["period_start"].max() == jan(31, 22)
    assert series.height == 38
    assert series.filter(pl.col("period_start") == jan(31, 22))["peak_sessions"].item() == 2
    assert both(peak_concurrency, frame).row(0) == (2, jan(30, 9))
    assert peak_concurrency(frame).equals(peak_concurrency(frame, now=jan(31, 23)))
    daily = both(peak_concurrency, frame, every="1d")
    assert daily["period_start"].to_list() == [jan(30), jan(31)]


def test_effective_end_converts_now_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    frame = sessions([{"start": at(1)}])
    got = frame.select(effective_end(datetime(2025, 6, 18, 5, tzinfo=plus_two))).item()
    assert got == at(3)


# ---------------------------------------------------------------------------
# unnest_metadata
# ---------------------------------------------------------------------------


def test_unnest_metadata_discovers_keys_in_all_rows() -> None:
    rows = [{"metadata": '{"a":1}'} for _ in range(600)]
    rows[550] = {"metadata": '{"a":2,"late":"x"}'}
    result = both(unnest_metadata, sessions(rows))
    assert result.columns[-2:] == ["metadata_a", "metadata_late"]
    assert result["metadata_late"].to_list().count("x") == 1
    assert result["metadata_late"][550] == "x"


def test_unnest_metadata_type_rule() -> None:
    texts = [
        # Written by hand: numbers keep their source text where they become String.
        '{"s":"x","i":1,"f":1,"b":true,"mixed":"3","nested":{"a":[1,2.50]},'
        '"huge":18446744073709551616,"long":0.1000000000000000000001,"big":9007199254740993,'
        '"nulls":null}',
        '{"s":null,"i":-9223372036854775808,"f":0.5,"b":false,"mixed":3,"nested":[null,"é"],'
        '"huge":1,"long":1,"big":0.5,"nulls":null}',
        '{"s":"y","i":9223372036854775807,"f":-2e-3,"b":null,"mixed":true,"nested":"t",'
        '"huge":2,"long":2,"big":1}',
        None,
        "[1,2]",  # JSON, but not an object: no keys
        '{"f":0.30000000000000004}',
    ]
    frame = sessions([{"metadata": t} for t in texts])
    result = both(unnest_metadata, frame)
    new = result.select(pl.selectors.starts_with("metadata_"))
    keys = ["b", "big", "f", "huge", "i", "long", "mixed", "nested", "nulls", "s"]
    assert new.columns == [f"metadata_{k}" for k in keys]
    assert new.schema["metadata_s"] == pl.String()
    assert new.schema["metadata_i"] == pl.Int64()
    assert new.schema["metadata_f"] == pl.Float64()
    assert new.schema["metadata_b"] == pl.Boolean()
    for name in ("mixed", "nested", "huge", "long", "big", "nulls"):
        assert new.schema[f"metadata_{name}"] == pl.String(), name
    assert new["metadata_s"].to_list() == ["x", None, "y", None, None, None]
    assert new["metadata_i"].to_list() == [1, -(2**63), 2**63 - 1, None, None, None]
    assert new["metadata_f"].to_list() == [1.0, 0.5, -0.002, None, None, 0.30000000000000004]
    assert new["metadata_b"].to_list() == [True, False, None, None, None, None]
    assert new["metadata_mixed"].to_list()[:3] == ["3", "3", "true"]
    assert new["metadata_nested"].to_list()[:3] == ['{"a":[1,2.50]}', '[null,"é"]', "t"]
    assert new["metadata_huge"].to_list()[:3] == [str(2**64), "1", "2"]
    assert new["metadata_long"].to_list()[:3] == ["0.1000000000000000000001", "1", "2"]
    assert new["metadata_big"].to_list()[:3] == [str(2**53 + 1), "0.5", "1"]
    assert new["metadata_nulls"].to_list() == [None] * 6
    assert new.slice(3, 2).null_count().row(0) == (2,) * len(keys)
    # Every original column is kept as it was.
    assert result.select(frame.columns).equals(frame)


def test_unnest_metadata_given_keys_and_empty() -> None:
    frame = sessions([{"metadata": '{"b":1,"a":"x"}'}, {"metadata": None}])
    result = both(unnest_metadata, frame, keys=["b", "zz"])
    assert result.columns[-2:] == ["metadata_b", "metadata_zz"]
    assert result["metadata_b"].to_list() == [1, None]
    assert result.schema["metadata_zz"] == pl.String()
    assert result["metadata_zz"].to_list() == [None, None]
    assert both(unnest_metadata, empty()).columns == empty().columns
    assert both(unnest_metadata, empty(), keys=["a"]).columns == [*empty().columns, "metadata_a"]


def test_unnest_metadata_errors() -> None:
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        unnest_metadata(sessions([{"metadata": "{oops"}]))
    with pytest.raises(ConfigurationError, match="repeats"):
        unnest_metadata(empty(), keys=["a", "a"])
    with pytest.raises(ConfigurationError, match="keys"):
        unnest_metadata(empty(), keys="a")


def test_unnest_metadata_on_random_frame_round_trips(big: pl.DataFrame) -> None:
    result = both(unnest_metadata, big)
    for row in result.head(200).iter_rows(named=True):
        parsed = json.loads(row["metadata"]) if row["metadata"] else {}
        assert row["metadata_room"] == parsed.get("room")
        assert row["metadata_score"] == parsed.get("score")
        vip = parsed.get("vip")
        assert row["metadata_vip"] == vip
        n = parsed.get("n")
        assert row["metadata_n"] == (None if n is None else str(n))


# ---------------------------------------------------------------------------
# The .vsdk namespace
# ---------------------------------------------------------------------------

NAMESPACE_CALLS: list[tuple[str, Callable[..., Any], dict[str, Any]]] = [
    ("duration_distribution", duration_distribution, {"by": "tag", "quantiles": [0.5]}),
    ("duration_histogram", duration_histogram, {"edges": [0, 60], "by": "status"}),
    ("tag_counts", tag_counts, {"by": "deployment_id"}),
    ("status_breakdown", status_breakdown, {"by": "tag"}),
    ("sessions_over_time", sessions_over_time, {"every": "1d", "by": "tag"}),
    ("peak_concurrency", peak_concurrency, {"every": "1d", "now": NOW, "by": "tag"}),
    ("unnest_metadata", unnest_metadata, {"keys": ["room"]}),
]


@pytest.mark.parametrize(("name", "function", "kwargs"), NAMESPACE_CALLS)
def test_namespace_equals_function(
    big: pl.DataFrame, name: str, function: Callable[..., Any], kwargs: dict[str, Any]
) -> None:
    frame = big.head(500)
    expected = function(frame, **kwargs)
    eager = getattr(frame.vsdk, name)(**kwargs)
    lazy = getattr(frame.lazy().vsdk, name)(**kwargs)
    assert isinstance(lazy, pl.LazyFrame)
    assert eager.equals(expected)
    assert lazy.collect().equals(expected)


def test_namespace_registration_is_idempotent() -> None:
    import importlib

    import vsdk_analytics._namespace as namespace

    importlib.reload(namespace)  # a UserWarning here would fail under filterwarnings=error
    assert pl.DataFrame({"tag": ["a"]}).vsdk.tag_counts().height == 1
    assert math.isclose(pl.DataFrame({"tag": ["a"]}).vsdk.tag_counts()["share"][0], 1.0)
