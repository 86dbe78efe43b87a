"""Peak memory of ``fetch -o``: a fetch streamed to Parquet, against fetching then writing.

    python benchmarks/stream_memory.py [--sessions 2000000] [--per-page 100] [--eager]

Starts the fake API (``python -m vsdk_analytics.testing``) in its own process on
127.0.0.1, then runs the library in fresh child processes: ``vsdk-analytics fetch -o FILE``
(streamed, at its defaults), ``fetch_sessions_to_parquet`` per ``--batch-rows``, and with
``--eager`` also
``fetch_sessions`` + ``write_parquet``. Each child reports its own peak RSS (``VmHWM``),
wall time and rows; the file's session ids are checked against the fake's ground truth.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import FakeAPI, child_env, ground_truth  # noqa: E402 - the harness's server

CHILD = """
import json, sys, time
started = time.perf_counter()
import vsdk_analytics as va
url, token, per_page, out, mode, batch_rows = sys.argv[1:7]
credentials = va.Credentials(token=token)
if mode == "cli":  # what a user runs: vsdk-analytics fetch -o FILE (streamed)
    import os
    from vsdk_analytics._cli import main
    os.environ["VIDEOSDK_AUTH_TOKEN"] = token
    code = main(["fetch", "-o", out, "--base-url", url, "--per-page", per_page, "--no-progress"])
    assert code == 0, code
    rows = va.parquet_info(out)["rows"]
elif mode == "noop":  # the fetch alone, batches dropped: what the writer adds is the rest
    async def main():
        async with va.AsyncClient(credentials, base_url=url) as client:
            return await client.stream_sessions(
                lambda batch: None, per_page=int(per_page), batch_rows=int(batch_rows)
            )
    import asyncio
    rows = asyncio.run(main()).sessions
elif mode == "streamed":
    stats = va.fetch_sessions_to_parquet(
        out, credentials, base_url=url, per_page=int(per_page), progress=False,
        batch_rows=int(batch_rows),
    )
    rows = stats.sessions
else:
    frame = va.fetch_sessions(credentials, base_url=url, per_page=int(per_page), progress=False)
    va.write_parquet(frame, out)
    rows = frame.height
seconds = time.perf_counter() - started
peak = next(
    int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")
)
print(json.dumps({"mode": mode, "rows": rows, "seconds": seconds, "peak_rss_mb": peak / 1024}))
"""


def run_child(
    mode: str, url: str, token: str, per_page: int, out: Path, batch_rows: int
) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, url, token, str(per_page), str(out), mode, str(batch_rows)],
        capture_output=True,
        text=True,
        env=child_env(),
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{mode} run failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=2_000_000)
    p.add_argument("--per-page", type=int, default=100)
    p.add_argument("--eager", action="store_true", help="also fetch_sessions + write_parquet")
    p.add_argument("--noop", action="store_true", help="also the streamed fetch, not written")
    p.add_argument(
        "--batch-rows", type=int, nargs="+", default=[50_000], help="streamed runs to make"
    )
    args = p.parse_args(argv)
    import polars as pl  # noqa: PLC0415 - only the parent checks ids

    with (
        tempfile.TemporaryDirectory(prefix="vsdk-stream-") as tmp,
        Path(tmp, "fake.log").open("w") as log,
        FakeAPI(sessions=args.sessions, per_page=args.per_page, latency=0.0, log=log) as api,
    ):
        truth = ground_truth(args.sessions)
        url, token = api.ready(timeout=1800)
        results = []
        runs = [("cli", 0)] + [("streamed", b) for b in args.batch_rows]
        noop = [("noop", b) for b in args.batch_rows] if args.noop else []
        for mode, batch in [*runs, *noop, *([("eager", 0)] if args.eager else [])]:
            out = Path(tmp, f"{mode}.parquet")
            started = time.perf_counter()
            result = run_child(mode, url, token, args.per_page, out, batch)
            result["batch_rows"] = batch if mode not in ("eager", "cli") else None
            result["wall_s"] = time.perf_counter() - started
            if mode == "noop":
                result["ids"] = "not written"
                results.append(result)
                continue
            ids = pl.read_parquet(out, columns=["session_id"])
            exact = (
                ids.height == truth.height
                and ids.join(truth, on="session_id", how="anti").is_empty()
            )
            result["ids"] = "exact" if exact else "MISMATCH"
            results.append(result)
            out.unlink()
    print("| mode | batch rows | sessions | peak RSS MB | wall s | ids |")
    print("|---|---|---|---|---|---|")
    for r in results:
        batch = "—" if r["batch_rows"] is None else f"{r['batch_rows']:,}"
        print(
            f"| {r['mode']} | {batch} | {r['rows']:,} | {r['peak_rss_mb']:,.0f} | "
            f"{r['wall_s']:.1f} | {r['ids']} |"
        )
    return 0 if all(r["ids"] in ("exact", "not written") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
