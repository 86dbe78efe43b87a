from __future__ import annotations

import gc
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
from vsdk_analytics._combine import combine_pages
from vsdk_analytics._normalize import (
    ParsedPage,
    assemble,
    probe_page,
    warn_problems,
)


def parse_page(body: bytes, *, page: int | None = None, strict: bool = False) -> ParsedPage:
    """A page as the fetcher parses it (its rows assembled on first use)."""
    return probe_page(body, page=page, strict=strict)


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


def test_webhook_events_leave_the_lines_and_come_back_exactly() -> None:
    """Events go to Polars as one JSON array per page, decoded natively: every string
    (quotes, backslashes, control characters, non-ASCII), null items, empty lists, null
    events and missing webhooks come back as the exact path reads them, row for row."""
    odd = ['q"uote', "back\\slash", "\x00\x1f\x7f", "\u2028", "caf\u00e9", "\U0001f600", ""]
    records = [
        record(0, webhook={"endpoint": "e", "events": odd}),
        record(1, webhook={"events": ["a", None, "b"]}),
        record(2, webhook={"events": []}),
        record(3, webhook={"events": None}),
        record(4, webhook={"endpoint": "only"}),
        record(5, webhook=None),
        record(6, webhook=_DROP),
    ]
    fast = parse_page(page(records), page=1)
    exact = parse_page(page(records), page=1, strict=True)
    assert fast.fast and b"events" not in fast.lines
    assert_frame_equal(fast.rows, exact.rows)
    events = fast.rows.get_column("webhook_events").to_list()
    assert events == [odd, ["a", None, "b"], [], None, None, None, None]
    assert fast.rows.get_column("webhook_endpoint").to_list()[:2] == ["e", None]


@pytest.mark.parametrize(
    "hooks",
    [[_DROP, _DROP], [{"events": []}, {"events": []}], [{}, None]],
    ids=["no-webhooks", "all-empty", "no-events"],
)
def test_pages_whose_events_are_all_missing_or_empty_read_as_the_exact_path(
    hooks: list[Any],
) -> None:
    records = [record(i, webhook=hook) for i, hook in enumerate(hooks)]
    fast = [parse_page(page(records), page=n) for n in (1, 2)]
    exact = [parse_page(page(records), page=n, strict=True) for n in (1, 2)]
    assert all(p.fast for p in fast)
    assert_frame_equal(assemble(fast)[0], assemble(exact, strict=True)[0])


def test_the_probe_leaves_the_cyclic_gc_alone() -> None:
    """Parsing page after page runs (almost) no cyclic-GC collections. Decoded as lists,
    the webhook events of a 1,000-session page ran one collection per page (0.3 s per
    300,000 sessions); as tuples, reused from the interpreter's free list, they do not
    count towards the collection threshold."""
    body = page([record(i) for i in range(1_000)])
    collections = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    probe_page(body, page=1)  # its tuples, freed, fill the free list as a fetch's do
    gc.callbacks.append(count)
    try:
        for n in range(2, 22):
            assert probe_page(body, page=n).record_count == 1_000
    finally:
        gc.callbacks.remove(count)
    assert len(collections) <= 2, collections  # lists: 20, one per page


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


@pytest.mark.parametrize("number", [2**53 + 1, -(2**53) - 1, 2**64 + 3, 10**40 + 7])
def test_big_integers_in_text_fields_keep_their_exact_digits(number: int) -> None:
    """Beyond float precision too: the column holds the exact decimal text (strict: raises)."""
    body = page([record(0, deploymentId=number, tag=number)])
    parsed = parse_page(body)
    row = parsed.rows.row(0, named=True)
    assert row["deployment_id"] == row["tag"] == str(number)
    assert row["extra"] is None
    assert not parsed.problems
    with pytest.raises(SchemaError, match="field 'deploymentId' should be text") as info:
        parse_page(body, page=2, strict=True)
    assert info.value.field == "deploymentId"


def test_non_object_records_keep_their_row() -> None:
    parsed = parse_page(page([record(0), "garbage", None, 7]))
    assert parsed.rows.height == 4
    extras = parsed.rows.get_column("extra").to_list()
    assert extras[0] is None
    assert [json.loads(e)["<record>"] for e in extras[1:]] == ["garbage", None, 7]


@pytest.mark.parametrize(
    ("body", "match", "retryable"),
    [
        (b"<html><body>502 Bad Gateway</body></html>", "not valid JSON", True),
        (b'{"data": [{"sessionId": "a"', "not valid JSON", True),
        (b"", "not valid JSON", True),
        (b'{"data": [1, 2] x', "not valid JSON", True),
        (b'{"data": [{"tag": "\\ud83d' + b"x" * 50_000, "not valid JSON", True),
        (b'{"data": ["\xff"]}', "not valid JSON", True),
        (b'{"data": [{"a": 1e400, "b": "\\ud83d"}', "not valid JSON", True),
        (b'{"data": [' + b"[" * 5000 + b"]" * 4999 + b"]", "not valid JSON", True),
        (b'{"error": "nope"}', "server answered with an error instead of data: 'nope'", False),
        (b'{"message": {"message": "quota"}}', "instead of data: 'quota'", False),
        (b'{"data": {"a": 1}}', "not a sessions page", False),
        (b"[1, 2]", "not a sessions page", False),
        (b"null", "not a sessions page", False),
    ],
)
def test_bodies_that_are_not_pages_raise_typed_errors(
    body: bytes, match: str, retryable: bool
) -> None:
    for strict in (False, True):
        with pytest.raises(ResponseFormatError, match=match) as info:
            parse_page(body, page=9, strict=strict)
        assert info.value.page == 9
        assert "page 9" in str(info.value)
        assert info.value.retryable is retryable


def test_error_body_text_is_truncated() -> None:
    with pytest.raises(ResponseFormatError, match=r"'x{197}\.\.\.'") as info:
        parse_page(json.dumps({"error": "x" * 5000}).encode(), page=1)
    assert not info.value.retryable
    assert len(str(info.value)) < 400


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


# ---------------------------------------------------------------------------
# One odd record costs its odd values, never its page (issue 14)
# ---------------------------------------------------------------------------

SID = "788d0173-fa9c-404b-a2cf-000000000001"
CLEAN = page([record(0), record(1), record(2)])


def with_odd(old: bytes, new: bytes) -> bytes:
    """The clean page with record 1's JSON text edited (the odd value as source text)."""
    i = CLEAN.index(b'{"webhook"', CLEAN.index(b'{"webhook"') + 1)  # record 1 starts here
    j = CLEAN.index(old, i)
    assert j < CLEAN.index(b'{"webhook"', i + 1)  # and ends before record 2
    return CLEAN[:j] + new + CLEAN[j + len(old) :]


ODD_VALUES = [
    # (old text in record 1, new text, field, column, expected extra text)
    (b'"duration": 56', b'"duration": 1e400', "duration", "duration_s", "1e400"),
    (b'"duration": 56', b'"duration": -1E+999', "duration", "duration_s", "-1E+999"),
    (b'"duration": 56', b'"duration": 1' + b"0" * 400, "duration", "duration_s", "1" + "0" * 400),
    (b'"tag": "v1.0"', b'"tag": "v1\\ud83d"', "tag", "tag", '"v1\\ud83d"'),
    (b'"status": "completed"', b'"status": "\\udc00x"', "status", "status", '"\\udc00x"'),
    (
        b'"endpoint": "https://hooks.example.com/a"',
        b'"endpoint": "\\ud83d"',
        "webhook.endpoint",
        "webhook_endpoint",
        '"\\ud83d"',
    ),
    (
        b'"start": "2025-06-18T11:15:07.275Z"',
        b'"start": "2025\\ud83d"',
        "start",
        "start",
        '"2025\\ud83d"',
    ),
    (
        b'"tag": "v1.0"',
        b'"tag": ' + b"[" * 5000 + b"]" * 5000,
        "tag",
        "tag",
        "[" * 5000 + "]" * 5000,
    ),
]


@pytest.mark.parametrize(("old", "new", "field", "column", "kept"), ODD_VALUES)
def test_an_odd_value_costs_only_itself(
    old: bytes, new: bytes, field: str, column: str, kept: str
) -> None:
    body = with_odd(old, new)
    clean = parse_page(CLEAN, page=5).rows
    parsed = parse_page(body, page=5)
    rows = parsed.rows
    assert rows.height == 3 and parsed.record_count == 3
    assert_frame_equal(rows[[0, 2]], clean[[0, 2]])  # the other records are intact
    assert rows.item(1, column) is None or column == "duration_s"
    assert rows.item(1, "extra") == "{" + json.dumps(field) + ":" + kept + "}"
    expected = clean.drop(column, "extra").row(1)
    assert rows.drop(column, "extra").row(1) == expected
    assert [(p.page, p.session_id, p.field) for p in parsed.problems] == [(5, SID, field)]
    assert parsed.session_ids == clean.get_column("session_id").to_list()
    with pytest.raises(SchemaError, match=f"page 5, session '{SID}': field '{field}'") as info:
        parse_page(body, page=5, strict=True)
    assert (info.value.field, info.value.session_id) == (field, SID)


def test_an_odd_value_warns_once_through_normalize_sessions_of_its_page() -> None:
    body = with_odd(b'"duration": 56', b'"duration": 1e400')
    parsed = parse_page(body, page=1)
    with pytest.warns(DataQualityWarning, match=r"1 values in 1 sessions.*duration \(1\)"):
        warn_problems(parsed.problems)


@pytest.mark.parametrize(
    "metadata",
    [
        b"[" * 5000 + b"]" * 5000,
        b'{"n": 1e400, "big": ' + b"9" * 400 + b"}",
        b'{"emoji": "\\ud83d", "k": "\\u00e9"}',
        b'{"a": 1, "a": 2}',
    ],
)
def test_odd_metadata_is_kept_as_canonical_text(metadata: bytes) -> None:
    body = with_odd(b'"metadata": {"room": "r1", "n": {"x": [1, 2]}}', b'"metadata": ' + metadata)
    parsed = parse_page(body, page=2)
    clean = parse_page(CLEAN, page=2).rows
    assert_frame_equal(parsed.rows[[0, 2]], clean[[0, 2]])
    assert not parsed.problems
    text = parsed.rows.item(1, "metadata")
    assert text == metadata.decode().replace(" ", "").replace("\\u00e9", "é")
    if not text.startswith("[["):  # Python's json cannot read 5,000 levels either
        assert json.loads(text) == json.loads(metadata)


def test_duplicate_keys_last_wins_on_both_paths() -> None:
    body = with_odd(b'"tag": "v1.0"', b'"tag": "first", "tag": "last"')
    body = body.replace(b'"duration": 56', b'"duration": 1, "duration": 56', 1)
    fast = parse_page(body, page=1)
    exact = parse_page(body, page=1, strict=True)
    assert fast.fast and not exact.fast
    assert_frame_equal(fast.rows, exact.rows)
    assert fast.rows.item(1, "tag") == "last"
    assert fast.rows.item(0, "duration_s") == 56.0


def test_duplicate_data_lists_last_wins() -> None:
    body = b'{"data": [{"sessionId": "a"}], "data": [{"sessionId": "b"}, {"sessionId": "c"}]}'
    for strict in (False, True):
        parsed = parse_page(body, page=1, strict=strict)
        assert parsed.session_ids == ["b", "c"]
        assert parsed.rows.get_column("session_id").to_list() == ["b", "c"]


def test_session_ids_and_created_at_in_row_order_on_both_paths() -> None:
    records = [
        record(3),
        record(1, createdAt="2025-01-01T00:00:00.000Z"),
        record(2, sessionId=None),
    ]
    for body in (page(records), page([*records[:2], {**records[2], "region": "eu"}])):
        parsed = parse_page(body, page=1)
        assert parsed.session_ids == parsed.rows.get_column("session_id").to_list()
        assert parsed.created_at == [r["createdAt"] for r in records]
    probe = probe_page(page(records), page=1)
    assert probe.lines and probe.session_ids[0] == record(3)["sessionId"]


def test_fast_pages_are_read_together_and_a_refused_page_takes_the_exact_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`assemble` reads every fast page's lines in one Polars call; if Polars refuses the
    batch, the pages it refuses alone are parsed again by the exact path, from the probe's
    lines and metadata, with nothing lost (pretty-printed metadata included)."""
    from vsdk_analytics import _normalize

    pages = [[record(3 * n + i) for i in range(3)] for n in range(4)]
    bodies = [json.dumps({"data": recs}, indent=2).encode() for recs in pages]
    parsed = [probe_page(body, page=n) for n, body in enumerate(bodies, start=1)]
    assert all(p.fast and p.lines.count(b"\n") == 3 for p in parsed)
    exact = [probe_page(body, page=n, strict=True) for n, body in enumerate(bodies, start=1)]
    expected, _ = assemble(exact, strict=True)

    reads: list[int] = []
    real = _normalize._read_lines
    refused = record(7)["sessionId"].encode()  # on page 3

    def refusing(lines: bytes, rows: int) -> pl.DataFrame | None:
        reads.append(rows)
        return None if refused in lines else real(lines, rows)

    monkeypatch.setattr(_normalize, "_read_lines", refusing)
    rows, problems = assemble(parsed)
    assert not problems
    assert_frame_equal(rows, expected)
    # the batch, each page alone, then the pages Polars took, together
    assert reads == [12, 3, 3, 3, 3, 9]

    reads.clear()
    monkeypatch.setattr(_normalize, "_read_lines", real)
    fresh = [probe_page(body, page=n) for n, body in enumerate(bodies, start=1)]
    together, _ = assemble(fresh)
    assert_frame_equal(together, expected)
