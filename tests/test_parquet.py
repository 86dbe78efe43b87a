"""Parquet export: exact types for pyarrow, DuckDB and Polars, round trips, atomic writes."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import date, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests._frames import at, empty, random_sessions, sessions
from vsdk_analytics import scan_parquet
from vsdk_analytics._dataset import parquet as _parquet
from vsdk_analytics._dataset.files import HIVE_NULL_PARTITION, open_writer, to_arrow
from vsdk_analytics._dataset.parquet import read_parquet, write_parquet
from vsdk_analytics._errors import ConfigurationError, DatasetConflictError
from vsdk_analytics._schema import SCHEMA_VERSION, SESSIONS_SCHEMA

STRING_COLUMNS = [n for n, t in SESSIONS_SCHEMA.items() if t == pl.String()]
TIME_COLUMNS = ["start", "end", "created_at", "updated_at"]


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    base = random_sessions(600, seed=21)
    edge = sessions(
        [
            {"session_id": "edge-empty-events", "webhook_events": [], "start": at(1)},
            {"session_id": "edge-null-events", "webhook_events": None, "start": at(1)},
            {"session_id": "edge-odd-tag", "tag": "a/b=c%d:e?f#g é", "start": at(2)},
            {"session_id": "edge-no-start", "start": None, "created_at": at(3)},
            {
                "session_id": "edge-micros",
                "start": at(1) + timedelta(microseconds=123_457),
                "end": at(2) + timedelta(microseconds=1),
                "duration_s": 3599.876544,
            },
        ]
    )
    return pl.concat([base, edge])


def same_rows(left: pl.DataFrame, right: pl.DataFrame) -> bool:
    return left.sort("session_id").equals(right.sort("session_id"))


def files_under(root: Path) -> list[Path]:
    return sorted(root.rglob("*.parquet"))


def arrow_schema(path: Path) -> Any:
    return pq.ParquetFile(path).schema_arrow


# ---------------------------------------------------------------------------
# Types as readers see them
# ---------------------------------------------------------------------------


def test_bi_profile_types_for_pyarrow(tmp_path: Path, frame: pl.DataFrame) -> None:
    target = write_parquet(frame, tmp_path / "s.parquet")
    parquet = pq.ParquetFile(target)
    schema = parquet.schema_arrow
    assert schema.names == SESSIONS_SCHEMA.names()
    for field in schema:
        assert not pa.types.is_string_view(field.type), field
        assert not pa.types.is_dictionary(field.type), field
        assert not pa.types.is_nested(field.type), field
        if field.name in TIME_COLUMNS:
            assert field.type == pa.timestamp("us", tz="UTC")
        elif field.name == "duration_s":
            assert field.type == pa.float64()
        else:  # the Arrow schema Polars stores: large_string (pandas reads it as str)
            assert field.type == pa.large_string(), field
    for i in range(parquet.metadata.num_columns):
        column = parquet.schema.column(i)
        if column.name in TIME_COLUMNS:
            assert column.physical_type == "INT64"
            logical = json.loads(column.logical_type.to_json())
            assert logical["Type"] == "Timestamp"
            assert logical["isAdjustedToUTC"] is True
            assert logical["timeUnit"] == "microseconds"
            assert column.converted_type == "TIMESTAMP_MICROS"  # for older readers too
        if column.name in STRING_COLUMNS or column.name == "webhook_events":
            assert column.physical_type == "BYTE_ARRAY"
            assert column.logical_type.type == "STRING"
            assert column.converted_type == "UTF8"
    assert parquet.metadata.num_row_groups == 1
    row_group = parquet.metadata.row_group(0)
    assert {row_group.column(i).compression for i in range(row_group.num_columns)} == {"SNAPPY"}
    assert all(row_group.column(i).statistics is not None for i in range(row_group.num_columns))


@pytest.mark.parametrize("profile", ["bi", "native"])
def test_a_large_file_has_row_groups_of_65536_rows_and_reads_back_whole(
    tmp_path: Path, profile: Any
) -> None:
    frame = random_sessions(140_000, seed=3)
    target = write_parquet(frame, tmp_path / "s.parquet", profile=profile)
    metadata = pq.ParquetFile(target).metadata
    sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    assert sizes == [65_536, 65_536, 140_000 - 2 * 65_536]
    assert read_parquet(target).equals(frame)
    query = f"SELECT count(*), count(DISTINCT session_id) FROM '{target}'"
    assert duckdb.sql(query).fetchall() == [(140_000, frame["session_id"].n_unique())]


@pytest.mark.parametrize("profile", ["bi", "native"])
def test_streamed_and_whole_files_show_one_schema(
    tmp_path: Path, frame: pl.DataFrame, profile: str
) -> None:
    """`fetch -o` writes row groups with pyarrow, `write_parquet` whole files with Polars:
    readers must not be able to tell them apart (one Arrow schema, one Parquet schema,
    the same values), or a dataset mixing both fails to unify in pyarrow."""
    whole = write_parquet(frame, tmp_path / "whole.parquet", profile=profile)
    table = to_arrow(frame, profile)
    streamed = tmp_path / "streamed.parquet"
    writer = open_writer(streamed, table.schema, "snappy")
    writer.write_table(table)
    writer.close()
    left, right = pq.ParquetFile(whole), pq.ParquetFile(streamed)
    assert left.schema_arrow.remove_metadata() == right.schema_arrow.remove_metadata()
    assert left.schema.equals(right.schema)
    assert pq.read_table(whole).drop_columns([]).equals(pq.read_table(streamed))
    both = pa.dataset.dataset([str(whole), str(streamed)], format="parquet").to_table()
    assert both.num_rows == 2 * frame.height


def test_files_of_earlier_builds_and_new_ones_read_together(
    tmp_path: Path, frame: pl.DataFrame
) -> None:
    """Earlier builds wrote plain ``string`` and no Arrow schema; a directory holding such
    a file and a new one (``large_string`` stored) reads whole in pyarrow and Polars."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    old = to_arrow(frame, "bi", plain=True)
    pq.write_table(old, folder / "a-old.parquet", store_schema=False)
    write_parquet(frame, folder / "b-new.parquet")
    for order in (["a-old", "b-new"], ["b-new", "a-old"]):
        paths = [str(folder / f"{name}.parquet") for name in order]
        table = pa.dataset.dataset(paths, format="parquet").to_table()
        assert table.num_rows == 2 * frame.height
        assert table.column("session_id").null_count == 2 * frame["session_id"].null_count()
    both = pl.scan_parquet(folder / "*.parquet").collect()
    assert both.height == 2 * frame.height
    assert (
        both.get_column("session_id")
        .sort()
        .equals(pl.concat([frame, frame]).get_column("session_id").sort())
    )


def test_native_profile_keeps_the_event_list(tmp_path: Path, frame: pl.DataFrame) -> None:
    target = write_parquet(frame, tmp_path / "s.parquet", profile="native")
    schema = arrow_schema(target)
    assert schema.field("webhook_events").type == pa.large_list(
        pa.field("element", pa.large_string())
    )
    assert all(schema.field(n).type == pa.large_string() for n in STRING_COLUMNS)
    row_group = pq.ParquetFile(target).metadata.row_group(0)
    assert row_group.column(0).compression == "ZSTD"


def test_duckdb_reads_plain_types_and_counts_a_hive_dataset(
    tmp_path: Path, frame: pl.DataFrame
) -> None:
    root = write_parquet(frame, tmp_path / "ds", partition_by="start_date")
    source = f"read_parquet('{root}/**/*.parquet', hive_partitioning = true)"
    described = duckdb.sql(f"DESCRIBE SELECT * FROM {source}").fetchall()
    types = {row[0]: row[1] for row in described}
    assert {types[c] for c in TIME_COLUMNS} == {"TIMESTAMP WITH TIME ZONE"}
    assert {types[c] for c in [*STRING_COLUMNS, "webhook_events"]} == {"VARCHAR"}
    assert types["duration_s"] == "DOUBLE"
    assert types["start_date"] == "DATE"
    got = dict(duckdb.sql(f"SELECT start_date, count(*) FROM {source} GROUP BY ALL").fetchall())
    dates = frame.group_by(pl.col("start").dt.date().alias("d")).len()
    assert got == dict(dates.iter_rows())
    assert got[None] == frame["start"].null_count()
    total = duckdb.sql(f"SELECT count(*), count(DISTINCT session_id) FROM {source}").fetchall()
    assert total == [(frame.height, frame.height)]


def test_polars_scans_the_hive_dataset(tmp_path: Path, frame: pl.DataFrame) -> None:
    root = write_parquet(frame, tmp_path / "ds", partition_by=["start_date", "tag"])
    scanned = pl.scan_parquet(root, hive_partitioning=True)
    schema = scanned.collect_schema()
    assert schema["start_date"] == pl.Date()
    assert schema["start"] == pl.Datetime("us", "UTC")
    counts = dict(scanned.group_by("start_date").len().collect().iter_rows())
    expected = frame.group_by(pl.col("start").dt.date()).len()
    assert counts == dict(expected.iter_rows())
    odd = scanned.filter(pl.col("session_id") == "edge-odd-tag").collect()
    assert odd["tag"].to_list() == ["a/b=c%d:e?f#g é"]


def test_partition_layout(tmp_path: Path) -> None:
    small = sessions(
        [
            {"session_id": "a", "start": at(1), "tag": "x/y"},
            {"session_id": "b", "start": None, "tag": None},
            {"session_id": "c", "start": at(2, days=1), "tag": "x/y"},
        ]
    )
    root = write_parquet(small, tmp_path / "ds", partition_by=["start_date", "tag"])
    layout = [p.relative_to(root).as_posix() for p in files_under(root)]
    assert layout == [
        "start_date=2025-06-18/tag=x%2Fy/part-0.parquet",
        "start_date=2025-06-19/tag=x%2Fy/part-0.parquet",
        f"start_date={HIVE_NULL_PARTITION}/tag={HIVE_NULL_PARTITION}/part-0.parquet",
    ]
    # The derived column stays out of the files; a schema column moves into the path.
    names = arrow_schema(root / layout[0]).names
    assert "start_date" not in names
    assert "tag" not in names
    assert "start" in names


# ---------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["bi", "native"])
@pytest.mark.parametrize(
    "partition_by", [None, "start_date", "tag", ["start_date", "deployment_id", "status"]]
)
def test_round_trip(
    tmp_path: Path, frame: pl.DataFrame, profile: Any, partition_by: str | list[str] | None
) -> None:
    target = write_parquet(
        frame.lazy(), tmp_path / "out", profile=profile, partition_by=partition_by
    )
    back = read_parquet(target)
    assert back.schema == SESSIONS_SCHEMA
    assert same_rows(back, frame)
    if partition_by is None:
        assert back.equals(frame)  # one file keeps the row order


@pytest.mark.parametrize("profile", ["bi", "native"])
@pytest.mark.parametrize("partition_by", [None, "start_date", ["tag", "start_date"]])
def test_round_trip_empty(tmp_path: Path, profile: Any, partition_by: Any) -> None:
    target = write_parquet(empty(), tmp_path / "out", profile=profile, partition_by=partition_by)
    back = read_parquet(target)
    assert back.schema == SESSIONS_SCHEMA
    assert back.height == 0
    assert pl.scan_parquet(target, hive_partitioning=True).collect().height == 0
    glob = f"{target}/**/*.parquet" if partition_by else str(target)
    sql = f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning = true)"
    assert duckdb.sql(sql).fetchall() == [(0,)]


def test_bi_events_text_round_trips_null_and_empty(tmp_path: Path) -> None:
    small = sessions(
        [
            {"webhook_events": None},
            {"webhook_events": []},
            {"webhook_events": ["ai-deployment-session-started"]},
            {"webhook_events": ["ai-deployment-session-started", "ai-deployment-session-failed"]},
        ]
    )
    target = write_parquet(small, tmp_path / "s.parquet")
    raw = pq.read_table(target).column("webhook_events").to_pylist()
    assert raw == [
        None,
        "[]",
        '["ai-deployment-session-started"]',
        '["ai-deployment-session-started","ai-deployment-session-failed"]',
    ]
    assert read_parquet(target).equals(small)


@pytest.mark.parametrize(
    "events", [["a,b"], [""], [None, "x"], [None], ['"', "\\", "[", "],[", "é\n"], ["null"]]
)
def test_bi_stores_any_event_string_exactly(tmp_path: Path, events: list[Any]) -> None:
    small = sessions([{"webhook_events": events}, {"webhook_events": None}])
    for profile in ("bi", "native"):
        target = write_parquet(small, tmp_path / f"{profile}.parquet", profile=profile)
        assert read_parquet(target).equals(small)
        assert scan_parquet(target).collect().equals(small)
    text = pq.read_table(tmp_path / "bi.parquet").column("webhook_events").to_pylist()
    assert [None if t is None else json.loads(t) for t in text] == [events, None]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.none() | st.lists(st.none() | st.text(max_size=8), max_size=4),
        min_size=1,
        max_size=6,
    )
)
def test_bi_events_round_trip_any_lists(events: list[list[str | None] | None]) -> None:
    small = sessions([{"session_id": str(i), "webhook_events": e} for i, e in enumerate(events)])
    with tempfile.TemporaryDirectory() as tmp:
        target = write_parquet(small, Path(tmp) / "s.parquet")
        assert read_parquet(target).equals(small)


def test_version_0_1_comma_joined_files_still_read(tmp_path: Path) -> None:
    small = sessions([{"webhook_events": ["a", "b"]}, {"webhook_events": []}, {}])
    table = pq.read_table(write_parquet(small, tmp_path / "new.parquet"))
    legacy = table.set_column(
        table.schema.get_field_index("webhook_events"),
        "webhook_events",
        pa.array(["a,b", "", None], pa.string()),
    ).replace_schema_metadata(
        {"vsdk_analytics.version": "0.1.0", "vsdk_analytics.webhook_events_separator": ","}
    )
    pq.write_table(legacy, tmp_path / "old.parquet")
    assert read_parquet(tmp_path / "old.parquet").equals(small)


def test_partition_values_hive_cannot_tell_from_null_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="empty string"):
        write_parquet(sessions([{"tag": ""}]), tmp_path / "ds", partition_by="tag")
    with pytest.raises(ConfigurationError, match="empty string"):
        write_parquet(sessions([{"tag": HIVE_NULL_PARTITION}]), tmp_path / "ds", partition_by="tag")
    # Without partitioning an empty string is just a value.
    target = write_parquet(sessions([{"tag": ""}]), tmp_path / "s.parquet")
    assert read_parquet(target)["tag"].to_list() == [""]


# ---------------------------------------------------------------------------
# Metadata
# ---------------------------------------------------------------------------


def expected_version() -> str:
    return version("vsdk-analytics")  # the installed metadata: the source's version too


def test_file_metadata(
    tmp_path: Path, frame: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sekrit-token-value-1234567890"
    monkeypatch.setenv("VIDEOSDK_AUTH_TOKEN", secret)
    monkeypatch.setenv("VIDEOSDK_SECRET_KEY", secret)
    target = write_parquet(frame, tmp_path / "s.parquet")
    metadata = pl.read_parquet_metadata(target)
    written_at = metadata.pop("vsdk_analytics.written_at")
    assert written_at.endswith("Z")
    assert metadata.pop("ARROW:schema")  # the writer's own key; every other key is ours
    assert metadata == {
        "vsdk_analytics.version": expected_version(),
        "vsdk_analytics.schema_version": str(SCHEMA_VERSION),
        "vsdk_analytics.profile": "bi",
        "vsdk_analytics.rows": str(frame.height),
        "vsdk_analytics.webhook_events_encoding": "json",
    }
    assert secret.encode() not in target.read_bytes()

    root = write_parquet(frame, tmp_path / "ds", profile="native", partition_by="start_date")
    for path in files_under(root):
        meta = pl.read_parquet_metadata(path)
        assert meta["vsdk_analytics.profile"] == "native"
        assert meta["vsdk_analytics.partition_by"] == '["start_date"]'
        assert int(meta["vsdk_analytics.rows"]) == pq.ParquetFile(path).metadata.num_rows
        assert "vsdk_analytics.webhook_events_encoding" not in meta
        assert secret.encode() not in path.read_bytes()


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop("extra"), "missing columns: extra"),
        (lambda f: f.with_columns(x=pl.lit(1)), "unexpected columns: x"),
        (lambda f: f.with_columns(pl.col("duration_s").cast(pl.Int64)), "duration_s is Int64"),
        (
            lambda f: f.with_columns(pl.col("start").dt.replace_time_zone(None)),
            "start is Datetime",
        ),
        (lambda f: f.select(reversed(f.columns)), "out of order"),
    ],
)
def test_write_checks_the_schema(tmp_path: Path, change: Any, message: str) -> None:
    bad = change(empty())
    with pytest.raises(ConfigurationError, match=message):
        write_parquet(bad, tmp_path / "s.parquet")
    with pytest.raises(ConfigurationError, match=message):
        write_parquet(bad.lazy(), tmp_path / "s.parquet")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"profile": "csv"},
        {"compression": "zip"},
        {"partition_by": "start"},
        {"partition_by": "duration_s"},
        {"partition_by": "webhook_events"},
        {"partition_by": "nope"},
        {"partition_by": ["tag", "tag"]},
        {"partition_by": []},
    ],
)
def test_write_rejects_bad_options(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        write_parquet(empty(), tmp_path / "s", **kwargs)


def test_compression_option(tmp_path: Path) -> None:
    target = write_parquet(sessions([{}]), tmp_path / "s.parquet", compression="GZIP")
    assert pq.ParquetFile(target).metadata.row_group(0).column(0).compression == "GZIP"
    target = write_parquet(sessions([{}]), tmp_path / "u.parquet", compression="uncompressed")
    assert pq.ParquetFile(target).metadata.row_group(0).column(0).compression == "UNCOMPRESSED"


def test_missing_parent_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        write_parquet(empty(), tmp_path / "no" / "s.parquet")


def test_read_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no Parquet file"):
        read_parquet(tmp_path / "missing.parquet")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(ConfigurationError, match="no Parquet files"):
        read_parquet(tmp_path / "empty_dir")
    other = tmp_path / "other.parquet"
    pl.DataFrame({"x": [1]}).write_parquet(other)
    with pytest.raises(ConfigurationError, match="missing columns"):
        read_parquet(other)
    future = tmp_path / "future.parquet"
    table = pa.table({"session_id": ["s"]}).replace_schema_metadata(
        {"vsdk_analytics.schema_version": "99"}
    )
    pq.write_table(table, future)
    with pytest.raises(ConfigurationError, match="schema version 99"):
        read_parquet(future)


# ---------------------------------------------------------------------------
# Replacing and atomicity
# ---------------------------------------------------------------------------


def test_overwrite_file(tmp_path: Path) -> None:
    first, second = sessions([{"session_id": "one"}]), sessions([{"session_id": "two"}])
    target = tmp_path / "s.parquet"
    write_parquet(first, target)
    with pytest.raises(DatasetConflictError, match="exists"):
        write_parquet(second, target, overwrite=False)
    assert read_parquet(target).equals(first)
    write_parquet(second, target)
    assert read_parquet(target).equals(second)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.parquet"]


def test_overwrite_dataset(tmp_path: Path, frame: pl.DataFrame) -> None:
    root = tmp_path / "ds"
    write_parquet(frame, root, partition_by="start_date")
    with pytest.raises(DatasetConflictError, match="exists"):
        write_parquet(frame.head(3), root, partition_by="start_date", overwrite=False)
    small = frame.filter(pl.col("start").is_not_null()).head(3)
    write_parquet(small, root, partition_by="tag")
    assert same_rows(read_parquet(root), small)
    assert all(p.relative_to(root).parts[0].startswith("tag=") for p in files_under(root))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_refuses_to_replace_what_is_not_a_dataset(tmp_path: Path) -> None:
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigurationError, match="refusing"):
        write_parquet(empty(), precious, partition_by="start_date")
    with pytest.raises(ConfigurationError, match="refusing"):
        write_parquet(empty(), precious, partition_by="start_date", overwrite=True)
    with pytest.raises(ConfigurationError, match="directory"):
        write_parquet(empty(), precious)
    assert (precious / "notes.txt").read_text() == "keep me"
    a_file = tmp_path / "s.parquet"
    write_parquet(empty(), a_file)
    with pytest.raises(ConfigurationError, match="is a file"):
        write_parquet(empty(), a_file, partition_by="tag")


class BoomError(RuntimeError):
    pass


@pytest.fixture
def failing_writes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Make the second file written die halfway: bytes on disk, no footer, an error."""
    written: list[Path] = []
    real = _parquet.write_file

    def half_write(table: Any, path: Path, compression: str, metadata: dict[str, str]) -> None:
        written.append(path)
        if len(written) < 2:
            real(table, path, compression, metadata)
            return
        with path.open("xb") as handle:
            handle.write(b"PAR1" + b"\0" * 100)
        raise BoomError("disk on fire")

    monkeypatch.setattr(_parquet, "write_file", half_write)
    return written


def test_failed_file_write_leaves_the_target_untouched(
    tmp_path: Path, frame: pl.DataFrame, failing_writes: list[Path]
) -> None:
    target = tmp_path / "s.parquet"
    write_parquet(frame, target)  # the first write succeeds
    before = target.read_bytes()
    with pytest.raises(BoomError):
        write_parquet(frame.head(5), target)
    assert target.read_bytes() == before
    assert failing_writes[1] != target
    assert failing_writes[1].parent == tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.parquet"]  # no temporary left


def test_failed_dataset_write_leaves_the_target_untouched(
    tmp_path: Path, frame: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "ds"
    write_parquet(frame, root, partition_by="start_date")
    before = {p: p.read_bytes() for p in files_under(root)}
    real = _parquet.write_file
    calls = []

    def dies_on_third(table: Any, path: Path, compression: str, metadata: dict[str, str]) -> None:
        calls.append(path)
        assert root not in path.parents  # built elsewhere, never inside the live dataset
        if len(calls) == 3:
            path.write_bytes(b"PAR1 half")
            raise BoomError("killed")
        real(table, path, compression, metadata)

    monkeypatch.setattr(_parquet, "write_file", dies_on_third)
    with pytest.raises(BoomError):
        write_parquet(frame, root, partition_by="start_date")
    assert {p: p.read_bytes() for p in files_under(root)} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
    assert same_rows(read_parquet(root), frame)


def test_failed_swap_restores_the_old_dataset(
    tmp_path: Path, frame: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "ds"
    write_parquet(frame, root, partition_by="start_date")
    real_replace = os.replace
    calls = []

    def second_rename_fails(src: Any, dst: Any) -> None:
        calls.append((Path(src), Path(dst)))
        if len(calls) == 2:
            raise OSError("rename failed")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", second_rename_fails)
    with pytest.raises(OSError, match="rename failed"):
        write_parquet(frame.head(2), root, partition_by="tag")
    assert same_rows(read_parquet(root), frame)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_start_date_is_the_utc_date(tmp_path: Path) -> None:
    late = sessions([{"session_id": "late", "start": at(23.99)}])
    root = write_parquet(late, tmp_path / "ds", partition_by="start_date")
    scanned = pl.scan_parquet(root, hive_partitioning=True).collect()
    assert scanned["start_date"].to_list() == [date(2025, 6, 18)]
