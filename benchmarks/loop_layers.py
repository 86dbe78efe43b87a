"""The event loop's cost, layer by layer: what each part of a fetch adds per page.

At 0 ms latency a fetch is bound by its event loop's CPU. This serves the fake API from
its own process (as ``run.py`` does) and fetches N pages of 100 sessions,
``--concurrency`` in flight, through each layer of the library in turn, every layer
including the ones before it:

- ``script``: the fastest peer's own aiohttp code (base URL, ``params=``, a semaphore);
- ``aiohttp``: aiohttp as the library calls it (full URL, per-request ``Authorization``,
  no redirects);
- ``wire``: the library's `AiohttpWire` (token, 401 handling, `WireAnswer`);
- ``requester``: its `Requester` (limiter, end-to-end deadline, retries, counters);
- ``engine``: the whole fetch engine (planner, the coverage of every id, execution),
  with the page probe replaced by the decoder every layer above uses;
- ``fetch``: `AsyncClient.fetch_sessions_with_stats` itself (the typed probe, Polars'
  assembly on worker threads).

Every layer up to ``engine`` decodes each page with the same msgspec struct, which reads
only ``sessionId`` (the library needs the ids), so the differences are the layers' own
cost. Each layer runs in a fresh process, ``--repeat`` times, interleaved; imports are not
timed. "loop CPU" is the CPU time of the loop's thread; "process CPU" adds Polars' and the
executor's threads. The measurement behind "Where ii's time goes" in docs/benchmarks.md::

    python benchmarks/loop_layers.py --pages 2001 --concurrency 32 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from typing import Any

import _children
import msgspec

from vsdk_analytics._normalize import _PageInfo

PATH = "/ai/v1/ai-deployment-sessions"
LAYERS = ("script", "aiohttp", "wire", "requester", "engine", "fetch")


class _Record(msgspec.Struct):
    sessionId: str | None = None  # noqa: N815 - the API's key


class _Page(msgspec.Struct):
    data: list[_Record]
    pageInfo: _PageInfo | None = None  # noqa: N815


_decode = msgspec.json.Decoder(_Page).decode


async def _layer(name: str, url: str, token: str, pages: int, concurrency: int) -> None:
    import aiohttp  # noqa: PLC0415 - imported before the clock starts (see _child)

    import vsdk_analytics as va  # noqa: PLC0415
    from vsdk_analytics import _fetch, _normalize  # noqa: PLC0415

    decode = _decode
    limit = asyncio.Semaphore(concurrency)
    numbers = range(1, pages + 1)
    if name in ("script", "aiohttp"):
        connector = aiohttp.TCPConnector(limit=concurrency)
        base, headers = (url, {"Authorization": token}) if name == "script" else (None, None)
        async with aiohttp.ClientSession(base, connector=connector, headers=headers) as http:

            async def one(n: int) -> Any:
                async with limit:
                    if name == "script":
                        request = http.get(PATH, params={"page": n, "perPage": 100})
                    else:
                        request = http.get(
                            f"{url}{PATH}?page={n}&perPage=100",
                            headers={"Authorization": token},
                            allow_redirects=False,
                        )
                    async with request as response:
                        return decode(await response.read())

            await asyncio.gather(*(one(n) for n in numbers))
        return
    if name in ("engine", "fetch"):
        if name == "engine":

            def probe(body: bytes, *, page: int | None = None, strict: bool = False) -> Any:
                parsed = decode(body)
                info = parsed.pageInfo or _PageInfo()
                rows = len(parsed.data)
                out = _normalize.ParsedPage(
                    page, info.totalItems, info.perPage, info.currentPage, rows, fast=True
                )
                out.session_ids = [r.sessionId for r in parsed.data]
                return out

            _fetch.probe_page = probe  # type: ignore[attr-defined]
        async with va.AsyncClient(
            va.Credentials(token=token), base_url=url, max_concurrency=concurrency
        ) as client:
            await client.fetch_sessions_with_stats(per_page=100, progress=False)
        return
    from vsdk_analytics._http import build_wire  # noqa: PLC0415
    from vsdk_analytics._limiter import RequestLimiter  # noqa: PLC0415
    from vsdk_analytics._transport import Requester  # noqa: PLC0415

    wire = build_wire(
        base_url=url, credentials=va.Credentials(token=token), max_concurrency=concurrency
    )
    requester = Requester(
        wire,
        base_url=url,
        limit=RequestLimiter(max_concurrency=concurrency, max_requests_per_second=None),
        max_retries=3,
        timeout=30.0,
    )

    async def parse(body: bytes) -> Any:
        return decode(body)

    async def through_wire(n: int) -> Any:
        async with limit:
            return decode((await wire.get(f"{url}{PATH}?page={n}&perPage=100")).body)

    async def through_requester(n: int) -> Any:
        query = {"page": n, "perPage": 100}
        return await requester.get(PATH, query, where=f"page {n}", page=n, parse=parse)

    one_page = through_wire if name == "wire" else through_requester
    try:
        await asyncio.gather(*(one_page(n) for n in numbers))
    finally:
        await wire.aclose()


def _child(args: argparse.Namespace) -> None:
    import aiohttp  # noqa: PLC0415 - imports are not timed

    import vsdk_analytics._client  # noqa: PLC0415
    import vsdk_analytics._transport  # noqa: F401, PLC0415

    async def timed() -> tuple[float, float, float]:
        async with aiohttp.ClientSession():  # aiohttp's lazy imports: not timed either
            pass
        started, loop_cpu, cpu = time.perf_counter(), time.thread_time(), time.process_time()
        await _layer(args.child, args.url, args.token, args.pages, args.concurrency)
        wall = time.perf_counter() - started
        return wall, time.thread_time() - loop_cpu, time.process_time() - cpu

    wall, loop_cpu, cpu = asyncio.run(timed())
    print(f"{wall:.4f} {loop_cpu:.4f} {cpu:.4f}")


def main() -> int:
    """Parse the options; run the children (or be one)."""
    p = _children.parser(__doc__.splitlines()[0])
    p.add_argument("--pages", type=int, default=2001, help="pages of 100 sessions to fetch")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    if args.child:
        _child(args)
        return 0
    options = ["--pages", str(args.pages), "--concurrency", str(args.concurrency)]
    # one page fewer than asked holds sessions: the engine's last request finds it empty
    sessions = 100 * max(args.pages - 1, 1)
    runs = _children.interleaved(__file__, LAYERS, options, sessions=sessions, repeat=args.repeat)
    print(
        f"{args.pages} pages of 100 sessions, {args.concurrency} in flight, "
        f"medians of {args.repeat}"
    )
    print("| layer | wall s | loop CPU s | added | loop ms per page | process CPU s |")
    print("|---|---|---|---|---|---|")
    before: float | None = None
    for layer, times in runs.items():
        wall = statistics.median(t[0] for t in times)
        loop_cpu = statistics.median(t[1] for t in times)
        cpu = statistics.median(t[2] for t in times)
        added = "" if before is None else f"{loop_cpu - before:+.2f}"
        per_page = 1000 * loop_cpu / args.pages
        print(f"| {layer} | {wall:.2f} | {loop_cpu:.2f} | {added} | {per_page:.2f} | {cpu:.2f} |")
        before = loop_cpu
    return 0


if __name__ == "__main__":
    sys.exit(main())
