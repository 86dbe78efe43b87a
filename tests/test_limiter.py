"""RequestLimiter: FIFO permits, the rate cap, learning from 429s, global pauses, headers.

Unit tests run on an event loop with virtual time (timers fire at once, the clock jumps),
so waits are checked exactly and cost nothing. One test hammers the real loopback
`FakeServer` and checks counts only.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Mapping
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests._virtual import VirtualLoop, run_virtual
from vsdk_analytics._limiter import Permit, RequestLimiter
from vsdk_analytics._retry import set_backoff_scale
from vsdk_analytics.testing import FakeServer, FakeVideoSDK

T = TypeVar("T")
LIST = "/ai/v1/ai-deployment-sessions"


@pytest.fixture
def real_waits() -> Any:
    """Server-asked waits at full length (conftest drops them for every other test)."""
    previous = set_backoff_scale(1.0)
    yield
    set_backoff_scale(previous)


def _release(limiter: RequestLimiter, permit: Permit, status: int | None, **headers: str) -> None:
    limiter.release(
        permit, status=status, headers={k.replace("_", "-"): v for k, v in headers.items()}
    )


async def _grant_times(
    limiter: RequestLimiter, loop: VirtualLoop, n: int, status: int = 200
) -> list[float]:
    times: list[float] = []

    async def one() -> None:
        permit = await limiter.acquire()
        times.append(loop.time())
        _release(limiter, permit, status)

    await asyncio.gather(*(one() for _ in range(n)))
    return times


def test_permits_are_first_come_first_served_within_the_concurrency() -> None:
    async def main(loop: VirtualLoop) -> None:
        limiter = RequestLimiter(max_concurrency=2, clock=loop.time)
        order: list[int] = []

        async def one(i: int) -> None:
            async with limiter.slot() as permit:
                order.append(i)
                assert limiter.in_flight <= 2
                await asyncio.sleep(0.01 * (5 - i))  # finish out of order
                permit.record(200, {})

        await asyncio.gather(*(one(i) for i in range(6)))
        assert order == list(range(6))
        assert limiter.peak_in_flight == 2
        assert limiter.in_flight == 0

    run_virtual(main)


def test_a_long_lived_limiter_keeps_only_the_last_window_of_successes() -> None:
    # 5,000 requests over 50 s: the observed rate needs the last second's, no more
    async def main(loop: VirtualLoop) -> None:
        limiter = RequestLimiter(max_concurrency=4, clock=loop.time)
        for _ in range(5_000):
            async with limiter.slot() as permit:
                await asyncio.sleep(0.01)
                permit.record(200, {})
        assert len(limiter._successes) <= 101  # what it holds: not a time per request

    run_virtual(main)


def test_no_rate_cap_until_the_server_pushes_back() -> None:
    async def main(loop: VirtualLoop) -> None:
        limiter = RequestLimiter(max_concurrency=4, clock=loop.time)
        times = await _grant_times(limiter, loop, 50)
        assert set(times) == {times[0]}  # all at once
        assert limiter.rate is None

    run_virtual(main)


def test_explicit_rate_is_a_hard_cap_and_not_scaled_in_tests() -> None:
    async def main(loop: VirtualLoop) -> None:
        limiter = RequestLimiter(max_concurrency=8, max_requests_per_second=4.0, clock=loop.time)
        times = await _grant_times(limiter, loop, 9)
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(gap >= 0.25 - 1e-9 for gap in gaps), gaps
        assert times[-1] - times[0] == pytest.approx(2.0)  # 8 gaps of 1/4 s
        assert limiter.rate == 4.0

    run_virtual(main)  # conftest set the backoff scale to 0: the cap still holds


def test_a_429_halves_concurrency_once_per_round_and_successes_restore_it() -> None:
    async def main(loop: VirtualLoop) -> None:
        limiter = RequestLimiter(max_concurrency=8, clock=loop.time)
        permits = [await limiter.acquire() for _ in range(8)]
        for permit in permits:  # one burst: eight 429s of one round
            _release(limiter, permit, 429)
        assert limiter.concurrency == 4
        assert limiter.throttled == 8
        assert limiter.rate is None  # no success yet: no rate to learn from
        _release(limiter, await limiter.acquire(), 429)  # a new round
        assert limiter.concurrency == 2
        for _ in range(60):
            _release(limiter, await limiter.acquire(), 200)
        assert limiter.concurrency == 8  # additive increase, capped at the maximum

    run_virtual(main)


def test_a_429_sets_a_learned_rate_from_the_successes(real_waits: None) -> None:
    async def main(loop: VirtualLoop) -> None:
        limiter = RequestLimiter(max_concurrency=8, clock=loop.time)
        for _ in range(20):  # 20 successes over 2 s: 10 requests/s
            _release(limiter, await limiter.acquire(), 200)
            await asyncio.sleep(0.1)
        _release(limiter, await limiter.acquire(), 429)
        first = limiter.rate
        assert first is not None and 5.0 <= first <= 12.0
        times = await _grant_times(limiter, loop, 5)
        assert all(b - a >= 1 / 20 for a, b in itertools.pairwise(times))  # paced, not a burst
        _release(limiter, await limiter.acquire(), 429)
        second = limiter.rate
        assert second is not None and second < first  # multiplicative decrease

    run_virtual(main)


@pytest.mark.parametrize(
    "headers",
    [{"Retry-After": "2"}, {"retry-after-ms": "2000"}, {"Retry-After": "2", "X-Other": "1"}],
)
def test_retry_after_pauses_every_request_not_just_its_own(
    headers: dict[str, str], real_waits: None
) -> None:
    async def main(loop: VirtualLoop) -> None:
        limiter = RequestLimiter(max_concurrency=8, clock=loop.time)
        throttled, other = await limiter.acquire(), await limiter.acquire()
        start = loop.time()
        limiter.release(throttled, status=429, headers=headers)
        assert limiter.paused_until == pytest.approx(start + 2.0)
        waiting = asyncio.ensure_future(limiter.acquire())  # a different request
        await asyncio.sleep(1.9)
        assert not waiting.done()
        _release(limiter, other, 429, Retry_After="0.05")  # ends sooner: does not shorten it
        granted = await waiting
        assert granted.granted_at == pytest.approx(start + 2.0)
        assert limiter.pauses == 1

    run_virtual(main)


def test_retry_after_waits_follow_the_testing_switch() -> None:
    async def main(loop: VirtualLoop) -> None:
        limiter = RequestLimiter(max_concurrency=8, clock=loop.time)
        start = loop.time()
        _release(limiter, await limiter.acquire(), 429, Retry_After="30")
        granted = await limiter.acquire()
        assert granted.granted_at == start  # no_backoff (conftest): no wait
        assert limiter.pauses == 0

    run_virtual(main)


def test_retry_after_on_503_pauses_but_on_200_does_not(real_waits: None) -> None:
    async def main(loop: VirtualLoop) -> None:
        limiter = RequestLimiter(max_concurrency=8, clock=loop.time)
        _release(limiter, await limiter.acquire(), 200, Retry_After="5")
        assert limiter.paused_until is None
        _release(limiter, await limiter.acquire(), 503, Retry_After="5")
        paused: object = limiter.paused_until
        assert paused is not None
        assert limiter.throttled == 0
        assert limiter.concurrency == 8  # a 5xx is not a rate limit

    run_virtual(main)


def test_explicit_retry_after_wins_over_the_headers(real_waits: None) -> None:
    async def main(loop: VirtualLoop) -> None:
        limiter = RequestLimiter(max_concurrency=8, clock=loop.time)
        permit = await limiter.acquire()
        limiter.release(permit, status=429, headers={"Retry-After": "50"}, retry_after=3.0)
        assert limiter.paused_until == pytest.approx(loop.time() + 3.0)

    run_virtual(main)


@pytest.mark.parametrize(
    "prefix", ["X-RateLimit-", "RateLimit-"], ids=["x-ratelimit", "ietf-ratelimit"]
)
def test_rate_limit_headers_set_the_rate_and_an_empty_window_pauses(
    prefix: str, real_waits: None
) -> None:
    async def main(loop: VirtualLoop) -> None:
        limiter = RequestLimiter(max_concurrency=8, clock=loop.time)
        ok = {f"{prefix}Limit": "100", f"{prefix}Remaining": "20", f"{prefix}Reset": "10"}
        limiter.release(await limiter.acquire(), status=200, headers=ok)
        assert limiter.rate == pytest.approx(2.0)  # 20 left over 10 s
        empty = {**ok, f"{prefix}Remaining": "0", f"{prefix}Reset": "4"}
        start = loop.time()
        limiter.release(await limiter.acquire(), status=200, headers=empty)
        granted = await limiter.acquire()
        assert granted.granted_at >= start + 4.0
        assert limiter.pauses == 1

    run_virtual(main)


def test_rate_limit_policy_caps_the_rate_and_the_stricter_cap_wins() -> None:
    async def main(loop: VirtualLoop) -> None:
        policy = {"RateLimit-Policy": "50;w=10, 1000;w=3600"}  # the strictest: 1000 per hour
        limiter = RequestLimiter(max_concurrency=8, clock=loop.time)
        limiter.release(await limiter.acquire(), status=200, headers=policy)
        assert limiter.rate == pytest.approx(1000 / 3600)
        limiter = RequestLimiter(max_concurrency=8, max_requests_per_second=0.1, clock=loop.time)
        limiter.release(await limiter.acquire(), status=200, headers=policy)
        assert limiter.rate == 0.1  # an explicit cap below the server's stays

    run_virtual(main)


def test_cancelled_waiters_leak_no_slot() -> None:
    async def main(loop: VirtualLoop) -> None:
        limiter = RequestLimiter(max_concurrency=1, clock=loop.time)
        held = await limiter.acquire()
        queued = [asyncio.ensure_future(limiter.acquire()) for _ in range(3)]
        await asyncio.sleep(0)
        queued[0].cancel()
        _release(limiter, held, 200)
        queued[1].cancel()  # granted (or about to be), then cancelled: hands the slot on
        await asyncio.sleep(0)
        permit = await queued[2]
        assert limiter.in_flight == 1
        _release(limiter, permit, 200)
        assert limiter.in_flight == 0

    run_virtual(main)


def test_a_permit_is_released_once_and_slot_releases_on_errors() -> None:
    async def main(loop: VirtualLoop) -> None:
        limiter = RequestLimiter(max_concurrency=1, clock=loop.time)
        permit = await limiter.acquire()
        _release(limiter, permit, 200)
        with pytest.raises(RuntimeError, match="already released"):
            _release(limiter, permit, 200)
        with pytest.raises(httpx.ConnectError):
            async with limiter.slot():
                raise httpx.ConnectError("refused")
        assert limiter.in_flight == 0
        assert limiter.concurrency == 1

    run_virtual(main)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_concurrency": 0},
        {"max_concurrency": -3},
        {"max_concurrency": 2, "max_requests_per_second": 0},
        {"max_concurrency": 2, "max_requests_per_second": float("nan")},
    ],
)
def test_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        RequestLimiter(**kwargs)


def test_repr_shows_the_state() -> None:
    text = repr(RequestLimiter(max_concurrency=3, max_requests_per_second=2))
    assert text == "RequestLimiter(concurrency=3/3, rate=2/s, in_flight=0, waiting=0)"


_answers = st.sampled_from([200, 200, 200, 429, 503, 500, None])


@settings(max_examples=60, deadline=None)
@given(
    answers=st.lists(st.tuples(_answers, st.sampled_from(["", "1", "0.5"])), max_size=60),
    concurrency=st.integers(1, 6),
    cap=st.one_of(st.none(), st.floats(0.5, 50)),
)
def test_invariants_under_any_answers(
    answers: list[tuple[int | None, str]], concurrency: int, cap: float | None
) -> None:
    """Whatever the server says: bounds hold, no slot leaks, the cap is never exceeded."""

    async def main(loop: VirtualLoop) -> None:
        limiter = RequestLimiter(
            max_concurrency=concurrency, max_requests_per_second=cap, clock=loop.time
        )
        grants: list[float] = []

        async def one(status: int | None, retry_after: str) -> None:
            permit = await limiter.acquire()
            grants.append(permit.granted_at)
            assert 1 <= limiter.in_flight <= limiter.max_concurrency
            await asyncio.sleep(0.001)
            headers: Mapping[str, str] = {"Retry-After": retry_after} if retry_after else {}
            limiter.release(permit, status=status, headers=headers)

        await asyncio.gather(*(one(*answer) for answer in answers))
        assert limiter.in_flight == 0
        assert 1 <= limiter.concurrency <= concurrency
        assert limiter.throttled == sum(status == 429 for status, _ in answers)
        rate = limiter.rate
        assert rate is None or rate > 0
        if cap is not None:
            assert rate is not None and rate <= cap
            grants.sort()
            assert all(b - a >= 1 / cap - 1e-9 for a, b in itertools.pairwise(grants))

    previous = set_backoff_scale(1.0)
    try:
        run_virtual(main)
    finally:
        set_backoff_scale(previous)


async def _hammer(client: httpx.AsyncClient, limiter: RequestLimiter, token: str, n: int) -> None:
    async def page(number: int) -> None:
        while True:
            async with limiter.slot() as permit:
                answer = await client.get(
                    f"{LIST}?page={number}&perPage=10", headers={"Authorization": token}
                )
                permit.record(answer.status_code, answer.headers)
            if answer.status_code != 429:
                assert answer.status_code == 200
                assert answer.json()["pageInfo"]["currentPage"] == number
                return

    await asyncio.gather(*(page(number) for number in range(1, n + 1)))


def test_learns_a_token_bucket_in_virtual_time(real_waits: None) -> None:
    """25 requests/s, burst 5, 300 pages at concurrency 8: few 429s, near the limit."""

    async def main(loop: VirtualLoop) -> tuple[float, Mapping[int, int], RequestLimiter]:
        api = FakeVideoSDK(3000, clock=loop.time, rate_limit=25, rate_burst=5, max_per_page=10)

        async def handler(request: httpx.Request) -> httpx.Response:
            await asyncio.sleep(0.005)  # a loopback round trip
            return api.handler(request)

        limiter = RequestLimiter(max_concurrency=8, clock=loop.time)
        start = loop.time()
        async with httpx.AsyncClient(
            base_url="https://api.videosdk.live", transport=httpx.MockTransport(handler)
        ) as client:
            await _hammer(client, limiter, api.token(), 300)
        return loop.time() - start, api.stats.statuses, limiter

    elapsed, statuses, limiter = run_virtual(main)
    assert statuses[200] == 300
    assert statuses.get(429, 0) <= 0.1 * sum(statuses.values())
    assert elapsed <= 1.3 * 12.0  # virtual seconds: deterministic, not a wall-clock assert
    assert limiter.rate is not None and 15 <= limiter.rate <= 35


@pytest.mark.integration
def test_real_http_hammer_stays_under_the_rate_limit(
    real_waits: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's scenario over real loopback HTTP: at most 10% of answers are 429."""
    with FakeServer(sessions=3000, rate_limit=25, rate_burst=5, max_per_page=10) as server:

        async def main() -> RequestLimiter:
            limiter = RequestLimiter(max_concurrency=8)
            limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
            async with httpx.AsyncClient(base_url=server.url, limits=limits) as client:
                await _hammer(client, limiter, server.token(), 300)
            return limiter

        started = time.perf_counter()
        limiter = asyncio.run(main())
        elapsed = time.perf_counter() - started
        statuses = server.stats.statuses
    total = sum(statuses.values())
    assert statuses[200] == 300
    assert statuses.get(429, 0) <= 0.1 * total, statuses
    assert limiter.peak_in_flight <= 8
    with capsys.disabled():  # the time is for the benchmarks, never asserted
        print(
            f"\nlimiter hammer: 300 pages at 25 req/s (burst 5) in {elapsed:.1f} s, "
            f"{statuses.get(429, 0)} of {total} answers 429, {limiter.pauses} pauses"
        )
