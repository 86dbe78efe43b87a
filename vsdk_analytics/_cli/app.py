"""The CLI's entry point: parse, run the command, and turn every failure into an exit code.

`main` is what the ``vsdk-analytics`` console script and ``python -m vsdk_analytics`` call.
Expected failures print one ``error:`` line (`classify`); ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from .demo import PROG
from .errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_UNEXPECTED, classify, one_line
from .parser import build_parser
from .render import configure_logging, err, show_warning

__all__ = ["main", "prog"]


def _exit_status(code: object) -> int:
    """The exit status of a ``SystemExit`` code (argparse: 0 for --help, 2 for usage)."""
    if code is None:
        return EXIT_OK
    return code if isinstance(code, int) else EXIT_UNEXPECTED


def prog() -> str:
    """The program name to show: how it was started."""
    argv0 = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return "python -m vsdk_analytics" if argv0 == "__main__.py" else PROG


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``vsdk-analytics`` command line.

    Parameters
    ----------
    argv
        The arguments after the program name; None reads ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit code (see `vsdk_analytics._cli`).
    """
    parser = build_parser(prog())
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return _exit_status(exc.code)
    debug = bool(args.debug)
    configure_logging(debug)
    try:
        with warnings.catch_warnings():
            if not debug:
                warnings.showwarning = show_warning
            run: Callable[[argparse.Namespace], int] = args.run
            return run(args)
    except KeyboardInterrupt:
        err("error: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`report | head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_UNEXPECTED
    except Exception as exc:
        code, message = classify(exc)
        if debug:
            traceback.print_exception(exc, file=sys.stderr)
        err(f"error: {one_line(message)}")
        return code
