"""The shared plumbing of every helper: frame types, ``by=`` groups and input checks.

`FrameT` and `By` are the two type names every helper signature uses. The functions
below are the one implementation of what every helper does first (find the schema of
an eager or lazy frame, check the columns it reads, validate ``by=`` and ``every=``)
and last (sort deterministically, return the kind of frame it was given).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Final, TypeAlias, TypeVar

import polars as pl

from vsdk_analytics._errors import ConfigurationError

__all__ = [
    "COUNT",
    "UTC_US",
    "By",
    "FrameT",
    "check_columns",
    "distinct_strings",
    "finish",
    "group_columns",
    "numbers_of",
    "ordered_sum",
    "schema_of",
    "sort_result",
    "validate_every",
]

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)
"""A sessions frame, eager (`polars.DataFrame`) or lazy (`polars.LazyFrame`).

A helper typed ``(frame: FrameT) -> FrameT`` returns the kind it was given: a
DataFrame in, a DataFrame out (computed now); a LazyFrame in, a LazyFrame out (a
plan, computed at ``.collect()``), with the same rows either way.
"""

By: TypeAlias = str | Sequence[str] | None
"""The ``by=`` argument: a group column name, a list of them, or None (one overall result).

Any column of the frame may be a group (``"tag"``, ``"deployment_id"``,
``"deployment_name"`` after `with_deployment_names`, a ``metadata_<key>`` column
after `unnest_metadata`); group columns come first in the result.
"""

COUNT: Final = pl.Int64()
"""The dtype of every count (not Polars' index type, whose width depends on the build)."""

UTC_US: Final = pl.Datetime("us", "UTC")
"""The dtype of every instant of a sessions frame."""

_DURATION_RE: Final = re.compile(r"(?:\d+(?:ns|us|ms|mo|s|m|h|d|w|q|y))+")


def finish(result: pl.LazyFrame, like: FrameT) -> FrameT:
    """Return ``result`` as the kind of frame ``like`` is (collected for a DataFrame)."""
    if isinstance(like, pl.DataFrame):
        return result.collect()
    return result


def schema_of(frame: pl.DataFrame | pl.LazyFrame) -> pl.Schema:
    """The schema of an eager or lazy frame; `ConfigurationError` for anything else."""
    if isinstance(frame, pl.DataFrame):
        return frame.schema
    if isinstance(frame, pl.LazyFrame):
        return frame.collect_schema()
    raise ConfigurationError(
        f"expected a polars DataFrame or LazyFrame, got {type(frame).__name__}"
    )


def check_columns(schema: pl.Schema, required: dict[str, pl.DataType], helper: str) -> None:
    """Raise `ConfigurationError` when a column the helper reads is missing or mistyped."""
    problems = []
    for name, dtype in required.items():
        if name not in schema:
            problems.append(f"missing column {name!r} ({dtype})")
        elif schema[name] != dtype:
            problems.append(f"column {name!r} is {schema[name]}, expected {dtype}")
    if problems:
        raise ConfigurationError(
            f"{helper} needs a sessions frame (SESSIONS_SCHEMA): " + "; ".join(problems)
        )


def group_columns(by: By, schema: pl.Schema, *, reserved: Sequence[str]) -> list[str]:
    """Validate ``by=`` and return it as a list of column names."""
    if by is None:
        return []
    if not isinstance(by, (str, Iterable)):
        raise ConfigurationError(f"by= takes a column name or a list of them, got {by!r}")
    names = [by] if isinstance(by, str) else list(by)
    for name in names:
        if not isinstance(name, str):
            raise ConfigurationError(f"by= takes column names, got {name!r}")
        if name not in schema:
            raise ConfigurationError(
                f"by= names {name!r}, which is not a column of the frame "
                f"(columns: {', '.join(schema.names())})"
            )
        if name in reserved:
            raise ConfigurationError(
                f"by= cannot name {name!r}: the result has a column of that name"
            )
    if len(set(names)) != len(names):
        raise ConfigurationError(f"by= names a column twice: {names!r}")
    return names


def sort_result(
    lf: pl.LazyFrame, keys: Sequence[str], descending: Sequence[bool] = ()
) -> pl.LazyFrame:
    """Sort by ``keys`` (nulls last), the deterministic order of every helper's result."""
    if not keys:
        return lf
    flags = list(descending) or [False] * len(keys)
    return lf.sort(list(keys), descending=flags, nulls_last=True)


def validate_every(every: object) -> str | timedelta:
    """A positive Polars duration ("1h", "1d", "1mo") or timedelta; else `ConfigurationError`."""
    if isinstance(every, timedelta) and every > timedelta(0):
        return every
    if (
        isinstance(every, str)
        and _DURATION_RE.fullmatch(every)
        and any(int(n) for n in re.findall(r"\d+", every))
    ):
        return every
    raise ConfigurationError(
        f"every= must be a positive Polars duration such as '1h', '1d', '1w' or '1mo' "
        f"(or a positive timedelta), got {every!r}"
    )


def numbers_of(values: object, what: str) -> list[float]:
    """The finite real numbers of a list, tuple or array, as floats."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ConfigurationError(f"{what} must be a sequence of numbers, got {values!r}")
    result = []
    for value in values:
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Real)
            or not math.isfinite(value)
        ):
            raise ConfigurationError(f"{what} must hold finite numbers, got {value!r}")
        result.append(float(value))
    return result


def ordered_sum(values: pl.Expr) -> pl.Expr:
    """Sum of the non-null values, added in ascending order; null when there are none.

    A plain ``sum`` rounds differently depending on how rows were split among threads,
    so the same data could give results differing in the last bits from run to run;
    a sequential sum in a fixed order is reproducible to the bit.
    """
    return values.drop_nulls().sort().cum_sum().last()


def distinct_strings(frame: pl.DataFrame | pl.LazyFrame, column: str) -> list[str | None]:
    """Distinct values of a String column (a collect for a LazyFrame)."""
    values = frame.lazy().select(pl.col(column).unique()).collect().get_column(column)
    return values.to_list()
