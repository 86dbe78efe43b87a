"""The fetch engine's rule against paging behaviours of real APIs, over real HTTP and the CLI.

Every session that existed for the whole fetch comes back exactly once, or the call raises a
typed error: capped pages with a lying ``perPage``, no totals, out-of-order completion, inserts
and deletions while paging, totals that lie in either direction, a key revoked mid-fetch,
unreachable hosts and answers that are not pages.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

import vsdk_analytics as va
from tests._fetching import fetch_with_stats
from vsdk_analytics.testing import FAKE_API_KEY, FAKE_SECRET, FakeServer, no_backoff

pytestmark = pytest.mark.integration


def _fetch(server: FakeServer, **kwargs: Any) -> tuple[Any, va.IncompleteFetchError | None]:
    options: dict[str, Any] = {"progress": False, "max_concurrency": 8} | kwargs
    try:
        frame, _ = asyncio.run(
            fetch_with_stats(server.credentials(), base_url=server.url, **options)
        )
    except va.IncompleteFetchError as exc:
        return exc.sessions, exc
    return frame, None


def _cli(server: FakeServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOSDK_")}
    env |= {"VIDEOSDK_API_KEY": FAKE_API_KEY, "VIDEOSDK_SECRET_KEY": FAKE_SECRET}
    return subprocess.run(  # noqa: PLW1510 - the code is asserted
        [sys.executable, "-m", "vsdk_analytics", *args, "--base-url", server.url],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_a_cap_the_server_hides_behind_an_echoed_per_page(tmp_path: Path) -> None:
    with FakeServer(sessions=5000, max_per_page=100, echo_per_page="asked") as server:
        frame, error = _fetch(server, per_page=1000)
        assert error is None
        assert set(frame["session_id"]) == set(server.api.session_ids())
        assert frame.height == 5000
        out = tmp_path / "s.parquet"
        result = _cli(server, "fetch", "-o", str(out), "--per-page", "1000", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert va.read_parquet(out).height == 5000


def test_no_totals_jitter_and_inserts_every_original_session_once(tmp_path: Path) -> None:
    with FakeServer(
        sessions=6000, max_per_page=100, total_mode="missing", jitter=0.04, insert_every=7, seed=3
    ) as server:
        original = set(server.api.session_ids())
        frame, error = _fetch(server, per_page=100)
        assert error is None, error
        ids = frame["session_id"]
        assert ids.n_unique() == frame.height
        assert original <= set(ids.to_list())
        assert server.stats.inserted
        original = set(server.api.session_ids())
        out = tmp_path / "s.parquet"
        result = _cli(server, "fetch", "-o", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    stored = va.read_parquet(out)["session_id"]
    assert stored.n_unique() == stored.len()
    assert original <= set(stored.to_list())


@pytest.mark.parametrize("every", [5, 13])
def test_deletions_while_paging_never_give_a_silently_short_frame(every: int) -> None:
    with FakeServer(
        sessions=3000, max_per_page=100, total_mode="missing", delete_every=every, jitter=0.01
    ) as server:
        frame, error = _fetch(server, per_page=100)
        surviving = set(server.api.surviving_ids())
    got = set(frame["session_id"])
    assert frame["session_id"].n_unique() == frame.height
    if error is None:
        assert surviving <= got
    else:
        assert error.unverified or error.missing_pages


def test_the_401s_in_flight_share_one_re_mint() -> None:
    """Eight requests refused at once cost one resend with a fresh token, not eight; once
    that one is refused too, a later 401 is not resent with the same token. When the
    fresh token is accepted, every refused request is sent again with it."""
    from vsdk_analytics._http import build_wire

    async def eight(server: FakeServer) -> list[int]:
        wire = build_wire(base_url=server.url, credentials=server.credentials(), max_concurrency=8)
        url = f"{server.url}/ai/v1/ai-deployment-sessions?page=1&perPage=10"
        try:
            answers = await asyncio.gather(*(wire.get(url) for _ in range(8)))
            later = await wire.get(url)
        finally:
            await wire.aclose()
        return [a.status for a in [*answers, later]]

    with FakeServer(sessions=50, latency=0.05) as server:
        server.api.reconfigure(fail_after=0, fail_status=401)
        assert asyncio.run(eight(server)) == [401] * 9
        assert server.stats.list_requests == 8 + 1 + 1  # the eight, one re-mint, the later one

    class StaleUntilReminted(va.Credentials):
        """Signs with a token the server refuses until a fresh one is minted."""

        reminted = False

        def token(self, *, force_refresh: bool = False) -> str:
            if force_refresh:
                self.reminted = True
            return super().token(force_refresh=force_refresh) if self.reminted else "stale"

    async def eight_then_fresh(server: FakeServer) -> list[int]:
        credentials = StaleUntilReminted(api_key=FAKE_API_KEY, secret=FAKE_SECRET)
        wire = build_wire(base_url=server.url, credentials=credentials, max_concurrency=8)
        url = f"{server.url}/ai/v1/ai-deployment-sessions?page=1&perPage=10"
        try:
            return [a.status for a in await asyncio.gather(*(wire.get(url) for _ in range(8)))]
        finally:
            await wire.aclose()

    with FakeServer(sessions=50, latency=0.2) as server:  # all eight out before a 401 is back
        assert asyncio.run(eight_then_fresh(server)) == [200] * 8
        assert server.stats.list_requests == 8 + 1 + 7  # each refused one sent again, fresh


@pytest.mark.parametrize(
    ("status", "error"), [(401, va.AuthenticationError), (403, va.PermissionDeniedError)]
)
def test_a_key_revoked_mid_fetch_ends_it_at_once(
    tmp_path: Path, status: int, error: type[Exception]
) -> None:
    with FakeServer(sessions=20_000, max_per_page=100, latency=0.01) as server:
        server.api.reconfigure(fail_after=20, fail_status=status)
        with pytest.raises(error):
            _fetch(server, per_page=100)
        after = server.stats.list_requests - 20
        assert after <= 2 * 8 + 1  # in flight when it came back, and the fresh-token retry
        server.api.reset_stats()
        out = tmp_path / "s.parquet"
        result = _cli(server, "fetch", "-o", str(out), "--no-progress")
    assert result.returncode == 4, result.stderr
    assert not out.exists()
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("claimed", [10, 0, -1, 10_000_000, 10**12])
def test_totals_that_lie_are_verified_against_the_rows(claimed: int) -> None:
    with FakeServer(sessions=25, max_per_page=10, total_items=claimed) as server:
        frame, error = _fetch(server, per_page=10)
        requests = server.stats.list_requests
    assert error is None
    assert frame.height == 25
    assert requests <= 3 + 16 + 3  # pages, at most one window ahead, stitches


def test_the_page_count_put_in_total_items_is_no_end() -> None:
    with FakeServer(sessions=25, max_per_page=10, total_mode="pages_as_items") as server:
        frame, error = _fetch(server, per_page=10)
    assert error is None and frame.height == 25


def test_short_pages_without_totals_while_echoing_the_asked_size() -> None:
    with FakeServer(
        sessions=25, max_per_page=5, echo_per_page="asked", total_mode="missing"
    ) as server:
        frame, error = _fetch(server, per_page=10)
    assert error is None and frame.height == 25


def test_sync_with_full_stores_every_session_when_totals_lie(tmp_path: Path) -> None:
    with FakeServer(sessions=25, max_per_page=10, total_items=10) as server:
        report = va.sync_sessions(
            tmp_path / "ds", server.credentials(), base_url=server.url, progress=False, full=True
        )
    assert report.sessions_total == 25


def test_a_server_that_ignores_page_is_an_incomplete_fetch() -> None:
    with FakeServer(sessions=500, max_per_page=100, ignore_page=True) as server:
        frame, error = _fetch(server, per_page=100)
    assert error is not None
    assert "ignore the page parameter" in str(error)
    assert frame.height == 100


def test_a_server_that_clamps_past_the_end_is_complete() -> None:
    for n in (300, 350):
        with FakeServer(sessions=n, max_per_page=100, clamp_past_end=True) as server:
            frame, error = _fetch(server, per_page=100)
        assert error is None and frame.height == n


def test_oldest_first_with_inserts() -> None:
    with FakeServer(
        sessions=2000, max_per_page=100, order="oldest_first", insert_every=5
    ) as server:
        original = set(server.api.session_ids())
        frame, error = _fetch(server, per_page=100)
    assert error is None
    assert original <= set(frame["session_id"])


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_a_refused_port_fails_at_once_naming_the_cause(transport: str) -> None:
    creds = va.Credentials(api_key=FAKE_API_KEY, secret=FAKE_SECRET)
    with pytest.raises(va.APIConnectionError, match="connection refused") as info:
        va.fetch_sessions(
            creds,
            base_url=f"http://127.0.0.1:{_closed_port()}",
            progress=False,
            transport=transport,  # type: ignore[arg-type]
        )
    assert info.value.kind == "refused"
    assert "not retried" in str(info.value)


class _Unresolvable(httpx.AsyncBaseTransport):
    """What a transport raises for a name that does not resolve (no DNS query is made)."""

    def __init__(self) -> None:
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        error = httpx.ConnectError("[Errno -2] Name or service not known", request=request)
        error.__cause__ = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        raise error


def test_an_unknown_host_is_reported_as_dns_at_once() -> None:
    transport = _Unresolvable()
    creds = va.Credentials(api_key=FAKE_API_KEY, secret=FAKE_SECRET)
    with pytest.raises(va.APIConnectionError, match="does not resolve") as info:
        va.fetch_sessions(creds, progress=False, transport=transport)
    assert info.value.kind == "dns"
    assert transport.calls == 1


def test_a_dropped_connection_is_a_connection_error_sent_once_per_attempt() -> None:
    with no_backoff(), FakeServer(sessions=300, max_per_page=100) as server:
        server.api.reconfigure(faults={"reset": 1.0})
        creds = server.credentials()
        with pytest.raises(va.APIConnectionError) as info:
            va.fetch_sessions(creds, base_url=server.url, progress=False, max_retries=2)
        requests = server.stats.list_requests
    assert not isinstance(info.value, va.APITimeoutError)
    assert info.value.kind == "dropped"
    assert requests == 3  # one per attempt, none resent behind our back


@pytest.mark.parametrize(
    ("fault", "match"),
    [("redirect", "redirects are never followed"), ("no_content", "HTTP 204")],
)
def test_answers_that_are_not_pages_are_not_retried(fault: str, match: str) -> None:
    with FakeServer(sessions=300, max_per_page=100) as server:
        server.api.reconfigure(faults={fault: 1.0})  # type: ignore[dict-item]
        with pytest.raises(va.APIStatusError, match=match) as info:
            va.fetch_sessions(server.credentials(), base_url=server.url, progress=False)
        requests = server.stats.list_requests
    assert "not retried" in str(info.value)
    assert requests == 1


def test_strict_names_the_field_of_a_bad_value_on_a_later_page() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        start = "not a time" if page == 11 else "2025-06-18T11:15:07.275Z"
        data = [
            {"sessionId": f"p{page}-{i}", "start": start, "createdAt": "2025-06-18T11:15:07.275Z"}
            for i in range(10 if page <= 12 else 3)
        ]
        return httpx.Response(200, json={"data": data, "pageInfo": {"totalItems": 123}})

    creds = va.Credentials(api_key=FAKE_API_KEY, secret=FAKE_SECRET)
    with pytest.raises(va.SchemaError, match="'start'") as info:
        va.fetch_sessions(
            creds, per_page=10, strict=True, progress=False, transport=httpx.MockTransport(handler)
        )
    assert info.value.field == "start"
    assert info.value.page == 11


def test_allow_incomplete_returns_the_partial_frame_with_a_warning() -> None:
    with (
        FakeServer(sessions=500, max_per_page=100, ignore_page=True) as server,
        pytest.warns(va.CompletenessWarning, match="ignore the page parameter"),
    ):
        frame = va.fetch_sessions(
            server.credentials(), base_url=server.url, progress=False, allow_incomplete=True
        )
    assert frame.height == 100


def test_errno_of_a_refused_connection_is_what_classifies_it() -> None:
    from vsdk_analytics._transport import classify_transport_error

    wrapped = httpx.ConnectTimeout("x")
    wrapped.__cause__ = OSError(errno.ECONNREFUSED, "Connect call failed")
    assert classify_transport_error(wrapped) == "refused"
