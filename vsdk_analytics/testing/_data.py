"""Deterministic synthetic VideoSDK sessions, each pre-encoded once to the API's JSON bytes.

`generate_sessions` builds realistic sessions (several deployments and tags, long-tailed
durations, a few running, failed and stopped sessions, optional ``tag``/``webhook``/``metadata``
keys) from a seed. Every session is stored as the compact JSON object the list endpoint
returns, so a server answers a page by joining bytes, never by serializing.

Speed: the random numbers come from one seeded `random.Random` in bulk (``randbytes``) and the
JSON text is assembled column-wise with Polars string expressions, so a million sessions take
a few seconds, not a minute of per-row Python.

`SessionStore` holds sessions in the API's order (newest ``createdAt`` first, ties by
``sessionId``) and supports the mutations tests need: `SessionStore.insert_session` (a new
session at the top) and `SessionStore.finish_running` (running sessions complete). Only the
changed records are encoded again.
"""

from __future__ import annotations

import gc
import json
import math
import random
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from operator import attrgetter
from typing import Any, Final, NamedTuple

import polars as pl

from vsdk_analytics._schema import (
    FINISHED_STATUSES,
    KNOWN_STATUSES,
    RUNNING_STATUSES,
    WEBHOOK_EVENTS,
)

__all__ = [
    "DEFAULT_NOW",
    "FakeSession",
    "SessionStore",
    "deployment_profile",
    "format_timestamp",
    "generate_sessions",
]

DEFAULT_NOW: Final = datetime(2025, 7, 1, 12, 0, 0, tzinfo=timezone.utc)
"""The reference "now" of generated data when none is given (fixed, so data is reproducible)."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_HOUR_MS: Final = 3_600_000
_MAX_DURATION_S: Final = 6 * 3600
_STRFTIME: Final = "%Y-%m-%dT%H:%M:%S%.3fZ"

# Probabilities of the generated data (documented in `generate_sessions`).
_P_RUNNING: Final = 0.02
_P_STARTING: Final = 0.3  # of running sessions; the others are "started"
_P_FAILED: Final = 0.06
_P_STOPPED: Final = 0.04
_P_NO_TAG: Final = 0.03
_P_WEBHOOK: Final = 0.80
_P_EMPTY_EVENTS: Final = 0.1  # per webhook configuration
_P_NO_METADATA: Final = 0.05
_P_EMPTY_METADATA: Final = 0.10
_P_CUSTOMER: Final = 0.3
_P_CALLER: Final = 0.2
_P_PRIORITY: Final = 0.1
_P_LABELS: Final = 0.05
_P_RARE_KEY: Final = 0.005

# (median seconds, sigma of the log) of the lognormal duration per final status.
_DURATION_SHAPE: Final = {"completed": (90.0, 1.1), "stopped": (45.0, 1.2), "failed": (12.0, 1.3)}

_TAG_POOL: Final = ("v1.0", "v1.1", "v1.2", "v2.0-beta", "v2.0", "v2.1-rc1", "canary")
_DEPLOYMENT_NAMES: Final = ("support", "sales", "booking", "survey", "triage", "concierge")
_DEPLOYMENT_WEIGHTS: Final = (30, 22, 16, 12, 12, 8)
_TAG_SLOTS: Final = 36  # lcm of 1, 4 and 9: the weighted tag lists of 1, 2 or 3 tags
_WEBHOOK_SLOTS: Final = 6  # lcm of 1, 2 and 3 webhook configurations
_LANGUAGES: Final = ("en", "en", "en", "en", "de", "es", "fr", "hi", "ja", "pt-BR")
_CUSTOMERS: Final = (
    "Ada Lovelace",
    "Zoë Müller",
    "José Álvarez",
    "李雷",
    "O'Brien & Sons",
    'Dr. "Q" Quinn',
    "acme-corp",
)
_CALLERS: Final = (
    {"country": "DE", "plan": "pro"},
    {"country": "US", "plan": "free", "returning": True},
    {"country": "IN", "plan": "enterprise", "seats": 250},
    {"country": "JP", "plan": None},
)
_LABELS: Final[tuple[list[str], ...]] = (["vip"], ["vip", "escalated"], [], ["beta", "eu-west"])


class FakeSession(NamedTuple):
    """One session of the fake API, with its pre-encoded JSON.

    Attributes
    ----------
    session_id
        The ``sessionId``.
    created_ms
        ``createdAt`` as milliseconds since the Unix epoch (the sort key).
    status
        The ``status``.
    body
        The compact UTF-8 JSON object exactly as the list endpoint returns it.
    """

    session_id: str
    created_ms: int
    status: str
    body: bytes

    @property
    def running(self) -> bool:
        """Whether the session has not ended (no ``end``, no ``duration``)."""
        return self.status in RUNNING_STATUSES

    def to_dict(self) -> dict[str, Any]:
        """Decode `body`: the session as the list endpoint returns it."""
        value: dict[str, Any] = json.loads(self.body)
        return value

    def detail_body(self) -> bytes:
        """Encode the session as the single-session endpoint returns it (no webhook/metadata)."""
        record = self.to_dict()
        record.pop("webhook", None)
        record.pop("metadata", None)
        return encode_json(record)


def encode_json(value: object) -> bytes:
    """Compact UTF-8 JSON, as the API sends it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        msg = "datetimes must be timezone-aware (UTC)"
        raise ValueError(msg)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def format_timestamp(ms: int) -> str:
    """Format epoch milliseconds the way the API does: ``YYYY-MM-DDTHH:MM:SS.mmmZ``.

    Parameters
    ----------
    ms
        Milliseconds since the Unix epoch (UTC).

    Returns
    -------
    str
        For example ``"2025-06-18T11:15:07.275Z"``.
    """
    moment = _EPOCH + timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _parse_ms(timestamp: str) -> int:
    # fromisoformat before Python 3.11 does not accept the "Z" suffix.
    return _to_ms(datetime.fromisoformat(timestamp.replace("Z", "+00:00")))


def _uuid4(bits: int) -> str:
    """A UUID-4-shaped string from 128 random bits (version and variant bits forced)."""
    bits = (bits & ~(0xF << 76)) | (0x4 << 76)
    bits = (bits & ~(0x3 << 62)) | (0x2 << 62)
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _rng(seed: int | str) -> random.Random:
    """A seeded generator of test data (reproducibility, not secrecy, is the point)."""
    return random.Random(seed)  # noqa: S311 - synthetic data, not security


def _fragment(key: str, value: object) -> str:
    return f'"{key}":{encode_json(value).decode()}'


class _Draws:
    """Columns of random numbers for ``n`` rows, drawn in bulk from one `random.Random`."""

    def __init__(self, rng: random.Random, n: int) -> None:
        self._rng = rng
        self._n = n

    def _uniform(self, dtype: type[pl.UInt16 | pl.UInt32], count: int) -> list[pl.Series]:
        size = count * self._n
        if size == 0:
            return [pl.Series([], dtype=dtype)] * count
        width = 2 if dtype is pl.UInt16 else 4
        raw = pl.Series([self._rng.randbytes(width * size)], dtype=pl.Binary)
        flat = raw.bin.reinterpret(dtype=pl.Array(dtype, size), endianness="little").explode()
        return [flat.slice(i * self._n, self._n) for i in range(count)]

    def u16(self, count: int) -> list[pl.Series]:
        """``count`` columns of uniform integers in ``[0, 2**16)``."""
        return self._uniform(pl.UInt16, count)

    def u32(self, count: int) -> list[pl.Series]:
        """``count`` columns of uniform integers in ``[0, 2**32)``."""
        return self._uniform(pl.UInt32, count)

    def hex(self, n_bytes: int) -> pl.Series:
        """A column of random lowercase hex strings of ``2 * n_bytes`` characters."""
        if self._n == 0:
            return pl.Series([], dtype=pl.String)
        text = self._rng.randbytes(n_bytes * self._n).hex("\n", n_bytes)
        return pl.Series([text]).str.split("\n").explode()


def _below(column: str, probability: float) -> pl.Expr:
    """True with ``probability`` for a column of uniform 16-bit integers."""
    return pl.col(column) < round(probability * 2**16)


def _pick(table: list[str], index: pl.Expr) -> pl.Expr:
    return pl.lit(pl.Series(table, dtype=pl.String)).gather(index)


def _pick_int(table: list[int], index: pl.Expr) -> pl.Expr:
    return pl.lit(pl.Series(table, dtype=pl.Int64)).gather(index)


def _timestamp(ms: pl.Expr) -> pl.Expr:
    return pl.from_epoch(ms, time_unit="ms").dt.strftime(_STRFTIME)


class _Profile:
    """The synthetic account: deployments, their tags and webhook configurations.

    Drawn from a fresh ``random.Random(seed)``, so generated and inserted sessions of one
    seed share the same deployments.
    """

    def __init__(self, seed: int) -> None:
        rng = _rng(seed)
        self.deployment_ids: list[str] = []
        self.tags: list[str] = []  # _TAG_SLOTS per deployment, weighted by repetition
        self.webhooks: list[str] = []  # _WEBHOOK_SLOTS per deployment
        self.tag_names: list[tuple[str, ...]] = []  # per deployment, oldest tag first
        for name in _DEPLOYMENT_NAMES:
            self.deployment_ids.append(_uuid4(rng.getrandbits(128)))
            n_tags = rng.randint(1, 3)
            first = rng.randrange(len(_TAG_POOL) - n_tags + 1)
            # The newest tag of a deployment gets most of its traffic (weights 1, 3, 5).
            weighted = [
                tag
                for rank, tag in enumerate(_TAG_POOL[first : first + n_tags])
                for _ in range(1 + 2 * rank)
            ]
            self.tag_names.append(_TAG_POOL[first : first + n_tags])
            self.tags.extend(_fragment("tag", tag) + "," for tag in weighted)
            self.tags.extend(self.tags[-len(weighted) :] * (_TAG_SLOTS // len(weighted) - 1))
            hooks = []
            for version in range(rng.randint(1, 3)):
                endpoint = f"https://hooks.example.com/videosdk/{name}/v{version + 1}"
                events: list[str] = []
                if rng.random() >= _P_EMPTY_EVENTS:
                    events = [e for e in WEBHOOK_EVENTS if rng.random() < 0.6]
                    events = events or [WEBHOOK_EVENTS[1]]
                hooks.append(_fragment("webhook", {"endpoint": endpoint, "events": events}) + ",")
            self.webhooks.extend(hooks * (_WEBHOOK_SLOTS // len(hooks)))
        self.deployment_table = [
            i for i, weight in enumerate(_DEPLOYMENT_WEIGHTS) for _ in range(weight)
        ]

    def encode(
        self,
        rng: random.Random,
        status: pl.Series,
        *,
        created_ms: pl.Series | None = None,
        window: tuple[int, int] = (0, 0),
    ) -> pl.DataFrame:
        """Build sessions of the given statuses, drawing everything else from ``rng``.

        Parameters
        ----------
        rng
            The source of randomness (advanced).
        status
            One status per session.
        created_ms
            Their ``createdAt``; when ``None``, drawn from ``window``.
        window
            ``(start_ms, now_ms)``: a running session is created in the hour before
            ``now_ms``, a finished one in ``[start_ms, now_ms)`` such that it ends before
            ``now_ms``.

        Returns
        -------
        pl.DataFrame
            ``session_id``, ``created_ms``, ``status`` and ``body`` (Binary), unsorted.
        """
        n = len(status)
        draws = _Draws(rng, n)
        small = [
            *("dep", "tag_p", "tag", "hook_p", "hook", "start_off", "extra_ms", "variant"),
            *("meta_p", "lang", "cust_p", "cust", "call_p", "call", "prio_p", "prio"),
            *("lab_p", "lab", "exp_p", "exp"),
        ]
        wide = ["bm1", "bm2", "hi", "lo"]
        frame = pl.DataFrame(
            {
                "status": status.cast(pl.String),
                "given_ms": created_ms
                if created_ms is not None
                else pl.repeat(None, n, dtype=pl.Int64, eager=True),
                "hex": draws.hex(16),
                "room": draws.hex(3),
                **dict(zip(small, draws.u16(len(small)), strict=True)),
                **dict(zip(wide, (s.cast(pl.Int64) for s in draws.u32(len(wide))), strict=True)),
            }
        )
        c = pl.col
        running = c("status").is_in(sorted(RUNNING_STATUSES))
        # Box-Muller: a standard normal from two uniforms, then a lognormal per status.
        normal = (-2.0 * ((c("bm1") + 1) / 2**32).log()).sqrt() * (
            (2 * math.pi / 2**32) * c("bm2")
        ).cos()
        median = pl.lit(None, dtype=pl.Float64)
        sigma = pl.lit(None, dtype=pl.Float64)
        for name, (med, sig) in _DURATION_SHAPE.items():
            median = pl.when(c("status") == name).then(med).otherwise(median)
            sigma = pl.when(c("status") == name).then(sig).otherwise(sigma)
        seconds = (median * (sigma * normal).exp()).floor().clip(upper_bound=_MAX_DURATION_S)
        start_ms, now_ms = window
        max_ms = max(0, now_ms - start_ms - 6) if created_ms is None else _MAX_DURATION_S * 1000
        duration_ms = (
            pl.when(running)
            .then(0)
            .otherwise(
                (seconds.cast(pl.Int64) * 1000 + c("extra_ms") % 1000)
                .fill_null(0)
                .clip(upper_bound=max_ms)
            )
        )
        # 63 random bits, then a uniform millisecond in the session's window.
        bits = (c("hi") % 2**31) * 2**32 + c("lo")
        running_from = max(start_ms, now_ms - _HOUR_MS)
        drawn = (
            pl.when(running)
            .then(running_from + bits % max(1, now_ms - running_from))
            .otherwise(
                start_ms + bits % pl.max_horizontal(1, now_ms - start_ms - 6 - c("duration_ms"))
            )
        )
        frame = (
            frame.with_columns(duration_ms=duration_ms)
            .with_columns(
                created_ms=pl.coalesce(c("given_ms"), drawn).cast(pl.Int64),
                dep=_pick_int(self.deployment_table, c("dep") % len(self.deployment_table)),
            )
            .with_columns(start_ms=c("created_ms") + c("start_off") % 6)
            .with_columns(
                created=_timestamp(c("created_ms")),
                start=_timestamp(c("start_ms")),
                end=_timestamp(c("start_ms") + c("duration_ms")),
            )
        )
        h = c("hex").str
        session_id = pl.concat_str(
            h.slice(0, 8),
            pl.lit("-"),
            h.slice(8, 4),
            pl.lit("-4"),
            h.slice(13, 3),
            pl.lit("-"),
            pl.lit("89ab").str.slice(c("variant") % 4, 1),
            h.slice(17, 3),
            pl.lit("-"),
            h.slice(20, 12),
        )
        tag = pl.when(~_below("tag_p", _P_NO_TAG)).then(
            _pick(self.tags, c("dep") * _TAG_SLOTS + c("tag") % _TAG_SLOTS)
        )
        webhook = pl.when(_below("hook_p", _P_WEBHOOK)).then(
            _pick(self.webhooks, c("dep") * _WEBHOOK_SLOTS + c("hook") % _WEBHOOK_SLOTS)
        )
        ended = pl.when(~running).then(
            pl.concat_str(
                pl.lit(',"duration":'),
                (c("duration_ms") // 1000).cast(pl.String),
                pl.lit(',"end":"'),
                c("end"),
                pl.lit('"'),
            )
        )
        # Materializing the optional fragments first makes the big concatenation ~2x faster.
        frame = frame.with_columns(
            session_id=session_id,
            deployment_id=_pick(self.deployment_ids, c("dep")),
            updated=pl.when(running).then(c("created")).otherwise(c("end")),
            webhook_part=webhook.fill_null(""),
            tag_part=tag.fill_null(""),
            ended_part=ended.fill_null(""),
            metadata_part=self._metadata().fill_null(""),
        )
        body = pl.concat_str(
            pl.lit("{"),
            c("webhook_part"),
            pl.lit('"status":"'),
            c("status"),
            pl.lit('","deploymentId":"'),
            c("deployment_id"),
            pl.lit('",'),
            c("tag_part"),
            pl.lit('"start":"'),
            c("start"),
            pl.lit('","sessionId":"'),
            c("session_id"),
            pl.lit('","createdAt":"'),
            c("created"),
            pl.lit('","updatedAt":"'),
            c("updated"),
            pl.lit('"'),
            c("ended_part"),
            c("metadata_part"),
            pl.lit("}"),
        )
        return frame.select("session_id", "created_ms", "status", body=body.cast(pl.Binary))

    @staticmethod
    def _metadata() -> pl.Expr:
        """The ``,"metadata":{...}`` fragment, or null when the key is absent."""
        c = pl.col

        def optional(column: str, probability: float, value: pl.Expr) -> pl.Expr:
            return pl.when(_below(f"{column}_p", probability)).then(value)

        def table(values: Iterable[object], key: str, column: str) -> pl.Expr:
            fragments = ["," + _fragment(key, v) for v in values]
            return _pick(fragments, c(column) % len(fragments))

        full = pl.concat_str(
            pl.lit('{"room":"room-'),
            c("room"),
            pl.lit('"'),
            table(_LANGUAGES, "language", "lang"),
            optional("cust", _P_CUSTOMER, table(_CUSTOMERS, "customer", "cust")),
            optional("call", _P_CALLER, table(_CALLERS, "caller", "call")),
            optional(
                "prio",
                _P_PRIORITY,
                pl.concat_str(pl.lit(',"priority":'), (c("prio") % 5).cast(pl.String)),
            ),
            optional("lab", _P_LABELS, table(_LABELS, "labels", "lab")),
            optional(
                "exp",
                _P_RARE_KEY,
                pl.concat_str(
                    pl.lit(',"experiment":"exp-'),
                    (c("exp") % 100).cast(pl.String).str.zfill(2),
                    pl.lit('"'),
                ),
            ),
            pl.lit("}"),
            ignore_nulls=True,
        )
        return (
            pl.when(_below("meta_p", _P_NO_METADATA))
            .then(pl.lit(None, dtype=pl.String))
            .when(_below("meta_p", _P_NO_METADATA + _P_EMPTY_METADATA))
            .then(pl.lit(',"metadata":{}'))
            .otherwise(pl.concat_str(pl.lit(',"metadata":'), full))
        )


def deployment_profile(seed: int) -> list[tuple[str, str, tuple[str, ...]]]:
    """The deployments the sessions of ``seed`` use: ``(deploymentId, name, tags)`` each.

    ``tags`` are oldest first (the last one gets most sessions).

    Examples
    --------
    >>> [name for _, name, _ in deployment_profile(0)]
    ['support', 'sales', 'booking', 'survey', 'triage', 'concierge']
    """
    profile = _Profile(seed)
    return list(zip(profile.deployment_ids, _DEPLOYMENT_NAMES, profile.tag_names, strict=True))


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
    start_ms, now_ms = _to_ms(start), _to_ms(now)
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
    rng = _rng(f"sessions-{seed}")
    run_p, status_p = _Draws(rng, n).u16(2)
    p_failed = _P_FAILED / (1 - _P_RUNNING)
    p_stopped = _P_STOPPED / (1 - _P_RUNNING)
    statuses = pl.DataFrame({"run_p": run_p, "status_p": status_p}).select(
        status=pl.when(_below("run_p", _P_RUNNING))
        .then(
            pl.when(_below("status_p", _P_STARTING))
            .then(pl.lit("starting"))
            .otherwise(pl.lit("started"))
        )
        .when(_below("status_p", p_failed))
        .then(pl.lit("failed"))
        .when(_below("status_p", p_failed + p_stopped))
        .then(pl.lit("stopped"))
        .otherwise(pl.lit("completed"))
    )
    frame = _Profile(seed).encode(rng, statuses["status"], window=(start_ms, now_ms))
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
        self._profile = _Profile(seed)
        self._rng = _rng(f"inserts-{seed}")
        self._pending: list[FakeSession] = []
        created = self._columns.created
        self.clock_ms: int = created[-1] if created else _to_ms(DEFAULT_NOW)
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
            start_ms = _parse_ms(record.get("start", record["createdAt"]))
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
