"""vsdk-analytics: VideoSDK Agent Cloud sessions as typed Polars frames and BI-ready Parquet.

The data flow: `Credentials` -> HTTP client -> page fetcher (`fetch_sessions`)
-> normalizer (`SESSIONS_SCHEMA`) -> helpers -> Parquet files and synced datasets
(`_dataset`) -> CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _namespace  # noqa: F401 - registers the `.vsdk` frame namespace
from ._api import (
    fetch_deployments,
    fetch_deployments_async,
    fetch_session,
    fetch_session_async,
    fetch_sessions,
    fetch_sessions_async,
)
from ._client import AsyncClient, Client
from ._credentials import Credentials
from ._dataset import (
    Provenance,
    SyncReport,
    delta_sync_history,
    format_sync_report,
    parquet_info,
    read_parquet,
    scan_parquet,
    sync_sessions,
    sync_sessions_async,
    write_parquet,
)
from ._deployments import (
    DEPLOYMENTS_SCHEMA,
    DeploymentsPage,
    decode_deployments_page,
    normalize_deployments,
    with_deployment_names,
)
from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    CompletenessWarning,
    ConfigurationError,
    CredentialsError,
    CredentialsWarning,
    DataQualityWarning,
    DatasetConflictError,
    IncompleteFetchError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseFormatError,
    SchemaError,
    ServerError,
    VideoSDKError,
    VideoSDKWarning,
)
from ._helpers import (
    data_quality,
    duration_distribution,
    duration_histogram,
    peak_concurrency,
    sessions_over_time,
    snapshot_time,
    status_breakdown,
    tag_counts,
    unnest_metadata,
    webhook_coverage,
)
from ._normalize import normalize_sessions
from ._progress import FetchProgress
from ._schema import SCHEMA_VERSION, SESSIONS_SCHEMA

if TYPE_CHECKING:
    __version__: str

__all__ = [
    "DEPLOYMENTS_SCHEMA",
    "SCHEMA_VERSION",
    "SESSIONS_SCHEMA",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AuthenticationError",
    "Client",
    "CompletenessWarning",
    "ConfigurationError",
    "Credentials",
    "CredentialsError",
    "CredentialsWarning",
    "DataQualityWarning",
    "DatasetConflictError",
    "DeploymentsPage",
    "FetchProgress",
    "IncompleteFetchError",
    "NotFoundError",
    "PermissionDeniedError",
    "Provenance",
    "RateLimitError",
    "ResponseFormatError",
    "SchemaError",
    "ServerError",
    "SyncReport",
    "VideoSDKError",
    "VideoSDKWarning",
    "data_quality",
    "decode_deployments_page",
    "delta_sync_history",
    "duration_distribution",
    "duration_histogram",
    "fetch_deployments",
    "fetch_deployments_async",
    "fetch_session",
    "fetch_session_async",
    "fetch_sessions",
    "fetch_sessions_async",
    "format_sync_report",
    "normalize_deployments",
    "normalize_sessions",
    "parquet_info",
    "peak_concurrency",
    "read_parquet",
    "scan_parquet",
    "sessions_over_time",
    "snapshot_time",
    "status_breakdown",
    "sync_sessions",
    "sync_sessions_async",
    "tag_counts",
    "unnest_metadata",
    "webhook_coverage",
    "with_deployment_names",
    "write_parquet",
]


def __getattr__(name: str) -> str:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

        try:
            return version("vsdk-analytics")
        except PackageNotFoundError:  # pragma: no cover - a source tree, not installed
            return "0+unknown"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
