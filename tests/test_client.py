"""`Client` and `AsyncClient` over real HTTP: reuse, repr, lifecycle, and inside a running loop."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import threading

import polars as pl
import pytest

import vsdk_analytics as va
from vsdk_analytics._retry import set_backoff_scale
from vsdk_analytics.testing import FAKE_SECRET, FakeServer

pytestmark = pytest.mark.integration


def test_three_fetches_on_one_client_open_no_more_connections_than_the_first() -> None:
    with FakeServer(sessions=2_000, max_per_page=100) as server:
        with va.Client(server.credentials(), base_url=server.url, max_concurrency=4) as client:
            first = client.fetch_sessions(progress=False)
            opened = server.connections_opened
            for _ in range(2):
                assert client.fetch_sessions(progress=False).equals(first)
            assert server.connections_opened == opened
        assert 1 <= opened <= 4
        assert first.height == 2_000


def test_module_functions_use_a_short_lived_client_each() -> None:
    with FakeServer(sessions=300, max_per_page=100) as server:
        creds = server.credentials()
        va.fetch_sessions(creds, base_url=server.url, progress=False)
        once = server.connections_opened
        va.fetch_sessions(creds, base_url=server.url, progress=False)
        assert server.connections_opened > once


def test_repr_shows_the_base_url_and_key_id_never_a_secret() -> None:
    with FakeServer(sessions=10) as server:
        client = va.Client(server.credentials(), base_url=server.url)
        text = repr(client)
        client.close()
        url = server.url
    assert url in text
    assert "fake" in text
    assert FAKE_SECRET not in text and "secret=<hidden>" in text
    assert "closed" in repr(client)


def test_a_closed_client_refuses_to_fetch() -> None:
    with FakeServer(sessions=10) as server:
        client = va.Client(server.credentials(), base_url=server.url)
        client.fetch_sessions(progress=False)
        client.close()
        with pytest.raises(va.ConfigurationError, match="closed"):
            client.fetch_sessions(progress=False)


def test_the_sync_client_works_inside_a_running_loop() -> None:
    async def notebook_cell(server: FakeServer) -> pl.DataFrame:
        with va.Client(server.credentials(), base_url=server.url) as client:
            return client.fetch_sessions(progress=False)

    with FakeServer(sessions=250) as server:
        assert asyncio.run(notebook_cell(server)).height == 250


def test_async_client_reuse_and_single_sessions() -> None:
    async def main(server: FakeServer) -> tuple[pl.DataFrame, pl.DataFrame, int]:
        async with va.AsyncClient(server.credentials(), base_url=server.url) as client:
            frame = await client.fetch_sessions(progress=False)
            opened = server.connections_opened
            one = await client.fetch_session(frame["session_id"][0])
            return frame, one, server.connections_opened - opened

    with FakeServer(sessions=150) as server:
        frame, one, extra = asyncio.run(main(server))
    assert one.height == 1 and one["session_id"][0] == frame["session_id"][0]
    assert extra == 0


def test_iter_pages_yields_every_session_once() -> None:
    async def main(server: FakeServer) -> list[pl.DataFrame]:
        async with va.AsyncClient(server.credentials(), base_url=server.url) as client:
            return [page async for page in client.iter_pages(per_page=100)]

    with FakeServer(sessions=1_050, max_per_page=100, insert_every=4) as server:
        original = set(server.api.session_ids())
        pages = asyncio.run(main(server))
    assert all(p.schema == va.SESSIONS_SCHEMA for p in pages)
    ids = pl.concat(pages)["session_id"]
    assert ids.n_unique() == ids.len()
    assert original <= set(ids.to_list())
    assert len(pages) > 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_concurrency": -1}, "max_concurrency"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_retries": -1}, "max_retries"),
        ({"timeout": 0}, "timeout"),
        ({"base_url": "ftp://example.com"}, "http"),
        ({"transport": "curl"}, "transport"),
    ],
)
def test_bad_client_options_fail_at_construction(kwargs: dict[str, object], match: str) -> None:
    creds = va.Credentials(api_key="k", secret="s" * 32)
    with pytest.raises(va.ConfigurationError, match=match):
        va.Client(creds, **kwargs)  # type: ignore[arg-type]


def test_per_page_zero_fails_before_any_request() -> None:
    with (
        FakeServer(sessions=10) as server,
        va.Client(server.credentials(), base_url=server.url) as c,
    ):
        with pytest.raises(va.ConfigurationError, match="per_page"):
            c.fetch_sessions(per_page=0)
        assert server.stats.requests == 0


def test_a_rate_limited_server_is_paced_not_hammered() -> None:
    """25 requests/s, burst 5, 300 pages: few 429s (the time goes in benchmarks/)."""
    previous = set_backoff_scale(1.0)  # the real waits: pacing is what is under test
    try:
        _paced()
    finally:
        set_backoff_scale(previous)


def _paced() -> None:
    with FakeServer(sessions=300 * 20, max_per_page=20, rate_limit=25.0, rate_burst=5) as server:
        with va.Client(server.credentials(), base_url=server.url, max_concurrency=8) as client:
            frame, stats = client.fetch_sessions_with_stats(per_page=20, progress=False)
        statuses = server.stats.statuses
        truth = set(server.api.session_ids())
    answered = sum(statuses.values())
    assert set(frame["session_id"]) == truth and frame.height == len(truth)
    assert statuses.get(429, 0) <= 0.10 * answered, dict(statuses)
    assert stats.pages >= 300


def test_env_with_only_the_vendor_names_works(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VIDEOSDK_SECRET_KEY", "VIDEOSDK_AUTH_TOKEN", "VIDEOSDK_API_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with FakeServer(sessions=250) as server:
        monkeypatch.setenv("VIDEOSDK_API_KEY", server.api.config.api_key)
        monkeypatch.setenv("VIDEOSDK_SECRET", FAKE_SECRET)
        monkeypatch.setenv("VIDEOSDK_API_ENDPOINT", server.url)
        assert va.fetch_sessions(progress=False).height == 250


_UNCLOSED_CHILD = """
import asyncio, sys
import vsdk_analytics as va
from vsdk_analytics.testing import FAKE_API_KEY, FAKE_SECRET
credentials = va.Credentials(api_key=FAKE_API_KEY, secret=FAKE_SECRET)
if sys.argv[2] == "sync":
    client = va.Client(credentials, base_url=sys.argv[1])
    print(client.fetch_sessions(progress=False).height)
else:  # one AsyncClient in two asyncio.run calls: each has its own loop and pool
    client = va.AsyncClient(credentials, base_url=sys.argv[1])
    for _ in range(2):
        print(asyncio.run(client.fetch_sessions(progress=False)).height)
"""


@pytest.mark.parametrize(("kind", "heights"), [("sync", ["150"]), ("async", ["150", "150"])])
def test_a_client_never_closed_leaves_no_open_connections_or_noise(
    kind: str, heights: list[str]
) -> None:
    # what a script or a notebook does: no `with`, no close()
    with FakeServer(sessions=150, max_per_page=100) as server:
        child = subprocess.run(
            [
                sys.executable,
                "-W",
                "always::ResourceWarning",
                "-c",
                _UNCLOSED_CHILD,
                server.url,
                kind,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == heights
    assert child.stderr == ""


def test_a_collected_client_stops_its_thread() -> None:
    def threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "vsdk-analytics-client"]

    before = threads()
    with FakeServer(sessions=30) as server:
        client = va.Client(server.credentials(), base_url=server.url)
        assert client.fetch_sessions(progress=False).height == 30
        (mine,) = [t for t in threads() if t not in before]
        del client
        gc.collect()
        assert not mine.is_alive()
