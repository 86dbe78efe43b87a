"""The exact path: records one by one into a flat raw frame, every odd value accounted for.

Taken for any page the fast path cannot prove it handles losslessly (unknown keys,
wrong types, null records, values msgspec refuses) and always with ``strict=True``.
A value that does not fit its column becomes null, its original goes to ``extra``
under its source key (as canonical JSON text, see `vsdk_analytics._decode`) and a
`Problem` records it; with ``strict=True`` a `SchemaError` names it instead.
Timestamps stay text here; the caller types them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import msgspec
import polars as pl

from ._decode import (
    NotJSONError,
    Odd,
    canonical_json,
    decode_value,
    split_array,
    split_object,
    string_text,
)
from ._errors import ResponseFormatError, SchemaError
from ._schema import SESSIONS_SCHEMA

__all__ = [
    "EXACT_ORDER",
    "RAW_SCHEMA",
    "TEXT_FIELDS",
    "TIME_FIELDS",
    "JSONText",
    "Problem",
    "add_to_extra",
    "check_utf8",
    "describe",
    "exact_frame",
    "json_text",
    "lenient_page_info",
    "read_envelope",
    "record_values",
    "whole_number",
]

TEXT_FIELDS: Final = (
    ("session_id", "sessionId"),
    ("deployment_id", "deploymentId"),
    ("tag", "tag"),
    ("status", "status"),
)
TIME_FIELDS: Final = (
    ("start", "start"),
    ("end", "end"),
    ("created_at", "createdAt"),
    ("updated_at", "updatedAt"),
)
_KNOWN_KEYS: Final = frozenset(
    {src for _, src in TEXT_FIELDS + TIME_FIELDS} | {"duration", "webhook", "metadata"}
)
_WEBHOOK_KEYS: Final = frozenset({"endpoint", "events"})
_ERROR_KEYS: Final = ("error", "message", "errors", "detail", "msg")
_QUOTED_CHARS: Final = 200

RAW_SCHEMA: Final = pl.Schema(
    {
        name: (pl.String() if name in dict(TIME_FIELDS) else dtype)
        for name, dtype in SESSIONS_SCHEMA.items()
    }
)
"""The raw frame: `SESSIONS_SCHEMA` with timestamps still text."""

EXACT_ORDER: Final = tuple(RAW_SCHEMA.names())


def _enc_hook(value: object) -> object:
    if isinstance(value, Odd):
        return value.raw
    raise TypeError(f"{type(value).__name__} is not JSON")


_ENCODER: Final = msgspec.json.Encoder(enc_hook=_enc_hook)


class JSONText(str):
    """Text that is already canonical JSON (a ``metadata`` value from a page body)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Problem:
    """One value that did not fit the schema (its original is kept in ``extra``)."""

    page: int | None
    session_id: str | None
    field: str
    reason: str


def json_text(value: object) -> str:
    """``value`` as compact JSON text (an `Odd` as its own source text)."""
    try:
        return _ENCODER.encode(value).decode()
    except UnicodeEncodeError:  # a lone surrogate in a string given by the caller
        return canonical_json(json.dumps(value, ensure_ascii=False, default=_enc_raw))


def _enc_raw(value: object) -> object:
    if isinstance(value, Odd):  # pragma: no cover - Odd values hold no surrogates
        return json.loads(bytes(value.raw))
    raise TypeError(f"{type(value).__name__} is not JSON")


def _extra_text(items: Mapping[str, str]) -> str:
    return "{" + ",".join(f"{string_text(k)}:{v}" for k, v in sorted(items.items())) + "}"


def add_to_extra(extra: str | None, key: str, value: str) -> str:
    """``extra`` (JSON object text or None) with ``key`` set to the string ``value``."""
    items = {} if extra is None else split_object(extra.encode()) or {}
    texts = {k: canonical_json(v) for k, v in items.items()}
    texts[key] = string_text(value)
    return _extra_text(texts)


def describe(value: object) -> str:
    """A short rendering of a bad value for an error message."""
    try:
        text = json_text(value)
    except TypeError:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------------------
# Bytes to records
# ---------------------------------------------------------------------------


def read_envelope(body: bytes, *, page: int | None) -> tuple[dict[str, bytes], list[bytes]]:
    """A page body's top-level members and its ``data`` items, as source spans.

    Raises
    ------
    ResponseFormatError
        Not JSON (``retryable``), or JSON without a ``data`` list (not retryable;
        the message quotes the server's own error text when it sent one).
    """
    where = f"page {page}" if page is not None else "the response"
    try:
        check_utf8(body)
        envelope = split_object(body)
        data = envelope.get("data") if envelope is not None else None
        records = split_array(data) if data is not None else None
    except NotJSONError as exc:
        raise ResponseFormatError(
            f"{where} is not valid JSON ({exc}); the server or a proxy sent an "
            "error page or cut the body off; retrying may help",
            page=page,
        ) from None
    if envelope is None or records is None:
        raise ResponseFormatError(_wrong_shape(where, body, envelope), page=page, retryable=False)
    return envelope, records


def check_utf8(body: bytes) -> None:
    """Raise `NotJSONError` for invalid UTF-8 (msgspec does not check values it keeps raw)."""
    try:
        body.decode()
    except UnicodeDecodeError as exc:
        raise NotJSONError(f"invalid UTF-8 at byte {exc.start}") from None


def _wrong_shape(where: str, body: bytes, envelope: dict[str, bytes] | None) -> str:
    advice = "retrying cannot fix this"
    if envelope is None:
        got = type(decode_value(body)).__name__
        return f"{where} is JSON but not a sessions page (got {got}); {advice}"
    keys = sorted(envelope)[:8]
    for key in _ERROR_KEYS:
        if key in envelope:
            value = decode_value(envelope[key])
            if isinstance(value, dict):
                value = value.get("message", value)
            text = value if isinstance(value, str) else canonical_json(envelope[key])
            if len(text) > _QUOTED_CHARS:
                text = text[: _QUOTED_CHARS - 3] + "..."
            return (
                f"{where} is not a sessions page (keys {keys}): the server answered with "
                f"an error instead of data: {text!r}"
            )
    return (
        f"{where} is JSON but not a sessions page (expected an object with a 'data' list, "
        f"got keys {keys}); check the base URL and API version; {advice}"
    )


def record_values(span: bytes) -> object:
    """One record's span as Python values: `Odd` where undecodable, metadata as `JSONText`."""
    members = split_object(span)
    if members is None:
        return decode_value(span)
    record: dict[str, object] = {}
    for key, value in members.items():
        if key == "metadata":
            record[key] = None if value == b"null" else JSONText(canonical_json(value))
        elif key == "webhook" and (hook := split_object(value)) is not None:
            record[key] = {k: decode_value(v) for k, v in hook.items()}
        else:
            record[key] = decode_value(value)
    return record


def whole_number(value: object) -> int | None:
    """A pageInfo count as an int: an integer, a whole float or digit text; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def lenient_page_info(span: bytes | None) -> tuple[int | None, int | None, int | None]:
    """``(totalItems, perPage, currentPage)`` of a pageInfo span, None where unusable."""
    obj = None if span is None else decode_value(span)
    if not isinstance(obj, Mapping):
        return None, None, None
    return (
        whole_number(obj.get("totalItems")),
        whole_number(obj.get("perPage")),
        whole_number(obj.get("currentPage")),
    )


# ---------------------------------------------------------------------------
# Records to rows
# ---------------------------------------------------------------------------


class _Collector:
    """Accumulates one page's problems (or raises the first, when strict)."""

    __slots__ = ("page", "problems", "strict")

    def __init__(self, page: int | None, *, strict: bool) -> None:
        self.page = page
        self.strict = strict
        self.problems: list[Problem] = []

    def bad(
        self, extra: dict[str, Any], session_id: str | None, key: str, value: object, why: str
    ) -> None:
        if isinstance(value, Odd):
            why = value.reason
        if self.strict:
            where = f"page {self.page}" if self.page is not None else "input"
            raise SchemaError(
                f"{where}, session {session_id!r}: field {key!r} {why} (got {describe(value)})",
                page=self.page,
                session_id=session_id,
                field=key,
            )
        extra[key] = value
        self.problems.append(Problem(self.page, session_id, key, why))


def _text(
    value: object, key: str, extra: dict[str, Any], sid: str | None, c: _Collector
) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):  # kept as its JSON text, exact for any int
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


def _webhook(
    webhook: object, extra: dict[str, Any], sid: str | None, c: _Collector
) -> tuple[str | None, list[str | None] | None]:
    endpoint: str | None = None
    events: list[str | None] | None = None
    if isinstance(webhook, Mapping):
        endpoint = _text(webhook.get("endpoint"), "webhook.endpoint", extra, sid, c)
        raw_events = webhook.get("events")
        if isinstance(raw_events, list) and all(
            e is None or isinstance(e, (str, bool, int, float)) for e in raw_events
        ):
            events = [_text(e, "webhook.events", extra, sid, c) for e in raw_events]
        elif raw_events is not None:
            c.bad(extra, sid, "webhook.events", raw_events, "should be a list of event names")
        for key in webhook.keys() - _WEBHOOK_KEYS:
            extra[f"webhook.{key}"] = webhook[key]
    elif webhook is not None:
        c.bad(extra, sid, "webhook", webhook, "should be an object")
    return endpoint, events


def _exact_row(record: object, c: _Collector) -> tuple[Any, ...]:
    extra: dict[str, Any] = {}
    if not isinstance(record, Mapping):
        c.bad(extra, None, "<record>", record, "should be an object")
        return (None,) * 12 + (json_text(extra),)
    sid_raw = record.get("sessionId")
    sid = sid_raw if isinstance(sid_raw, str) else None
    texts = [_text(record.get(src), src, extra, sid, c) for _, src in TEXT_FIELDS]
    times = [_timestamp_text(record.get(src), src, extra, sid, c) for _, src in TIME_FIELDS]
    duration = _number(record.get("duration"), "duration", extra, sid, c)
    endpoint, events = _webhook(record.get("webhook"), extra, sid, c)
    meta = record.get("metadata")
    metadata = meta if isinstance(meta, JSONText) or meta is None else json_text(meta)
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
        _extra_text({k: json_text(v) for k, v in extra.items()}) if extra else None,
    )


def exact_frame(
    records: Sequence[object], *, page: int | None, strict: bool
) -> tuple[pl.DataFrame, list[Problem]]:
    """Records (parsed JSON values) as a flat raw frame, and the problems met."""
    c = _Collector(page, strict=strict)
    rows = [_exact_row(r, c) for r in records]
    raw = pl.DataFrame(rows, schema=[(n, RAW_SCHEMA[n]) for n in EXACT_ORDER], orient="row")
    return raw, c.problems
