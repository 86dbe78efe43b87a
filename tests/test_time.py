"""The one parser of instants people type (`vsdk_analytics._time`)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vsdk_analytics._errors import ConfigurationError
from vsdk_analytics._time import check_time_zone, parse_instant

UTC = timezone.utc
NOW = datetime(2025, 6, 18, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "zone", "expected"),
    [
        ("2025-06-18T09:30:00Z", "UTC", datetime(2025, 6, 18, 9, 30, tzinfo=UTC)),
        ("2025-06-18T09:30:00.5+02:00", "UTC", datetime(2025, 6, 18, 7, 30, 0, 500000, UTC)),
        (" 2025-06-18t09:30:00z ", "UTC", datetime(2025, 6, 18, 9, 30, tzinfo=UTC)),
        ("2025-06-18", "UTC", datetime(2025, 6, 18, tzinfo=UTC)),
        ("2025-06-18", "Asia/Kolkata", datetime(2025, 6, 17, 18, 30, tzinfo=UTC)),
        ("2025-03-09", "America/New_York", datetime(2025, 3, 9, 5, tzinfo=UTC)),  # EST
        ("2025-03-10", "America/New_York", datetime(2025, 3, 10, 4, tzinfo=UTC)),  # EDT
        (date(2025, 11, 2), "America/New_York", datetime(2025, 11, 2, 4, tzinfo=UTC)),
        ("7d", "UTC", NOW - timedelta(days=7)),
        ("24h", "Asia/Kolkata", NOW - timedelta(hours=24)),  # spans ignore the zone
        ("30m", "UTC", NOW - timedelta(minutes=30)),
        ("1d12h", "UTC", NOW - timedelta(hours=36)),
        ("2W", "UTC", NOW - timedelta(weeks=2)),
        ("0s", "UTC", NOW),
    ],
)
def test_accepted_forms(value: Any, zone: str, expected: datetime) -> None:
    got = parse_instant(value, name="since", time_zone=zone, now=NOW)
    assert got == expected
    assert got.tzinfo is UTC


def test_aware_datetimes_are_converted_to_utc() -> None:
    local = datetime(2025, 6, 18, 9, tzinfo=ZoneInfo("Asia/Kolkata"))
    got = parse_instant(local, name="since")
    assert got == local and got.tzinfo is UTC and got.hour == 3


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (datetime(2025, 6, 18), "no time zone"),
        ("2025-06-18T09:30:00", "no time zone"),
        ("yesterday", "not a time this library reads"),
        ("7", "not a time this library reads"),
        ("-7d", "not a time this library reads"),
        ("2025-02-30", "not a valid date"),
        ("99999999d", "before year 1"),
        (1718700000, "must be a datetime"),
        (None, "must be a datetime"),
    ],
)
def test_refused_forms_name_the_argument(value: Any, fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment) as info:
        parse_instant(value, name="--since", now=NOW)
    assert "since" in str(info.value)


def test_naive_now_and_bad_zones_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="no time zone"):
        parse_instant("7d", name="since", now=datetime(2025, 6, 18))
    for zone in ("Mars/Olympus", "", "../etc/passwd", 5):
        with pytest.raises(ConfigurationError, match="time zone|time_zone"):
            check_time_zone(zone)
    assert check_time_zone("America/New_York") == "America/New_York"


def test_spans_default_to_the_current_time() -> None:
    before = datetime.now(UTC)
    got = parse_instant("1h", name="since")
    after = datetime.now(UTC)
    assert before - timedelta(hours=1) <= got <= after - timedelta(hours=1)


@given(st.dates(min_value=date(1971, 1, 1), max_value=date(2100, 1, 1)))
def test_dates_are_local_midnight(day: date) -> None:
    for zone in ("America/New_York", "Asia/Kolkata", "UTC"):
        got = parse_instant(day.isoformat(), name="since", time_zone=zone)
        local = got.astimezone(ZoneInfo(zone))
        assert (local.date(), local.hour, local.minute) == (day, 0, 0)


def test_the_cli_reads_dates_in_its_time_zone_and_spans_from_one_now() -> None:
    import argparse

    from vsdk_analytics._cli.errors import CLIError
    from vsdk_analytics._cli.fetching import since_until

    args = argparse.Namespace(since="2025-06-01", until=None, time_zone="Asia/Kolkata")
    assert since_until(args) == (datetime(2025, 5, 31, 18, 30, tzinfo=UTC), None)
    args = argparse.Namespace(since="2d", until="1d", time_zone="UTC")
    since, until = since_until(args)
    assert since is not None and until is not None
    assert until - since == timedelta(days=1)  # both counted from the same "now"
    bad = argparse.Namespace(since="1d", until="2d", time_zone="UTC")
    with pytest.raises(CLIError, match="after"):
        since_until(bad)
