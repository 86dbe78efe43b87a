"""Datasets that cron jobs and BI refreshes can trust (issue 17), through the API and the CLI.

The overwrite guard, the OS lock (a killed sync, another host), terminal statuses, event
strings of any content, provenance metadata and `parquet_info`, and `scan_parquet`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vsdk_analytics import (
    SESSIONS_SCHEMA,
    ConfigurationError,
    DatasetConflictError,
    Provenance,
    SyncReport,
    data_quality,
    fetch_sessions,
    parquet_info,
    read_parquet,
    scan_parquet,
    status_breakdown,
    sync_sessions,
    webhook_coverage,
    write_parquet,
)
from vsdk_analytics._cli import main
from vsdk_analytics._dataset import HOLDER_FILE, LOCK_FILE, STATE_FILE
from vsdk_analytics.testing import FakeServer, FakeSession, SessionStore, generate_sessions
from vsdk_analytics.testing._data import encode_json

pytestmark = pytest.mark.integration

PER_PAGE = 100
CHILD = Path(__file__).with_name("_sync_child.py")
HOLD_LOCK = """
import sys
from pathlib import Path
from vsdk_analytics._dataset.lock import DatasetLock
lock = DatasetLock(Path(sys.argv[1]), run_id="held-by-a-child")
lock.acquire()
print("locked", flush=True)
sys.stdin.read()
lock.release()
"""


def sync(server: FakeServer, dataset: Path, **kwargs: Any) -> SyncReport:
    return sync_sessions(
        dataset, server.credentials(), base_url=server.url, per_page=PER_PAGE, progress=False,
        **kwargs,
    )  # fmt: skip


def full_fetch(server: FakeServer) -> pl.DataFrame:
    return fetch_sessions(server.credentials(), base_url=server.url, progress=False)


def assert_mirrors(dataset: Path, server: FakeServer) -> None:
    got = read_parquet(dataset).sort("session_id")
    assert got.get_column("session_id").is_unique().all()
    assert got.equals(full_fetch(server).sort("session_id"))


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def edited(sessions: list[FakeSession], change: Any) -> list[FakeSession]:
    """The sessions with ``change(record)`` applied to each decoded body."""
    result = []
    for session in sessions:
        record = session.to_dict()
        change(record)
        result.append(session._replace(body=encode_json(record)))
    return result


def finished(sessions: list[FakeSession]) -> list[FakeSession]:
    store = SessionStore(sessions)
    store.finish_running()
    return store.snapshot()


# ---------------------------------------------------------------------------
# 1. The overwrite guard
# ---------------------------------------------------------------------------


def test_write_parquet_refuses_to_replace_a_synced_dataset(tmp_path: Path) -> None:
    dataset = tmp_path / "sessions"
    with FakeServer(sessions=2000, seed=3) as server:
        sync(server, dataset)
        before = read_parquet(dataset).sort("session_id")
        with pytest.raises(DatasetConflictError) as caught:
            write_parquet(before.head(300), dataset, partition_by="start_date")
        message = str(caught.value)
        assert str(dataset) in message and "overwrite=True" in message and "2,000" in message
        assert read_parquet(dataset).sort("session_id").equals(before)
        again = sync(server, dataset)
        assert not again.full_fetch and again.pages_fetched == 1
        replaced = write_parquet(before.head(300), dataset, partition_by="tag", overwrite=True)
        assert read_parquet(replaced).height == 300 and not (dataset / STATE_FILE).exists()


def test_write_parquet_refuses_files_and_datasets_it_did_not_write(tmp_path: Path) -> None:
    frame = pl.DataFrame([{"session_id": "s1"}], schema=SESSIONS_SCHEMA)
    foreign = tmp_path / "theirs.parquet"
    pq.write_table(pa.table({"x": [1]}), foreign)
    with pytest.raises(DatasetConflictError, match="did not write a file.*overwrite=True"):
        write_parquet(frame, foreign)
    assert pq.read_table(foreign).column_names == ["x"]
    write_parquet(frame, foreign, overwrite=True)
    assert read_parquet(foreign).equals(frame)

    directory = tmp_path / "their-dataset"
    pq.write_to_dataset(pa.table({"x": [1, 2], "k": ["a", "b"]}), directory, partition_cols=["k"])
    with pytest.raises(DatasetConflictError, match="did not write"):
        write_parquet(frame, directory, partition_by="tag")
    assert len(list(directory.rglob("*.parquet"))) == 2

    ours = write_parquet(frame, tmp_path / "ours", partition_by="tag")
    write_parquet(frame, ours, partition_by="start_date")  # ours and not synced: replaced
    assert [p.parent.name for p in ours.rglob("*.parquet")] == [
        "start_date=__HIVE_DEFAULT_PARTITION__"
    ]


def test_cli_fetch_into_a_synced_dataset_needs_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = tmp_path / "sessions"
    with FakeServer(sessions=400, seed=5) as server:
        monkeypatch.setenv("VIDEOSDK_AUTH_TOKEN", server.token())
        url = ["--base-url", server.url, "--no-progress"]
        assert cli(capsys, "sync", str(dataset), *url)[0] == 0
        before = read_parquet(dataset).sort("session_id")
        requests = server.stats.requests
        code, _, err = cli(
            capsys, "fetch", "-o", str(dataset), "--partition-by", "start_date", *url
        )
        assert code == 3, err
        assert str(dataset) in err and "--overwrite" in err
        assert server.stats.requests == requests  # refused before fetching
        assert read_parquet(dataset).sort("session_id").equals(before)
        code, out, err = cli(capsys, "sync", str(dataset), *url)
        assert code == 0 and "\n  full fetch: " not in out and "1 pages fetched" in out, err
        code, _, err = cli(
            capsys, "fetch", "-o", str(dataset), "--partition-by", "tag", "--overwrite", *url
        )
        assert code == 0, err
        assert not (dataset / STATE_FILE).exists()
        assert read_parquet(dataset).sort("session_id").equals(before)


# ---------------------------------------------------------------------------
# 2. A lock the kernel releases
# ---------------------------------------------------------------------------


def _unshare_works() -> bool:
    if shutil.which("unshare") is None or shutil.which("hostname") is None:
        return False
    try:
        done = subprocess.run(
            ["unshare", "-u", "true"], check=False, capture_output=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


@pytest.mark.skipif(
    not _unshare_works(),
    reason="`unshare -u` (a new UTS namespace, for another hostname) needs root or "
    "CAP_SYS_ADMIN and util-linux; not available here",
)
def test_a_sync_killed_here_is_no_obstacle_on_another_host(tmp_path: Path) -> None:
    dataset = tmp_path / "sessions"
    other_host = "vsdk-other-container"
    with FakeServer(sessions=1500, seed=21) as server:
        killed = subprocess.run(
            [sys.executable, str(CHILD), server.url, str(dataset), "3", str(PER_PAGE)],
            check=False, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert killed.returncode == -9, killed.stderr
        holder = json.loads((dataset / HOLDER_FILE).read_text())
        assert holder["host"] != other_host  # the dead holder's record stays, informative only
        assert (dataset / LOCK_FILE).exists() and not (dataset / STATE_FILE).exists()
        child = f"{sys.executable} {CHILD} {server.url} {dataset} 0 {PER_PAGE}"
        other = subprocess.run(
            ["unshare", "-u", "sh", "-c", f"hostname {other_host} && exec {child}"],
            check=False, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert other.returncode == 0, other.stderr
        assert other.stdout.split()[1] == other_host
        assert_mirrors(dataset, server)
        assert json.loads((dataset / HOLDER_FILE).read_text())["host"] == other_host


def test_a_held_lock_refuses_at_once_or_waits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = tmp_path / "sessions"
    dataset.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(dataset)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline().strip() == "locked"
        with FakeServer(sessions=120, seed=9) as server:
            with pytest.raises(DatasetConflictError, match="another sync is running") as caught:
                sync(server, dataset)
            assert f"process {holder.pid} " in str(caught.value)
            assert "held-by-a-child" in str(caught.value)
            monkeypatch.setenv("VIDEOSDK_AUTH_TOKEN", server.token())
            code, _, err = cli(capsys, "sync", str(dataset), "--base-url", server.url)
            assert code == 3 and f"process {holder.pid} " in err and "--wait" in err
            assert server.stats.requests == 0

            outcome: dict[str, Any] = {}

            def waiting() -> None:
                try:
                    outcome["report"] = sync(server, dataset, lock_timeout=120)
                except BaseException as exc:  # handed to the test thread
                    outcome["error"] = exc

            thread = threading.Thread(target=waiting)
            thread.start()
            holder.stdin.close()  # the holder releases and exits
            thread.join()
            assert "error" not in outcome, outcome.get("error")
            assert outcome["report"].new == 120
            assert_mirrors(dataset, server)
    finally:
        holder.kill()
        holder.wait()
        holder.stdin.close()
        holder.stdout.close()


@pytest.mark.parametrize("bad", [-1.0, float("nan")])
def test_lock_timeout_must_be_a_duration(tmp_path: Path, bad: float) -> None:
    with FakeServer(sessions=5) as server, pytest.raises(ConfigurationError, match="lock_timeout"):
        sync(server, tmp_path / "sessions", lock_timeout=bad)


# ---------------------------------------------------------------------------
# 3. Terminal statuses
# ---------------------------------------------------------------------------


def test_failed_sessions_without_an_end_are_finished(tmp_path: Path) -> None:
    def no_end_when_failed(record: dict[str, Any]) -> None:
        if record["status"] == "failed":
            record.pop("end", None)
            record.pop("duration", None)

    sessions = edited(finished(generate_sessions(2000, seed=31)), no_end_when_failed)
    failed = sum(s.status == "failed" for s in sessions)
    assert failed >= 50
    dataset = tmp_path / "sessions"
    with FakeServer(sessions=sessions) as server:
        first = sync(server, dataset)
        stored = read_parquet(dataset)
        assert stored.filter(pl.col("status") == "failed").get_column("end").null_count() == failed
        before = server.stats.requests
        second = sync(server, dataset)
        made = server.stats.requests - before
        assert made <= 3, second.reason
        assert second.requests == made and second.refreshed == 0 and not second.full_fetch
        assert second.watermark is not None and first.watermark is not None
        assert second.watermark >= first.watermark
        assert_mirrors(dataset, server)


# ---------------------------------------------------------------------------
# 4. Every event string stored, read back exactly
# ---------------------------------------------------------------------------


ODD_EVENTS: list[Any] = [
    ["ai-deployment-session-started", "a,b"],
    [""],
    [None, "x"],
    [],
    None,
    ['["quoted"]', "\\", "é"],
]


@pytest.mark.parametrize("profile", ["bi", "native"])
def test_sync_stores_any_event_string(tmp_path: Path, profile: str) -> None:
    def odd(record: dict[str, Any]) -> None:
        index = int(record["sessionId"][-2:], 16) % len(ODD_EVENTS)
        record["webhook"] = {"endpoint": "https://hooks.example/x", "events": ODD_EVENTS[index]}

    sessions = edited(generate_sessions(300, seed=41), odd)
    dataset = tmp_path / "sessions"
    with FakeServer(sessions=sessions) as server:
        sync(server, dataset, profile=profile)
        assert_mirrors(dataset, server)
        events = read_parquet(dataset).get_column("webhook_events").to_list()
        assert [""] in events and [None, "x"] in events
        assert (
            scan_parquet(dataset)
            .collect()
            .sort("session_id")
            .equals(read_parquet(dataset).sort("session_id"))
        )


# ---------------------------------------------------------------------------
# 6. Provenance
# ---------------------------------------------------------------------------


def test_every_file_says_where_its_sessions_come_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = tmp_path / "sessions"
    with FakeServer(sessions=500, seed=51) as server:
        first = sync(server, dataset)
        _ = server.api.insert_session(status="completed")
        second = sync(server, dataset)
        url = server.url
    assert first.run_id and second.run_id and first.run_id != second.run_id
    runs = set()
    for path in dataset.rglob("part-0.parquet"):
        meta = pl.read_parquet_metadata(path)
        assert meta["vsdk_analytics.base_url"] == url
        assert meta["vsdk_analytics.fetched_at"].endswith("Z")
        assert meta["vsdk_analytics.profile"] == "bi"
        runs.add(meta["vsdk_analytics.sync_run_id"])
        if meta["vsdk_analytics.sync_run_id"] == second.run_id:
            assert second.since is not None
            assert meta["vsdk_analytics.since"] == second.since.isoformat().replace("+00:00", "Z")
    assert runs == {first.run_id, second.run_id}
    info = parquet_info(dataset)
    assert info["sync_run_id"] == second.run_id and info["rows"] == 501
    assert info["base_url"] == url and info["schema_version"] == "1"
    assert info["partition_by"] == ["start_date"] and info["webhook_events_encoding"] == "json"
    assert info["synced_at"] is not None and info["watermark"] is not None
    code, _, err = cli(capsys, "report", str(dataset))
    assert code == 0
    assert f"sync_run_id={second.run_id}" in err and f"base_url={url}" in err


def test_provenance_never_holds_a_secret(tmp_path: Path) -> None:
    frame = pl.DataFrame([{"session_id": "s1"}], schema=SESSIONS_SCHEMA)
    source = Provenance(base_url="https://user:s3cr3t-tok@api.example.com/v2/?token=s3cr3t-tok")
    target = write_parquet(frame, tmp_path / "s.parquet", provenance=source)
    assert b"s3cr3t-tok" not in target.read_bytes()
    assert parquet_info(target)["base_url"] == "https://api.example.com/v2/"


def test_cli_fetch_records_its_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "s.parquet"
    with FakeServer(sessions=200, seed=52) as server:
        monkeypatch.setenv("VIDEOSDK_AUTH_TOKEN", server.token())
        since = "2025-06-20T00:00:00Z"
        code, _, err = cli(
            capsys, "fetch", "-o", str(target), "--base-url", server.url, "--since", since,
            "--no-progress",
        )  # fmt: skip
        assert code == 0, err
        url = server.url
    info = parquet_info(target)
    assert info["since"] == since and info["until"] is None and info["base_url"] == url
    assert info["fetched_at"] is not None and info["sync_run_id"] is None
    assert os.environ["VIDEOSDK_AUTH_TOKEN"].encode() not in target.read_bytes()


# ---------------------------------------------------------------------------
# scan_parquet
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["bi", "native"])
def test_scan_parquet_of_a_file_and_a_synced_dataset(tmp_path: Path, profile: str) -> None:
    dataset = tmp_path / "sessions"
    with FakeServer(sessions=250, seed=61) as server:
        sync(server, dataset, profile=profile)
        want = full_fetch(server).sort("session_id")
    assert {STATE_FILE, LOCK_FILE, HOLDER_FILE} <= {p.name for p in dataset.iterdir()}
    lazy = scan_parquet(dataset)
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect_schema() == SESSIONS_SCHEMA
    assert lazy.collect().sort("session_id").equals(want)
    for helper in (data_quality, webhook_coverage, status_breakdown):
        lazy_answer = helper(scan_parquet(dataset))
        assert isinstance(lazy_answer, pl.LazyFrame)
        assert lazy_answer.collect().equals(helper(want))
    file = write_parquet(want, tmp_path / "s.parquet", profile=profile)  # type: ignore[arg-type]
    assert scan_parquet(file).collect().equals(want)
    assert scan_parquet(file).filter(pl.col("status") == "failed").collect().height == (
        want.filter(pl.col("status") == "failed").height
    )


def test_a_version_0_1_dataset_is_rewritten_once_in_json(tmp_path: Path) -> None:
    """Partitions of version 0.1 joined the events with ','; the next sync rewrites them."""
    dataset = tmp_path / "sessions"
    with FakeServer(sessions=300, seed=71) as server:
        sync(server, dataset)
        parts = sorted(dataset.rglob("part-0.parquet"))
        for path in parts[:3]:
            table = pq.read_table(path)
            events = [
                None if text is None else ",".join(json.loads(text))
                for text in table.column("webhook_events").to_pylist()
            ]
            meta = {k: v for k, v in (table.schema.metadata or {}).items() if b"encoding" not in k}
            meta[b"vsdk_analytics.webhook_events_separator"] = b","
            legacy = table.set_column(
                table.schema.get_field_index("webhook_events"),
                "webhook_events",
                pa.array(events, pa.string()),
            ).replace_schema_metadata(meta)
            pq.write_table(legacy, path)
        assert_mirrors(dataset, server)  # mixed encodings read back exactly
        report = sync(server, dataset)
        assert report.partitions_written == 3
        for path in dataset.rglob("part-0.parquet"):
            meta = pl.read_parquet_metadata(path)
            assert meta.get("vsdk_analytics.webhook_events_encoding") == "json"
        assert_mirrors(dataset, server)
        assert sync(server, dataset).partitions_written == 0
