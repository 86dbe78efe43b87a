"""The ``demo`` and ``fake-server`` commands: the fake VideoSDK API on this machine.

``demo`` serves a realistic fake API on 127.0.0.1, fetches it with the real concurrent
fetcher, prints summary tables and writes ``sessions.parquet`` and the charts.
``fake-server`` serves the same API in the foreground and prints the lines to point
``fetch`` at it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Final

from vsdk_analytics._constants import (
    DEFAULT_MAX_CONCURRENCY,
    ENV_API_KEY,
    ENV_AUTH_TOKEN,
    ENV_BASE_URL,
    ENV_SECRET,
)
from vsdk_analytics._http import is_loopback

from .errors import EXIT_CONFIG, EXIT_OK, EXIT_PATH, EXIT_USAGE, CLIError
from .fetching import open_client
from .files import CHARTS_EXTRA, charts_available, check_output, save_charts, save_parquet
from .render import err, fetch_summary, out, print_tables
from .report import report_tables, with_names

__all__ = [
    "DEMO_ERROR_RATE",
    "DEMO_LATENCY",
    "DEMO_PER_PAGE_CAP",
    "DEMO_SESSIONS",
    "PROG",
    "run_demo",
    "run_fake_server",
]

PROG: Final = "vsdk-analytics"
DEMO_SESSIONS: Final = 5000
DEMO_PER_PAGE_CAP: Final = 100
DEMO_LATENCY: Final = 0.03
DEMO_ERROR_RATE: Final = 0.02


def run_demo(args: argparse.Namespace) -> int:
    """``demo``: fetch the fake API, print tables, write Parquet and charts into --out."""
    from vsdk_analytics.testing import FakeServer  # noqa: PLC0415 - only the demo needs the fake API

    started = time.perf_counter()
    directory = Path(args.out)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CLIError(
            EXIT_PATH, f"cannot create {str(directory)!r}: {exc.strerror or exc}"
        ) from None
    check_output(directory / "sessions.parquet", dataset=False)
    charts = not args.no_charts
    if charts and not charts_available():
        err(f"note: charts skipped; they need the optional charts extra: {CHARTS_EXTRA}")
        charts = False

    out("vsdk-analytics demo: a fake VideoSDK API on this machine, fetched like the real one.")
    out()
    with FakeServer(
        sessions=args.sessions,
        max_per_page=DEMO_PER_PAGE_CAP,
        latency=DEMO_LATENCY,
        error_rate=DEMO_ERROR_RATE,
    ) as server:
        out(f"Serving {args.sessions:,} fake sessions over 4 weeks at {server.url}")
        out(
            f"  (at most {DEMO_PER_PAGE_CAP} per page, {DEMO_LATENCY * 1000:.0f} ms per "
            f"request, {DEMO_ERROR_RATE:.0%} of requests fail with a 5xx and are retried)"
        )
        out(f"Fetching with up to {DEFAULT_MAX_CONCURRENCY} requests at once...")
        sys.stdout.flush()
        with open_client(args, server.credentials(), server.url) as client:
            frame, stats = client.fetch_sessions_with_stats(progress=args.progress)
            named = with_names(frame, client.fetch_deployments)
    out(f"Fetched {fetch_summary(frame, stats)}.")
    out()
    tables = report_tables(named, None)
    shown = ("duration_distribution", "tag_counts", "status_breakdown", "deployments")
    print_tables({k: tables[k] for k in shown})

    parquet = directory / "sessions.parquet"
    save_parquet(frame, parquet, profile="bi", partition_by=None)
    written = [parquet]
    if charts:
        written += save_charts(frame, directory, cdn=args.cdn, time_zone=args.time_zone)

    out(f"Wrote to {directory}{os.sep}:")
    out(f"  {parquet.name:<24} {frame.height:,} sessions, bi profile (BI tools, DuckDB, pandas)")
    stems = dict.fromkeys(p.stem for p in written[1:])
    for stem in stems:
        kinds = " + ".join(p.suffix.lstrip(".").upper() for p in written[1:] if p.stem == stem)
        out(f"  {stem + '.*':<24} chart ({kinds})")
    out()
    out(f"Summarize the file again:  {PROG} report {parquet}")
    out()
    out("The same against the real API:")
    out(f"  export {ENV_API_KEY}=<your API key>")
    out(f"  export {ENV_SECRET}=<your secret>        (or: export {ENV_AUTH_TOKEN}=<a token>)")
    out(f"  {PROG} fetch -o sessions.parquet")
    out(f"  {PROG} report sessions.parquet --charts charts/")
    out()
    out(f"Demo done in {time.perf_counter() - started:.1f} s.")
    return EXIT_OK


def run_fake_server(args: argparse.Namespace) -> int:
    """``fake-server``: serve the fake API on loopback until Ctrl-C."""
    from vsdk_analytics.testing import serve_forever  # noqa: PLC0415
    from vsdk_analytics.testing.__main__ import api_from_args  # noqa: PLC0415

    if not is_loopback(args.host):
        raise CLIError(
            EXIT_USAGE,
            f"--host {args.host}: the fake server listens on loopback only (127.0.0.1, ::1, "
            "localhost); it has no TLS and hands out tokens",
        )
    api = api_from_args(args)

    def ready(url: str) -> None:
        token = api.token(args.token_ttl)
        out(f"Fake VideoSDK API serving {api.session_count:,} sessions at {url}")
        out(f"URL:   {url}")
        out(f"Token: {token}")
        out()
        out("To use it, paste into another shell:")
        out(f"export {ENV_BASE_URL}={url}")
        out(f"export {ENV_AUTH_TOKEN}={token}")
        out(f"{PROG} fetch -o sessions.parquet")
        sys.stdout.flush()
        err("Serving until Ctrl-C.")

    try:
        serve_forever(args.host, args.port, api=api, on_ready=ready)
    except OSError as exc:
        raise CLIError(
            EXIT_CONFIG, f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
        ) from None
    err(f"Stopped after {api.stats.requests:,} requests.")
    return EXIT_OK
