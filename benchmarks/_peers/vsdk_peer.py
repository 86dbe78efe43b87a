"""Peer: vsdk-analytics' own fetcher (``fetch_with_stats``, the code behind ``fetch_sessions``).

Fetches every session into the typed Polars frame and writes it with ``write_parquet``,
as a user's script would. Reports ``FetchStats.seconds`` (the fetch alone) as ``fetch_s``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from _common import Outcome, main, parser

from vsdk_analytics import Credentials, write_parquet
from vsdk_analytics._api import fetch_with_stats


def work(args: argparse.Namespace) -> Outcome:
    frame, stats = asyncio.run(
        fetch_with_stats(
            Credentials(token=args.token),
            base_url=args.url,
            per_page=args.per_page,
            max_concurrency=args.concurrency,
            progress=False,
            transport=args.transport,
        )
    )
    write_parquet(frame, args.out / "sessions.parquet")

    def write_ids(path: Path) -> None:
        frame.select("session_id").write_parquet(path)

    details: dict[str, object] = {
        "max_concurrency": args.concurrency,
        "transport": args.transport,
        "per_page": stats.per_page,
        "pages": stats.pages,
        "requests": stats.requests,
        "retries": stats.retries,
        "throttled": stats.throttled,
        "peak_in_flight": stats.peak_in_flight,
        "fast_pages": stats.fast_pages,
    }
    return Outcome(frame.height, write_ids, fetch_s=stats.seconds, details=details)


if __name__ == "__main__":
    p = parser("vsdk-analytics fetch_sessions -> Parquet")
    p.add_argument("--concurrency", type=int, default=8, help="max_concurrency")
    p.add_argument("--transport", choices=["aiohttp", "httpx"], default="aiohttp")
    sys.exit(main("vsdk-analytics", p.parse_args(), work))
