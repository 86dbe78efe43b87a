"""Quality helpers (webhook coverage, data-quality checklist) against plain Python."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import polars as pl
import pytest

import vsdk_analytics._namespace  # noqa: F401  (registers .vsdk)
from tests._frames import at, both, empty, random_sessions, sessions
from vsdk_analytics._errors import ConfigurationError
from vsdk_analytics._helpers import DATA_QUALITY_CHECKS, data_quality, webhook_coverage
from vsdk_analytics._schema import WEBHOOK_EVENTS

STARTING = "ai-deployment-session-starting"
STARTED = "ai-deployment-session-started"
STOPPING = "ai-deployment-session-stopping"
STOPPED = "ai-deployment-session-stopped"
FAILED = "ai-deployment-session-failed"
KNOWN = [
    (STARTING, "starting"),
    (STARTED, "started"),
    (STOPPING, "stopping"),
    (STOPPED, "stopped"),
    (FAILED, "failed"),
]
FIXED_COLUMNS = ["sessions", "with_webhook", "without_webhook", "endpoints", "endpoint_list"]
CHECKS = [
    "duplicate_session_id",
    "null_session_id",
    "end_before_start",
    "duration_mismatch",
    "finished_without_end",
    "running_with_end",
    "updated_before_created",
    "stale_open_session",
    "failed_without_failed_webhook",
    "unknown_status",
    "extra_fields",
]


@pytest.fixture(scope="module")
def big() -> pl.DataFrame:
    return random_sessions(2000, seed=11)


def nulls_last(value: Any) -> tuple[bool, Any]:
    return (value is None, "" if value is None else value)


def assert_rows_equal(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert len(got) == len(expected)
    for row, want in zip(got, expected, strict=True):
        assert list(row) == list(want)
        for key, value in want.items():
            if isinstance(value, float):
                assert row[key] == pytest.approx(value, rel=1e-12), key
            else:
                assert row[key] == value, (key, row[key], value)


# ---------------------------------------------------------------------------
# webhook_coverage
# ---------------------------------------------------------------------------


def expected_coverage(
    rows: list[dict[str, Any]], groups: Sequence[str], events: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    """The coverage table in plain Python, ``events`` as ``(event, short name)``."""
    buckets: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        buckets[tuple(row[g] for g in groups)].append(row)
    if not groups:
        buckets.setdefault((), [])
    result = []
    for key in sorted(buckets, key=lambda k: [nulls_last(v) for v in k]):
        part = buckets[key]
        n = len(part)
        hooked = sum(
            r["webhook_endpoint"] is not None or r["webhook_events"] is not None for r in part
        )
        endpoints = sorted({r["webhook_endpoint"] for r in part} - {None})
        out: dict[str, Any] = dict(zip(groups, key, strict=True))
        out |= {
            "sessions": n,
            "with_webhook": hooked,
            "without_webhook": n - hooked,
            "endpoints": len(endpoints),
            "endpoint_list": endpoints,
        }
        for event, short in events:
            subscribed = sum(event in (r["webhook_events"] or []) for r in part)
            out[f"{short}_sessions"] = subscribed
            out[f"{short}_share"] = subscribed / n if n else None
        result.append(out)
    return result


def event_columns(events: list[tuple[str, str]]) -> list[str]:
    return [f"{short}_{kind}" for _, short in events for kind in ("sessions", "share")]


# Unknown events, in sorted (code point) order, with the short names the rule gives.
UNKNOWN = [
    ("!!!", "event"),  # nothing left after sanitizing
    ("Custom Event", "custom_event"),
    ("ai-deployment-session-Started", "started_2"),  # "started" is a known event's
    ("ai-deployment-session-paused", "paused"),
    ("custom.Event", "custom_event_2"),  # "custom_event" is taken by "Custom Event"
]

COVERAGE_ROWS: list[dict[str, Any]] = [
    # endpoint and events
    {"tag": "a", "deployment_id": "d1", "webhook_endpoint": "https://h/1",
     "webhook_events": [STARTED, FAILED]},
    {"tag": "a", "deployment_id": "d1", "webhook_endpoint": "https://h/2",
     "webhook_events": [FAILED, FAILED, None]},  # a repeat counts once, a null element none
    {"tag": "a", "deployment_id": "d2", "webhook_endpoint": "https://h/1",
     "webhook_events": [STARTING, STARTED, STOPPING, STOPPED, FAILED]},
    # events without an endpoint, an endpoint without events, an empty list, neither
    {"tag": "a", "deployment_id": "d2", "webhook_endpoint": None,
     "webhook_events": ["ai-deployment-session-paused"]},
    {"tag": "b", "deployment_id": "d1", "webhook_endpoint": "https://h/3",
     "webhook_events": None},
    {"tag": "b", "deployment_id": "d1", "webhook_endpoint": None, "webhook_events": []},
    {"tag": "b", "deployment_id": None, "webhook_endpoint": None, "webhook_events": None},
    {"tag": None, "deployment_id": "d2", "webhook_endpoint": "https://h/9",
     "webhook_events": ["custom.Event", "Custom Event", "!!!"]},
    {"tag": None, "deployment_id": "d2", "webhook_endpoint": None,
     "webhook_events": ["ai-deployment-session-Started", STOPPED]},
]  # fmt: skip


def test_coverage_columns_and_dtypes() -> None:
    result = both(webhook_coverage, sessions(COVERAGE_ROWS))
    events = KNOWN + UNKNOWN
    assert result.columns == [*FIXED_COLUMNS, *event_columns(events)]
    assert result.schema["endpoint_list"] == pl.List(pl.String())
    for name, dtype in result.schema.items():
        if name.endswith("_share"):
            assert dtype == pl.Float64(), name
        elif name != "endpoint_list":
            assert dtype == pl.Int64(), name
    assert tuple(e for e, _ in KNOWN) == WEBHOOK_EVENTS


@pytest.mark.parametrize("by", [None, "tag", ["deployment_id", "tag"]])
def test_coverage_matches_python(by: str | list[str] | None) -> None:
    frame = sessions(COVERAGE_ROWS)
    groups = [] if by is None else [by] if isinstance(by, str) else by
    result = both(webhook_coverage, frame, by=by)
    expected = expected_coverage(frame.to_dicts(), groups, KNOWN + UNKNOWN)
    assert_rows_equal(result.to_dicts(), expected)


def test_coverage_by_tag_spot_values() -> None:
    result = both(webhook_coverage, sessions(COVERAGE_ROWS), by="tag")
    assert result["tag"].to_list() == ["a", "b", None]
    a = result.row(0, named=True)
    assert (a["sessions"], a["with_webhook"], a["without_webhook"]) == (4, 4, 0)
    assert a["endpoint_list"] == ["https://h/1", "https://h/2"]
    assert a["failed_sessions"] == 3
    assert a["failed_share"] == pytest.approx(0.75)
    assert a["paused_sessions"] == 1
    b = result.row(1, named=True)
    # The empty event list counts as a webhook; the share is of all sessions.
    assert (b["sessions"], b["with_webhook"], b["without_webhook"]) == (3, 2, 1)
    assert b["endpoints"] == 1
    assert b["started_share"] == 0.0
    assert result["custom_event_2_sessions"].to_list() == [0, 0, 1]
    assert result["started_2_sessions"].to_list() == [0, 0, 1]


def test_coverage_without_webhooks_is_all_zero() -> None:
    frame = sessions([{"tag": t} for t in ["x", "y", "x"]])
    result = both(webhook_coverage, frame, by="tag")
    assert result.columns == ["tag", *FIXED_COLUMNS, *event_columns(KNOWN)]
    assert result["sessions"].to_list() == [2, 1]
    assert result["without_webhook"].to_list() == [2, 1]
    assert result["endpoint_list"].to_list() == [[], []]
    for _, short in KNOWN:
        assert result[f"{short}_sessions"].to_list() == [0, 0]
        assert result[f"{short}_share"].to_list() == [0.0, 0.0]


def test_coverage_empty_frame() -> None:
    overall = both(webhook_coverage, empty())
    assert overall.columns == [*FIXED_COLUMNS, *event_columns(KNOWN)]
    assert overall.to_dicts() == expected_coverage([], [], KNOWN)
    row = overall.row(0, named=True)
    assert row["sessions"] == 0
    assert row["endpoint_list"] == []
    assert row["failed_share"] is None
    grouped = both(webhook_coverage, empty(), by=["deployment_id", "tag"])
    assert grouped.height == 0
    assert grouped.columns[:2] == ["deployment_id", "tag"]
    assert grouped.drop("deployment_id", "tag").schema == overall.schema


def test_coverage_matches_python_on_random_frame(big: pl.DataFrame) -> None:
    result = both(webhook_coverage, big, by="deployment_id")
    expected = expected_coverage(big.to_dicts(), ["deployment_id"], KNOWN)
    assert_rows_equal(result.to_dicts(), expected)


@pytest.mark.parametrize(
    "by", ["nope", "sessions", "endpoint_list", "failed_share", "paused_sessions", ["tag", 1]]
)
def test_coverage_rejects_bad_by(by: Any) -> None:
    with pytest.raises(ConfigurationError):
        webhook_coverage(sessions(COVERAGE_ROWS), by=by)


def test_coverage_checks_the_columns_it_reads() -> None:
    with pytest.raises(ConfigurationError, match="webhook_events"):
        webhook_coverage(pl.DataFrame({"webhook_endpoint": ["x"]}))
    with pytest.raises(ConfigurationError, match="is String"):
        webhook_coverage(pl.DataFrame({"webhook_endpoint": ["x"], "webhook_events": ["y"]}))
    with pytest.raises(ConfigurationError, match="DataFrame or LazyFrame"):
        webhook_coverage({"webhook_endpoint": ["x"]})  # type: ignore[type-var]


# ---------------------------------------------------------------------------
# data_quality
# ---------------------------------------------------------------------------


def expected_quality(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The checklist in plain Python, one predicate per check."""
    counts = Counter(r["session_id"] for r in rows if r["session_id"] is not None)
    finished = {"completed", "stopped", "failed"}
    running = {"starting", "started", "running", "stopping"}

    def mismatch(r: dict[str, Any]) -> bool:
        if r["duration_s"] is None or r["start"] is None or r["end"] is None:
            return False
        elapsed = (r["end"] - r["start"]).total_seconds()
        return math.isnan(r["duration_s"]) or abs(r["duration_s"] - elapsed) > 1

    def before(r: dict[str, Any], a: str, b: str) -> bool:
        return r[a] is not None and r[b] is not None and r[a] < r[b]

    instants = [r[c] for r in rows for c in ("start", "end", "created_at", "updated_at")]
    snapshot = max((t for t in instants if t is not None), default=None)

    def stale(r: dict[str, Any]) -> bool:
        last = r["updated_at"] or r["created_at"] or r["start"]
        return (
            r["status"] in running
            and r["end"] is None
            and last is not None
            and snapshot is not None
            and last < snapshot - timedelta(hours=24)
        )

    predicates: dict[str, Callable[[dict[str, Any]], bool]] = {
        "duplicate_session_id": lambda r: counts.get(r["session_id"], 0) > 1,
        "null_session_id": lambda r: r["session_id"] is None,
        "end_before_start": lambda r: before(r, "end", "start"),
        "duration_mismatch": mismatch,
        "finished_without_end": lambda r: r["status"] in finished and r["end"] is None,
        "running_with_end": lambda r: r["status"] in running and r["end"] is not None,
        "updated_before_created": lambda r: before(r, "updated_at", "created_at"),
        "stale_open_session": stale,
        "failed_without_failed_webhook": lambda r: (
            r["status"] == "failed" and FAILED not in (r["webhook_events"] or [])
        ),
        "unknown_status": lambda r: r["status"] not in finished | running,
        "extra_fields": lambda r: r["extra"] is not None and r["extra"].strip() not in ("", "{}"),
    }
    result = []
    for check, predicate in predicates.items():
        ids = [r["session_id"] for r in rows if predicate(r)]
        examples = sorted({i for i in ids if i is not None})
        if None in ids:
            examples.append("<no id>")
        result.append({"check": check, "sessions": len(ids), "examples": examples[:5]})
    return result


def clean_row(session_id: str, hours: float) -> dict[str, Any]:
    start = at(hours)
    return {
        "session_id": session_id,
        "status": "completed",
        "start": start,
        "end": start + timedelta(seconds=90),
        "duration_s": 90.0,
        "created_at": start - timedelta(seconds=5),
        "updated_at": start + timedelta(seconds=91),
        "webhook_events": [FAILED],
        "extra": None,
    }


def clean_rows() -> list[dict[str, Any]]:
    rows = [clean_row(f"ok-{i}", i) for i in range(4)]
    rows[1] |= {"status": "running", "end": None, "duration_s": None}
    rows[2] |= {"status": "failed", "webhook_endpoint": "https://h/1"}
    # Within a second of end - start: not a mismatch (the bound is inclusive).
    rows[3] |= {"duration_s": 91.0, "extra": " {} "}
    return rows


def dirty_rows() -> list[dict[str, Any]]:
    """Every check fires at least once."""
    rows = clean_rows()
    r = [clean_row(f"bad-{i}", 10 + i) for i in range(17)]
    r[0] |= {"session_id": "dup"}
    r[1] |= {"session_id": "dup"}
    r[2] |= {"session_id": "dup", "status": "martian"}
    r[3] |= {"session_id": None}
    r[4] |= {"session_id": None, "status": None}
    r[5] |= {"end": at(9), "duration_s": None}  # end before start
    r[6] |= {"duration_s": 91.5}  # 1.5 s off
    r[7] |= {"duration_s": float("nan")}
    r[8] |= {"end": None, "duration_s": None}  # completed, no end
    r[9] |= {"status": "stopped", "end": None}  # and a duration without end: no mismatch
    r[10] |= {"status": "starting"}  # running with an end
    r[11] |= {"updated_at": at(9)}
    r[12] |= {"status": "failed", "webhook_events": None}
    r[13] |= {"status": "failed", "webhook_events": [STARTED, STOPPED]}
    r[14] |= {"status": "Completed", "extra": '{"region":"eu"}'}
    r[15] |= {"extra": "x"}
    # open, not updated for more than a day before the snapshot (bad-15's update)
    r[16] |= {"status": "running", "end": None, "duration_s": None}
    r[16] |= {"start": at(-30), "created_at": at(-30), "updated_at": at(-30)}
    return rows + r


def test_quality_every_check_fires() -> None:
    frame = sessions(dirty_rows())
    result = both(data_quality, frame)
    assert result.columns == ["check", "description", "sessions", "examples"]
    assert result.dtypes == [pl.String(), pl.String(), pl.Int64(), pl.List(pl.String())]
    assert result["check"].to_list() == CHECKS
    expected = expected_quality(frame.to_dicts())
    assert result.drop("description").to_dicts() == expected
    assert all(row["sessions"] > 0 for row in expected)


def test_quality_spot_values() -> None:
    result = data_quality(sessions(dirty_rows()))
    by_check = {row["check"]: row for row in result.iter_rows(named=True)}
    assert by_check["duplicate_session_id"]["sessions"] == 3
    assert by_check["duplicate_session_id"]["examples"] == ["dup"]
    assert by_check["null_session_id"]["examples"] == ["<no id>"]
    assert by_check["duration_mismatch"]["examples"] == ["bad-6", "bad-7"]
    assert by_check["unknown_status"]["sessions"] == 3  # "martian", null, "Completed"
    assert by_check["unknown_status"]["examples"] == ["bad-14", "dup", "<no id>"]
    assert by_check["failed_without_failed_webhook"]["examples"] == ["bad-12", "bad-13"]
    assert by_check["extra_fields"]["examples"] == ["bad-14", "bad-15"]


def test_quality_clean_frame_is_all_zero() -> None:
    frame = sessions(clean_rows())
    result = both(data_quality, frame)
    assert result["check"].to_list() == CHECKS
    assert result["sessions"].to_list() == [0] * len(CHECKS)
    assert result["examples"].to_list() == [[]] * len(CHECKS)
    assert result.drop("description").to_dicts() == expected_quality(frame.to_dicts())


def test_quality_empty_frame_lists_every_check() -> None:
    result = both(data_quality, empty())
    assert result.rows() == [(c, d, 0, []) for c, d in DATA_QUALITY_CHECKS]
    assert result.dtypes == [pl.String(), pl.String(), pl.Int64(), pl.List(pl.String())]


def test_quality_examples_are_five_sorted_distinct_ids() -> None:
    ids = ["s9", "s3", None, "s3", "s7", "s1", "s5", "s2", None]
    frame = sessions([{"session_id": i, "status": "unheard-of"} for i in ids])
    row = both(data_quality, frame).filter(pl.col("check") == "unknown_status").row(0)
    assert row[2:] == (9, ["s1", "s2", "s3", "s5", "s7"])
    few = sessions([{"session_id": i, "status": None} for i in ["b", None, "a"]])
    row = data_quality(few).filter(pl.col("check") == "unknown_status").row(0)
    assert row[2:] == (3, ["a", "b", "<no id>"])


def test_quality_descriptions_are_the_documented_ones() -> None:
    result = data_quality(empty())
    assert list(zip(result["check"], result["description"], strict=True)) == list(
        DATA_QUALITY_CHECKS
    )
    assert all(c.isidentifier() and c == c.lower() for c in CHECKS)


def test_quality_matches_python_on_random_frame(big: pl.DataFrame) -> None:
    messy = pl.concat([big, big.head(7), big.tail(3).with_columns(session_id=None)])
    result = both(data_quality, messy)
    assert result.drop("description").to_dicts() == expected_quality(messy.to_dicts())


def test_quality_checks_the_columns_it_reads() -> None:
    with pytest.raises(ConfigurationError, match="extra"):
        data_quality(empty().drop("extra"))
    with pytest.raises(ConfigurationError, match="is String"):
        data_quality(empty().with_columns(pl.col("start").cast(pl.String())))


# ---------------------------------------------------------------------------
# The .vsdk namespace
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "function", "kwargs"),
    [
        ("webhook_coverage", webhook_coverage, {}),
        ("webhook_coverage", webhook_coverage, {"by": "tag"}),
        ("data_quality", data_quality, {}),
    ],
)
def test_namespace_equals_function(
    big: pl.DataFrame, name: str, function: Callable[..., Any], kwargs: dict[str, Any]
) -> None:
    frame = pl.concat([big.head(300), sessions(dirty_rows())], how="vertical")
    expected = function(frame, **kwargs)
    eager = getattr(frame.vsdk, name)(**kwargs)
    lazy = getattr(frame.lazy().vsdk, name)(**kwargs)
    assert isinstance(eager, pl.DataFrame)
    assert isinstance(lazy, pl.LazyFrame)
    assert eager.equals(expected)
    assert lazy.collect().equals(expected)


def test_stale_open_sessions_are_judged_against_the_snapshot() -> None:
    rows = [clean_row("done", 0), clean_row("stale", 1), clean_row("fresh", 30)]
    rows[1] |= {"status": "running", "end": None, "duration_s": None}
    rows[2] |= {"status": "started", "end": None, "duration_s": None}
    frame = sessions(rows)
    result = both(data_quality, frame)
    stale = result.filter(pl.col("check") == "stale_open_session").row(0, named=True)
    assert (stale["sessions"], stale["examples"]) == (1, ["stale"])
    later = both(data_quality, frame, now=at(60))
    stale = later.filter(pl.col("check") == "stale_open_session").row(0, named=True)
    assert (stale["sessions"], stale["examples"]) == (2, ["fresh", "stale"])
