"""Normalization: API page bytes or records into frames with exactly `SESSIONS_SCHEMA`.

Two paths, one result:

* the **fast path** parses a page's bytes natively: a strict msgspec probe that
  keeps ``metadata`` as raw JSON and rejects any key the schema does not know and
  any value of the wrong type, then Polars' JSON reader with an explicit schema
  (no inference) over the probe's own re-encoding of the records
  (``ParsedPage.typed_body``), so Polars sees exactly the values msgspec
  validated (a duplicate key: the last wins on both paths). No Python dict is
  built per session.
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
    "combine_pages",
    "complete_page",
    "empty_sessions",
    "normalize_sessions",
    "parse_session",
    "probe_page",
    "read_typed",
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
        "webhook": pl.Struct({"endpoint": pl.String(), "events": pl.List(pl.String())}),
    }
)
_POLARS_PAGE: Final = {"data": pl.List(_POLARS_RECORD)}


# The probe types every field: Polars would coerce wrong types silently (a
# boolean duration to 1.0, a string `events` to a one-item list, a number in a
# text field to its own text rendering, e.g. -0.0 to "-0"), so any page with
# one takes the exact path instead.
class _WebhookProbe(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, gc=False):
    endpoint: str | None = None
    events: list[str | None] | None = None


class _RecordProbe(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, gc=False):
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
_PROBE_REFUSES: Final = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)


@dataclass(slots=True)
class ParsedPage:
    """One page as parsed, with what the server said about paging.

    The rows are kept in their cheapest form (the fast path's one-row Polars
    frame, or the exact path's flat frame) so that a fetch of thousands of
    pages pays Polars' per-call overhead once, in `assemble`, not per page.
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
    typed: pl.DataFrame | None = None
    typed_body: bytes = b""
    """What `read_typed` reads for a pending page: the probe's records, re-encoded."""
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


# ---------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------


def probe_page(body: bytes, *, page: int | None = None, strict: bool = False) -> ParsedPage:
    """Stage one: the strict probe. A page it accepts comes back ``pending``.

    Pending pages still need Polars' typed read of ``typed_body``
    (``complete_page(parsed, body, read_typed(parsed))``); every
    other page comes back fully parsed by the exact path.

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


def read_typed(parsed: ParsedPage) -> pl.DataFrame | None:
    """Polars' read of a pending page with the explicit schema (no inference).

    None when Polars refuses the page or reads another number of records than the
    probe saw. Safe to run on a worker thread (Polars works without the GIL), so
    this check stays off the event loop too.
    """
    try:
        typed = pl.read_json(parsed.typed_body, schema=_POLARS_PAGE)
    except (pl.exceptions.PolarsError, OverflowError, ValueError):
        return None
    if typed.height != 1:
        return None
    lengths = typed.get_column("data").list.len()
    if lengths.null_count() or int(lengths.item()) != parsed.record_count:
        return None
    return typed


def complete_page(parsed: ParsedPage, body: bytes, typed: pl.DataFrame | None) -> ParsedPage:
    """Stage two: attach the typed read to a pending page, or take the exact path.

    ``body`` is the page's original body; ``typed`` is ``read_typed(parsed)``.
    """
    if typed is None:
        return _exact_page(body, page=parsed.page, strict=parsed.strict)
    parsed.typed = typed
    parsed.typed_body = b""  # read: no need to keep a second copy of the page
    parsed.pending = False
    return parsed


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
    result.metadata = [None if m is UNSET else bytes(m) for m in (r.metadata for r in records)]
    result.typed_body = b'{"data":' + _ENCODER.encode(records) + b"}"
    result.pending = True
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


def _flatten_fast(pages: Sequence[ParsedPage]) -> pl.DataFrame:
    """The fast pages' one-row frames as one flat raw frame (one Polars pass)."""
    typed = pl.concat([p.typed for p in pages if p.typed is not None], rechunk=False)
    flat = typed.select(pl.col("data").explode()).unnest("data")
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
