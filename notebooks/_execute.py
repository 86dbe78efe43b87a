"""Execute the notebooks of this directory on fresh kernels and save their outputs.

Usage, from the repository root::

    python notebooks/_execute.py                  # run every notebook, write the outputs back
    python notebooks/_execute.py --check          # run them in memory; fail on any error
    python notebooks/_execute.py 02_session_analysis.ipynb   # only the notebooks named

Needs the ``notebooks`` extra (nbclient, nbformat, ipykernel) and the notebooks' own
dependencies (the ``charts`` extra and DuckDB): ``pip install -e '.[charts,test,notebooks]'``.

Each notebook runs top to bottom on its own fresh ipykernel:

- the kernel is always this interpreter (``sys.executable``), whatever kernelspecs are
  installed, so the notebooks see the same environment as this script;
- its working directory is a new temporary directory, removed afterwards, so nothing the
  notebook writes lands in the repository;
- ``VIDEOSDK_*`` variables are removed from its environment: the committed outputs always
  come from the built-in fake server, never from a real account;
- every cell has a timeout (``--timeout``, default 120 s); an error or a timeout fails it.

Before anything is written, every output is scanned for things that must never be
committed: the fake server's secret, a JWT-looking string, or the word "Bearer". A notebook
with such an output is not written, and the script fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

try:
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    from traitlets import default
except ImportError as exc:
    sys.exit(f"notebooks/_execute.py needs {exc.name}: pip install -e '.[notebooks]'")

from vsdk_analytics.testing import FAKE_SECRET

HERE = Path(__file__).resolve().parent
CELL_TIMEOUT = 120
"""Seconds one cell may run."""

_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")


def notebooks() -> list[Path]:
    """The notebooks of this directory, in order (``NN_name.ipynb``)."""
    return sorted(HERE.glob("[0-9][0-9]_*.ipynb"))


def kernel_environment() -> dict[str, str]:
    """The kernel's environment: this one without ``VIDEOSDK_*`` variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDEOSDK_")}
    # debugpy (imported by ipykernel) warns about frozen modules on stderr otherwise.
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    return env


class ThisInterpreterKernelManager(AsyncKernelManager):
    """An async kernel manager whose ``python3`` kernel is always ``sys.executable``.

    Its kernelspec manager looks in no kernelspec directory, so ``python3`` resolves to
    ipykernel's built-in spec, whose command is this interpreter: a kernelspec installed
    elsewhere (``~/.local/share/jupyter/kernels/python3`` of another Python) cannot win.
    """

    @default("kernel_spec_manager")
    def _kernel_spec_manager_default(self) -> KernelSpecManager:
        return KernelSpecManager(parent=self, kernel_dirs=[], ensure_native_kernel=True)


def execute_notebook(
    path: Path, *, timeout: int = CELL_TIMEOUT, store_widget_state: bool = False
) -> Any:
    """Run a notebook top to bottom on a fresh kernel; return it with its new outputs.

    With ``store_widget_state``, the final state of every widget the kernel drew (a
    progress bar's ``value`` and ``max``...) is saved in the notebook's metadata, under
    ``widgets`` / ``application/vnd.jupyter.widget-state+json``.

    Raises ``nbclient.exceptions.CellExecutionError`` on the first failing cell,
    ``CellTimeoutError`` when a cell runs longer than ``timeout`` and ``DeadKernelError``
    when the kernel dies.
    """
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="vsdk-notebook-") as cwd:
        client = NotebookClient(
            nb,
            timeout=timeout,
            kernel_name="python3",
            kernel_manager_class=ThisInterpreterKernelManager,
            resources={"metadata": {"path": cwd}},
            record_timing=False,  # no timestamps in the cell metadata: quiet diffs
            coalesce_streams=True,  # one stdout output per cell, however prints were flushed
            # The kernel's own log: errors only. (It warns that loopback TCP is not
            # encrypted; this kernel lives for one notebook, its messages are signed.)
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
            allow_errors=False,
            store_widget_state=store_widget_state,
        )
        client.execute(env=kernel_environment())
    return nb


def _output_texts(nb: Any) -> Iterator[tuple[int, str]]:
    """Every output of every cell as text: ``(cell index, text)``."""
    for index, cell in enumerate(nb["cells"]):
        for output in cell.get("outputs", []):
            parts: list[Any] = [output.get("text", ""), output.get("ename", "")]
            parts.append(output.get("evalue", ""))
            parts.extend(output.get("traceback", []))
            parts.extend(output.get("data", {}).values())
            for part in parts:
                text = "".join(map(str, part)) if isinstance(part, list) else part
                yield index, text if isinstance(text, str) else json.dumps(text)


def leaks(nb: Any) -> list[str]:
    """What in the outputs must never be committed (empty when clean)."""
    found: list[str] = []
    for index, text in _output_texts(nb):
        if FAKE_SECRET in text:
            found.append(f"cell {index}: the fake server's secret")
        if _JWT.search(text):
            found.append(f"cell {index}: a JWT-looking string")
        if "Bearer" in text:
            found.append(f"cell {index}: the word 'Bearer'")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "names", nargs="*", help="notebook file names (default: every NN_*.ipynb here)"
    )
    parser.add_argument(
        "--check", action="store_true", help="execute in memory only; write nothing"
    )
    parser.add_argument(
        "--timeout", type=int, default=CELL_TIMEOUT, help="seconds per cell (default: %(default)s)"
    )
    args = parser.parse_args(argv)

    paths = [HERE / name for name in args.names] if args.names else notebooks()
    unknown = [p.name for p in paths if not p.is_file()]
    if unknown or not paths:
        print(f"no such notebook: {', '.join(unknown) or '(none found)'}", file=sys.stderr)
        return 2

    failed = 0
    started = time.perf_counter()
    for path in paths:
        began = time.perf_counter()
        try:
            nb = execute_notebook(path, timeout=args.timeout)
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
            failed += 1
            print(f"FAIL {path.name}\n{exc}", file=sys.stderr)
            continue
        seconds = time.perf_counter() - began
        problems = leaks(nb)
        if problems:
            failed += 1
            print(f"FAIL {path.name}: outputs must not hold secrets:", file=sys.stderr)
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
            continue
        nbformat.validate(nb)
        size = len(nbformat.writes(nb).encode("utf-8"))
        if args.check:
            print(f"ok   {path.name}  {seconds:5.1f} s  ({size / 1024:,.0f} KiB, not written)")
        else:
            nbformat.write(nb, path)
            print(f"ok   {path.name}  {seconds:5.1f} s  {size / 1024:,.0f} KiB written")
    total = time.perf_counter() - started
    print(f"{len(paths) - failed}/{len(paths)} notebooks ok in {total:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
