"""Time zones in the helpers and charts: local days and hours across DST, against zoneinfo."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests._frames import both, sessions
from vsdk_analytics._errors import ConfigurationError
from vsdk_analytics._helpers import peak_concurrency, sessions_over_time

UTC = timezone.utc
# 2025-03-09 (23 h) and 2025-11-02 (25 h) are New York's DST days; Kolkata is +05:30 all year.
WINDOWS = [datetime(2025, 3, 8, tzinfo=UTC), datetime(2025, 11, 1, tzinfo=UTC)]
ZONES = ["America/New_York", "Asia/Kolkata"]


def frame_around_dst() -> pl.DataFrame:
    rows = []
    for first in WINDOWS:
        for i in range(0, 3 * 24 * 60, 7):  # every 7 minutes for three days
            start = first + timedelta(minutes=i)
            rows.append(
                {
                    "start": start,
                    "end": start + timedelta(minutes=5),
                    "duration_s": 300.0,
                    "status": "completed",
                    "updated_at": start + timedelta(minutes=5),
                }
            )
    return sessions(rows)


def local_period(instant: datetime, zone: str, every: str) -> datetime:
    """The start of the local day or hour holding ``instant``, as a UTC instant."""
    local = instant.astimezone(ZoneInfo(zone))
    if every == "1d":
        start = datetime(local.year, local.month, local.day, tzinfo=ZoneInfo(zone))
    else:
        start = local.replace(minute=0, second=0, microsecond=0)  # keeps fold: 01:00 twice
    return start.astimezone(UTC)


def utc_list(series: pl.Series) -> list[datetime]:
    # Aware datetimes sharing one tzinfo compare by wall clock (ignoring fold), so the
    # two 01:00 of a fall-back night would look equal: compare instants in UTC.
    return series.dt.convert_time_zone("UTC").to_list()


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("every", ["1d", "1h"])
def test_sessions_over_time_buckets_like_zoneinfo(zone: str, every: str) -> None:
    frame = frame_around_dst()
    result = both(sessions_over_time, frame, every=every, time_zone=zone)
    assert result.schema["period_start"] == pl.Datetime("us", zone)
    expected = Counter(local_period(t, zone, every) for t in frame["start"].to_list())
    got = dict(zip(utc_list(result["period_start"]), result["sessions"].to_list(), strict=True))
    assert {k: v for k, v in got.items() if v} == dict(expected)
    assert sum(got.values()) == frame.height
    # Labels are local midnight or the local hour.
    local = result["period_start"].to_list()
    assert all(t.minute == 0 and (every == "1h" or t.hour == 0) for t in local)


def test_new_york_dst_days_have_23_and_25_hours() -> None:
    result = sessions_over_time(frame_around_dst(), every="1d", time_zone="America/New_York")
    starts = utc_list(result["period_start"])
    lengths = {
        a.astimezone(ZoneInfo("America/New_York")).date().isoformat(): (b - a) / timedelta(hours=1)
        for a, b in itertools.pairwise(starts)
    }
    assert lengths["2025-03-09"] == 23
    assert lengths["2025-11-02"] == 25
    assert lengths["2025-03-08"] == lengths["2025-11-01"] == 24
    hourly = sessions_over_time(frame_around_dst(), every="1h", time_zone="America/New_York")
    local_days = Counter(
        t.astimezone(ZoneInfo("America/New_York")).date().isoformat()
        for t in utc_list(hourly["period_start"])
    )
    assert local_days["2025-03-09"] == 23
    assert local_days["2025-11-02"] == 25


def test_kolkata_hours_start_at_half_past_utc() -> None:
    result = sessions_over_time(frame_around_dst(), every="1h", time_zone="Asia/Kolkata")
    assert {t.minute for t in utc_list(result["period_start"])} == {30}


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("every", ["1d", "1h"])
def test_peak_concurrency_uses_the_same_local_periods(zone: str, every: str) -> None:
    frame = frame_around_dst()
    peaks = both(peak_concurrency, frame, every=every, time_zone=zone)
    counts = sessions_over_time(frame, every=every, time_zone=zone)
    assert peaks.schema["period_start"] == peaks.schema["peak_at"] == pl.Datetime("us", zone)
    busy = counts.filter(pl.col("sessions") > 0)["period_start"]
    assert set(utc_list(busy)) <= set(utc_list(peaks["period_start"]))
    # Sessions of 5 minutes every 7 minutes never overlap.
    assert set(peaks["peak_sessions"].to_list()) <= {0, 1}
    for p, peak_at in zip(utc_list(peaks["period_start"]), utc_list(peaks["peak_at"]), strict=True):
        assert peak_at is None or local_period(peak_at, zone, every) == p


# Lord Howe moves its clocks by 30 minutes: back at 02:00 on 2024-04-07 (+11:00 to
# +10:30), forward at 02:00 on 2024-10-06. Its local hours then start at :30 UTC.
LORD_HOWE_WINDOWS = [datetime(2024, 4, 5, 12, tzinfo=UTC), datetime(2024, 10, 4, 12, tzinfo=UTC)]


def frame_around_lord_howe_shifts() -> pl.DataFrame:
    starts = [
        first + timedelta(minutes=i)
        for first in LORD_HOWE_WINDOWS
        for i in range(0, 3 * 24 * 60, 7)
    ]
    return sessions(
        [
            {"start": t, "end": t + timedelta(minutes=5), "updated_at": t + timedelta(minutes=5)}
            for t in starts
        ]
    )


def zoneinfo_periods(lo: datetime, hi: datetime, zone: str, every: str) -> list[datetime]:
    """Every local period start from ``lo``'s to ``hi``'s (offsets change on quarter hours)."""
    found = set()
    t = lo
    while t <= hi:
        found.add(local_period(t, zone, every))
        t += timedelta(minutes=15)
    return sorted(found)


@pytest.mark.parametrize("every", ["1d", "1h"])
def test_periods_follow_a_30_minute_dst_shift(every: str) -> None:
    zone = "Australia/Lord_Howe"
    frame = frame_around_lord_howe_shifts()
    result = both(sessions_over_time, frame, every=every, time_zone=zone)
    got = dict(zip(utc_list(result["period_start"]), result["sessions"].to_list(), strict=True))
    expected = Counter(local_period(t, zone, every) for t in frame["start"].to_list())
    assert {k: v for k, v in got.items() if v} == dict(expected)
    assert sum(got.values()) == frame.height  # no session left out
    first, last = frame["start"].min(), frame["start"].max()
    assert isinstance(first, datetime) and isinstance(last, datetime)
    assert list(got) == zoneinfo_periods(first, last, zone, every)  # and no period missing
    if every == "1h":
        assert {t.minute for t in got} == {0, 30}
    peaks = both(peak_concurrency, frame, every=every, time_zone=zone)
    assert set(utc_list(peaks["period_start"])) >= {k for k, v in got.items() if v}
    for p, peak_at in zip(utc_list(peaks["period_start"]), utc_list(peaks["peak_at"]), strict=True):
        assert peak_at is None or local_period(peak_at, zone, every) == p


def test_utc_is_the_default_and_bad_zones_are_refused() -> None:
    frame = frame_around_dst()
    assert sessions_over_time(frame).equals(sessions_over_time(frame, time_zone="UTC"))
    for helper in (sessions_over_time, peak_concurrency):
        with pytest.raises(ConfigurationError, match="unknown time zone"):
            helper(frame, every="1d", time_zone="Mars/Olympus")


@settings(deadline=None, max_examples=40)
@given(
    st.lists(
        st.datetimes(
            min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
        ),
        min_size=1,
        max_size=30,
    ),
    st.sampled_from(["America/New_York", "Asia/Kolkata", "Europe/London", "Australia/Lord_Howe"]),
    st.sampled_from(["1d", "1h"]),
)
def test_any_instant_lands_in_its_zoneinfo_period(
    starts: list[datetime], zone: str, every: str
) -> None:
    frame = sessions([{"start": t} for t in starts])
    result = sessions_over_time(frame, every=every, time_zone=zone)
    got = dict(zip(utc_list(result["period_start"]), result["sessions"].to_list(), strict=True))
    expected = Counter(local_period(t, zone, every) for t in frame["start"].to_list())
    assert {k: v for k, v in got.items() if v} == dict(expected)
