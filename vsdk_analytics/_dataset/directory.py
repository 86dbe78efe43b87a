"""The local Parquet destination of a sync: a dataset directory under an OS lock.

`ParquetDirectory` implements `Destination`: the lock (`lock`), the state file
(`state`), the stored partitions (`stored`), and the commit: the changed partitions
first, each written to a hidden temporary file, fsynced, renamed over ``part-0.parquet``
(`write_partition`), then the state file the same way.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import polars as pl

from vsdk_analytics._errors import ConfigurationError
from vsdk_analytics._normalize import empty_sessions

from .destination import Build, Outcome
from .files import (
    HIVE_NULL_PARTITION,
    META,
    PART_FILE,
    START_DATE,
    codec,
    file_frame,
    fsync_dir,
    temporary_name,
    write_file,
)
from .lock import DatasetLock
from .merge import Merge
from .parquet import check_target
from .state import SyncState, check_compatible, read_state, write_state
from .stored import StoredDataset, load_dataset

__all__ = ["ParquetDirectory", "write_partition"]


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


def write_partition(
    root: Path, key: str, rows: pl.DataFrame, profile: str, metadata: dict[str, str]
) -> None:
    """Replace (or create, or remove when empty) one partition file atomically."""
    directory = root / key
    target = directory / PART_FILE
    if rows.is_empty() and key != f"{START_DATE}={HIVE_NULL_PARTITION}":
        target.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            directory.rmdir()
        fsync_dir(root)
        return
    if not directory.is_dir():
        directory.mkdir()
        fsync_dir(root)
    temporary = temporary_name(target)
    file_metadata = {**metadata, f"{META}rows": str(rows.height)}
    try:
        write_file(file_frame(rows, profile), temporary, codec(profile, None), file_metadata)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_dir(directory)


def _rewrite_legacy(merged: Merge, stored: StoredDataset) -> None:
    """Add the partitions of version 0.1 (comma-joined events) to the writes, once.

    So every file of the dataset stores ``webhook_events`` the same way, for DuckDB and
    BI tools that read the text as it is.
    """
    rewritten = {key for key, _ in merged.writes}
    merged.writes.extend(
        (key, stored.partition(key)) for key in stored.legacy if key not in rewritten
    )


def _commit(
    root: Path, merged: Merge, state: SyncState, metadata: dict[str, str], empty: bool
) -> int:
    """Write the changed partitions, then the state file; the partition files written."""
    writes = list(merged.writes)
    if empty and not writes:
        # An empty dataset is one empty file in the null partition, as write_parquet does.
        writes.append((f"{START_DATE}={HIVE_NULL_PARTITION}", empty_sessions()))
    for key, rows in writes:
        write_partition(root, key, rows, state.profile, metadata)
    write_state(root, state)
    return len(writes)


def _prepare(root: Path) -> Path:
    if root.exists() and not root.is_dir():
        raise ConfigurationError(f"{str(root)!r} is a file; a synced dataset is a directory")
    if not root.parent.is_dir():
        raise ConfigurationError(f"the directory {str(root.parent)!r} does not exist")
    if root.is_dir():
        check_target(root, dataset=True, overwrite=True)  # only a Parquet dataset in it
    root.mkdir(exist_ok=True)
    return root


class ParquetDirectory:
    """A local Hive-partitioned Parquet dataset: an OS lock, renames, the state file last."""

    def __init__(self, root: Path, *, lock_timeout: float | None, run_id: str) -> None:
        self.root = _prepare(root)
        self.lock = DatasetLock(self.root, timeout=lock_timeout, run_id=run_id)

    @property
    def where(self) -> Path:
        """The dataset directory."""
        return self.root

    def acquire(self) -> None:
        """Take the dataset's OS lock (`DatasetConflictError` when another sync holds it)."""
        self.lock.acquire()

    def release(self) -> None:
        """Release the lock."""
        self.lock.release()

    def load(self, profile: str) -> tuple[SyncState | None, str, StoredDataset]:
        """The state file (checked against the profile) and the stored partitions."""
        state, why_no_state = _usable_state(self.root, profile)
        return state, why_no_state, load_dataset(self.root, profile)

    def commit(
        self, build: Build, profile: str, state: SyncState | None, stored: StoredDataset
    ) -> tuple[Outcome, int]:
        """Write the changed partitions, then the state file (no one else can write)."""
        outcome = build(stored, state)
        _rewrite_legacy(outcome.merged, stored)
        written = _commit(
            self.root, outcome.merged, outcome.state, outcome.metadata, empty=stored.files == 0
        )
        return outcome, written


def _usable_state(root: Path, profile: str) -> tuple[SyncState | None, str]:
    """The dataset's state (or None and why), checked against this sync's profile."""
    state, why_no_state = read_state(root)
    check_compatible(
        "the dataset",
        stored_profile=None if state is None else state.profile,
        profile=profile,
        state=state,
        elsewhere="a new directory",
    )
    return state, why_no_state
