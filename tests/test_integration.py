"""Integration: the real fetcher against the fake VideoSDK server over HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio

import polars as pl
import pytest

import vsdk_analytics as va
from tests._fetching import fetch_with_stats
from vsdk_analytics.testing import FakeServer

pytestmark = pytest.mark.integration


def test_every_session_exactly_once_under_clamp_latency_errors_429s_and_inserts() -> None:
    """The fetcher issue's acceptance scenario, end to end over real HTTP."""
    with FakeServer(
        sessions=10_000,
        seed=7,
        max_per_page=100,
        latency=0.05,
        error_rate=0.10,
        rate_limit=30.0,
        rate_burst=10,
        insert_every=20,
    ) as server:
        original = set(server.api.session_ids())
        frame, stats = asyncio.run(
            fetch_with_stats(
                server.credentials(),
                base_url=server.url,
                per_page=500,
                max_concurrency=8,
                progress=False,
            )
        )
        fake = server.stats
    assert frame.schema == va.SESSIONS_SCHEMA
    ids = frame.get_column("session_id")
    assert ids.n_unique() == frame.height  # nothing twice
    assert original <= set(ids.to_list())  # nothing missed
    assert len(fake.inserted) > 0  # sessions really arrived while paging
    assert fake.statuses.get(503, 0) + fake.statuses.get(500, 0) > 0
    assert fake.statuses.get(429, 0) > 0
    assert 1 < fake.peak_in_flight <= 8  # concurrency happened, within the bound
    assert stats.per_page == 100  # the clamp the server echoed
    assert stats.retries > 0


def test_sync_api_matches_async_and_is_sorted() -> None:
    with FakeServer(sessions=1_500, max_per_page=200) as server:
        creds = server.credentials()
        a = va.fetch_sessions(creds, base_url=server.url, progress=False)
        b = asyncio.run(va.fetch_sessions_async(creds, base_url=server.url, progress=False))
    assert a.equals(b)
    assert a.height == 1_500
    key = a.select(pl.col("created_at").dt.epoch("us"), "session_id")
    assert key.equals(key.sort(["created_at", "session_id"], descending=[True, False]))


def test_both_transports_give_the_same_frame() -> None:
    with FakeServer(sessions=800, max_per_page=100) as server:
        creds = server.credentials()
        a = va.fetch_sessions(creds, base_url=server.url, progress=False, transport="aiohttp")
        b = va.fetch_sessions(creds, base_url=server.url, progress=False, transport="httpx")
    assert a.equals(b)


def test_zero_sessions_give_the_schema() -> None:
    with FakeServer(sessions=0) as server:
        frame = va.fetch_sessions(server.credentials(), base_url=server.url, progress=False)
    assert frame.height == 0
    assert frame.schema == va.SESSIONS_SCHEMA


def test_fake_data_round_trips_through_the_normalizer() -> None:
    """Running sessions have no end/duration; absent webhooks, tags and metadata are null."""
    with FakeServer(sessions=3_000, seed=3) as server:
        frame = va.fetch_sessions(server.credentials(), base_url=server.url, progress=False)
        truth = {s.session_id: s.to_dict() for s in server.api.sessions_snapshot()}
    assert frame.get_column("extra").null_count() == frame.height
    for row in frame.sample(300, seed=1).iter_rows(named=True):
        rec = truth[row["session_id"]]
        assert row["status"] == rec["status"]
        assert row["tag"] == rec.get("tag")
        assert (row["end"] is None) == ("end" not in rec)
        if "duration" in rec:
            assert row["duration_s"] == float(rec["duration"])
        assert row["webhook_events"] == (rec.get("webhook") or {}).get("events")
        assert (row["metadata"] is None) == (rec.get("metadata") is None)


def test_a_seven_day_fetch_of_a_long_history_requests_only_the_pages_it_needs() -> None:
    from datetime import timedelta

    from vsdk_analytics.testing import DEFAULT_NOW, FakeVideoSDK, generate_sessions

    history = generate_sessions(20_000, seed=11, span_days=365)
    since = DEFAULT_NOW - timedelta(days=7)
    with FakeServer(FakeVideoSDK(history, max_per_page=100)) as server:
        frame, stats = asyncio.run(
            fetch_with_stats(
                server.credentials(),
                base_url=server.url,
                per_page=100,
                max_concurrency=4,
                progress=False,
                since=since,
            )
        )
        requested = server.stats.list_requests
        truth = {
            s.session_id
            for s in server.api.sessions_snapshot()
            if s.created_ms >= int(since.timestamp() * 1000)
        }
    assert set(frame.get_column("session_id").to_list()) == truth
    assert frame.get_column("created_at").min() >= since  # type: ignore[operator]
    needed = -(-len(truth) // 100) + 1  # the pages holding the range, and the one past it
    assert stats.early_stop
    assert requested <= needed + 4 + 1  # one window of max_concurrency more, one probe
    assert requested < 200 / 10  # a full fetch would be 200 pages
