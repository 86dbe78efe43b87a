"""Where a sync commits: the `Destination` protocol and what one commit attempt holds.

Two destinations implement it: a local Parquet dataset directory (`sync`, under an OS
lock, files renamed into place, the state file last) and a Delta table, local or in an
object store (`delta`, one conditional commit per run, retried after a conflict).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from .merge import Merge
from .state import SyncState
from .stored import StoredDataset

__all__ = ["Build", "Destination", "Outcome", "TableFormat"]

TableFormat = Literal["parquet", "delta"]
"""``"parquet"``: a Hive-partitioned Parquet directory. ``"delta"``: a Delta Lake table."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one commit attempt writes: the merge, the new state, the report's fields."""

    merged: Merge
    state: SyncState
    report: dict[str, Any]
    metadata: dict[str, str]
    """The key-value metadata of the Parquet files written (`provenance_metadata`)."""


Build = Callable[[StoredDataset, "SyncState | None"], Outcome]
"""Merge the run's rows into what a destination holds (a state and rows of one version)."""


class Destination(Protocol):
    """A place `sync_sessions` keeps a dataset of sessions in."""

    @property
    def where(self) -> Path | str:
        """The path or URL, for reports and messages."""
        ...

    def acquire(self) -> None:
        """Take what keeps other syncs out (nothing, for optimistic destinations)."""
        ...

    def release(self) -> None:
        """Give it back."""
        ...

    def load(self, profile: str) -> tuple[SyncState | None, str, StoredDataset]:
        """The last sync's state (or None and why), and the stored rows."""
        ...

    def commit(
        self, build: Build, profile: str, state: SyncState | None, stored: StoredDataset
    ) -> tuple[Outcome, int]:
        """Build and write one outcome; the outcome written and the partitions it touched."""
        ...
