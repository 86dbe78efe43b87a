"""The fake VideoSDK API: data, paging, auth, limits, faults, and its two transports."""

from __future__ import annotations

import email.utils
import json
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import jwt
import pytest

import vsdk_analytics.testing as testing
from vsdk_analytics._constants import SESSIONS_PATH
from vsdk_analytics._errors import ConfigurationError
from vsdk_analytics._schema import WEBHOOK_EVENTS
from vsdk_analytics.testing import (
    FAKE_API_KEY,
    FAKE_SECRET,
    FAULT_KINDS,
    FakeConfig,
    FakeKnobs,
    FakeServer,
    FakeSession,
    FakeVideoSDK,
    FaultKind,
    generate_sessions,
)

pytestmark = pytest.mark.integration

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
VENDOR_KEY_ORDER = [
    "webhook",
    "status",
    "deploymentId",
    "tag",
    "start",
    "sessionId",
    "createdAt",
    "updatedAt",
    "duration",
    "end",
    "metadata",
]
N = 1234


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    """A read-only server shared by the tests that do not change its state."""
    with FakeServer(sessions=N, seed=3) as running:
        yield running


@pytest.fixture
def client(server: FakeServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"Authorization": server.token()}) as c:
        yield c


def serve(sessions: int = 300, *, clock: FakeClock | None = None, **knobs: Any) -> FakeServer:
    api = FakeVideoSDK(sessions, seed=5, clock=clock or time.monotonic, **knobs)
    return FakeServer(api)


def list_page(c: httpx.Client, **params: int) -> httpx.Response:
    return c.get(SESSIONS_PATH, params=params)


def parse(ts: str) -> datetime:
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


# -- synthetic data ---------------------------------------------------------------------------


def test_same_seed_gives_the_same_bytes() -> None:
    first = generate_sessions(800, seed=11)
    assert first == generate_sessions(800, seed=11)
    assert first != generate_sessions(800, seed=12)
    one = FakeVideoSDK(800, seed=11)
    two = FakeVideoSDK(800, seed=11)
    assert one.sessions_snapshot() == first
    for api in (one, two):
        api.reconfigure(error_rate=0.3, faults={"truncated": 0.2, "html200": 0.2})
    request = httpx.Request("GET", f"https://x{SESSIONS_PATH}?perPage=7")
    request.headers["Authorization"] = one.token()
    answers = [(r.status_code, r.content) for r in map(one.handler, [request] * 30)]
    assert answers == [(r.status_code, r.content) for r in map(two.handler, [request] * 30)]
    assert len({status for status, _ in answers}) > 1


def test_generated_sessions_look_like_the_vendors() -> None:
    now = datetime(2025, 6, 20, tzinfo=timezone.utc)
    sessions = generate_sessions(5000, seed=2, now=now, span_days=7)
    records = [s.to_dict() for s in sessions]
    for session, record in zip(sessions, records, strict=True):
        assert list(record) == [k for k in VENDOR_KEY_ORDER if k in record]
        assert (
            session.body == json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()
        )
        assert uuid.UUID(record["sessionId"]).version == 4
        assert record["sessionId"] == session.session_id
        assert record["status"] == session.status
        for key in ("start", "createdAt", "updatedAt", "end"):
            if key in record:
                assert TIMESTAMP.match(record[key]), record[key]
        created = parse(record["createdAt"])
        assert now - timedelta(days=7) <= created < now
        assert session.created_ms == int(created.timestamp() * 1000)
        assert timedelta(0) <= parse(record["start"]) - created <= timedelta(milliseconds=5)
        if session.running:
            assert "end" not in record
            assert "duration" not in record
            assert record["updatedAt"] == record["createdAt"]
            assert now - created <= timedelta(hours=1)
        else:
            end = parse(record["end"])
            assert end <= now
            assert record["updatedAt"] == record["end"]
            assert isinstance(record["duration"], int)
            assert record["duration"] == (end - parse(record["start"])).total_seconds() // 1
    keys = [(s.created_ms, s.session_id) for s in sessions]
    assert keys == sorted(keys, key=lambda k: (-k[0], k[1]))

    def share(predicate: Any) -> float:
        return sum(1 for r in records if predicate(r)) / len(records)

    assert 0.01 < share(lambda r: r["status"] in {"started", "starting"}) < 0.03
    assert 0.04 < share(lambda r: r["status"] == "failed") < 0.08
    assert 0.025 < share(lambda r: r["status"] == "stopped") < 0.055
    assert 0.015 < share(lambda r: "tag" not in r) < 0.045
    assert 0.75 < share(lambda r: "webhook" in r) < 0.85
    assert 0.035 < share(lambda r: "metadata" not in r) < 0.065
    assert 0.08 < share(lambda r: r.get("metadata") == {}) < 0.12
    assert 0 < share(lambda r: "experiment" in r.get("metadata", {})) < 0.012
    assert share(lambda r: isinstance(r.get("metadata", {}).get("caller"), dict)) > 0
    assert len({r["deploymentId"] for r in records}) == 6
    assert len({r.get("tag") for r in records}) >= 4
    events = {tuple(r["webhook"]["events"]) for r in records if "webhook" in r}
    assert len(events) >= 4
    assert {e for es in events for e in es} <= set(WEBHOOK_EVENTS)
    durations = sorted(r["duration"] for r in records if r["status"] == "completed")
    assert 60 <= durations[len(durations) // 2] <= 130
    assert durations[-1] > 1800


def test_generation_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="n must be"):
        generate_sessions(-1)
    with pytest.raises(ValueError, match="timezone-aware"):
        generate_sessions(1, now=datetime(2025, 1, 1))
    assert generate_sessions(0) == []
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    first = generate_sessions(50, start=start, span_days=1)
    assert all(start <= parse(s.to_dict()["createdAt"]) < start + timedelta(days=1) for s in first)


# -- paging ---------------------------------------------------------------------------------


def test_defaults_are_page_1_of_10(client: httpx.Client, server: FakeServer) -> None:
    answer = client.get(SESSIONS_PATH)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    body = answer.json()
    assert list(body) == ["data", "pageInfo"]
    assert body["pageInfo"] == {"totalItems": N, "currentPage": 1, "perPage": 10, "total": N}
    assert [s["sessionId"] for s in body["data"]] == server.api.session_ids()[:10]


def test_pages_concatenate_to_the_ground_truth(client: httpx.Client, server: FakeServer) -> None:
    ids: list[str] = []
    for page in range(1, 15):
        body = list_page(client, page=page, perPage=100).json()
        assert body["pageInfo"]["currentPage"] == page
        assert len(body["data"]) == (100 if page <= 12 else 34 if page == 13 else 0)
        ids.extend(s["sessionId"] for s in body["data"])
    assert ids == server.api.session_ids()
    records = [s.to_dict() for s in server.api.sessions_snapshot()[:100]]
    assert list_page(client, page=1, perPage=100).json()["data"] == records
    created = [s.created_ms for s in server.api.sessions_snapshot()]
    assert created == sorted(created, reverse=True)


def test_per_page_is_clamped_and_echoed() -> None:
    with serve(120, max_per_page=50) as srv, httpx.Client(base_url=srv.url) as c:
        c.headers["Authorization"] = srv.token()
        body = list_page(c, perPage=500).json()
        assert len(body["data"]) == 50
        assert body["pageInfo"] == {
            "totalItems": 120,
            "currentPage": 1,
            "perPage": 50,
            "total": 120,
        }
        assert srv.stats.pages == {(1, 500): 1}


@pytest.mark.parametrize("query", ["page=0", "perPage=-3", "page=abc", "perPage=1.5"])
def test_bad_paging_is_a_400(client: httpx.Client, query: str) -> None:
    answer = client.get(f"{SESSIONS_PATH}?{query}")
    assert answer.status_code == 400
    assert "error" in answer.json()


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("items", {"totalItems": 95, "currentPage": 2, "perPage": 20, "total": 95}),
        ("pages", {"totalItems": 95, "currentPage": 2, "perPage": 20, "total": 5}),
        ("missing", {"currentPage": 2, "perPage": 20}),
    ],
)
def test_total_modes(mode: str, expected: dict[str, int]) -> None:
    api = FakeVideoSDK(95, total_mode=mode)  # type: ignore[arg-type]
    with httpx.Client(transport=httpx.MockTransport(api.handler), base_url="https://x") as c:
        c.headers["Authorization"] = api.token()
        assert list_page(c, page=2, perPage=20).json()["pageInfo"] == expected


# -- auth -----------------------------------------------------------------------------------


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "apikey": FAKE_API_KEY,
        "permissions": ["allow_join"],
        "version": 2,
        "roles": ["crawler"],
        "iat": now,
        "exp": now + 600,
    }
    claims.update(changes)
    return claims


def test_a_token_minted_with_pyjwt_is_accepted(server: FakeServer) -> None:
    token = jwt.encode(_claims(), FAKE_SECRET, algorithm="HS256")
    answer = httpx.get(f"{server.url}{SESSIONS_PATH}", headers={"Authorization": token})
    assert answer.status_code == 200
    decoded = jwt.decode(server.token(), FAKE_SECRET, algorithms=["HS256"])
    assert decoded["apikey"] == FAKE_API_KEY
    assert decoded["exp"] - decoded["iat"] == 7200


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing"),
        ("", "missing"),
        ("Bearer {token}", "Bearer"),
        ("bearer {token}", "Bearer"),
        ("not-a-jwt", "invalid token"),
        ("{bad_signature}", "bad signature"),
        ("{expired}", "token expired"),
        ("{wrong_key}", "apikey"),
        ("{none_alg}", "HS256"),
    ],
)
def test_bad_credentials_are_a_401(server: FakeServer, header: str | None, message: str) -> None:
    tokens = {
        "token": server.token(),
        "bad_signature": jwt.encode(_claims(), "another-secret-of-at-least-32-bytes!", "HS256"),
        "expired": server.api.token(ttl_seconds=-5),
        "wrong_key": jwt.encode(_claims(apikey="someone-else"), FAKE_SECRET, "HS256"),
        "none_alg": jwt.encode(_claims(), None, algorithm="none"),
    }
    headers = {} if header is None else {"Authorization": header.format(**tokens)}
    for path in (SESSIONS_PATH, f"{SESSIONS_PATH}/{server.api.session_ids()[0]}"):
        answer = httpx.get(f"{server.url}{path}", headers=headers)
        assert answer.status_code == 401
        assert message in answer.json()["error"]


# -- other endpoints ------------------------------------------------------------------------


def test_single_session(client: httpx.Client, server: FakeServer) -> None:
    listed = {s.session_id: s.to_dict() for s in server.api.sessions_snapshot()}
    with_extras = next(i for i, r in listed.items() if "webhook" in r and "metadata" in r)
    for session_id in (with_extras, *list(listed)[:20]):
        answer = client.get(f"{SESSIONS_PATH}/{session_id}")
        assert answer.status_code == 200
        expected = {k: v for k, v in listed[session_id].items() if k not in {"webhook", "metadata"}}
        assert answer.json() == expected
    missing = client.get(f"{SESSIONS_PATH}/{uuid.UUID(int=0)}")
    assert missing.status_code == 404
    assert list(missing.json()) == ["error"]


def test_unknown_paths_and_methods(client: httpx.Client) -> None:
    assert client.get("/ai/v1/nothing").status_code == 404
    assert client.get(f"{SESSIONS_PATH}/a/b").status_code == 404
    answer = client.post(SESSIONS_PATH)
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, HEAD"
    head = client.head(SESSIONS_PATH)
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) == len(client.get(SESSIONS_PATH).content)


# -- state changes --------------------------------------------------------------------------


def test_insert_every_shifts_offsets() -> None:
    with serve(100, insert_every=2) as srv, httpx.Client(base_url=srv.url) as c:
        c.headers["Authorization"] = srv.token()
        first = list_page(c, page=1, perPage=10).json()["data"]
        stats = srv.stats
        assert stats.inserted == ()
        second = list_page(c, page=2, perPage=10).json()
        stats = srv.stats
        assert len(stats.inserted) == 1
        new_id = stats.inserted[0]
        assert second["pageInfo"]["totalItems"] == 101
        assert second["data"][0] == first[-1]  # shifted down by the new session
        assert srv.api.session_ids()[0] == new_id
        top = list_page(c, page=1, perPage=1).json()["data"][0]
        assert top["sessionId"] == new_id
        assert top["status"] == "starting"
        assert "end" not in top
        assert parse(top["createdAt"]) > parse(first[0]["createdAt"])


def test_insert_and_finish_running() -> None:
    api = FakeVideoSDK(2000, seed=8)
    before = {s.session_id: s for s in api.sessions_snapshot()}
    running = {i for i, s in before.items() if s.running}
    assert running
    new = [api.insert_session() for _ in range(70)]  # more than one internal batch
    new.append(api.insert_session(status="completed"))
    assert api.session_ids()[: len(new)] == [s.session_id for s in reversed(new)]
    assert api.stats.inserted == tuple(s.session_id for s in new)
    created = [s.created_ms for s in api.sessions_snapshot()]
    assert created == sorted(created, reverse=True)
    assert "duration" in new[-1].to_dict()
    finished = api.finish_running()
    assert set(finished) == running | {s.session_id for s in new[:-1]}
    after = {s.session_id: s for s in api.sessions_snapshot()}
    assert list(after)[len(new) :] == list(before)
    for session_id, session in before.items():
        if session_id not in running:
            assert after[session_id] is session or after[session_id] == session
            continue
        record = after[session_id].to_dict()
        assert record["status"] == "completed"
        assert record["end"] == record["updatedAt"]
        assert record["duration"] >= 0
        unchanged = session.to_dict()
        assert record["createdAt"] == unchanged["createdAt"]
        assert record.get("metadata") == unchanged.get("metadata")
        assert list(record) == [k for k in VENDOR_KEY_ORDER if k in record]
    assert api.finish_running() == []
    with pytest.raises(ValueError, match="status"):
        api.finish_running(status="starting")
    with pytest.raises(ValueError, match="status"):
        api.insert_session(status="bogus")


def test_a_prebuilt_list_is_served_in_api_order() -> None:
    sessions = generate_sessions(40, seed=4)
    api = FakeVideoSDK(list(reversed(sessions)))
    assert api.sessions_snapshot() == sessions
    with pytest.raises(ValueError, match="unique"):
        FakeVideoSDK([sessions[0], sessions[0]])


# -- errors, limits and faults over real HTTP -----------------------------------------------


def test_error_rate() -> None:
    with serve(50, error_rate=1.0) as srv, httpx.Client(base_url=srv.url) as c:
        c.headers["Authorization"] = srv.token()
        statuses = {list_page(c).status_code for _ in range(40)}
        assert statuses == {500, 502, 503, 504}
        assert c.get(f"{SESSIONS_PATH}/{srv.api.session_ids()[0]}").status_code == 200
        assert srv.stats.faults == {"error": 40}
    api = FakeVideoSDK(50, error_rate=0.25)
    request = httpx.Request(
        "GET", f"https://x{SESSIONS_PATH}", headers={"Authorization": api.token()}
    )
    failed = sum(api.handler(request).status_code >= 500 for _ in range(400))
    assert 60 < failed < 140


def test_rate_limit_with_retry_after_seconds() -> None:
    clock = FakeClock()
    with serve(20, clock=clock, rate_limit=2.0) as srv, httpx.Client(base_url=srv.url) as c:
        c.headers["Authorization"] = srv.token()
        assert [list_page(c).status_code for _ in range(3)] == [200, 200, 429]
        limited = list_page(c)
        assert limited.headers["retry-after"] == "1"
        assert limited.json() == {"error": "Too many requests, please try again later."}
        clock.now += 0.5  # one more token
        assert [list_page(c).status_code for _ in range(2)] == [200, 429]
        assert srv.stats.statuses == {200: 3, 429: 3}


@pytest.mark.parametrize("style", ["http-date", "absent"])
def test_rate_limit_retry_after_styles(style: str) -> None:
    clock = FakeClock()
    srv = serve(20, clock=clock, rate_limit=0.5, retry_after=style)
    with srv, httpx.Client(base_url=srv.url, headers={"Authorization": srv.token()}) as c:
        assert list_page(c).status_code == 200
        before = datetime.now(timezone.utc).replace(microsecond=0)
        limited = list_page(c)
        after = datetime.now(timezone.utc)
    assert limited.status_code == 429
    if style == "absent":
        assert "retry-after" not in limited.headers
    else:  # one token per 2 s: come back 2 s after the answer (to the second)
        when = email.utils.parsedate_to_datetime(limited.headers["retry-after"])
        assert before + timedelta(seconds=1) <= when <= after + timedelta(seconds=2)


def test_reset() -> None:
    with serve(500, faults={"reset": 1.0}) as srv, httpx.Client(base_url=srv.url) as c:
        c.headers["Authorization"] = srv.token()
        with pytest.raises(httpx.ReadError):
            list_page(c, perPage=500)
        srv.api.reconfigure(faults={})
        assert list_page(c, perPage=500).status_code == 200  # a fresh connection
        assert srv.stats.faults == {"reset": 1}


def test_truncated() -> None:
    with serve(200, faults={"truncated": 1.0}) as srv, httpx.Client(base_url=srv.url) as c:
        c.headers["Authorization"] = srv.token()
        answer = list_page(c, perPage=200)
        assert answer.status_code == 200
        assert int(answer.headers["content-length"]) == len(answer.content)
        with pytest.raises(json.JSONDecodeError):
            answer.json()
        srv.api.reconfigure(faults={})
        full = list_page(c, perPage=200).content
        assert full.startswith(answer.content)
        assert len(answer.content) == len(full) // 2


def test_html_200() -> None:
    with serve(20, faults={"html200": 1.0}) as srv, httpx.Client(base_url=srv.url) as c:
        answer = c.get(SESSIONS_PATH, headers={"Authorization": srv.token()})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.text.startswith("<!DOCTYPE html>")


def test_slow_body_arrives_in_pieces() -> None:
    srv = serve(300, faults={"slow": 1.0}, slow_seconds=0.4)
    with srv, httpx.Client(base_url=srv.url, headers={"Authorization": srv.token()}) as c:
        started = time.perf_counter()
        with c.stream("GET", SESSIONS_PATH, params={"perPage": 300}) as answer:
            pieces = list(answer.iter_raw())
        elapsed = time.perf_counter() - started
    assert len(pieces) >= 2
    assert elapsed >= 0.4
    assert len(json.loads(b"".join(pieces))["data"]) == 300


def test_burst_of_429() -> None:
    with (
        serve(20, faults={"burst429": 1.0}, burst_length=4) as srv,
        httpx.Client(base_url=srv.url) as c,
    ):
        c.headers["Authorization"] = srv.token()
        first = list_page(c)
        assert first.status_code == 429
        assert first.headers["retry-after"] == "1"
        srv.api.reconfigure(faults={})
        assert [list_page(c).status_code for _ in range(4)] == [429, 429, 429, 200]
        assert srv.stats.faults == {"burst429": 4}


def test_hang_needs_a_client_timeout() -> None:
    srv = serve(20, faults={"hang": 1.0})
    with srv, httpx.Client(base_url=srv.url, timeout=httpx.Timeout(5.0, read=0.3)) as c:
        with pytest.raises(httpx.ReadTimeout):
            c.get(SESSIONS_PATH, headers={"Authorization": srv.token()})
        assert srv.stats.faults == {"hang": 1}
    assert srv.stats.statuses == {}


def test_faults_spare_the_detail_endpoint_and_follow_their_odds() -> None:
    api = FakeVideoSDK(30, faults={"html200": 0.3, "truncated": 0.3})
    token = api.token()
    detail = httpx.Request("GET", f"https://x{SESSIONS_PATH}/{api.session_ids()[3]}")
    detail.headers["Authorization"] = token
    assert all(api.handler(detail).status_code == 200 for _ in range(20))
    listing = httpx.Request("GET", f"https://x{SESSIONS_PATH}", headers={"Authorization": token})
    for _ in range(300):
        api.handler(listing)
    faults = api.stats.faults
    assert 60 < faults["html200"] < 120
    assert 60 < faults["truncated"] < 120


# -- transport behaviour ---------------------------------------------------------------------


def test_peak_in_flight_counts_concurrent_requests_during_latency() -> None:
    latency = 1.0  # generous: all 8 requests must arrive within it, also on a busy machine
    limits = httpx.Limits(max_connections=8)
    with serve(50, latency=latency) as srv, httpx.Client(base_url=srv.url, limits=limits) as c:
        c.headers["Authorization"] = srv.token()
        all_ready = threading.Barrier(8)

        def fetch(page: int) -> int:
            all_ready.wait()
            return list_page(c, page=page).status_code

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(fetch, range(1, 9)))
        elapsed = time.perf_counter() - started
        stats = srv.stats
    assert statuses == [200] * 8
    assert stats.peak_in_flight == 8
    assert stats.in_flight == 0
    assert latency <= elapsed < 8 * latency
    assert stats.pages == {(page, 10): 1 for page in range(1, 9)}


def _raw_exchange(url: str, request: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def test_keep_alive_and_connection_close(server: FakeServer) -> None:
    token = server.token()
    keep = f"GET {SESSIONS_PATH}?perPage=1 HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n\r\n"
    close = keep.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n")
    received = _raw_exchange(server.url, (keep + keep + close).encode())  # pipelined
    assert received.count(b"HTTP/1.1 200 OK\r\n") == 3
    assert received.count(b"Connection: keep-alive\r\n") == 2
    assert received.count(b"Connection: close\r\n") == 1
    head, _, body = received.rpartition(b"\r\n\r\n")
    assert json.loads(body)["pageInfo"]["perPage"] == 1
    assert b"Content-Length: " in head
    old = _raw_exchange(server.url, keep.replace("HTTP/1.1", "HTTP/1.0").encode())
    assert old.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Connection: close\r\n" in old


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"NONSENSE\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", b"501"),
        (b"GET / HTTP/1.1\r\nX: " + b"y" * 70_000 + b"\r\n\r\n", b"431"),
    ],
)
def test_malformed_requests(server: FakeServer, request_bytes: bytes, status: bytes) -> None:
    assert _raw_exchange(server.url, request_bytes).startswith(b"HTTP/1.1 " + status)


def test_mock_transport_matches_the_real_server() -> None:
    api = FakeVideoSDK(150, seed=9, max_per_page=40)
    twin = FakeVideoSDK(150, seed=9, max_per_page=40)
    token = api.token()
    first_id = api.session_ids()[0]
    cases: list[tuple[str, str, dict[str, str]]] = [
        ("GET", SESSIONS_PATH, {"Authorization": token}),
        ("GET", f"{SESSIONS_PATH}?page=3&perPage=25", {"Authorization": token}),
        ("GET", f"{SESSIONS_PATH}/?perPage=100", {"Authorization": token}),
        ("GET", f"{SESSIONS_PATH}?page=99", {"Authorization": token}),
        ("GET", f"{SESSIONS_PATH}?page=x", {"Authorization": token}),
        ("GET", f"{SESSIONS_PATH}/{first_id}", {"Authorization": token}),
        ("GET", f"{SESSIONS_PATH}/missing", {"Authorization": token}),
        ("GET", SESSIONS_PATH, {}),
        ("GET", SESSIONS_PATH, {"Authorization": f"Bearer {token}"}),
        ("GET", "/elsewhere", {}),
        ("DELETE", SESSIONS_PATH, {"Authorization": token}),
        ("HEAD", SESSIONS_PATH, {"Authorization": token}),
    ]
    mock = httpx.Client(transport=httpx.MockTransport(api.handler), base_url="https://api.test")
    with FakeServer(twin) as srv, httpx.Client(base_url=srv.url) as real, mock:
        for method, path, headers in cases:
            expected = real.request(method, path, headers=headers)
            got = mock.request(method, path, headers=headers)
            assert got.status_code == expected.status_code, path
            assert got.content == expected.content, path
            for name in ("content-type", "content-length", "allow"):
                assert got.headers.get(name) == expected.headers.get(name), (path, name)
    assert api.stats == twin.stats


@pytest.mark.parametrize(
    ("kind", "error"), [("reset", httpx.ReadError), ("hang", httpx.ReadTimeout)]
)
def test_mock_transport_raises_what_httpx_raises_for_transport_faults(
    kind: FaultKind, error: type[httpx.TransportError]
) -> None:
    api = FakeVideoSDK(10, faults={kind: 1.0})
    with httpx.Client(transport=httpx.MockTransport(api.handler)) as c, pytest.raises(error):
        c.get(f"https://x{SESSIONS_PATH}", headers={"Authorization": api.token()})
    assert api.stats.in_flight == 0


# -- the objects themselves -----------------------------------------------------------------


def test_stats_reset(server: FakeServer) -> None:
    api = FakeVideoSDK(30)
    request = httpx.Request("GET", f"https://x{SESSIONS_PATH}?page=2&perPage=5")
    request.headers["Authorization"] = api.token()
    api.handler(request)
    api.handler(request)
    stats = api.stats
    assert (stats.requests, stats.list_requests, stats.detail_requests) == (2, 2, 0)
    assert stats.pages == {(2, 5): 2}
    assert stats.statuses == {200: 2}
    assert stats.peak_in_flight == 1
    api.reset_stats()
    assert api.stats.requests == 0
    assert api.stats.pages == {}


def test_config_is_validated_and_keeps_the_secret_out_of_reprs() -> None:
    config = FakeConfig(faults={"slow": 0.5})
    assert config.faults == {"slow": 0.5}
    assert sorted(FakeKnobs.__annotations__) == sorted(
        f.name for f in FakeConfig.__dataclass_fields__.values()
    )
    for bad in (
        {"max_per_page": 0},
        {"error_rate": 1.5},
        {"faults": {"explode": 0.1}},
        {"faults": {"reset": 0.7, "hang": 0.7}},
        {"total_mode": "all"},
        {"rate_limit": 0},
    ):
        with pytest.raises(ConfigurationError):
            FakeConfig(**bad)
    with pytest.raises(ConfigurationError):
        FakeServer(FakeVideoSDK(1), sessions=3)
    api = FakeVideoSDK(5, secret="x" * 40)
    server = FakeServer(api)
    for shown in (repr(config), repr(api), repr(server), repr(api.config), str(api.stats)):
        assert FAKE_SECRET not in shown
        assert "x" * 40 not in shown
    assert FAULT_KINDS[:6] == ("reset", "truncated", "html200", "slow", "burst429", "hang")
    assert FAULT_KINDS[6:] == ("error200", "redirect", "no_content")


def _server_threads() -> int:
    return sum(t.name == "vsdk-fake-server" for t in threading.enumerate())


def test_server_lifecycle() -> None:
    threads = _server_threads()
    srv = FakeServer(FakeVideoSDK(5))
    with pytest.raises(RuntimeError, match="not running"):
        _ = srv.url
    srv.start()
    url = srv.url
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
    with pytest.raises(RuntimeError, match="already"):
        srv.start()
    port = int(url.rsplit(":", 1)[1])
    with pytest.raises(OSError, match="in use"):
        FakeServer(FakeVideoSDK(1), port=port).start()
    srv.close()
    srv.close()
    assert _server_threads() == threads
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + SESSIONS_PATH)


def test_credentials_of_the_fake_account(server: FakeServer) -> None:
    credentials = server.credentials()
    assert FAKE_SECRET not in repr(credentials)


def test_module_entry_point_serves_in_another_process() -> None:
    command = [
        sys.executable,
        "-m",
        "vsdk_analytics.testing",
        "--sessions",
        "25",
        "--max-per-page",
        "10",
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            lines = dict(proc.stdout.readline().rstrip("\n").split("=", 1) for _ in range(3))
            assert set(lines) == {
                "VIDEOSDK_API_BASE_URL",
                "VIDEOSDK_AUTH_TOKEN",
                "VIDEOSDK_API_KEY",
            }
            answer = httpx.get(
                lines["VIDEOSDK_API_BASE_URL"] + SESSIONS_PATH,
                params={"perPage": 50},
                headers={"Authorization": lines["VIDEOSDK_AUTH_TOKEN"]},
            )
            assert answer.json()["pageInfo"] == {
                "totalItems": 25,
                "currentPage": 1,
                "perPage": 10,
                "total": 25,
            }
        finally:
            proc.terminate()
            proc.communicate(timeout=10)


def test_entry_point_rejects_bad_faults(capsys: pytest.CaptureFixture[str]) -> None:
    from vsdk_analytics.testing.__main__ import main

    with pytest.raises(SystemExit) as exited:
        main(["--fault", "meteor=0.5"])
    assert exited.value.code == 2
    assert "KIND=PROBABILITY" in capsys.readouterr().err


def test_public_names() -> None:
    assert testing.__all__ == sorted(testing.__all__, key=lambda n: (not n.isupper(), n))
    for name in testing.__all__:
        assert getattr(testing, name) is not None
    assert isinstance(generate_sessions(1)[0], FakeSession)
