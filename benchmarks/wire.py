"""HTTP alone: the cost per request of each way to send the fetch's GETs.

Serves the fake API from its own process (as ``run.py`` does) and times N GETs of one
page each, ``--concurrency`` in flight, reading whole bodies and decoding nothing (imports
not timed), for:

- ``aiohttp``: a bare ``aiohttp.ClientSession`` (the floor);
- ``wire``: the library's default wire (`vsdk_analytics._wire.AiohttpWire`);
- ``httpx-wire``: the library's `HttpxWire` over httpx's own transport
  (``transport="httpx"``);
- ``httpx-aiohttp``: an ``httpx.AsyncClient`` over ``httpx_aiohttp.AiohttpTransport``
  (the library's transport before 2026-12-02), when that package is installed.

Each tool runs in a fresh process, ``--repeat`` times, interleaved; medians are printed.
This is the measurement behind the choice of wire in docs/design.md::

    python benchmarks/wire.py --requests 2000 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import sys
import time

import _children

PATH = "/ai/v1/ai-deployment-sessions"


async def _run(tool: str, url: str, token: str, n: int, concurrency: int) -> int:
    limit = asyncio.Semaphore(concurrency)
    if tool == "aiohttp":
        import aiohttp  # noqa: PLC0415

        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one(page: int) -> int:
                async with (
                    limit,
                    session.get(
                        f"{url}{PATH}?page={page}&perPage=100", headers={"Authorization": token}
                    ) as response,
                ):
                    return len(await response.read())

            return sum(await asyncio.gather(*(one(p) for p in range(1, n + 1))))
    if tool == "httpx-aiohttp":
        import httpx  # noqa: PLC0415
        from httpx_aiohttp import AiohttpTransport  # noqa: PLC0415

        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(
            transport=AiohttpTransport(limits=limits), headers={"Authorization": token}
        ) as client:

            async def one_httpx(page: int) -> int:
                async with limit:
                    response = await client.get(f"{url}{PATH}?page={page}&perPage=100")
                    return len(response.content)

            return sum(await asyncio.gather(*(one_httpx(p) for p in range(1, n + 1))))
    import vsdk_analytics as va  # noqa: PLC0415
    from vsdk_analytics._http import build_wire  # noqa: PLC0415

    wire = build_wire(
        base_url=url,
        credentials=va.Credentials(token=token),
        max_concurrency=concurrency,
        transport="aiohttp" if tool == "wire" else "httpx",
    )
    try:

        async def one_wire(page: int) -> int:
            async with limit:
                return len((await wire.get(f"{url}{PATH}?page={page}&perPage=100")).body)

        return sum(await asyncio.gather(*(one_wire(p) for p in range(1, n + 1))))
    finally:
        await wire.aclose()


def _child(args: argparse.Namespace) -> None:
    import aiohttp  # noqa: F401, PLC0415 - imports are not timed
    import httpx  # noqa: F401, PLC0415

    import vsdk_analytics._http  # noqa: F401, PLC0415

    if args.child == "httpx-aiohttp":
        import httpx_aiohttp  # noqa: F401, PLC0415
    started, cpu = time.perf_counter(), time.process_time()
    size = asyncio.run(_run(args.child, args.url, args.token, args.requests, args.concurrency))
    print(f"{time.perf_counter() - started:.4f} {time.process_time() - cpu:.4f} {size}")


def main() -> int:
    """Parse the options; run the children (or be one)."""
    p = _children.parser(__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    if args.child:
        _child(args)
        return 0

    tools = ["aiohttp", "wire", "httpx-wire"]
    if importlib.util.find_spec("httpx_aiohttp") is not None:
        tools.append("httpx-aiohttp")
    options = ["--requests", str(args.requests), "--concurrency", str(args.concurrency)]
    times = _children.interleaved(
        __file__, tools, options, sessions=100 * args.requests, repeat=args.repeat
    )
    print(
        f"{args.requests} GETs of 100 sessions, {args.concurrency} in flight, "
        f"medians of {args.repeat}"
    )
    print("| tool | wall s | CPU s | ms per request (CPU) |")
    print("|---|---|---|---|")
    for tool, runs in times.items():  # a child prints wall, CPU and bytes read
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        print(f"| {tool} | {wall:.2f} | {cpu:.2f} | {1000 * cpu / args.requests:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
