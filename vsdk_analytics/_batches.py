"""Pages into frames a batch at a time: streamed in list order, or assembled while paging.

`PageBatcher` (streaming): answers arrive in any order; it holds main pages until every
page before them has arrived (or failed), so the batches follow the API's order (newest
first). Each batch is assembled on a worker thread while later pages are in flight, and
emitted on the event loop, in order. Each page comes with a mask of the rows to keep
(the sessions not seen on an earlier answer), so every session is handed on once: the
first copy received wins, where a whole fetch would keep the newest ``updated_at``. Rows
that only extra requests (stitches, probes, second readings) brought come after the main
pages released before them.

Pages are assembled into frames a batch at a time (`assemble`), so Polars' per-call
overhead is paid once per batch, and memory holds one batch, not the whole fetch.

`ChunkAssembler` (a whole frame): pages in arrival order, assembled a chunk at a time on
a worker thread (Polars' JSON read and timestamp parsing run without the GIL) while the
event loop keeps the later requests going; the frame is the chunks concatenated in order.
"""

from __future__ import annotations

import asyncio
import collections
import functools
from collections.abc import Callable
from typing import Generic, TypeVar

import polars as pl

from ._constants import (
    ASSEMBLY_CHUNK_ROWS,
    ASSEMBLY_MIN_ROWS,
    ASSEMBLY_QUIET_S,
    ASSEMBLY_TAIL_ROWS,
)
from ._normalize import ParsedPage, Problem, assemble, empty_sessions

__all__ = ["ChunkAssembler", "PageBatcher"]

_Chunk = tuple[pl.DataFrame, list[Problem]]
T = TypeVar("T")


class _InOrder(Generic[T]):
    """Main pages' answers back in list order (they arrive in any order).

    `put` holds an answer until every page before it was put or skipped; an answer for
    a page already released or held (a page asked again) comes back at once.
    """

    __slots__ = ("_held", "_next", "_skipped")

    def __init__(self) -> None:
        self._held: dict[int, T] = {}
        self._skipped: set[int] = set()
        self._next = 1

    def put(self, page: int, item: T) -> list[T]:
        """``item`` for ``page``; what that releases, in page order."""
        if page < self._next or page in self._held:
            return [item]
        self._held[page] = item
        return self._release()

    def skip(self, page: int) -> list[T]:
        """``page`` will not come (it failed); what that releases, in page order."""
        self._skipped.add(page)
        return self._release()

    def rest(self) -> list[T]:
        """Everything still held, in page order (the fetch is over)."""
        items = [self._held[page] for page in sorted(self._held)]
        self._held.clear()
        return items

    def _release(self) -> list[T]:
        out: list[T] = []
        held, skipped = self._held, self._skipped
        while self._next in held or self._next in skipped:
            if self._next in held:
                out.append(held.pop(self._next))
            skipped.discard(self._next)
            self._next += 1
        return out


class ChunkAssembler:
    """Assembles pages (in the order added) a chunk at a time, on the default executor.

    A chunk goes to the worker once it holds ``chunk_rows`` whatever the worker does, or
    when the worker is idle and either the chunk holds ``min_rows`` or no page has come
    for ``quiet_s`` seconds (the loop waits on the network). So a fetch that outpaces the
    worker gets large chunks, and Polars' per-call overhead stays small (on 200,000
    sessions at 0 ms, chunks of 2,000 rows cost 0.16 s more CPU than chunks of 20,000),
    while a fetch that waits on the network has its rows assembled during the waits
    (what is left after the last answer is one small chunk). `result` waits for them all.
    Call it (or `discard`) from the loop that added the pages. ``min_rows`` None: as
    ``chunk_rows``; ``quiet_s`` None: no quiet spells.

    In the last ``min_rows`` (by page 1's total, a hint: a wrong one costs only time),
    chunks of ``tail_rows`` go at once, busy worker or not, and are assembled side by
    side: what is left after the last answer is small (200,000 sessions at 0 ms: 20 ms
    against 60 ms after the last answer).

    Main pages given with their page number are assembled in list order (each waits for
    the pages before it, or their `skip`), so a frame of pages that come newest first is
    already in the fetch's order and needs no sort (a two-key sort of 200,000 rows: 40 ms
    after the last answer).
    """

    def __init__(
        self,
        *,
        strict: bool,
        chunk_rows: int = ASSEMBLY_CHUNK_ROWS,
        min_rows: int | None = ASSEMBLY_MIN_ROWS,
        quiet_s: float | None = ASSEMBLY_QUIET_S,
        tail_rows: int = ASSEMBLY_TAIL_ROWS,
    ) -> None:
        self._chunk_rows = max(1, chunk_rows)
        self._min_rows = self._chunk_rows if min_rows is None else max(1, min_rows)
        self._tail_rows = min(max(1, tail_rows), self._min_rows)
        self._expected: int | None = None  # rows, as page 1 claims: a hint, never trusted
        self._added = 0
        self._quiet_s = quiet_s
        self._strict = strict
        self._pending: list[ParsedPage] = []
        self._rows = 0
        self._chunks: list[asyncio.Future[_Chunk]] = []
        self._running = 0
        self._last_add = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._order: _InOrder[ParsedPage] = _InOrder()

    def add(self, parsed: ParsedPage, page: int | None = None) -> None:
        """An answer: main page ``page`` (in list order), or an extra request (None)."""
        if page == 1 and self._expected is None:
            self._expected = parsed.total_items
        for ready in [parsed] if page is None else self._order.put(page, parsed):
            self._take(ready)

    def skip(self, page: int) -> None:
        """Main page ``page`` will not come (it failed): stop waiting for it."""
        for ready in self._order.skip(page):
            self._take(ready)

    def _take(self, parsed: ParsedPage) -> None:
        self._pending.append(parsed)
        self._rows += parsed.record_count
        self._added += parsed.record_count
        if (
            self._rows >= self._chunk_rows
            or (self._rows >= self._min_rows and not self._running)
            or (self._rows >= self._tail_rows and self._near_end())
        ):
            self._submit()
        elif self._quiet_s is not None:
            loop = asyncio.get_running_loop()
            self._last_add = loop.time()
            if self._timer is None:  # one timer at a time, pushed back while pages come
                self._timer = loop.call_later(self._quiet_s, self._check_quiet)

    def _near_end(self) -> bool:
        """Whether fewer than ``min_rows`` are still to come, by page 1's total."""
        expected = self._expected
        return expected is not None and expected - self._added < self._min_rows

    def _quiet(self) -> float:
        """Seconds until the loop has been quiet for ``quiet_s`` (<= 0: it has)."""
        assert self._quiet_s is not None
        return self._last_add + self._quiet_s - asyncio.get_running_loop().time()

    def _check_quiet(self) -> None:
        self._timer = None
        if not self._pending or self._running:
            return  # nothing to do, or `_finished` decides when the worker is free
        wait = self._quiet()
        if wait > 0:
            self._timer = asyncio.get_running_loop().call_later(wait, self._check_quiet)
        else:
            self._submit()

    def _submit(self) -> None:
        if not self._pending:
            return
        pages, self._pending, self._rows = self._pending, [], 0
        job = functools.partial(assemble, pages, strict=self._strict)
        chunk = asyncio.get_running_loop().run_in_executor(None, job)
        self._running += 1
        chunk.add_done_callback(self._finished)
        self._chunks.append(chunk)

    def _finished(self, _: asyncio.Future[_Chunk]) -> None:
        self._running -= 1
        if self._running or not self._pending:
            return
        if self._rows >= self._min_rows or (self._quiet_s is not None and self._quiet() <= 0):
            self._submit()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def result(self) -> _Chunk:
        """Every page's rows (`SESSIONS_SCHEMA`, in order, not deduplicated) and problems."""
        self._cancel_timer()
        for ready in self._order.rest():
            self._take(ready)
        self._submit()
        chunks, self._chunks = self._chunks, []
        done = await asyncio.gather(*chunks)
        frames = [rows for rows, _ in done if rows.height]
        problems = [problem for _, found in done for problem in found]
        if not frames:
            return empty_sessions(), problems
        return pl.concat(frames, how="vertical", rechunk=False), problems

    def discard(self) -> None:
        """Drop what was added (the fetch failed); chunks already running finish unread."""
        self._cancel_timer()
        self._order = _InOrder()
        self._pending, self._rows = [], 0
        for chunk in self._chunks:  # nobody will read them: no "never retrieved" noise
            chunk.add_done_callback(_retrieve)
        self._chunks = []


def _retrieve(future: asyncio.Future[_Chunk]) -> None:
    if not future.cancelled():
        future.exception()


class PageBatcher:
    """Reorders pages and emits their new rows in batches of about ``batch_rows``.

    Each batch is assembled on the running loop's default executor while later pages are
    in flight, and emitted on the loop, in list order, one at a time. Call every method
    from that loop; ``await`` `aclose` at the end (or `discard` on failure).

    Parameters
    ----------
    emit
        Called with each batch (a `SESSIONS_SCHEMA` frame, never empty), on the loop.
    batch_rows
        Rows to gather before emitting (1: every released page at once).
    strict
        As for `assemble`.
    transform
        Applied to each batch before it is emitted (e.g. a time-range filter).
    """

    def __init__(
        self,
        emit: Callable[[pl.DataFrame], None],
        *,
        batch_rows: int,
        strict: bool,
        transform: Callable[[pl.DataFrame], pl.DataFrame] = lambda frame: frame,
    ) -> None:
        self._emit = emit
        self._batch_rows = max(1, batch_rows)
        self._strict = strict
        self._transform = transform
        self._order: _InOrder[tuple[ParsedPage, list[bool]]] = _InOrder()
        self._ready: list[tuple[ParsedPage, list[bool]]] = []
        self._ready_rows = 0
        self._batches: collections.deque[asyncio.Future[_Batch]] = collections.deque()
        self._error: BaseException | None = None
        self._problem_keys: set[tuple[str | None, str]] = set()
        self.problems: list[Problem] = []
        """What did not fit the schema, in the rows emitted so far."""
        self.emitted = 0
        """Rows emitted so far."""

    @property
    def backlog(self) -> int:
        """Batches handed to the executor and not emitted yet."""
        return len(self._batches)

    def add(self, page: int | None, parsed: ParsedPage, keep: list[bool]) -> None:
        """A page's answer (``page`` None: an extra request, released at once).

        Raises what assembling or emitting an earlier batch raised.
        """
        self._pump()
        for ready in [(parsed, keep)] if page is None else self._order.put(page, (parsed, keep)):
            self._queue(*ready)
        self._release()

    def skip(self, page: int) -> None:
        """A main page that will not arrive (it failed): stop waiting for it."""
        for ready in self._order.skip(page):
            self._queue(*ready)
        self._release()

    async def drain(self, backlog: int) -> None:
        """Wait until at most ``backlog`` batches are still being assembled (backpressure).

        Errors stay for `add` and `aclose` to raise.
        """
        while len(self._batches) > backlog:
            await asyncio.wait({self._batches[0]})
            try:
                self._pump()
            except BaseException:  # kept: add and aclose raise it, where the fetch expects
                return

    async def aclose(self) -> None:
        """Hand on everything still held, in page order; wait until every batch is emitted."""
        self._pump()  # an earlier batch's error first
        for ready in self._order.rest():
            self._queue(*ready)
        self._flush()
        while self._batches:
            await asyncio.wait({self._batches[0]})
            self._pump()

    def discard(self) -> None:
        """Emit nothing more (the fetch failed); batches being assembled finish unread."""
        self._order, self._ready, self._ready_rows = _InOrder(), [], 0
        for batch in self._batches:  # nobody will read them: no "never retrieved" noise
            batch.add_done_callback(_retrieve)
        self._batches.clear()

    def _release(self) -> None:
        if self._ready_rows >= self._batch_rows:
            self._flush()

    def _queue(self, parsed: ParsedPage, keep: list[bool]) -> None:
        if any(keep):
            self._ready.append((parsed, keep))
            self._ready_rows += sum(keep)

    def _flush(self) -> None:
        if not self._ready:
            return
        ready, self._ready, self._ready_rows = self._ready, [], 0
        job = functools.partial(_assemble_batch, ready, self._strict, self._transform)
        self._batches.append(asyncio.get_running_loop().run_in_executor(None, job))

    def _pump(self) -> None:
        """Emit the assembled batches at the head of the queue, in order.

        An error (assembling a batch, or emitting it) is raised again by every later call.
        """
        if self._error is not None:
            raise self._error
        while self._batches and self._batches[0].done():
            head = self._batches[0]
            error = head.exception()
            if error is not None:
                self._error = error
                raise error
            self._batches.popleft()
            batch, problems = head.result()
            for problem in problems:  # a session's repeat on another page is no new problem
                key = (problem.session_id, problem.field)
                if problem.session_id is None or key not in self._problem_keys:
                    self._problem_keys.add(key)
                    self.problems.append(problem)
            if batch.height:
                self.emitted += batch.height
                try:
                    self._emit(batch)
                except BaseException as exc:
                    self._error = exc
                    raise


_Batch = tuple[pl.DataFrame, list[Problem]]


def _assemble_batch(
    ready: list[tuple[ParsedPage, list[bool]]],
    strict: bool,
    transform: Callable[[pl.DataFrame], pl.DataFrame],
) -> _Batch:
    """One batch's new rows (on the executor): assembled, masked, transformed."""
    rows, problems = assemble([parsed for parsed, _ in ready], strict=strict)
    mask = pl.Series([k for _, keep in ready for k in keep], dtype=pl.Boolean())
    return transform(rows.filter(mask)), problems
