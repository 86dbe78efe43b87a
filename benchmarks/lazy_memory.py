"""Peak memory and time of the helpers on a large dataset: eager `read_parquet` vs `scan_parquet`.

    python benchmarks/lazy_memory.py [--rows 10000000] [--days 365] [--profile bi]
                                     [--helpers status_breakdown,...] [--dir DIR]
                                     [--markdown PATH]

Builds a ``--rows`` sessions dataset on disk once (untimed): columns generated with
Polars directly in ``SESSIONS_SCHEMA`` (seeded, no fake server), written by
``va.write_parquet(..., partition_by="start_date")``: one file per day over ``--days``.
Then every helper runs in a fresh child process per mode:

- ``eager``: ``helper(va.read_parquet(path))``, the whole dataset in memory first;
- ``lazy``: ``helper(va.scan_parquet(path)).collect()``, Polars' default engine;
- ``streaming``: the same plan, ``.collect(engine="streaming")``.

Each child reports its peak RSS (``VmHWM`` of its own address space, read at the end),
the high-water mark after its imports (the interpreter, Polars, vsdk-analytics), and
the wall time from before the read to the collected result. The parent checks that the
three modes returned the same frame (``polars.testing.assert_frame_equal``), so the
benchmark fails rather than report numbers of diverging answers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import polars as pl
from _peers._common import peak_rss_kb
from run import child_env, log, machine_info

HERE = Path(__file__).resolve().parent
MODES = ("eager", "lazy", "streaming")
HELPERS: dict[str, tuple[str, dict[str, Any]]] = {
    "status_breakdown": ("status breakdown", {}),
    "sessions_over_time": ("sessions per day", {"every": "1d"}),
    "duration_distribution": ("duration summary by tag", {"by": "tag"}),
    "peak_concurrency": ("peak concurrency per day", {"every": "1d"}),
}
_T0_US = 1_719_792_000_000_000  # 2024-07-01T00:00:00Z


# -- the dataset ---------------------------------------------------------------------------


def build_sessions(rows: int, *, days: int, seed: int = 0) -> pl.DataFrame:
    """``rows`` plausible sessions over ``days`` days, exactly ``SESSIONS_SCHEMA``, vectorized.

    Durations are long-tailed (lognormal, median ~150 s), 3 % of sessions are still
    open (a running status, no end), tags and webhook fields are sometimes null.
    """
    import numpy as np  # noqa: PLC0415

    from vsdk_analytics import SESSIONS_SCHEMA  # noqa: PLC0415
    from vsdk_analytics._schema import WEBHOOK_EVENTS  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    statuses = ["completed", "failed", "stopped", "running", "starting"]
    status_p = [0.80, 0.09, 0.08, 0.02, 0.01]
    tags = {0: "support", 1: "sales", 2: "onboarding", 3: None}
    deployments = {i: f"dep-{i:02d}" for i in range(12)}
    events: list[str] = list(WEBHOOK_EVENTS)
    start_us = _T0_US + rng.integers(0, days * 86_400_000_000, rows, dtype=np.int64)
    duration = np.round(rng.lognormal(mean=5.0, sigma=1.1, size=rows), 3)
    frame = pl.DataFrame(
        {
            "i": np.arange(rows, dtype=np.int64),
            "status_i": rng.choice(len(statuses), rows, p=status_p).astype(np.int8),
            "tag_i": rng.integers(0, len(tags), rows, dtype=np.int8),
            "dep_i": rng.integers(0, len(deployments), rows, dtype=np.int8),
            "pick": rng.integers(0, 4, rows, dtype=np.int8),
            "start_us": start_us,
            "duration": duration,
        }
    )
    status = pl.col("status_i").replace_strict(dict(enumerate(statuses)), return_dtype=pl.String)
    is_open = pl.col("status_i") >= 3  # running, starting
    start = pl.from_epoch("start_us", time_unit="us").dt.replace_time_zone("UTC")
    duration_s = pl.when(is_open).then(None).otherwise(pl.col("duration"))
    end = start + pl.duration(microseconds=(duration_s * 1_000_000).cast(pl.Int64))
    listed = pl.lit(events[:3], dtype=pl.List(pl.String))
    webhook_events = (
        pl.when(pl.col("pick") == 0)
        .then(None)
        .when(pl.col("pick") == 1)
        .then(pl.lit([], dtype=pl.List(pl.String)))
        .otherwise(listed)
    )
    metadata = (
        pl.when(pl.col("pick") == 0)
        .then(None)
        .otherwise(pl.format('{{"room":"r{}","n":{}}}', pl.col("i") % 97, pl.col("pick")))
    )
    return frame.select(
        pl.format("sess-{}", pl.col("i")).alias("session_id"),
        pl.col("dep_i").replace_strict(deployments, return_dtype=pl.String).alias("deployment_id"),
        pl.col("tag_i").replace_strict(tags, return_dtype=pl.String).alias("tag"),
        status.alias("status"),
        start.alias("start"),
        end.alias("end"),
        duration_s.alias("duration_s"),
        (start - pl.duration(seconds=2)).alias("created_at"),
        (pl.coalesce(end, start) + pl.duration(seconds=1)).alias("updated_at"),
        pl.when(pl.col("pick") == 3)
        .then(pl.lit("https://hooks.example.com/v"))
        .otherwise(None)
        .alias("webhook_endpoint"),
        webhook_events.alias("webhook_events"),
        metadata.alias("metadata"),
        pl.lit(None, dtype=pl.String).alias("extra"),
    ).cast(dict(SESSIONS_SCHEMA))


def write_dataset(directory: Path, rows: int, *, days: int, profile: str) -> float:
    """Generate and write the dataset; the seconds it took."""
    import vsdk_analytics as va  # noqa: PLC0415

    started = time.perf_counter()
    frame = build_sessions(rows, days=days)
    va.write_parquet(frame, directory, profile=profile, partition_by="start_date")  # type: ignore[arg-type]
    return time.perf_counter() - started


# -- the child: one helper, one mode -------------------------------------------------------


def child(mode: str, helper: str, path: Path, out: Path) -> None:
    """Run one helper in one mode; print one JSON line; save the result for the check."""
    import vsdk_analytics as va  # noqa: PLC0415

    fn: Callable[..., Any] = getattr(va, helper)
    kwargs = HELPERS[helper][1]
    after_imports = peak_rss_kb()
    started = time.perf_counter()
    if mode == "eager":
        result = fn(va.read_parquet(path), **kwargs)
    elif mode == "lazy":
        result = fn(va.scan_parquet(path), **kwargs).collect()
    else:
        result = fn(va.scan_parquet(path), **kwargs).collect(engine="streaming")
    seconds = time.perf_counter() - started
    peak = peak_rss_kb()
    result.write_parquet(out)
    line = {"mode": mode, "helper": helper, "seconds": seconds, "peak_kb": peak}
    print(json.dumps(line | {"imports_kb": after_imports, "rows": result.height}), flush=True)


def run_child(mode: str, helper: str, path: Path, out: Path) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", mode, helper, str(path)]
    done = subprocess.run(
        [*command, str(out)], env=child_env(), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{mode} {helper} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


# -- the report ----------------------------------------------------------------------------


def _mb(kb: int) -> str:
    return f"{kb / 1024:,.0f}"


def table(results: Sequence[dict[str, Any]], rows: int) -> str:
    """The Markdown table: one row per helper, eager / lazy / streaming side by side."""
    by = {(r["helper"], r["mode"]): r for r in results}
    helpers = list(dict.fromkeys(r["helper"] for r in results))
    head = (
        "| helper | eager peak RSS MB | lazy peak RSS MB | streaming peak RSS MB "
        "| eager s | lazy s | streaming s |\n|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for helper in helpers:
        got = [by[(helper, m)] for m in MODES]
        peaks = " | ".join(_mb(r["peak_kb"]) for r in got)
        seconds = " | ".join(f"{r['seconds']:.2f}" for r in got)
        lines.append(f"| {HELPERS[helper][0]} (`{helper}`) | {peaks} | {seconds} |")
    imports = min(r["imports_kb"] for r in results)
    note = (
        f"\n{rows:,} sessions. Peak RSS is each child's whole `VmHWM`, about "
        f"{_mb(imports)} MB of it the interpreter, Polars and vsdk-analytics before the read."
    )
    return head + "\n".join(lines) + "\n" + note + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--rows", type=int, default=10_000_000, help="sessions in the dataset")
    p.add_argument("--days", type=int, default=365, help="days (partitions) they span")
    p.add_argument("--profile", choices=("bi", "native"), default="bi")
    p.add_argument("--helpers", default=",".join(HELPERS), help="comma-separated helpers")
    p.add_argument("--dir", type=Path, default=None, help="where to build it (default: a temp)")
    p.add_argument("--markdown", type=Path, default=None, help="also write the table here")
    p.add_argument(
        "--child", nargs=4, metavar=("MODE", "HELPER", "PATH", "OUT"), help=argparse.SUPPRESS
    )
    args = p.parse_args(argv)
    if args.child:
        mode, helper, path, out = args.child
        child(mode, helper, Path(path), Path(out))
        return 0
    helpers = [h for h in args.helpers.split(",") if h]
    unknown = sorted(set(helpers) - set(HELPERS))
    if unknown:
        p.error(f"unknown helpers {unknown}; known: {', '.join(HELPERS)}")
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="lazy-memory-") as tmp:
        work = Path(tmp)
        dataset = work / "sessions"
        log(f"building {args.rows:,} sessions over {args.days} days ({args.profile})...")
        built = write_dataset(dataset, args.rows, days=args.days, profile=args.profile)
        size = sum(f.stat().st_size for f in dataset.rglob("*.parquet"))
        log(f"built in {built:.1f} s: {size / 2**20:,.0f} MiB on disk")
        results = []
        for helper in helpers:
            answers = {}
            for mode in MODES:
                out = work / f"{helper}-{mode}.parquet"
                report = run_child(mode, helper, dataset, out)
                log(
                    f"{helper:>22} {mode:>9}: {_mb(report['peak_kb']):>7} MB, "
                    f"{report['seconds']:.2f} s"
                )
                results.append(report)
                answers[mode] = pl.read_parquet(out)
            from polars.testing import assert_frame_equal  # noqa: PLC0415

            for mode in MODES[1:]:
                assert_frame_equal(answers[mode], answers["eager"])
    command = "python benchmarks/lazy_memory.py " + " ".join(argv or sys.argv[1:])
    machine = "\n".join(f"- {k}: {v}" for k, v in machine_info())
    text = (
        f"Command: `{command.strip()}`; dataset: {size / 2**20:,.0f} MiB of Parquet in "
        f"{args.days} partitions ({args.profile} profile), built in {built:.0f} s.\n\n"
        f"{table(results, args.rows)}\n{machine}\n"
    )
    print(text)
    if args.markdown is not None:
        args.markdown.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
