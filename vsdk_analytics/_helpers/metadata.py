"""Metadata helper: the keys of the JSON ``metadata`` objects as typed columns."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Final

import polars as pl

from vsdk_analytics._errors import ConfigurationError

from .frames import FrameT, check_columns, distinct_strings, finish, schema_of

__all__ = ["unnest_metadata"]

_INT_RE: Final = re.compile(r"-?\d+")
_MAX_EXACT_FLOAT_INT: Final = 2**53
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1


class _Number:
    """A JSON number kept as its exact text."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _compact_json(value: object) -> str:
    """Compact JSON text of a decoded value, numbers written as they were read."""
    if isinstance(value, _Number):
        return value.text
    if isinstance(value, dict):
        items = (
            f"{json.dumps(k, ensure_ascii=False)}:{_compact_json(v)}" for k, v in value.items()
        )
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_compact_json(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _parse_metadata(text: str) -> dict[str, object] | None:
    try:
        value = json.loads(text, parse_int=_Number, parse_float=_Number, parse_constant=_Number)
    except ValueError as exc:
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise ConfigurationError(f"metadata is not valid JSON text: {shown!r}") from exc
    return value if isinstance(value, dict) else None


def _is_int_text(text: str) -> bool:
    return _INT_RE.fullmatch(text) is not None


def _column_for(values: list[object]) -> tuple[pl.DataType, list[object]]:
    """Choose the dtype of one key's values (None = missing or JSON null) and convert them."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pl.Boolean(), values
    if present and all(isinstance(v, _Number) for v in present):
        texts = [v.text for v in present if isinstance(v, _Number)]
        if all(_is_int_text(t) and _INT64_MIN <= int(t) <= _INT64_MAX for t in texts):
            return pl.Int64(), [None if v is None else int(_text(v)) for v in values]
        if all(_float_exact(t) for t in texts):
            return pl.Float64(), [None if v is None else float(_text(v)) for v in values]
    if all(isinstance(v, str) for v in present):
        return pl.String(), values
    return pl.String(), [
        None if v is None else v if isinstance(v, str) else _compact_json(v) for v in values
    ]


def _text(value: object) -> str:
    assert isinstance(value, _Number)
    return value.text


def _float_exact(text: str) -> bool:
    """Whether a Float64 gives the JSON number back: its shortest text has the same value."""
    if text in ("NaN", "Infinity", "-Infinity"):
        return False
    if _is_int_text(text):
        return abs(int(text)) <= _MAX_EXACT_FLOAT_INT
    number = float(text)
    return math.isfinite(number) and Decimal(repr(number)) == Decimal(text)


def unnest_metadata(frame: FrameT, keys: Sequence[str] | None = None) -> FrameT:
    """Add one column ``metadata_<key>`` per key of the JSON ``metadata`` objects.

    Every original column is kept, in place; the new columns follow, in sorted key
    order (or the order of ``keys``). An existing column of such a name is replaced
    (and moves to the end).

    Keys are found in *all* rows. Each column's dtype follows a lossless rule over
    that key's values in all rows (JSON ``null`` and a missing key are null and do not
    count):

    - all strings -> String; all booleans -> Boolean;
    - all integers within Int64 -> Int64; all numbers a Float64 gives back (integers up
      to 2**53, decimals with at most the 15-17 significant digits of a double, so that
      the float's shortest text has the same value: 0.1, 2.50, 1e-3) -> Float64;
    - otherwise (mixed types, nested objects or arrays, huge or long numbers) -> String:
      strings without quotes, every other value as its compact JSON text with numbers
      written as in the source (``3``, ``true``, ``{"a":[1,2]}``, ``0.1``).

    In a mixed column the string "3" and the number 3 both read "3"; the ``metadata``
    column keeps the exact JSON. A ``metadata`` text that is JSON but not an object
    (an array, a string) has no keys.

    The distinct ``metadata`` texts are parsed once in Python (so cost grows with the
    number of distinct texts); for a LazyFrame they are collected first (one query)
    and the result stays lazy.

    Parameters
    ----------
    frame
        A sessions frame; ``metadata`` is read.
    keys
        The keys to extract (columns in this order; a key absent everywhere gives an
        all-null String column). Default: every key present.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        The frame with the ``metadata_<key>`` columns added, rows in their order.

    Raises
    ------
    ConfigurationError
        ``metadata`` text that is not valid JSON, a repeated key, or no String
        ``metadata`` column.

    Examples
    --------
    >>> import polars as pl
    >>> frame = pl.DataFrame(
    ...     {
    ...         "session_id": ["s1", "s2", "s3"],
    ...         "metadata": ['{"room":"r1","n":3}', '{"n":"x","vip":true}', None],
    ...     }
    ... )
    >>> unnest_metadata(frame)
    shape: (3, 5)
    ┌────────────┬──────────────────────┬────────────┬───────────────┬──────────────┐
    │ session_id ┆ metadata             ┆ metadata_n ┆ metadata_room ┆ metadata_vip │
    │ ---        ┆ ---                  ┆ ---        ┆ ---           ┆ ---          │
    │ str        ┆ str                  ┆ str        ┆ str           ┆ bool         │
    ╞════════════╪══════════════════════╪════════════╪═══════════════╪══════════════╡
    │ s1         ┆ {"room":"r1","n":3}  ┆ 3          ┆ r1            ┆ null         │
    │ s2         ┆ {"n":"x","vip":true} ┆ x          ┆ null          ┆ true         │
    │ s3         ┆ null                 ┆ null       ┆ null          ┆ null         │
    └────────────┴──────────────────────┴────────────┴───────────────┴──────────────┘
    """
    return finish(_unnest_metadata(frame, keys), frame)


def _unnest_metadata(
    frame: pl.DataFrame | pl.LazyFrame, keys: Sequence[str] | None
) -> pl.LazyFrame:
    schema = schema_of(frame)
    check_columns(schema, {"metadata": pl.String()}, "unnest_metadata")
    wanted: list[str] | None = None
    if keys is not None:
        given: object = keys
        if (
            isinstance(given, str)
            or not isinstance(given, Iterable)
            or not all(isinstance(k, str) for k in given)
        ):
            raise ConfigurationError(f"keys= must be a list of key names, got {keys!r}")
        wanted = list(keys)
        if len(set(wanted)) != len(wanted):
            raise ConfigurationError(f"keys= repeats a key: {wanted!r}")
    texts = [t for t in distinct_strings(frame, "metadata") if t is not None]
    parsed = [_parse_metadata(t) for t in texts]
    if wanted is None:
        wanted = sorted({k for obj in parsed if obj is not None for k in obj})
    columns = []
    for key in wanted:
        raw = [None if obj is None else obj.get(key) for obj in parsed]
        dtype, values = _column_for(raw)
        columns.append(
            pl.col("metadata")
            .replace_strict(texts, values, default=None, return_dtype=dtype)
            .alias(f"metadata_{key}")
        )
    names = {f"metadata_{k}" for k in wanted}
    lf = frame.lazy().drop([n for n in schema.names() if n in names and n != "metadata"])
    return lf.with_columns(columns)
