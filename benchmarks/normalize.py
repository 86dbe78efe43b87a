"""Pure normalization: page bytes already in memory to one frame, no HTTP.

    python benchmarks/normalize.py [--quick] [--sessions N] [--repeat 3]
                                   [--tools vsdk,pandas,polars] [--markdown PATH]

The pages (1,000 of 1,000 sessions; ``--quick``: 100 of 1,000) are built once, here, by the
fake API itself (``FakeVideoSDK.respond``, byte for byte what the server sends) and saved to
a temporary file. Each tool then runs in its own subprocess, which loads every page into
memory (untimed) and times only its normalization:

- ``vsdk-analytics``: ``probe_page`` on every page, one ``assemble``,
  then ``combine_pages`` over the rows, exactly what the fetcher's ``_finish`` does
  (typed ``SESSIONS_SCHEMA``, timestamps parsed, deduplicated and sorted);
- ``pandas.json_normalize``: ``json.loads`` of every page, then one ``pandas.json_normalize``
  over all records;
- ``pl.json_normalize``: the same records through ``polars.json_normalize`` with
  ``infer_schema_length=None`` (the default, 100, silently drops keys that first appear
  later, like the rare ``metadata.experiment``).

The peers' time includes ``json.loads`` (reported apart as "json.loads s"), since
ours starts from bytes too; ours reports ``combine_pages`` apart. Peak RSS is the
child's own ``VmHWM``; "RSS over input" subtracts the high-water mark after its modules
were imported and the pages loaded. Every run's session ids are checked against the fake's;
anything but an exact match is FAILED.
"""

from __future__ import annotations

import argparse
import json
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from _peers._common import peak_rss_kb
from run import check_ids, child_env, log, machine_info

HERE = Path(__file__).resolve().parent
PER_PAGE = 1000
SEED = 0
TOOLS = {
    "vsdk": "vsdk-analytics probe_page + assemble + combine_pages",
    "pandas": "pandas.json_normalize",
    "polars": "pl.json_normalize",
}
_LENGTH = struct.Struct("<Q")


# -- the child: one tool, timed ---------------------------------------------------------------


def load_pages(path: Path) -> list[bytes]:
    pages = []
    with path.open("rb") as f:
        while header := f.read(_LENGTH.size):
            (length,) = _LENGTH.unpack(header)
            pages.append(f.read(length))
    return pages


def _records(pages: list[bytes]) -> list[Any]:
    return [record for body in pages for record in json.loads(body)["data"]]


Normalizer = Callable[[list[bytes]], tuple[Any, pl.Series, dict[str, float]]]


def normalizer(tool: str) -> Normalizer:
    """One tool's normalization (its modules imported now, before the pages are loaded)."""
    if tool == "vsdk":
        from vsdk_analytics._normalize import (  # noqa: PLC0415
            assemble,
            combine_pages,
            probe_page,
        )

        def vsdk(pages: list[bytes]) -> tuple[Any, pl.Series, dict[str, float]]:
            started = time.perf_counter()
            parsed = [probe_page(body, page=i) for i, body in enumerate(pages, start=1)]
            combining = time.perf_counter()
            rows, problems = assemble(parsed)
            frame = combine_pages([rows])
            timings = {"seconds": time.perf_counter() - started}
            timings["combine_s"] = timings["seconds"] - (combining - started)
            timings["fast_pages"] = sum(p.fast for p in parsed)
            timings["problems"] = len(problems)
            return frame, frame.get_column("session_id"), timings

        return vsdk
    if tool == "pandas":
        import pandas as pd  # noqa: PLC0415

        def pandas(pages: list[bytes]) -> tuple[Any, pl.Series, dict[str, float]]:
            started = time.perf_counter()
            records = _records(pages)
            decoded = time.perf_counter()
            frame = pd.json_normalize(records)
            timings = {"seconds": time.perf_counter() - started, "decode_s": decoded - started}
            ids = pl.Series("session_id", frame["sessionId"].tolist(), pl.String())
            return frame, ids, timings

        return pandas
    if tool == "polars":

        def polars(pages: list[bytes]) -> tuple[Any, pl.Series, dict[str, float]]:
            started = time.perf_counter()
            records = _records(pages)
            decoded = time.perf_counter()
            frame = pl.json_normalize(records, infer_schema_length=None)
            timings = {"seconds": time.perf_counter() - started, "decode_s": decoded - started}
            return frame, frame.get_column("sessionId").alias("session_id"), timings

        return polars
    raise SystemExit(f"unknown tool {tool!r}")


def child(tool: str, pages_path: Path, out: Path) -> int:
    work = normalizer(tool)
    pages = load_pages(pages_path)
    base_kb = peak_rss_kb()
    report: dict[str, Any] = {"tool": tool, "base_rss_kb": base_kb}
    try:
        frame, ids, timings = work(pages)
    except Exception as exc:  # a failure is a report line, never a silent exit
        report["error"] = f"{type(exc).__name__}: {exc}"[:500]
        print(json.dumps(report), flush=True)
        return 1
    report.update(timings)
    report["peak_rss_kb"] = peak_rss_kb()
    report["rows"] = len(frame)
    report["columns"] = frame.shape[1]
    ids_path = out / f"ids-{tool}.parquet"
    ids.to_frame("session_id").write_parquet(ids_path)
    report["ids_path"] = str(ids_path)
    print(json.dumps(report), flush=True)
    return 0


# -- the parent -------------------------------------------------------------------------------


def build_pages(sessions: int, path: Path) -> pl.DataFrame:
    """Write every page the fake API serves for ``sessions`` to ``path``; the ground truth."""
    from vsdk_analytics._constants import SESSIONS_PATH  # noqa: PLC0415
    from vsdk_analytics.testing import FakeVideoSDK  # noqa: PLC0415

    api = FakeVideoSDK(sessions, seed=SEED, max_per_page=PER_PAGE)
    token = api.token()
    pages = -(-sessions // PER_PAGE)
    with path.open("wb") as f:
        for page in range(1, pages + 1):
            reply = api.respond("GET", f"{SESSIONS_PATH}?page={page}&perPage={PER_PAGE}", token)
            if reply.status != 200:
                raise RuntimeError(f"the fake API answered page {page} with {reply.status}")
            f.write(_LENGTH.pack(len(reply.body)))
            f.write(reply.body)
    return pl.DataFrame({"session_id": api.session_ids()}, schema={"session_id": pl.String()})


@dataclass
class Result:
    tool: str
    runs: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def median(self, key: str) -> float | None:
        values = [r[key] for r in self.runs if isinstance(r.get(key), (int, float))]
        return statistics.median(values) if values else None


def run_child(
    tool: str, pages_path: Path, out: Path, truth: pl.DataFrame, timeout: float
) -> Result:
    result = Result(tool)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", tool]
    cmd += ["--pages", str(pages_path), "--out", str(out)]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=child_env(), check=False
        )
    except subprocess.TimeoutExpired:
        result.failures.append(f"timed out after {timeout:g} s")
        return result
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        tail = " | ".join(proc.stderr.strip().splitlines()[-4:])
        result.failures.append(f"exit {proc.returncode}, no report: {tail}"[:300])
        return result
    report: dict[str, Any] = json.loads(lines[-1])
    if report.get("error"):
        result.failures.append(str(report["error"])[:300])
        return result
    problem = check_ids(str(report["ids_path"]), truth, int(report["rows"]))
    if problem is not None:
        result.failures.append(problem)
    result.runs.append(report)
    return result


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def table(results: Sequence[Result], sessions: int) -> str:
    header = (
        "tool",
        "sessions",
        "seconds",
        "of which json.loads s",
        "of which combine_pages s",
        "rows/s",
        "peak RSS MB",
        "RSS over input MB",
        "ids",
        "time vs vsdk-analytics",
    )
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    base = next((r for r in results if r.tool == "vsdk" and not r.failures), None)
    base_s = base.median("seconds") if base else None
    for r in results:
        seconds = r.median("seconds")
        peak = r.median("peak_rss_kb")
        over = [(x["peak_rss_kb"] - x["base_rss_kb"]) / 1024 for x in r.runs if "peak_rss_kb" in x]
        if r.tool == "vsdk":
            ratio = "baseline" if not r.failures else "—"
        elif base_s and seconds and not r.failures:
            ratio = f"{r.tool}/vsdk = {seconds / base_s:.1f}x"
        else:
            ratio = "n/a"
        n_runs = len(r.runs) + len(r.failures)
        ids = f"FAILED ({len(r.failures)}/{n_runs}: {r.failures[0]})" if r.failures else "exact"
        cells = [
            TOOLS[r.tool],
            f"{sessions:,}",
            _num(seconds),
            _num(r.median("decode_s")),
            _num(r.median("combine_s")),
            _num(sessions / seconds if seconds else None, 0),
            _num(peak / 1024 if peak else None, 0),
            _num(statistics.median(over) if over else None, 0),
            ids,
            ratio,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python benchmarks/normalize.py",
        description="Pure normalization benchmark: page bytes in memory to one frame.",
    )
    p.add_argument("--quick", action="store_true", help="100,000 sessions, 1 repeat")
    p.add_argument("--sessions", type=int, default=None, help="default 1,000,000; quick 100,000")
    p.add_argument("--repeat", type=int, default=None, help="runs per tool (default 3; quick 1)")
    p.add_argument("--tools", default=",".join(TOOLS), help=f"of {', '.join(TOOLS)}")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    p.add_argument("--markdown", type=Path, default=None, help="also write the report here")
    p.add_argument("--child", choices=list(TOOLS), help=argparse.SUPPRESS)
    p.add_argument("--pages", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args.child, args.pages, args.out)
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = [t for t in tools if t not in TOOLS]
    if unknown or not tools:
        p.error(f"--tools: unknown {unknown or 'empty'}; choose from {', '.join(TOOLS)}")
    sessions = args.sessions or (100_000 if args.quick else 1_000_000)
    repeat = args.repeat or (1 if args.quick else 3)
    results = {t: Result(t) for t in tools}
    skipped = []
    if "pandas" in results:
        try:
            import pandas  # noqa: F401, PLC0415 - only whether it is installed
        except ImportError:
            skipped.append("pandas.json_normalize (pandas not installed)")
            del results["pandas"]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vsdk-normalize-") as tmp:
        workdir = Path(tmp)
        pages_path = workdir / "pages.bin"
        log(f"building {sessions:,} sessions as pages of {PER_PAGE:,} with the fake API")
        truth = build_pages(sessions, pages_path)
        log(f"{pages_path.stat().st_size / 2**20:,.0f} MB of page bytes")
        for rep in range(repeat):
            for tool, result in results.items():
                one = run_child(tool, pages_path, workdir, truth, args.timeout)
                result.runs += one.runs
                result.failures += one.failures
                status = f"FAILED: {one.failures[0]}" if one.failures else "ok"
                seconds = one.runs[0].get("seconds") if one.runs else None
                log(f"{TOOLS[tool]} run {rep + 1}/{repeat}: {_num(seconds)} s, {status}")
    text = table(list(results.values()), sessions)
    if skipped:
        text += "\n\nSkipped: " + "; ".join(skipped)
    print(text)
    if args.markdown is not None:
        command = "python benchmarks/normalize.py " + " ".join(
            sys.argv[1:] if argv is None else argv
        )
        info = "\n".join(f"- {name}: {value}" for name, value in machine_info())
        doc = (
            f"# Normalization benchmark\n\nGenerated by `{command.strip()}`; medians of "
            f"{repeat} run(s), each in its own process.\n\n## Machine\n\n{info}\n\n"
            f"## Results\n\n{text}\n\n## Method\n\n{(__doc__ or '').split(chr(10) * 2, 2)[2]}"
        )
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(doc, encoding="utf-8")
        log(f"wrote {args.markdown}")
    failed = [r for r in results.values() if r.failures]
    log(f"done in {time.perf_counter() - started:.0f} s; {len(failed)} tool(s) FAILED")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
