"""Plumbing shared by the peer scripts: arguments, the ids file and the JSON report.

Every peer is run by ``benchmarks/run.py`` as ``python benchmarks/_peers/X.py --url U
--token T --per-page P --out DIR``: it fetches every session from the fake API, writes them
to a Parquet file under ``DIR`` (its real job), then dumps the session ids to
``DIR/ids.parquet`` (one ``session_id`` column, for the harness to check) and prints one JSON
line. Peak RSS (`peak_rss_kb`) is read *before* the ids are dumped, and the dump's duration
is reported as ``verify_s`` so the harness can leave it out of the wall time.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

SESSIONS_PATH = "/ai/v1/ai-deployment-sessions"


@dataclass
class Outcome:
    """What one peer produced: its row count, how to dump its ids, and optional details."""

    rows: int
    write_ids: Callable[[Path], None]
    fetch_s: float | None = None
    details: dict[str, object] = field(default_factory=dict)


def parser(description: str) -> argparse.ArgumentParser:
    """The arguments every peer takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--url", required=True, help="base URL of the fake API (loopback only)")
    p.add_argument("--token", required=True, help="the fake API's token")
    p.add_argument("--per-page", type=int, required=True, help="perPage to ask for")
    p.add_argument("--out", type=Path, required=True, help="an empty directory for outputs")
    return p


def check_loopback(url: str) -> None:
    """Refuse any base URL but plain HTTP on 127.0.0.1: benchmarks never leave the machine."""
    if not url.startswith("http://127.0.0.1:"):
        raise SystemExit(f"refusing to send traffic to {url!r}: only http://127.0.0.1 is allowed")


def peak_rss_kb() -> int:
    """This process's peak RSS in KiB: ``VmHWM``, else ``getrusage(RUSAGE_SELF).ru_maxrss``.

    On Linux ``ru_maxrss`` is no good for a child: the kernel carries the parent's peak RSS
    over fork and exec, so a child of a 1 GB parent reports at least 1 GB. ``VmHWM`` in
    ``/proc/self/status`` is the high-water mark of this program's own address space.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # macOS counts bytes


def main(tool: str, args: argparse.Namespace, work: Callable[[argparse.Namespace], Outcome]) -> int:
    """Run ``work``, dump the ids, print the JSON report line; the exit code."""
    check_loopback(args.url)
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict[str, object] = {"tool": tool}
    started = time.perf_counter()
    try:
        outcome = work(args)
    except BaseException as exc:  # report every failure as a line, never a silent exit
        report["error"] = f"{type(exc).__name__}: {exc}"[:500]
        report["traceback"] = traceback.format_exc()[-4000:]
        print(json.dumps(report), flush=True)
        return 1
    report["work_s"] = time.perf_counter() - started
    report["peak_rss_kb"] = peak_rss_kb()
    report["rows"] = outcome.rows
    report["fetch_s"] = outcome.fetch_s
    report["details"] = outcome.details
    verify_started = time.perf_counter()
    ids_path = args.out / "ids.parquet"
    try:
        outcome.write_ids(ids_path)
    except BaseException as exc:
        report["error"] = f"writing the ids failed: {type(exc).__name__}: {exc}"[:500]
        print(json.dumps(report), flush=True)
        return 1
    report["ids_path"] = str(ids_path)
    report["verify_s"] = time.perf_counter() - verify_started
    print(json.dumps(report), flush=True)
    return 0
