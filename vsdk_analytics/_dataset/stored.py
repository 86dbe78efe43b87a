"""What a synced dataset holds: its layout checked, a light index of every row, partitions.

`load_dataset` cleans up what a killed sync left (hidden temporary files, empty
partition directories), checks the layout is one ``start_date=<date>/part-0.parquet``
per partition in the sync's profile, and indexes the rows without reading them all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Final

import polars as pl

from vsdk_analytics._errors import ConfigurationError
from vsdk_analytics._normalize import empty_sessions
from vsdk_analytics._schema import SCHEMA_VERSION, SESSIONS_SCHEMA

from .files import HIVE_NULL_PARTITION, META, PART_FILE, START_DATE, TMP_MARK, hive_value
from .parquet import read_parquet

__all__ = [
    "INDEX_COLUMNS",
    "PARTITION",
    "StoredDataset",
    "load_dataset",
    "partition_keys",
]

PARTITION: Final = "_partition"
"""The column naming each row's partition directory (``start_date=...``)."""

INDEX_COLUMNS: Final = ("session_id", "status", "start", "end", "created_at", "updated_at")
"""The columns of the light index of every stored row."""

_FILE: Final = "_file"


@dataclass(slots=True)
class StoredDataset:
    """The stored sessions: a light index of every row, and full partitions on demand."""

    root: Path
    index: pl.DataFrame  # INDEX_COLUMNS + PARTITION
    files: int
    legacy: list[str] = field(default_factory=list)
    """Partitions whose file joins ``webhook_events`` with a separator (version 0.1)."""
    full: dict[str, pl.DataFrame] = field(default_factory=dict)

    def partition(self, key: str) -> pl.DataFrame:
        """Every row of one stored partition (empty when it does not exist)."""
        if key not in self.full:
            path = self.root / key / PART_FILE
            self.full[key] = read_parquet(path) if path.is_file() else empty_sessions()
        return self.full[key]

    def rows(self, keys: Iterable[str]) -> pl.DataFrame:
        """Every row of these partitions, with the partition in ``_partition``."""
        frames = [
            self.partition(k).with_columns(pl.lit(k).alias(PARTITION)) for k in sorted(set(keys))
        ]
        if not frames:
            return empty_sessions().with_columns(pl.lit(None, pl.String()).alias(PARTITION))
        return pl.concat(frames)


def _partition_files(root: Path) -> list[Path]:
    """The dataset's data files, checking the layout is one file per ``start_date``."""
    files = sorted(root.glob(f"{START_DATE}=*/{PART_FILE}"))
    expected = set(files)
    for path in root.rglob("*.parquet"):
        hidden = any(p.startswith((".", "_")) for p in path.relative_to(root).parts)
        if not hidden and path not in expected:
            raise ConfigurationError(
                f"{str(root)!r} is not a dataset sync can maintain: {str(path)!r} is not "
                f"{START_DATE}=<date>/{PART_FILE} (write it with "
                f"write_parquet(..., partition_by={START_DATE!r}) or sync into a new directory)"
            )
    return files


def _check_files(files: list[Path], profile: str) -> None:
    if not files:
        return
    meta = pl.read_parquet_metadata(files[0])
    written = meta.get(f"{META}profile")
    if written is not None and written != profile:
        raise ConfigurationError(
            f"the dataset is in the {written!r} profile; sync it with profile={written!r} "
            "or into a new directory"
        )
    partition_by = meta.get(f"{META}partition_by")
    if partition_by is not None and json.loads(partition_by) != [START_DATE]:
        raise ConfigurationError(
            f"the dataset is partitioned by {partition_by}; sync needs [{START_DATE!r}]"
        )
    version = meta.get(f"{META}schema_version")
    if version is not None and version != str(SCHEMA_VERSION):
        raise ConfigurationError(
            f"the dataset holds schema version {version}; this library writes version "
            f"{SCHEMA_VERSION}: sync into a new directory"
        )


def load_dataset(root: Path, profile: str) -> StoredDataset:
    """Clean up what a killed sync left behind, check the layout, index the rows."""
    for leftover in root.rglob(f".*{TMP_MARK}*"):
        if leftover.is_file():
            leftover.unlink(missing_ok=True)
    for directory in root.glob(f"{START_DATE}=*"):
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
    files = _partition_files(root)
    _check_files(files, profile)
    if not files:
        index = pl.DataFrame(
            schema={**{c: SESSIONS_SCHEMA[c] for c in INDEX_COLUMNS}, PARTITION: pl.String()}
        )
        return StoredDataset(root, index, 0)
    keys = {str(f): f.parent.name for f in files}
    index = (
        pl.scan_parquet(files, glob=False, hive_partitioning=False, include_file_paths=_FILE)
        .select(*INDEX_COLUMNS, _FILE)
        .collect()
    )
    index = index.with_columns(
        pl.col(_FILE).replace_strict(keys, return_dtype=pl.String()).alias(PARTITION)
    ).drop(_FILE)
    legacy = sorted(
        f.parent.name
        for f in files
        if f"{META}webhook_events_separator" in pl.read_parquet_metadata(f)
    )
    return StoredDataset(root, index, len(files), legacy)


def partition_keys(frame: pl.DataFrame) -> pl.Series:
    """The partition directory of each row, from the UTC date of ``start``."""
    dates = frame.get_column("start").dt.convert_time_zone("UTC").dt.date()
    names: dict[date | None, str] = {
        d: f"{START_DATE}={hive_value(d)}" for d in dates.unique().to_list()
    }
    if None not in names:
        names[None] = f"{START_DATE}={HIVE_NULL_PARTITION}"
    keys = [names[d] for d in dates.to_list()]
    return pl.Series(PARTITION, keys, dtype=pl.String())
