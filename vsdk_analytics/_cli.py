"""The ``vsdk-analytics`` command line: the library's fetch, export, report and charts as commands.

Commands (``vsdk-analytics COMMAND --help`` shows each one's flags and an example):

``demo``
    Serve a realistic fake API on 127.0.0.1, fetch it with the real concurrent
    fetcher, print summary tables and write ``sessions.parquet`` and charts.
``fetch``
    Fetch every session of the account (credentials from the environment or
    ``--token-file``) into a Parquet file or a Hive-partitioned directory.
``report``
    Summary tables (and optionally charts) of a Parquet file or dataset.
``fake-server``
    Serve the fake API in the foreground and print the lines to point at it.

Output: results (tables, the demo's narrative, the fake server's URL and token) go to
stdout; progress bars, ``fetch``'s one-line summary, warnings and errors go to stderr,
so stdout can be piped (``report --format csv > tables.csv``).

Exit codes:

===  ==========================================================================
0    success
1    unexpected error (the message says to rerun with ``--debug``)
2    usage: unknown command, bad flag or flag value (argparse)
3    credentials or configuration: missing/malformed/expired credentials, an
     unreadable ``--token-file``, a bad base URL, the ``charts`` extra missing
4    the API refused: 401, 403, 404, 429 or 5xx after every retry, or answers
     that are not a sessions page
5    the API could not be reached: connection refused, DNS failure, timeouts
6    incomplete fetch: some pages failed after every retry; the sessions fetched
     are written next to the output (``X.parquet`` -> ``X.partial.parquet``,
     directory ``D`` -> ``D.partial``) and the output itself is left untouched
7    bad input or output path: a missing or unreadable Parquet file, one that is
     not `SESSIONS_SCHEMA`, a missing or unwritable output directory
130  interrupted (Ctrl-C)
===  ==========================================================================

Expected failures print one line, ``error: <what happened and what to do>``, and no
traceback; ``--debug`` adds the traceback and DEBUG logging of this library (httpx at
INFO; neither ever logs headers). Tokens and secrets are never printed, except the fake
server's own token by ``fake-server``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from importlib.util import find_spec
from ipaddress import ip_address
from pathlib import Path
from typing import TYPE_CHECKING, Final, TextIO

import polars as pl

from ._api import fetch_with_stats
from ._constants import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_PER_PAGE,
    ENV_API_KEY,
    ENV_AUTH_TOKEN,
    ENV_BASE_URL,
    ENV_SECRET_KEY,
    MAX_RETRIES,
    READ_TIMEOUT_SECONDS,
)
from ._credentials import Credentials
from ._dataset.files import Provenance, partition_columns
from ._dataset.parquet import check_target, parquet_info, read_parquet, write_parquet
from ._errors import (
    APIConnectionError,
    APIError,
    ConfigurationError,
    CredentialsError,
    DatasetConflictError,
    IncompleteFetchError,
    SchemaError,
)
from ._helpers import (
    data_quality,
    duration_distribution,
    status_breakdown,
    tag_counts,
    webhook_coverage,
)
from ._http import resolve_base_url
from ._options import time_range
from ._sync import run_sync
from ._time import check_time_zone, parse_instant

if TYPE_CHECKING:
    from ._fetch import FetchStats

__all__ = ["main"]

EXIT_OK: Final = 0
EXIT_UNEXPECTED: Final = 1
EXIT_USAGE: Final = 2
EXIT_CONFIG: Final = 3
EXIT_API: Final = 4
EXIT_UNREACHABLE: Final = 5
EXIT_INCOMPLETE: Final = 6
EXIT_PATH: Final = 7
EXIT_INTERRUPTED: Final = 130

_PROG: Final = "vsdk-analytics"
_CHARTS_EXTRA: Final = "pip install 'vsdk-analytics[charts]'"
_DEMO_DIR: Final = "vsdk-demo"
_DEMO_SESSIONS: Final = 5000
_DEMO_PER_PAGE_CAP: Final = 100
_DEMO_LATENCY: Final = 0.03
_DEMO_ERROR_RATE: Final = 0.02
_REPORT_SOURCES: Final = (Path("sessions.parquet"), Path(_DEMO_DIR) / "sessions.parquet")
_GROUPS: Final = ("tag", "deployment_id", "status")
_FORMATS: Final = ("table", "csv", "json", "markdown")
_LIST_SEPARATOR: Final = ";"
_TITLES: Final = {
    "duration_distribution": "Duration distribution (seconds)",
    "tag_counts": "Sessions by tag",
    "status_breakdown": "Sessions by status",
    "webhook_coverage": "Webhook coverage (share of sessions subscribed to each event)",
    "data_quality": "Data quality checks (sessions affected)",
}
_NONE_SHOWN: Final = "(none)"
_NULL_LABELS: Final = {
    "tag": "(no tag)",
    "status": "(no status)",
    "deployment_id": "(no deployment)",
}

_EXIT_CODES_HELP: Final = f"""\
exit codes:
  0    success
  1    unexpected error (rerun with --debug for the traceback)
  2    usage: unknown command, bad flag or value
  3    credentials or configuration (missing or expired credentials, unreadable
       --token-file, bad base URL, the charts extra not installed), or a dataset
       conflict: another sync holds the dataset (see sync --wait), or the output
       exists and is not this library's to replace (see fetch --overwrite)
  4    the API refused (401, 403, 404, 429/5xx after every retry, unusable answers),
       or sent a value the schema refuses under --strict
  5    the API could not be reached (connection refused, DNS, timeouts)
  6    incomplete fetch: the sessions fetched are written to X.partial.parquet
       (or directory D.partial); the output itself is not touched
  7    bad input or output path (missing or unreadable Parquet, wrong schema,
       missing or unwritable directory)
  130  interrupted (Ctrl-C)

credentials: {ENV_AUTH_TOKEN}, or {ENV_API_KEY} and {ENV_SECRET_KEY}
(or fetch --token-file FILE); never as flags. Base URL: --base-url or
{ENV_BASE_URL}."""


class CLIError(Exception):
    """An expected failure: one message line and an exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def _write(stream: TextIO, text: str) -> None:
    stream.write(text + "\n")


def _out(text: str = "") -> None:
    """A line of results on stdout."""
    _write(sys.stdout, text)


def _err(text: str) -> None:
    """A line of diagnostics on stderr."""
    _write(sys.stderr, text)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _show_warning(  # noqa: PLR0917 - the signature of warnings.showwarning
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Warnings as one ``warning:`` line (no source location) on stderr."""
    _err(f"warning: {_one_line(str(message))}")


def _configure_logging(debug: bool) -> None:
    """With --debug: DEBUG records of this library and INFO of httpx, on stderr."""
    if not debug:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name, level in (("vsdk_analytics", logging.DEBUG), ("httpx", logging.INFO)):
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.addHandler(handler)


# ---------------------------------------------------------------------------
# Argument types
# ---------------------------------------------------------------------------


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a number >= {minimum}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def _partition_names(values: Sequence[str] | None) -> list[str] | None:
    """``--partition-by`` values (repeated and/or comma-separated), validated by the library."""
    if not values:
        return None
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    try:
        return partition_columns(names)
    except ConfigurationError as exc:
        raise CLIError(EXIT_USAGE, f"--partition-by: {exc}") from None


# ---------------------------------------------------------------------------
# Shared pieces of the commands
# ---------------------------------------------------------------------------


def _read_token(source: str) -> str:
    """The token in ``--token-file`` (``-`` reads stdin); the token is never shown."""
    try:
        if source == "-":
            return sys.stdin.read()
        return Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CLIError(EXIT_CONFIG, f"cannot read the token file {source!r}: {reason}") from None


def _credentials(token_file: str | None) -> Credentials:
    if token_file is None:
        return Credentials.from_env()
    try:
        return Credentials(token=_read_token(token_file))
    except CredentialsError as exc:
        raise CredentialsError(f"--token-file {token_file}: {exc}") from None


def _check_output(path: Path, *, dataset: bool, overwrite: bool | None = True) -> None:
    """Fail before fetching when ``path`` cannot be written."""
    parent = path.parent
    if not parent.is_dir():
        raise CLIError(
            EXIT_PATH, f"cannot write {str(path)!r}: the directory {str(parent)!r} does not exist"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CLIError(
            EXIT_PATH, f"cannot write {str(path)!r}: the directory {str(parent)!r} is not writable"
        )
    try:
        check_target(path, dataset=dataset, overwrite=overwrite)
    except ConfigurationError as exc:
        raise CLIError(EXIT_PATH, f"cannot write {str(path)!r}: {exc}") from None


def _save_parquet(
    frame: pl.DataFrame,
    path: Path,
    *,
    profile: str,
    partition_by: list[str] | None,
    overwrite: bool | None = None,
    provenance: Provenance | None = None,
) -> None:
    try:
        write_parquet(
            frame,
            path,
            profile="native" if profile == "native" else "bi",
            partition_by=partition_by,
            overwrite=overwrite,
            provenance=provenance,
        )
    except (ConfigurationError, OSError) as exc:
        raise CLIError(EXIT_PATH, f"cannot write {str(path)!r}: {exc}") from None


def _partial_path(path: Path, *, dataset: bool) -> Path:
    """Where an incomplete fetch goes: X.parquet -> X.partial.parquet, directory D -> D.partial."""
    if dataset:
        return path.with_name(path.name + ".partial")
    if path.suffix.lower() == ".parquet":
        return path.with_name(f"{path.stem}.partial{path.suffix}")
    return path.with_name(path.name + ".partial.parquet")


def _fetch_summary(frame: pl.DataFrame, stats: FetchStats) -> str:
    retried = f", {stats.retries:,} retried" if stats.retries else ""
    return (
        f"{frame.height:,} sessions in {stats.pages:,} pages "
        f"({stats.requests:,} requests{retried}, up to {stats.peak_in_flight} at once) "
        f"in {stats.seconds:.2f} s"
    )


def _read_sessions(path: Path) -> pl.DataFrame:
    try:
        return read_parquet(path)
    except ConfigurationError as exc:
        raise CLIError(EXIT_PATH, f"cannot read {str(path)!r}: {exc}") from None
    except (OSError, pl.exceptions.PolarsError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CLIError(
            EXIT_PATH, f"cannot read {str(path)!r} as a sessions Parquet file: {first}"
        ) from None


def _charts_available() -> bool:
    return find_spec("altair") is not None and find_spec("vl_convert") is not None


def _save_charts(
    frame: pl.DataFrame, directory: Path, *, self_contained: bool, time_zone: str = "UTC"
) -> list[Path]:
    if not _charts_available():
        raise CLIError(EXIT_CONFIG, f"charts need the optional charts extra: {_CHARTS_EXTRA}")
    from .charts import save_charts  # noqa: PLC0415 - Altair is slow to import; only when used

    try:
        return save_charts(frame, directory, self_contained=self_contained, time_zone=time_zone)
    except OSError as exc:
        raise CLIError(EXIT_PATH, f"cannot write the charts to {str(directory)!r}: {exc}") from None


# ---------------------------------------------------------------------------
# Tables: computing, and showing them to people or programs
# ---------------------------------------------------------------------------


def _report_tables(frame: pl.DataFrame, by: str | None) -> dict[str, pl.DataFrame]:
    """The report's tables, in order; a table is never grouped by its own column."""
    return {
        "duration_distribution": duration_distribution(frame, by=by),
        "tag_counts": tag_counts(frame, by=None if by == "tag" else by),
        "status_breakdown": status_breakdown(frame, by=None if by == "status" else by),
        "webhook_coverage": webhook_coverage(frame, by=by),
        "data_quality": data_quality(frame),
    }


def _for_people(name: str, table: pl.DataFrame) -> pl.DataFrame:
    """A table reshaped for reading: shares in percent, nulls named, lists left out."""
    if name == "webhook_coverage":
        shares = [c for c in table.columns if c.endswith("_share")]
        groups = table.columns[: table.columns.index("sessions")]
        table = table.select(
            *groups,
            "sessions",
            "with_webhook",
            "endpoints",
            *((pl.col(c) * 100).alias(c.removesuffix("_share") + " %") for c in shares),
        )
    elif name == "data_quality":
        table = table.select("check", "sessions", "description")
    elif "share" in table.columns:
        table = table.with_columns((pl.col("share") * 100).alias("share %")).drop("share")
    return table.with_columns(
        pl.col(name).fill_null(_NULL_LABELS.get(name, _NONE_SHOWN))
        for name, dtype in table.schema.items()
        if dtype == pl.String()
    )


def _table_config() -> pl.Config:
    return pl.Config(
        tbl_rows=-1,
        tbl_cols=-1,
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
        tbl_formatting="UTF8_FULL_CONDENSED",
        tbl_width_chars=240,
        fmt_str_lengths=100,
        float_precision=1,
        thousands_separator=",",
    )


def _print_tables(tables: dict[str, pl.DataFrame]) -> None:
    with _table_config():
        for name, table in tables.items():
            _out(_TITLES[name])
            _out(str(_for_people(name, table)))
            _out()


def _markdown_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _markdown(table: pl.DataFrame) -> list[str]:
    """A GitHub pipe table; numbers right-aligned."""
    header = "| " + " | ".join(_markdown_cell(c) for c in table.columns) + " |"
    align = (
        "|" + "|".join(" ---: " if dtype.is_numeric() else " --- " for dtype in table.dtypes) + "|"
    )
    rows = ["| " + " | ".join(_markdown_cell(v) for v in row) + " |" for row in table.iter_rows()]
    return [header, align, *rows]


def _flat(table: pl.DataFrame) -> pl.DataFrame:
    """List columns joined with ``;`` (CSV holds no lists)."""
    return table.with_columns(pl.col(pl.List(pl.String)).list.join(_LIST_SEPARATOR))


def _render(tables: dict[str, pl.DataFrame], fmt: str) -> None:
    if fmt == "table":
        _print_tables(tables)
    elif fmt == "json":
        document = {name: json.loads(table.write_json()) for name, table in tables.items()}
        _out(json.dumps(document, indent=2, ensure_ascii=False))
    elif fmt == "csv":
        blocks = [f"# {name}\n{_flat(table).write_csv()}" for name, table in tables.items()]
        sys.stdout.write("\n".join(blocks))
    else:
        for i, (name, table) in enumerate(tables.items()):
            if i:
                _out()
            _out(f"### {_TITLES[name]}")
            _out()
            for line in _markdown(_for_people(name, table)):
                _out(line)


# ---------------------------------------------------------------------------
# The commands
# ---------------------------------------------------------------------------


def _since_until(args: argparse.Namespace) -> tuple[datetime | None, datetime | None]:
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
        raise CLIError(EXIT_USAGE, f"--since/--until: {exc}") from None
    return since, until


def _cmd_fetch(args: argparse.Namespace) -> int:
    output = Path(args.output)
    partition_by = _partition_names(args.partition_by)
    dataset = bool(partition_by)
    since, until = _since_until(args)
    overwrite = True if args.overwrite else None
    _check_output(output, dataset=dataset, overwrite=overwrite)
    base_url = resolve_base_url(args.base_url)
    credentials = _credentials(args.token_file)
    source = Provenance(
        fetched_at=datetime.now(timezone.utc),
        base_url=base_url,
        since=since,
        until=until,
    )
    try:
        frame, stats = run_sync(
            lambda: fetch_with_stats(
                credentials,
                base_url=base_url,
                per_page=args.per_page,
                max_concurrency=args.max_concurrency,
                max_retries=args.max_retries,
                timeout=args.timeout,
                progress=args.progress,
                since=since,
                until=until,
                allow_incomplete=args.allow_incomplete,
                strict=args.strict,
            )
        )
    except IncompleteFetchError as exc:
        partial = _partial_path(output, dataset=dataset)
        _save_parquet(
            exc.sessions,
            partial,
            profile=args.profile,
            partition_by=partition_by,
            overwrite=overwrite,
            provenance=source,
        )
        cause = f" (first: {_one_line(str(exc.__cause__))})" if exc.__cause__ else ""
        raise CLIError(
            EXIT_INCOMPLETE,
            f"the fetch is incomplete: {exc.reason or 'pages failed'}{cause}; wrote the "
            f"{exc.sessions.height:,} sessions fetched to {str(partial)!r} and left "
            f"{str(output)!r} untouched; rerun later, raise --max-retries, or pass "
            "--allow-incomplete to accept a partial result",
        ) from exc
    _save_parquet(
        frame,
        output,
        profile=args.profile,
        partition_by=partition_by,
        overwrite=overwrite,
        provenance=source,
    )
    _err(f"fetched {_fetch_summary(frame, stats)} -> {output}")
    return EXIT_OK


def _cmd_sync(args: argparse.Namespace) -> int:
    from ._dataset import format_sync_report, sync_sessions  # noqa: PLC0415 - on demand

    dataset = Path(args.dataset)
    if dataset.exists() and not dataset.is_dir():
        raise CLIError(EXIT_PATH, f"{str(dataset)!r} is a file; sync writes a dataset directory")
    _check_output(dataset, dataset=True)
    base_url = resolve_base_url(args.base_url)
    credentials = _credentials(args.token_file)
    try:
        report = sync_sessions(
            dataset,
            credentials,
            base_url=base_url,
            profile=args.profile,
            per_page=args.per_page,
            max_concurrency=args.max_concurrency,
            max_retries=args.max_retries,
            timeout=args.timeout,
            progress=args.progress,
            full=args.full,
            lock_timeout=args.wait,
        )
    except IncompleteFetchError as exc:
        raise CLIError(
            EXIT_INCOMPLETE,
            f"the sync could not fetch every page ({_one_line(str(exc.__cause__ or exc))}); "
            f"nothing was written and {str(dataset)!r} is unchanged; rerun later",
        ) from exc
    _out(format_sync_report(report))
    return EXIT_OK


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


def _cmd_report(args: argparse.Namespace) -> int:
    source = _report_source(args.path)
    if args.charts is not None and not _charts_available():
        raise CLIError(EXIT_CONFIG, f"--charts needs the optional charts extra: {_CHARTS_EXTRA}")
    frame = _read_sessions(source)
    _err(f"read {frame.height:,} sessions from {source}")
    _err(_provenance_line(source))
    _render(_report_tables(frame, args.by), args.format)
    sys.stdout.flush()
    if args.charts is not None:
        written = _save_charts(
            frame,
            Path(args.charts),
            self_contained=args.offline_html,
            time_zone=args.time_zone,
        )
        _err(f"wrote {len(written)} chart files to {args.charts}")
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from .testing import FakeServer  # noqa: PLC0415 - only the demo needs the fake API

    started = time.perf_counter()
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CLIError(EXIT_PATH, f"cannot create {str(out)!r}: {exc.strerror or exc}") from None
    _check_output(out / "sessions.parquet", dataset=False)
    charts = not args.no_charts
    if charts and not _charts_available():
        _err(f"note: charts skipped; they need the optional charts extra: {_CHARTS_EXTRA}")
        charts = False

    _out("vsdk-analytics demo: a fake VideoSDK API on this machine, fetched like the real one.")
    _out()
    with FakeServer(
        sessions=args.sessions,
        max_per_page=_DEMO_PER_PAGE_CAP,
        latency=_DEMO_LATENCY,
        error_rate=_DEMO_ERROR_RATE,
    ) as server:
        _out(f"Serving {args.sessions:,} fake sessions over 4 weeks at {server.url}")
        _out(
            f"  (at most {_DEMO_PER_PAGE_CAP} per page, {_DEMO_LATENCY * 1000:.0f} ms per "
            f"request, {_DEMO_ERROR_RATE:.0%} of requests fail with a 5xx and are retried)"
        )
        _out(f"Fetching with up to {DEFAULT_MAX_CONCURRENCY} requests at once...")
        sys.stdout.flush()
        frame, stats = run_sync(
            lambda: fetch_with_stats(
                server.credentials(),
                base_url=server.url,
                progress=args.progress,
            )
        )
    _out(f"Fetched {_fetch_summary(frame, stats)}.")
    _out()
    tables = _report_tables(frame, None)
    _print_tables(
        {k: tables[k] for k in ("duration_distribution", "tag_counts", "status_breakdown")}
    )

    parquet = out / "sessions.parquet"
    _save_parquet(frame, parquet, profile="bi", partition_by=None)
    written = [parquet]
    if charts:
        written += _save_charts(
            frame, out, self_contained=args.offline_html, time_zone=args.time_zone
        )

    _out(f"Wrote to {out}{os.sep}:")
    _out(f"  {parquet.name:<24} {frame.height:,} sessions, bi profile (BI tools, DuckDB, pandas)")
    stems = dict.fromkeys(p.stem for p in written[1:])
    for stem in stems:
        kinds = " + ".join(p.suffix.lstrip(".").upper() for p in written[1:] if p.stem == stem)
        _out(f"  {stem + '.*':<24} chart ({kinds})")
    _out()
    _out(
        f"The fetch took {stats.pages:,} pages, {stats.requests:,} requests, {stats.seconds:.2f} s."
    )
    _out(f"Summarize the file again:  {_PROG} report {parquet}")
    _out()
    _out("The same against the real API:")
    _out(f"  export {ENV_API_KEY}=<your API key>")
    _out(f"  export {ENV_SECRET_KEY}=<your secret>    (or: export {ENV_AUTH_TOKEN}=<a token>)")
    _out(f"  {_PROG} fetch -o sessions.parquet")
    _out(f"  {_PROG} report sessions.parquet --charts charts/")
    _out()
    _out(f"Demo done in {time.perf_counter() - started:.1f} s.")
    return EXIT_OK


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _cmd_fake_server(args: argparse.Namespace) -> int:
    from .testing import serve_forever  # noqa: PLC0415
    from .testing.__main__ import api_from_args  # noqa: PLC0415

    if not _is_loopback(args.host):
        raise CLIError(
            EXIT_USAGE,
            f"--host {args.host}: the fake server listens on loopback only (127.0.0.1, ::1, "
            "localhost); it has no TLS and hands out tokens",
        )
    api = api_from_args(args)

    def ready(url: str) -> None:
        token = api.token(args.token_ttl)
        _out(f"Fake VideoSDK API serving {api.session_count:,} sessions at {url}")
        _out(f"URL:   {url}")
        _out(f"Token: {token}")
        _out()
        _out("To use it, paste into another shell:")
        _out(f"export {ENV_BASE_URL}={url}")
        _out(f"export {ENV_AUTH_TOKEN}={token}")
        _out(f"{_PROG} fetch -o sessions.parquet")
        sys.stdout.flush()
        _err("Serving until Ctrl-C.")

    try:
        serve_forever(args.host, args.port, api=api, on_ready=ready)
    except OSError as exc:
        raise CLIError(
            EXIT_CONFIG, f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
        ) from None
    _err(f"Stopped after {api.stats.requests:,} requests.")
    return EXIT_OK


# ---------------------------------------------------------------------------
# The parser
# ---------------------------------------------------------------------------

_MAIN_EPILOG: Final = f"""\
examples:
  {_PROG} demo                                 # try everything offline, in seconds
  export {ENV_API_KEY}=... {ENV_SECRET_KEY}=...
  {_PROG} fetch -o sessions.parquet
  {_PROG} report sessions.parquet --by tag --charts charts/

{_EXIT_CODES_HELP}
"""

_DEMO_EPILOG: Final = f"""\
example:
  {_PROG} demo --out /tmp/vsdk-demo --sessions 20000

Starts a fake VideoSDK API on 127.0.0.1 ({_DEMO_SESSIONS:,} sessions over 4 weeks by
default; at most {_DEMO_PER_PAGE_CAP} per page, {_DEMO_LATENCY * 1000:.0f} ms latency, a few 5xx
answers), fetches it with the real concurrent fetcher, prints summary tables and
writes sessions.parquet and the charts (HTML + PNG) into --out. Nothing leaves this
machine.
"""

_FETCH_EPILOG: Final = f"""\
examples:
  export {ENV_API_KEY}=... {ENV_SECRET_KEY}=...
  {_PROG} fetch -o sessions.parquet
  {_PROG} fetch -o sessions/ --partition-by start_date --since 2025-06-01T00:00:00Z
  {_PROG} fetch -o sessions.parquet --token-file ~/.videosdk-token

Credentials come from {ENV_AUTH_TOKEN}, or {ENV_API_KEY} and {ENV_SECRET_KEY}, or
--token-file (a file holding a token; - reads stdin); never from a flag value.
The one-line summary goes to stderr; stdout stays empty. Times must carry a zone
(Z or +02:00). If some pages fail after every retry, the sessions fetched go to
X.partial.parquet (or D.partial) and the exit code is 6.
"""

_REPORT_EPILOG: Final = f"""\
examples:
  {_PROG} report sessions.parquet
  {_PROG} report sessions/ --by tag --format markdown > report.md
  {_PROG} report --format json | jq .status_breakdown
  {_PROG} report sessions.parquet --charts charts/

PATH is a Parquet file or a Hive-partitioned directory written by `fetch`. Without
PATH: ./sessions.parquet if it exists, else ./vsdk-demo/sessions.parquet (the demo's).
Tables: duration_distribution, tag_counts, status_breakdown, webhook_coverage,
data_quality. --by groups every table except data_quality, and never a table by its
own column (tag_counts by tag, status_breakdown by status stay ungrouped).
table and markdown are for reading (shares in percent, some columns condensed);
csv (each table after a '# name' line, lists joined with ';') and json (an object
with one key per table) hold every column with full precision.
"""

_SYNC_EPILOG: Final = f"""\
examples:
  {_PROG} sync sessions/                  # first run: a full fetch into sessions/
  {_PROG} sync sessions/                  # later runs: only new pages + running sessions
  {_PROG} sync sessions/ --full           # now and then: every page, merged

DIR is a Hive-partitioned dataset (start_date=YYYY-MM-DD/part-0.parquet) that BI tools
and DuckDB read as one table; its sync state lives in DIR/_vsdk_sync.json. A sync
killed at any point leaves the previous dataset readable; the next one repairs it.
Prints what changed: new, updated, unchanged, pages fetched against a full fetch.
"""

_FAKE_SERVER_EPILOG: Final = f"""\
example:
  {_PROG} fake-server --sessions 20000 --max-per-page 100 --latency 0.05 --port 8080
  # then, in another shell, paste the two export lines it prints and run:
  {_PROG} fetch -o sessions.parquet

Prints the URL, a token for the fake account (24 h) and the export lines, then
serves until Ctrl-C (exit 0). Loopback only.
"""


def _subparser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    *,
    summary: str,
    epilog: str,
    run: Callable[[argparse.Namespace], int],
    parents: Sequence[argparse.ArgumentParser] = (),
    add_help: bool = True,
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        name,
        help=summary,
        description=summary,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=list(parents),
        add_help=add_help,
    )
    parser.set_defaults(run=run)
    return parser


def _time_zone_type(text: str) -> str:
    try:
        return check_time_zone(text)
    except ConfigurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_time_zone(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--time-zone",
        metavar="ZONE",
        type=_time_zone_type,
        default="UTC",
        help=f"IANA time zone of {what} (e.g. America/New_York; default UTC)",
    )


def _add_progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show a progress bar on stderr (default: only when stderr is a terminal)",
    )


def _add_connection(parser: argparse.ArgumentParser) -> None:
    """The options `fetch` and `sync` share: credentials, URL, paging, retries, profile."""
    parser.add_argument(
        "--token-file",
        metavar="FILE",
        help="read the token from FILE ('-': stdin) instead of the environment",
    )
    parser.add_argument(
        "--base-url", metavar="URL", help=f"API base URL (default: ${ENV_BASE_URL} or the vendor's)"
    )
    parser.add_argument(
        "--per-page",
        type=_positive_int,
        default=DEFAULT_PER_PAGE,
        metavar="N",
        help=f"sessions per page to ask for (default {DEFAULT_PER_PAGE})",
    )
    parser.add_argument(
        "--max-concurrency",
        type=_positive_int,
        default=DEFAULT_MAX_CONCURRENCY,
        metavar="N",
        help=f"most requests in flight (default {DEFAULT_MAX_CONCURRENCY}; lowered on HTTP 429)",
    )
    parser.add_argument(
        "--max-retries",
        type=_non_negative_int,
        default=MAX_RETRIES,
        metavar="N",
        help=f"retries per page on 429/5xx/network errors (default {MAX_RETRIES})",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=READ_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=f"seconds one request may take (default {READ_TIMEOUT_SECONDS:g})",
    )
    parser.add_argument(
        "--profile",
        choices=("bi", "native"),
        default="bi",
        help="bi: flat plain types for BI tools (default); native: lists kept, for Polars/Arrow",
    )


def _version() -> str:
    from . import __version__  # noqa: PLC0415 - read from package metadata on demand

    return __version__


def _build_parser(prog: str) -> argparse.ArgumentParser:
    from .testing.__main__ import _parser as fake_server_parser  # noqa: PLC0415

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="full tracebacks and DEBUG logging on stderr",
    )
    parser = argparse.ArgumentParser(
        prog=prog,
        description="VideoSDK Agent Cloud sessions as typed Polars frames and BI-ready Parquet.",
        epilog=_MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument(
        "--debug", action="store_true", help="full tracebacks and DEBUG logging on stderr"
    )
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    commands.required = True

    demo = _subparser(
        commands,
        "demo",
        summary="fetch a realistic fake API on this machine: tables, Parquet and charts",
        epilog=_DEMO_EPILOG,
        run=_cmd_demo,
        parents=[common],
    )
    demo.add_argument(
        "--out", default=_DEMO_DIR, metavar="DIR", help=f"output folder (default ./{_DEMO_DIR})"
    )
    demo.add_argument(
        "--sessions",
        type=_positive_int,
        default=_DEMO_SESSIONS,
        metavar="N",
        help=f"sessions the fake API holds (default {_DEMO_SESSIONS:,})",
    )
    demo.add_argument("--no-charts", action="store_true", help="skip the charts")
    _add_time_zone(demo, "the charts' days and hours")
    demo.add_argument(
        "--offline-html",
        action="store_true",
        help="embed the Vega JavaScript in each HTML chart (~900 kB each, a few seconds "
        "more) so it opens without internet",
    )
    _add_progress(demo)

    fetch = _subparser(
        commands,
        "fetch",
        summary="fetch every session of the account into Parquet",
        epilog=_FETCH_EPILOG,
        run=_cmd_fetch,
        parents=[common],
    )
    fetch.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="PATH",
        help="Parquet file to write, or the dataset directory with --partition-by",
    )
    _add_connection(fetch)
    fetch.add_argument(
        "--partition-by",
        action="append",
        metavar="COL",
        help="write a Hive dataset directory partitioned by COL (start_date, tag, "
        "deployment_id, status...); repeat or use a comma list",
    )
    fetch.add_argument(
        "--since",
        metavar="TIME",
        help="only sessions created at or after TIME: ISO-8601 with a zone, a date "
        "(midnight in --time-zone) or a span back from now (7d, 24h, 30m)",
    )
    fetch.add_argument(
        "--until",
        metavar="TIME",
        help="only sessions created before TIME (same forms as --since)",
    )
    fetch.add_argument(
        "--strict",
        action="store_true",
        help="exit 4 on the first value that does not fit the schema, instead of keeping "
        "it in the extra column with a warning",
    )
    fetch.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="write what was fetched (with a warning) when the fetch cannot prove it saw "
        "every session, instead of exiting 6",
    )
    fetch.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the output even when it is a synced dataset or was not written by "
        "vsdk-analytics (default: only files and datasets it wrote, never a synced one)",
    )
    _add_time_zone(fetch, "plain dates in --since/--until")
    _add_progress(fetch)

    sync = _subparser(
        commands,
        "sync",
        summary="bring a Hive-partitioned Parquet dataset up to date (incremental)",
        epilog=_SYNC_EPILOG,
        run=_cmd_sync,
        parents=[common],
    )
    sync.add_argument("dataset", metavar="DIR", help="the dataset directory (created if missing)")
    sync.add_argument(
        "--full",
        action="store_true",
        help="fetch every page and merge (catches late changes to finished sessions)",
    )
    sync.add_argument(
        "--wait",
        type=_positive_float,
        default=0.0,
        metavar="SECONDS",
        help="wait up to SECONDS for another sync of DIR to finish (default: exit 3 at once)",
    )
    _add_connection(sync)
    _add_progress(sync)

    report = _subparser(
        commands,
        "report",
        summary="summary tables (and charts) of a sessions Parquet file or dataset",
        epilog=_REPORT_EPILOG,
        run=_cmd_report,
        parents=[common],
    )
    report.add_argument(
        "path",
        nargs="?",
        metavar="PATH",
        help="Parquet file or dataset directory (default: see below)",
    )
    report.add_argument("--by", choices=_GROUPS, help="group the tables by this column")
    report.add_argument(
        "--format", choices=_FORMATS, default="table", help="output format (default table)"
    )
    report.add_argument("--charts", metavar="DIR", help="also write the charts (HTML + PNG) to DIR")
    _add_time_zone(report, "the charts' days and hours")
    report.add_argument(
        "--offline-html",
        action="store_true",
        help="embed the Vega JavaScript in each HTML chart so it opens without internet",
    )

    _subparser(
        commands,
        "fake-server",
        summary="serve the fake VideoSDK API on loopback until Ctrl-C",
        epilog=_FAKE_SERVER_EPILOG,
        run=_cmd_fake_server,
        parents=[fake_server_parser(), common],
        add_help=False,
    )
    return parser


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------


_EXIT_BY_ERROR: Final[tuple[tuple[type[BaseException], int], ...]] = (
    (ConfigurationError, EXIT_CONFIG),  # CredentialsError included
    (DatasetConflictError, EXIT_CONFIG),
    (APIConnectionError, EXIT_UNREACHABLE),  # APITimeoutError included
    (APIError, EXIT_API),  # APIStatusError, ResponseFormatError
    (SchemaError, EXIT_API),  # --strict: the API sent a value the schema refuses
    (IncompleteFetchError, EXIT_INCOMPLETE),
)


def _classify(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one-line message of a failure."""
    if isinstance(exc, CLIError):
        return exc.code, exc.message
    for kind, code in _EXIT_BY_ERROR:
        if isinstance(exc, kind):
            return code, str(exc)
    if isinstance(exc, ImportError) and "vsdk-analytics[charts]" in str(exc):
        return EXIT_CONFIG, str(exc)
    return (
        EXIT_UNEXPECTED,
        f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback, "
        "and please report it)",
    )


def _exit_status(code: object) -> int:
    """The exit status of a ``SystemExit`` code (argparse: 0 for --help, 2 for usage)."""
    if code is None:
        return EXIT_OK
    return code if isinstance(code, int) else EXIT_UNEXPECTED


def _prog() -> str:
    argv0 = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return "python -m vsdk_analytics" if argv0 == "__main__.py" else _PROG


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``vsdk-analytics`` command line.

    Parameters
    ----------
    argv
        The arguments after the program name; None reads ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit code (see the module documentation).
    """
    parser = _build_parser(_prog())
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return _exit_status(exc.code)
    debug = bool(args.debug)
    _configure_logging(debug)
    try:
        with warnings.catch_warnings():
            if not debug:
                warnings.showwarning = _show_warning
            run: Callable[[argparse.Namespace], int] = args.run
            return run(args)
    except KeyboardInterrupt:
        _err("error: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`report | head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_UNEXPECTED
    except Exception as exc:
        code, message = _classify(exc)
        if debug:
            traceback.print_exception(exc, file=sys.stderr)
        _err(f"error: {_one_line(message)}")
        return code
