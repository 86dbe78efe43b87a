"""``python -m vsdk_analytics.testing``: serve the fake VideoSDK API from its own process.

Prints, once listening, three ``NAME=value`` lines on stdout (flushed) and then serves until
killed::

    VIDEOSDK_API_BASE_URL=http://127.0.0.1:54321
    VIDEOSDK_AUTH_TOKEN=eyJhbGciOi...
    VIDEOSDK_API_KEY=fake-videosdk-api-key

For benchmarks: start it with ``subprocess.Popen(..., stdout=PIPE)``, read the three lines,
then point the client at the URL.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import get_args

from vsdk_analytics._constants import ENV_API_KEY, ENV_AUTH_TOKEN, ENV_BASE_URL
from vsdk_analytics._errors import ConfigurationError
from vsdk_analytics.testing._config import (
    FAKE_API_KEY,
    FAKE_SECRET,
    FAULT_KINDS,
    EchoPerPage,
    FakeConfig,
    FaultKind,
    Order,
    RetryAfterStyle,
    TotalMode,
)
from vsdk_analytics.testing._server import serve_forever
from vsdk_analytics.testing._service import FakeVideoSDK

__all__ = ["api_from_args", "fake_server_parser", "main"]


def _fault(text: str) -> tuple[FaultKind, float]:
    kind, sep, probability = text.partition("=")
    for known in FAULT_KINDS:
        if kind == known and sep:
            try:
                return known, float(probability)
            except ValueError:
                break
    msg = f"expected KIND=PROBABILITY with KIND one of {', '.join(FAULT_KINDS)}, got {text!r}"
    raise argparse.ArgumentTypeError(msg)


def fake_server_parser() -> argparse.ArgumentParser:
    """The flags of ``python -m vsdk_analytics.testing`` (also ``vsdk-analytics fake-server``)."""
    parser = argparse.ArgumentParser(
        prog="python -m vsdk_analytics.testing",
        description="Serve the fake VideoSDK Agent Cloud API until killed.",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    add("--port", type=int, default=0, help="port to bind (default 0: a free port)")
    add("--sessions", type=int, default=1000, help="sessions to generate (default 1000)")
    add("--seed", type=int, default=0, help="seed of data, errors and faults (default 0)")
    add("--token-ttl", type=float, default=24 * 3600.0, help="printed token's lifetime (s)")
    add("--api-key", default=FAKE_API_KEY, help="the fake account's API key")
    add("--secret", default=FAKE_SECRET, help="the fake account's secret (never printed)")
    add("--max-per-page", type=int, default=1000, help="perPage cap (0: none)")
    add(
        "--echo-per-page",
        choices=get_args(EchoPerPage),
        default="served",
        help="pageInfo.perPage: the served (capped) size, or the asked one (a lying server)",
    )
    add("--latency", type=float, default=0.0, help="seconds added to every request")
    add("--jitter", type=float, default=0.0, help="random extra seconds in [0, J] per request")
    add("--error-rate", type=float, default=0.0, help="fraction of list requests with 5xx")
    add("--rate-limit", type=float, default=None, help="requests per second before 429")
    add("--rate-burst", type=int, default=None, help="token bucket size")
    add("--retry-after", choices=get_args(RetryAfterStyle), default="seconds")
    add(
        "--rate-limit-headers",
        action="store_true",
        help="with --rate-limit, send X-RateLimit-* and RateLimit-* headers",
    )
    add("--insert-every", type=int, default=None, help="insert a session every N list requests")
    add("--delete-every", type=int, default=None, help="delete a session every N list requests")
    add("--total-mode", choices=get_args(TotalMode), default="items")
    add("--total-items", type=int, default=None, help="a fixed (lying) total the pageInfo claims")
    add("--order", choices=get_args(Order), default="newest_first", help="list order")
    add("--ignore-page", action="store_true", help="serve page 1 whatever page is asked")
    add("--clamp-past-end", action="store_true", help="serve the last page for pages past it")
    add(
        "--fail-after",
        type=int,
        default=None,
        metavar="N",
        help="answer --fail-status to every request after N authenticated ones (a revoked key)",
    )
    add("--fail-status", type=int, default=401, help="status of --fail-after (default 401)")
    add(
        "--deployments-status",
        type=int,
        default=None,
        metavar="STATUS",
        help="answer STATUS to every deployments-list request (404: no such endpoint)",
    )
    add(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="KIND=P",
        help=f"inject a fault with probability P per list request; KIND: {', '.join(FAULT_KINDS)}",
    )
    add("--burst-length", type=int, default=5, help="429s in a burst429 fault")
    add("--slow-seconds", type=float, default=2.0, help="duration of a slow body")
    return parser


def api_from_args(args: argparse.Namespace) -> FakeVideoSDK:
    """The fake API the parsed flags of `fake_server_parser` describe.

    Raises
    ------
    ConfigurationError
        A knob out of range.
    """
    config = FakeConfig(
        api_key=args.api_key,
        secret=args.secret,
        max_per_page=args.max_per_page or None,
        echo_per_page=args.echo_per_page,
        latency=args.latency,
        jitter=args.jitter,
        error_rate=args.error_rate,
        rate_limit=args.rate_limit,
        rate_burst=args.rate_burst,
        retry_after=args.retry_after,
        rate_limit_headers=args.rate_limit_headers,
        insert_every=args.insert_every,
        delete_every=args.delete_every,
        total_mode=args.total_mode,
        total_items=args.total_items,
        order=args.order,
        ignore_page=args.ignore_page,
        clamp_past_end=args.clamp_past_end,
        fail_after=args.fail_after,
        fail_status=args.fail_status,
        deployments_status=args.deployments_status,
        faults=dict(args.fault),
        burst_length=args.burst_length,
        slow_seconds=args.slow_seconds,
    )
    return FakeVideoSDK(args.sessions, seed=args.seed, config=config)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fake server in the foreground; returns the exit code."""
    parser = fake_server_parser()
    args = parser.parse_args(argv)
    try:
        api = api_from_args(args)
    except ConfigurationError as exc:
        parser.error(str(exc))
    config = api.config

    def ready(url: str) -> None:
        sys.stdout.write(
            f"{ENV_BASE_URL}={url}\n"
            f"{ENV_AUTH_TOKEN}={api.token(args.token_ttl)}\n"
            f"{ENV_API_KEY}={config.api_key}\n"
        )
        sys.stdout.flush()
        sys.stderr.write(f"serving {api.session_count} fake sessions at {url}; Ctrl-C stops\n")

    serve_forever(args.host, args.port, api=api, on_ready=ready)
    return 0


if __name__ == "__main__":
    sys.exit(main())
