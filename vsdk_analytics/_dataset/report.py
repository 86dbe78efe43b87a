"""What one sync did: `SyncReport` and its few readable lines (`format_sync_report`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

__all__ = ["SyncReport", "format_sync_report"]


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What one `sync_sessions` run did.

    Attributes
    ----------
    dataset
        The dataset directory, or the Delta table's path or URL.
    new
        Sessions stored for the first time.
    updated
        Stored sessions replaced by a newer version.
    unchanged
        Sessions fetched again that were already stored as they are.
    refreshed
        Unfinished sessions fetched one by one from the single-session endpoint.
    pages_fetched
        List pages fetched.
    pages_full_fetch
        What a full fetch would have cost: ``ceil(totalItems / per_page)``.
    requests
        HTTP requests made, retries included.
    full_fetch
        Every page was fetched: a first sync, no usable state, or pages that were
        not ordered newest first.
    reason
        Why it fetched what it fetched, in words.
    partitions_written
        Partition files written (or removed, when a partition lost its last row).
    sessions_total
        Sessions in the dataset after the sync.
    seconds
        Wall time of the sync.
    since
        The ``created_at`` the list was paged down to (None: every page).
    watermark
        The watermark stored for the next sync (None: no session yet).
    run_id
        This run's id, recorded in the state file and in every file it wrote.
    deployments
        Deployments stored beside the sessions (``_vsdk_deployments.pq``, see
        `read_deployments`); None when they were not refreshed.
    deployments_error
        Why the deployments were not refreshed (e.g. the endpoint answered 403); the
        file of an earlier sync, if any, is kept. None when they were.
    """

    dataset: Path | str
    new: int
    updated: int
    unchanged: int
    refreshed: int
    pages_fetched: int
    pages_full_fetch: int
    requests: int
    full_fetch: bool
    reason: str
    partitions_written: int
    sessions_total: int
    seconds: float
    since: datetime | None = None
    watermark: datetime | None = None
    run_id: str = ""
    deployments: int | None = None
    deployments_error: str | None = None

    def __str__(self) -> str:
        return format_sync_report(self)


def format_sync_report(report: SyncReport) -> str:
    """A few readable lines about a sync, for a terminal or a log.

    Parameters
    ----------
    report
        What `sync_sessions` returned.

    Returns
    -------
    str
        Three lines (a fourth about the deployments when they were fetched or failed),
        no trailing newline.

    Examples
    --------
    >>> from pathlib import Path
    >>> report = SyncReport(
    ...     Path("sessions"), new=12, updated=3, unchanged=98, refreshed=2, pages_fetched=2,
    ...     pages_full_fetch=40, requests=4, full_fetch=False,
    ...     reason="incremental: pages newest first down to the watermark",
    ...     partitions_written=1, sessions_total=3912, seconds=0.4,
    ... )
    >>> print(format_sync_report(report))
    sessions: 3,912 sessions, 12 new, 3 updated, 98 unchanged, 2 refreshed one by one
      incremental: pages newest first down to the watermark
      2 pages fetched (a full fetch: 40), 4 requests, 1 partition written, 0.40 s
    """
    mode = "full fetch: " if report.full_fetch else ""
    partitions = "partition" if report.partitions_written == 1 else "partitions"
    return (
        f"{report.dataset}: {report.sessions_total:,} sessions, {report.new:,} new, "
        f"{report.updated:,} updated, {report.unchanged:,} unchanged, "
        f"{report.refreshed:,} refreshed one by one\n"
        f"  {mode}{report.reason}\n"
        f"  {report.pages_fetched:,} pages fetched (a full fetch: {report.pages_full_fetch:,}), "
        f"{report.requests:,} requests, "
        f"{report.partitions_written:,} {partitions} written, {report.seconds:.2f} s"
        + _deployments_line(report)
    )


def _deployments_line(report: SyncReport) -> str:
    if report.deployments_error is not None:
        return f"\n  deployments not refreshed: {report.deployments_error}"
    if report.deployments is not None:
        return f"\n  {report.deployments:,} deployments stored beside the sessions"
    return ""
