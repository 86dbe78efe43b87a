"""The ``vsdk-analytics`` command line: the library's fetch, export, report and charts as commands.

Commands (``vsdk-analytics COMMAND --help`` shows each one's flags and an example):

``demo``
    Serve a realistic fake API on 127.0.0.1, fetch it with the real concurrent
    fetcher, print summary tables and write ``sessions.parquet`` and charts.
``fetch``
    Fetch every session of the account (credentials from the environment or
    ``--token-file``) into a Parquet file or a Hive-partitioned directory.
``report``
    Summary tables (and optionally charts) of a Parquet file or dataset.
``fake-server``
    Serve the fake API in the foreground and print the lines to point at it.

Output: results (tables, the demo's narrative, the fake server's URL and token) go to
stdout; progress bars, ``fetch``'s one-line summary, warnings and errors go to stderr,
so stdout can be piped (``report --format csv > tables.csv``).

Exit codes:

===  ==========================================================================
0    success
1    unexpected error (the message says to rerun with ``--debug``)
2    usage: unknown command, bad flag or flag value (argparse)
3    credentials or configuration: missing/malformed/expired credentials, an
     unreadable ``--token-file``, a bad base URL, the ``charts`` extra missing
4    the API refused: 401, 403, 404, 429 or 5xx after every retry, or answers
     that are not a sessions page
5    the API could not be reached: connection refused, DNS failure, timeouts
6    incomplete fetch: some pages failed after every retry; the sessions fetched
     are written next to the output (``X.parquet`` -> ``X.partial.parquet``,
     directory ``D`` -> ``D.partial``) and the output itself is left untouched
7    bad input or output path: a missing or unreadable Parquet file, one that is
     not `SESSIONS_SCHEMA`, a missing or unwritable output directory
130  interrupted (Ctrl-C)
===  ==========================================================================

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
