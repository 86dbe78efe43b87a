from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from vsdk_analytics import (
    SESSIONS_SCHEMA,
    DataQualityWarning,
    ResponseFormatError,
    SchemaError,
    normalize_sessions,
)
from vsdk_analytics._normalize import combine_pages, parse_page

UTC = timezone.utc


def record(i: int = 0, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "webhook": {
            "endpoint": "https://hooks.example.com/a",
            "events": ["ai-deployment-session-starting", "ai-deployment-session-started"],
        },
        "status": "completed",
        "deploymentId": "2f5f787c-0386-4ae0-929c-f5853628267a",
        "tag": "v1.0",
        "start": "2025-06-18T11:15:07.275Z",
        "sessionId": f"788d0173-fa9c-404b-a2cf-{i:012d}",
        "createdAt": "2025-06-18T11:15:07.276Z",
        "updatedAt": "2025-06-18T11:16:03.575Z",
        "duration": 56,
        "end": "2025-06-18T11:16:03.575Z",
        "metadata": {"room": f"r{i}", "n": {"x": [1, 2]}},
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not _DROP}


_DROP: Any = object()


def page(records: list[Any], **info: Any) -> bytes:
    page_info = {"totalItems": len(records), "currentPage": 1, "perPage": 10, "total": len(records)}
    page_info.update(info)
    return json.dumps({"data": records, "pageInfo": page_info}).encode()


def test_vendor_example_normalizes_to_the_schema() -> None:
    parsed = parse_page(page([record()]), page=1)
    assert parsed.fast
    rows = parsed.rows
    assert rows.schema == SESSIONS_SCHEMA
    row = rows.row(0, named=True)
    assert row["session_id"] == "788d0173-fa9c-404b-a2cf-000000000000"
    assert row["start"] == datetime(2025, 6, 18, 11, 15, 7, 275000, tzinfo=UTC)
    assert row["duration_s"] == 56.0
    assert row["webhook_events"] == [
        "ai-deployment-session-starting",
        "ai-deployment-session-started",
    ]
    assert json.loads(row["metadata"]) == {"room": "r0", "n": {"x": [1, 2]}}
    assert row["extra"] is None
    assert (parsed.total_items, parsed.per_page, parsed.current_page) == (1, 10, 1)


def test_fast_and_exact_paths_agree_on_valid_pages() -> None:
    records = [
        record(0),
        record(1, end=_DROP, duration=_DROP, status="started"),
        record(2, webhook=_DROP, tag=_DROP, metadata=_DROP),
        record(3, metadata={}),
        record(4, metadata=None, webhook={"endpoint": "e"}),
        record(5, duration=_DROP),
        record(6, tag=None, metadata=[1, "x"]),
        record(7, webhook={"events": []}),
    ]
    fast = parse_page(page(records), page=1)
    exact = parse_page(page(records), page=1, strict=True)
    assert fast.fast
    assert not exact.fast
    assert_frame_equal(fast.rows, exact.rows)
    rows = fast.rows.to_dicts()
    assert rows[1]["end"] is None and rows[1]["duration_s"] is None
    assert rows[2]["webhook_endpoint"] is None and rows[2]["metadata"] is None
    assert rows[3]["metadata"] == "{}"
    assert rows[4]["metadata"] is None and rows[4]["webhook_events"] is None
    assert rows[5]["duration_s"] == pytest.approx(56.3)  # derived from end - start
    assert rows[6]["metadata"] == '[1,"x"]'
    assert rows[7]["webhook_events"] == []


def test_empty_page_has_the_schema() -> None:
    parsed = parse_page(page([], totalItems=0), page=3)
    assert parsed.rows.schema == SESSIONS_SCHEMA
    assert parsed.rows.height == 0
    assert parsed.record_count == 0
    assert normalize_sessions([]).schema == SESSIONS_SCHEMA


def test_unknown_keys_go_to_extra_and_take_the_exact_path() -> None:
    parsed = parse_page(page([record(0, region="eu", webhook={"endpoint": "e", "secretish": 1})]))
    assert not parsed.fast
    assert not parsed.problems
    extra = json.loads(parsed.rows.item(0, "extra"))
    assert extra == {"region": "eu", "webhook.secretish": 1}


def test_metadata_whitespace_is_compacted() -> None:
    body = page([record(0)]).replace(b'{"room": "r0"', b'{ "room" :  "r0"')
    parsed = parse_page(body)
    assert parsed.fast
    assert parsed.rows.item(0, "metadata") == '{"room":"r0","n":{"x":[1,2]}}'


@pytest.mark.parametrize(
    ("overrides", "field", "column"),
    [
        ({"duration": "abc"}, "duration", "duration_s"),
        ({"duration": True}, "duration", "duration_s"),
        ({"duration": {"s": 1}}, "duration", "duration_s"),
        ({"start": "yesterday"}, "start", "start"),
        ({"createdAt": "2025-06-18 11:15:07"}, "createdAt", "created_at"),
        ({"tag": {"name": "v1"}}, "tag", "tag"),
        ({"webhook": ["a"]}, "webhook", "webhook_endpoint"),
        (
            {"webhook": {"events": "ai-deployment-session-started"}},
            "webhook.events",
            "webhook_events",
        ),
        ({"webhook": {"events": [{"x": 1}]}}, "webhook.events", "webhook_events"),
    ],
)
def test_bad_values_become_null_with_originals_in_extra(
    overrides: dict[str, Any], field: str, column: str
) -> None:
    parsed = parse_page(page([record(0), record(1, **overrides)]), page=4)
    assert parsed.rows.height == 2
    # a bad duration is derived from end - start, like an absent one
    expected = pytest.approx(56.3) if column == "duration_s" else None
    assert parsed.rows.row(1, named=True)[column] == expected
    extra = json.loads(parsed.rows.item(1, "extra"))
    assert field in extra
    value = overrides[field.split(".", maxsplit=1)[0]]
    assert extra[field] == (value["events"] if field == "webhook.events" else value)
    assert [(p.page, p.field) for p in parsed.problems] == [(4, field)]
    assert parsed.problems[0].session_id == "788d0173-fa9c-404b-a2cf-000000000001"
    with pytest.raises(
        SchemaError,
        match=f"page 4, session '788d0173-fa9c-404b-a2cf-000000000001': field '{field}'",
    ) as info:
        parse_page(page([record(0), record(1, **overrides)]), page=4, strict=True)
    assert info.value.field == field
    assert info.value.page == 4


def test_lossless_coercions() -> None:
    parsed = parse_page(
        page([record(0, duration="12", tag=5, start="2025-06-18T13:15:07.275+02:00")])
    )
    row = parsed.rows.row(0, named=True)
    assert row["duration_s"] == 12.0
    assert row["tag"] == "5"
    assert row["start"] == datetime(2025, 6, 18, 11, 15, 7, 275000, tzinfo=UTC)
    assert row["extra"] is None
    assert not parsed.problems


def test_non_object_records_keep_their_row() -> None:
    parsed = parse_page(page([record(0), "garbage", None, 7]))
    assert parsed.rows.height == 4
    extras = parsed.rows.get_column("extra").to_list()
    assert extras[0] is None
    assert [json.loads(e)["<record>"] for e in extras[1:]] == ["garbage", None, 7]


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"<html><body>502 Bad Gateway</body></html>", "not valid JSON"),
        (b'{"data": [{"sessionId": "a"', "not valid JSON"),
        (b"", "not valid JSON"),
        (b'{"error": "nope"}', "not a sessions page"),
        (b'{"data": {"a": 1}}', "not a sessions page"),
        (b"[1, 2]", "not a sessions page"),
    ],
)
def test_bodies_that_are_not_pages_raise_typed_errors(body: bytes, match: str) -> None:
    with pytest.raises(ResponseFormatError, match=match) as info:
        parse_page(body, page=9)
    assert info.value.page == 9
    assert "page 9" in str(info.value)


def test_normalize_sessions_warns_once_naming_sessions() -> None:
    with pytest.warns(
        DataQualityWarning, match=r"2 values in 1 sessions.*duration \(1\), start \(1\)"
    ):
        frame = normalize_sessions([record(0), record(1, duration="x", start="nope")])
    assert frame.height == 2


def test_combine_dedupes_keeping_newest_update_and_sorts() -> None:
    old = record(
        1, status="started", updatedAt="2025-06-18T11:15:08.000Z", end=_DROP, duration=_DROP
    )
    new = record(1, status="completed", updatedAt="2025-06-18T11:20:00.000Z")
    later = record(2, createdAt="2025-06-19T00:00:00.000Z")
    no_id_a = record(3, sessionId=_DROP)
    no_id_b = record(4, sessionId=_DROP)
    frames = [parse_page(page([old, later])).rows, parse_page(page([new, no_id_a, no_id_b])).rows]
    out = combine_pages(frames)
    assert out.schema == SESSIONS_SCHEMA
    assert out.height == 4
    assert out.get_column("session_id").to_list()[:2] == [
        "788d0173-fa9c-404b-a2cf-000000000002",
        "788d0173-fa9c-404b-a2cf-000000000001",
    ]
    assert out.filter(pl.col("session_id").str.ends_with("1")).item(0, "status") == "completed"
    assert combine_pages([]).schema == SESSIONS_SCHEMA
