"""The deployments beside a synced dataset: ``_vsdk_deployments.pq``, refreshed by each sync.

After its sessions are committed, `sync_sessions` fetches the account's deployments
(`AsyncClient.fetch_deployments`) and replaces this one Parquet file atomically (hidden
temporary name, fsync, rename, fsync of the directory), so BI tools can join names
onto ``deployment_id``. A failed fetch (403, 404, an incomplete list, any
`VideoSDKError`) leaves the sessions synced and the file of an earlier sync in place;
the report says why (`DeploymentsRefresh.error`).

The name starts with ``_`` (Spark, Arrow, `read_parquet` and `scan_parquet` skip it)
and ends in ``.pq``, not ``.parquet``, so the ``'sessions/**/*.parquet'`` globs of
DuckDB and Polars keep matching the session files only. Read it with
`read_deployments`, or ``read_parquet('sessions/_vsdk_deployments.pq')`` in DuckDB.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Final

import polars as pl

from vsdk_analytics._client import AsyncClient
from vsdk_analytics._constants import library_version
from vsdk_analytics._deployments import DEPLOYMENTS_SCHEMA
from vsdk_analytics._errors import ConfigurationError, VideoSDKError

from .files import (
    META,
    codec,
    format_instant,
    fsync_dir,
    public_url,
    temporary_name,
    write_file,
)
from .report import SyncReport

__all__ = [
    "DEPLOYMENTS_FILE",
    "DeploymentsRefresh",
    "read_deployments",
    "refresh_deployments",
    "write_deployments",
]

DEPLOYMENTS_FILE: Final = "_vsdk_deployments.pq"
"""The deployments of a synced dataset, a Parquet file in `DEPLOYMENTS_SCHEMA` in its root."""

_CONTENT: Final = "deployments"


@dataclass(frozen=True, slots=True)
class DeploymentsRefresh:
    """What refreshing the deployments file did.

    Attributes
    ----------
    stored
        Deployments written to `DEPLOYMENTS_FILE` (None: not refreshed).
    requests
        HTTP requests the deployments fetch made, retries included.
    error
        Why the file was not refreshed (None when it was).
    """

    stored: int | None
    requests: int
    error: str | None = None

    def apply(self, report: SyncReport) -> SyncReport:
        """``report`` with this refresh's requests and outcome added."""
        return replace(
            report,
            requests=report.requests + self.requests,
            deployments=self.stored,
            deployments_error=self.error,
        )


def write_deployments(
    root: Path,
    deployments: pl.DataFrame,
    *,
    profile: str,
    fetched_at: datetime,
    base_url: str,
    run_id: str,
) -> Path:
    """Replace ``root / DEPLOYMENTS_FILE`` atomically with ``deployments``; its path."""
    if deployments.schema != DEPLOYMENTS_SCHEMA:
        raise ConfigurationError("write_deployments needs a frame in DEPLOYMENTS_SCHEMA")
    target = root / DEPLOYMENTS_FILE
    metadata = {
        f"{META}version": library_version(),
        f"{META}content": _CONTENT,
        f"{META}written_at": format_instant(datetime.now(timezone.utc)),
        f"{META}fetched_at": format_instant(fetched_at),
        f"{META}base_url": public_url(base_url),
        f"{META}sync_run_id": run_id,
        f"{META}rows": str(deployments.height),
    }
    temporary = temporary_name(target)
    try:
        rows = deployments.select(DEPLOYMENTS_SCHEMA.names())
        write_file(rows, temporary, codec(profile, None), metadata)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_dir(root)
    return target


async def refresh_deployments(
    client: AsyncClient, root: Path, *, profile: str, per_page: int, run_id: str
) -> DeploymentsRefresh:
    """Fetch every deployment and store them beside the dataset; a failure is reported.

    A `VideoSDKError` (403, 404, an incomplete list...) keeps the stored file as it
    is and comes back as `DeploymentsRefresh.error`; anything else propagates.
    """
    before = client.requests_sent
    fetched_at = datetime.now(timezone.utc)
    try:
        frame = await client.fetch_deployments(per_page=per_page)
    except VideoSDKError as exc:
        kept = (
            "the file of an earlier sync is kept"
            if (root / DEPLOYMENTS_FILE).is_file()
            else "none stored yet"
        )
        error = f"{type(exc).__name__}: {exc}; {kept}"
        return DeploymentsRefresh(None, client.requests_sent - before, error)
    requests = client.requests_sent - before
    await asyncio.to_thread(
        write_deployments,
        root,
        frame,
        profile=profile,
        fetched_at=fetched_at,
        base_url=client.base_url,
        run_id=run_id,
    )
    return DeploymentsRefresh(frame.height, requests)


def read_deployments(path: str | os.PathLike[str]) -> pl.DataFrame:
    """The deployments a sync stored beside a dataset, in `DEPLOYMENTS_SCHEMA`.

    Every `sync_sessions` run whose deployments fetch succeeds replaces
    ``_vsdk_deployments.pq`` in the dataset directory with the full list; join it onto
    the sessions with `with_deployment_names`.

    Parameters
    ----------
    path
        A synced dataset directory, or the deployments file itself.

    Returns
    -------
    polars.DataFrame
        Exactly `DEPLOYMENTS_SCHEMA`, in the order the API listed them.

    Raises
    ------
    ConfigurationError
        No deployments file there (no sync has stored one: the report of a sync whose
        fetch failed says why), or a file that is not one.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from vsdk_analytics import read_parquet, sync_sessions, with_deployment_names
    >>> from vsdk_analytics.testing import FakeServer
    >>> with FakeServer(sessions=40) as server, tempfile.TemporaryDirectory() as tmp:
    ...     dataset = pathlib.Path(tmp) / "sessions"
    ...     report = sync_sessions(dataset, server.credentials(), base_url=server.url,
    ...                            progress=False)
    ...     named = with_deployment_names(read_parquet(dataset), read_deployments(dataset))
    >>> report.deployments, named.get_column("deployment_name").null_count()
    (6, 0)
    """
    source = Path(path)
    file = source / DEPLOYMENTS_FILE if source.is_dir() else source
    if not file.is_file():
        raise ConfigurationError(
            f"no deployments stored at {str(file)!r}: a sync stores them when the "
            "deployments endpoint answers (its report says why it did not)"
        )
    try:
        metadata = pl.read_parquet_metadata(file)
        frame = pl.read_parquet(file)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise ConfigurationError(f"{str(file)!r} is not a readable Parquet file ({exc})") from exc
    if metadata.get(f"{META}content") != _CONTENT or frame.schema != DEPLOYMENTS_SCHEMA:
        raise ConfigurationError(
            f"{str(file)!r} is not a deployments file of vsdk-analytics "
            f"(columns: {', '.join(frame.columns)})"
        )
    return frame
