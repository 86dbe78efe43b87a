"""The upsert of fetched sessions into stored partitions, by ``session_id``.

The newest ``updated_at`` wins (a tie goes to the fetched row); rows are never deleted.
Sessions refreshed from the single-session endpoint, which has no webhook or metadata,
keep those (and their ``extra`` entries) from the stored row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import polars as pl

from vsdk_analytics._combine import newest_per_session
from vsdk_analytics._decode import canonical_json, split_object, string_text
from vsdk_analytics._schema import SESSIONS_SCHEMA

from .stored import PARTITION, StoredDataset, partition_keys

__all__ = ["Merge", "keep_stored_webhook", "merge", "merge_extra"]

# Keys of `extra` that come from the webhook and metadata, which the
# single-session endpoint does not return (kept from the stored row).
_LIST_ONLY_EXTRA: Final = ("webhook", "metadata")


def _is_list_only(key: str) -> bool:
    return key in _LIST_ONLY_EXTRA or key.startswith("webhook.")


def merge_extra(fresh: str | None, stored: str | None) -> str | None:
    """``extra`` of a refreshed row: its own entries, the stored webhook/metadata ones."""
    # members as their source text: an odd value (1e400, a lone surrogate) stays exact
    merged: dict[str, bytes] = {}
    if fresh is not None:
        members = split_object(fresh.encode()) or {}
        merged.update((k, v) for k, v in members.items() if not _is_list_only(k))
    if stored is not None:
        members = split_object(stored.encode()) or {}
        merged.update((k, v) for k, v in members.items() if _is_list_only(k))
    if not merged:
        return None
    return (
        "{"
        + ",".join(f"{string_text(k)}:{canonical_json(merged[k])}" for k in sorted(merged))
        + "}"
    )


def keep_stored_webhook(refreshed: pl.DataFrame, stored: pl.DataFrame) -> pl.DataFrame:
    """Refreshed rows with webhook and metadata (and their extras) from the stored rows."""
    if refreshed.is_empty():
        return refreshed
    kept = ["webhook_endpoint", "webhook_events", "metadata", "extra"]
    previous = newest_per_session(stored).select(
        "session_id", *(pl.col(c).alias(f"{c}_stored") for c in kept)
    )
    joined = refreshed.join(previous, on="session_id", how="left")
    extras = [
        merge_extra(fresh, old)
        for fresh, old in zip(
            joined.get_column("extra").to_list(),
            joined.get_column("extra_stored").to_list(),
            strict=True,
        )
    ]
    return joined.with_columns(
        pl.col("webhook_endpoint_stored").alias("webhook_endpoint"),
        pl.col("webhook_events_stored").alias("webhook_events"),
        pl.col("metadata_stored").alias("metadata"),
        pl.Series("extra", extras, dtype=pl.String()),
    ).select(SESSIONS_SCHEMA.names())


@dataclass(slots=True)
class Merge:
    """The outcome of upserting fetched rows: counts and the partitions to write."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    writes: list[tuple[str, pl.DataFrame]] = field(default_factory=list)
    sessions_total: int = 0
    changed: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=SESSIONS_SCHEMA))
    """The rows that are new or won (``SESSIONS_SCHEMA`` and ``_partition``): a MERGE's source."""


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(
        ["created_at", "session_id"], descending=[True, False], nulls_last=True
    ).select(SESSIONS_SCHEMA.names())


def merge(stored: StoredDataset, incoming: pl.DataFrame) -> Merge:
    """Upsert ``incoming`` (unique, non-null ids) into the stored partitions."""
    index = stored.index
    counts = index.group_by("session_id").len()
    duplicated = counts.filter(pl.col("len") > 1).get_column("session_id").drop_nulls()
    incoming_ids = incoming.get_column("session_id")
    concerned = index.filter(
        pl.col("session_id").is_in(incoming_ids.implode())
        | pl.col("session_id").is_in(duplicated.implode())
    )
    previous = stored.rows(concerned.get_column(PARTITION).unique().to_list())
    previous = previous.filter(
        pl.col("session_id").is_in(concerned.get_column("session_id").implode()).fill_null(False)
    )
    best = newest_per_session(previous).drop(PARTITION)
    names = SESSIONS_SCHEMA.names()
    joined = incoming.join(
        best.with_columns(pl.lit(True).alias("_present")).rename(
            {c: f"{c}_stored" for c in names if c != "session_id"}
        ),
        on="session_id",
        how="left",
    )
    present = pl.col("_present").fill_null(False)
    stored_at, fetched_at = pl.col("updated_at_stored"), pl.col("updated_at")
    wins = (
        ~present
        | stored_at.is_null()
        | (fetched_at.is_not_null() & (fetched_at >= stored_at)).fill_null(False)
    )
    differs = pl.any_horizontal(
        [pl.col(c).ne_missing(pl.col(f"{c}_stored")) for c in names if c != "session_id"]
    )
    joined = joined.with_columns(
        (~present).alias("_new"), (present & wins & differs).alias("_updated")
    )
    result = Merge(
        new=int(joined.get_column("_new").sum()),
        updated=int(joined.get_column("_updated").sum()),
    )
    result.unchanged = incoming.height - result.new - result.updated
    changed = joined.filter(pl.col("_new") | pl.col("_updated")).select(names)
    repaired = best.filter(
        pl.col("session_id").is_in(duplicated.implode())
        & ~pl.col("session_id").is_in(changed.get_column("session_id").implode())
    )
    final = pl.concat([changed, repaired])
    final = final.with_columns(partition_keys(final))
    result.changed = final
    leaving = index.filter(pl.col("session_id").is_in(final.get_column("session_id").implode()))
    arriving = final.partition_by(PARTITION, as_dict=True, include_key=False)
    departing = leaving.select("session_id", PARTITION).partition_by(
        PARTITION, as_dict=True, include_key=False
    )
    gaining = {str(key[0]) for key in arriving}
    losing = {str(key[0]) for key in departing} - gaining
    total = index.height
    # Partitions that gain rows first: a session moving between partitions is never missing.
    for key in [*sorted(gaining, reverse=True), *sorted(losing, reverse=True)]:
        before = stored.partition(key)
        after = before
        if (key,) in departing:
            after = after.join(departing[(key,)], on="session_id", how="anti")
        if (key,) in arriving:
            after = pl.concat([after, arriving[(key,)]])
        total += after.height - before.height
        result.writes.append((key, _sorted(after)))
    result.sessions_total = total
    return result
