"""Peer: dlt's declarative REST API source, loaded to a local filesystem destination as Parquet.

The source pages with dlt's ``page_number`` paginator (``base_page=1``, ``page_param="page"``,
``perPage`` as a fixed query parameter). The API's ``pageInfo.total`` counts *items*, not
pages, so it cannot serve as ``total_path`` (a page count); the paginator stops at the first
empty page instead (``total_path=None``, ``stop_after_empty_page=True``), which costs one extra
request. The token goes in the ``Authorization`` header, as the API wants it (no ``Bearer``).
Telemetry is switched off and dlt's state lives under ``--out``: nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from _common import SESSIONS_PATH, Outcome, main, parser


def _configure_dlt(out: Path) -> None:
    # Before dlt is imported: no anonymous telemetry, no state in the home directory.
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    os.environ["DLT_DATA_DIR"] = str(out / "dlt-data")
    os.environ["DLT_PROJECT_DIR"] = str(out / "dlt-project")
    (out / "dlt-project").mkdir(parents=True, exist_ok=True)


def work(args: argparse.Namespace) -> Outcome:
    import dlt  # noqa: PLC0415 - after _configure_dlt has set its environment
    import pyarrow as pa  # noqa: PLC0415 - dlt's Parquet writer imports it anyway
    import pyarrow.parquet as pq  # noqa: PLC0415
    from dlt.sources.rest_api import rest_api_source  # noqa: PLC0415

    source = rest_api_source(
        {
            "client": {
                "base_url": args.url,
                "auth": {
                    "type": "api_key",
                    "name": "Authorization",
                    "api_key": args.token,
                    "location": "header",
                },
            },
            "resource_defaults": {"write_disposition": "replace"},
            "resources": [
                {
                    "name": "sessions",
                    "endpoint": {
                        "path": SESSIONS_PATH.lstrip("/"),
                        "params": {"perPage": args.per_page},
                        "data_selector": "data",
                        "paginator": {
                            "type": "page_number",
                            "base_page": 1,
                            "page_param": "page",
                            "total_path": None,
                            "stop_after_empty_page": True,
                        },
                    },
                }
            ],
        }
    )
    lake = args.out / "lake"
    options: dict[str, object] = {"progress": "log"} if args.verbose else {}
    pipeline = dlt.pipeline(
        pipeline_name="vsdk_bench",
        pipelines_dir=str(args.out / "pipelines"),
        destination=dlt.destinations.filesystem(bucket_url=lake.as_uri()),
        dataset_name="vsdk",
        **options,
    )
    pipeline.run(source, loader_file_format="parquet")
    files = sorted((lake / "vsdk" / "sessions").rglob("*.parquet"))

    def write_ids(path: Path) -> None:
        tables = [pq.read_table(f, columns=["session_id"]) for f in files]
        ids = (
            pa.concat_tables(tables)
            if tables
            else pa.table({"session_id": pa.array([], pa.string())})
        )
        pq.write_table(ids, path)

    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    return Outcome(rows, write_ids, details={"parquet_files": len(files)})


if __name__ == "__main__":
    p = parser("dlt rest_api -> filesystem (Parquet)")
    p.add_argument("--verbose", action="store_true", help="dlt's progress log on stderr")
    parsed = p.parse_args()
    parsed.out.mkdir(parents=True, exist_ok=True)
    _configure_dlt(parsed.out)
    sys.exit(main("dlt rest_api", parsed, work))
