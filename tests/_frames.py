"""Synthetic sessions frames (`SESSIONS_SCHEMA`) shared by the helper and Parquet tests."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import polars as pl

from vsdk_analytics._schema import (
    FINISHED_STATUSES,
    RUNNING_STATUSES,
    SESSIONS_SCHEMA,
    WEBHOOK_EVENTS,
)

UTC = timezone.utc
T0 = datetime(2025, 6, 18, tzinfo=UTC)
"""A fixed reference instant (midnight UTC)."""


def at(hours: float = 0.0, *, days: int = 0) -> datetime:
    """``T0`` plus some hours (and days), microsecond precision."""
    return T0 + timedelta(days=days, hours=hours)


def sessions(rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """A frame with exactly `SESSIONS_SCHEMA` from partial rows (missing keys are null).

    ``session_id`` defaults to ``s0``, ``s1``...; ``created_at`` to ``start``.
    """
    records = []
    for i, row in enumerate(rows):
        record: dict[str, Any] = dict.fromkeys(SESSIONS_SCHEMA.names())
        record["session_id"] = f"s{i}"
        record["created_at"] = row.get("start")
        record.update(row)
        records.append(record)
    return pl.DataFrame(records, schema=SESSIONS_SCHEMA, orient="row") if records else empty()


def empty() -> pl.DataFrame:
    """No rows, `SESSIONS_SCHEMA`."""
    return pl.DataFrame(schema=SESSIONS_SCHEMA)


_TAGS = ["support", "sales", "onboarding", None]
_DEPLOYMENTS = ["dep-a", "dep-b", "dep-c"]
_STATUSES = sorted(FINISHED_STATUSES) + sorted(RUNNING_STATUSES)


def random_sessions(n: int, *, seed: int = 0, null_start_share: float = 0.05) -> pl.DataFrame:
    """``n`` realistic sessions over ten days, from a seed (numpy), `SESSIONS_SCHEMA`.

    Long-tailed durations, some running sessions (no end, no duration), some without
    ``start``, ties in start times, tags with nulls, metadata of mixed shapes, webhook
    event lists that are null, empty or filled.
    """
    rng = np.random.default_rng(seed)
    # Whole seconds make ties between starts and ends likely.
    start_s = rng.integers(0, 10 * 86_400, n)
    duration = np.round(rng.lognormal(mean=5.0, sigma=1.2, size=n), 3)
    status = rng.choice(np.array(_STATUSES, dtype=object), n, p=_status_weights())
    rows = []
    for i in range(n):
        st = str(status[i])
        start = T0 + timedelta(seconds=int(start_s[i]))
        running = st in RUNNING_STATUSES
        no_start = rng.random() < null_start_share
        dur = None if running or no_start else float(duration[i])
        end = None if dur is None or no_start else start + timedelta(seconds=dur)
        events_pick = rng.integers(0, 4)
        events: list[str] | None = (
            None
            if events_pick == 0
            else []
            if events_pick == 1
            else list(WEBHOOK_EVENTS[: int(events_pick) + 1])
        )
        meta_pick = rng.integers(0, 5)
        metadata = (
            None
            if meta_pick == 0
            else json.dumps({"room": f"r{i % 7}", "n": int(i % 5)}, separators=(",", ":"))
            if meta_pick == 1
            else json.dumps({"n": "x", "vip": bool(i % 2)}, separators=(",", ":"))
            if meta_pick == 2
            else json.dumps({"nested": {"a": [1, 2]}, "score": 0.5}, separators=(",", ":"))
            if meta_pick == 3
            else "{}"
        )
        rows.append(
            {
                "session_id": f"sess-{i:06d}",
                "deployment_id": _DEPLOYMENTS[int(rng.integers(0, len(_DEPLOYMENTS)))],
                "tag": _TAGS[int(rng.integers(0, len(_TAGS)))],
                "status": st,
                "start": None if no_start else start,
                "end": end,
                "duration_s": dur,
                "created_at": start - timedelta(seconds=2),
                "updated_at": (end or start) + timedelta(seconds=1),
                "webhook_endpoint": None if i % 3 else f"https://hooks.example.com/{i}",
                "webhook_events": events,
                "metadata": metadata,
                "extra": None if i % 4 else '{"region":"eu"}',
            }
        )
    return sessions(rows)


def _status_weights() -> list[float]:
    weights = {"completed": 0.6, "failed": 0.1, "stopped": 0.1}
    rest = (1 - sum(weights.values())) / len(RUNNING_STATUSES)
    return [weights.get(s, rest) for s in _STATUSES]


def both(fn: Callable[..., Any], frame: pl.DataFrame, **kwargs: Any) -> pl.DataFrame:
    """Run a helper eagerly and lazily; check they agree and the kinds are kept."""
    eager = fn(frame, **kwargs)
    lazy = fn(frame.lazy(), **kwargs)
    assert isinstance(eager, pl.DataFrame)
    assert isinstance(lazy, pl.LazyFrame)
    collected = lazy.collect()
    assert collected.schema == eager.schema
    assert collected.equals(eager), (collected, eager)
    return eager


def helper_calls() -> list[tuple[str, Callable[..., Any], dict[str, Any]]]:
    """Every helper with representative arguments, for eager/lazy agreement checks."""
    from vsdk_analytics import (
        data_quality,
        duration_distribution,
        duration_histogram,
        peak_concurrency,
        sessions_over_time,
        status_breakdown,
        tag_counts,
        unnest_metadata,
        webhook_coverage,
    )

    now = T0 + timedelta(days=11)
    return [
        ("duration_distribution", duration_distribution, {"by": "tag"}),
        ("duration_histogram", duration_histogram, {"by": ["deployment_id", "status"]}),
        ("tag_counts", tag_counts, {"by": "deployment_id"}),
        ("status_breakdown", status_breakdown, {"by": "tag"}),
        ("sessions_over_time", sessions_over_time, {"every": "1d", "by": "tag"}),
        (
            "sessions_over_time_tz",
            sessions_over_time,
            {"every": "1h", "time_zone": "America/New_York"},
        ),
        ("peak_concurrency", peak_concurrency, {}),
        ("peak_concurrency_now", peak_concurrency, {"every": "6h", "now": now, "by": "tag"}),
        (
            "peak_concurrency_tz",
            peak_concurrency,
            {"every": "1d", "time_zone": "Asia/Kolkata", "by": "deployment_id"},
        ),
        ("unnest_metadata", unnest_metadata, {}),
        ("webhook_coverage", webhook_coverage, {"by": "deployment_id"}),
        ("data_quality", data_quality, {}),
        ("data_quality_now", data_quality, {"now": now}),
    ]
