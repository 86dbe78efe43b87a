"""Fetching the deployments list over real HTTP: every deployment once, or told.

The fake server pages deployments with the same knobs as sessions (caps, echoed perPage,
totals, ignored page), so the paging proof is exercised on the second endpoint too.
"""

from __future__ import annotations

import warnings
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vsdk_analytics as va
from vsdk_analytics.testing import FakeServer


def _truth(server: FakeServer) -> list[str]:
    return [d.deployment_id for d in server.api.deployments_snapshot()]


def test_every_deployment_once_in_the_api_order_with_names_and_times() -> None:
    with FakeServer(sessions=400, max_per_page=2) as server:
        frame = va.fetch_deployments(server.credentials(), base_url=server.url, per_page=100)
        truth = server.api.deployments_snapshot()
        requests = server.stats.deployment_requests
    assert frame.schema == va.DEPLOYMENTS_SCHEMA
    assert frame.get_column("deployment_id").to_list() == [d.deployment_id for d in truth]
    assert frame.get_column("name").to_list() == [d.name for d in truth]
    assert frame.get_column("created_at").null_count() == 0  # created_at is a known field
    assert frame.get_column("extra").null_count() == frame.height
    assert requests >= -(-len(truth) // 2)  # at least one request per page of two


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cap=st.integers(1, 7),
    per_page=st.integers(1, 50),
    echo=st.sampled_from(["served", "asked"]),
    totals=st.sampled_from(["items", "pages", "missing", "pages_as_items"]),
)
def test_any_paging_behaviour_gives_the_exact_list_or_an_error(
    cap: int, per_page: int, echo: str, totals: str
) -> None:
    knobs: dict[str, Any] = {"max_per_page": cap, "echo_per_page": echo, "total_mode": totals}
    with FakeServer(sessions=300, **knobs) as server:
        truth = _truth(server)
        try:
            frame = va.fetch_deployments(
                server.credentials(), base_url=server.url, per_page=per_page
            )
        except va.IncompleteFetchError as exc:  # told: and nothing fetched is lost or doubled
            kept = exc.sessions.get_column("deployment_id")
            assert kept.n_unique() == kept.len() and set(kept) <= set(truth)
            assert min(cap, per_page) <= 2  # only pages too small to stitch may fail
            return
    assert frame.get_column("deployment_id").to_list() == truth


def test_a_server_that_ignores_page_is_an_incomplete_fetch_or_a_warning() -> None:
    with FakeServer(sessions=300, max_per_page=3, ignore_page=True) as server:
        credentials, url = server.credentials(), server.url
        with pytest.raises(va.IncompleteFetchError, match="ignore the page parameter") as info:
            va.fetch_deployments(credentials, base_url=url)
        assert info.value.sessions.height == 3
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            partial = va.fetch_deployments(credentials, base_url=url, allow_incomplete=True)
    assert partial.height == 3
    assert [w.category for w in caught] == [va.CompletenessWarning]


def test_a_revoked_key_is_an_authentication_error() -> None:
    with (
        FakeServer(sessions=50, fail_after=0, fail_status=401) as server,
        pytest.raises(va.AuthenticationError),
    ):
        va.fetch_deployments(server.credentials(), base_url=server.url)


def test_the_client_reuses_its_pool_and_names_join_the_sessions() -> None:
    with (
        FakeServer(sessions=500) as server,
        va.Client(server.credentials(), base_url=server.url) as client,
    ):
        sessions = client.fetch_sessions(progress=False)
        opened = server.connections_opened
        deployments = client.fetch_deployments()
        again = client.fetch_deployments()
        assert server.connections_opened == opened  # the same pool
    assert again.equals(deployments)
    named = va.with_deployment_names(sessions, deployments, fallback="null")
    assert named.height == sessions.height
    assert named.get_column("deployment_name").null_count() == 0
    names = dict(zip(deployments["deployment_id"], deployments["name"], strict=True))
    expected = [names[d] for d in sessions.get_column("deployment_id")]
    assert named.get_column("deployment_name").to_list() == expected


def test_async_twin_matches() -> None:
    import asyncio

    with FakeServer(sessions=100, max_per_page=3) as server:
        sync = va.fetch_deployments(server.credentials(), base_url=server.url)
        result = asyncio.run(va.fetch_deployments_async(server.credentials(), base_url=server.url))
    assert result.equals(sync)
    assert isinstance(result, pl.DataFrame)
