"""Regenerates the parts of ``docs/cli.md`` that come from the code: help texts, error table.

Each ```` ```text ```` block right after a ``## COMMAND`` heading (``## vsdk-analytics`` for
the program itself) is replaced by that command's ``--help`` at 100 columns, and the lines
between ``<!-- errors:start -->`` and ``<!-- errors:end -->`` by the table of every error
class and its exit code (`EXIT_BY_ERROR`). Run from the repository root::

    python -m vsdk_analytics._cli.reference docs/cli.md

A test checks that the page is current (`render` changes nothing).
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from vsdk_analytics import _errors
from vsdk_analytics._errors import VideoSDKError

from .demo import PROG
from .errors import exit_code, shell_text
from .parser import build_parser

__all__ = ["error_classes", "error_table", "help_texts", "main", "render"]

WIDTH: Final = 100
_START: Final = "<!-- errors:start -->"
_END: Final = "<!-- errors:end -->"
_HELP_BLOCK: Final = re.compile(r"(\n## (?P<name>[\w-]+)\n\n```text\n)(?P<body>.*?)(\n```\n)", re.S)


def _subparsers(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def help_texts() -> dict[str, str]:
    """``--help`` of the program (key ``vsdk-analytics``) and of each command, 100 columns."""
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(WIDTH)
    try:
        parser = build_parser(PROG)
        texts = {PROG: parser.format_help()}
        texts.update((name, sub.format_help()) for name, sub in _subparsers(parser))
    finally:
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before
    return {name: text.rstrip("\n") for name, text in texts.items()}


def error_classes() -> list[type[VideoSDKError]]:
    """Every error class of the library, in the order of `vsdk_analytics._errors`."""
    found = [getattr(_errors, name) for name in _errors.__all__]
    return [c for c in found if inspect.isclass(c) and issubclass(c, VideoSDKError)]


def error_table() -> str:
    """The Markdown table: each error class, its exit code, and what it means."""
    rows = ["| error | exit code | raised when |", "|---|---|---|"]
    for cls in error_classes():
        doc = inspect.getdoc(cls) or ""
        summary = shell_text(" ".join(doc.split("\n\n", 1)[0].split()), cls)
        rows.append(f"| `{cls.__name__}` | {exit_code(cls)} | {summary} |")
    return "\n".join(rows)


def render(page: str) -> str:
    """``page`` (the text of ``docs/cli.md``) with the generated parts brought up to date."""
    texts = help_texts()

    def block(match: re.Match[str]) -> str:
        body = texts.get(match["name"])
        if body is None:
            return match[0]
        return match[1] + body + match[4]

    page = _HELP_BLOCK.sub(block, page)
    start, end = page.find(_START), page.find(_END)
    if start < 0 or end < start:
        raise ValueError(f"the page has no {_START} ... {_END} section")
    return page[: start + len(_START)] + "\n" + error_table() + "\n" + page[end:]


def main(argv: list[str] | None = None) -> int:
    """Rewrite the page given (default ``docs/cli.md``) in place."""
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0] if args else "docs/cli.md")
    page = path.read_text(encoding="utf-8")
    path.write_text(render(page), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
