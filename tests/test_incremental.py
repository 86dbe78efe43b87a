"""Incremental sync into a Parquet dataset, against the fake API over real HTTP."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from vsdk_analytics._api import fetch_sessions
from vsdk_analytics._dataset import (
    LOCK_FILE,
    STATE_FILE,
    SyncReport,
    format_sync_report,
    read_parquet,
    sync_sessions,
    write_parquet,
)
from vsdk_analytics._dataset import directory as sync_module
from vsdk_analytics._dataset.merge import merge_extra
from vsdk_analytics._errors import CompletenessWarning, ConfigurationError, DatasetConflictError
from vsdk_analytics.testing import (
    DEFAULT_NOW,
    FakeServer,
    FakeSession,
    SessionStore,
    generate_sessions,
)

pytestmark = pytest.mark.integration

PER_PAGE = 100
CHILD = Path(__file__).with_name("_sync_child.py")


def sync(server: FakeServer, dataset: Path, **kwargs: Any) -> SyncReport:
    return sync_sessions(
        dataset,
        server.credentials(),
        base_url=server.url,
        per_page=PER_PAGE,
        progress=False,
        **kwargs,
    )


def full_fetch(server: FakeServer) -> pl.DataFrame:
    frame = fetch_sessions(server.credentials(), base_url=server.url, progress=False)
    return frame.sort("session_id")


def stored(dataset: Path) -> pl.DataFrame:
    return read_parquet(dataset).sort("session_id")


def assert_mirrors(dataset: Path, server: FakeServer) -> None:
    got, want = stored(dataset), full_fetch(server)
    assert got.height == want.height
    assert got.equals(want)


def duck(sql: str) -> list[Any]:
    relation = duckdb.sql(sql)
    assert relation is not None
    return relation.fetchall()


def visible_files(dataset: Path) -> list[str]:
    """What a Hive reader lists: files without a '.' or '_' name anywhere in the path."""
    return sorted(
        p.relative_to(dataset).as_posix()
        for p in dataset.rglob("*")
        if p.is_file()
        and not any(part.startswith((".", "_")) for part in p.relative_to(dataset).parts)
    )


def finished(sessions: list[FakeSession]) -> list[FakeSession]:
    """The same sessions with every running one completed."""
    store = SessionStore(sessions)
    store.finish_running()
    return store.snapshot()


# ---------------------------------------------------------------------------
# Five syncs against a changing server
# ---------------------------------------------------------------------------


def test_five_syncs_track_a_changing_server(tmp_path: Path) -> None:
    dataset = tmp_path / "sessions"
    with FakeServer(sessions=5000, seed=7) as server:
        api = server.api
        reports: list[SyncReport] = []
        calls: list[tuple[int, int]] = []

        def run() -> SyncReport:
            before = server.stats
            report = sync(server, dataset)
            after = server.stats
            calls.append(
                (
                    after.list_requests - before.list_requests,
                    after.detail_requests - before.detail_requests,
                )
            )
            reports.append(report)
            assert_mirrors(dataset, server)
            return report

        first = run()
        assert first.full_fetch and first.reason == "first sync"
        assert first.new == 5000 and first.sessions_total == 5000
        assert first.since is None and first.watermark is not None
        running = stored(dataset).filter(pl.col("end").is_null()).height
        assert running > 50  # the generated data has sessions running at the top

        # 2: every running session ends; 2 start and 110 complete after them. Paging down
        # to the oldest unfinished session costs a page, not `running` single calls.
        api.finish_running()
        for _ in range(2):
            api.insert_session()
        for _ in range(110):
            api.insert_session(status="completed")
        second = run()
        assert not second.full_fetch and second.refreshed == 0
        assert second.since is not None and second.since < first.watermark
        assert "oldest of" in second.reason
        assert (second.new, second.updated) == (112, running)

        # 3: the 2 end, 110 sessions above them: one request each beats 2 more pages.
        # Five start and are running at sync time.
        api.finish_running()
        for _ in range(5):
            api.insert_session()
        third = run()
        assert (third.refreshed, third.updated, third.new) == (2, 2, 5)
        assert third.since == second.watermark and third.pages_fetched == 1
        assert stored(dataset).filter(pl.col("end").is_null()).height == 5

        # 4: the five fail; 40 start.
        api.finish_running(status="failed")
        for _ in range(40):
            api.insert_session()
        fourth = run()
        assert (fourth.new, fourth.updated, fourth.refreshed) == (40, 5, 0)

        # 5: the 40 complete; 200 start.
        api.finish_running()
        for _ in range(200):
            api.insert_session()
        fifth = run()
        assert (fifth.new, fifth.updated, fifth.refreshed) == (200, 40, 0)

    total_pages = fifth.pages_full_fetch
    assert total_pages == -(-5357 // PER_PAGE) == 54
    incremental = [r.pages_fetched for r in reports[1:]]
    assert all(r.pages_fetched == lists for r, (lists, _) in zip(reports, calls, strict=True))
    assert all(r.refreshed == details for r, (_, details) in zip(reports, calls, strict=True))
    assert [r.full_fetch for r in reports] == [True, False, False, False, False]
    assert reports[0].pages_fetched >= 50
    # page 1, one window of max_concurrency pages past the one reaching since, one probe
    assert max(incremental) <= 1 + 8 + 2
    assert sum(incremental) < total_pages / 2
    assert [r.partitions_written for r in reports[1:]] == [1, 1, 1, 1]
    state = json.loads((dataset / STATE_FILE).read_text())
    assert state["sessions"] == 5357 and state["profile"] == "bi"
    assert state["per_page"] == PER_PAGE and state["schema_version"] == 1
    print("pages per sync:", [r.pages_fetched for r in reports], "full fetch:", total_pages)
    print("requests per sync:", [r.requests for r in reports])


def test_readers_ignore_the_state_and_lock_files(tmp_path: Path) -> None:
    dataset = tmp_path / "sessions"
    with FakeServer(sessions=300, seed=2) as server:
        sync(server, dataset)
        want = full_fetch(server)
    (dataset / LOCK_FILE).write_text('{"pid": 1}')  # as while a sync runs
    assert (dataset / STATE_FILE).is_file()
    assert stored(dataset).equals(want)
    glob = f"{dataset}/**/*.parquet"
    scanned = pl.scan_parquet(glob, hive_partitioning=True).collect()
    assert scanned.height == 300 and "start_date" in scanned.columns
    hidden = pl.scan_parquet(dataset, hive_partitioning=True, hidden_file_prefix=["_", "."])
    assert hidden.select(pl.len()).collect().item() == 300
    source = f"read_parquet('{glob}', hive_partitioning = true)"
    sql = f"SELECT count(*), count(DISTINCT session_id) FROM {source}"
    assert duck(sql) == [(300, 300)]


def test_report_reads_well(tmp_path: Path) -> None:
    with FakeServer(sessions=120, seed=4) as server:
        report = sync(server, tmp_path / "s")
    text = str(report)
    assert text == format_sync_report(report)
    assert "120 sessions, 120 new" in text and "full fetch: first sync" in text
    assert "pages fetched (a full fetch: 2)" in text


# ---------------------------------------------------------------------------
# Pages not newest first
# ---------------------------------------------------------------------------


def test_pages_not_newest_first_fall_back_to_a_full_fetch(tmp_path: Path) -> None:
    # The fake orders by FakeSession.created_ms; giving the sessions shuffled values of it
    # makes it serve the real createdAt (in the bodies) in no particular order.
    real = generate_sessions(430, seed=5)
    order = [s.created_ms for s in real]
    random.Random(1).shuffle(order)
    shuffled = [s._replace(created_ms=ms) for s, ms in zip(real, order, strict=True)]
    # Sessions missing at the first sync, among them some older than its watermark.
    late = set(random.Random(2).sample([s.session_id for s in shuffled], 50))
    dataset = tmp_path / "sessions"
    with FakeServer(sessions=[s for s in shuffled if s.session_id not in late]) as server:
        first = sync(server, dataset)
        watermark = first.watermark
    assert first.full_fetch and first.sessions_total == 380
    assert watermark is not None
    assert any(s.to_dict()["createdAt"] < _iso(watermark) for s in real if s.session_id in late)

    with FakeServer(sessions=shuffled) as server:
        with pytest.warns(CompletenessWarning, match="not ordered newest first"):
            report = sync(server, dataset)
        assert report.full_fetch
        assert "not ordered newest first" in report.reason
        assert report.pages_fetched == 5 == report.pages_full_fetch
        assert report.new == 50 and report.sessions_total == 430
        assert server.stats.list_requests == report.pages_fetched  # no page twice
        assert_mirrors(dataset, server)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# ---------------------------------------------------------------------------
# Killed mid-sync
# ---------------------------------------------------------------------------


def start_child(server: FakeServer, dataset: Path, k: int) -> subprocess.Popen[str]:
    """A sync in a child process that SIGKILLs itself after k partition files."""
    command = [sys.executable, str(CHILD), server.url, str(dataset), str(k), str(PER_PAGE)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def assert_killed(child: subprocess.Popen[str]) -> None:
    _, err = child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL, err


def assert_readable_and_clean(dataset: Path, must_hold: set[str]) -> pl.DataFrame:
    frame = read_parquet(dataset)
    assert must_hold <= set(frame.get_column("session_id").to_list())
    assert frame.get_column("session_id").is_unique().all()
    files = visible_files(dataset)
    assert files
    assert all(f.startswith("start_date=") and f.endswith("/part-0.parquet") for f in files)
    glob = f"{dataset}/**/*.parquet"
    sql = f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning = true)"
    assert duck(sql) == [(frame.height,)]
    assert pl.scan_parquet(glob, hive_partitioning=True).collect().height == frame.height
    return frame


def test_killed_syncs_leave_a_readable_dataset_and_the_next_one_repairs(tmp_path: Path) -> None:
    before = generate_sessions(600, seed=11)
    later = generate_sessions(300, seed=12, start=DEFAULT_NOW, span_days=4)
    synced = tmp_path / "synced"
    with FakeServer(sessions=before) as server:
        first = sync(server, synced)
    old_state = (synced / STATE_FILE).read_bytes()
    old_ids = set(stored(synced).get_column("session_id").to_list())

    with FakeServer(sessions=[*finished(before), *later]) as server:
        # How many partition files the next sync writes, on a copy.
        probe = tmp_path / "probe"
        shutil.copytree(synced, probe)
        partitions = sync(server, probe).partitions_written
        assert partitions >= 5

        # Killed after the first partition file, and after the last one (before the
        # state file); and a first sync killed after 3 of its partition files. The
        # children run at once; each waits for nothing but its own kill.
        children: dict[Path, subprocess.Popen[str]] = {}
        for k in (1, partitions):
            dataset = tmp_path / f"killed-after-{k}"
            shutil.copytree(synced, dataset)
            children[dataset] = start_child(server, dataset, k)
        fresh = tmp_path / "first-sync-killed"
        fresh.mkdir()
        children[fresh] = start_child(server, fresh, 3)
        for child in children.values():
            assert_killed(child)

        for dataset in children:
            assert (dataset / LOCK_FILE).exists()  # left by the dead process
            if dataset == fresh:
                assert not (dataset / STATE_FILE).exists()
                assert len(visible_files(dataset)) == 3
                assert_readable_and_clean(dataset, set())
            else:
                assert (dataset / STATE_FILE).read_bytes() == old_state  # the state moves last
                assert_readable_and_clean(dataset, old_ids)

            repair = sync(server, dataset)  # the kernel released the dead process's lock
            if dataset == fresh:
                assert repair.full_fetch and "no _vsdk_sync.json" in repair.reason
                assert repair.unchanged > 0 and repair.new + repair.unchanged == 900
            else:
                assert not repair.full_fetch
                assert repair.since is not None and first.watermark is not None
                assert repair.since <= first.watermark
            assert not list(dataset.rglob(".*"))  # no temporary file left
            assert_mirrors(dataset, server)


# ---------------------------------------------------------------------------
# Locking
# ---------------------------------------------------------------------------


def test_a_second_concurrent_sync_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = tmp_path / "sessions"
    inside, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}
    real = sync_module.write_partition

    def hold(*args: Any) -> None:
        real(*args)
        inside.set()
        release.wait(60)

    monkeypatch.setattr(sync_module, "write_partition", hold)
    with FakeServer(sessions=200, seed=6) as server:

        def first() -> None:
            try:
                outcome["report"] = sync(server, dataset)
            except BaseException as exc:  # handed to the test thread
                outcome["error"] = exc

        thread = threading.Thread(target=first)
        thread.start()
        try:
            assert inside.wait(60), "the first sync never reached its writes"
            with pytest.raises(DatasetConflictError, match="another sync is running") as caught:
                sync(server, dataset)
            message = str(caught.value)
            assert f"process {os.getpid()} on host {socket.gethostname()}" in message
            assert LOCK_FILE in message and "--wait" in message
        finally:
            release.set()
            thread.join()
        assert "error" not in outcome, outcome.get("error")
        monkeypatch.setattr(sync_module, "write_partition", real)
        assert_mirrors(dataset, server)


@pytest.mark.parametrize("host", [None, "another-machine.example"], ids=["this-host", "other-host"])
def test_a_version_0_1_lock_file_is_no_obstacle(tmp_path: Path, host: str | None) -> None:
    """The pid lock of version 0.1, left by a dead sync: the OS lock ignores its content."""
    dataset = tmp_path / "sessions"
    dataset.mkdir()
    body = {"pid": os.getpid(), "host": host or socket.gethostname(), "token": "x", "since": "-"}
    (dataset / LOCK_FILE).write_text(json.dumps(body))
    with FakeServer(sessions=50, seed=8) as server:
        assert sync(server, dataset).new == 50


# ---------------------------------------------------------------------------
# Odd cases
# ---------------------------------------------------------------------------


def test_refreshed_rows_keep_the_stored_webhook_and_metadata_extras() -> None:
    fresh = json.dumps({"webhook": "fresh?", "zeta": 1, "metadata": None})
    old = json.dumps({"metadata": "not an object", "webhook.events": 3, "alpha": 2})
    merged = merge_extra(fresh, old)
    assert merged is not None
    assert json.loads(merged) == {"metadata": "not an object", "webhook.events": 3, "zeta": 1}
    assert merge_extra(None, None) is None
    assert merge_extra(None, json.dumps({"alpha": 1})) is None


def test_unfinished_sessions_the_api_forgot_are_kept(tmp_path: Path) -> None:
    sessions = generate_sessions(300, seed=15)
    dataset = tmp_path / "sessions"
    with FakeServer(sessions=sessions) as server:
        sync(server, dataset)
    running = [s.session_id for s in sessions if s.running]
    assert len(running) >= 3
    forgotten = set(running[-2:])
    remaining = [s for s in finished(sessions) if s.session_id not in forgotten]
    with FakeServer(sessions=remaining) as server:
        with pytest.warns(CompletenessWarning, match="no longer served by the API"):
            report = sync(server, dataset)
        assert report.refreshed == 2 and report.sessions_total == 300
        frame = stored(dataset)
        kept = frame.filter(pl.col("session_id").is_in(sorted(forgotten)))
        assert kept.get_column("end").null_count() == 2
        assert frame.filter(~pl.col("session_id").is_in(sorted(forgotten))).equals(
            full_fetch(server)
        )


def test_a_write_parquet_dataset_is_adopted(tmp_path: Path) -> None:
    dataset = tmp_path / "sessions"
    with FakeServer(sessions=250, seed=16) as server:
        write_parquet(full_fetch(server).head(200), dataset, partition_by="start_date")
        server.api.insert_session(status="completed")
        report = sync(server, dataset)
        assert report.full_fetch and (report.new, report.unchanged) == (51, 200)
        assert_mirrors(dataset, server)


def test_the_native_profile_and_profile_mismatch(tmp_path: Path) -> None:
    dataset = tmp_path / "sessions"
    with FakeServer(sessions=150, seed=17) as server:
        sync(server, dataset, profile="native")
        server.api.insert_session()
        assert sync(server, dataset, profile="native").new == 1
        assert_mirrors(dataset, server)
        with pytest.raises(ConfigurationError, match="profile='native'"):
            sync(server, dataset, profile="bi")


def test_an_empty_account(tmp_path: Path) -> None:
    dataset = tmp_path / "sessions"
    with FakeServer(sessions=0) as server:
        report = sync(server, dataset)
        assert (report.sessions_total, report.watermark, report.partitions_written) == (0, None, 1)
        assert stored(dataset).is_empty()
        server.api.insert_session(status="completed")
        again = sync(server, dataset)
        assert again.full_fetch and again.new == 1
        assert_mirrors(dataset, server)


def test_refuses_a_directory_that_is_not_a_dataset(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with FakeServer(sessions=10) as server, pytest.raises(ConfigurationError, match="refusing"):
        sync(server, tmp_path)


def test_full_picks_up_old_changes_and_moves_a_session_between_partitions(
    tmp_path: Path,
) -> None:
    sessions = generate_sessions(200, seed=18)
    dataset = tmp_path / "sessions"
    with FakeServer(sessions=sessions) as server:
        sync(server, dataset)
    old = sessions[-1]  # the oldest: far below the watermark
    record = old.to_dict()
    record["start"] = "2025-05-01T00:00:00.000Z"  # another start_date partition
    record["updatedAt"] = "2025-07-01T12:30:00.000Z"
    moved = old._replace(body=json.dumps(record, separators=(",", ":")).encode())
    with FakeServer(sessions=[*finished(sessions[:-1]), moved]) as server:
        incremental = sync(server, dataset)
        assert not incremental.full_fetch and incremental.updated > 0
        row = stored(dataset).filter(pl.col("session_id") == old.session_id)
        assert row.get_column("start").dt.date().item().isoformat() != "2025-05-01"

        report = sync(server, dataset, full=True)
        assert report.full_fetch and report.reason.startswith("full=True")
        assert report.updated == 1 and report.partitions_written >= 2
        assert "start_date=2025-05-01/part-0.parquet" in visible_files(dataset)
        assert_mirrors(dataset, server)
