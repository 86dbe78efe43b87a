"""Variants timed in child processes, interleaved, against one fake API server.

What ``wire.py`` and ``loop_layers.py`` share: the options a child takes (``--child`` and
the server's ``--url`` and ``--token``, none shown in ``--help``), and the rounds in which
every variant runs once in a fresh process, taking turns so that the host's drift spreads
over all of them. A child prints its measurements as numbers on one line.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


def parser(description: str) -> argparse.ArgumentParser:
    """An option parser with the child's own, hidden options already added."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--token", help=argparse.SUPPRESS)
    return p


def interleaved(
    script: str, variants: Sequence[str], options: Sequence[str], *, sessions: int, repeat: int
) -> dict[str, list[tuple[float, ...]]]:
    """Each variant's numbers per round: ``script --child VARIANT`` ``repeat`` times.

    The fake API serves ``sessions`` sessions, 100 per page, with no latency, from a
    process of its own (as ``run.py`` does); ``options`` go to every child.
    """
    sys.path.insert(0, str(Path(__file__).parent))
    from run import FakeAPI  # noqa: PLC0415 - the benchmarks' fake-server runner

    runs: dict[str, list[tuple[float, ...]]] = {variant: [] for variant in variants}
    with FakeAPI(sessions=sessions, per_page=100, latency=0, log=sys.stderr) as api:
        url, token = api.ready(timeout=120)
        for _ in range(repeat):
            for variant in variants:
                command = [sys.executable, script, "--child", variant, "--url", url]
                command += ["--token", token, *options]
                out = subprocess.run(command, check=True, capture_output=True, text=True)
                runs[variant].append(tuple(float(x) for x in out.stdout.split()))
    return runs
