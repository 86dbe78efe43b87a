"""Every helper answers a LazyFrame as it answers the eager frame (also a Parquet scan)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import vsdk_analytics._namespace  # noqa: F401  (registers .vsdk)
from tests._frames import both, empty, helper_calls, random_sessions
from vsdk_analytics import normalize_deployments, with_deployment_names, write_parquet

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
