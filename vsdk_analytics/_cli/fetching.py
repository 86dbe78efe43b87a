"""The ``fetch`` and ``sync`` commands, and what every command that fetches shares.

`credentials` reads them from the environment or ``--token-file``; `since_until` turns
``--since``/``--until`` into instants. ``fetch`` writes one Parquet file (streamed: pages
go to disk as row groups, memory stays flat) or a partitioned dataset; what was fetched
goes beside it when the fetch is incomplete; ``sync`` brings a dataset up to
date with `sync_sessions`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vsdk_analytics._constants import DEFAULT_MAX_CONCURRENCY, MAX_RETRIES, READ_TIMEOUT_SECONDS
from vsdk_analytics._credentials import Credentials
from vsdk_analytics._dataset.files import Provenance, partition_columns
from vsdk_analytics._dataset.location import is_object_store_url
from vsdk_analytics._dataset.parquet import check_output as check_place
from vsdk_analytics._dataset.stream import ParquetStream, written_on_a_thread
from vsdk_analytics._errors import ConfigurationError, CredentialsError, IncompleteFetchError
from vsdk_analytics._http import resolve_base_url
from vsdk_analytics._options import time_range
from vsdk_analytics._sync_client import Client
from vsdk_analytics._time import parse_instant

from .errors import (
    EXIT_CONFIG,
    EXIT_INCOMPLETE,
    EXIT_OK,
    EXIT_PATH,
    EXIT_USAGE,
    CLIError,
    one_line,
    shell_message,
)
from .files import check_output, partial_path, save_parquet
from .render import err, fetch_summary, out

__all__ = [
    "credentials",
    "open_client",
    "partition_names",
    "run_fetch",
    "run_sync_command",
    "since_until",
]


def partition_names(values: Sequence[str] | None) -> list[str] | None:
    """``--partition-by`` values (repeated and/or comma-separated), validated by the library."""
    if not values:
        return None
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    try:
        return partition_columns(names)
    except ConfigurationError as exc:
        raise CLIError(EXIT_USAGE, f"--partition-by: {exc}") from None


def _read_token(source: str) -> str:
    """The token in ``--token-file`` (``-`` reads stdin); the token is never shown."""
    try:
        if source == "-":
            return sys.stdin.read()
        return Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CLIError(EXIT_CONFIG, f"cannot read the token file {source!r}: {reason}") from None


def credentials(token_file: str | None) -> Credentials:
    """The credentials of ``--token-file``, or of the environment without it."""
    if token_file is None:
        return Credentials.from_env()
    try:
        return Credentials(token=_read_token(token_file))
    except CredentialsError as exc:
        raise CredentialsError(f"--token-file {token_file}: {exc}") from None


def open_client(args: argparse.Namespace, creds: Credentials, base_url: str) -> Client:
    """The one `Client` of a command run, with the command's connection flags.

    Commands without ``--max-concurrency``, ``--max-retries`` or ``--timeout`` get the
    library's defaults; ``--max-requests-per-second`` caps the rate (None: no cap).
    """
    return Client(
        creds,
        base_url=base_url,
        max_concurrency=getattr(args, "max_concurrency", DEFAULT_MAX_CONCURRENCY),
        max_requests_per_second=getattr(args, "max_requests_per_second", None),
        max_retries=getattr(args, "max_retries", MAX_RETRIES),
        timeout=getattr(args, "timeout", READ_TIMEOUT_SECONDS),
    )


def since_until(args: argparse.Namespace) -> tuple[datetime | None, datetime | None]:
    """--since/--until as UTC instants (dates at midnight in --time-zone, spans before now)."""
    now = datetime.now(timezone.utc)
    try:
        since, until = (
            None
            if text is None
            else parse_instant(text, name=flag, time_zone=args.time_zone, now=now)
            for flag, text in (("--since", args.since), ("--until", args.until))
        )
        time_range(since, until)
    except ConfigurationError as exc:
        raise CLIError(EXIT_USAGE, f"--since/--until: {shell_message(exc)}") from None
    return since, until


def run_fetch(args: argparse.Namespace) -> int:
    """``fetch``: every session (in the window) into one Parquet file or dataset."""
    remote = is_object_store_url(args.output)
    output: Path | str = args.output if remote else Path(args.output)
    partition_by = partition_names(args.partition_by)
    dataset = bool(partition_by)
    since, until = since_until(args)
    overwrite = True if args.overwrite else None
    if remote:
        try:
            check_place(output, dataset=dataset, overwrite=overwrite)
        except (ConfigurationError, OSError) as exc:
            raise CLIError(EXIT_PATH, f"cannot write {output!r}: {shell_message(exc)}") from None
    else:
        check_output(Path(output), dataset=dataset, overwrite=overwrite)
    base_url = resolve_base_url(args.base_url)
    creds = credentials(args.token_file)
    source = Provenance(
        fetched_at=datetime.now(timezone.utc),
        base_url=base_url,
        since=since,
        until=until,
    )
    if not dataset and isinstance(output, Path):
        return _stream_fetch(
            args,
            output,
            creds=creds,
            base_url=base_url,
            source=source,
            since=since,
            until=until,
            overwrite=overwrite,
        )
    try:
        with open_client(args, creds, base_url) as client:
            frame, stats = client.fetch_sessions_with_stats(**_options(args, since, until))
    except IncompleteFetchError as exc:
        partial = partial_path(output, dataset=dataset)
        save_parquet(
            exc.sessions,
            partial,
            profile=args.profile,
            partition_by=partition_by,
            overwrite=overwrite,
            provenance=source,
        )
        raise _incomplete(exc, exc.sessions.height, partial, output) from exc
    save_parquet(
        frame,
        output,
        profile=args.profile,
        partition_by=partition_by,
        overwrite=overwrite,
        provenance=source,
    )
    err(f"fetched {fetch_summary(frame, stats)} -> {output}")
    return EXIT_OK


def _options(
    args: argparse.Namespace, since: datetime | None, until: datetime | None
) -> dict[str, Any]:
    """The fetch options of ``fetch``, the same for the streamed and the eager path."""
    return {
        "per_page": args.per_page,
        "progress": args.progress,
        "since": since,
        "until": until,
        "allow_incomplete": args.allow_incomplete,
        "strict": args.strict,
    }


def _incomplete(
    exc: IncompleteFetchError, kept: int, partial: Path | str, output: Path | str
) -> CLIError:
    cause = f" (first: {one_line(shell_message(exc.__cause__))})" if exc.__cause__ else ""
    return CLIError(
        EXIT_INCOMPLETE,
        f"the fetch is incomplete: {exc.reason or 'pages failed'}{cause}; wrote the "
        f"{kept:,} sessions fetched to {str(partial)!r} and left "
        f"{str(output)!r} untouched; rerun later, raise --max-retries, or pass "
        "--allow-incomplete to accept a partial result",
    )


def _stream_fetch(
    args: argparse.Namespace,
    output: Path,
    *,
    creds: Credentials,
    base_url: str,
    source: Provenance,
    since: datetime | None,
    until: datetime | None,
    overwrite: bool | None,
) -> int:
    """One file: pages stream into it as row groups, so memory stays flat in its size."""
    try:
        stream = ParquetStream(
            output,
            profile="native" if args.profile == "native" else "bi",
            overwrite=overwrite,
            provenance=source,
        )
    except (ConfigurationError, OSError) as exc:
        raise CLIError(EXIT_PATH, f"cannot write {str(output)!r}: {exc}") from None
    with stream:
        try:
            with open_client(args, creds, base_url) as client, written_on_a_thread(stream) as write:
                stats = client.stream_sessions(write, **_options(args, since, until))
        except IncompleteFetchError as exc:
            partial = partial_path(output, dataset=False)
            try:
                stream.commit(to=partial)
            except (ConfigurationError, OSError) as write_error:
                raise CLIError(EXIT_PATH, f"cannot write {str(partial)!r}: {write_error}") from None
            raise _incomplete(exc, stream.rows, partial, output) from exc
        try:
            stream.commit()
        except (ConfigurationError, OSError) as exc:
            raise CLIError(EXIT_PATH, f"cannot write {str(output)!r}: {exc}") from None
    err(f"fetched {fetch_summary(None, stats)} -> {output}")
    return EXIT_OK


def run_sync_command(args: argparse.Namespace) -> int:
    """``sync``: bring a dataset directory up to date (`sync_sessions`)."""
    from vsdk_analytics._dataset import format_sync_report, sync_sessions  # noqa: PLC0415 - on demand

    delta = args.format == "delta"
    dataset: Path | str = args.dataset
    if not is_object_store_url(args.dataset):
        dataset = Path(args.dataset)
        if dataset.exists() and not dataset.is_dir():
            raise CLIError(
                EXIT_PATH, f"{str(dataset)!r} is a file; sync writes a dataset directory"
            )
        if not delta:  # a Delta table's _delta_log is not Parquet: the library checks it
            check_output(dataset, dataset=True)
    base_url = resolve_base_url(args.base_url)
    creds = credentials(args.token_file)
    try:
        report = sync_sessions(
            dataset,
            creds,
            base_url=base_url,
            profile=args.profile,
            per_page=args.per_page,
            max_concurrency=args.max_concurrency,
            max_requests_per_second=args.max_requests_per_second,
            max_retries=args.max_retries,
            timeout=args.timeout,
            progress=args.progress,
            full=args.full,
            lock_timeout=args.wait,
            table_format=args.format,
        )
    except IncompleteFetchError as exc:
        cause = exc.__cause__ or exc
        raise CLIError(
            EXIT_INCOMPLETE,
            f"the sync could not fetch every page ({one_line(shell_message(cause))}); "
            f"nothing was written and {str(dataset)!r} is unchanged; rerun later",
        ) from exc
    out(format_sync_report(report))
    return EXIT_OK
