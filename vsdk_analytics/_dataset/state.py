"""The sync state of a dataset: ``_vsdk_sync.json``, written last and atomically by a sync.

It records the last *complete* sync: the watermark, the profile, the schema version, the
page size, the run id and when it ran. Its underscore name keeps it out of every Parquet
reader's listing (`read_parquet`, `scan_parquet`, DuckDB and Polars globs, Spark, Arrow).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from vsdk_analytics._constants import library_version
from vsdk_analytics._errors import ConfigurationError
from vsdk_analytics._schema import SCHEMA_VERSION
from vsdk_analytics._time import required_iso_instant

from .files import START_DATE, format_instant, write_atomically

__all__ = [
    "STATE_FILE",
    "SyncState",
    "check_compatible",
    "read_state",
    "write_state",
]

STATE_FILE: Final = "_vsdk_sync.json"
"""The sync state inside the dataset directory (ignored by Parquet readers)."""

_STATE_FORMAT: Final = "vsdk-analytics-sync"
_STATE_VERSION: Final = 1


@dataclass(frozen=True, slots=True)
class SyncState:
    """The ``_vsdk_sync.json`` of a complete sync."""

    watermark: datetime | None
    profile: str
    schema_version: int
    per_page: int
    per_page_requested: int
    sessions: int
    synced_at: datetime
    run_id: str | None = None
    base_url: str | None = None

    def to_json(self) -> bytes:
        """The state file's bytes (indented JSON, newline-terminated)."""
        body = {
            "format": _STATE_FORMAT,
            "format_version": _STATE_VERSION,
            "watermark": None if self.watermark is None else format_instant(self.watermark),
            "profile": self.profile,
            "schema_version": self.schema_version,
            "partition_by": [START_DATE],
            "per_page": self.per_page,
            "per_page_requested": self.per_page_requested,
            "sessions": self.sessions,
            "synced_at": format_instant(self.synced_at),
            "run_id": self.run_id,
            "base_url": self.base_url,
            "library_version": library_version(),
        }
        return (json.dumps(body, indent=2) + "\n").encode()

    @classmethod
    def from_json(cls, text: bytes) -> SyncState:
        """Parse a state file; ValueError (with the reason) when it is not one."""
        try:
            body = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"not JSON ({exc})") from None
        if not isinstance(body, dict) or body.get("format") != _STATE_FORMAT:
            raise ValueError("not a vsdk-analytics sync state")
        if body.get("format_version") != _STATE_VERSION:
            raise ValueError(f"unknown state format version {body.get('format_version')!r}")
        try:
            mark = body["watermark"]
            per_page = int(body["per_page"])
            run_id, base_url = body.get("run_id"), body.get("base_url")
            return cls(
                watermark=None if mark is None else required_iso_instant(str(mark)),
                profile=str(body["profile"]),
                schema_version=int(body["schema_version"]),
                per_page=per_page,
                per_page_requested=int(body.get("per_page_requested", per_page)),
                sessions=int(body.get("sessions", 0)),
                synced_at=required_iso_instant(str(body["synced_at"])),
                run_id=None if run_id is None else str(run_id),
                base_url=None if base_url is None else str(base_url),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"a field is missing or malformed ({exc!r})") from None


def read_state(root: Path) -> tuple[SyncState | None, str]:
    """The state of the dataset at ``root``, or None and why there is none."""
    path = root / STATE_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, f"no {STATE_FILE} in the dataset"
    try:
        return SyncState.from_json(raw), ""
    except ValueError as exc:
        return None, f"{STATE_FILE} is unusable: {exc}"


def write_state(root: Path, state: SyncState) -> None:
    """Replace the state file atomically."""
    write_atomically(root / STATE_FILE, state.to_json())


def check_compatible(
    what: str,
    *,
    stored_profile: str | None,
    profile: str,
    state: SyncState | None,
    elsewhere: str,
) -> None:
    """Refuse to sync ``profile`` into a dataset stored in another profile or schema version.

    ``what`` names the dataset in the message; ``elsewhere`` is where to sync instead.
    """
    if stored_profile is not None and stored_profile != profile:
        raise ConfigurationError(
            f"{what} was synced in the {stored_profile!r} profile; sync it with "
            f"profile={stored_profile!r} or into {elsewhere}"
        )
    if state is not None and state.schema_version != SCHEMA_VERSION:
        raise ConfigurationError(
            f"{what} holds schema version {state.schema_version}; this library writes "
            f"version {SCHEMA_VERSION}: sync into {elsewhere}"
        )
