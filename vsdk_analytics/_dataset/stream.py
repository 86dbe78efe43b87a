"""A Parquet file written batch by batch: a fetch streams into it without holding every row.

`fetch_sessions_to_parquet` fetches every session straight into one file this way (the
CLI's ``fetch -o``): memory holds about one batch, whatever the size of the history, and
each batch is encoded and written on a writer thread while the next is fetched.

`ParquetStream` writes each batch of sessions as row groups of one file, under a hidden
temporary name beside the target, with the same profiles, types and metadata as
`write_parquet`. `commit` adds the row count, flushes to disk and renames the file into
place (atomically, guarded like `write_parquet`'s ``overwrite``); `abort` removes it, so
a fetch that fails, or cannot prove it saw every session, leaves no file behind.

Examples
--------
>>> import pathlib, tempfile
>>> import polars as pl
>>> from vsdk_analytics import SESSIONS_SCHEMA, read_parquet
>>> rows = pl.DataFrame([{"session_id": "s1"}, {"session_id": "s2"}], schema=SESSIONS_SCHEMA)
>>> with tempfile.TemporaryDirectory() as tmp:
...     with ParquetStream(pathlib.Path(tmp) / "sessions.parquet") as out:
...         out.write(rows.head(1))
...         out.write(rows.tail(1))
...         path = out.commit()
...     print(read_parquet(path).get_column("session_id").to_list())
['s1', 's2']
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

import polars as pl

from vsdk_analytics._client import AsyncClient
from vsdk_analytics._constants import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_PER_PAGE,
    MAX_RETRIES,
    READ_TIMEOUT_SECONDS,
    STREAM_BATCH_ROWS,
)
from vsdk_analytics._credentials import Credentials
from vsdk_analytics._errors import ConfigurationError
from vsdk_analytics._fetch import FetchStats
from vsdk_analytics._http import TransportName
from vsdk_analytics._options import time_range
from vsdk_analytics._progress import ProgressArg
from vsdk_analytics._schema import SESSIONS_SCHEMA
from vsdk_analytics._sync import blocking

from .files import (
    META,
    ParquetProfile,
    Provenance,
    check_schema,
    codec,
    file_frame,
    fsync_dir,
    open_writer,
    provenance_metadata,
    temporary_name,
    to_arrow,
    write_to,
)
from .parquet import check_target, swap_into_place

if TYPE_CHECKING:
    import httpx

__all__ = [
    "BatchWrites",
    "ParquetStream",
    "fetch_sessions_to_parquet",
    "fetch_sessions_to_parquet_async",
    "written_on_a_thread",
]


def _release_arrow_memory() -> None:
    """Give Arrow's freed buffers back to the OS after a batch (its pool keeps them)."""
    import pyarrow as pa  # noqa: PLC0415 - loaded by to_arrow already

    pa.default_memory_pool().release_unused()


class ParquetStream:
    """One Parquet file of sessions, written batch by batch, committed or aborted.

    Parameters
    ----------
    path
        The file to create (its directory must exist).
    profile, compression, overwrite, provenance
        As in `write_parquet`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        profile: str = "bi",
        compression: str | None = None,
        overwrite: bool | None = None,
        provenance: Provenance | None = None,
    ) -> None:
        self._compression = codec(profile, compression)
        self._profile = profile
        self._target = Path(path)
        if not self._target.parent.is_dir():
            raise ConfigurationError(f"the directory {str(self._target.parent)!r} does not exist")
        check_target(self._target, dataset=False, overwrite=overwrite)
        self._overwrite = overwrite
        self._metadata = provenance_metadata(profile, [], provenance)
        self._temporary = temporary_name(self._target)
        self._handle: IO[bytes] | None = self._temporary.open("xb")
        self._writer: Any = None
        self._held: pl.DataFrame | None = None  # the first batch, until a second one comes
        self._failure: BaseException | None = None  # a write that raised: never committed
        self.rows = 0
        """Rows written so far."""

    def __enter__(self) -> ParquetStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._handle is not None:
            self.abort()  # not committed: leave nothing behind

    def _open(self, table: Any) -> Any:
        if self._writer is None:
            assert self._handle is not None
            self._writer = open_writer(self._handle, table.schema, self._compression)
        return self._writer

    def write(self, frame: pl.DataFrame) -> None:
        """Append ``frame`` (exactly `SESSIONS_SCHEMA`) as row groups.

        The first batch is held until a second one comes: a fetch that fits one batch is
        written by `commit` in one go, with Polars' writer, as `write_parquet` writes
        (pyarrow, which streaming needs, is then never imported: 0.1-0.2 s saved).
        """
        if self._handle is None:
            raise ConfigurationError("this ParquetStream is closed")
        check_schema(frame)
        if not frame.height:
            return
        if self._writer is None and self._held is None:
            self._held = frame
        else:
            held, self._held = self._held, None
            try:
                if held is not None:
                    self._append(held)
                self._append(frame)
            except BaseException as exc:
                self._failure = exc
                raise
        self.rows += frame.height

    def _append(self, frame: pl.DataFrame) -> None:
        table = to_arrow(frame, self._profile)
        self._open(table).write_table(table)
        del table
        _release_arrow_memory()

    def commit(self, to: str | os.PathLike[str] | None = None) -> Path:
        """Finish the file and rename it into place; the path written.

        ``to`` writes it elsewhere instead (e.g. beside the target when a fetch was
        incomplete), under the same ``overwrite`` guard.
        """
        if self._handle is None:
            raise ConfigurationError("this ParquetStream is closed")
        if self._failure is not None:
            raise OSError(
                f"a batch failed to write ({type(self._failure).__name__}: {self._failure}); "
                "nothing was committed"
            ) from self._failure
        target = self._target if to is None else Path(to)
        if to is not None:
            check_target(target, dataset=False, overwrite=self._overwrite)
        handle, self._handle = self._handle, None
        metadata = {**self._metadata, f"{META}rows": str(self.rows)}
        try:
            if self._writer is None:  # one batch, or none: one whole-file write
                held = SESSIONS_SCHEMA.to_frame() if self._held is None else self._held
                self._held = None
                write_to(handle, file_frame(held, self._profile), self._compression, metadata)
            else:
                self._writer.add_key_value_metadata(metadata)
                self._writer.close()
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            swap_into_place(self._temporary, target, overwrite=self._overwrite)
        except BaseException:
            handle.close()
            self._temporary.unlink(missing_ok=True)
            raise
        fsync_dir(target.parent)
        return target

    def abort(self) -> None:
        """Drop what was written; nothing appears at the target."""
        handle, self._handle = self._handle, None
        self._held = None
        if handle is None:
            return
        try:
            if self._writer is not None:
                self._writer.close()
        finally:
            handle.close()
            self._temporary.unlink(missing_ok=True)


class BatchWrites:
    """`ParquetStream.write` on one worker thread, a batch at a time, in order.

    A fetch's event loop is its bottleneck; encoding and compressing a batch on it
    (0.35-0.46 s of a 3 s fetch of 200,000 sessions at 100 per page) stopped it reading
    pages. `write` hands a batch to the thread once the previous one is written (waiting
    if need be, so at most one batch is being written while the next is gathered), and
    raises an earlier write's error; `close` waits for the last write. pyarrow and numpy
    (about 0.15 s to import) load on the thread with the second batch, since a fetch of
    one batch never needs them (`ParquetStream.write`).
    """

    def __init__(self, out: ParquetStream) -> None:
        self._out = out
        self._pool = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="vsdk-analytics-writer"
        )
        self._last: concurrent.futures.Future[Any] | None = None

    def write(self, frame: pl.DataFrame) -> None:
        """Hand ``frame`` to the thread (after the previous batch is written)."""
        self._wait()
        self._last = self._pool.submit(self._out.write, frame)

    def _wait(self) -> None:
        last, self._last = self._last, None
        if last is not None:
            last.result()

    def close(self, *, failed: bool = False) -> None:
        """Wait for the last write (its error is raised unless the fetch ``failed``)."""
        try:
            self._wait()
        except Exception:
            if not failed:
                raise
        finally:
            self._pool.shutdown(wait=True)


@contextlib.contextmanager
def written_on_a_thread(out: ParquetStream) -> Iterator[Callable[[pl.DataFrame], None]]:
    """``on_batch`` for a streamed fetch that writes into ``out`` on a `BatchWrites` thread.

    Leaving the block waits for the last write. When the block raises, that error wins
    (a write that failed meanwhile is not raised, and ``out`` refuses to commit).
    """
    writes = BatchWrites(out)
    try:
        yield writes.write
    except BaseException:
        writes.close(failed=True)  # before the file is aborted or committed under it
        raise
    writes.close()


async def fetch_sessions_to_parquet_async(
    path: str | os.PathLike[str],
    credentials: Credentials | None = None,
    *,
    base_url: str | None = None,
    profile: ParquetProfile = "bi",
    compression: str | None = None,
    overwrite: bool | None = None,
    per_page: int = DEFAULT_PER_PAGE,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    max_requests_per_second: float | None = None,
    progress: ProgressArg = None,
    strict: bool = False,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    allow_incomplete: bool = False,
    max_retries: int = MAX_RETRIES,
    timeout: float = READ_TIMEOUT_SECONDS,
    transport: httpx.AsyncBaseTransport | TransportName = "aiohttp",
    batch_rows: int = STREAM_BATCH_ROWS,
) -> FetchStats:
    """Fetch every session into one Parquet file (async); see `fetch_sessions_to_parquet`."""
    window = time_range(since, until)  # checked before anything is created
    async with AsyncClient(
        credentials,
        base_url=base_url,
        max_concurrency=max_concurrency,
        max_requests_per_second=max_requests_per_second,
        max_retries=max_retries,
        timeout=timeout,
        transport=transport,
    ) as client:
        provenance = Provenance(
            fetched_at=datetime.now(timezone.utc),
            base_url=client.base_url,
            since=window.since,
            until=window.until,
        )
        with ParquetStream(
            path,
            profile=profile,
            compression=compression,
            overwrite=overwrite,
            provenance=provenance,
        ) as out:
            with written_on_a_thread(out) as write:
                stats = await client.stream_sessions(
                    write,
                    per_page=per_page,
                    batch_rows=batch_rows,
                    progress=progress,
                    strict=strict,
                    since=window.since,
                    until=window.until,
                    allow_incomplete=allow_incomplete,
                )
            out.commit()
    return stats


@blocking(fetch_sessions_to_parquet_async)
def fetch_sessions_to_parquet() -> None:
    """Fetch every session straight into one Parquet file, a batch of rows at a time.

    Memory stays flat in the size of the history (about ``batch_rows`` sessions at
    once), so millions of sessions fit a small machine. Rows are in the API's order
    (newest first) as row groups of about ``batch_rows``; each session once, the first
    copy received wins (`fetch_sessions` keeps the newest ``updated_at``; the two differ
    only for a session updated while it was paged twice). The file appears atomically,
    and only when the fetch proved it saw every session; otherwise nothing is written
    and `IncompleteFetchError` is raised (``allow_incomplete=True``: the partial file,
    with a `CompletenessWarning`). The other parameters are those of `fetch_sessions`
    and `write_parquet`.

    Returns
    -------
    FetchStats
        What the fetch did; ``sessions`` is the number of rows written.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from vsdk_analytics.testing import FakeServer
    >>> from vsdk_analytics import read_parquet
    >>> with FakeServer(sessions=250) as server, tempfile.TemporaryDirectory() as tmp:
    ...     target = pathlib.Path(tmp) / "sessions.parquet"
    ...     stats = fetch_sessions_to_parquet(
    ...         target, server.credentials(), base_url=server.url, batch_rows=100
    ...     )
    ...     print(stats.sessions, read_parquet(target).height)
    250 250
    """
