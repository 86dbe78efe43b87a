"""Peer: vsdk-analytics as a user runs it (a `Client`, `fetch_sessions`, `write_parquet`).

Fetches every session into the typed Polars frame and writes it with ``write_parquet``;
with ``--to-parquet``, straight into the file instead (`fetch_sessions_to_parquet`, what
``vsdk-analytics fetch -o`` runs: row groups in the API's order, like the script's file).
Without ``--concurrency`` the library's defaults are used. Reports the phases: ``import``
(the modules a fetch needs), ``fetch`` (``FetchStats.seconds``), within it ``decode`` (summed
over pages, overlapping the requests) and ``frame`` (assembling after the last answer), and
``write``.
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()

import argparse  # noqa: E402 - timed from the first line
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import polars as pl  # noqa: E402 - the import phase includes what a fetch loads
from _common import Outcome, main, parser  # noqa: E402

import vsdk_analytics as va  # noqa: E402
from vsdk_analytics._client import AsyncClient  # noqa: E402, F401 - loads the fetch path

_IMPORTED = time.perf_counter()


def work(args: argparse.Namespace) -> Outcome:
    options = {} if args.concurrency is None else {"max_concurrency": args.concurrency}
    if args.to_parquet:
        return _to_parquet(args, options)
    with va.Client(
        va.Credentials(token=args.token), base_url=args.url, transport=args.transport, **options
    ) as client:
        frame, stats = client.fetch_sessions_with_stats(per_page=args.per_page, progress=False)
    written = time.perf_counter()
    va.write_parquet(frame, args.out / "sessions.parquet")
    write_s = time.perf_counter() - written

    def write_ids(path: Path) -> None:
        frame.select("session_id").write_parquet(path)

    details: dict[str, object] = {
        "max_concurrency": args.concurrency or "default",
        "transport": args.transport,
        "per_page": stats.per_page,
        "pages": stats.pages,
        "requests": stats.requests,
        "retries": stats.retries,
        "throttled": stats.throttled,
        "peak_in_flight": stats.peak_in_flight,
        "phases": {
            "import": _IMPORTED - _STARTED,
            "fetch": stats.seconds,
            "decode": stats.decode_seconds,
            "frame": stats.frame_seconds,
            "write": write_s,
        },
    }
    return Outcome(frame.height, write_ids, fetch_s=stats.seconds, details=details)


def _to_parquet(args: argparse.Namespace, options: dict[str, int]) -> Outcome:
    target = args.out / "sessions.parquet"
    stats = va.fetch_sessions_to_parquet(
        target,
        va.Credentials(token=args.token),
        base_url=args.url,
        transport=args.transport,
        per_page=args.per_page,
        progress=False,
        **options,
    )

    def write_ids(path: Path) -> None:
        pl.scan_parquet(target).select("session_id").sink_parquet(path)

    details: dict[str, object] = {
        "max_concurrency": args.concurrency or "default",
        "transport": args.transport,
        "pages": stats.pages,
        "requests": stats.requests,
        "phases": {"import": _IMPORTED - _STARTED, "fetch+write": stats.seconds},
    }
    return Outcome(stats.sessions, write_ids, fetch_s=stats.seconds, details=details)


if __name__ == "__main__":
    p = parser("vsdk-analytics fetch_sessions -> Parquet")
    p.add_argument("--concurrency", type=int, default=None, help="max_concurrency")
    p.add_argument("--transport", choices=["aiohttp", "httpx"], default="aiohttp")
    p.add_argument("--to-parquet", action="store_true", help="fetch_sessions_to_parquet")
    sys.exit(main("vsdk-analytics", p.parse_args(), work))
