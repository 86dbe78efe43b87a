"""Streaming a fetch into Parquet: every session once in the file, or no file and an error.

Against the fake server over real HTTP, under the paging behaviours of the fetch-engine
tests; the file is read back with Polars (and pyarrow for its row groups).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vsdk_analytics as va
from tests._frames import random_sessions
from vsdk_analytics._batches import PageBatcher
from vsdk_analytics._cli import main
from vsdk_analytics._dataset.stream import ParquetStream
from vsdk_analytics.testing import FakeServer


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_the_file_equals_the_fetched_frame_in_row_groups(tmp_path: Path) -> None:
    target = tmp_path / "sessions.parquet"
    with FakeServer(sessions=2_500, max_per_page=100, jitter=0.01) as server:
        stats = va.fetch_sessions_to_parquet(
            target, server.credentials(), base_url=server.url, batch_rows=400, progress=False
        )
        frame = va.fetch_sessions(server.credentials(), base_url=server.url, progress=False)
        # one request at a time: pages arrive in order, so every 4 pages (400 rows) are a
        # batch; with jitter and many in flight a slow page 2 may release nearly all at once
        in_order = tmp_path / "in_order.parquet"
        va.fetch_sessions_to_parquet(
            in_order,
            server.credentials(),
            base_url=server.url,
            batch_rows=400,
            max_concurrency=1,
            progress=False,
        )
    written = va.read_parquet(target)
    assert stats.sessions == written.height == frame.height == 2_500
    assert written.equals(frame)  # the API's order is newest first: the same order
    # written as it came: a row group per batch of at least 400 rows (6 x 400, then the
    # last 100, when each answer is handled before the next arrives; under load an answer
    # may overtake the one before it, and the two then release 500 rows at once), not one
    # write at the end
    meta = pq.ParquetFile(in_order).metadata
    groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert sum(groups) == 2_500 and len(groups) >= 5
    assert all(rows >= 400 for rows in groups[:-1])
    assert va.read_parquet(in_order).equals(frame)
    assert va.parquet_info(target)["rows"] == 2_500
    assert _files(tmp_path) == ["in_order.parquet", "sessions.parquet"]


@pytest.mark.parametrize("profile", ["bi", "native"])
@pytest.mark.parametrize("batches", [0, 1, 2, 3])
def test_any_number_of_batches_reads_back_as_one_file(
    tmp_path: Path, batches: int, profile: str
) -> None:
    """One batch is written whole at `commit` (Polars' writer), more as row groups
    (pyarrow's): either way the file holds the batches in order, counts its rows, and
    shows readers the schema of `write_parquet`'s files."""
    frame = random_sessions(300 * batches, seed=batches)
    parts = [frame.slice(300 * i, 300) for i in range(batches)]
    target = tmp_path / "streamed.parquet"
    with ParquetStream(target, profile=profile) as out:
        for part in parts:
            out.write(part)
            out.write(part.head(0))  # an empty batch changes nothing
        assert out.commit() == target
    assert va.read_parquet(target).equals(frame)
    assert va.parquet_info(target)["rows"] == frame.height
    assert pq.ParquetFile(target).num_row_groups == batches  # a row group per batch
    whole = va.write_parquet(frame, tmp_path / "whole.parquet", profile=profile)
    assert (
        pq.ParquetFile(target)
        .schema_arrow.remove_metadata()
        .equals(pq.ParquetFile(whole).schema_arrow.remove_metadata())
    )
    assert _files(tmp_path) == ["streamed.parquet", "whole.parquet"]


def test_a_stream_whose_write_failed_refuses_to_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch that failed to write is not silently left out of a committed file (the
    CLI commits what an incomplete fetch got to FILE.partial.parquet)."""
    frame = random_sessions(600, seed=3)

    def broken(self: ParquetStream, part: pl.DataFrame) -> None:
        raise OSError(28, "No space left on device")

    target = tmp_path / "s.parquet"
    with ParquetStream(target) as out:
        out.write(frame.head(300))  # held: nothing written yet
        monkeypatch.setattr(ParquetStream, "_append", broken)
        with pytest.raises(OSError, match="No space left"):
            out.write(frame.tail(300))
        with pytest.raises(OSError, match="a batch failed to write .* nothing was committed"):
            out.commit()
    assert _files(tmp_path) == []


@pytest.mark.parametrize(("sessions", "imports_pyarrow"), [(300, False), (700, True)])
def test_a_fetch_that_fits_one_batch_never_loads_pyarrow(
    sessions: int, imports_pyarrow: bool, tmp_path: Path
) -> None:
    """`fetch -o` of a small account writes its one batch with Polars' writer: the 0.1-0.2
    s of importing pyarrow (needed to append row groups) is paid only from a 2nd batch.
    One request at a time, so 700 sessions are batches of 500 and 200 (with more in
    flight, a late page 1 can release all 700 as one batch)."""
    code = (
        "import sys, vsdk_analytics as va\n"
        "from vsdk_analytics.testing import FakeServer\n"
        f"with FakeServer(sessions={sessions}) as server:\n"
        "    stats = va.fetch_sessions_to_parquet(sys.argv[1], server.credentials(),\n"
        "        base_url=server.url, batch_rows=500, max_concurrency=1, progress=False)\n"
        "print(stats.sessions, 'pyarrow' in sys.modules)\n"
    )
    target = tmp_path / "s.parquet"
    done = subprocess.run(
        [sys.executable, "-c", code, str(target)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(sessions), str(imports_pyarrow)]
    assert va.read_parquet(target).height == sessions


@pytest.mark.parametrize("profile", ["bi", "native"])
def test_both_profiles_read_back_as_the_schema(tmp_path: Path, profile: str) -> None:
    target = tmp_path / f"{profile}.parquet"
    with FakeServer(sessions=300) as server:
        va.fetch_sessions_to_parquet(
            target,
            server.credentials(),
            base_url=server.url,
            profile=profile,  # type: ignore[arg-type]
            batch_rows=50,
        )
    assert va.read_parquet(target).schema == va.SESSIONS_SCHEMA
    assert va.scan_parquet(target).collect().height == 300


def test_an_incomplete_fetch_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "sessions.parquet"
    with FakeServer(sessions=300, max_per_page=3, ignore_page=True) as server:
        with pytest.raises(va.IncompleteFetchError, match="ignore the page parameter") as info:
            va.fetch_sessions_to_parquet(target, server.credentials(), base_url=server.url)
        assert info.value.sessions.height == 0  # streamed, not kept
        assert _files(tmp_path) == []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            stats = va.fetch_sessions_to_parquet(
                target, server.credentials(), base_url=server.url, allow_incomplete=True
            )
    assert [w.category for w in caught] == [va.CompletenessWarning]
    assert va.read_parquet(target).height == stats.sessions == 3


def test_a_revoked_key_leaves_no_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sessions.parquet"
    with (
        FakeServer(sessions=2_000, max_per_page=10, fail_after=20, fail_status=401) as server,
        pytest.raises(va.AuthenticationError),
    ):
        va.fetch_sessions_to_parquet(
            target, server.credentials(), base_url=server.url, batch_rows=30
        )
    assert _files(tmp_path) == []


def test_batches_are_written_off_the_event_loop_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each batch is written on the writer thread, never two at once, in list order."""
    calls: list[tuple[str, int, int]] = []
    active = []
    original = ParquetStream.write

    def write(self: ParquetStream, frame: pl.DataFrame) -> None:
        active.append(1)
        calls.append((threading.current_thread().name, len(active), frame.height))
        try:
            original(self, frame)
        finally:
            active.pop()

    monkeypatch.setattr(ParquetStream, "write", write)
    target = tmp_path / "sessions.parquet"
    with FakeServer(sessions=1_500, max_per_page=50) as server:
        va.fetch_sessions_to_parquet(  # one request at a time: batches of exactly 200
            target,
            server.credentials(),
            base_url=server.url,
            batch_rows=200,
            max_concurrency=1,
            progress=False,
        )
        frame = va.fetch_sessions(server.credentials(), base_url=server.url, progress=False)
    assert [rows for _, _, rows in calls] == [200] * 7 + [100]
    assert {name.split("_")[0] for name, _, _ in calls} == {"vsdk-analytics-writer"}
    assert {at_once for _, at_once, _ in calls} == {1}
    assert va.read_parquet(target).equals(frame)


def test_the_cli_writes_its_batches_off_the_event_loop_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``vsdk-analytics fetch -o`` streams through the same writer thread as
    `fetch_sessions_to_parquet` (`written_on_a_thread`), not on the client's loop."""
    threads: list[str] = []
    original = ParquetStream.write

    def write(self: ParquetStream, frame: pl.DataFrame) -> None:
        threads.append(threading.current_thread().name)
        original(self, frame)

    monkeypatch.setattr(ParquetStream, "write", write)
    target = tmp_path / "sessions.parquet"
    with FakeServer(sessions=600) as server:
        monkeypatch.setenv("VIDEOSDK_AUTH_TOKEN", server.token())
        assert main(["fetch", "-o", str(target), "--base-url", server.url, "--no-progress"]) == 0
        frame = va.fetch_sessions(server.credentials(), base_url=server.url, progress=False)
    assert threads and {name.split("_")[0] for name in threads} == {"vsdk-analytics-writer"}
    assert va.read_parquet(target).equals(frame)


@pytest.mark.parametrize("failing_call", [1, 3])
def test_a_write_that_fails_ends_the_fetch_with_its_error_and_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing_call: int
) -> None:
    """A full disk on a batch (the last one, or one in the middle) is raised, not lost on
    the writer thread, and leaves neither the file nor its temporary behind."""
    calls = []
    original = ParquetStream.write

    def write(self: ParquetStream, frame: pl.DataFrame) -> None:
        calls.append(frame.height)
        if len(calls) == failing_call:
            raise OSError(28, "No space left on device")
        original(self, frame)

    monkeypatch.setattr(ParquetStream, "write", write)
    target = tmp_path / "sessions.parquet"
    batch_rows = 1_000 if failing_call == 1 else 100  # 1: the only batch is the last
    # one request in flight: with many, a slow early page releases the rest as one batch,
    # and the third write may never come (seen under load); here an answer overtakes at
    # most the one before it, so 16 pages make at least 5 batches of 100-150 rows
    with (
        FakeServer(sessions=800, max_per_page=50) as server,
        pytest.raises(OSError, match="No space left"),
    ):
        va.fetch_sessions_to_parquet(
            target,
            server.credentials(),
            base_url=server.url,
            batch_rows=batch_rows,
            max_concurrency=1,
        )
    assert len(calls) >= failing_call
    assert _files(tmp_path) == []


def test_an_existing_foreign_file_is_not_replaced(tmp_path: Path) -> None:
    target = tmp_path / "sessions.parquet"
    pl.DataFrame({"x": [1]}).write_parquet(target)
    with (
        FakeServer(sessions=20) as server,
        pytest.raises(va.DatasetConflictError, match="did not write"),
    ):
        va.fetch_sessions_to_parquet(target, server.credentials(), base_url=server.url)
    assert pl.read_parquet(target).columns == ["x"]


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cap=st.integers(3, 40),
    echo=st.sampled_from(["served", "asked"]),
    totals=st.sampled_from(["items", "pages", "missing", "pages_as_items"]),
    insert_every=st.sampled_from([None, 3, 7]),
    batch_rows=st.integers(1, 120),
)
def test_every_surviving_session_once_or_no_file(
    tmp_path_factory: pytest.TempPathFactory,
    cap: int,
    echo: str,
    totals: str,
    insert_every: int | None,
    batch_rows: int,
) -> None:
    directory = tmp_path_factory.mktemp("stream")
    target = directory / "s.parquet"
    knobs: dict[str, Any] = {
        "max_per_page": cap,
        "echo_per_page": echo,
        "total_mode": totals,
        "insert_every": insert_every,
        "jitter": 0.002,
    }
    with FakeServer(sessions=240, **knobs) as server:
        original = set(server.api.session_ids())
        try:
            va.fetch_sessions_to_parquet(
                target,
                server.credentials(),
                base_url=server.url,
                per_page=100,
                batch_rows=batch_rows,
            )
        except va.IncompleteFetchError:
            assert _files(directory) == []  # told, and nothing half-written
            return
        inserted = set(server.stats.inserted)
    ids = va.read_parquet(target).get_column("session_id")
    assert ids.n_unique() == ids.len(), "a session written twice"
    assert original <= set(ids), "an original session missing"
    assert set(ids) <= original | inserted


def test_the_batcher_keeps_list_order_whatever_the_arrival_order() -> None:
    from vsdk_analytics._normalize import probe_page

    def page(n: int) -> Any:
        body = b'{"data":[{"sessionId":"s%d","createdAt":"2025-01-01T00:00:%02d.000Z"}]}' % (
            n,
            60 - n,
        )
        return probe_page(body, page=n)

    async def run() -> tuple[list[list[str]], int]:
        out: list[list[str]] = []
        batcher = PageBatcher(
            lambda f: out.append(f.get_column("session_id").to_list()), batch_rows=2, strict=False
        )
        batcher.add(3, page(3), [True])
        batcher.add(1, page(1), [True])
        await batcher.drain(0)
        assert out == []  # page 2 still missing: page 1 waits for a batch of two
        batcher.skip(2)  # page 2 failed: stop waiting for it
        assert batcher.backlog == 1  # s1 and s3, being assembled off the loop
        await batcher.drain(0)
        assert out == [["s1", "s3"]]
        batcher.add(5, page(5), [False])  # a repeat: not handed on
        batcher.add(None, page(9), [True])  # an extra request's new session
        await batcher.aclose()
        return out, batcher.emitted

    out, emitted = asyncio.run(run())
    assert out == [["s1", "s3"], ["s9"]]
    assert emitted == 3


def test_a_batch_that_cannot_be_emitted_ends_the_stream_with_its_error() -> None:
    """An error of the consumer (a full disk) reaches the fetch once, and nothing more is
    emitted after it."""
    from vsdk_analytics._normalize import probe_page

    def page(n: int) -> Any:
        return probe_page(b'{"data":[{"sessionId":"s%d"}]}' % n, page=n)

    async def run() -> list[str]:
        seen: list[str] = []

        def emit(frame: pl.DataFrame) -> None:
            seen.extend(frame.get_column("session_id").to_list())
            raise OSError(28, "No space left on device")

        batcher = PageBatcher(emit, batch_rows=1, strict=False)
        batcher.add(1, page(1), [True])
        await batcher.drain(0)  # the error waits for the fetch's next add, or aclose
        with pytest.raises(OSError, match="No space"):
            batcher.add(2, page(2), [True])
        with pytest.raises(OSError, match="No space"):
            await batcher.aclose()
        return seen

    assert asyncio.run(run()) == ["s1"]


def _small_page(n: int, rows: int = 3, total: int | None = None) -> Any:
    """Page ``n``, parsed: ``rows`` sessions ``s{n}-{i}``, and ``totalItems`` if given."""
    from vsdk_analytics._normalize import probe_page

    data = ",".join(
        f'{{"sessionId":"s{n}-{i}","createdAt":"2025-01-01T00:00:00.000Z"}}' for i in range(rows)
    )
    info = b"" if total is None else b',"pageInfo":{"totalItems":%d}' % total
    return probe_page(b'{"data":[%s]%s}' % (data.encode(), info), page=n)


def test_the_assembler_starts_on_an_idle_worker_and_keeps_the_order() -> None:
    """Pages go to an idle worker once they hold ``min_rows`` (before ``chunk_rows``), so a
    fetch waiting on the network has its rows assembled by its last answer; the frame is
    every page's rows in the order added, whatever the chunking."""
    import asyncio

    from vsdk_analytics._batches import ChunkAssembler

    async def run(min_rows: int) -> tuple[list[str], int]:
        assembler = ChunkAssembler(chunk_rows=1_000, min_rows=min_rows, quiet_s=None, strict=False)
        chunks_seen = 0
        for n in range(1, 9):
            assembler.add(_small_page(n))
            running = list(assembler._chunks)
            if running:  # let the worker finish, as the network's wait would
                await asyncio.wait(running)
            chunks_seen = len(assembler._chunks)
        rows, problems = await assembler.result()
        assert problems == []
        return rows.get_column("session_id").to_list(), chunks_seen

    expected = [f"s{n}-{i}" for n in range(1, 9) for i in range(3)]
    early, chunks_early = asyncio.run(run(min_rows=6))
    late, chunks_late = asyncio.run(run(min_rows=1_000))
    assert early == late == expected
    assert chunks_early == 4  # every second page: 6 rows each, on the idle worker
    assert chunks_late == 0  # below chunk_rows and min_rows: all left for result()


def test_the_assembler_uses_a_quiet_spell_and_not_a_stream_of_pages() -> None:
    """Below ``min_rows``, pages go to the idle worker once none has come for ``quiet_s``
    (the loop waits on the network), never while they keep coming; on virtual time."""
    from tests._virtual import VirtualLoop, run_virtual
    from vsdk_analytics._batches import ChunkAssembler

    async def main(_: VirtualLoop) -> list[str]:
        assembler = ChunkAssembler(chunk_rows=1_000, min_rows=1_000, quiet_s=0.005, strict=False)
        for n in range(1, 5):  # a page every 4 ms: never quiet for 5
            assembler.add(_small_page(n))
            await asyncio.sleep(0.004)
        assert assembler._chunks == []
        await asyncio.sleep(0.002)  # 6 ms since the last page
        assert len(assembler._chunks) == 1
        assembler.add(_small_page(5))  # after the quiet spell: waits for the next one
        assert len(assembler._chunks) == 1
        rows, problems = await assembler.result()
        assert problems == []
        assert len(assembler._chunks) == 0
        return list(rows.get_column("session_id"))

    assert run_virtual(main) == [f"s{n}-{i}" for n in range(1, 6) for i in range(3)]


def test_a_quiet_spell_on_a_busy_worker_waits_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A quiet spell that starts while the worker assembles a chunk hands the pages on
    when the worker finishes, not before (one chunk at a time below ``chunk_rows``)."""
    from tests._virtual import VirtualLoop, run_virtual
    from vsdk_analytics import _batches
    from vsdk_analytics._batches import ChunkAssembler

    release = threading.Event()
    started: list[int] = []
    real = _batches.assemble

    def slow(pages: Any, *, strict: bool) -> Any:
        started.append(len(pages))
        if len(started) == 1:
            release.wait(timeout=30)
        return real(pages, strict=strict)

    monkeypatch.setattr(_batches, "assemble", slow)

    async def main(loop: VirtualLoop) -> list[str]:
        assembler = ChunkAssembler(chunk_rows=1_000, min_rows=6, quiet_s=0.005, strict=False)
        assembler.add(_small_page(1))
        assembler.add(_small_page(2))  # 6 rows on an idle worker: the first chunk
        assembler.add(_small_page(3))  # 3 rows: below min_rows, the worker busy
        await asyncio.sleep(0.010)  # quiet, but the worker still holds the first chunk
        assert started == [2]
        assert len(assembler._chunks) == 1
        first = assembler._chunks[0]
        release.set()
        await asyncio.wait({first})
        assert len(assembler._chunks) == 2  # handed on as the worker finished
        rows, _ = await assembler.result()
        assert started == [2, 1]
        return list(rows.get_column("session_id"))

    assert run_virtual(main) == [f"s{n}-{i}" for n in range(1, 4) for i in range(3)]


def test_the_assembler_keeps_list_order_whatever_the_arrival_order() -> None:
    """Main pages are assembled in page order (each waits for the pages before it, or
    their skip); extra answers and a page given twice go at once; result hands on the
    rest."""
    from vsdk_analytics._batches import ChunkAssembler

    async def run() -> list[str]:
        assembler = ChunkAssembler(chunk_rows=1_000, min_rows=3, quiet_s=None, strict=False)
        assembler.add(_small_page(3), 3)
        assembler.add(_small_page(2), 2)
        assert assembler._pending == [] and assembler._chunks == []  # waiting for page 1
        assembler.add(_small_page(9))  # an extra request: at once
        assembler.add(_small_page(1), 1)  # releases 1, 2, 3
        assembler.skip(4)  # failed: 5 need not wait for it
        assembler.add(_small_page(6), 6)
        assembler.add(_small_page(5), 5)
        assembler.add(_small_page(8), 8)  # held: waits for 7
        assembler.add(_small_page(1), 1)  # asked again: at once
        assembler.add(_small_page(7), 7)  # releases 7, 8
        assembler.add(_small_page(11), 11)  # held: 10 never comes
        rows, _ = await assembler.result()
        return [sid.split("-")[0] for sid in rows.get_column("session_id")[::3]]

    expected = ["s9", "s1", "s2", "s3", "s5", "s6", "s1", "s7", "s8", "s11"]
    assert asyncio.run(run()) == expected


def test_the_assembler_hands_on_small_chunks_near_the_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Within ``min_rows`` of page 1's total, chunks of ``tail_rows`` go at once while the
    worker is busy; before that, pages wait for the worker (or for ``chunk_rows``)."""
    from vsdk_analytics import _batches
    from vsdk_analytics._batches import ChunkAssembler

    release = threading.Event()
    real = _batches.assemble

    def slow(pages: Any, *, strict: bool) -> Any:
        if pages[0].page == 1:
            release.wait(timeout=30)  # the worker stays busy with the first chunk
        return real(pages, strict=strict)

    monkeypatch.setattr(_batches, "assemble", slow)

    async def run(total: int) -> int:
        release.clear()
        assembler = ChunkAssembler(
            chunk_rows=1_000, min_rows=12, quiet_s=None, tail_rows=3, strict=False
        )
        assembler.add(_small_page(1, 12, total), 1)  # 12 rows on an idle worker: a chunk
        for n in range(2, 6):
            assembler.add(_small_page(n, 3, total), n)
        handed_on = len(assembler._chunks) - 1
        release.set()
        await assembler.result()
        return handed_on

    assert asyncio.run(run(total=24)) == 4  # the last 12 of 24 rows: a chunk a page
    assert asyncio.run(run(total=10_000)) == 0  # far from the end: they wait
