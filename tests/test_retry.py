from __future__ import annotations

import asyncio
import random
from datetime import datetime, timezone

import pytest

from vsdk_analytics._retry import (
    AdaptiveLimit,
    RateLimitHeaders,
    backoff_delay,
    parse_rate_limit,
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


def test_adaptive_limit_halves_once_per_burst_and_recovers() -> None:
    async def scenario() -> None:
        limit = AdaptiveLimit(8)
        epochs = [await limit.acquire() for _ in range(8)]
        assert limit.peak_in_flight == 8
        # a burst: all eight requests in flight come back 429
        for epoch in epochs:
            limit.release(epoch=epoch, throttled=True)
        assert limit.limit == 4
        assert limit.decreases == 1
        epoch = await limit.acquire()
        limit.release(epoch=epoch, throttled=True)
        assert limit.limit == 2
        for _ in range(40):
            epoch = await limit.acquire()
            limit.release(epoch=epoch, throttled=False)
        assert limit.limit == 8  # additive increase, capped at the maximum

    asyncio.run(scenario())


def test_adaptive_limit_blocks_at_the_limit() -> None:
    async def scenario() -> None:
        limit = AdaptiveLimit(2)
        a = await limit.acquire()
        await limit.acquire()
        waiter = asyncio.ensure_future(limit.acquire())
        await asyncio.sleep(0)
        assert not waiter.done()
        limit.release(epoch=a, throttled=False)
        await waiter
        assert limit.peak_in_flight == 2

    asyncio.run(scenario())


WALL = 1_750_000_000.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, RateLimitHeaders()),
        (
            {"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "59", "X-RateLimit-Reset": "30"},
            RateLimitHeaders(limit=60.0, remaining=59.0, reset=30.0),
        ),
        (  # GitHub style: the reset is a Unix timestamp
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(WALL) + 12)},
            RateLimitHeaders(remaining=0.0, reset=12.0),
        ),
        (  # IETF draft: a limit with its policy, delta-seconds reset
            {
                "RateLimit-Limit": "100, 100;w=60",
                "RateLimit-Remaining": "5",
                "RateLimit-Reset": "4",
            },
            RateLimitHeaders(limit=100.0, remaining=5.0, reset=4.0),
        ),
        (
            {"RateLimit-Policy": '"burst";q=100;w=60, "day";q=1000;w=86400'},
            RateLimitHeaders(policy_rate=1000 / 86400),
        ),
        ({"RateLimit-Policy": "10;w=1"}, RateLimitHeaders(policy_rate=10.0)),
        ({"RateLimit-Policy": "lots;w=?"}, RateLimitHeaders()),
        ({"X-RateLimit-Remaining": "-1", "X-RateLimit-Limit": "inf"}, RateLimitHeaders()),
        ({"X-RateLimit-Reset": str(int(WALL) - 50)}, RateLimitHeaders(reset=0.0)),
        ({"X-RateLimit-Reset": "99999"}, RateLimitHeaders(reset=120.0)),
    ],
)
def test_parse_rate_limit(headers: dict[str, str], expected: RateLimitHeaders) -> None:
    assert parse_rate_limit(headers, WALL) == expected
