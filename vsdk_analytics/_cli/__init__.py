"""The ``vsdk-analytics`` command line: the library's fetch, export, report and charts as commands.

Commands (``vsdk-analytics COMMAND --help`` shows each one's flags and an example):
``demo`` (the fake API fetched, tables, Parquet, charts), ``fetch`` (every session into
Parquet), ``sync`` (a dataset brought up to date), ``report`` (tables and charts of a
file or dataset, with deployment names when the API lists them) and ``fake-server``.

Output: results (tables, the demo's narrative, the fake server's URL and token) go to
stdout; progress bars, ``fetch``'s one-line summary, warnings and errors go to stderr,
so stdout can be piped (``report --format csv > tables.csv``).

Exit codes: 0 success, 1 unexpected, 2 usage, 3 credentials, configuration or a dataset
conflict, 4 the API refused, 5 unreachable, 6 incomplete fetch, 7 bad path, 130 Ctrl-C;
each library error class maps to one (`errors.EXIT_BY_ERROR`, tabled in ``docs/cli.md``).

Expected failures print one line, ``error: <what happened and what to do>``, and no
traceback; ``--debug`` adds the traceback and DEBUG logging of this library (httpx at
INFO; neither ever logs headers). Tokens and secrets are never printed, except the fake
server's own token by ``fake-server``.

Modules, one concern each: `parser` (argparse definitions and help texts), `fetching`
(``fetch``, ``sync`` and what fetching commands share), `report` (``report`` and its
tables), `demo` (``demo``, ``fake-server``), `files` (outputs, Parquet, charts), `render`
(stdout/stderr lines and table formats), `errors` (exit codes, shell-worded messages),
`app` (`main`), `reference` (regenerates ``docs/cli.md``).
"""

from __future__ import annotations

from .app import main

__all__ = ["main"]
