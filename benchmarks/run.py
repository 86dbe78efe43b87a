"""The benchmark command: every session from the fake API to Parquet, tool against tool.

    python benchmarks/run.py [--quick] [--scenarios i,ii,iii] [--repeat 3]
                             [--peers vsdk,vsdk-c1,vsdk-httpx,dlt,pandas]
                             [--concurrency i=16,ii=8,iii=8] [--markdown PATH]

Per scenario it starts the project's fake VideoSDK API in a separate process
(``python -m vsdk_analytics.testing`` on 127.0.0.1) with the scenario's sessions, perPage
cap and latency, then runs each tool as a fresh subprocess (``benchmarks/_peers/*.py``),
as users run it: interpreter start, imports, fetching every page, normalizing, writing a
Parquet file. Wall time is measured here, from spawn to exit (minus the time the child
spends dumping its session ids for checking). Peak RSS is the child's own report of its
``VmHWM``, read before that dump (not ``ru_maxrss``: on Linux that includes this parent's
peak, carried over fork and exec). Each run's session ids are compared with the fake's
ground truth (``SessionStore.generate(n, seed=0)``): a run with missing, extra, null or
duplicated ids is FAILED in the table, never silently dropped. Medians over ``--repeat``
runs; the tools take turns within each repeat. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import queue
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import polars as pl

HERE = Path(__file__).resolve().parent
PEERS = HERE / "_peers"
SEED = 0
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


# -- scenarios and tools --------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    key: str
    sessions: int
    quick_sessions: int
    per_page: int
    latency: float
    concurrency: int

    def pages(self, sessions: int) -> int:
        return max(1, math.ceil(sessions / self.per_page))


SCENARIOS: dict[str, Scenario] = {
    "i": Scenario("i", 10_000, 1_000, per_page=100, latency=0.05, concurrency=16),
    "ii": Scenario("ii", 200_000, 5_000, per_page=100, latency=0.0, concurrency=8),
    "iii": Scenario("iii", 1_000_000, 10_000, per_page=1000, latency=0.0, concurrency=8),
}


@dataclass(frozen=True)
class Tool:
    key: str  # the name for --peers
    name: str  # the name in the table
    short: str  # the name in ratios ("dlt/vsdk = 9.3x")
    script: str
    requires: tuple[str, ...]
    concurrent: bool  # takes --concurrency (ours); the others are sequential by design
    fixed_args: tuple[str, ...] = ()
    fixed_concurrency: int | None = None
    library_defaults: bool = False  # run as a user does: no --concurrency, the defaults

    def concurrency(self, scenario_default: int) -> int:
        if self.library_defaults:
            from vsdk_analytics._constants import DEFAULT_MAX_CONCURRENCY  # noqa: PLC0415

            return DEFAULT_MAX_CONCURRENCY
        if self.fixed_concurrency is not None:
            return self.fixed_concurrency
        return scenario_default if self.concurrent else 1

    def args(self, concurrency: int) -> list[str]:
        passes = self.concurrent and not self.library_defaults
        extra = ["--concurrency", str(concurrency)] if passes else []
        return [*extra, *self.fixed_args]

    def missing(self) -> list[str]:
        return [m for m in self.requires if importlib.util.find_spec(m) is None]


BASELINE = "vsdk"
FASTEST = "fastest"
_OURS = ("polars", "vsdk_analytics", "pyarrow")
TOOLS: dict[str, Tool] = {
    t.key: t
    for t in (
        Tool("vsdk", "vsdk-analytics", "vsdk", "vsdk_peer.py", _OURS, concurrent=True),
        Tool(
            "vsdk-default",
            "vsdk-analytics (defaults)",
            "vsdk",
            "vsdk_peer.py",
            _OURS,
            concurrent=True,
            library_defaults=True,
        ),
        Tool(
            "vsdk-stream",
            "vsdk-analytics fetch_sessions_to_parquet (defaults)",
            "vsdk-stream",
            "vsdk_peer.py",
            _OURS,
            concurrent=True,
            fixed_args=("--to-parquet",),
            library_defaults=True,
        ),
        Tool(
            FASTEST,
            "aiohttp + msgspec + Polars script",
            "script",
            "fastest_peer.py",
            ("aiohttp", "msgspec", "polars"),
            concurrent=True,
            fixed_concurrency=16,
        ),
        Tool(
            "vsdk-c1",
            "vsdk-analytics c=1",
            "vsdk c=1",
            "vsdk_peer.py",
            _OURS,
            concurrent=True,
            fixed_concurrency=1,
        ),
        Tool(
            "vsdk-httpx",
            "vsdk (httpx transport)",
            "vsdk-httpx",
            "vsdk_peer.py",
            _OURS,
            concurrent=True,
            fixed_args=("--transport", "httpx"),
        ),
        Tool("dlt", "dlt rest_api", "dlt", "dlt_peer.py", ("dlt", "pyarrow"), concurrent=False),
        Tool(
            "pandas",
            "httpx + pandas.json_normalize",
            "pandas",
            "pandas_peer.py",
            ("httpx", "pandas", "pyarrow"),
            concurrent=False,
        ),
    )
}


# -- one run of one tool --------------------------------------------------------------------


@dataclass
class Run:
    wall_s: float | None = None
    peak_rss_mb: float | None = None
    fetch_s: float | None = None
    cpu_s: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    failure: str | None = None


def child_env() -> dict[str, str]:
    """The environment of every child: no proxies (loopback only), no VIDEOSDK_* leftovers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOSDK_")}
    for name in _PROXY_VARS:
        env.pop(name, None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    # as users run it: with byte-code caches (warm_up compiles them once, untimed)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["RUNTIME__DLTHUB_TELEMETRY"] = "false"  # dlt: no anonymous telemetry
    return env


def _report_line(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        text = line.strip()
        if text.startswith("{"):
            with contextlib.suppress(ValueError):
                value = json.loads(text)
                if isinstance(value, dict) and "tool" in value:
                    return value
    return None


def _tail(text: str, lines: int = 6) -> str:
    return " | ".join(line for line in text.strip().splitlines()[-lines:] if line.strip())


def check_ids(ids_path: str, truth: pl.DataFrame, rows: int) -> str | None:
    """Why the ids a run produced are not exactly the ground truth (None: they are)."""
    n = truth.height
    got = pl.read_parquet(ids_path, columns=["session_id"])
    problems = []
    if rows != n or got.height != n:
        problems.append(f"{got.height:,} rows for {n:,} sessions")
    nulls = got.get_column("session_id").null_count()
    if nulls:
        problems.append(f"{nulls:,} null ids")
    got = got.drop_nulls()
    duplicated = got.height - got.get_column("session_id").n_unique()
    if duplicated:
        problems.append(f"{duplicated:,} duplicated ids")
    missing = truth.join(got, on="session_id", how="anti").height
    if missing:
        problems.append(f"{missing:,} ids missing")
    extra = got.unique().join(truth, on="session_id", how="anti").height
    if extra:
        problems.append(f"{extra:,} unknown ids")
    return "; ".join(problems) or None


def run_tool(
    tool: Tool,
    *,
    url: str,
    token: str,
    per_page: int,
    concurrency: int,
    truth: pl.DataFrame,
    workdir: Path,
    timeout: float,
) -> Run:
    """One fresh subprocess of ``tool``: timed from spawn to exit, its ids checked."""
    out = Path(tempfile.mkdtemp(prefix=f"{tool.key}-", dir=workdir))
    cmd = [
        sys.executable,
        str(PEERS / tool.script),
        "--url",
        url,
        "--token",
        token,
        "--per-page",
        str(per_page),
        "--out",
        str(out),
        *tool.args(concurrency),
    ]
    try:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=child_env(),
            cwd=out,
        )
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return Run(failure=f"timed out after {timeout:g} s")
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # this child, now reaped
        cpu = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
        report = _report_line(stdout)
        if report is None:
            return Run(failure=f"exit {proc.returncode}, no report: {_tail(stderr)}"[:300])
        rss_kb = report.get("peak_rss_kb")
        run = Run(
            peak_rss_mb=rss_kb / 1024 if isinstance(rss_kb, int) else None,
            fetch_s=report.get("fetch_s"),
            cpu_s=cpu,
            details=report.get("details") or {},
        )
        if report.get("error") or proc.returncode != 0:
            run.failure = str(report.get("error") or f"exit {proc.returncode}")[:300]
            return run
        run.wall_s = elapsed - float(report.get("verify_s") or 0.0)
        run.failure = check_ids(str(report["ids_path"]), truth, int(report["rows"]))
        return run
    finally:
        shutil.rmtree(out, ignore_errors=True)


# -- the fake API in its own process --------------------------------------------------------


class FakeAPI:
    """``python -m vsdk_analytics.testing`` in a separate process, on 127.0.0.1 only."""

    def __init__(self, *, sessions: int, per_page: int, latency: float, log: IO[str]) -> None:
        self._cmd = [
            sys.executable,
            "-m",
            "vsdk_analytics.testing",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--sessions",
            str(sessions),
            "--max-per-page",
            str(per_page),
            "--latency",
            str(latency),
            "--seed",
            str(SEED),
        ]
        self._log = log
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> FakeAPI:
        self._proc = subprocess.Popen(
            self._cmd,
            stdout=subprocess.PIPE,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
            text=True,
            env=child_env(),
        )
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _drain(self) -> None:
        assert self._proc is not None
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def ready(self, timeout: float) -> tuple[str, str]:
        """Wait for the server's ``VIDEOSDK_*`` lines; its base URL and token."""
        found: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        while not {"VIDEOSDK_API_BASE_URL", "VIDEOSDK_AUTH_TOKEN"} <= found.keys():
            try:
                line = self._lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(f"the fake server was not ready within {timeout:g} s") from None
            if line is None:
                raise RuntimeError("the fake server exited before it was ready (see its log)")
            name, sep, value = line.strip().partition("=")
            if sep:
                found[name] = value
        url = found["VIDEOSDK_API_BASE_URL"]
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"the fake server is not on 127.0.0.1: {url}")
        return url, found["VIDEOSDK_AUTH_TOKEN"]

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ground_truth(sessions: int) -> pl.DataFrame:
    """Every session id the fake serves: the same generator, sessions and seed."""
    from vsdk_analytics.testing import SessionStore  # noqa: PLC0415 - heavy, needed late

    ids = SessionStore.generate(sessions, seed=SEED).ids()
    return pl.DataFrame({"session_id": ids}, schema={"session_id": pl.String()})


def warm_up(tools: Sequence[Tool]) -> subprocess.Popen[bytes]:
    """Import every tool's modules once, untimed, so no run pays for a cold disk cache."""
    modules = sorted({m for t in tools for m in t.requires} | {"httpx"})
    if any(t.key == "dlt" for t in tools):
        modules.append("dlt.sources.rest_api")
    code = "; ".join(f"import {m}" for m in modules)
    code += "; import compileall, vsdk_analytics; compileall.compile_dir("
    code += "vsdk_analytics.__path__[0], quiet=1)"
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env=child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


# -- results ---------------------------------------------------------------------------------


@dataclass
class Row:
    scenario: Scenario
    tool: Tool
    sessions: int
    concurrency: int
    runs: list[Run] = field(default_factory=list)
    skipped: str | None = None

    @property
    def failures(self) -> list[str]:
        return [r.failure for r in self.runs if r.failure is not None]

    @property
    def ok(self) -> bool:
        return self.skipped is None and bool(self.runs) and not self.failures

    def _median(self, values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return statistics.median(present) if present else None

    @property
    def wall_s(self) -> float | None:
        return self._median([r.wall_s for r in self.runs])

    @property
    def peak_rss_mb(self) -> float | None:
        return self._median([r.peak_rss_mb for r in self.runs])

    @property
    def fetch_s(self) -> float | None:
        return self._median([r.fetch_s for r in self.runs])

    @property
    def cpu_s(self) -> float | None:
        return self._median([r.cpu_s for r in self.runs])

    def phases(self) -> dict[str, float]:
        """The median of each phase the tool reported (ours: import, fetch, decode, ...)."""
        names: dict[str, None] = {}
        for r in self.runs:
            names.update(dict.fromkeys(r.details.get("phases") or {}))
        out = {}
        for name in names:
            value = self._median([(r.details.get("phases") or {}).get(name) for r in self.runs])
            if value is not None:
                out[name] = value
        return out

    def ids_cell(self) -> str:
        if self.skipped is not None:
            return f"skipped ({self.skipped})"
        if not self.runs:
            return "not run"
        failures = self.failures
        if failures:
            return f"FAILED ({len(failures)}/{len(self.runs)} runs: {failures[0]})"
        return "exact"


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def ratio_cell(row: Row, baseline: Row | None) -> str:
    if row.skipped is not None:
        return "—"
    if row.tool.key == BASELINE:
        return "baseline" if row.ok else "—"
    if baseline is None or not (row.ok and baseline.ok):
        return "n/a"
    ours, theirs = baseline.wall_s, row.wall_s
    if not ours or theirs is None:
        return "n/a"
    return f"{row.tool.short}/{baseline.tool.short} = {theirs / ours:.1f}x"


HEADER = (
    "scenario",
    "tool",
    "concurrency",
    "sessions",
    "wall s",
    "peak RSS MB",
    "rows/s",
    "fetch-only s",
    "ids",
    "wall vs vsdk-analytics",
)


def table(rows: Sequence[Row]) -> str:
    """The results as one Markdown table."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
    for row in rows:
        baseline = next(
            (r for r in rows if r.scenario is row.scenario and r.tool.key == BASELINE), None
        )
        wall = row.wall_s
        rate = row.sessions / wall if wall else None
        cells = [
            row.scenario.key,
            row.tool.name,
            str(row.concurrency) if row.tool.concurrent else "1 (sequential)",
            f"{row.sessions:,}",
            _num(wall),
            _num(row.peak_rss_mb, 0),
            _num(rate, 0),
            _num(row.fetch_s),
            row.ids_cell(),
            ratio_cell(row, baseline),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


COMPARE_HEADER = (
    "scenario",
    "tool",
    "in flight",
    "wall s",
    "vs fastest peer",
    "paired (range)",
    "peak RSS MB",
    "RSS vs peer",
    "CPU s",
    "ids",
    "phases (s)",
)


def paired_cell(row: Row, peer: Row) -> str:
    """The median, min and max of the per-round wall ratios against ``peer``.

    The tools take turns within each round, so a ratio within one round cancels the host's
    drift between rounds, which a ratio of the two medians does not.
    """
    ratios = [
        ours.wall_s / theirs.wall_s
        for ours, theirs in zip(row.runs, peer.runs, strict=False)
        if ours.wall_s is not None and theirs.wall_s
    ]
    if not ratios:
        return "—"
    mid = statistics.median(ratios)
    return f"{mid:.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"


def compare_table(rows: Sequence[Row]) -> str:
    """``--compare``: per scenario, each tool's wall, RSS and CPU against the fastest peer."""
    lines = [
        "| " + " | ".join(COMPARE_HEADER) + " |",
        "|" + "|".join("---" for _ in COMPARE_HEADER) + "|",
    ]
    for row in rows:
        peer = next((r for r in rows if r.scenario is row.scenario and r.tool.key == FASTEST), None)
        wall_ratio = rss_ratio = paired = "—"
        if peer is not None and peer.ok and row.ok and row.tool.key != FASTEST:
            paired = paired_cell(row, peer)
            if peer.wall_s and row.wall_s is not None:
                wall_ratio = f"{row.wall_s / peer.wall_s:.2f}x"
            if peer.peak_rss_mb and row.peak_rss_mb is not None:
                rss_ratio = f"{row.peak_rss_mb / peer.peak_rss_mb:.2f}x"
        elif row.tool.key == FASTEST:
            wall_ratio = rss_ratio = paired = "peer"
        phases = ", ".join(f"{k} {v:.2f}" for k, v in row.phases().items()) or "—"
        cells = [
            row.scenario.key,
            row.tool.name,
            str(row.concurrency),
            _num(row.wall_s),
            wall_ratio,
            paired,
            _num(row.peak_rss_mb, 0),
            rss_ratio,
            _num(row.cpu_s),
            row.ids_cell(),
            phases,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def floor_report(rows: Sequence[Row]) -> str:
    """Our fetch-only time against the round-trip floor, for scenarios with latency."""
    lines = []
    for row in rows:
        sc = row.scenario
        if sc.latency <= 0 or row.fetch_s is None or not row.ok:
            continue
        pages = sc.pages(row.sessions)
        rounds = 1 + math.ceil((pages - 1) / row.concurrency)
        floor = rounds * sc.latency
        requests = row.runs[0].details.get("requests", "?")
        lines.append(
            f"- scenario {sc.key}, {row.tool.name} (c={row.concurrency}): fetch-only "
            f"{row.fetch_s:.2f} s vs floor {floor:.2f} s = 1 + ceil(({pages} pages - 1) / "
            f"{row.concurrency}) = {rounds} round trips x {sc.latency * 1000:g} ms "
            f"-> {row.fetch_s / floor:.2f}x the floor ({requests} requests)"
        )
    return "\n".join(lines)


# -- machine info and Markdown ----------------------------------------------------------------


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_info() -> list[tuple[str, str]]:
    info = [("CPU", cpu_model()), ("logical cores", str(os.cpu_count()))]
    try:
        import psutil  # noqa: PLC0415 - optional (the bench extra)

        info.append(("physical cores", str(psutil.cpu_count(logical=False))))
        info.append(("memory", f"{psutil.virtual_memory().total / 2**30:.1f} GiB"))
    except ImportError:
        pass
    info.append(("OS", platform.platform()))
    info.append(("Python", f"{platform.python_implementation()} {platform.python_version()}"))
    versions = []
    for dist in (
        "vsdk-analytics",
        "polars",
        "msgspec",
        "httpx",
        "aiohttp",
        "httpx-aiohttp",
        "pyarrow",
        "dlt",
        "pandas",
        "psutil",
    ):
        try:
            versions.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{dist} (not installed)")
    info.append(("packages", ", ".join(versions)))
    info.append(("date", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")))
    return info


def markdown(rows: Sequence[Row], config: Config, command: str) -> str:
    scenario_lines = [
        "| scenario | sessions | perPage cap | latency | vsdk concurrency |",
        "|---|---|---|---|---|",
    ]
    seen: set[str] = set()
    for row in rows:
        sc = row.scenario
        if sc.key in seen:
            continue
        seen.add(sc.key)
        conc = config.concurrency_of(sc)
        scenario_lines.append(
            f"| {sc.key} | {row.sessions:,} | {sc.per_page:,} | {sc.latency * 1000:g} ms | {conc} |"
        )
    parts = [
        "# Benchmarks",
        "",
        f"Generated by `{command}`; medians of {config.repeat} run(s) per tool.",
        "",
        "## Machine",
        "",
        *(f"- {name}: {value}" for name, value in machine_info()),
        "",
        "## Scenarios",
        "",
        *scenario_lines,
        "",
        "## Results",
        "",
        compare_table(rows) if config.compare else table(rows),
        "",
    ]
    floor = floor_report(rows)
    if floor:
        parts += ["## Fetch-only time against the round-trip floor", "", floor, ""]
    parts += [
        "## Method",
        "",
        "- The fake VideoSDK API (`python -m vsdk_analytics.testing`) runs in its own process "
        "on 127.0.0.1; each tool runs in a fresh Python process and writes every session to a "
        "Parquet file (dlt: its `filesystem` destination).",
        "- wall s: from spawn to exit, measured by the parent (interpreter start, imports, "
        "fetch, normalize, write), minus the child's dump of its session ids for checking.",
        "- peak RSS: the child's own high-water mark (`VmHWM` of `/proc/self/status`), read "
        "before that dump (`ru_maxrss` would include the parent's peak: Linux carries it "
        "over fork and exec).",
        "- fetch-only s: `FetchStats.seconds` of `Client.fetch_sessions_with_stats` (ours only).",
        "- ids: every run's session ids against the fake's ground truth "
        "(`SessionStore.generate(n, seed=0)`); anything but an exact match is FAILED.",
        "- dlt: `rest_api_source` with a `page_number` paginator (`base_page=1`, "
        "`page_param=page`, `perPage` as a fixed parameter, `total_path=None`, "
        "`stop_after_empty_page=True`: the API's `pageInfo.total` counts items, not pages), "
        "the token in the `Authorization` header, `loader_file_format=parquet`.",
        "- httpx + pandas: one `httpx.Client`, pages in sequence, `pandas.json_normalize` per "
        "page, `pandas.concat`, `to_parquet`; stops at the last page by `totalItems`.",
        "",
    ]
    return "\n".join(parts)


# -- command line -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    scenarios: tuple[Scenario, ...]
    tools: tuple[Tool, ...]
    repeat: int
    quick: bool
    timeout: float
    markdown: Path | None
    concurrency: dict[str, int]
    sessions: dict[str, int]
    compare: bool = False

    def concurrency_of(self, sc: Scenario) -> int:
        return self.concurrency.get(sc.key, self.concurrency.get("*", sc.concurrency))

    def sessions_of(self, sc: Scenario) -> int:
        default = sc.quick_sessions if self.quick else sc.sessions
        return self.sessions.get(sc.key, self.sessions.get("*", default))


def _spec(text: str, what: str) -> dict[str, int]:
    """``N`` (every scenario) or ``i=N,ii=M``; ``{"*": N}`` for the former."""
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.rpartition("=")
        key = key.strip() if sep else "*"
        if key != "*" and key not in SCENARIOS:
            raise argparse.ArgumentTypeError(f"unknown scenario {key!r} in --{what}")
        try:
            out[key] = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--{what}: {value!r} is not an integer") from None
        if out[key] < 1:
            raise argparse.ArgumentTypeError(f"--{what}: values must be >= 1")
    return out


def _keys(text: str, known: dict[str, Any], what: str) -> list[str]:
    keys = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in keys if k not in known]
    if unknown or not keys:
        raise argparse.ArgumentTypeError(
            f"--{what}: unknown {unknown or 'empty'}; choose from {', '.join(known)}"
        )
    return keys


def parse_args(argv: Sequence[str] | None) -> Config:
    p = argparse.ArgumentParser(
        prog="python benchmarks/run.py",
        description="Benchmark vsdk-analytics against its peers on the fake VideoSDK API.",
    )
    quick_sizes = ", ".join(f"{s.key}: {s.quick_sessions:,}" for s in SCENARIOS.values())
    default_conc = ",".join(f"{s.key}={s.concurrency}" for s in SCENARIOS.values())
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"fewer sessions ({quick_sizes}) and 1 repeat: about a minute",
    )
    p.add_argument(
        "--scenarios",
        type=lambda t: _keys(t, SCENARIOS, "scenarios"),
        default=list(SCENARIOS),
        help="comma-separated, of i, ii, iii (default: all)",
    )
    p.add_argument("--repeat", type=int, default=None, help="runs per tool (default 3; quick 1)")
    p.add_argument(
        "--peers",
        type=lambda t: _keys(t, TOOLS, "peers"),
        default=list(TOOLS),
        help=f"comma-separated, of {', '.join(TOOLS)} (default: all)",
    )
    p.add_argument(
        "--concurrency",
        type=lambda t: _spec(t, "concurrency"),
        default={},
        help=f"max_concurrency of vsdk-analytics: N, or per scenario (default {default_conc})",
    )
    p.add_argument(
        "--sessions",
        type=lambda t: _spec(t, "sessions"),
        default={},
        help="sessions per scenario instead of the defaults: N, or i=N,ii=M,...",
    )
    p.add_argument(
        "--timeout", type=float, default=None, help="seconds per run (default 3600; quick 300)"
    )
    p.add_argument("--markdown", type=Path, default=None, help="also write the report here")
    p.add_argument(
        "--compare",
        action="store_true",
        help="the library at its defaults against the fastest peer (a hand-written aiohttp + "
        "msgspec + Polars script) and any --peers, interleaved; ratios to that peer, CPU "
        "seconds and the library's phases",
    )
    args = p.parse_args(argv)
    peers = list(args.peers)
    if args.compare:
        explicit = "--peers" in (sys.argv[1:] if argv is None else argv)
        peers = list(
            dict.fromkeys(["vsdk-default", "vsdk-stream", FASTEST, *(peers if explicit else [])])
        )
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 3)
    if repeat < 1:
        p.error("--repeat must be >= 1")
    return Config(
        scenarios=tuple(SCENARIOS[k] for k in SCENARIOS if k in args.scenarios),
        tools=tuple(TOOLS[k] for k in TOOLS if k in peers),
        repeat=repeat,
        quick=args.quick,
        timeout=args.timeout or (300.0 if args.quick else 3600.0),
        markdown=args.markdown,
        concurrency=args.concurrency,
        sessions=args.sessions,
        compare=args.compare,
    )


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Prepared:
    """A scenario's server (started), its ground truth, and its table rows."""

    scenario: Scenario
    sessions: int
    rows: list[Row]
    api: FakeAPI | None = None
    log_path: Path | None = None
    truth: pl.DataFrame | None = None

    @property
    def runnable(self) -> list[Row]:
        return [r for r in self.rows if r.skipped is None]


def prepare(config: Config, workdir: Path, stack: contextlib.ExitStack) -> list[Prepared]:
    """Start every scenario's fake server at once: the untimed setup overlaps."""
    out = []
    for sc in config.scenarios:
        sessions = config.sessions_of(sc)
        conc = config.concurrency_of(sc)
        rows = [Row(sc, t, sessions, t.concurrency(conc)) for t in config.tools]
        for row in rows:
            missing = row.tool.missing()
            if missing:
                row.skipped = f"{', '.join(missing)} not installed"
        prepared = Prepared(sc, sessions, rows)
        if prepared.runnable:
            prepared.log_path = workdir / f"fake-{sc.key}.log"
            log_file = stack.enter_context(prepared.log_path.open("w"))
            prepared.api = stack.enter_context(
                FakeAPI(sessions=sessions, per_page=sc.per_page, latency=sc.latency, log=log_file)
            )
        out.append(prepared)
    return out


def run_scenario(prepared: Prepared, config: Config, workdir: Path) -> None:
    sc, api = prepared.scenario, prepared.api
    if api is None:
        return
    try:
        log(
            f"[{sc.key}] {prepared.sessions:,} sessions, perPage cap {sc.per_page}, "
            f"latency {sc.latency * 1000:g} ms"
        )
        truth = prepared.truth if prepared.truth is not None else ground_truth(prepared.sessions)
        try:
            url, token = api.ready(timeout=600)
        except RuntimeError as exc:
            text = prepared.log_path.read_text() if prepared.log_path else ""
            raise RuntimeError(f"scenario {sc.key}: {exc}: {_tail(text)}") from None
        runnable = prepared.runnable
        for rep in range(config.repeat):
            shift = rep % len(runnable)
            for row in runnable[shift:] + runnable[:shift]:  # take turns
                run = run_tool(
                    row.tool,
                    url=url,
                    token=token,
                    per_page=sc.per_page,
                    concurrency=row.concurrency,
                    truth=truth,
                    workdir=workdir,
                    timeout=config.timeout,
                )
                row.runs.append(run)
                status = "ok" if run.failure is None else f"FAILED: {run.failure}"
                log(
                    f"[{sc.key}] {row.tool.name} run {rep + 1}/{config.repeat}: "
                    f"{_num(run.wall_s)} s, {_num(run.peak_rss_mb, 0)} MB RSS, {status}"
                )
    finally:
        api.stop()  # this scenario's server is not needed any more


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    started = time.perf_counter()
    command = "python benchmarks/run.py " + " ".join(sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory(prefix="vsdk-bench-") as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        # Untimed setup, all at once: the servers generate their sessions while the tools'
        # modules are imported once (so no timed run pays for a cold disk cache) and the
        # ground truth is built here.
        plan = prepare(config, workdir, stack)
        warming = warm_up([t for t in config.tools if not t.missing()])
        for prepared in plan:
            if prepared.api is not None:
                prepared.truth = ground_truth(prepared.sessions)
        warming.wait()
        for prepared in plan:
            run_scenario(prepared, config, workdir)
    rows = [row for prepared in plan for row in prepared.rows]
    print(compare_table(rows) if config.compare else table(rows))
    floor = floor_report(rows)
    if floor:
        print()
        print("Fetch-only time against the round-trip floor:")
        print(floor)
    if config.markdown is not None:
        config.markdown.parent.mkdir(parents=True, exist_ok=True)
        config.markdown.write_text(markdown(rows, config, command.strip()), encoding="utf-8")
        log(f"wrote {config.markdown}")
    failed = [r for r in rows if r.runs and not r.ok]
    log(f"done in {time.perf_counter() - started:.0f} s; {len(failed)} tool(s) FAILED")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
