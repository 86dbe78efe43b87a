"""Object stores and Delta Lake tables (issue 20), against a real S3 API: moto's server.

A fixture starts moto in server mode on 127.0.0.1 (a local S3-compatible HTTP endpoint,
not a mock of a client library) and points the standard AWS environment at it. A WSGI
middleware in front of it counts requests and can act on one (SIGKILL a child process
at its commit, or hold a commit until a second sync reaches its own). Results are read
back from ``s3://`` with Polars and with the deltalake reader.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("deltalake")
obstore = pytest.importorskip("obstore")
moto_server = pytest.importorskip("moto.server")
pytest.importorskip("obstore.store")

from deltalake import DeltaTable  # noqa: E402 - after the skips
from deltalake.exceptions import TableNotFoundError  # noqa: E402

from tests._frames import random_sessions  # noqa: E402
from vsdk_analytics import (  # noqa: E402
    ConfigurationError,
    DatasetConflictError,
    SyncReport,
    fetch_sessions,
    parquet_info,
    read_parquet,
    scan_parquet,
    sync_sessions,
    write_parquet,
)
from vsdk_analytics._dataset.delta import COMMIT_ATTEMPTS  # noqa: E402
from vsdk_analytics._dataset.delta_read import (  # noqa: E402
    REPORT_KEY,
    STATE_KEY,
    delta_sync_history,
)
from vsdk_analytics._dataset.location import (  # noqa: E402
    ObjectLocation,
    is_object_store_url,
    parse_location,
)
from vsdk_analytics.testing import FakeServer  # noqa: E402

pytestmark = pytest.mark.integration

PER_PAGE = 100
BUCKET = "lake"
Hook = Callable[[str, str], bool]
"""Called with each request's method and path; True: answer 503 instead of serving it."""


@dataclass
class S3:
    """The moto server: its endpoint, the requests it saw, and a hook on each request."""

    endpoint: str
    requests: list[tuple[str, str]] = field(default_factory=list)
    hook: Hook | None = None
    refusal: str = "503 Service Unavailable"
    """The answer to a request the hook refuses."""
    after: Callable[[str, str], None] | None = None
    """Called with each request's method and path once it has been served."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, key: str) -> str:
        return f"s3://{BUCKET}/{key}"

    def puts(self, pattern: str) -> int:
        with self.lock:
            return sum(1 for m, p in self.requests if m == "PUT" and re.search(pattern, p))


def _middleware(app: Any, current: list[S3]) -> Any:
    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        s3 = current[0]
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        with s3.lock:
            s3.requests.append((method, path))
        if s3.hook is not None and s3.hook(method, path):
            start_response(s3.refusal, [("Content-Length", "0")])
            return [b""]
        try:
            return list(app(environ, start_response))
        finally:
            if s3.after is not None:
                s3.after(method, path)

    return wrapped


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[tuple[str, list[S3]]]:
    """One moto server for the module: Polars caches its object stores per bucket, so a
    new endpoint per test would send its first requests to the last test's closed port
    (about 10 s of retries each)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    current = [S3(f"http://{host}:{port}")]
    wsgi = server._server
    assert wsgi is not None
    wsgi.app = _middleware(wsgi.app, current)  # werkzeug's server serves `self.app`
    try:
        yield current[0].endpoint, current
    finally:
        server.stop()


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch, moto_endpoint: tuple[str, list[S3]]) -> Iterator[S3]:
    """An empty account on the module's moto server, with this test's request log."""
    endpoint, current = moto_endpoint
    store = current[0] = S3(endpoint)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", store.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "moto-test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "moto-test-secret")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # moto keeps its buckets per process, not per server: start from an empty account.
    assert httpx.post(f"{store.endpoint}/moto-api/reset").status_code == 200
    assert httpx.put(f"{store.endpoint}/{BUCKET}").status_code == 200
    yield store
    store.hook = store.after = None


def sync(server: FakeServer, dataset: str, **kwargs: Any) -> SyncReport:
    return sync_sessions(
        dataset, server.credentials(), base_url=server.url, per_page=PER_PAGE, progress=False,
        **kwargs,
    )  # fmt: skip


def full_fetch(server: FakeServer) -> pl.DataFrame:
    return fetch_sessions(server.credentials(), base_url=server.url, progress=False).sort(
        "session_id"
    )


def assert_table_mirrors(url: str, server: FakeServer) -> None:
    """Every session exactly once, as the API serves it, read by Polars and deltalake."""
    want = full_fetch(server)
    got = read_parquet(url).sort("session_id")
    assert got.get_column("session_id").is_unique().all()
    assert got.equals(want)
    raw = pl.scan_delta(url).select("session_id").collect()
    assert raw.height == want.height and raw.get_column("session_id").is_unique().all()
    by_reader = DeltaTable(url).to_pyarrow_table(columns=["session_id"]).column(0).to_pylist()
    assert sorted(by_reader) == want.get_column("session_id").to_list()


# ---------------------------------------------------------------------------
# Parquet files and datasets in S3
# ---------------------------------------------------------------------------


def test_write_parquet_to_s3_and_read_it_back(s3: S3) -> None:
    frame = random_sessions(500, seed=4)
    url = s3.url("exports/sessions.parquet")
    assert write_parquet(frame, url) == url
    assert pl.read_parquet(url).height == 500  # any Polars user reads it from s3://
    assert read_parquet(url).equals(frame)
    assert scan_parquet(url).select(pl.len()).collect().item() == 500
    with pytest.raises(DatasetConflictError, match="overwrite=False"):
        write_parquet(frame.head(3), url, overwrite=False)
    write_parquet(frame.head(3), url)  # ours: replaced by one PUT
    assert read_parquet(url).equals(frame.head(3))
    info = parquet_info(url)
    assert info["path"] == url and info["rows"] == 3 and info["profile"] == "bi"

    dataset = s3.url("exports/by-day")
    write_parquet(frame, dataset, partition_by="start_date", profile="native")
    assert read_parquet(dataset).sort("session_id").equals(frame.sort("session_id"))
    hive = pl.scan_parquet(f"{dataset}/**/*.parquet", hive_partitioning=True).collect()
    assert hive.height == 500 and "start_date" in hive.columns
    write_parquet(frame.head(10), dataset, partition_by="start_date", profile="native")
    assert read_parquet(dataset).sort("session_id").equals(frame.head(10).sort("session_id"))


def test_write_parquet_refuses_an_object_it_did_not_write(s3: S3) -> None:
    url = s3.url("foreign.parquet")
    pl.DataFrame({"x": [1]}).write_parquet(url)
    with pytest.raises(DatasetConflictError, match="did not write"):
        write_parquet(random_sessions(3), url)
    write_parquet(random_sessions(3), url, overwrite=True)
    assert read_parquet(url).height == 3


def test_a_plain_parquet_sync_to_s3_is_refused_pointing_at_delta(s3: S3) -> None:
    with FakeServer(sessions=50, seed=2) as server:
        with pytest.raises(ConfigurationError, match=r"table_format='delta'.*--format delta"):
            sync(server, s3.url("sessions"))
        assert server.stats.requests == 0
    assert s3.puts(r"/sessions") == 0


# ---------------------------------------------------------------------------
# Delta tables
# ---------------------------------------------------------------------------


def test_delta_sync_to_s3_is_incremental_and_one_commit_per_run(s3: S3) -> None:
    url = s3.url("lake/sessions")
    with FakeServer(sessions=1000, seed=7) as server:
        first = sync(server, url, table_format="delta")
        assert first.new == 1000 and first.full_fetch and first.dataset == url
        assert DeltaTable(url).version() == 0
        assert_table_mirrors(url, server)
        assert DeltaTable(url).metadata().partition_columns == ["start_date"]

        for _ in range(3):
            server.api.insert_session(status="completed")
        server.api.reset_stats()
        second = sync(server, url, table_format="delta")
        assert not second.full_fetch and second.new == 3
        assert second.pages_fetched == 1 and server.stats.list_requests <= 2
        assert DeltaTable(url).version() == 1
        assert_table_mirrors(url, server)

        history = delta_sync_history(url)
        assert [h["version"] for h in history] == [1, 0]
        assert history[0]["report"]["new"] == 3 and history[0]["report"]["run_id"] == second.run_id
        assert history[0]["state"]["sessions"] == 1003
        store = obstore.store.from_url(f"s3://{BUCKET}")
        log = bytes(obstore.get(store, f"lake/sessions/_delta_log/{1:020d}.json").bytes())
        commit = next(a["commitInfo"] for a in map(json.loads, log.splitlines())
                      if "commitInfo" in a)  # fmt: skip
        assert commit["operation"] == "MERGE" and STATE_KEY in commit and REPORT_KEY in commit

        server.api.reset_stats()
        third = sync(server, url, table_format="delta")  # nothing new: still one commit
        assert third.new == third.updated == 0 and DeltaTable(url).version() == 2
        assert_table_mirrors(url, server)


def test_delta_sync_to_a_local_table(tmp_path: Any) -> None:
    table = tmp_path / "sessions"
    with FakeServer(sessions=300, seed=8) as server:
        sync(server, str(table), table_format="delta", profile="native")
        server.api.insert_session(status="completed")
        again = sync(server, f"file://{table}", table_format="delta", profile="native")
        assert again.new == 1 and again.pages_fetched == 1
        assert_table_mirrors(str(table), server)
        with pytest.raises(ConfigurationError, match="'native' profile"):
            sync(server, str(table), table_format="delta")
        with pytest.raises(ConfigurationError, match="is a Delta table.*--format delta"):
            sync(server, str(table))  # the Parquet sync does not touch it
        with pytest.raises(ConfigurationError, match="table_format="):
            sync(server, str(tmp_path / "x"), table_format="iceberg")  # type: ignore[arg-type]
        info = parquet_info(table)
        assert info["format"] == "delta" and info["rows"] == 301 and info["version"] == 1
        assert info["profile"] == "native" and info["watermark"] is not None


CHILD = """
import sys
from vsdk_analytics import Credentials, sync_sessions
from vsdk_analytics.testing import FAKE_API_KEY, FAKE_SECRET
sync_sessions(
    sys.argv[2], Credentials(api_key=FAKE_API_KEY, secret=FAKE_SECRET), base_url=sys.argv[1],
    per_page=int(sys.argv[3]), progress=False, table_format="delta",
)
"""


@pytest.mark.parametrize("version", [0, 1])
def test_a_delta_sync_killed_at_its_commit_then_rerun_stores_each_session_once(
    s3: S3, version: int
) -> None:
    url = s3.url("killed/sessions")
    commit = f"/{BUCKET}/killed/sessions/_delta_log/{version:020d}.json"
    with FakeServer(sessions=700, seed=11) as server:
        if version:
            sync(server, url, table_format="delta")
            for _ in range(5):
                server.api.insert_session(status="running")
        known = threading.Event()
        child: dict[str, subprocess.Popen[str]] = {}

        def kill_at_commit(method: str, path: str) -> bool:
            if method != "PUT" or path != commit:
                return False
            assert known.wait(60)
            child["p"].send_signal(signal.SIGKILL)  # before the commit is stored
            child["p"].wait()
            return True

        s3.hook = kill_at_commit
        child["p"] = subprocess.Popen(
            [sys.executable, "-c", CHILD, server.url, url, str(PER_PAGE)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
        )  # fmt: skip
        known.set()
        _, err = child["p"].communicate(timeout=300)
        assert child["p"].returncode == -signal.SIGKILL, err
        s3.hook = None
        # The data files were written, the commit never was: the table is as before.
        assert s3.puts(r"/killed/sessions/start_date=") > 0
        if version:
            assert DeltaTable(url).version() == 0
        else:
            with pytest.raises(TableNotFoundError):
                DeltaTable(url)
        again = sync(server, url, table_format="delta")
        assert again.sessions_total == 700 + 5 * version
        assert DeltaTable(url).version() == version
        assert_table_mirrors(url, server)


@pytest.mark.parametrize("existing", [False, True])
def test_two_concurrent_delta_syncs_lose_nothing(s3: S3, existing: bool) -> None:
    url = s3.url("race/sessions")
    version = 1 if existing else 0
    commit = f"/{BUCKET}/race/sessions/_delta_log/{version:020d}.json"
    with FakeServer(sessions=600, seed=13) as server:
        if existing:
            sync(server, url, table_format="delta")
            for _ in range(4):
                server.api.insert_session(status="completed")
        both, first_done = threading.Event(), threading.Event()
        count = {"n": 0}

        def hold_the_first_commit(method: str, path: str) -> bool:
            if method != "PUT" or path != commit:
                return False
            with s3.lock:
                count["n"] += 1
                mine = count["n"]
            if mine == 1:  # both syncs read the same version: hold one commit...
                assert both.wait(120), "the second sync never reached its commit"
            elif mine == 2:  # ...until the other arrives, then store the first one first
                both.set()
                assert first_done.wait(120)
            return False

        def after(method: str, path: str) -> None:
            if method == "PUT" and path == commit:
                first_done.set()

        s3.hook, s3.after = hold_the_first_commit, after
        outcomes: list[SyncReport | BaseException] = []

        def run() -> None:
            try:
                outcomes.append(sync(server, url, table_format="delta"))
            except BaseException as exc:  # handed to the test thread
                outcomes.append(exc)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        s3.hook = s3.after = None
        assert count["n"] >= 2  # both raced for the same log entry
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        assert not errors, errors
        assert DeltaTable(url).version() == version + 1  # the loser retried on top
        assert_table_mirrors(url, server)
        reports = [o for o in outcomes if isinstance(o, SyncReport)]
        assert sorted(r.sessions_total for r in reports)[-1] == 600 + 4 * existing


def test_a_delta_sync_that_keeps_losing_the_race_raises_a_conflict(s3: S3) -> None:
    url = s3.url("busy/sessions")
    with FakeServer(sessions=150, seed=5) as server:
        sync(server, url, table_format="delta")
        server.api.insert_session(status="completed")
        # Every next log entry "already exists": as if other syncs always commit first.
        s3.refusal = "412 Precondition Failed"
        s3.hook = lambda method, path: method == "PUT" and "/_delta_log/" in path
        before = len(s3.requests)
        with pytest.raises(DatasetConflictError, match="lost the race") as caught:
            sync(server, url, table_format="delta")
        s3.hook = None
        log_reads = sum(
            1
            for method, path in s3.requests[before:]
            if method == "GET" and re.search(r"/_delta_log/\d+\.json$", path)
        )
        # the table is opened a few times per attempt, not once per partition it touches
        # (which read the log 45 times per attempt here)
        assert log_reads <= 15 * COMMIT_ATTEMPTS, log_reads
        assert "Nothing of this run was committed" in str(caught.value)
        assert s3.puts(r"/busy/sessions/_delta_log/0+1\.json$") == COMMIT_ATTEMPTS
        assert DeltaTable(url).version() == 0
        assert sync(server, url, table_format="delta").new == 1


# ---------------------------------------------------------------------------
# Locations (no server)
# ---------------------------------------------------------------------------

_SEGMENT = st.text(alphabet=st.sampled_from("abcxyz019-_.=~ "), min_size=1, max_size=12).filter(
    lambda t: t.strip(".") != ""
)


@given(
    scheme=st.sampled_from(["s3", "gs", "az", "abfss"]),
    bucket=st.from_regex(r"[a-z0-9][a-z0-9-]{2,20}", fullmatch=True),
    parts=st.lists(_SEGMENT, min_size=0, max_size=4),
    slash=st.booleans(),
)
def test_object_store_urls_keep_their_bucket_and_key(
    scheme: str, bucket: str, parts: list[str], slash: bool
) -> None:
    key = "/".join(parts)
    url = f"{scheme}://{bucket}/{key}" + ("/" if slash and key else "")
    assert is_object_store_url(url)
    location = parse_location(url)
    assert isinstance(location, ObjectLocation)
    assert location.root == f"{scheme}://{bucket}" and location.key == key
    assert location.child("f.parquet").url == f"{scheme}://{bucket}/{key}/f.parquet".replace(
        f"{bucket}//", f"{bucket}/"
    )


def test_file_urls_are_local_paths_and_other_schemes_are_refused(tmp_path: Any) -> None:
    assert parse_location(f"file://{tmp_path}/s.parquet") == tmp_path / "s.parquet"
    assert not is_object_store_url(f"file://{tmp_path}") and not is_object_store_url(tmp_path)
    with pytest.raises(ConfigurationError, match="unsupported URL scheme"):
        parse_location("ftp://host/x.parquet")
    with pytest.raises(ConfigurationError, match="names no bucket"):
        parse_location("s3:///x.parquet")
    with pytest.raises(ConfigurationError, match="no query"):
        parse_location("s3://b/x.parquet?versionId=3")


# ---------------------------------------------------------------------------
# The CLI, as a nightly job runs it
# ---------------------------------------------------------------------------


def _cli(server: FakeServer, monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    from vsdk_analytics._cli import main

    monkeypatch.setenv("VIDEOSDK_AUTH_TOKEN", server.token())
    return main([*argv, "--base-url", server.url, "--no-progress"])


def test_cli_fetch_writes_a_file_to_s3(s3: S3, monkeypatch: pytest.MonkeyPatch) -> None:
    url = s3.url("exports/cli.parquet")
    with FakeServer(sessions=300, seed=3) as server:
        assert _cli(server, monkeypatch, "fetch", "-o", url) == 0
        want = full_fetch(server)
    assert read_parquet(url).sort("session_id").equals(want)
    with FakeServer(sessions=10, seed=3) as server:  # not ours to replace without --overwrite
        store = obstore.store.from_url(f"s3://{BUCKET}")
        obstore.put(store, "exports/foreign.parquet", b"PAR1")
        assert _cli(server, monkeypatch, "fetch", "-o", s3.url("exports/foreign.parquet")) != 0
        assert server.stats.requests == 0  # refused before any request


def test_cli_delta_sync_to_s3_is_incremental(s3: S3, monkeypatch: pytest.MonkeyPatch) -> None:
    url = s3.url("nightly/sessions")
    with FakeServer(sessions=500, seed=5) as server:
        assert _cli(server, monkeypatch, "sync", url, "--format", "delta") == 0
        for _ in range(4):
            server.api.insert_session(status="completed")
        server.api.reset_stats()
        assert _cli(server, monkeypatch, "sync", url, "--format", "delta") == 0
        assert server.stats.list_requests <= 3  # a few pages, not the account
        assert_table_mirrors(url, server)
        # a plain Parquet sync to an object store is refused, pointing at Delta
        assert _cli(server, monkeypatch, "sync", s3.url("plain")) != 0
