"""Normalization: API page bytes or records into frames with exactly `SESSIONS_SCHEMA`.

Two paths, one result:

* the **fast path** parses a page's bytes natively: a strict msgspec probe that
  keeps ``metadata`` as raw JSON and rejects any key the schema does not know and
  any value of the wrong type, re-encoded as one JSON line per record
  (``ParsedPage.lines``), so Polars later sees exactly the values msgspec
  validated (a duplicate key: the last wins on both paths). Webhook ``events``
  leave the lines as one JSON array per page (``ParsedPage.events``): Polars reads
  lists inside NDJSON at about half its whole NDJSON speed, and a column of such
  arrays decodes natively. No Python dict is
  built per session, and no Polars call is made per page: `assemble` reads the
  lines of every fast page it is given with one explicit-schema NDJSON read (no
  inference). A page whose lines Polars refuses (none is known) takes the exact
  path from its lines, which hold every value the probe kept.
* the **exact path** (`vsdk_analytics._exact`) walks the records one by one. It
  is taken for any page the fast path cannot prove it handles losslessly and
  always with ``strict=True``. Values that do not fit become null, their
  originals go to ``extra`` under their source key, and the caller gets a
  `Problem` for each, so nothing is dropped.

``metadata`` is stored in the canonical JSON form of `vsdk_analytics._decode`
(source order, compact, UTF-8, numbers as sent) on both paths. Both end in
`vsdk_analytics._timestamps.finish`, which parses timestamps with an explicit format and derives
``duration_s``. Neither emits warnings (pages are parsed on worker threads);
callers turn `Problem` lists into one `DataQualityWarning`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
import polars as pl
from msgspec import UNSET, UnsetType

from ._decode import MAYBE_NOT_CANONICAL, NotJSONError, canonical_json, split_object
from ._errors import DataQualityWarning, ResponseFormatError
from ._exact import (
    EXACT_ORDER,
    RAW_SCHEMA,
    Problem,
    check_utf8,
    exact_frame,
    lenient_page_info,
    read_envelope,
    record_values,
)
from ._schema import SESSIONS_SCHEMA
from ._timestamps import finish

__all__ = [
    "ParsedPage",
    "Problem",
    "assemble",
    "empty_sessions",
    "normalize_sessions",
    "parse_session",
    "probe_page",
    "warn_problems",
]

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
        "webhook": pl.Struct({"endpoint": pl.String()}),
    }
)
_POLARS_LINE: Final = dict(_POLARS_RECORD.to_schema())
_PAGE_EVENTS: Final = pl.List(pl.List(pl.String()))


# The probe types every field: Polars would coerce wrong types silently (a
# boolean duration to 1.0, a string `events` to a one-item list, a number in a
# text field to its own text rendering, e.g. -0.0 to "-0"), so any page with
# one takes the exact path instead.
#
# ``events`` is a tuple, not a list: small tuples come from the interpreter's free list
# (refilled by the previous page's), which does not count towards the cyclic GC's
# threshold, while new lists do. With lists, a fetch of 300,000 sessions (1,000 per
# page) ran 297 collections, 0.3 s of the loop's time; with tuples, 3.
class _WebhookProbe(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, gc=False):
    endpoint: str | None = None
    events: tuple[str | None, ...] | None = None


# The fields in the API's order (the vendor's example): msgspec looks for each key at
# the field after the last one found first.
class _RecordProbe(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, gc=False):
    webhook: _WebhookProbe | None = None
    status: str | None = None
    deploymentId: str | None = None  # noqa: N815 - the API's key
    tag: str | None = None
    start: str | None = None
    sessionId: str | None = None  # noqa: N815
    createdAt: str | None = None  # noqa: N815
    updatedAt: str | None = None  # noqa: N815
    duration: float | None = None
    end: str | None = None
    metadata: msgspec.Raw | UnsetType = UNSET


class _PageInfo(msgspec.Struct, gc=False):
    totalItems: int | None = None  # noqa: N815
    currentPage: int | None = None  # noqa: N815
    perPage: int | None = None  # noqa: N815
    total: int | None = None


class _Envelope(msgspec.Struct, gc=False):
    data: list[_RecordProbe]
    pageInfo: _PageInfo | None = None  # noqa: N815


_ENVELOPE: Final = msgspec.json.Decoder(_Envelope)
_ENCODER: Final = msgspec.json.Encoder()
_LINES: Final = msgspec.json.Decoder(_RecordProbe)
_EVENTS: Final = msgspec.json.Decoder(list[tuple[str | None, ...] | None])
_PROBE_REFUSES: Final = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)


@dataclass(slots=True)
class ParsedPage:
    """One page as parsed, with what the server said about paging.

    The rows are kept in their cheapest form (the fast path's JSON lines, or the
    exact path's flat frame) so that a fetch of thousands of pages pays Polars'
    per-call overhead once per `assemble`, not per page.
    ``rows`` and ``problems`` assemble this page alone, for single-page use.
    ``session_ids`` and ``created_at`` (the raw ``createdAt`` texts) are in row
    order, on both paths, without assembling a frame.
    """

    page: int | None
    total_items: int | None
    per_page: int | None
    current_page: int | None
    record_count: int
    fast: bool
    session_ids: list[str | None] = field(default_factory=list)
    created_at: list[str | None] = field(default_factory=list)
    early_problems: list[Problem] = field(default_factory=list)
    lines: bytes = b""
    """A fast page's records as the probe validated them, one JSON line each,
    without ``metadata`` (in `metadata`, as sent) and webhook ``events`` (in `events`)."""
    metadata: bytes = b""
    """A fast page's ``metadata`` values as sent, joined by NUL bytes, an item per record
    (empty where the record has none). JSON text never holds a NUL byte, and no JSON
    value is empty, so the items split back exactly."""
    events: bytes = b""
    """A fast page's webhook ``events``: one JSON array, an item per record (null
    where the record has no webhook or no events)."""
    raw: pl.DataFrame | None = None
    strict: bool = False
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


# ---------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------


def probe_page(body: bytes, *, page: int | None = None, strict: bool = False) -> ParsedPage:
    """Parse one page of the sessions list: the strict probe, else the exact path.

    A page the probe accepts keeps its records as JSON lines for `assemble`'s one
    Polars read; every other page comes back parsed by the exact path.

    Raises
    ------
    ResponseFormatError
        The body is not JSON (``retryable``), or not an object with a ``data``
        list (not retryable; the server's own error text is quoted).
    SchemaError
        With ``strict=True``, the first value that does not fit.
    """
    if not strict:
        try:
            envelope = _ENVELOPE.decode(body)
        except _PROBE_REFUSES:
            pass  # wrong types, unknown keys, odd values or not JSON: the exact path decides
        else:
            return _fast_page(envelope, page)
    return _exact_page(body, page=page, strict=strict)


def _fast_page(envelope: _Envelope, page: int | None) -> ParsedPage:
    info = envelope.pageInfo or _PageInfo()
    records = envelope.data
    n = len(records)
    result = ParsedPage(page, info.totalItems, info.perPage, info.currentPage, n, fast=True)
    if n == 0:
        result.raw = _empty_raw()
        return result
    result.session_ids = [r.sessionId for r in records]
    result.created_at = [r.createdAt for r in records]
    metadata: list[msgspec.Raw | bytes] = []
    events: list[tuple[str | None, ...] | None] = []
    for r in records:  # kept apart: raw metadata may hold newlines, and Polars skips it
        if r.metadata is UNSET:
            metadata.append(b"")
        else:
            metadata.append(r.metadata)
            r.metadata = UNSET
        hook = r.webhook
        if hook is None:
            events.append(None)
        else:
            events.append(hook.events)
            hook.events = None
    result.metadata = b"\x00".join(metadata)  # one copy, no bytes object per record
    result.events = _ENCODER.encode(events)
    result.lines = _ENCODER.encode_lines(records)
    return result


def _exact_page(body: bytes, *, page: int | None, strict: bool) -> ParsedPage:
    envelope, spans = read_envelope(body, page=page)
    total, per_page, current = lenient_page_info(envelope.get("pageInfo"))
    raw, problems = exact_frame([record_values(s) for s in spans], page=page, strict=strict)
    parsed = ParsedPage(
        page,
        total,
        per_page,
        current,
        len(spans),
        fast=False,
        session_ids=raw.get_column("session_id").to_list(),
        created_at=raw.get_column("created_at").to_list(),
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
        Not JSON (``retryable``), or not a session object (not retryable).
    """
    try:
        check_utf8(body)
        members = split_object(body)
        span = body
        if members is not None and "sessionId" not in members and "data" in members:
            inner = split_object(members["data"])
            if inner is not None:
                members, span = inner, members["data"]
    except NotJSONError as exc:
        raise ResponseFormatError(f"the session is not valid JSON ({exc})", page=None) from None
    if members is None or "sessionId" not in members:
        raise ResponseFormatError(
            "the response is not a session object (no 'sessionId'); check the base URL; "
            "retrying cannot fix this",
            page=None,
            retryable=False,
        )
    raw, problems = exact_frame([record_values(span)], page=None, strict=strict)
    rows, late = finish(raw, spans=[(None, raw.height)], strict=strict)
    return rows, problems + late


# ---------------------------------------------------------------------------
# Assembly
# ---------------------------------------------------------------------------


def _read_lines(lines: bytes, rows: int) -> pl.DataFrame | None:
    """Polars' explicit-schema read of fast pages' lines; None if it refuses or miscounts."""
    try:
        typed = pl.read_ndjson(lines, schema=_POLARS_LINE)
    except (pl.exceptions.PolarsError, OverflowError, ValueError):
        return None
    return typed if typed.height == rows else None


def _reread_exact(parsed: ParsedPage) -> ParsedPage:
    """A fast page Polars refused, through the exact path.

    From its lines and metadata, which together hold every value the probe kept.
    """
    records = _LINES.decode_lines(parsed.lines)
    events = _EVENTS.decode(parsed.events)
    metadata = parsed.metadata.split(b"\x00")
    for record, raw_metadata, hook_events in zip(records, metadata, events, strict=True):
        if raw_metadata:
            record.metadata = msgspec.Raw(raw_metadata)
        if record.webhook is not None:
            record.webhook.events = hook_events
    body = b'{"data":' + _ENCODER.encode(records) + b"}"
    return _exact_page(body, page=parsed.page, strict=False)


def _read_fast(
    pages: Sequence[ParsedPage],
) -> tuple[Sequence[ParsedPage], pl.DataFrame | None]:
    """One Polars read of every fast page's lines, with the pages it covers.

    If Polars refuses the batch, each page is tried alone and the pages it refuses are
    parsed again by the exact path (returned in their place).
    """
    fast = [p for p in pages if p.lines]
    if not fast:
        return pages, None
    typed = _read_lines(b"".join(p.lines for p in fast), sum(p.record_count for p in fast))
    if typed is None:
        pages = [
            p
            if not p.lines or _read_lines(p.lines, p.record_count) is not None
            else _reread_exact(p)
            for p in pages
        ]
        fast = [p for p in pages if p.lines]
        rows = sum(p.record_count for p in fast)
        typed = _read_lines(b"".join(p.lines for p in fast), rows) if fast else None
        if typed is None and fast:  # pragma: no cover - each page alone was read
            pages = [_reread_exact(p) if p.lines else p for p in pages]
            fast = []
    if not fast or typed is None:
        return pages, None
    # NUL-joined per page (see `ParsedPage.metadata`), split natively: no Python object
    # per row; the empty items are the records without metadata
    metadata = (
        pl.Series("metadata", [p.metadata for p in fast], dtype=pl.Binary())
        .cast(pl.String())
        .str.split("\x00")
        .explode()
    )
    # one JSON array per page, decoded natively, then an item per row
    events = (
        pl.Series("webhook_events", [p.events for p in fast], dtype=pl.Binary())
        .cast(pl.String())
        .str.json_decode(_PAGE_EVENTS)
        .explode()
    )
    flat = typed.select(
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
        events,
        metadata.replace(["", "null"], None).alias("metadata"),
        pl.lit(None, pl.String()).alias("extra"),
    )
    return pages, flat


def assemble(
    pages: Sequence[ParsedPage], *, strict: bool = False
) -> tuple[pl.DataFrame, list[Problem]]:
    """All rows of ``pages`` with exactly `SESSIONS_SCHEMA`, in page order, not deduplicated.

    The fast pages are read by Polars at once; timestamps are parsed, metadata
    compacted and ``duration_s`` derived in one vectorized pass over every page.
    Returns the rows and every `Problem`.
    """
    pages, typed = _read_fast(pages)
    flat = _empty_raw() if typed is None else typed
    parts: list[pl.DataFrame] = []
    spans: list[tuple[int | None, int]] = []
    offset = run = 0  # rows of `flat` used, and in the current run of fast pages
    for p in pages:  # in page order: each run of fast pages is one slice of `flat`
        if p.lines:
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
    rows, late = finish(raw, spans=spans, strict=strict)
    return rows, problems + late


def _compact_metadata(raw: pl.DataFrame) -> pl.DataFrame:
    """Canonicalize the (rare) metadata texts that may not be canonical yet."""
    doubtful = raw.get_column("metadata").str.contains(MAYBE_NOT_CANONICAL).fill_null(False)
    if not doubtful.any():
        return raw
    texts = raw.get_column("metadata").to_list()
    for i in doubtful.arg_true().to_list():
        texts[i] = canonical_json(texts[i])
    return raw.with_columns(pl.Series("metadata", texts, dtype=pl.String()))


def _empty_raw() -> pl.DataFrame:
    return pl.DataFrame(schema=[(n, RAW_SCHEMA[n]) for n in EXACT_ORDER])


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
    raw, problems = exact_frame(list(records), page=None, strict=strict)
    rows, late = finish(raw, spans=[(None, raw.height)], strict=strict)
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
