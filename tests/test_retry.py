from __future__ import annotations

import random
from datetime import datetime, timezone

import pytest

from vsdk_analytics._retry import (
    backoff_delay,
    parse_retry_after,
    set_backoff_scale,
    should_retry,
)

NOW = datetime(2025, 6, 18, 11, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, False),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (408, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (501, False),
    ],
)
def test_should_retry(status: int, expected: bool) -> None:
    assert should_retry(status) is expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"Retry-After": "-3"}, 0.0),
        ({"Retry-After": "100000"}, 120.0),
        ({"Retry-After": "Wed, 18 Jun 2025 11:00:30 GMT"}, 30.0),
        ({"Retry-After": "Wed, 18 Jun 2025 10:59:00 GMT"}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": ""}, None),
        ({"Retry-After": "nan"}, None),
        ({"retry-after-ms": "250"}, 0.25),
        ({"Retry-After": "7", "Retry-After-Ms": "1500"}, 1.5),
        ({"Retry-After": "7", "retry-after-ms": "soon"}, 7.0),
        ({"retry-after-ms": "-5"}, 0.0),
        ({"retry-after-ms": "999999999"}, 120.0),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers, NOW) == expected


def test_backoff_grows_is_capped_and_jittered() -> None:
    set_backoff_scale(1.0)
    rng = random.Random(1)
    delays = [backoff_delay(a, rng=rng) for a in range(1, 12)]
    assert 0.125 <= delays[0] <= 0.25
    assert delays[3] > delays[0]
    assert max(delays) <= 30.0
    assert len({round(d, 6) for d in delays}) > 5  # jitter: not one fixed schedule


def test_retry_after_wins_when_longer_and_scale_zero_drops_waits() -> None:
    set_backoff_scale(1.0)
    assert backoff_delay(1, retry_after=9.0, rng=random.Random(0)) == 9.0
    set_backoff_scale(0.0)
    assert backoff_delay(5, retry_after=9.0) == 0.0


def test_set_backoff_scale_rejects_negative() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        set_backoff_scale(-1)
