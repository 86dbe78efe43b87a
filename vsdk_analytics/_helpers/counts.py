"""Count helpers: sessions per ``tag`` and per ``status``, with shares."""

from __future__ import annotations

import polars as pl

from .frames import COUNT, By, FrameT, check_columns, finish, group_columns, schema_of, sort_result

__all__ = ["status_breakdown", "tag_counts"]


def _category_counts(
    frame: pl.DataFrame | pl.LazyFrame, column: str, by: By, helper: str
) -> pl.LazyFrame:
    schema = schema_of(frame)
    check_columns(schema, {column: pl.String()}, helper)
    groups = group_columns(by, schema, reserved=[column, "sessions", "share"])
    sessions = pl.col("sessions")
    total = sessions.sum().over(groups) if groups else sessions.sum()
    result = (
        frame.lazy()
        .group_by([*groups, column])
        .agg(pl.len().cast(COUNT).alias("sessions"))
        .with_columns((sessions / total).alias("share"))
    )
    keys = [*groups, "sessions", column]
    descending = [False] * len(groups) + [True, False]
    return sort_result(result, keys, descending)


def tag_counts(frame: FrameT, *, by: By = None) -> FrameT:
    """Sessions per ``tag``; a missing tag is a row of its own (null ``tag``).

    Parameters
    ----------
    frame
        A sessions frame; only ``tag`` (and the ``by`` columns) are read.
    by
        Group column(s), e.g. ``"deployment_id"``.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        The group columns, then ``tag`` (String), ``sessions`` (Int64) and ``share``
        (Float64, of the group's sessions). Sorted by the group columns, then
        ``sessions`` descending, then ``tag``; nulls last.

    Raises
    ------
    ConfigurationError
        Unknown ``by`` columns, ``by="tag"``, or no String ``tag``.

    Examples
    --------
    >>> import polars as pl
    >>> frame = pl.DataFrame({"tag": ["support", None, "sales", "support"]})
    >>> tag_counts(frame)
    shape: (3, 3)
    ┌─────────┬──────────┬───────┐
    │ tag     ┆ sessions ┆ share │
    │ ---     ┆ ---      ┆ ---   │
    │ str     ┆ i64      ┆ f64   │
    ╞═════════╪══════════╪═══════╡
    │ support ┆ 2        ┆ 0.5   │
    │ sales   ┆ 1        ┆ 0.25  │
    │ null    ┆ 1        ┆ 0.25  │
    └─────────┴──────────┴───────┘
    """
    return finish(_category_counts(frame, "tag", by, "tag_counts"), frame)


def status_breakdown(frame: FrameT, *, by: By = None) -> FrameT:
    """Sessions per ``status``; with ``by="tag"`` it is the failure-rate table per tag.

    Parameters
    ----------
    frame
        A sessions frame; only ``status`` (and the ``by`` columns) are read.
    by
        Group column(s), e.g. ``"tag"`` or ``"deployment_id"``.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        The group columns, then ``status`` (String; null is a row of its own),
        ``sessions`` (Int64) and ``share`` (Float64, of the group's sessions). Sorted
        by the group columns, then ``sessions`` descending, then ``status``; nulls last.

    Raises
    ------
    ConfigurationError
        Unknown ``by`` columns, ``by="status"``, or no String ``status``.

    Examples
    --------
    >>> import polars as pl
    >>> frame = pl.DataFrame(
    ...     {"tag": ["a", "a", "a", "b"], "status": ["failed", "completed", "completed", "failed"]}
    ... )
    >>> status_breakdown(frame, by="tag")
    shape: (3, 4)
    ┌─────┬───────────┬──────────┬──────────┐
    │ tag ┆ status    ┆ sessions ┆ share    │
    │ --- ┆ ---       ┆ ---      ┆ ---      │
    │ str ┆ str       ┆ i64      ┆ f64      │
    ╞═════╪═══════════╪══════════╪══════════╡
    │ a   ┆ completed ┆ 2        ┆ 0.666667 │
    │ a   ┆ failed    ┆ 1        ┆ 0.333333 │
    │ b   ┆ failed    ┆ 1        ┆ 1.0      │
    └─────┴───────────┴──────────┴──────────┘
    """
    return finish(_category_counts(frame, "status", by, "status_breakdown"), frame)
