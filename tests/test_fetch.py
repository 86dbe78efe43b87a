"""Unit tests of the fetcher over httpx.MockTransport (no sockets)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests._fetching import fetch_with_stats
from vsdk_analytics import (
    SESSIONS_SCHEMA,
    AuthenticationError,
    CompletenessWarning,
    ConfigurationError,
    Credentials,
    CredentialsError,
    IncompleteFetchError,
    NotFoundError,
    ResponseFormatError,
    fetch_sessions,
    fetch_sessions_async,
)

SECRET = "unit-test-secret-unit-test-secret-0123"
CREDS = Credentials(api_key="unit-key", secret=SECRET)
BASE = "https://api.videosdk.live"


def make_record(i: int) -> dict[str, Any]:
    minute, second = divmod(i, 60)
    hour, minute = divmod(minute, 60)
    return {
        "sessionId": f"s{i:06d}",
        "status": "completed",
        "deploymentId": "d1",
        "tag": f"v{i % 3}",
        "start": "2025-06-18T11:15:07.275Z",
        "end": "2025-06-18T11:16:03.575Z",
        "duration": 56,
        "createdAt": f"2025-06-{1 + hour // 24:02d}T{hour % 24:02d}:{minute:02d}:{second:02d}.000Z",
        "updatedAt": "2025-06-18T11:16:03.575Z",
        "metadata": {"i": i},
    }


class ListAPI:
    """A tiny, newest-first list endpoint with the knobs these tests need."""

    def __init__(
        self,
        n: int,
        *,
        clamp: int = 1000,
        totals: str = "items",
        insert_on: set[int] | None = None,
        status_for: Callable[[int, int], int | None] | None = None,
        body_for: Callable[[int, int], bytes | None] | None = None,
    ) -> None:
        self.records = [make_record(i) for i in reversed(range(n))]
        self.original_ids = {r["sessionId"] for r in self.records}
        self.clamp = clamp
        self.totals = totals
        self.insert_on = insert_on or set()
        self.status_for = status_for
        self.body_for = body_for
        self.requests: list[tuple[int, int]] = []
        self.lock = threading.Lock()
        self.inserted = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/ai/v1/ai-deployment-sessions"
        assert not request.headers["Authorization"].startswith("Bearer")
        with self.lock:
            page = int(request.url.params.get("page", "1"))
            per_page = min(int(request.url.params.get("perPage", "10")), self.clamp)
            self.requests.append((page, per_page))
            n = len(self.requests)
            if n in self.insert_on:
                self.inserted += 1
                self.records.insert(0, make_record(900_000 + self.inserted))
            if self.status_for is not None and (status := self.status_for(n, page)) is not None:
                return httpx.Response(status, headers={"Retry-After": "0"}, json={"error": "x"})
            if self.body_for is not None and (body := self.body_for(n, page)) is not None:
                return httpx.Response(200, content=body)
            data = self.records[(page - 1) * per_page : page * per_page]
            info: dict[str, Any] = {"currentPage": page, "perPage": per_page}
            if self.totals == "items":
                info |= {"totalItems": len(self.records), "total": len(self.records)}
            elif self.totals == "understated":
                info |= {"totalItems": len(self.records) // 2}
            elif self.totals == "overstated":
                info |= {"totalItems": len(self.records) + 500}
            return httpx.Response(200, content=json.dumps({"data": data, "pageInfo": info}))


def fetch(api: Any, **kwargs: Any) -> Any:
    kwargs.setdefault("progress", False)
    return fetch_sessions(CREDS, base_url=BASE, transport=httpx.MockTransport(api), **kwargs)


def test_every_session_exactly_once_with_the_schema() -> None:
    api = ListAPI(1234)
    frame = fetch(api, per_page=100)
    assert frame.schema == SESSIONS_SCHEMA
    assert frame.height == 1234
    assert set(frame["session_id"]) == api.original_ids
    assert frame["created_at"].is_sorted(descending=True)
    assert sorted(p for p, _ in api.requests) == list(range(1, 14))


def test_the_echoed_per_page_drives_paging() -> None:
    api = ListAPI(530, clamp=50)
    frame = fetch(api, per_page=500)
    assert frame.height == 530
    assert api.requests[0] == (1, 50)
    assert sorted(api.requests[1:]) == [(p, 50) for p in range(2, 12)]


def test_missing_totals_stop_at_the_short_page() -> None:
    api = ListAPI(450, totals="missing")
    frame = fetch(api, per_page=100, max_concurrency=2)
    assert frame.height == 450
    assert max(p for p, _ in api.requests) <= 7


def test_missing_totals_stop_at_an_empty_page() -> None:
    api = ListAPI(400, totals="missing")
    frame = fetch(api, per_page=100, max_concurrency=3)
    assert frame.height == 400


def test_understated_totals_go_on_until_a_short_page() -> None:
    api = ListAPI(1000, totals="understated")
    frame = fetch(api, per_page=100)  # a total is a claim to verify, not an end
    assert frame.height == 1000
    assert set(frame["session_id"]) == api.original_ids


def test_overstated_totals_end_at_the_short_page() -> None:
    api = ListAPI(300, totals="overstated")
    frame = fetch(api, per_page=100)
    assert frame.height == 300
    assert max(p for p, _ in api.requests) <= 300 // 100 + 1 + 8  # not the 8 claimed pages


def test_inserts_while_paging_miss_and_duplicate_nothing() -> None:
    api = ListAPI(2000, insert_on={3, 5, 8, 9, 13, 17, 21})
    frame, stats = asyncio.run(
        fetch_with_stats(
            CREDS, base_url=BASE, transport=httpx.MockTransport(api), per_page=100, progress=False
        )
    )
    ids = frame["session_id"].to_list()
    assert len(ids) == len(set(ids))
    assert api.original_ids <= set(ids)
    assert stats.stitches >= 1  # shifted pages were linked by stitches
    assert stats.total_items_at_end == 2000 + api.inserted


def test_retries_5xx_and_429_then_succeeds() -> None:
    flaky = {2: 503, 3: 429, 4: 500, 6: 502, 7: 504, 9: 429}
    api = ListAPI(800, status_for=lambda n, page: flaky.get(n))
    frame, stats = asyncio.run(
        fetch_with_stats(
            CREDS, base_url=BASE, transport=httpx.MockTransport(api), per_page=100, progress=False
        )
    )
    assert frame.height == 800
    assert stats.retries == 6
    assert stats.throttled == 2


def test_exhausted_retries_keep_what_was_fetched() -> None:
    api = ListAPI(500, status_for=lambda n, page: 503 if page in {3, 5} else None)
    with pytest.raises(IncompleteFetchError) as info:
        fetch(api, per_page=100, max_retries=2)
    err = info.value
    assert err.missing_pages == [3, 5]
    assert err.per_page == 100
    assert err.sessions.height == 300
    assert err.sessions.schema == SESSIONS_SCHEMA
    assert "HTTP 503" in str(err.__cause__)
    assert sum(1 for p, _ in api.requests if p == 3) == 3


def test_garbled_bodies_are_retried() -> None:
    bad = {2: b"<html>oops</html>", 4: b'{"data": [{"sessionId"'}
    api = ListAPI(400, body_for=lambda n, page: bad.get(n))
    assert fetch(api, per_page=100).height == 400


def test_page_one_not_a_page_raises_a_format_error() -> None:
    api = ListAPI(10, body_for=lambda n, page: b'{"message": "moved"}')
    with pytest.raises(ResponseFormatError, match="not a sessions page"):
        fetch(api, max_retries=0)


def test_401_remints_once_then_raises() -> None:
    api = ListAPI(10, status_for=lambda n, page: 401)
    with pytest.raises(AuthenticationError, match="HTTP 401 for page 1") as info:
        fetch(api)
    assert info.value.status_code == 401
    assert len(api.requests) == 2
    assert SECRET not in str(info.value)


def test_404_names_the_base_url() -> None:
    api = ListAPI(10, status_for=lambda n, page: 404)
    with pytest.raises(NotFoundError, match="VIDEOSDK_API_BASE_URL"):
        fetch(api)


def test_concurrency_really_happens_and_stays_within_the_bound() -> None:
    in_flight = 0
    peak = 0
    everyone = asyncio.Event()
    api = ListAPI(2000)

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if request.url.params["page"] != "1":
            if in_flight >= 4:
                everyone.set()
            await asyncio.wait_for(everyone.wait(), 5)  # a barrier, not a sleep
        in_flight -= 1
        return api(request)

    frame = fetch(handler, per_page=100, max_concurrency=4)
    assert frame.height == 2000
    assert peak == 4


def test_timeout_is_bounded_and_typed() -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    with pytest.raises(Exception, match="no complete answer within 0.2s") as info:
        fetch(hang, timeout=0.2, max_retries=1)
    assert type(info.value).__name__ == "APITimeoutError"


def test_sync_call_inside_a_running_loop() -> None:
    api = ListAPI(300)
    before = {t.name for t in threading.enumerate()}

    async def notebook_cell() -> int:
        return fetch(api, per_page=100).height

    assert asyncio.run(notebook_cell()) == 300
    assert {t.name for t in threading.enumerate()} <= before | {"asyncio_0"}


def test_async_api_gives_the_same_frame() -> None:
    api = ListAPI(250)
    a = fetch(api, per_page=100)
    b = asyncio.run(
        fetch_sessions_async(
            CREDS, base_url=BASE, transport=httpx.MockTransport(api), per_page=100, progress=False
        )
    )
    assert a.equals(b)


def test_progress_callback_sees_every_page() -> None:
    seen: list[tuple[int, int | None, int]] = []
    fetch(
        ListAPI(450),
        per_page=100,
        progress=lambda p: seen.append((p.pages_done, p.pages_total, p.sessions)),
    )
    assert seen[-1] == (5, 5, 450)
    assert [s[0] for s in seen] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"per_page": 0}, "per_page"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_retries": -1}, "max_retries"),
        ({"timeout": 0}, "timeout"),
        ({"base_url": "http://api.videosdk.live"}, "plain http"),
        ({"base_url": "ftp://x"}, "absolute http"),
        ({"base_url": "https://user:pw@api.videosdk.live"}, "credentials"),
    ],
)
def test_bad_arguments_are_configuration_errors(kwargs: dict[str, Any], match: str) -> None:
    kwargs = {"base_url": BASE} | kwargs
    with pytest.raises(ConfigurationError, match=match):
        fetch_sessions(CREDS, transport=httpx.MockTransport(ListAPI(1)), progress=False, **kwargs)


def test_credentials_default_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(CredentialsError, match="VIDEOSDK_AUTH_TOKEN"):
        fetch_sessions(base_url=BASE, transport=httpx.MockTransport(ListAPI(1)))
    monkeypatch.setenv("VIDEOSDK_API_KEY", "env-key")
    monkeypatch.setenv("VIDEOSDK_SECRET_KEY", SECRET)
    monkeypatch.setenv("VIDEOSDK_API_BASE_URL", "https://example.invalid")
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return ListAPI(3)(request)

    frame = fetch_sessions(transport=httpx.MockTransport(handler), progress=False)
    assert frame.height == 3
    assert seen[0].startswith("https://example.invalid/ai/v1/ai-deployment-sessions?")


def test_no_redirects_are_followed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "https://evil.example/steal"})

    with pytest.raises(Exception, match="HTTP 302"):
        fetch(handler, max_retries=0)


# --- date ranges (since / until) -------------------------------------------------


def _created(frame: Any) -> list[Any]:
    return frame["created_at"].to_list()


def test_since_stops_paging_early_and_keeps_exactly_the_range() -> None:
    api = ListAPI(5000)  # one session a second, newest first
    since = "2025-06-01T01:00:00Z"  # the newest 1400 sessions (3600 .. 4999)
    frame, stats = asyncio.run(
        fetch_with_stats(
            CREDS,
            base_url=BASE,
            transport=httpx.MockTransport(api),
            per_page=100,
            max_concurrency=4,
            progress=False,
            since=since,
        )
    )
    expected = {r["sessionId"] for r in api.records if r["createdAt"] >= "2025-06-01T01:00:00.000Z"}
    assert set(frame["session_id"]) == expected
    assert frame.height == len(expected) == 1400
    assert stats.early_stop
    main = [p for p, size in api.requests if size == 100 and p < 50]
    assert max(main) <= 15 + 4  # 14 pages hold the range; at most one window more
    assert len(api.requests) <= 15 + 4 + 2  # and the two pages around the claimed total


def test_until_is_exclusive_and_combines_with_since() -> None:
    api = ListAPI(600)
    frame = fetch(api, per_page=100, since="2025-06-01T00:05:00Z", until="2025-06-01T00:06:00Z")
    assert frame.height == 60
    assert min(_created(frame)).isoformat() == "2025-06-01T00:05:00+00:00"
    assert max(_created(frame)).isoformat() == "2025-06-01T00:05:59+00:00"


def test_since_with_inserts_while_paging_keeps_the_range_complete() -> None:
    api = ListAPI(3000, insert_on={2, 3, 5, 7, 11})
    frame = fetch(api, per_page=100, max_concurrency=4, since="2025-06-01T00:20:00Z")
    expected = {r for r in api.original_ids if int(r[1:]) >= 1200}
    got = set(frame["session_id"])
    assert expected <= got
    assert frame["session_id"].n_unique() == frame.height


def test_since_falls_back_to_a_full_fetch_when_pages_are_not_newest_first() -> None:
    api = ListAPI(1000)
    api.records.reverse()  # oldest first
    with pytest.warns(CompletenessWarning, match="not ordered newest first"):
        frame = fetch(api, per_page=100, since="2025-06-01T00:15:00Z")
    assert frame.height == 100
    # every page, plus the probe past a full last page that a full fetch makes
    assert {p for p, _ in api.requests} == set(range(1, 12))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"since": "2025-06-01T00:00:00"}, "no time zone"),
        ({"since": "last week"}, "not a time this library reads"),
        ({"since": "2025-06-02T00:00:00Z", "until": "2025-06-01T00:00:00Z"}, "must be after"),
        ({"until": 5}, "must be a datetime, a date or text"),
    ],
)
def test_bad_ranges_are_refused(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        fetch(ListAPI(1), **kwargs)


# --- one session -----------------------------------------------------------------


def test_fetch_session_returns_one_typed_row() -> None:
    from vsdk_analytics import fetch_session

    record = make_record(7)
    record.pop("metadata")
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        if request.url.raw_path.endswith(b"/s000007"):
            return httpx.Response(200, json=record)
        return httpx.Response(404, json={"error": "not found"})

    row = fetch_session("s000007", CREDS, base_url=BASE, transport=httpx.MockTransport(handler))
    assert row.schema == SESSIONS_SCHEMA
    assert row.height == 1
    assert row.item(0, "session_id") == "s000007"
    assert row.item(0, "metadata") is None
    with pytest.raises(NotFoundError):
        fetch_session("nope/../x", CREDS, base_url=BASE, transport=httpx.MockTransport(handler))
    assert paths[-1] == "/ai/v1/ai-deployment-sessions/nope%2F..%2Fx"
    with pytest.raises(ConfigurationError, match="session_id"):
        fetch_session(" ", CREDS, base_url=BASE, transport=httpx.MockTransport(handler))


def _progress_of(api: ListAPI, **kwargs: Any) -> list[tuple[int, int | None, int]]:
    seen: list[tuple[int, int | None, int]] = []
    fetch(api, progress=lambda p: seen.append((p.pages_done, p.pages_total, p.sessions)), **kwargs)
    return seen


@pytest.mark.parametrize(("n", "pages"), [(450, 5), (500, 6), (0, 1), (99, 2), (100, 2)])
def test_progress_totals_are_the_pages_a_fetch_takes(n: int, pages: int) -> None:
    """``total // size + 1`` main pages (the short page that proves the end included).

    The size is what page 1 held: 99 sessions at ``per_page=100`` could be a cap of 99,
    so page 2 is asked too.
    """
    seen = _progress_of(ListAPI(n), per_page=100)
    assert [s[0] for s in seen] == list(range(1, pages + 1))
    assert all(total == pages for _, total, _ in seen)
    assert seen[-1] == (pages, pages, n)


def test_progress_counts_a_reasked_page_1_once() -> None:
    """An empty page 1 at a size the server refuses, asked again at 10: one page, not two."""

    def empty_at_large_sizes(n: int, page: int) -> bytes | None:
        if n == 1:
            info = {"currentPage": 1, "perPage": 100, "total": 25, "totalItems": 25}
            return json.dumps({"data": [], "pageInfo": info}).encode()
        return None

    api = ListAPI(25, body_for=empty_at_large_sizes)
    seen = _progress_of(api, per_page=100)
    assert api.requests[:2] == [(1, 100), (1, 10)]
    assert [s[0] for s in seen] == [1, 2, 3]
    assert seen[-1] == (3, 3, 25)


def test_progress_leaves_out_stitch_requests() -> None:
    """Without totals the planner stitches page boundaries; only main pages move the bar."""
    api = ListAPI(450, totals="missing")
    seen = _progress_of(api, per_page=100)
    stitches = [r for r in api.requests if r[1] != 100]
    main_pages = {page for page, size in api.requests if size == 100}
    assert stitches, "the case needs stitch requests"
    done = [s[0] for s in seen]  # the last page twice: its total becomes known at the end
    assert done == sorted(done) and set(done) == set(range(1, len(main_pages) + 1))
    assert seen[-2:] == [(len(main_pages), None, 450), (len(main_pages), len(main_pages), 450)]
