"""Normalization: API page bytes or records into frames with exactly `SESSIONS_SCHEMA`.

Two paths, one result:

* the **fast path** parses a page's bytes natively: Polars' JSON reader with an
  explicit schema for the typed columns (no inference), and msgspec for a
  strict probe that keeps ``metadata`` as raw JSON and rejects any key the
  schema does not know and any value of the wrong type. No Python dict is
  built per session.
* the **exact path** walks Python objects record by record. It is taken for
  any page the fast path cannot prove it handles losslessly (unknown keys,
  wrong types, null records) and always with ``strict=True``. Values that do
  not fit become null, their originals go to ``extra`` under their source
  key, and the caller gets a `Problem` for each, so nothing is dropped.

Both end in `_finish`, which parses timestamps with an explicit format and
derives ``duration_s``. Neither emits warnings (pages are parsed on worker
threads); callers turn `Problem` lists into one `DataQualityWarning`.
"""

from __future__ import annotations

import bisect
import gc
import itertools
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Final

import msgspec
import polars as pl

from ._errors import DataQualityWarning, ResponseFormatError, SchemaError
from ._schema import SESSIONS_SCHEMA, TIMESTAMP_FORMAT

__all__ = [
    "ParsedPage",
    "Problem",
    "assemble",
    "combine_pages",
    "complete_page",
    "empty_sessions",
    "json_text",
    "normalize_sessions",
    "parse_page",
    "parse_session",
    "probe_page",
    "read_typed",
    "warn_problems",
]

_TEXT_FIELDS: Final = (
    ("session_id", "sessionId"),
    ("deployment_id", "deploymentId"),
    ("tag", "tag"),
    ("status", "status"),
)
_TIME_FIELDS: Final = (
    ("start", "start"),
    ("end", "end"),
    ("created_at", "createdAt"),
    ("updated_at", "updatedAt"),
)
_KNOWN_KEYS: Final = frozenset(
    {src for _, src in _TEXT_FIELDS + _TIME_FIELDS} | {"duration", "webhook", "metadata"}
)
_WEBHOOK_KEYS: Final = frozenset({"endpoint", "events"})

# The raw frame: timestamps still text; `_finish` types them.
_RAW_SCHEMA: Final = pl.Schema(
    {
        name: (pl.String() if name in dict(_TIME_FIELDS) else dtype)
        for name, dtype in SESSIONS_SCHEMA.items()
    }
)

_POLARS_RECORD: Final = pl.Struct(
    {
        "sessionId": pl.String(),
        "deploymentId": pl.String(),
        "tag": pl.String(),
        "status": pl.String(),
        "start": pl.String(),
        "end": pl.String(),
        "duration": pl.Float64(),
        "createdAt": pl.String(),
        "updatedAt": pl.String(),
        "webhook": pl.Struct({"endpoint": pl.String(), "events": pl.List(pl.String())}),
    }
)
_POLARS_PAGE: Final = {"data": pl.List(_POLARS_RECORD)}

_WHITESPACE: Final = r"[{\[,:]\s|\s[}\],:]|^\s|\s$"

_ABSENT: Final = msgspec.Raw(b"")


# The probe types every field: Polars would coerce wrong types silently (a
# boolean duration to 1.0, a string `events` to a one-item list, a number in a
# text field to its own text rendering, e.g. -0.0 to "-0"), so any page with
# one takes the exact path instead.
class _WebhookProbe(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    endpoint: str | None = None
    events: list[str | None] | None = None


class _RecordProbe(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    sessionId: str | None = None  # noqa: N815 - the API's key
    deploymentId: str | None = None  # noqa: N815
    tag: str | None = None
    status: str | None = None
    start: str | None = None
    end: str | None = None
    duration: float | None = None
    createdAt: str | None = None  # noqa: N815
    updatedAt: str | None = None  # noqa: N815
    webhook: _WebhookProbe | None = None
    metadata: msgspec.Raw = _ABSENT


class _PageInfo(msgspec.Struct, gc=False):
    totalItems: int | None = None  # noqa: N815
    currentPage: int | None = None  # noqa: N815
    perPage: int | None = None  # noqa: N815
    total: int | None = None


class _Envelope(msgspec.Struct, gc=False):
    data: list[_RecordProbe]
    pageInfo: _PageInfo | None = None  # noqa: N815


_ENVELOPE: Final = msgspec.json.Decoder(_Envelope)
_ANY: Final = msgspec.json.Decoder()
_ENCODER: Final = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Problem:
    """One value that did not fit the schema (its original is kept in ``extra``)."""

    page: int | None
    session_id: str | None
    field: str
    reason: str


@dataclass(slots=True)
class ParsedPage:
    """One page as parsed, with what the server said about paging.

    The rows are kept in their cheapest form (the fast path's one-row Polars
    frame, or the exact path's flat frame) so that a fetch of thousands of
    pages pays Polars' per-call overhead once, in `assemble`, not per page.
    ``rows`` and ``problems`` assemble this page alone, for single-page use.
    """

    page: int | None
    total_items: int | None
    per_page: int | None
    current_page: int | None
    record_count: int
    fast: bool
    early_problems: list[Problem] = field(default_factory=list)
    typed: pl.DataFrame | None = None
    metadata: list[bytes | None] | None = None
    raw: pl.DataFrame | None = None
    strict: bool = False
    pending: bool = False
    """Accepted by the probe; Polars' typed read still to come (`complete_page`)."""
    _assembled: tuple[pl.DataFrame, list[Problem]] | None = None

    def _single(self) -> tuple[pl.DataFrame, list[Problem]]:
        if self._assembled is None:
            self._assembled = assemble([self], strict=self.strict)
        return self._assembled

    @property
    def rows(self) -> pl.DataFrame:
        """The page's rows with exactly `SESSIONS_SCHEMA`."""
        return self._single()[0]

    @property
    def problems(self) -> list[Problem]:
        """Every value of this page that did not fit the schema."""
        return self._single()[1]


def empty_sessions() -> pl.DataFrame:
    """A frame with no rows and exactly `SESSIONS_SCHEMA`."""
    return pl.DataFrame(schema=SESSIONS_SCHEMA)


def json_text(value: object) -> str:
    """``value`` as compact JSON text, as `extra` and `metadata` store it."""
    return _ENCODER.encode(value).decode()


# ---------------------------------------------------------------------------
# Page envelope
# ---------------------------------------------------------------------------


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _lenient_page_info(obj: object) -> tuple[int | None, int | None, int | None]:
    if not isinstance(obj, Mapping):
        return None, None, None
    return (
        _int_or_none(obj.get("totalItems")),
        _int_or_none(obj.get("perPage")),
        _int_or_none(obj.get("currentPage")),
    )


def parse_page(body: bytes, *, page: int | None = None, strict: bool = False) -> ParsedPage:
    """Normalize one response body of the sessions list endpoint.

    The same as `probe_page`, then `read_typed` and `complete_page` when the
    probe leaves the page to Polars (the fetcher runs that read on a worker
    thread, where Polars works without holding the GIL).

    Raises
    ------
    ResponseFormatError
        The body is not JSON, or not an object with a ``data`` list.
    SchemaError
        With ``strict=True``, the first value that does not fit.
    """
    parsed = probe_page(body, page=page, strict=strict)
    if parsed.pending:
        return complete_page(parsed, body, read_typed(body))
    return parsed


def probe_page(body: bytes, *, page: int | None = None, strict: bool = False) -> ParsedPage:
    """Stage one: the strict probe. A page it accepts comes back ``pending``.

    Pending pages still need Polars' typed read (`read_typed`, `complete_page`);
    every other page comes back fully parsed by the exact path.
    """
    where = f"page {page}" if page is not None else "the response"
    if not strict:
        try:
            envelope = _decode_probe(body)
        except msgspec.ValidationError:
            pass  # wrong types or unknown keys somewhere: the exact path decides
        except msgspec.DecodeError as exc:
            raise ResponseFormatError(
                f"{where} is not valid JSON ({exc}); the server or a proxy sent an "
                "error page or cut the body off; retrying may help",
                page=page,
            ) from None
        else:
            return _fast_page(envelope, page)
    return _exact_page(body, page=page, strict=strict)


def _decode_probe(body: bytes) -> _Envelope:
    """The probe, with the cyclic GC paused for the few milliseconds it takes.

    The probe allocates thousands of small lists (webhook events) that only live
    until the page is read; letting them trigger collections cost about 30% of
    the probe's time. Nothing it allocates can form a cycle. A GC the caller had
    disabled stays disabled.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _ENVELOPE.decode(body)
    finally:
        if enabled:
            gc.enable()


def read_typed(body: bytes) -> pl.DataFrame | None:
    """Polars' read of a page with the explicit schema (no inference); None if it refuses."""
    try:
        return pl.read_json(body, schema=_POLARS_PAGE)
    except pl.exceptions.PolarsError:
        return None


def complete_page(parsed: ParsedPage, body: bytes, typed: pl.DataFrame | None) -> ParsedPage:
    """Stage two: attach the typed read to a pending page, or take the exact path."""
    if typed is None:
        return _exact_page(body, page=parsed.page, strict=parsed.strict)
    parsed.typed = typed
    parsed.pending = False
    return parsed


def _exact_page(body: bytes, *, page: int | None, strict: bool) -> ParsedPage:
    where = f"page {page}" if page is not None else "the response"
    try:
        obj = _ANY.decode(body)
    except msgspec.DecodeError as exc:
        raise ResponseFormatError(
            f"{where} is not valid JSON ({exc}); the server or a proxy sent an "
            "error page or cut the body off; retrying may help",
            page=page,
        ) from None
    if not isinstance(obj, dict) or not isinstance(obj.get("data"), list):
        got = type(obj).__name__ if not isinstance(obj, dict) else f"keys {sorted(obj)[:8]}"
        raise ResponseFormatError(
            f"{where} is JSON but not a sessions page (expected an object with a "
            f"'data' list, got {got}); check the base URL and API version",
            page=page,
        )
    total, per_page, current = _lenient_page_info(obj.get("pageInfo"))
    records: list[Any] = obj["data"]
    raw, problems = _exact_frame(records, page=page, strict=strict)
    parsed = ParsedPage(
        page,
        total,
        per_page,
        current,
        len(records),
        fast=False,
        early_problems=problems,
        raw=raw,
        strict=strict,
    )
    if strict:
        parsed.rows  # noqa: B018 - strict mode checks timestamps now, naming this page
    return parsed


def parse_session(body: bytes, *, strict: bool = False) -> tuple[pl.DataFrame, list[Problem]]:
    """Normalize the single-session endpoint's body (a bare object, or one under ``data``).

    Raises
    ------
    ResponseFormatError
        Not JSON, or not a session object.
    """
    try:
        obj = _ANY.decode(body)
    except msgspec.DecodeError as exc:
        raise ResponseFormatError(f"the session is not valid JSON ({exc})", page=None) from None
    if isinstance(obj, dict) and isinstance(obj.get("data"), dict) and "sessionId" not in obj:
        obj = obj["data"]
    if not isinstance(obj, dict) or "sessionId" not in obj:
        raise ResponseFormatError(
            "the response is not a session object (no 'sessionId'); check the base URL",
            page=None,
        )
    raw, problems = _exact_frame([obj], page=None, strict=strict)
    rows, late = _finish(raw, spans=[(None, raw.height)], strict=strict)
    return rows, problems + late


# ---------------------------------------------------------------------------
# Fast path
# ---------------------------------------------------------------------------


def _fast_page(envelope: _Envelope, page: int | None) -> ParsedPage:
    info = envelope.pageInfo or _PageInfo()
    records = envelope.data
    n = len(records)
    result = ParsedPage(page, info.totalItems, info.perPage, info.currentPage, n, fast=True)
    if n == 0:
        result.raw = _empty_raw()
        return result
    result.metadata = [bytes(r.metadata) or None for r in records]
    result.pending = True
    return result


def _flatten_fast(pages: Sequence[ParsedPage]) -> pl.DataFrame:
    """The fast pages' one-row frames as one flat raw frame (one Polars pass)."""
    typed = pl.concat([p.typed for p in pages if p.typed is not None], rechunk=False)
    flat = typed.select(pl.col("data").explode()).unnest("data")
    expected = sum(p.record_count for p in pages)
    if flat.height != expected:  # pragma: no cover - guarded per page by the probe
        raise AssertionError(f"fast path read {flat.height} rows, expected {expected}")
    metadata = pl.Series(
        "metadata",
        [m for p in pages for m in (p.metadata or ())],
        dtype=pl.Binary(),
    )
    return flat.select(
        pl.col("sessionId").alias("session_id"),
        pl.col("deploymentId").alias("deployment_id"),
        pl.col("tag"),
        pl.col("status"),
        pl.col("start"),
        pl.col("end"),
        pl.col("duration").alias("duration_s"),
        pl.col("createdAt").alias("created_at"),
        pl.col("updatedAt").alias("updated_at"),
        pl.col("webhook").struct.field("endpoint").alias("webhook_endpoint"),
        pl.col("webhook").struct.field("events").alias("webhook_events"),
        metadata.cast(pl.String()).replace("null", None).alias("metadata"),
        pl.lit(None, pl.String()).alias("extra"),
    )


def assemble(
    pages: Sequence[ParsedPage], *, strict: bool = False
) -> tuple[pl.DataFrame, list[Problem]]:
    """All rows of ``pages`` with exactly `SESSIONS_SCHEMA`, in page order, not deduplicated.

    Timestamps are parsed, metadata compacted and ``duration_s`` derived in one
    vectorized pass over every page. Returns the rows and every `Problem`.
    """
    fast = [p for p in pages if p.typed is not None]
    flat = _flatten_fast(fast) if fast else _empty_raw()
    parts: list[pl.DataFrame] = []
    spans: list[tuple[int | None, int]] = []
    offset = run = 0  # rows of `flat` used, and in the current run of fast pages
    for p in pages:  # in page order: each run of fast pages is one slice of `flat`
        if p.typed is not None:
            run += p.record_count
            spans.append((p.page, p.record_count))
        elif p.raw is not None and p.raw.height:
            if run:
                parts.append(flat.slice(offset, run))
                offset, run = offset + run, 0
            parts.append(p.raw)
            spans.append((p.page, p.raw.height))
    if run:
        parts.append(flat.slice(offset, run) if offset else flat)
    problems = [problem for p in pages for problem in p.early_problems]
    if not parts:
        return empty_sessions(), problems
    raw = pl.concat(parts, how="vertical", rechunk=True) if len(parts) > 1 else parts[0]
    raw = _compact_metadata(raw)
    rows, late = _finish(raw, spans=spans, strict=strict)
    return rows, problems + late


def _compact_metadata(raw: pl.DataFrame) -> pl.DataFrame:
    """Re-encode the (rare) metadata texts that carry insignificant whitespace."""
    spaced = raw.get_column("metadata").str.contains(_WHITESPACE).fill_null(False)
    if not spaced.any():
        return raw
    texts = raw.get_column("metadata").to_list()
    for i in spaced.arg_true().to_list():
        texts[i] = json_text(_ANY.decode(texts[i]))
    return raw.with_columns(pl.Series("metadata", texts, dtype=pl.String()))


# ---------------------------------------------------------------------------
# Exact path
# ---------------------------------------------------------------------------


class _Collector:
    """Accumulates one record's nulls, extras and problems."""

    __slots__ = ("page", "problems", "strict")

    def __init__(self, page: int | None, *, strict: bool) -> None:
        self.page = page
        self.strict = strict
        self.problems: list[Problem] = []

    def bad(
        self, extra: dict[str, Any], session_id: str | None, key: str, value: object, why: str
    ) -> None:
        if self.strict:
            where = f"page {self.page}" if self.page is not None else "input"
            raise SchemaError(
                f"{where}, session {session_id!r}: field {key!r} {why} (got {_describe(value)})",
                page=self.page,
                session_id=session_id,
                field=key,
            )
        extra[key] = value
        self.problems.append(Problem(self.page, session_id, key, why))


def _describe(value: object) -> str:
    text = json_text(value) if _jsonable(value) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _jsonable(value: object) -> bool:
    try:
        _ENCODER.encode(value)
    except (TypeError, msgspec.EncodeError):
        return False
    return True


def _text(
    value: object, key: str, extra: dict[str, Any], sid: str | None, c: _Collector
) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        if c.strict:
            c.bad(extra, sid, key, value, "should be text")
        return json_text(value)
    c.bad(extra, sid, key, value, "should be text")
    return None


def _timestamp_text(
    value: object, key: str, extra: dict[str, Any], sid: str | None, c: _Collector
) -> str | None:
    if value is None or isinstance(value, str):
        return value
    # a number or boolean is never a timestamp: keep the original, not its text
    c.bad(extra, sid, key, value, "is not an ISO-8601 timestamp")
    return None


def _number(
    value: object, key: str, extra: dict[str, Any], sid: str | None, c: _Collector
) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # an integer beyond float64's range
            c.bad(extra, sid, key, value, "is too large to be a number of seconds")
            return None
    if isinstance(value, str) and not c.strict:
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            if number == number and abs(number) != float("inf"):  # noqa: PLR0124 - NaN test
                return number
    c.bad(extra, sid, key, value, "should be a number of seconds")
    return None


def _exact_row(record: object, c: _Collector) -> tuple[Any, ...]:
    extra: dict[str, Any] = {}
    if not isinstance(record, Mapping):
        c.bad(extra, None, "<record>", record, "should be an object")
        return (None,) * 12 + (json_text(extra),)
    sid_raw = record.get("sessionId")
    sid = sid_raw if isinstance(sid_raw, str) else None
    texts = [_text(record.get(src), src, extra, sid, c) for _, src in _TEXT_FIELDS]
    times = [_timestamp_text(record.get(src), src, extra, sid, c) for _, src in _TIME_FIELDS]
    duration = _number(record.get("duration"), "duration", extra, sid, c)
    endpoint: str | None = None
    events: list[str] | None = None
    webhook = record.get("webhook")
    if isinstance(webhook, Mapping):
        endpoint = _text(webhook.get("endpoint"), "webhook.endpoint", extra, sid, c)
        raw_events = webhook.get("events")
        if isinstance(raw_events, list) and all(
            e is None or isinstance(e, (str, bool, int, float)) for e in raw_events
        ):
            events = [_text(e, "webhook.events", extra, sid, c) for e in raw_events]  # type: ignore[misc]
        elif raw_events is not None:
            c.bad(extra, sid, "webhook.events", raw_events, "should be a list of event names")
        for key in webhook.keys() - _WEBHOOK_KEYS:
            extra[f"webhook.{key}"] = webhook[key]
    elif webhook is not None:
        c.bad(extra, sid, "webhook", webhook, "should be an object")
    meta = record.get("metadata")
    metadata = None if meta is None else json_text(meta)
    for key in record.keys() - _KNOWN_KEYS:
        extra[key] = record[key]
    return (
        *texts[:4],
        *times[:2],
        duration,
        *times[2:],
        endpoint,
        events,
        metadata,
        json_text(dict(sorted(extra.items()))) if extra else None,
    )


_EXACT_ORDER: Final = (
    "session_id",
    "deployment_id",
    "tag",
    "status",
    "start",
    "end",
    "duration_s",
    "created_at",
    "updated_at",
    "webhook_endpoint",
    "webhook_events",
    "metadata",
    "extra",
)


def _exact_frame(
    records: Sequence[object], *, page: int | None, strict: bool
) -> tuple[pl.DataFrame, list[Problem]]:
    """Records as a flat raw frame (timestamps still text) and the problems met."""
    c = _Collector(page, strict=strict)
    rows = [_exact_row(r, c) for r in records]
    raw = pl.DataFrame(rows, schema=[(n, _RAW_SCHEMA[n]) for n in _EXACT_ORDER], orient="row")
    return raw, c.problems


def _empty_raw() -> pl.DataFrame:
    return pl.DataFrame(schema=[(n, _RAW_SCHEMA[n]) for n in _EXACT_ORDER])


# ---------------------------------------------------------------------------
# Shared finish: timestamps and derived duration
# ---------------------------------------------------------------------------


def _lenient_timestamp(text: str) -> datetime | None:
    """ISO-8601 with an explicit offset (``+02:00``), converted to UTC; else None."""
    candidate = text.strip()
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None  # a naive time is ambiguous: refuse rather than guess
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:30+01:00 is before year 1 in UTC
        return None


def _page_of(spans: Sequence[tuple[int | None, int]]) -> Callable[[int], int | None]:
    """Map a row index of the assembled frame to the page it came from."""
    ends = list(itertools.accumulate(n for _, n in spans))

    def page_of(row: int) -> int | None:
        return spans[bisect.bisect_right(ends, row)][0]

    return page_of


def _finish(
    raw: pl.DataFrame, *, spans: Sequence[tuple[int | None, int]], strict: bool
) -> tuple[pl.DataFrame, list[Problem]]:
    parsed = raw.with_columns(
        pl.col(name).str.to_datetime(
            TIMESTAMP_FORMAT, time_unit="us", time_zone="UTC", strict=False
        )
        for name, _ in _TIME_FIELDS
    )
    problems: list[Problem] = []
    failed = [
        name
        for name, _ in _TIME_FIELDS
        if (parsed.get_column(name).is_null() & raw.get_column(name).is_not_null()).any()
    ]
    if failed:
        parsed, problems = _repair_timestamps(
            raw, parsed, failed, page_of=_page_of(spans), strict=strict
        )
    # Polars divides a column of 2+ rows by a scalar as a multiplication by its
    # reciprocal (86400001000 * 1e-6 is 86400.00099999999), so a row's derived
    # duration would depend on how many rows were normalized together; dividing
    # by a column is exact.
    per_second = pl.Series("us", [], pl.Float64()).extend_constant(1e6, parsed.height)
    micros = (pl.col("end") - pl.col("start")).dt.total_microseconds().cast(pl.Float64())
    derived = micros / per_second
    out = parsed.with_columns(
        pl.when(
            pl.col("duration_s").is_null()
            & pl.col("start").is_not_null()
            & pl.col("end").is_not_null()
        )
        .then(derived)
        .otherwise(pl.col("duration_s"))
        .alias("duration_s")
    ).select(SESSIONS_SCHEMA.names())
    return out.cast(SESSIONS_SCHEMA), problems


def _repair_timestamps(
    raw: pl.DataFrame,
    parsed: pl.DataFrame,
    failed: list[str],
    *,
    page_of: Callable[[int], int | None],
    strict: bool,
) -> tuple[pl.DataFrame, list[Problem]]:
    source = dict(_TIME_FIELDS)
    extras: list[str | None] = raw.get_column("extra").to_list()
    sids: list[str | None] = raw.get_column("session_id").to_list()
    problems: list[Problem] = []
    columns: dict[str, list[datetime | None]] = {}
    for name in failed:
        texts: list[str | None] = raw.get_column(name).to_list()
        values: list[datetime | None] = parsed.get_column(name).to_list()
        for i, (text, value) in enumerate(zip(texts, values, strict=True)):
            if text is None or value is not None:
                continue
            lenient = _lenient_timestamp(text)
            if lenient is not None:
                values[i] = lenient
                continue
            key = source[name]
            page = page_of(i)
            if strict:
                where = f"page {page}" if page is not None else "input"
                raise SchemaError(
                    f"{where}, session {sids[i]!r}: field {key!r} is not an ISO-8601 UTC "
                    f"timestamp (got {_describe(text)})",
                    page=page,
                    session_id=sids[i],
                    field=key,
                )
            previous = extras[i]
            extra: dict[str, Any] = _ANY.decode(previous) if previous is not None else {}
            extra[key] = text
            extras[i] = json_text(dict(sorted(extra.items())))
            problems.append(Problem(page, sids[i], key, "is not an ISO-8601 timestamp"))
        columns[name] = values
    repaired = parsed.with_columns(
        *(pl.Series(name, vals, dtype=SESSIONS_SCHEMA[name]) for name, vals in columns.items()),
        pl.Series("extra", extras, dtype=pl.String()),
    )
    return repaired, problems


# ---------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------


def normalize_sessions(
    records: Iterable[Mapping[str, Any]], *, strict: bool = False
) -> pl.DataFrame:
    """Normalize session records (parsed JSON objects) into `SESSIONS_SCHEMA`.

    The pure, HTTP-free core of the fetcher, for records you already have.
    Values that do not fit become null with their originals in ``extra`` and
    one `DataQualityWarning`; with ``strict=True`` a `SchemaError` names the
    field instead. Unknown keys always go to ``extra`` as JSON text.

    Examples
    --------
    >>> frame = normalize_sessions([
    ...     {"sessionId": "s1", "status": "completed", "tag": "v1",
    ...      "start": "2025-06-18T11:15:07.275Z", "end": "2025-06-18T11:16:03.575Z",
    ...      "webhook": {"endpoint": "https://example.com/hook",
    ...                  "events": ["ai-deployment-session-started"]},
    ...      "metadata": {"room": "r1"}, "region": "eu"},
    ... ])
    >>> frame.select("session_id", "duration_s", "metadata", "extra").row(0)
    ('s1', 56.3, '{"room":"r1"}', '{"region":"eu"}')
    """
    raw, problems = _exact_frame(list(records), page=None, strict=strict)
    rows, late = _finish(raw, spans=[(None, raw.height)], strict=strict)
    warn_problems(problems + late, stacklevel=3)
    return rows


def warn_problems(problems: Sequence[Problem], *, stacklevel: int = 2) -> None:
    """Emit one `DataQualityWarning` summarizing ``problems`` (if any)."""
    if not problems:
        return
    by_field: dict[str, int] = {}
    for p in problems:
        by_field[p.field] = by_field.get(p.field, 0) + 1
    ids = sorted({p.session_id or "<no id>" for p in problems})
    fields = ", ".join(f"{k} ({v})" for k, v in sorted(by_field.items()))
    shown = ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
    warnings.warn(
        f"{len(problems)} values in {len(ids)} sessions did not fit the schema and were set "
        f"to null, originals kept in the 'extra' column: {fields}; sessions: {shown}",
        DataQualityWarning,
        stacklevel=stacklevel,
    )


def combine_pages(frames: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """Concatenate page frames, keep the newest ``updated_at`` per session, sort.

    Rows are ordered by ``created_at`` descending, then ``session_id``. Rows
    without a session id are all kept (nothing to deduplicate them on).
    """
    frames = [f for f in frames if f.height]
    if not frames:
        return empty_sessions()
    allrows = pl.concat(frames, how="vertical", rechunk=False)
    ids = allrows.get_column("session_id")
    if ids.null_count() == 0 and ids.n_unique() == allrows.height:
        # The common case (no shifted offsets): no string sort needed to deduplicate.
        return allrows.sort(
            ["created_at", "session_id"], descending=[True, False], nulls_last=True
        ).rechunk()
    has_id = allrows.filter(pl.col("session_id").is_not_null())
    newest = has_id.sort(
        ["session_id", "updated_at"], descending=[False, True], nulls_last=True, maintain_order=True
    ).unique(subset="session_id", keep="first", maintain_order=True)
    out = pl.concat([newest, allrows.filter(pl.col("session_id").is_null())])
    return out.sort(
        ["created_at", "session_id"], descending=[True, False], nulls_last=True
    ).rechunk()
