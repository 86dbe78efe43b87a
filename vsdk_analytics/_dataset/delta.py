"""Delta Lake tables of sessions: the sync destination of data lakes (the deltalake package).

A table written by ``sync_sessions(..., table_format="delta")`` is partitioned by
``start_date`` (the UTC date of ``start``, a column of the table) and holds the
`SESSIONS_SCHEMA` columns in a `write_parquet` profile. Each sync run is **one commit**:
the first creates the table with its rows, later ones MERGE the changed rows on
``session_id`` (newest ``updated_at`` wins, also inside the MERGE's own condition), a run
with nothing to change appends nothing. Every commit carries the run's sync state and
report as JSON in its commit metadata (`STATE_KEY`, `REPORT_KEY`): the state moves with
the data, atomically, so a sync killed at any point leaves the table at its last commit
(unreferenced files are ignored by every reader; ``VACUUM`` removes them).

Concurrent runs need no lock: each commit is conditional on the version it read (a
put-if-absent of the next log entry, which S3, GCS and Azure do natively). The loser of a
race gets a conflict, reloads the table, redoes its merge against the winner's rows (no
new fetch) and commits again, up to `COMMIT_ATTEMPTS` times; then `DatasetConflictError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Final

import polars as pl

from vsdk_analytics._errors import ConfigurationError, DatasetConflictError
from vsdk_analytics._normalize import empty_sessions
from vsdk_analytics._schema import SESSIONS_SCHEMA

from .delta_read import (
    HISTORY_DEPTH,
    REPORT_KEY,
    STATE_KEY,
    deltalake_module,
    sync_commits,
    table_uri,
)
from .destination import Build, Outcome
from .files import (
    EVENTS_ENCODING,
    HIVE_NULL_PARTITION,
    START_DATE,
    as_sessions,
    to_arrow,
)
from .location import ObjectLocation
from .state import STATE_FILE, SyncState, check_compatible
from .stored import INDEX_COLUMNS, StoredDataset, partition_keys

__all__ = ["COMMIT_ATTEMPTS", "DeltaDestination", "DeltaStored"]

COMMIT_ATTEMPTS: Final = 5
"""Commits a sync tries before it gives up on concurrent writers (DatasetConflictError)."""


@dataclass(slots=True)
class DeltaStored(StoredDataset):
    """The rows of one version of a Delta table (partitions read from that version)."""

    uri: str = ""
    version: int | None = None
    _scan: pl.LazyFrame | None = field(default=None, init=False, repr=False)
    """The version's scan, opened once: each open replays the log (about 20 requests to
    an object store), so one per partition cost a sync hundreds of requests."""

    def partition(self, key: str) -> pl.DataFrame:
        """Every row of one ``start_date=...`` partition of the table's version."""
        if key not in self.full and self.version is None:  # no table yet
            self.full[key] = empty_sessions()
        if key not in self.full:
            value = key.split("=", 1)[1]
            day = pl.col(START_DATE)
            wanted = (
                day.is_null() if value == HIVE_NULL_PARTITION else day == date.fromisoformat(value)
            )
            if self._scan is None:
                self._scan = pl.scan_delta(self.uri, version=self.version)
            self.full[key] = as_sessions(
                self._scan.filter(wanted), self.uri, EVENTS_ENCODING
            ).collect()
        return self.full[key]


class DeltaDestination:
    """A Delta table the sync upserts into, one conditional commit per run."""

    def __init__(self, location: Path | ObjectLocation) -> None:
        self.location = location
        self.uri = table_uri(location)
        self._deltalake = deltalake_module()
        self._check_place()

    def _check_place(self) -> None:
        where = self.uri
        if isinstance(self.location, ObjectLocation):
            if not self.location.key:
                raise ConfigurationError(f"{where!r} is a bucket; name a table prefix inside it")
            holds_state = self.location.child(STATE_FILE).exists()
        else:
            if self.location.exists() and not self.location.is_dir():
                raise ConfigurationError(f"{where!r} is a file; a Delta table is a directory")
            if not self.location.parent.is_dir():
                raise ConfigurationError(
                    f"the directory {str(self.location.parent)!r} does not exist"
                )
            holds_state = (self.location / STATE_FILE).exists()
        if holds_state:
            raise ConfigurationError(
                f"{where!r} holds a Parquet dataset synced with table_format='parquet'; "
                "sync it in that format, or sync the Delta table into another path"
            )

    @property
    def where(self) -> str:
        """The table's path or URL."""
        return self.uri

    def acquire(self) -> None:
        """Nothing to take: commits are conditional on the version they read."""

    def release(self) -> None:
        """Nothing to give back."""

    def open_table(self) -> Any:
        """The table at its latest version, or None before its first commit."""
        # Not DeltaTable.is_deltatable: in deltalake 1.6 it holds the GIL while it waits on
        # the network, so it cannot reach a server running in this process (a test fixture).
        try:
            return self._deltalake.DeltaTable(self.uri)
        except self._deltalake.exceptions.TableNotFoundError:
            return None

    def exists(self) -> bool:
        """Whether the table has been created."""
        return self.open_table() is not None

    def load(self, profile: str) -> tuple[SyncState | None, str, DeltaStored]:
        """The table's last sync state (or None and why), and its rows at one version."""
        table = self.open_table()
        if table is None:
            empty = pl.DataFrame(schema={c: SESSIONS_SCHEMA[c] for c in INDEX_COLUMNS})
            index = empty.with_columns(partition_keys(empty))
            return None, "no Delta table yet", DeltaStored(Path(self.uri), index, 0, uri=self.uri)
        version = int(table.version())
        state, why = _state_of(self.location, version)
        names = {field.name for field in table.schema().fields}
        if START_DATE not in names or table.metadata().partition_columns != [START_DATE]:
            raise ConfigurationError(
                f"{self.uri!r} is a Delta table not partitioned by {START_DATE!r} alone; "
                "sync into another path"
            )
        scan = pl.scan_delta(self.uri, version=version)
        written = "bi" if scan.collect_schema().get("webhook_events") == pl.String() else "native"
        check_compatible(
            "the Delta table",
            stored_profile=written,
            profile=profile,
            state=state,
            elsewhere="another path",
        )
        index = scan.select(INDEX_COLUMNS).collect()
        index = index.with_columns(partition_keys(index))
        files = len(table.file_uris())
        return state, why, DeltaStored(Path(self.uri), index, files, uri=self.uri, version=version)

    def commit(
        self, build: Build, profile: str, state: SyncState | None, stored: StoredDataset
    ) -> tuple[Outcome, int]:
        """Build and commit, redoing the merge on a newer version after a conflict.

        Returns the commit and the partitions it touched.
        """
        exceptions = self._deltalake.exceptions
        assert isinstance(stored, DeltaStored)
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            outcome = build(stored, state)
            try:
                self._write(outcome, profile, stored)
            except (exceptions.CommitFailedError, exceptions.DeltaError) as exc:
                conflict = isinstance(exc, exceptions.CommitFailedError) or (
                    stored.version is None and self.exists()
                )
                if not conflict:
                    raise
                if attempt == COMMIT_ATTEMPTS:
                    raise DatasetConflictError(
                        f"other syncs kept committing to the Delta table {self.uri!r}: "
                        f"{COMMIT_ATTEMPTS} commits of this run lost the race ({exc}). "
                        "Nothing of this run was committed; run it again"
                    ) from None
                state, _, stored = self.load(profile)
                continue
            return outcome, len(outcome.merged.writes)
        raise AssertionError("unreachable")  # pragma: no cover

    def _write(self, outcome: Outcome, profile: str, stored: DeltaStored) -> None:
        deltalake = self._deltalake
        changed = outcome.merged.changed.select(SESSIONS_SCHEMA.names())
        rows = changed.with_columns(
            pl.col("start").dt.convert_time_zone("UTC").dt.date().alias(START_DATE)
        )
        data = to_arrow(rows, profile, plain=True)
        # No retries inside deltalake: a commit that lost a race is redone here on the
        # winner's version (deltalake would rebase a blind append onto it: duplicates).
        properties = deltalake.CommitProperties(
            max_commit_retries=0,
            custom_metadata={
                STATE_KEY: outcome.state.to_json().decode(),
                REPORT_KEY: json.dumps(outcome.report, default=str),
            },
        )
        if stored.version is None:
            deltalake.write_deltalake(
                self.uri, data, mode="error", partition_by=[START_DATE],
                commit_properties=properties,
            )  # fmt: skip
            return
        if changed.is_empty():
            # Nothing to change: an empty append is still this run's commit (its state).
            deltalake.write_deltalake(self.uri, data, mode="append", commit_properties=properties)
            return
        table = deltalake.DeltaTable(self.uri, version=stored.version)
        (
            table.merge(
                data,
                predicate="t.session_id = s.session_id",
                source_alias="s",
                target_alias="t",
                commit_properties=properties,
            )
            .when_matched_update_all(
                predicate="t.updated_at IS NULL OR s.updated_at >= t.updated_at"
            )
            .when_not_matched_insert_all()
            .execute()
        )


def _state_of(location: Path | ObjectLocation, latest: int) -> tuple[SyncState | None, str]:
    """The state of the newest sync commit in the table's recent history."""
    for _, info in sync_commits(location, latest, HISTORY_DEPTH):
        try:
            return SyncState.from_json(str(info[STATE_KEY]).encode()), ""
        except ValueError as exc:
            return None, f"the last sync commit's state is unusable: {exc}"
    return None, f"no sync commit in the table's last {HISTORY_DEPTH} commits"
