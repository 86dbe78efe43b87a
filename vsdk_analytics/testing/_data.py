"""Deterministic synthetic VideoSDK sessions, each pre-encoded once to the API's JSON bytes.

`generate_sessions` builds realistic sessions (several deployments and tags, long-tailed
durations, a few running, failed and stopped sessions, optional ``tag``/``webhook``/``metadata``
keys) from a seed. Every session is stored as the compact JSON object the list endpoint
returns, so a server answers a page by joining bytes, never by serializing.

Speed: the random numbers come from one seeded `random.Random` in bulk (``randbytes``) and the
JSON text is assembled column-wise with Polars string expressions (in ``_profile``), so a
million sessions take a few seconds, not a minute of per-row Python.

`SessionStore` holds sessions in the API's order (newest ``createdAt`` first, ties by
``sessionId``) and supports the mutations tests need: `SessionStore.insert_session` (a new
session at the top), `SessionStore.delete_at` and `SessionStore.finish_running` (running
sessions complete). Only the changed records are encoded again.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Final, NamedTuple

import polars as pl

from vsdk_analytics._schema import FINISHED_STATUSES, KNOWN_STATUSES, RUNNING_STATUSES
from vsdk_analytics.testing._profile import Draws, Profile, below, deployment_profile
from vsdk_analytics.testing._records import (
    DEFAULT_NOW,
    FakeSession,
    encode_json,
    format_timestamp,
    parse_ms,
    seeded_rng,
    to_ms,
)

__all__ = [
    "DEFAULT_NOW",
    "FakeSession",
    "SessionStore",
    "deployment_profile",
    "encode_json",
    "format_timestamp",
    "generate_sessions",
]

# Probabilities of the generated data (documented in `generate_sessions`).
_P_RUNNING: Final = 0.02
_P_STARTING: Final = 0.3  # of running sessions; the others are "started"
_P_FAILED: Final = 0.06
_P_STOPPED: Final = 0.04


def _resolve_window(
    start: datetime | None, span_days: float, now: datetime | None
) -> tuple[int, int]:
    if span_days <= 0:
        msg = f"span_days must be positive, got {span_days}"
        raise ValueError(msg)
    span = timedelta(days=span_days)
    if now is None:
        now = DEFAULT_NOW if start is None else start + span
    if start is None:
        start = now - span
    start_ms, now_ms = to_ms(start), to_ms(now)
    if now_ms <= start_ms:
        msg = "now must be later than start"
        raise ValueError(msg)
    return start_ms, now_ms


def generate_sessions(
    n: int,
    *,
    seed: int = 0,
    start: datetime | None = None,
    span_days: float = 28,
    now: datetime | None = None,
) -> list[FakeSession]:
    """Generate ``n`` realistic sessions, newest first, deterministically from ``seed``.

    The same arguments always give byte-identical sessions (on one platform).

    Parameters
    ----------
    n
        How many sessions.
    seed
        Seed of every random choice (ids, times, statuses, keys).
    start
        Earliest ``createdAt``. Default: ``now - span_days``.
    span_days
        Width of the ``createdAt`` window when ``start`` or ``now`` is not given.
    now
        The data's "current time": running sessions were created in the hour before it and
        finished sessions end no later than it. Default: ``start + span_days``, or
        `DEFAULT_NOW` when neither is given.

    Returns
    -------
    list[FakeSession]
        Sorted as the API sorts: ``createdAt`` descending, ties by ``sessionId`` ascending.

    Notes
    -----
    Six deployments with one to three tags each (the newest tag gets most sessions). About
    2 % running (``started``/``starting``; no ``end``/``duration``; ``updatedAt ==
    createdAt``), 6 % ``failed``, 4 % ``stopped``, the rest ``completed``. ``start`` is
    ``createdAt`` plus 0-5 ms, ``end = start + duration``, ``updatedAt == end``; ``duration``
    is whole seconds rounded down, lognormal with a median of ~90 s for completed sessions
    and a tail of hours (at most 6 h). About 3 % have no ``tag`` key and 20 % no ``webhook``
    key (a webhook's ``events`` is a subset of the five lifecycle events, sometimes empty).
    5 % have no ``metadata`` key and 10 % ``"metadata": {}``; the rest have a room and a
    language plus optional ``customer`` (some non-ASCII or with quotes), nested ``caller``,
    ``priority`` and ``labels``; the key ``experiment`` appears in about 0.5 %.

    Examples
    --------
    >>> first = generate_sessions(3, seed=1)[0]
    >>> sorted(first.to_dict())[:4]
    ['createdAt', 'deploymentId', 'duration', 'end']
    """
    columns = _generate_columns(n, seed=seed, start=start, span_days=span_days, now=now)
    columns.reverse()
    return columns.sessions()


class _Columns(NamedTuple):
    """Sessions as four parallel lists, oldest first (the store's layout)."""

    ids: list[str]
    created: list[int]
    status: list[str]
    bodies: list[bytes]

    def reverse(self) -> None:
        for column in self:
            column.reverse()

    def sessions(self) -> list[FakeSession]:
        """The rows as `FakeSession` objects, in the columns' order."""
        # A million small tuples would trigger many needless full garbage collections.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return list(map(FakeSession, *self))
        finally:
            if was_enabled:
                gc.enable()


def _frame_columns(frame: pl.DataFrame) -> _Columns:
    return _Columns(
        frame.get_column("session_id").to_list(),
        frame.get_column("created_ms").to_list(),
        frame.get_column("status").to_list(),
        frame.get_column("body").to_list(),
    )


def _generate_columns(
    n: int,
    *,
    seed: int,
    start: datetime | None = None,
    span_days: float = 28,
    now: datetime | None = None,
) -> _Columns:
    """`generate_sessions` as columns, oldest first (no per-session objects: faster)."""
    if n < 0:
        msg = f"n must be >= 0, got {n}"
        raise ValueError(msg)
    start_ms, now_ms = _resolve_window(start, span_days, now)
    rng = seeded_rng(f"sessions-{seed}")
    run_p, status_p = Draws(rng, n).u16(2)
    p_failed = _P_FAILED / (1 - _P_RUNNING)
    p_stopped = _P_STOPPED / (1 - _P_RUNNING)
    statuses = pl.DataFrame({"run_p": run_p, "status_p": status_p}).select(
        status=pl.when(below("run_p", _P_RUNNING))
        .then(
            pl.when(below("status_p", _P_STARTING))
            .then(pl.lit("starting"))
            .otherwise(pl.lit("started"))
        )
        .when(below("status_p", p_failed))
        .then(pl.lit("failed"))
        .when(below("status_p", p_failed + p_stopped))
        .then(pl.lit("stopped"))
        .otherwise(pl.lit("completed"))
    )
    frame = Profile(seed).encode(rng, statuses["status"], window=(start_ms, now_ms))
    # Oldest first is the reverse of the API order (createdAt desc, sessionId asc).
    return _frame_columns(frame.sort(["created_ms", "session_id"], descending=[False, True]))


class SessionStore:
    """The fake account's sessions in API order, with the mutations tests need.

    Not thread-safe by itself: `FakeVideoSDK` serializes access with its lock.

    Parameters
    ----------
    sessions
        The initial sessions, in any order (sorted here). Ids must be unique.
    seed
        Seed of the sessions `insert_session` creates; they belong to the deployments of
        ``generate_sessions(..., seed=seed)``.
    """

    _INSERT_BATCH: Final = 64

    def __init__(self, sessions: Iterable[FakeSession] = (), *, seed: int = 0) -> None:
        # Oldest first (the reverse of the API order): sessionId descending within a
        # createdAt, by two stable sorts.
        ordered = sorted(sessions, key=attrgetter("session_id"), reverse=True)
        ordered.sort(key=attrgetter("created_ms"))
        columns = _Columns(
            [s.session_id for s in ordered],
            [s.created_ms for s in ordered],
            [s.status for s in ordered],
            [s.body for s in ordered],
        )
        if len(set(columns.ids)) != len(columns.ids):
            msg = "session ids must be unique"
            raise ValueError(msg)
        self._set(columns, seed)

    @classmethod
    def generate(
        cls,
        n: int,
        *,
        seed: int = 0,
        start: datetime | None = None,
        span_days: float = 28,
        now: datetime | None = None,
    ) -> SessionStore:
        """A store of ``generate_sessions(n, ...)``, built faster (no per-session objects).

        Parameters
        ----------
        n, seed, start, span_days, now
            As for `generate_sessions`.
        """
        store = cls.__new__(cls)
        columns = _generate_columns(n, seed=seed, start=start, span_days=span_days, now=now)
        store._set(columns, seed)
        return store

    def _set(self, columns: _Columns, seed: int) -> None:
        # Oldest first, so a new session at the top is an O(1) append.
        self._columns = columns
        self._index: dict[str, int] | None = None
        self._profile = Profile(seed)
        self._rng = seeded_rng(f"inserts-{seed}")
        self._pending: list[FakeSession] = []
        created = self._columns.created
        self.clock_ms: int = created[-1] if created else to_ms(DEFAULT_NOW)
        """The logical clock: the ``createdAt`` of the newest session, advanced by every
        insert, and the ``end`` of the sessions `finish_running` completes."""

    def __len__(self) -> int:
        return len(self._columns.ids)

    @property
    def oldest_ms(self) -> int | None:
        """The ``createdAt`` of the oldest session (epoch ms), or ``None`` when empty."""
        created = self._columns.created
        return created[0] if created else None

    def page_data(
        self, page: int, per_page: int, *, oldest_first: bool = False
    ) -> tuple[bytes, int]:
        """The comma-joined JSON objects of one page (newest first), and how many there are.

        Parameters
        ----------
        page
            1-based page number.
        per_page
            Page size.
        oldest_first
            Page the sessions oldest first instead.

        Returns
        -------
        tuple[bytes, int]
            The bytes between ``[`` and ``]`` of ``"data"``, and the number of sessions.
        """
        bodies = self._columns.bodies
        if oldest_first:
            lo = (page - 1) * per_page
            chunk = bodies[lo : lo + per_page]
            return b",".join(chunk), len(chunk)
        hi = len(bodies) - (page - 1) * per_page
        if hi <= 0:
            return b"", 0
        chunk = bodies[max(0, hi - per_page) : hi]
        chunk.reverse()
        return b",".join(chunk), len(chunk)

    def _session(self, i: int) -> FakeSession:
        c = self._columns
        return FakeSession(c.ids[i], c.created[i], c.status[i], c.bodies[i])

    def get(self, session_id: str) -> FakeSession | None:
        """The session with this id, or ``None``."""
        if self._index is None:
            self._index = {sid: i for i, sid in enumerate(self._columns.ids)}
        i = self._index.get(session_id)
        return None if i is None else self._session(i)

    def snapshot(self) -> list[FakeSession]:
        """Every session, newest first (a copy; sessions are immutable)."""
        c = self._columns
        return _Columns(c.ids[::-1], c.created[::-1], c.status[::-1], c.bodies[::-1]).sessions()

    def ids(self) -> list[str]:
        """Every ``sessionId``, newest first."""
        return self._columns.ids[::-1]

    def insert_session(self, *, status: str = "starting") -> FakeSession:
        """Create a session newer than every other one (it goes to the top of page 1).

        Parameters
        ----------
        status
            Its status; a running one (the default, ``"starting"``) has no end yet, a
            finished one (``completed``/``stopped``/``failed``) gets a duration.

        Returns
        -------
        FakeSession
            The new session.
        """
        if status not in KNOWN_STATUSES:
            msg = f"unknown status {status!r}; use one of {sorted(KNOWN_STATUSES)}"
            raise ValueError(msg)
        if status != "starting":
            self.clock_ms += 1 + int(self._rng.random() * 2000)
            new = self._build([self.clock_ms], [status])[0]
        else:
            # Built in batches: one Polars pass costs about as much for 64 as for 1.
            if not self._pending:
                times = [self.clock_ms]
                for _ in range(self._INSERT_BATCH):
                    times.append(times[-1] + 1 + int(self._rng.random() * 2000))
                self._pending = self._build(times[1:], [status] * self._INSERT_BATCH)
                self._pending.reverse()
            new = self._pending.pop()
            if new.created_ms <= self.clock_ms:  # the clock moved past it since the batch
                self.clock_ms += 1
                record = new.to_dict()
                record["createdAt"] = record["updatedAt"] = format_timestamp(self.clock_ms)
                record["start"] = format_timestamp(self.clock_ms + new.created_ms % 3)
                new = FakeSession(new.session_id, self.clock_ms, status, encode_json(record))
            self.clock_ms = new.created_ms
        self._columns.ids.append(new.session_id)
        self._columns.created.append(new.created_ms)
        self._columns.status.append(new.status)
        self._columns.bodies.append(new.body)
        if self._index is not None:
            self._index[new.session_id] = len(self) - 1
        return new

    def delete_at(self, position: int) -> FakeSession:
        """Delete the session at ``position`` (0-based, newest first); returns it.

        Raises
        ------
        IndexError
            When there is no such position.
        """
        if not 0 <= position < len(self):
            msg = f"no session at position {position} of {len(self)}"
            raise IndexError(msg)
        i = len(self) - 1 - position
        removed = self._session(i)
        for column in self._columns:
            del column[i]
        self._index = None
        return removed

    def position(self, session_id: str) -> int | None:
        """The 0-based position (newest first) of a session, or ``None``."""
        if self._index is None:
            self._index = {sid: i for i, sid in enumerate(self._columns.ids)}
        i = self._index.get(session_id)
        return None if i is None else len(self) - 1 - i

    def _build(self, created_ms: list[int], statuses: list[str]) -> list[FakeSession]:
        frame = self._profile.encode(
            self._rng,
            pl.Series(statuses, dtype=pl.String),
            created_ms=pl.Series(created_ms, dtype=pl.Int64),
        )
        return list(map(FakeSession, *_frame_columns(frame)))

    def finish_running(self, *, status: str = "completed") -> list[str]:
        """End every running session now (at `clock_ms`, first advanced by one second).

        ``status``, ``end``, ``duration`` and ``updatedAt`` change; the position does not
        (it depends on ``createdAt`` only). Only these sessions are encoded again.

        Parameters
        ----------
        status
            The final status, one of ``completed``, ``stopped``, ``failed``.

        Returns
        -------
        list[str]
            The ids of the sessions that finished, newest first.
        """
        if status not in FINISHED_STATUSES:
            msg = f"status must be one of {sorted(FINISHED_STATUSES)}, got {status!r}"
            raise ValueError(msg)
        self.clock_ms += 1000
        end = format_timestamp(self.clock_ms)
        columns = self._columns
        running = [i for i, s in enumerate(columns.status) if s in RUNNING_STATUSES]
        for i in reversed(running):
            record = json.loads(columns.bodies[i])
            start_ms = parse_ms(record.get("start", record["createdAt"]))
            metadata = record.pop("metadata", _MISSING)
            record["status"] = status
            record["updatedAt"] = end
            record["duration"] = max(0, self.clock_ms - start_ms) // 1000
            record["end"] = end
            if metadata is not _MISSING:
                record["metadata"] = metadata
            columns.status[i] = status
            columns.bodies[i] = encode_json(record)
        return [columns.ids[i] for i in reversed(running)]


_MISSING: Final = object()
