"""vsdk-analytics: VideoSDK Agent Cloud sessions as typed Polars frames and BI-ready Parquet.

The data flow: `Credentials` -> HTTP client -> page fetcher (`fetch_sessions`)
-> normalizer (`SESSIONS_SCHEMA`) -> helpers -> Parquet files and synced datasets
(`_dataset`) -> CLI.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._api import (
        fetch_deployments,
        fetch_deployments_async,
        fetch_session,
        fetch_session_async,
        fetch_sessions,
        fetch_sessions_async,
    )
    from ._client import AsyncClient
    from ._credentials import Credentials
    from ._dataset import (
        Provenance,
        SyncReport,
        delta_sync_history,
        fetch_sessions_to_parquet,
        fetch_sessions_to_parquet_async,
        format_sync_report,
        parquet_info,
        read_deployments,
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
    from ._fetch import FetchStats
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
    from ._sync_client import Client

    __version__: str

# Public name -> the module defining it. Importing the package imports none of them
# (so `import vsdk_analytics` is quick: Polars and httpx load on first use).
_EXPORTS: dict[str, str] = {
    "fetch_deployments": "_api",
    "fetch_deployments_async": "_api",
    "fetch_session": "_api",
    "fetch_session_async": "_api",
    "fetch_sessions": "_api",
    "fetch_sessions_async": "_api",
    "AsyncClient": "_client",
    "Client": "_sync_client",
    "Credentials": "_credentials",
    "Provenance": "_dataset",
    "SyncReport": "_dataset",
    "delta_sync_history": "_dataset",
    "fetch_sessions_to_parquet": "_dataset",
    "fetch_sessions_to_parquet_async": "_dataset",
    "format_sync_report": "_dataset",
    "parquet_info": "_dataset",
    "read_deployments": "_dataset",
    "read_parquet": "_dataset",
    "scan_parquet": "_dataset",
    "sync_sessions": "_dataset",
    "sync_sessions_async": "_dataset",
    "write_parquet": "_dataset",
    "DEPLOYMENTS_SCHEMA": "_deployments",
    "DeploymentsPage": "_deployments",
    "decode_deployments_page": "_deployments",
    "normalize_deployments": "_deployments",
    "with_deployment_names": "_deployments",
    "APIConnectionError": "_errors",
    "APIError": "_errors",
    "APIStatusError": "_errors",
    "APITimeoutError": "_errors",
    "AuthenticationError": "_errors",
    "CompletenessWarning": "_errors",
    "ConfigurationError": "_errors",
    "CredentialsError": "_errors",
    "CredentialsWarning": "_errors",
    "DataQualityWarning": "_errors",
    "DatasetConflictError": "_errors",
    "IncompleteFetchError": "_errors",
    "NotFoundError": "_errors",
    "PermissionDeniedError": "_errors",
    "RateLimitError": "_errors",
    "ResponseFormatError": "_errors",
    "SchemaError": "_errors",
    "ServerError": "_errors",
    "VideoSDKError": "_errors",
    "VideoSDKWarning": "_errors",
    "data_quality": "_helpers",
    "duration_distribution": "_helpers",
    "duration_histogram": "_helpers",
    "peak_concurrency": "_helpers",
    "sessions_over_time": "_helpers",
    "snapshot_time": "_helpers",
    "status_breakdown": "_helpers",
    "tag_counts": "_helpers",
    "unnest_metadata": "_helpers",
    "webhook_coverage": "_helpers",
    "FetchStats": "_fetch",
    "normalize_sessions": "_normalize",
    "FetchProgress": "_progress",
    "SCHEMA_VERSION": "_schema",
    "SESSIONS_SCHEMA": "_schema",
}

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
    "FetchStats",
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
    "fetch_sessions_to_parquet",
    "fetch_sessions_to_parquet_async",
    "format_sync_report",
    "normalize_deployments",
    "normalize_sessions",
    "parquet_info",
    "peak_concurrency",
    "read_deployments",
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


def __getattr__(name: str) -> object:
    if name == "__version__":
        from ._constants import library_version  # noqa: PLC0415

        return library_version()
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    importlib.import_module(f"{__name__}._namespace")  # the `.vsdk` frame namespace
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if "polars" in sys.modules:  # Polars is loaded already: register `.vsdk` now, it is cheap
    importlib.import_module(f"{__name__}._namespace")
