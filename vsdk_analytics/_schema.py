"""The one declared schema of a normalized sessions frame (`SESSIONS_SCHEMA`).

Everything downstream (helpers, Parquet export, docs) relies on these column
names, dtypes and this order. Bump `SCHEMA_VERSION` whenever it changes.
"""

from __future__ import annotations

from typing import Final

import polars as pl

__all__ = [
    "FINISHED_STATUSES",
    "KNOWN_STATUSES",
    "RUNNING_STATUSES",
    "SCHEMA_VERSION",
    "SESSIONS_SCHEMA",
    "SOURCE_FIELDS",
    "TIMESTAMP_FORMAT",
    "WEBHOOK_EVENTS",
]

SCHEMA_VERSION: Final = 1

_UTC_US: Final = pl.Datetime("us", "UTC")

SESSIONS_SCHEMA: Final = pl.Schema(
    {
        "session_id": pl.String(),
        "deployment_id": pl.String(),
        "tag": pl.String(),
        "status": pl.String(),
        "start": _UTC_US,
        "end": _UTC_US,
        "duration_s": pl.Float64(),
        "created_at": _UTC_US,
        "updated_at": _UTC_US,
        "webhook_endpoint": pl.String(),
        "webhook_events": pl.List(pl.String()),
        "metadata": pl.String(),
        "extra": pl.String(),
    }
)
"""Columns, dtypes and order of every frame `fetch_sessions` returns."""

SOURCE_FIELDS: Final[dict[str, str]] = {
    "session_id": "sessionId",
    "deployment_id": "deploymentId",
    "tag": "tag",
    "status": "status",
    "start": "start",
    "end": "end",
    "duration_s": "duration",
    "created_at": "createdAt",
    "updated_at": "updatedAt",
    "webhook_endpoint": "webhook.endpoint",
    "webhook_events": "webhook.events",
    "metadata": "metadata",
}
"""Where each column comes from in the API's JSON (`extra` holds the rest)."""

TIMESTAMP_FORMAT: Final = "%Y-%m-%dT%H:%M:%S%.fZ"
"""The API's ISO-8601 timestamps: UTC with a `Z` and (milli)seconds fraction."""

WEBHOOK_EVENTS: Final = (
    "ai-deployment-session-starting",
    "ai-deployment-session-started",
    "ai-deployment-session-stopping",
    "ai-deployment-session-stopped",
    "ai-deployment-session-failed",
)
"""The webhook events VideoSDK documents, in lifecycle order."""

RUNNING_STATUSES: Final = frozenset({"starting", "started", "running", "stopping"})
"""Statuses of a session that has not ended (no `end`, no `duration`)."""

FINISHED_STATUSES: Final = frozenset({"completed", "stopped", "failed"})
"""Statuses of a session that has ended."""

KNOWN_STATUSES: Final = RUNNING_STATUSES | FINISHED_STATUSES
"""Every status this library knows; others are kept as they are."""
