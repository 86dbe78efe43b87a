"""The ``report`` command: summary tables (and charts) of a sessions Parquet file or dataset.

`report_tables` computes the tables shared with the demo, on sessions that
`with_names` gave a ``deployment_name`` (the API's names when the deployments list can
be fetched, the ids otherwise, with one note on stderr). The command finds its input,
prints what `parquet_info` knows about it on stderr, and renders the tables on stdout.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Final

import polars as pl

from vsdk_analytics._dataset.parquet import parquet_info
from vsdk_analytics._deployments import DEPLOYMENTS_SCHEMA, with_deployment_names
from vsdk_analytics._errors import ConfigurationError, IncompleteFetchError, VideoSDKError
from vsdk_analytics._helpers import (
    data_quality,
    duration_distribution,
    status_breakdown,
    tag_counts,
    webhook_coverage,
)
from vsdk_analytics._http import resolve_base_url

from .errors import EXIT_CONFIG, EXIT_OK, EXIT_PATH, CLIError, one_line, shell_message
from .fetching import credentials, open_client
from .files import CHARTS_EXTRA, charts_available, read_sessions, save_charts
from .render import err, render

__all__ = [
    "DEMO_DIR",
    "GROUPS",
    "REPORT_FORMATS",
    "report_tables",
    "run_report",
    "with_names",
]

DEMO_DIR: Final = "vsdk-demo"
GROUPS: Final = ("tag", "deployment_id", "deployment_name", "status")
_DEPLOYMENT: Final = ("deployment_id", "deployment_name")
REPORT_FORMATS: Final = ("table", "csv", "json", "markdown")
_REPORT_SOURCES: Final = (Path("sessions.parquet"), Path(DEMO_DIR) / "sessions.parquet")


def report_tables(frame: pl.DataFrame, by: str | None) -> dict[str, pl.DataFrame]:
    """The report's tables, in order; a table is never grouped by its own column.

    ``frame`` has a ``deployment_name`` (`with_names`). The ``deployments`` table is the
    duration distribution per deployment (name and id).
    """
    deployment_groups = [by] if by is not None and by not in _DEPLOYMENT else []
    return {
        "duration_distribution": duration_distribution(frame, by=by),
        "tag_counts": tag_counts(frame, by=None if by == "tag" else by),
        "status_breakdown": status_breakdown(frame, by=None if by == "status" else by),
        "deployments": duration_distribution(
            frame, by=[*deployment_groups, "deployment_name", "deployment_id"]
        ),
        "webhook_coverage": webhook_coverage(frame, by=by),
        "data_quality": data_quality(frame),
    }


def with_names(
    sessions: pl.DataFrame, fetch_deployments: Callable[[], pl.DataFrame] | None
) -> pl.DataFrame:
    """``sessions`` with ``deployment_name``: the API's names, or the ids where unknown.

    ``fetch_deployments`` (None: names are not wanted) returns the deployments list. Any
    `VideoSDKError` it raises (no credentials, a 403 or 404 where the endpoint is not
    available, an unreachable API) leaves the ids as the names, with one note on stderr;
    an incomplete list names the deployments it holds. Never fails the command.
    """
    deployments = pl.DataFrame(schema=DEPLOYMENTS_SCHEMA)
    if fetch_deployments is not None:
        try:
            deployments = fetch_deployments()
        except IncompleteFetchError as exc:
            deployments = exc.sessions
            err(
                "note: the deployments list is incomplete "
                f"({one_line(shell_message(exc.__cause__ or exc))}); deployments missing "
                "from it show their ids instead of names"
            )
        except VideoSDKError as exc:
            err(
                "note: showing deployment ids instead of names: the deployments list could "
                f"not be fetched ({one_line(shell_message(exc))})"
            )
    return with_deployment_names(sessions, deployments)


def _deployments_of(args: argparse.Namespace) -> Callable[[], pl.DataFrame] | None:
    """What fetches the deployments for ``report`` (its own client), or None if not wanted."""
    if args.deployment_names is False:
        return None

    def fetch() -> pl.DataFrame:
        base_url = resolve_base_url(args.base_url)
        with open_client(args, credentials(args.token_file), base_url) as client:
            return client.fetch_deployments()

    return fetch


def _report_source(given: str | None) -> Path:
    if given is not None:
        return Path(given)
    for candidate in _REPORT_SOURCES:
        if candidate.exists():
            return candidate
    raise CLIError(
        EXIT_PATH,
        "no PATH given, and neither ./sessions.parquet nor ./vsdk-demo/sessions.parquet "
        "exists; pass the Parquet file or dataset directory to read (write one with "
        "`vsdk-analytics fetch -o sessions.parquet` or `vsdk-analytics demo`)",
    )


def _provenance_line(source: Path) -> str:
    """What `parquet_info` knows about ``source``, in one line for stderr."""
    try:
        info = parquet_info(source)
    except (ConfigurationError, OSError, ValueError):  # pragma: no cover - read just worked
        return "provenance: unknown"
    shown = ("fetched_at", "base_url", "since", "until", "sync_run_id", "synced_at")
    parts = [f"{key}={info[key]}" for key in shown if info.get(key) is not None]
    made = (
        f"vsdk-analytics {info.get('version') or '?'}, schema {info.get('schema_version') or '?'}"
    )
    return f"provenance: {made}, profile {info.get('profile') or '?'}" + "".join(
        f", {part}" for part in parts
    )


def run_report(args: argparse.Namespace) -> int:
    """``report``: read the file or dataset, print its tables, write charts when asked."""
    source = _report_source(args.path)
    if args.charts is not None and not charts_available():
        raise CLIError(EXIT_CONFIG, f"--charts needs the optional charts extra: {CHARTS_EXTRA}")
    frame = read_sessions(source)
    err(f"read {frame.height:,} sessions from {source}")
    err(_provenance_line(source))
    named = with_names(frame, _deployments_of(args))
    render(report_tables(named, args.by), args.format)
    sys.stdout.flush()
    if args.charts is not None:
        written = save_charts(
            frame,
            Path(args.charts),
            cdn=args.cdn,
            time_zone=args.time_zone,
        )
        err(f"wrote {len(written)} chart files to {args.charts}")
    return EXIT_OK
