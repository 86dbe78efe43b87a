"""Deployments without the network: schema, tolerant decoding, names attached to sessions."""

from __future__ import annotations

import json
import warnings
from datetime import datetime, timezone
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests._frames import random_sessions, sessions
from vsdk_analytics import (
    DEPLOYMENTS_SCHEMA,
    ConfigurationError,
    DataQualityWarning,
    ResponseFormatError,
    SchemaError,
    decode_deployments_page,
    normalize_deployments,
    with_deployment_names,
)
from vsdk_analytics._deployments import warn_page_problems

UTC = timezone.utc


def test_full_records_are_typed() -> None:
    frame = normalize_deployments(
        [
            {
                "deploymentId": "d1",
                "name": "Support bot",
                "tag": "v2",
                "description": "answers tickets",
                "status": "active",
                "createdAt": "2025-06-01T08:00:00.250Z",
            }
        ]
    )
    assert frame.schema == DEPLOYMENTS_SCHEMA
    assert frame.row(0) == (
        "d1",
        "Support bot",
        "v2",
        "answers tickets",
        "active",
        datetime(2025, 6, 1, 8, 0, 0, 250000, tzinfo=UTC),
        None,
    )


def test_missing_extra_and_mistyped_fields_are_kept() -> None:
    records: list[Any] = [
        {"id": "d2"},  # only an id, under the other name
        {"deploymentId": "d3", "name": 42, "createdAt": "yesterday", "region": "eu"},
        {"deploymentId": "d4", "id": "legacy-4", "createdAt": "2025-06-01T10:00:00+02:00"},
        "not an object",
    ]
    with pytest.warns(DataQualityWarning, match="3 deployment values"):
        frame = normalize_deployments(records)
    assert frame.schema == DEPLOYMENTS_SCHEMA
    assert frame["deployment_id"].to_list() == ["d2", "d3", "d4", None]
    assert frame["name"].to_list() == [None, None, None, None]
    extras = [None if e is None else json.loads(e) for e in frame["extra"].to_list()]
    assert extras == [
        None,
        {"createdAt": "yesterday", "name": 42, "region": "eu"},
        {"id": "legacy-4"},
        {"<record>": "not an object"},
    ]
    assert frame["created_at"][2] == datetime(2025, 6, 1, 8, tzinfo=UTC)


def test_strict_raises_a_schema_error() -> None:
    with pytest.raises(SchemaError, match="'name'"):
        normalize_deployments([{"deploymentId": "d1", "name": ["x"]}], strict=True)
    with pytest.raises(SchemaError, match="createdAt"):
        normalize_deployments([{"deploymentId": "d1", "createdAt": "2025-06-01"}], strict=True)


def test_empty_input_is_typed() -> None:
    assert normalize_deployments([]).schema == DEPLOYMENTS_SCHEMA


def test_page_decoder_gives_ids_and_totals() -> None:
    body = json.dumps(
        {
            "data": [{"deploymentId": "d1", "name": "A"}, {"name": "no id"}],
            "pageInfo": {"totalItems": 7, "perPage": 2.0, "currentPage": 1},
        }
    ).encode()
    page = decode_deployments_page(body)
    assert page.ids == ["d1", None]
    assert (page.total_items, page.per_page) == (7, 2)
    assert page.frame["name"].to_list() == ["A", "no id"]
    assert (page.problems, page.problem_ids) == (0, ())
    bare = decode_deployments_page(b'{"data": [], "pageInfo": {"totalItems": "many"}}')
    assert (bare.ids, bare.total_items, bare.per_page) == ([], None, None)


@pytest.mark.parametrize("body", [b"<html>", b"[]", b'{"data": {}}', b"\xff"])
def test_page_decoder_refuses_other_shapes(body: bytes) -> None:
    with pytest.raises(ResponseFormatError):
        decode_deployments_page(body)


json_values = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=5)
    | st.lists(st.integers(), max_size=2)
)
FIELDS = ["deploymentId", "id", "name", "tag", "description", "status", "createdAt", "x"]


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(FIELDS), json_values), max_size=4))
def test_nothing_is_lost(records: list[dict[str, Any]]) -> None:
    """Every field of every record is in a typed column or in ``extra``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        frame = normalize_deployments(records)
    assert frame.height == len(records)
    for record, row in zip(records, frame.iter_rows(named=True), strict=True):
        extra = json.loads(row["extra"]) if row["extra"] else {}
        for key, value in record.items():
            if value is None:
                continue
            column = {
                "deploymentId": "deployment_id",
                "id": "deployment_id",
                "createdAt": "created_at",
            }.get(key, key)
            if key in extra:
                assert extra[key] == value
            elif column == "created_at":
                assert row["created_at"] is not None
            else:
                assert row[column] == value


def test_names_are_attached_eager_and_lazy() -> None:
    frame = sessions([{"deployment_id": "d1"}, {"deployment_id": "d9"}, {"deployment_id": None}])
    deployments = normalize_deployments(
        [{"deploymentId": "d1", "name": None}, {"deploymentId": "d1", "name": "Support"}]
    )
    named = with_deployment_names(frame, deployments)
    assert named.columns == [*frame.columns, "deployment_name"]
    assert named["deployment_name"].to_list() == ["Support", "d9", None]
    assert named.drop("deployment_name").equals(frame)  # every row once, in order
    nulls = with_deployment_names(frame.lazy(), deployments, fallback="null")
    assert isinstance(nulls, pl.LazyFrame)
    assert nulls.collect()["deployment_name"].to_list() == ["Support", None, None]
    again = with_deployment_names(named, deployments)
    assert again.equals(named)
    with pytest.raises(ConfigurationError, match="fallback"):
        with_deployment_names(frame, deployments, fallback="uuid")


def test_a_large_frame_keeps_its_rows() -> None:
    frame = random_sessions(500, seed=3)
    deployments = normalize_deployments([{"deploymentId": "dep-b", "name": "Sales"}] * 3)
    named = with_deployment_names(frame, deployments)
    assert named.height == frame.height
    assert named.drop("deployment_name").equals(frame)


def test_page_problems_are_warned_once_by_the_caller() -> None:
    body = b'{"data": [{"deploymentId": "d1", "name": 5}, {"id": "d2", "status": true}]}'
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        page = decode_deployments_page(body)  # no warning here
    assert (page.problems, page.problem_ids) == (2, ("d1", "d2"))
    assert json.loads(page.frame["extra"][0]) == {"name": 5}
    with pytest.warns(DataQualityWarning, match="2 deployment values.*d1, d2"):
        warn_page_problems([page, decode_deployments_page(b'{"data": []}')])
