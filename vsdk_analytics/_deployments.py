"""Deployments without the network: their schema, a tolerant decoder, and names for sessions.

The vendor lists AI deployments beside sessions, paginated the same way (a ``data``
list and a ``pageInfo`` object), but its page for them is not in hand, so the decoder
assumes little: each record may have ``deploymentId`` (or ``id``), ``name``, ``tag``,
``description``, ``status`` and ``created_at`` (or ``createdAt``); any of them may be
missing, of the wrong type, or joined by fields nobody documented. Nothing is dropped: a value that
does not fit is nulled and kept, with every unknown field, in ``extra`` (JSON text),
with one `DataQualityWarning`; ``strict=True`` raises `SchemaError` instead.

`with_deployment_names` attaches each session's deployment name, so every helper can
group by ``deployment_name``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import polars as pl

from ._errors import ConfigurationError, DataQualityWarning, ResponseFormatError, SchemaError
from ._exact import whole_number
from ._time import iso_instant

__all__ = [
    "DEPLOYMENTS_SCHEMA",
    "DeploymentsPage",
    "decode_deployments_page",
    "normalize_deployments",
    "warn_page_problems",
    "with_deployment_names",
]

DEPLOYMENTS_SCHEMA: Final = pl.Schema(
    {
        "deployment_id": pl.String(),
        "name": pl.String(),
        "tag": pl.String(),
        "description": pl.String(),
        "status": pl.String(),
        "created_at": pl.Datetime("us", "UTC"),
        "extra": pl.String(),
    }
)
"""Columns, dtypes and order of a deployments frame; ``extra`` holds unknown fields as JSON."""

_ID_KEYS: Final = ("deploymentId", "id")
_TEXT_KEYS: Final = (("name", "name"), ("tag", "tag"), ("description", "description"))
_CREATED_KEYS: Final = ("createdAt", "created_at")
_KNOWN_KEYS: Final = frozenset({*_ID_KEYS, *_CREATED_KEYS, "name", "tag", "description", "status"})

_F = TypeVar("_F", pl.DataFrame, pl.LazyFrame)


@dataclass(frozen=True, slots=True)
class DeploymentsPage:
    """One decoded page of the deployments list.

    Attributes
    ----------
    frame
        The page's deployments, `DEPLOYMENTS_SCHEMA`.
    ids
        Each record's deployment id in page order (None where it had none), for
        completeness checks across pages.
    total_items, per_page
        What the page's ``pageInfo`` says (None when absent or not a whole number).
    problems
        How many values did not fit the schema (nulled, originals in ``extra``).
    problem_ids
        The deployments those values belong to, sorted ("<no id>" for none).
    """

    frame: pl.DataFrame
    ids: list[str | None]
    total_items: int | None
    per_page: int | None
    problems: int = 0
    problem_ids: tuple[str, ...] = ()


class _Problems:
    def __init__(self, *, strict: bool) -> None:
        self.strict = strict
        self.count = 0
        self.ids: set[str] = set()

    def bad(
        self, extra: dict[str, Any], sid: str | None, key: str, value: object, why: str
    ) -> None:
        if self.strict:
            raise SchemaError(
                f"deployment {sid!r}: field {key!r} {why} (got {value!r:.60})",
                page=None,
                session_id=sid,
                field=key,
            )
        extra[key] = value
        self.count += 1
        self.ids.add(sid or "<no id>")


def _row(record: object, problems: _Problems) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    row: dict[str, Any] = dict.fromkeys(DEPLOYMENTS_SCHEMA.names())
    if not isinstance(record, Mapping):
        problems.bad(extra, None, "<record>", record, "should be an object")
        row["extra"] = json.dumps(extra, sort_keys=True, ensure_ascii=False)
        return row
    ids = {k: record.get(k) for k in _ID_KEYS}
    texts = [v for v in ids.values() if isinstance(v, str)]
    sid = texts[0] if texts else None
    for key, value in ids.items():
        if value is not None and not isinstance(value, str):
            problems.bad(extra, sid, key, value, "should be the deployment id text")
    if isinstance(ids["id"], str) and ids["id"] != sid:
        extra["id"] = ids["id"]  # a second, different id: kept as it was
    row["deployment_id"] = sid
    for column, key in (*_TEXT_KEYS, ("status", "status")):
        value = record.get(key)
        if value is None or isinstance(value, str):
            row[column] = value
        else:
            problems.bad(extra, sid, key, value, "should be text")
    # the vendor's sessions say createdAt; the deployments page, as described, created_at
    present = [k for k in _CREATED_KEYS if record.get(k) is not None]
    if present:
        key, created = present[0], record[present[0]]
        parsed = iso_instant(created) if isinstance(created, str) else None
        if parsed is None:
            problems.bad(extra, sid, key, created, "is not an ISO-8601 timestamp")
        row["created_at"] = parsed
        for other in present[1:]:
            if record[other] != created:
                extra[other] = record[other]  # a second, different creation time: kept
    for key in sorted(record.keys() - _KNOWN_KEYS, key=str):
        extra[str(key)] = record[key]
    row["extra"] = (
        json.dumps(dict(sorted(extra.items())), ensure_ascii=False, separators=(",", ":"))
        if extra
        else None
    )
    return row


def _frame(records: Iterable[object], *, strict: bool) -> tuple[pl.DataFrame, _Problems]:
    problems = _Problems(strict=strict)
    rows = [_row(r, problems) for r in records]
    return pl.DataFrame(rows, schema=DEPLOYMENTS_SCHEMA, orient="row"), problems


def _warn(count: int, ids: Iterable[str], *, stacklevel: int) -> None:
    if count:
        shown = ", ".join(sorted(set(ids))[:10])
        warnings.warn(
            f"{count} deployment values did not fit the schema and were set to "
            f"null, originals kept in the 'extra' column; deployments: {shown}",
            DataQualityWarning,
            stacklevel=stacklevel + 1,
        )


def warn_page_problems(pages: Iterable[DeploymentsPage], *, stacklevel: int = 2) -> None:
    """Emit one `DataQualityWarning` for the problems of all ``pages`` (if any).

    `decode_deployments_page` never warns (pages may be decoded on worker threads);
    the caller that assembled the pages calls this once.
    """
    chosen = list(pages)
    _warn(
        sum(p.problems for p in chosen),
        (i for p in chosen for i in p.problem_ids),
        stacklevel=stacklevel + 1,
    )


def normalize_deployments(
    records: Iterable[Mapping[str, Any]], *, strict: bool = False
) -> pl.DataFrame:
    """Normalize deployment records (parsed JSON objects) into `DEPLOYMENTS_SCHEMA`.

    Parameters
    ----------
    records
        Objects as the API sends them; the id is read from ``deploymentId``, else
        ``id``. Missing fields are null. Unknown fields go to ``extra`` as JSON text.
    strict
        Raise on the first value of the wrong type instead of keeping it in ``extra``.

    Returns
    -------
    polars.DataFrame
        One row per record, in order, `DEPLOYMENTS_SCHEMA`.

    Raises
    ------
    SchemaError
        With ``strict=True``: a value of the wrong type (e.g. a numeric name).

    Warns
    -----
    DataQualityWarning
        Without ``strict``: values were nulled (originals kept in ``extra``).

    Examples
    --------
    >>> frame = normalize_deployments(
    ...     [{"deploymentId": "d1", "name": "Support bot", "createdAt": "2025-06-01T00:00:00Z",
    ...       "region": "eu"}]
    ... )
    >>> frame.select("deployment_id", "name", "extra").row(0)
    ('d1', 'Support bot', '{"region":"eu"}')
    """
    frame, problems = _frame(records, strict=strict)
    _warn(problems.count, problems.ids, stacklevel=2)
    return frame


def decode_deployments_page(body: bytes, *, strict: bool = False) -> DeploymentsPage:
    """Decode one response body of the deployments list endpoint.

    Parameters
    ----------
    body
        The JSON bytes: an object with a ``data`` list and, usually, ``pageInfo``
        (``totalItems``, ``perPage``).
    strict
        As in `normalize_deployments`.

    Returns
    -------
    DeploymentsPage
        The frame, the ids in page order, the paging totals and the problems met.
        No warning is emitted here (pages may be decoded on worker threads): pass the
        pages to `warn_page_problems` once.

    Raises
    ------
    ResponseFormatError
        Not JSON, or not an object with a ``data`` list.
    SchemaError
        With ``strict=True``, a value of the wrong type.

    Examples
    --------
    >>> page = decode_deployments_page(
    ...     b'{"data": [{"id": "d1", "name": "Sales"}],'
    ...     b' "pageInfo": {"totalItems": 1, "perPage": 20}}'
    ... )
    >>> page.ids, page.total_items, page.per_page
    (['d1'], 1, 20)
    """
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ResponseFormatError(
            f"the deployments page is not valid JSON ({exc}); the server or a proxy sent "
            "something else"
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise ResponseFormatError(
            "the deployments page is not a JSON object with a 'data' list "
            f"(got {type(document).__name__})"
        )
    frame, problems = _frame(document["data"], strict=strict)
    info = document.get("pageInfo")
    info = info if isinstance(info, dict) else {}
    return DeploymentsPage(
        frame=frame,
        ids=frame.get_column("deployment_id").to_list(),
        total_items=whole_number(info.get("totalItems")),
        per_page=whole_number(info.get("perPage")),
        problems=problems.count,
        problem_ids=tuple(sorted(problems.ids)),
    )


def with_deployment_names(
    sessions: _F, deployments: pl.DataFrame | pl.LazyFrame, *, fallback: str = "id"
) -> _F:
    """Add ``deployment_name``: each session's deployment name, looked up by id.

    Every session row is kept once, in order (a left join on a deduplicated lookup:
    a deployment listed twice uses its first non-null name). A session whose
    deployment is unknown or has no name gets its ``deployment_id`` as the name
    (``fallback="id"``, so reports still tell deployments apart) or null
    (``fallback="null"``).

    Parameters
    ----------
    sessions
        A sessions frame (DataFrame or LazyFrame) with ``deployment_id``.
    deployments
        A deployments frame with ``deployment_id`` and ``name``
        (`DEPLOYMENTS_SCHEMA`).
    fallback
        ``"id"`` or ``"null"``, as above.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        The same kind as ``sessions``: its columns, then ``deployment_name``
        (String). An existing ``deployment_name`` column is replaced.

    Raises
    ------
    polars.exceptions.ColumnNotFoundError
        A frame lacks the columns read.
    ConfigurationError
        An unknown ``fallback``.

    Examples
    --------
    >>> import polars as pl
    >>> s = pl.DataFrame({"session_id": ["s1", "s2"], "deployment_id": ["d1", "d9"]})
    >>> d = pl.DataFrame({"deployment_id": ["d1"], "name": ["Support bot"]})
    >>> with_deployment_names(s, d)["deployment_name"].to_list()
    ['Support bot', 'd9']
    """
    if fallback not in ("id", "null"):
        raise ConfigurationError(f"fallback must be 'id' or 'null', got {fallback!r}")
    lookup = (
        deployments.lazy()
        .select(pl.col("deployment_id"), pl.col("name").alias("_name"))
        .drop_nulls("deployment_id")
        .group_by("deployment_id", maintain_order=True)
        .agg(pl.col("_name").drop_nulls().first())
    )
    name = pl.col("_name")
    if fallback == "id":
        name = pl.coalesce(name, pl.col("deployment_id"))
    base = sessions.lazy()
    if "deployment_name" in base.collect_schema().names():
        base = base.drop("deployment_name")
    result = (
        base.join(lookup, on="deployment_id", how="left", maintain_order="left")
        .with_columns(name.cast(pl.String()).alias("deployment_name"))
        .drop("_name")
    )
    if isinstance(sessions, pl.DataFrame):
        return result.collect()
    return result
