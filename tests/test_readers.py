"""Readers agree: pandas (pyarrow), DuckDB, Polars and pyarrow.dataset on every layout.

Every layout the library writes (one file; ``start_date``; ``start_date`` + ``tag``;
``status``; a synced dataset with its state and lock files), in both profiles, with null
partition values (Hive's default partition). Each reader must see every row, the same
null counts and plain column types. The pandas call is the recipe of docs/parquet.md,
executed as written there.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from tests._frames import random_sessions
from vsdk_analytics import SESSIONS_SCHEMA, read_parquet, sync_sessions, write_parquet
from vsdk_analytics._dataset import HIVE_NULL_PARTITION, START_DATE
from vsdk_analytics.testing import FakeServer, generate_sessions
from vsdk_analytics.testing._data import encode_json

pytestmark = pytest.mark.integration

DOCS = Path(__file__).parents[1] / "docs" / "parquet.md"
LAYOUTS: dict[str, list[str] | None] = {
    "file": None,
    "start_date": [START_DATE],
    "start_date+tag": [START_DATE, "tag"],
    "status": ["status"],
    "synced": [START_DATE],
}
READERS = ("pandas", "duckdb", "polars", "pyarrow.dataset")
TIMES = ("start", "end", "created_at", "updated_at")


def pandas_recipe() -> str:
    """The python block after ``<!-- pandas-recipe -->`` in docs/parquet.md."""
    text = DOCS.read_text(encoding="utf-8")
    found = re.search(r"<!-- pandas-recipe -->\s*```python\n(.*?)```", text, re.S)
    assert found, "docs/parquet.md lost its pandas recipe"
    return found.group(1)


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    data = random_sessions(400, seed=5, null_start_share=0.1)
    assert data.get_column("tag").null_count() and data.get_column("start").null_count()
    # A null status too, so the status layout has a default partition.
    return data.with_columns(
        pl.when(pl.int_range(pl.len()) % 37 == 0).then(None).otherwise(pl.col("status"))
        .alias("status")
    )  # fmt: skip


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, pl.DataFrame]]:
    result = {}
    sessions = []
    for i, session in enumerate(generate_sessions(300, seed=13)):
        record = session.to_dict()
        if i % 20 == 0:  # never started: no start, so no start_date
            for key in ("start", "end", "duration"):
                record.pop(key, None)
            record["status"] = "failed"
        sessions.append(session._replace(status=record["status"], body=encode_json(record)))
    with FakeServer(sessions=sessions) as server:
        for profile in ("bi", "native"):
            root = tmp_path_factory.mktemp("synced") / profile
            sync_sessions(
                root, server.credentials(), base_url=server.url, profile=profile, progress=False
            )  # type: ignore[arg-type]
            result[profile] = (root, read_parquet(root))
    return result


def written(
    layout: str, profile: str, frame: pl.DataFrame, tmp_path: Path, synced: dict[str, Any]
) -> tuple[Path, pl.DataFrame]:
    if layout == "synced":
        root, data = synced[profile]
        assert {"_vsdk_sync.json", "_vsdk_sync.lock"} <= {p.name for p in root.iterdir()}
        return root, data
    target = tmp_path / ("s.parquet" if LAYOUTS[layout] is None else "ds")
    write_parquet(frame, target, profile=profile, partition_by=LAYOUTS[layout])  # type: ignore[arg-type]
    return target, frame


def read_with(reader: str, path: Path) -> tuple[int, dict[str, int], dict[str, str]]:
    """Rows, null counts and type names per column, as ``reader`` sees ``path``."""
    glob = f"{path}/**/*.parquet" if path.is_dir() else str(path)
    if reader == "pandas":
        scope: dict[str, Any] = {"path": str(path)}
        exec(pandas_recipe(), scope)  # the documented recipe, verbatim
        df: pd.DataFrame = scope["df"]
        return (
            len(df),
            {c: int(df[c].isna().sum()) for c in df.columns},
            {c: str(df[c].dtype) for c in df.columns},
        )
    if reader == "duckdb":
        hive = ", hive_partitioning = true" if path.is_dir() else ""
        relation = duckdb.sql(f"SELECT * FROM read_parquet('{glob}'{hive})")
        names, types = relation.columns, [str(t) for t in relation.types]
        counted = duckdb.sql(
            "SELECT count(*), " + ", ".join(f'count("{n}")' for n in names) + " FROM relation"
        )
        assert counted is not None
        counts = counted.fetchall()[0]
        rows = int(counts[0])
        return (
            rows,
            {n: rows - int(c) for n, c in zip(names, counts[1:], strict=True)},
            dict(zip(names, types, strict=True)),
        )
    if reader == "polars":
        got = pl.scan_parquet(glob, hive_partitioning=path.is_dir()).collect()
        return (
            got.height,
            {c: got[c].null_count() for c in got.columns},
            {c: str(t) for c, t in got.schema.items()},
        )
    table = ds.dataset(path, format="parquet", partitioning="hive").to_table()
    return (
        table.num_rows,
        {n: table.column(n).null_count for n in table.column_names},
        {f.name: str(f.type) for f in table.schema},
    )


def expected_nulls(data: pl.DataFrame) -> dict[str, int]:
    nulls = {c: data.get_column(c).null_count() for c in SESSIONS_SCHEMA.names()}
    nulls[START_DATE] = nulls["start"]
    return nulls


def check_types(reader: str, profile: str, types: dict[str, str]) -> None:
    events = types["webhook_events"]
    if reader == "pandas":
        assert all(types[t].startswith("datetime64[") and "UTC" in types[t] for t in TIMES)
        assert types["duration_s"] == "float64"
        assert types["session_id"] in {"object", "str", "string"}
        assert events in {"object", "str", "string"}
    elif reader == "duckdb":
        assert all(types[t] == "TIMESTAMP WITH TIME ZONE" for t in TIMES)
        assert types["duration_s"] == "DOUBLE" and types["session_id"] == "VARCHAR"
        assert events == ("VARCHAR" if profile == "bi" else "VARCHAR[]")
        if START_DATE in types:
            assert types[START_DATE] == "DATE"
    elif reader == "polars":
        assert all(types[t] == "Datetime(time_unit='us', time_zone='UTC')" for t in TIMES)
        assert types["duration_s"] == "Float64" and types["session_id"] == "String"
        assert events == ("String" if profile == "bi" else "List(String)")
    else:
        assert all(types[t] == "timestamp[us, tz=UTC]" for t in TIMES)
        # The Arrow schema the files store: Polars' large_string (no dictionary, no view)
        assert types["duration_s"] == "double" and types["session_id"] == "large_string"
        assert events == (
            "large_string" if profile == "bi" else "large_list<element: large_string>"
        )
    for name in ("tag", "status"):
        assert "dictionary" not in types[name] and "category" not in types[name]


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("profile", ["bi", "native"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_readers_agree(
    layout: str,
    profile: str,
    reader: str,
    frame: pl.DataFrame,
    synced: dict[str, Any],
    tmp_path: Path,
) -> None:
    path, data = written(layout, profile, frame, tmp_path, synced)
    if path.is_dir():
        assert any(f"={HIVE_NULL_PARTITION}" in p.as_posix() for p in path.rglob("*.parquet"))
    rows, nulls, types = read_with(reader, path)
    assert rows == data.height
    want = expected_nulls(data)
    columns = set(SESSIONS_SCHEMA.names()) | (set(LAYOUTS[layout] or []))
    assert set(nulls) == columns
    assert {c: nulls[c] for c in columns} == {c: want[c] for c in columns}
    check_types(reader, profile, types)


def test_the_pandas_default_needs_the_recipe(frame: pl.DataFrame, tmp_path: Path) -> None:
    """Why the recipe exists: a null partition value breaks pyarrow's dictionary default."""
    root = write_parquet(frame, tmp_path / "ds", partition_by=[START_DATE, "tag"])
    with pytest.raises(pa.ArrowInvalid, match="dictionaries with nulls"):
        pd.read_parquet(root, engine="pyarrow")
    scope: dict[str, Any] = {"path": str(root)}
    exec(pandas_recipe(), scope)  # the documented recipe, verbatim
    assert len(scope["df"]) == frame.height
