"""A sync stores the account's deployments beside the sessions, and keeps them when it cannot.

Against `FakeServer`: the file is the full deployments list in `DEPLOYMENTS_SCHEMA`,
replaced atomically by each sync; a failing endpoint (``deployments_status``: 403, 404,
500) leaves the sessions synced, the earlier file byte for byte and a report that says
why; no reader of the sessions (`read_parquet`, `scan_parquet`, the DuckDB and Polars
globs, Spark's hidden-file rule) sees the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from vsdk_analytics import (
    DEPLOYMENTS_SCHEMA,
    SESSIONS_SCHEMA,
    Client,
    ConfigurationError,
    SyncReport,
    read_deployments,
    read_parquet,
    scan_parquet,
    sync_sessions,
    with_deployment_names,
)
from vsdk_analytics._dataset import DEPLOYMENTS_FILE
from vsdk_analytics.testing import FakeServer, no_backoff


def sync(server: FakeServer, dataset: Path, **kwargs: Any) -> SyncReport:
    return sync_sessions(
        dataset, server.credentials(), base_url=server.url, progress=False, **kwargs
    )


def listed(server: FakeServer) -> pl.DataFrame:
    with Client(server.credentials(), base_url=server.url) as client:
        return client.fetch_deployments()


@pytest.mark.parametrize("profile", ["bi", "native"])
def test_a_sync_stores_every_deployment_beside_the_sessions(tmp_path: Path, profile: str) -> None:
    dataset = tmp_path / "sessions"
    with FakeServer(sessions=400, seed=7, max_per_page=3) as server:
        before = server.stats.requests
        report = sync(server, dataset, profile=profile, per_page=100)
        made = server.stats.requests - before
        want = listed(server)
        deployment_requests = server.stats.deployment_requests
        url = server.url
    assert want.height >= 4  # several pages of 3
    assert report.deployments == want.height and report.deployments_error is None
    assert report.requests == made  # the deployments pages are counted
    assert deployment_requests >= 2 * 2  # paged, by the sync and by `listed`
    stored = read_deployments(dataset)
    assert stored.schema == DEPLOYMENTS_SCHEMA
    assert_frame_equal(stored, want)
    assert_frame_equal(read_deployments(dataset / DEPLOYMENTS_FILE), want)
    meta = pl.read_parquet_metadata(dataset / DEPLOYMENTS_FILE)
    assert meta["vsdk_analytics.sync_run_id"] == report.run_id
    assert meta["vsdk_analytics.rows"] == str(want.height)
    assert meta["vsdk_analytics.base_url"].rstrip("/") == url.rstrip("/")
    assert "token" not in str(meta).lower() and "secret" not in str(meta).lower()
    assert f"{want.height} deployments stored beside the sessions" in str(report)
    assert len(str(report).splitlines()) == 4
    assert not [p for p in dataset.iterdir() if ".tmp-" in p.name]


def test_the_sessions_readers_do_not_see_the_deployments(tmp_path: Path) -> None:
    dataset = tmp_path / "sessions"
    with FakeServer(sessions=300, seed=3) as server:
        report = sync(server, dataset)
    assert (dataset / DEPLOYMENTS_FILE).is_file() and report.deployments
    assert read_parquet(dataset).schema == SESSIONS_SCHEMA
    assert read_parquet(dataset).height == 300
    lazy = scan_parquet(dataset)
    assert lazy.collect_schema() == SESSIONS_SCHEMA
    assert lazy.select(pl.len()).collect().item() == 300
    glob = f"{dataset}/**/*.parquet"
    assert pl.scan_parquet(glob, hive_partitioning=True).select(pl.len()).collect().item() == 300
    hidden = pl.scan_parquet(dataset, hive_partitioning=True, hidden_file_prefix=["_", "."])
    assert hidden.select(pl.len()).collect().item() == 300
    sessions = f"read_parquet('{glob}', hive_partitioning = true)"
    names = f"read_parquet('{dataset / DEPLOYMENTS_FILE}')"
    sql = (
        f"SELECT count(*), count(d.name) FROM {sessions} s "
        f"LEFT JOIN {names} d ON d.deployment_id = s.deployment_id"
    )
    assert duckdb.sql(sql).fetchall() == [(300, 300)]  # BI tools join every name
    named = with_deployment_names(lazy, read_deployments(dataset)).collect()
    assert named.get_column("deployment_name").null_count() == 0
    assert not named.get_column("deployment_name").str.starts_with("dep").any()


@pytest.mark.parametrize("status", [403, 404, 500])
def test_a_failing_deployments_endpoint_keeps_the_old_file(tmp_path: Path, status: int) -> None:
    dataset = tmp_path / "sessions"
    with FakeServer(sessions=250, seed=5) as server:
        first = sync(server, dataset)
        kept = (dataset / DEPLOYMENTS_FILE).read_bytes()
        server.api.reconfigure(deployments_status=status)
        server.api.insert_session(status="completed")
        before = server.stats.requests
        with no_backoff():
            second = sync(server, dataset)
        made = server.stats.requests - before
    assert first.deployments is not None and first.deployments > 0
    assert second.new == 1 and second.sessions_total == 251  # the sessions did sync
    assert read_parquet(dataset).height == 251
    assert second.deployments is None and second.deployments_error is not None
    error = {403: "PermissionDeniedError", 404: "NotFoundError", 500: "ServerError"}[status]
    assert second.deployments_error.startswith(error)
    assert second.deployments_error.endswith("the file of an earlier sync is kept")
    assert "deployments not refreshed: " + error in str(second)
    assert (dataset / DEPLOYMENTS_FILE).read_bytes() == kept
    assert second.requests == made
    assert not [p for p in dataset.iterdir() if ".tmp-" in p.name]


def test_a_first_sync_without_deployments_says_none_are_stored(tmp_path: Path) -> None:
    dataset = tmp_path / "sessions"
    with FakeServer(sessions=50, seed=9, deployments_status=403) as server:
        report = sync(server, dataset)
        server.api.reconfigure(deployments_status=None)
        later = sync(server, dataset)
    assert report.sessions_total == 50 and report.deployments is None
    assert report.deployments_error is not None
    assert report.deployments_error.endswith("none stored yet")
    assert later.deployments is not None and later.deployments > 0
    assert read_deployments(dataset).height == later.deployments


def test_read_deployments_refuses_what_is_not_a_deployments_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no deployments stored"):
        read_deployments(tmp_path)
    stranger = tmp_path / DEPLOYMENTS_FILE
    pl.DataFrame({"deployment_id": ["d1"]}).write_parquet(stranger)
    with pytest.raises(ConfigurationError, match="not a deployments file"):
        read_deployments(tmp_path)
    stranger.write_bytes(b"not parquet")
    with pytest.raises(ConfigurationError, match="not a readable Parquet file"):
        read_deployments(stranger)


def test_the_fake_knob_is_validated() -> None:
    with pytest.raises(ConfigurationError, match="deployments_status"):
        FakeServer(sessions=1, deployments_status=200)
