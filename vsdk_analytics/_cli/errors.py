"""The CLI's failures: exit codes, and each exception as one line a shell user can act on.

`classify` maps an exception to its exit code (`EXIT_BY_ERROR`, the table documented in
``docs/cli.md``) and its message. `shell_message` rewrites the library's messages, written
for Python callers (``pass api_key= and secret=``, ``lower max_concurrency``), into flags and
environment variables (``VIDEOSDK_API_KEY`` and ``VIDEOSDK_SECRET``, ``--max-concurrency``);
the library's own messages are left as they are.
"""

from __future__ import annotations

import re
from typing import Final

from vsdk_analytics._constants import ENV_API_ENDPOINT, ENV_API_KEY, ENV_AUTH_TOKEN, ENV_SECRET
from vsdk_analytics._errors import (
    APIConnectionError,
    APIError,
    ConfigurationError,
    DatasetConflictError,
    IncompleteFetchError,
    NotFoundError,
    RateLimitError,
    SchemaError,
    VideoSDKError,
)

__all__ = [
    "EXIT_API",
    "EXIT_BY_ERROR",
    "EXIT_CONFIG",
    "EXIT_INCOMPLETE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PATH",
    "EXIT_UNEXPECTED",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "CLIError",
    "classify",
    "exit_code",
    "one_line",
    "shell_message",
    "shell_text",
]

EXIT_OK: Final = 0
EXIT_UNEXPECTED: Final = 1
EXIT_USAGE: Final = 2
EXIT_CONFIG: Final = 3
EXIT_API: Final = 4
EXIT_UNREACHABLE: Final = 5
EXIT_INCOMPLETE: Final = 6
EXIT_PATH: Final = 7
EXIT_INTERRUPTED: Final = 130

EXIT_BY_ERROR: Final[tuple[tuple[type[BaseException], int], ...]] = (
    (ConfigurationError, EXIT_CONFIG),  # CredentialsError included
    (DatasetConflictError, EXIT_CONFIG),
    (APIConnectionError, EXIT_UNREACHABLE),  # APITimeoutError included
    (APIError, EXIT_API),  # APIStatusError and its subclasses, ResponseFormatError
    (SchemaError, EXIT_API),  # --strict: the API sent a value the schema refuses
    (IncompleteFetchError, EXIT_INCOMPLETE),
)
"""The exit code of each library error class (the first match wins); others exit 1."""

_CREDENTIALS: Final = f"{ENV_API_KEY} and {ENV_SECRET}, or {ENV_AUTH_TOKEN}"

# A Python argument named in a message -> what a shell user sets instead.
_SHELL_NAMES: Final = {
    "api_key": ENV_API_KEY,
    "secret": ENV_SECRET,
    "token": ENV_AUTH_TOKEN,
    "base_url": "--base-url",
    "per_page": "--per-page",
    "max_concurrency": "--max-concurrency",
    "max_requests_per_second": "--max-requests-per-second",
    "max_retries": "--max-retries",
    "timeout": "--timeout",
    "partition_by": "--partition-by COL",
    "lock_timeout": "--wait SECONDS",
    "allow_incomplete": "--allow-incomplete",
    "overwrite": "--overwrite",
    "strict": "--strict",
    "since": "--since",
    "until": "--until",
    "time_zone": "--time-zone",
}
# ``name=`` or ``name=True`` (an argument as written in Python)
_KEYWORD: Final = re.compile(r"(?<![\w.$-])(" + "|".join(_SHELL_NAMES) + r")=(?:True|False)?")
# a bare snake_case argument name (``lower max_concurrency``), never part of a longer word
_SNAKE: Final = re.compile(
    r"(?<![\w.$-])(" + "|".join(n for n in _SHELL_NAMES if "_" in n) + r")\b(?!=)"
)
_CLI_ASIDE: Final = re.compile(r"\s*\(CLI: [^)]*\)")
_PASS_VARIABLE: Final = re.compile(r"\bpass (?=VIDEOSDK_)")

# Per error class: a phrase of the library's message -> the shell user's version.
_PHRASES: Final[tuple[tuple[type[BaseException], str, str], ...]] = (
    (
        ConfigurationError,
        "give either token= or api_key= and secret=",
        f"use either {_CREDENTIALS}",
    ),
    (
        ConfigurationError,
        "credentials need either token= or both api_key= and secret=",
        f"credentials need {_CREDENTIALS}",
    ),
    (NotFoundError, "the base URL (VIDEOSDK_API_BASE_URL)", f"--base-url (or {ENV_API_ENDPOINT})"),
    (
        RateLimitError,
        "lower max_concurrency or try again later",
        "lower --max-concurrency, cap the rate with --max-requests-per-second RATE, "
        "or try again later",
    ),
    (IncompleteFetchError, "; the sessions fetched are in .sessions", ""),
    (IncompleteFetchError, "; the deployments fetched are in .sessions", ""),
)


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) as one space."""
    return " ".join(text.split())


def shell_text(text: str, kind: type[BaseException]) -> str:
    """``text``, a message of a ``kind`` error, with flags and variables for Python arguments.

    Examples
    --------
    >>> from vsdk_analytics import CredentialsError
    >>> shell_text("a bad token; or pass api_key= and secret=", CredentialsError)
    'a bad token; or set VIDEOSDK_API_KEY and VIDEOSDK_SECRET'
    >>> shell_text("lower max_concurrency", RuntimeError)
    'lower max_concurrency'
    """
    if not issubclass(kind, VideoSDKError):
        return text
    for error, phrase, replacement in _PHRASES:
        if issubclass(kind, error):
            text = text.replace(phrase, replacement)
    text = _KEYWORD.sub(lambda m: _SHELL_NAMES[m.group(1)], text)
    text = _SNAKE.sub(lambda m: _SHELL_NAMES[m.group(1)], text)
    text = _CLI_ASIDE.sub("", text)
    return _PASS_VARIABLE.sub("set ", text)


def shell_message(exc: BaseException) -> str:
    """The message of ``exc`` for a shell user (`shell_text`); other exceptions unchanged."""
    return shell_text(str(exc), type(exc))


class CLIError(Exception):
    """An expected failure: one message line and an exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def exit_code(kind: type[BaseException]) -> int:
    """The exit code of an exception class (`EXIT_BY_ERROR`; 1 for any other)."""
    for error, code in EXIT_BY_ERROR:
        if issubclass(kind, error):
            return code
    return EXIT_UNEXPECTED


def classify(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one-line message of a failure."""
    if isinstance(exc, CLIError):
        return exc.code, exc.message
    code = exit_code(type(exc))
    if code != EXIT_UNEXPECTED:
        return code, shell_message(exc)
    if isinstance(exc, ImportError) and "vsdk-analytics[charts]" in str(exc):
        return EXIT_CONFIG, str(exc)
    return (
        EXIT_UNEXPECTED,
        f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback, "
        "and please report it)",
    )
