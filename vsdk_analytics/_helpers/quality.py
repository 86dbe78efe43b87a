"""Quality helpers: webhook coverage and a data-quality checklist of a sessions frame.

They follow the conventions of every helper (see `vsdk_analytics._helpers`): a
`polars.DataFrame` or `polars.LazyFrame` in gives the same kind out (the work is
planned lazily and collected only when the input was eager), ``by=`` group columns
come first, results are sorted deterministically, an empty input gives a typed
result, and counts are ``Int64``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Final

import polars as pl

from vsdk_analytics._schema import (
    FINISHED_STATUSES,
    KNOWN_STATUSES,
    RUNNING_STATUSES,
    WEBHOOK_EVENTS,
)

from .frames import (
    COUNT,
    UTC_US,
    By,
    FrameT,
    check_columns,
    finish,
    group_columns,
    schema_of,
    sort_result,
)
from .timeline import now_expr

__all__ = [
    "DATA_QUALITY_CHECKS",
    "STALE_AFTER",
    "data_quality",
    "webhook_coverage",
]

_EVENT_PREFIX: Final = "ai-deployment-session-"
_FAILED_EVENT: Final = _EVENT_PREFIX + "failed"
_NOT_NAME_RE: Final = re.compile(r"[^a-z0-9]+")
_NO_ID: Final = "<no id>"
_MAX_EXAMPLES: Final = 5

STALE_AFTER: Final = timedelta(hours=24)
"""An open session not updated for this long before the snapshot counts as stale."""

DATA_QUALITY_CHECKS: Final[tuple[tuple[str, str], ...]] = (
    (
        "duplicate_session_id",
        "session_id shared by more than one row (every such row counts; null ids do not)",
    ),
    ("null_session_id", "session_id is null"),
    ("end_before_start", "end is before start"),
    ("duration_mismatch", "duration_s differs from end - start by more than 1 second"),
    (
        "finished_without_end",
        f"finished status ({', '.join(sorted(FINISHED_STATUSES))}) but no end",
    ),
    (
        "running_with_end",
        f"running status ({', '.join(sorted(RUNNING_STATUSES))}) but an end",
    ),
    ("updated_before_created", "updated_at is before created_at"),
    (
        "stale_open_session",
        f"open status ({', '.join(sorted(RUNNING_STATUSES))}), no end, and last updated "
        "more than 24 h before the snapshot time",
    ),
    (
        "failed_without_failed_webhook",
        f"status failed but not subscribed to the {_FAILED_EVENT} webhook event",
    ),
    ("unknown_status", "status is null or not one of the statuses this library knows"),
    ("extra_fields", "extra holds source fields that did not fit the schema"),
)
"""The checks of `data_quality` as ``(check, description)`` pairs, in result order."""


# ---------------------------------------------------------------------------
# Webhook coverage
# ---------------------------------------------------------------------------


def _event_names(unknown: list[str]) -> list[tuple[str, str]]:
    """``(event, short name)`` for the known events, then the unknown ones in sorted order."""
    names = [(event, event.removeprefix(_EVENT_PREFIX)) for event in WEBHOOK_EVENTS]
    taken = {short for _, short in names}
    for event in sorted(unknown):
        base = _NOT_NAME_RE.sub("_", event.removeprefix(_EVENT_PREFIX).lower()).strip("_")
        base = base or "event"
        short, n = base, 1
        while short in taken:
            n += 1
            short = f"{base}_{n}"
        taken.add(short)
        names.append((event, short))
    return names


def webhook_coverage(frame: FrameT, *, by: By = None) -> FrameT:
    """How many sessions have a webhook, to how many endpoints, and for which events.

    A session *has a webhook* when its ``webhook_endpoint`` or its ``webhook_events``
    is not null (an empty event list counts). A session *subscribes* to an event when
    the event is in its ``webhook_events`` (listed twice, it still counts once).

    Besides the five documented `WEBHOOK_EVENTS` (always present, in lifecycle order),
    every other event found anywhere in the frame gets its own columns, after the
    known ones, in sorted event order. Its short name is the event without the
    ``ai-deployment-session-`` prefix, lowercased, every run of characters other than
    ``a-z`` and ``0-9`` replaced by ``_`` and leading or trailing ``_`` dropped ("" gives
    ``event``); a name already taken (by a known event or an earlier unknown one) gets
    ``_2``, ``_3``... (``ai-deployment-session-paused`` -> ``paused_sessions``,
    ``custom.Event`` -> ``custom_event_sessions``). Every group gets the same columns.

    For a LazyFrame the events present are found first by collecting the distinct
    events (one small query); the rest stays lazy.

    Parameters
    ----------
    frame
        A sessions frame; ``webhook_endpoint``, ``webhook_events`` (and the ``by``
        columns) are read.
    by
        Group column(s); without it the result has exactly one row, also for an
        empty frame (counts 0, shares null).

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        The group columns, then ``sessions`` (Int64, every row), ``with_webhook``
        (Int64), ``without_webhook`` (Int64), ``endpoints`` (Int64, distinct non-null
        endpoints), ``endpoint_list`` (List(String), those endpoints sorted), then per
        event ``<short>_sessions`` (Int64, sessions subscribing) and ``<short>_share``
        (Float64, of *all* the group's sessions, not only those with a webhook; null
        when the group has no session): ``starting``, ``started``, ``stopping``,
        ``stopped``, ``failed``, then the unknown events. Sorted by the group columns,
        nulls last.

    Raises
    ------
    ConfigurationError
        Unknown ``by`` columns or ones named like a result column, or mistyped columns.

    Examples
    --------
    >>> import polars as pl
    >>> frame = pl.DataFrame(
    ...     {
    ...         "tag": ["a", "a", "a", "b"],
    ...         "webhook_endpoint": ["https://h/1", "https://h/1", None, "https://h/2"],
    ...         "webhook_events": [
    ...             ["ai-deployment-session-failed"],
    ...             ["ai-deployment-session-started", "ai-deployment-session-failed"],
    ...             None,
    ...             ["custom.Event"],
    ...         ],
    ...     }
    ... )
    >>> result = webhook_coverage(frame, by="tag")
    >>> result.select("tag", "sessions", "with_webhook", "endpoints", "endpoint_list")
    shape: (2, 5)
    ┌─────┬──────────┬──────────────┬───────────┬─────────────────┐
    │ tag ┆ sessions ┆ with_webhook ┆ endpoints ┆ endpoint_list   │
    │ --- ┆ ---      ┆ ---          ┆ ---       ┆ ---             │
    │ str ┆ i64      ┆ i64          ┆ i64       ┆ list[str]       │
    ╞═════╪══════════╪══════════════╪═══════════╪═════════════════╡
    │ a   ┆ 3        ┆ 2            ┆ 1         ┆ ["https://h/1"] │
    │ b   ┆ 1        ┆ 1            ┆ 1         ┆ ["https://h/2"] │
    └─────┴──────────┴──────────────┴───────────┴─────────────────┘
    >>> result.select("tag", "failed_sessions", "failed_share", "custom_event_sessions")
    shape: (2, 4)
    ┌─────┬─────────────────┬──────────────┬───────────────────────┐
    │ tag ┆ failed_sessions ┆ failed_share ┆ custom_event_sessions │
    │ --- ┆ ---             ┆ ---          ┆ ---                   │
    │ str ┆ i64             ┆ f64          ┆ i64                   │
    ╞═════╪═════════════════╪══════════════╪═══════════════════════╡
    │ a   ┆ 2               ┆ 0.666667     ┆ 0                     │
    │ b   ┆ 0               ┆ 0.0          ┆ 1                     │
    └─────┴─────────────────┴──────────────┴───────────────────────┘
    >>> result.columns[6:]
    ['starting_sessions', 'starting_share', 'started_sessions', 'started_share',
     'stopping_sessions', 'stopping_share', 'stopped_sessions', 'stopped_share',
     'failed_sessions', 'failed_share', 'custom_event_sessions', 'custom_event_share']
    """
    return finish(_webhook_coverage(frame, by), frame)


def _webhook_coverage(frame: pl.DataFrame | pl.LazyFrame, by: By) -> pl.LazyFrame:
    schema = schema_of(frame)
    check_columns(
        schema,
        {"webhook_endpoint": pl.String(), "webhook_events": pl.List(pl.String())},
        "webhook_coverage",
    )
    lf = frame.lazy()
    seen = (
        lf.select(pl.col("webhook_events").explode().drop_nulls().unique())
        .collect()
        .get_column("webhook_events")
        .to_list()
    )
    known = set(WEBHOOK_EVENTS)
    events = _event_names([e for e in seen if e not in known])
    event_columns = [f"{short}_{kind}" for _, short in events for kind in ("sessions", "share")]
    fixed = ["sessions", "with_webhook", "without_webhook", "endpoints", "endpoint_list"]
    groups = group_columns(by, schema, reserved=[*fixed, *event_columns])

    endpoint = pl.col("webhook_endpoint")
    has_webhook = endpoint.is_not_null() | pl.col("webhook_events").is_not_null()
    endpoint_list = endpoint.drop_nulls().unique().sort()
    aggregations = [
        pl.len().cast(COUNT).alias("sessions"),
        has_webhook.sum().cast(COUNT).alias("with_webhook"),
        has_webhook.not_().sum().cast(COUNT).alias("without_webhook"),
        endpoint.drop_nulls().n_unique().cast(COUNT).alias("endpoints"),
        (endpoint_list if groups else endpoint_list.implode()).alias("endpoint_list"),
        *(
            pl.col("webhook_events")
            .list.contains(pl.lit(event, dtype=pl.String()))
            .sum()
            .cast(COUNT)
            .alias(f"{short}_sessions")
            for event, short in events
        ),
    ]
    counted = lf.group_by(groups).agg(aggregations) if groups else lf.select(aggregations)
    sessions = pl.col("sessions")
    shares = [
        pl.when(sessions > 0)
        .then(pl.col(f"{short}_sessions") / sessions)
        .otherwise(None)
        .cast(pl.Float64())
        .alias(f"{short}_share")
        for _, short in events
    ]
    result = counted.with_columns(shares).select(*groups, *fixed, *event_columns)
    return sort_result(result, groups)


# ---------------------------------------------------------------------------
# Data quality
# ---------------------------------------------------------------------------


def _quality_flags(now: datetime | None) -> list[pl.Expr]:
    """One Boolean expression per check of `DATA_QUALITY_CHECKS`, in that order."""
    session_id = pl.col("session_id")
    status = pl.col("status")
    start, end = pl.col("start"), pl.col("end")
    elapsed_s = (end - start).dt.total_microseconds().cast(pl.Float64()) / 1_000_000
    extra = pl.col("extra")
    subscribed_failed = (
        pl.col("webhook_events").list.contains(pl.lit(_FAILED_EVENT, dtype=pl.String()))
    ).fill_null(False)
    return [
        session_id.is_not_null() & session_id.is_duplicated(),
        session_id.is_null(),
        end < start,
        (pl.col("duration_s") - elapsed_s).abs() > 1.0,
        status.is_in(sorted(FINISHED_STATUSES)) & end.is_null(),
        status.is_in(sorted(RUNNING_STATUSES)) & end.is_not_null(),
        pl.col("updated_at") < pl.col("created_at"),
        status.is_in(sorted(RUNNING_STATUSES))
        & end.is_null()
        & (pl.coalesce("updated_at", "created_at", "start") < now_expr(now) - STALE_AFTER),
        (status == "failed") & subscribed_failed.not_(),
        status.is_null() | status.is_in(sorted(KNOWN_STATUSES)).not_(),
        extra.is_not_null() & extra.str.strip_chars().is_in(["", "{}"]).not_(),
    ]


def data_quality(frame: FrameT, *, now: datetime | None = None) -> FrameT:
    """A checklist of data problems: one row per check, 0 sessions when it is clean.

    Every check is always listed, in this order (see `DATA_QUALITY_CHECKS`):

    - ``duplicate_session_id``: rows whose ``session_id`` is on more than one row
      (all of those rows count; a null id is not a duplicate, see the next check);
    - ``null_session_id``: ``session_id`` is null;
    - ``end_before_start``: ``end`` < ``start``;
    - ``duration_mismatch``: ``duration_s`` differs from ``end - start`` by more than
      1 second (only rows with all three; a NaN duration always differs);
    - ``finished_without_end``: a finished status (completed, failed, stopped) and no
      ``end``;
    - ``running_with_end``: a running status (running, started, starting, stopping)
      and an ``end``;
    - ``updated_before_created``: ``updated_at`` < ``created_at``;
    - ``stale_open_session``: an open status (running, started, starting, stopping),
      no ``end``, and the last update (``updated_at``, else ``created_at``, else
      ``start``) more than `STALE_AFTER` (24 h) before ``now``: a session the API
      still calls open that has most likely ended unseen;
    - ``failed_without_failed_webhook``: status "failed" and
      ``ai-deployment-session-failed`` not in ``webhook_events`` (a session without
      any webhook counts: nobody was told it failed);
    - ``unknown_status``: a status not among the known ones (exact, case-sensitive
      match); a null status counts as unknown;
    - ``extra_fields``: a non-empty ``extra`` (not null, and not "" or "{}" once
      surrounding whitespace is stripped).

    A comparison with a null side does not fire (a missing ``end`` is not before
    ``start``). All checks are vectorized Polars expressions; the frame is read once.

    Parameters
    ----------
    frame
        A sessions frame; ``session_id``, ``status``, ``start``, ``end``,
        ``duration_s``, ``created_at``, ``updated_at``, ``webhook_events`` and ``extra``
        are read.
    now
        The instant stale open sessions are judged against. Default: the frame's
        snapshot time (its latest ``start``, ``end``, ``created_at`` or
        ``updated_at``), never the wall clock.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        Eleven rows in the order above: ``check`` (String, a stable snake_case id),
        ``description`` (String), ``sessions`` (Int64, offending rows) and
        ``examples`` (List(String): up to five distinct offending session ids, sorted,
        a null id last and shown as "<no id>"; empty when the check is clean).

    Raises
    ------
    ConfigurationError
        Missing or mistyped columns, or a naive ``now``.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, timezone
    >>> from vsdk_analytics import SESSIONS_SCHEMA
    >>> t = lambda m: datetime(2025, 6, 18, 9, m, tzinfo=timezone.utc)
    >>> rows = [
    ...     {"session_id": "s1", "status": "completed", "start": t(0), "end": t(1),
    ...      "duration_s": 60.0, "created_at": t(0), "updated_at": t(1)},
    ...     {"session_id": "s2", "status": "failed", "start": t(5), "end": t(4),
    ...      "duration_s": 3.0, "created_at": t(5), "updated_at": t(5)},
    ...     {"session_id": None, "status": "running", "start": t(0),
    ...      "created_at": t(0), "updated_at": t(0)},
    ... ]
    >>> frame = pl.DataFrame(rows, schema=SESSIONS_SCHEMA)
    >>> result = data_quality(frame)
    >>> result.height
    11
    >>> result.filter(pl.col("sessions") > 0).drop("description")
    shape: (4, 3)
    ┌───────────────────────────────┬──────────┬─────────────┐
    │ check                         ┆ sessions ┆ examples    │
    │ ---                           ┆ ---      ┆ ---         │
    │ str                           ┆ i64      ┆ list[str]   │
    ╞═══════════════════════════════╪══════════╪═════════════╡
    │ null_session_id               ┆ 1        ┆ ["<no id>"] │
    │ end_before_start              ┆ 1        ┆ ["s2"]      │
    │ duration_mismatch             ┆ 1        ┆ ["s2"]      │
    │ failed_without_failed_webhook ┆ 1        ┆ ["s2"]      │
    └───────────────────────────────┴──────────┴─────────────┘
    """
    return finish(_data_quality(frame, now), frame)


def _data_quality(frame: pl.DataFrame | pl.LazyFrame, now: datetime | None) -> pl.LazyFrame:
    schema = schema_of(frame)
    check_columns(
        schema,
        {
            "session_id": pl.String(),
            "status": pl.String(),
            "start": UTC_US,
            "end": UTC_US,
            "duration_s": pl.Float64(),
            "created_at": UTC_US,
            "updated_at": UTC_US,
            "webhook_events": pl.List(pl.String()),
            "extra": pl.String(),
        },
        "data_quality",
    )
    session_id = pl.col("session_id")
    aggregations = []
    for i, (flag, _) in enumerate(zip(_quality_flags(now), DATA_QUALITY_CHECKS, strict=True)):
        offending = flag.fill_null(False)
        aggregations += [
            offending.sum().cast(COUNT).alias(f"_sessions_{i}"),
            session_id.filter(offending)
            .unique()
            .sort(nulls_last=True)
            .head(_MAX_EXAMPLES)
            .fill_null(_NO_ID)
            .implode()
            .alias(f"_examples_{i}"),
        ]
    summary = frame.lazy().select(aggregations)
    rows = [
        summary.select(
            pl.lit(i, dtype=pl.Int64()).alias("_order"),
            pl.lit(check, dtype=pl.String()).alias("check"),
            pl.lit(description, dtype=pl.String()).alias("description"),
            pl.col(f"_sessions_{i}").alias("sessions"),
            pl.col(f"_examples_{i}").alias("examples"),
        )
        for i, (check, description) in enumerate(DATA_QUALITY_CHECKS)
    ]
    return pl.concat(rows).sort("_order").drop("_order")
