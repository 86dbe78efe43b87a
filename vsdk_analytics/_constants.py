"""Defaults and environment-variable names, in one place.

Configuration is resolved in a fixed order: explicit argument, then the
`VIDEOSDK_*` environment variable, then the default below (`vsdk_analytics._config`
reads the environment and documents the precedence).
"""

from __future__ import annotations

from typing import Final

from ._version import __version__

DEFAULT_BASE_URL: Final = "https://api.videosdk.live"
SESSIONS_PATH: Final = "/ai/v1/ai-deployment-sessions"
DEPLOYMENTS_PATH: Final = "/ai/v1/ai-deployments"

ENV_AUTH_TOKEN: Final = "VIDEOSDK_AUTH_TOKEN"  # noqa: S105 - a variable name, not a secret
ENV_API_KEY: Final = "VIDEOSDK_API_KEY"
ENV_SECRET: Final = "VIDEOSDK_SECRET"  # noqa: S105 - the vendor's server SDKs' name
ENV_SECRET_KEY: Final = "VIDEOSDK_SECRET_KEY"  # noqa: S105 - older examples' name
ENV_API_ENDPOINT: Final = "VIDEOSDK_API_ENDPOINT"
"""The base URL, as the vendor's server SDKs name it."""
ENV_BASE_URL: Final = "VIDEOSDK_API_BASE_URL"
"""The base URL, this library's older name (an alias of `ENV_API_ENDPOINT`)."""

DEFAULT_PER_PAGE: Final = 100
DEFAULT_MAX_CONCURRENCY: Final = 32
"""Requests in flight by default. Measured fetching 10,000 sessions (100 pages) at 50 / 100
/ 150 ms latency, medians of 3: 8 in flight 0.81 / 1.51 / 2.19 s, 16 0.48 / 0.88 / 1.29 s,
32 0.32 / 0.57 / 0.83 s, 64 0.32 / 0.53 / 0.73 s; at 0 ms (200,000 sessions) 16 and 32
cost the same CPU (docs/benchmarks.md). The limiter halves it on HTTP 429 and pauses
everything for ``Retry-After``, so a server that cannot take 32 is not pushed."""

FILE_ROW_GROUP_ROWS: Final = 65_536
"""Rows per row group of a file written whole: readers scan row groups in parallel
(DuckDB, Spark) and skip them by their statistics, and Polars writes 200,000 sessions
in 0.108 s this way against 0.134 s as one row group (1,000,000: 0.65 against 0.76 s)."""
STREAM_BATCH_ROWS: Final = 20_000
"""Rows per row group when a fetch streams into Parquet (memory holds about one batch)."""
ASSEMBLY_CHUNK_ROWS: Final = 40_000
"""Rows a whole-frame fetch assembles at a time on a worker thread, at most, while later
pages are in flight."""
ASSEMBLY_MIN_ROWS: Final = 20_000
"""Rows that go to an idle assembly worker at once. Fewer, larger chunks pay Polars'
per-call overhead less often: 200,000 sessions at 0 ms took 0.16 s less CPU and 7% less
wall time in chunks of 20,000 than of 2,000."""
ASSEMBLY_TAIL_ROWS: Final = 8_000
"""Rows that go to the assembly at once, busy worker or not, in a fetch's last
``ASSEMBLY_MIN_ROWS`` (by page 1's total): little is left after the last answer."""
ASSEMBLY_QUIET_S: Final = 0.005
"""Seconds without a new page after which the pages held go to an idle worker whatever
their rows: a fetch that waits on the network has its rows assembled during the waits,
and what is left after the last answer is small."""

TOKEN_TTL_SECONDS: Final = 120 * 60
"""Lifetime of a minted token (the vendor's examples use 120 minutes)."""
TOKEN_REFRESH_MARGIN_SECONDS: Final = 60.0
"""Re-mint a token this long before it expires."""

CONNECT_TIMEOUT_SECONDS: Final = 10.0
READ_TIMEOUT_SECONDS: Final = 30.0

MAX_RETRIES: Final = 8
BACKOFF_BASE_SECONDS: Final = 0.25
BACKOFF_MAX_SECONDS: Final = 30.0
RETRY_AFTER_MAX_SECONDS: Final = 120.0
RETRY_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})

MAX_ERROR_BODY_CHARS: Final = 500


def library_version() -> str:
    """The version of vsdk-analytics.

    From the source (`vsdk_analytics._version`), not ``importlib.metadata``, whose first
    lookup scans every installed distribution: 25-60 ms at the start of each fetch,
    which puts it in the User-Agent.
    """
    return __version__
