"""Peer: the hand-written loop most people start with.

One ``httpx.Client``, pages fetched one after another, each ``response.json()`` flattened
with ``pandas.json_normalize``, the pages concatenated and written with ``DataFrame.to_parquet``.
Paging stops at the last page by ``pageInfo.totalItems`` and the echoed ``perPage`` (or at a
short page when the totals are missing).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from _common import SESSIONS_PATH, Outcome, main, parser


def work(args: argparse.Namespace) -> Outcome:
    frames: list[pd.DataFrame] = []
    headers = {"Authorization": args.token}
    with httpx.Client(base_url=args.url, headers=headers, timeout=120.0) as client:
        page, last_page = 1, None
        while True:
            response = client.get(SESSIONS_PATH, params={"page": page, "perPage": args.per_page})
            response.raise_for_status()
            body = response.json()
            data = body["data"]
            if data:
                frames.append(pd.json_normalize(data))
            info = body.get("pageInfo") or {}
            served = info.get("perPage") or args.per_page
            if last_page is None and info.get("totalItems") is not None:
                last_page = max(1, math.ceil(info["totalItems"] / served))
            if not data or (page >= last_page if last_page is not None else len(data) < served):
                break
            page += 1
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    frame.to_parquet(args.out / "sessions.parquet")

    def write_ids(path: Path) -> None:
        ids = frame["sessionId"] if "sessionId" in frame else pd.Series([], dtype=object)
        pq.write_table(pa.table({"session_id": pa.array(ids.tolist(), pa.string())}), path)

    return Outcome(len(frame), write_ids, details={"pages": page, "columns": frame.shape[1]})


if __name__ == "__main__":
    sys.exit(main("httpx + pandas.json_normalize", parser(__doc__ or "").parse_args(), work))
