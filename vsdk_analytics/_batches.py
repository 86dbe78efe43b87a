"""Streaming a fetch: pages put back in list order and handed on in batches of rows.

Answers arrive in any order; `PageBatcher` holds main pages until every page before them
has arrived (or failed), so the batches follow the API's order (newest first). Each page
comes with a mask of the rows to keep (the sessions not seen on an earlier answer), so
every session is handed on once: the first copy received wins, where a whole fetch would
keep the newest ``updated_at``. Rows that only extra requests (stitches, probes, second
readings) brought come after the main pages that were released before them.

Pages are assembled into frames a batch at a time (`assemble`), so Polars' per-call
overhead is paid once per batch, and memory holds one batch, not the whole fetch.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from ._normalize import ParsedPage, Problem, assemble

__all__ = ["PageBatcher"]


class PageBatcher:
    """Reorders pages and emits their new rows in batches of about ``batch_rows``.

    Parameters
    ----------
    emit
        Called with each batch (a `SESSIONS_SCHEMA` frame, never empty).
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
        self._held: dict[int, tuple[ParsedPage, list[bool]]] = {}
        self._skipped: set[int] = set()
        self._next = 1
        self._ready: list[tuple[ParsedPage, list[bool]]] = []
        self._ready_rows = 0
        self._problem_keys: set[tuple[str | None, str]] = set()
        self.problems: list[Problem] = []
        """What did not fit the schema, in the rows emitted so far."""
        self.emitted = 0
        """Rows emitted so far."""

    def add(self, page: int | None, parsed: ParsedPage, keep: list[bool]) -> None:
        """A page's answer (``page`` None: an extra request, released at once)."""
        if page is None:
            self._queue(parsed, keep)
        else:
            self._held[page] = (parsed, keep)
        self._release()

    def skip(self, page: int) -> None:
        """A main page that will not arrive (it failed): stop waiting for it."""
        self._skipped.add(page)
        self._release()

    def close(self) -> None:
        """Hand on everything still held, in page order."""
        for page in sorted(self._held):
            self._queue(*self._held.pop(page))
        self._flush()

    def _release(self) -> None:
        while self._next in self._held or self._next in self._skipped:
            held = self._held.pop(self._next, None)
            self._skipped.discard(self._next)
            if held is not None:
                self._queue(*held)
            self._next += 1
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
        rows, problems = assemble([parsed for parsed, _ in ready], strict=self._strict)
        mask = pl.Series([k for _, keep in ready for k in keep], dtype=pl.Boolean())
        batch = self._transform(rows.filter(mask))
        for problem in problems:  # a session's repeat on another page is not a new problem
            key = (problem.session_id, problem.field)
            if problem.session_id is None or key not in self._problem_keys:
                self._problem_keys.add(key)
                self.problems.append(problem)
        if batch.height:
            self.emitted += batch.height
            self._emit(batch)
