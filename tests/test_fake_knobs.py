"""The fake API's paging behaviours: lying pageInfo, order, mutations, revoked keys, limits.

Each knob is checked in-process (the `httpx.MockTransport` handler) and, where it involves the
real server (jitter, connections, 204 framing), over `FakeServer` on loopback.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vsdk_analytics._constants import DEPLOYMENTS_PATH, SESSIONS_PATH
from vsdk_analytics._errors import ConfigurationError
from vsdk_analytics._schema import RUNNING_STATUSES
from vsdk_analytics.testing import (
    FakeDeployment,
    FakeServer,
    FakeSession,
    FakeVideoSDK,
    FaultKind,
    generate_deployments,
    generate_sessions,
)
from vsdk_analytics.testing.__main__ import api_from_args, fake_server_parser

pytestmark = pytest.mark.integration


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def mock_client(api: FakeVideoSDK, *, token: bool = True) -> httpx.Client:
    headers = {"Authorization": api.token()} if token else {}
    return httpx.Client(
        transport=httpx.MockTransport(api.handler),
        base_url="https://api.videosdk.live",
        headers=headers,
    )


@pytest.fixture
def server_client() -> Iterator[tuple[FakeServer, httpx.Client]]:
    with FakeServer(sessions=40, seed=2, max_per_page=10) as server:
        c = httpx.Client(base_url=server.url, headers={"Authorization": server.token()})
        with c:
            yield server, c


def page(c: httpx.Client, number: int = 1, per_page: int = 10, path: str = SESSIONS_PATH) -> Any:
    answer = c.get(path, params={"page": number, "perPage": per_page})
    assert answer.status_code == 200, answer.text
    return answer.json()


def ids(body: Any) -> list[str]:
    return [s["sessionId"] for s in body["data"]]


# -- echoed perPage and lying totals ----------------------------------------------------------


def test_echo_per_page_asked_lies_about_the_cap() -> None:
    api = FakeVideoSDK(25, max_per_page=10, echo_per_page="asked", total_mode="pages")
    with mock_client(api) as c:
        body = page(c, 1, 50)
    assert len(body["data"]) == 10
    assert body["pageInfo"] == {"totalItems": 25, "currentPage": 1, "perPage": 50, "total": 1}
    served = FakeVideoSDK(25, max_per_page=10)
    with mock_client(served) as c:
        assert page(c, 1, 50)["pageInfo"]["perPage"] == 10


def test_echo_per_page_over_http() -> None:
    with FakeServer(sessions=250, max_per_page=100, echo_per_page="asked") as server:
        answer = httpx.get(
            f"{server.url}{SESSIONS_PATH}?perPage=1000", headers={"Authorization": server.token()}
        )
    body = answer.json()
    assert len(body["data"]) == 100
    assert body["pageInfo"]["perPage"] == 1000


@pytest.mark.parametrize("claimed", [10, 0, -1, 10_000_000, 10**12])
def test_total_items_claims_a_fixed_number(claimed: int) -> None:
    api = FakeVideoSDK(25, total_items=claimed)
    with mock_client(api) as c:
        first, third = page(c, 1), page(c, 3)
    assert first["pageInfo"] == {
        "totalItems": claimed,
        "currentPage": 1,
        "perPage": 10,
        "total": claimed,
    }
    assert ids(first) == api.session_ids()[:10]
    assert len(third["data"]) == 5
    pages = FakeVideoSDK(25, total_items=claimed, total_mode="pages")
    with mock_client(pages) as c:
        info = page(c, 1)["pageInfo"]
    assert info["totalItems"] == claimed
    assert info["total"] == math.ceil(claimed / 10)


def test_pages_as_items_and_missing_totals() -> None:
    with mock_client(FakeVideoSDK(25, total_mode="pages_as_items")) as c:
        assert page(c, 2)["pageInfo"] == {
            "totalItems": 3,
            "currentPage": 2,
            "perPage": 10,
            "total": 3,
        }
    with mock_client(FakeVideoSDK(25, total_mode="pages_as_items", total_items=95)) as c:
        assert page(c, 1)["pageInfo"]["totalItems"] == 10
    with mock_client(FakeVideoSDK(25, total_mode="missing")) as c:
        assert page(c, 1)["pageInfo"] == {"currentPage": 1, "perPage": 10}
    with pytest.raises(ConfigurationError, match="total_items needs totals"):
        FakeVideoSDK(1, total_mode="missing", total_items=5)


# -- ignored pages, clamping, order -----------------------------------------------------------


def test_ignore_page_serves_page_one() -> None:
    api = FakeVideoSDK(30, ignore_page=True)
    with mock_client(api) as c:
        bodies = [page(c, n) for n in (1, 2, 9)]
    assert all(ids(b) == api.session_ids()[:10] for b in bodies)
    assert {b["pageInfo"]["currentPage"] for b in bodies} == {1}


def test_clamp_past_end_serves_the_last_page() -> None:
    api = FakeVideoSDK(25, clamp_past_end=True)
    with mock_client(api) as c:
        assert ids(page(c, 2)) == api.session_ids()[10:20]
        for number in (3, 4, 100):
            body = page(c, number)
            assert ids(body) == api.session_ids()[20:]
            assert body["pageInfo"]["currentPage"] == 3
    with mock_client(FakeVideoSDK(0, clamp_past_end=True)) as c:
        body = page(c, 5)
    assert body["data"] == []
    assert body["pageInfo"]["currentPage"] == 1
    with mock_client(FakeVideoSDK(25)) as c:
        assert page(c, 4)["data"] == []


def test_oldest_first_order_and_where_inserts_go() -> None:
    api = FakeVideoSDK(25, order="oldest_first")
    with mock_client(api) as c:
        served = [sid for n in (1, 2, 3) for sid in ids(page(c, n))]
        assert served == api.session_ids()[::-1]
        new = api.insert_session()
        assert ids(page(c, 3))[-1] == new.session_id
    newest = FakeVideoSDK(25, insert_every=1)
    with mock_client(newest) as c:
        assert ids(page(c, 1))[0] == newest.stats.inserted[0]
    inserting = FakeVideoSDK(25, insert_every=1, order="oldest_first")
    with mock_client(inserting) as c:
        body = page(c, 1)
        assert inserting.stats.inserted[0] not in ids(body)
        assert ids(page(c, 3))[-2:] == list(inserting.stats.inserted)


# -- deletions and inserts while paging -------------------------------------------------------


def test_delete_every_deletes_seeded_sessions_anywhere() -> None:
    def run(seed: int) -> tuple[FakeVideoSDK, list[str]]:
        api = FakeVideoSDK(200, seed=seed, delete_every=2)
        before = api.session_ids()
        with mock_client(api) as c:
            for n in range(1, 21):
                page(c, n)
        return api, before

    api, before = run(4)
    deleted = api.stats.deleted
    assert len(deleted) == 10
    assert len(set(deleted)) == 10
    assert set(deleted) <= set(before)
    assert not set(deleted) & set(api.session_ids())
    positions = sorted(before.index(d) for d in deleted)
    assert positions[-1] - positions[0] > 50  # anywhere in the list, not only the top
    assert api.surviving_ids() == [s for s in before if s not in deleted]
    assert run(4)[0].stats.deleted == deleted
    assert run(5)[0].stats.deleted != deleted


def test_delete_session_by_id_and_when_empty() -> None:
    api = FakeVideoSDK(2, seed=1)
    first = api.session_ids()[0]
    assert api.delete_session(first).session_id == first
    with pytest.raises(KeyError):
        api.delete_session(first)
    api.delete_session()
    with pytest.raises(KeyError, match="no session left"):
        api.delete_session()
    assert api.stats.deleted[0] == first
    with mock_client(api) as c:
        assert page(c, 1)["data"] == []


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 60),
    insert_every=st.none() | st.integers(1, 4),
    delete_every=st.none() | st.integers(1, 4),
    requests=st.integers(0, 25),
    seed=st.integers(0, 3),
)
def test_surviving_ids_is_the_initial_snapshot_minus_deletions(
    n: int, insert_every: int | None, delete_every: int | None, requests: int, seed: int
) -> None:
    api = FakeVideoSDK(n, seed=seed, insert_every=insert_every, delete_every=delete_every)
    with mock_client(api) as c:
        page(c, 1)
        api.reset_stats()
        initial = api.session_ids()
        for k in range(requests):
            page(c, 1 + k % 4)
    stats = api.stats
    surviving = api.surviving_ids()
    assert surviving == [s for s in initial if s not in set(stats.deleted)]
    assert set(api.session_ids()) == set(surviving) | (set(stats.inserted) - set(stats.deleted))
    # The warm-up request before the reset counts towards insert_every too.
    expected = (requests + 1) // insert_every - 1 // insert_every if insert_every else 0
    assert len(stats.inserted) == expected


# -- a key revoked mid-fetch ------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403, 404, 400])
def test_fail_after_n_authenticated_requests(status: int) -> None:
    api = FakeVideoSDK(50, fail_after=3, fail_status=status)
    with mock_client(api) as c:
        assert c.get(SESSIONS_PATH).status_code == 200
        sid = api.session_ids()[0]
        assert c.get(f"{SESSIONS_PATH}/{sid}").status_code == 200
        assert c.get(DEPLOYMENTS_PATH).status_code == 200
        later = [c.get(SESSIONS_PATH, params={"page": n}) for n in range(1, 5)]
        later.append(c.get(f"{SESSIONS_PATH}/{sid}"))
    assert {r.status_code for r in later} == {status}
    assert all(isinstance(r.json()["error"], str) for r in later)
    assert api.stats.authenticated == 8
    assert api.stats.faults["fail_after"] == 5
    with mock_client(api, token=False) as anonymous:
        assert "missing" in anonymous.get(SESSIONS_PATH).json()["error"]
    api.reset_stats()
    with mock_client(api) as c:
        assert c.get(SESSIONS_PATH).status_code == 200


def test_fail_after_over_http_and_validation() -> None:
    with (
        FakeServer(sessions=30, fail_after=2) as server,
        httpx.Client(base_url=server.url, headers={"Authorization": server.token()}) as c,
    ):
        statuses = [c.get(SESSIONS_PATH, params={"page": n}).status_code for n in (1, 2, 3, 1)]
    assert statuses == [200, 200, 401, 401]
    for bad in ({"fail_after": -1}, {"fail_status": 200}, {"fail_status": 600}):
        with pytest.raises(ConfigurationError):
            FakeVideoSDK(1, **bad)  # type: ignore[arg-type]


# -- rate-limit headers -----------------------------------------------------------------------


def test_rate_limit_headers_follow_the_token_bucket() -> None:
    clock = FakeClock()
    api = FakeVideoSDK(30, rate_limit=2, rate_burst=3, rate_limit_headers=True, clock=clock)
    with mock_client(api) as c:
        answers = [c.get(SESSIONS_PATH) for _ in range(4)]
        clock.now += 1.0
        refilled = c.get(SESSIONS_PATH)
        unauthenticated = c.get(SESSIONS_PATH, headers={"Authorization": ""})
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    for prefix in ("X-RateLimit-", "RateLimit-"):
        assert [r.headers[prefix + "Limit"] for r in answers] == ["3"] * 4
        assert [r.headers[prefix + "Remaining"] for r in answers] == ["2", "1", "0", "0"]
        assert [r.headers[prefix + "Reset"] for r in answers] == ["1", "1", "2", "2"]
        assert refilled.headers[prefix + "Remaining"] == "1"
        assert refilled.headers[prefix + "Reset"] == "1"
    assert refilled.status_code == 200
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["RateLimit-Remaining"] == "0"
    for quiet in (
        FakeVideoSDK(3, rate_limit=2),
        FakeVideoSDK(3, rate_limit_headers=True),
    ):
        with mock_client(quiet) as c:
            assert "ratelimit-limit" not in c.get(SESSIONS_PATH).headers


# -- new faults -------------------------------------------------------------------------------


def test_error200_redirect_and_no_content_faults() -> None:
    for kind, status in (("error200", 200), ("redirect", 302), ("no_content", 204)):
        api = FakeVideoSDK(20, faults={kind: 1.0})  # type: ignore[dict-item]
        with mock_client(api) as c:
            answer = c.get(SESSIONS_PATH)
        assert answer.status_code == status
        assert api.stats.faults[kind] == 1
        if kind == "error200":
            assert answer.json() == {"error": "Internal error: try later"}
        elif kind == "redirect":
            location = httpx.URL(answer.headers["location"])
            assert location.host not in {"api.videosdk.live", "127.0.0.1"}
        else:
            assert answer.content == b""


def test_new_faults_over_http() -> None:
    faults: dict[FaultKind, float] = {"error200": 0.3, "redirect": 0.3, "no_content": 0.4}
    with (
        FakeServer(sessions=20, seed=1, faults=faults) as server,
        httpx.Client(base_url=server.url, headers={"Authorization": server.token()}) as c,
    ):
        answers = [c.get(SESSIONS_PATH) for _ in range(30)]
    by_status = {a.status_code: a for a in answers}
    assert set(by_status) == {200, 204, 302}
    assert "content-length" not in by_status[204].headers
    assert by_status[204].content == b""
    assert by_status[302].headers["location"].startswith("https://")
    assert by_status[200].json()["error"] == "Internal error: try later"


# -- jitter and connections over real HTTP ----------------------------------------------------


def test_jitter_is_seeded_and_bounded() -> None:
    def delays(seed: int) -> list[float]:
        api = FakeVideoSDK(1, seed=seed, latency=0.01, jitter=0.04)
        return [api.delay() for _ in range(50)]

    first = delays(3)
    assert first == delays(3)
    assert first != delays(4)
    assert all(0.01 <= d <= 0.05 for d in first)
    assert len(set(first)) == 50
    assert FakeVideoSDK(1, latency=0.2).delay() == 0.2
    with pytest.raises(ConfigurationError, match="jitter"):
        FakeVideoSDK(1, jitter=-1)


def test_jitter_over_http_serves_every_page(
    server_client: tuple[FakeServer, httpx.Client],
) -> None:
    server, c = server_client
    server.api.reconfigure(jitter=0.005)
    served = [sid for n in range(1, 5) for sid in ids(page(c, n))]
    assert served == server.api.session_ids()


def test_connections_opened_counts_tcp_connections(
    server_client: tuple[FakeServer, httpx.Client],
) -> None:
    server, c = server_client
    for n in (1, 2, 3):
        page(c, n)
    assert server.connections_opened == 1
    with httpx.Client(base_url=server.url, headers={"Authorization": server.token()}) as other:
        page(other, 1)
        page(other, 2)
    assert server.connections_opened == 2
    page(c, 4, path=DEPLOYMENTS_PATH)
    closing = httpx.get(f"{server.url}{SESSIONS_PATH}", headers={"Connection": "close"})
    assert closing.status_code == 401
    assert server.connections_opened == 3
    assert FakeServer(sessions=1).connections_opened == 0


# -- deployments ------------------------------------------------------------------------------


def test_deployments_endpoint_pages_like_sessions() -> None:
    api = FakeVideoSDK(500, seed=7, max_per_page=4)
    truth = api.deployments_snapshot()
    with mock_client(api) as c:
        first, second, third = (page(c, n, 10, DEPLOYMENTS_PATH) for n in (1, 2, 3))
        refused = c.get(DEPLOYMENTS_PATH, headers={"Authorization": ""})
    assert first["pageInfo"] == {"totalItems": 6, "currentPage": 1, "perPage": 4, "total": 6}
    records = first["data"] + second["data"]
    assert third["data"] == []
    assert records == [d.to_dict() for d in truth]
    assert refused.status_code == 401
    assert api.stats.deployment_requests == 4
    assert api.stats.list_requests == 0
    assert {r["id"] for r in records} == {
        s.to_dict()["deploymentId"] for s in api.sessions_snapshot()
    }
    for record in records:
        assert list(record) == ["id", "name", "tag", "description", "status", "created_at"]
        assert record["name"].endswith("-bot")
        assert record["status"] in {"active", "inactive"}
        assert record["created_at"] < min(s.to_dict()["createdAt"] for s in api.sessions_snapshot())
    assert len({r["name"] for r in records}) == 6
    created = [r["created_at"] for r in records]
    assert created == sorted(created, reverse=True)
    assert truth == FakeVideoSDK(500, seed=7).deployments_snapshot()

    def identity(api: FakeVideoSDK) -> list[tuple[str, str, str | None]]:
        return [(d.deployment_id, d.name, d.tag) for d in api.deployments_snapshot()]

    assert identity(FakeVideoSDK(10, seed=7)) == identity(api)
    assert identity(FakeVideoSDK(10, seed=8)) != identity(api)
    assert all(isinstance(d, FakeDeployment) for d in generate_deployments(7))


def test_deployments_share_paging_knobs_and_faults() -> None:
    api = FakeVideoSDK(50, order="oldest_first", total_mode="missing", faults={"error200": 0.5})
    with mock_client(api) as c:
        answers = [c.get(DEPLOYMENTS_PATH, params={"perPage": 3}) for _ in range(20)]
    good = [a.json() for a in answers if "data" in a.json()]
    assert 0 < len(good) < 20
    names = [d.name for d in api.deployments_snapshot()[::-1][:3]]
    assert all([r["name"] for r in g["data"]] == names for g in good)
    assert all(g["pageInfo"] == {"currentPage": 1, "perPage": 3} for g in good)


def test_deployments_of_given_sessions_and_over_http() -> None:
    session = generate_sessions(1, seed=3)[0]
    record = session.to_dict()
    record["deploymentId"] = "foreign-deployment"
    foreign = FakeSession("x-1", session.created_ms, session.status, json.dumps(record).encode())
    api = FakeVideoSDK([session, foreign], seed=3)
    names = {d.deployment_id: d.name for d in api.deployments_snapshot()}
    assert names["foreign-deployment"] == "deployment-1"
    assert len(names) == 7
    with FakeServer(api) as server:
        answer = httpx.get(
            f"{server.url}{DEPLOYMENTS_PATH}?perPage=100", headers={"Authorization": server.token()}
        )
    assert [d["id"] for d in answer.json()["data"]] == list(names)


# -- open sessions are recent -----------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 3000),
    seed=st.integers(0, 10**6),
    span_days=st.sampled_from([1, 28, 400]),
)
def test_open_sessions_are_the_newest(n: int, seed: int, span_days: int) -> None:
    records = [s.to_dict() for s in generate_sessions(n, seed=seed, span_days=span_days)]
    stamps = ("createdAt", "updatedAt", "start", "end")
    snapshot = max(r[k] for r in records for k in stamps if k in r)
    cutoff = datetime.fromisoformat(snapshot.replace("Z", "+00:00")) - timedelta(hours=1)
    for r in records:
        if r["status"] in RUNNING_STATUSES:
            assert "end" not in r
            updated = datetime.fromisoformat(r["updatedAt"].replace("Z", "+00:00"))
            assert updated >= cutoff.astimezone(timezone.utc), (r, snapshot)


# -- both entry points ------------------------------------------------------------------------


FLAGS = [
    *("--echo-per-page", "asked", "--jitter", "0.01", "--delete-every", "3"),
    *("--total-mode", "pages_as_items", "--total-items", "-1", "--order", "oldest_first"),
    *("--ignore-page", "--clamp-past-end", "--fail-after", "20", "--fail-status", "403"),
    *("--rate-limit", "25", "--rate-limit-headers", "--fault", "no_content=0.1"),
    *("--fault", "error200=0.1", "--fault", "redirect=0.1", "--sessions", "5"),
    *("--deployments-status", "404"),
]


@pytest.mark.parametrize("entry_point", ["python -m vsdk_analytics.testing", "vsdk-analytics"])
def test_every_knob_has_a_flag(entry_point: str) -> None:
    if entry_point == "vsdk-analytics":
        from vsdk_analytics._cli.parser import build_parser

        args = build_parser(entry_point).parse_args(["fake-server", *FLAGS])
    else:
        args = fake_server_parser().parse_args(FLAGS)
    config = api_from_args(args).config
    assert (config.echo_per_page, config.jitter, config.delete_every) == ("asked", 0.01, 3)
    assert (config.total_mode, config.total_items, config.order) == (
        "pages_as_items",
        -1,
        "oldest_first",
    )
    assert config.ignore_page
    assert config.clamp_past_end
    assert (config.fail_after, config.fail_status) == (20, 403)
    assert config.deployments_status == 404
    assert config.rate_limit_headers
    assert dict(config.faults) == {"no_content": 0.1, "error200": 0.1, "redirect": 0.1}
    defaults = api_from_args(fake_server_parser().parse_args([])).config
    assert (defaults.echo_per_page, defaults.order, defaults.fail_after) == (
        "served",
        "newest_first",
        None,
    )
