"""Every helper answers a LazyFrame as it answers the eager frame (also a Parquet scan)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import vsdk_analytics._namespace  # noqa: F401  (registers .vsdk)
from tests._frames import both, empty, helper_calls, random_sessions
from vsdk_analytics import (
    fetch_sessions,
    normalize_deployments,
    read_parquet,
    scan_parquet,
    snapshot_time,
    sync_sessions,
    with_deployment_names,
    write_parquet,
)
from vsdk_analytics.testing import FakeServer

CALLS = helper_calls()
IDS = [name for name, _, _ in CALLS]


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return random_sessions(1500, seed=11)


@pytest.mark.parametrize(("name", "helper", "kwargs"), CALLS, ids=IDS)
def test_eager_and_lazy_agree(
    frame: pl.DataFrame, name: str, helper: Callable[..., Any], kwargs: dict[str, Any]
) -> None:
    result = both(helper, frame, **kwargs)
    assert result.height > 0
    if "by" not in kwargs or name.startswith("unnest"):
        both(helper, empty(), **kwargs)


@pytest.mark.parametrize(("name", "helper", "kwargs"), CALLS, ids=IDS)
def test_a_native_parquet_scan_answers_as_the_frame(
    frame: pl.DataFrame,
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    helper: Callable[..., Any],
    kwargs: dict[str, Any],
) -> None:
    path = tmp_path_factory.mktemp("lazy") / f"{name}.parquet"
    write_parquet(frame, path, profile="native")
    scanned = helper(pl.scan_parquet(path), **kwargs)
    assert isinstance(scanned, pl.LazyFrame)
    assert scanned.collect().equals(helper(frame, **kwargs))


@pytest.mark.parametrize(("name", "helper", "kwargs"), CALLS, ids=IDS)
def test_the_namespace_forwards(
    frame: pl.DataFrame, name: str, helper: Callable[..., Any], kwargs: dict[str, Any]
) -> None:
    method = getattr(frame.lazy().vsdk, helper.__name__)
    assert method(**kwargs).collect().equals(helper(frame, **kwargs))


def test_grouping_by_deployment_name_agrees(frame: pl.DataFrame, tmp_path: Path) -> None:
    deployments = normalize_deployments(
        [{"deploymentId": "dep-a", "name": "Support"}, {"deploymentId": "dep-b", "name": "Sales"}]
    )
    named = with_deployment_names(frame, deployments)
    lazy = with_deployment_names(frame.lazy(), deployments.lazy())
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.collect().equals(named)
    for _, helper, kwargs in CALLS:
        if "by" in kwargs:
            both(helper, named, **(kwargs | {"by": "deployment_name"}))
    counts = both(helper_calls()[2][1], named, by="deployment_name")
    assert set(counts["deployment_name"]) == {"Support", "Sales", "dep-c"}


# ---------------------------------------------------------------------------
# Every public helper x a bi file, a native file, a synced dataset (va.scan_parquet)
# ---------------------------------------------------------------------------

SOURCES = ["bi", "native", "synced", "partitioned"]


def _default_calls() -> list[tuple[str, Callable[..., Any], dict[str, Any]]]:
    """Each helper of CALLS once more with its defaults (plus a few other arguments)."""
    from vsdk_analytics import (
        data_quality,
        duration_distribution,
        duration_histogram,
        peak_concurrency,
        sessions_over_time,
        status_breakdown,
        tag_counts,
        unnest_metadata,
        webhook_coverage,
    )

    plain = [
        duration_distribution, duration_histogram, tag_counts, status_breakdown,
        sessions_over_time, unnest_metadata, webhook_coverage, data_quality,
    ]  # fmt: skip
    calls = [(f"{fn.__name__}_defaults", fn, {}) for fn in plain]
    return [
        *calls,
        ("duration_distribution_q", duration_distribution, {"quantiles": [0.1, 0.99]}),
        ("duration_histogram_edges", duration_histogram, {"edges": [0, 30, 600]}),
        ("sessions_over_time_statuses", sessions_over_time, {"every": "1h", "statuses": []}),
        (
            "sessions_over_time_dst",
            sessions_over_time,
            {"every": "1d", "time_zone": "Europe/Berlin"},
        ),
        ("peak_concurrency_by", peak_concurrency, {"every": "1h", "by": ["status", "tag"]}),
        ("unnest_metadata_keys", unnest_metadata, {"keys": ["room", "n"]}),
    ]


EVERY_CALL = [*CALLS, *_default_calls()]


@pytest.fixture(scope="module")
def sources(
    frame: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[pl.DataFrame, Path]]:
    """Each source: the eager frame it was made from, and the path `va.scan_parquet` reads.

    The synced dataset's eager frame is a fetch of the same fake account; the
    partitioned one is a `write_parquet` dataset (by date and tag, nulls included).
    """
    root = tmp_path_factory.mktemp("sources")
    bi = write_parquet(frame, root / "bi.parquet", profile="bi")
    native = write_parquet(frame, root / "native.parquet", profile="native")
    with FakeServer(sessions=900, seed=23) as server:
        creds, url = server.credentials(), server.url
        sync_sessions(root / "synced", creds, base_url=url, progress=False)
        fetched = fetch_sessions(creds, base_url=url, progress=False)
    by_tag = write_parquet(frame, root / "by_tag", partition_by=["start_date", "tag"])
    return {
        "bi": (frame, bi),
        "native": (frame, native),
        "synced": (fetched, root / "synced"),
        "partitioned": (frame, by_tag),
    }


def _comparable(result: pl.DataFrame) -> pl.DataFrame:
    """Per-session results in session order (a dataset's row order is not specified)."""
    return result.sort("session_id") if "session_id" in result.columns else result


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(("name", "helper", "kwargs"), EVERY_CALL, ids=[c[0] for c in EVERY_CALL])
def test_every_helper_answers_a_scan_as_the_eager_frame(
    sources: dict[str, tuple[pl.DataFrame, Path]],
    source: str,
    name: str,
    helper: Callable[..., Any],
    kwargs: dict[str, Any],
) -> None:
    eager, path = sources[source]
    scanned = helper(scan_parquet(path), **kwargs)
    assert isinstance(scanned, pl.LazyFrame)
    want = helper(eager, **kwargs)
    assert want.height > 0 or name.startswith("unnest")
    got = scanned.collect()
    assert_frame_equal(_comparable(got), _comparable(want))
    assert_frame_equal(_comparable(helper(read_parquet(path), **kwargs)), _comparable(want))


@pytest.mark.parametrize("source", SOURCES)
def test_snapshot_time_and_names_agree_on_a_scan(
    sources: dict[str, tuple[pl.DataFrame, Path]], source: str
) -> None:
    eager, path = sources[source]
    assert snapshot_time(scan_parquet(path)) == snapshot_time(eager) is not None
    ids = eager.get_column("deployment_id").drop_nulls().unique().sort().to_list()
    deployments = normalize_deployments(
        [{"deploymentId": d, "name": f"bot {i}"} for i, d in enumerate(ids[:-1])]
    )
    named = with_deployment_names(eager, deployments)
    lazy = with_deployment_names(scan_parquet(path), deployments)
    assert isinstance(lazy, pl.LazyFrame)
    assert_frame_equal(_comparable(lazy.collect()), _comparable(named))
    assert set(named.get_column("deployment_name")) >= {"bot 0", ids[-1]}
    for _, helper, kwargs in EVERY_CALL:
        if "by" in kwargs:
            by = {"by": "deployment_name"}
            got = helper(with_deployment_names(scan_parquet(path), deployments), **kwargs | by)
            assert_frame_equal(got.collect(), helper(named, **kwargs | by))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.integers(0, 80),
    seed=st.integers(0, 2**32 - 1),
    null_start_share=st.sampled_from([0.0, 0.05, 0.5, 1.0]),
)
def test_any_frame_written_and_scanned_answers_as_itself(
    rows: int, seed: int, null_start_share: float
) -> None:
    """Property: for any sessions frame, a bi file and a native start_date dataset agree."""
    frame = random_sessions(rows, seed=seed, null_start_share=null_start_share)
    with tempfile.TemporaryDirectory() as tmp:
        bi = write_parquet(frame, Path(tmp) / "s.parquet", profile="bi")
        native = write_parquet(frame, Path(tmp) / "d", profile="native", partition_by="start_date")
        for path in (bi, native):
            for _, helper, kwargs in EVERY_CALL:
                got = helper(scan_parquet(path), **kwargs).collect()
                assert_frame_equal(_comparable(got), _comparable(helper(frame, **kwargs)))
            assert snapshot_time(scan_parquet(path)) == snapshot_time(frame)
