"""Environment variables and client options: their names, precedence and checks, in one place.

Explicit arguments always win over the environment; the environment wins over the
defaults. The variables (`ENVIRONMENT` lists them, docs/fetching.md tabulates them):

================================  =========================================================
``VIDEOSDK_AUTH_TOKEN``           a ready JWT; when set it is used and key/secret are not
``VIDEOSDK_API_KEY``              the account's API key (with a secret: tokens are minted)
``VIDEOSDK_SECRET``               the account's secret (the vendor's server SDKs' name)
``VIDEOSDK_SECRET_KEY``           the same secret (older examples' name)
``VIDEOSDK_API_ENDPOINT``         the API's base URL (the vendor's server SDKs' name)
``VIDEOSDK_API_BASE_URL``         the same base URL (this library's older name)
================================  =========================================================

Two names of one setting set to *different* values is an error naming both variables
(never their values): the library never silently picks one. Equal values are fine.
`check_client_options` refuses bad client options before any request is made.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from ._constants import (
    ENV_API_ENDPOINT,
    ENV_API_KEY,
    ENV_AUTH_TOKEN,
    ENV_BASE_URL,
    ENV_SECRET,
    ENV_SECRET_KEY,
)
from ._errors import ConfigurationError, CredentialsError

__all__ = [
    "ENVIRONMENT",
    "EnvCredentials",
    "EnvVariable",
    "base_url_from_env",
    "check_client_options",
    "credentials_from_env",
]


@dataclass(frozen=True)
class EnvVariable:
    """One environment variable the library reads: its name, meaning and alias."""

    name: str
    meaning: str
    alias_of: str | None = None


ENVIRONMENT: Final = (
    EnvVariable(ENV_AUTH_TOKEN, "a ready JWT; wins over key and secret when both are set"),
    EnvVariable(ENV_API_KEY, "the account's API key; with a secret, tokens are minted"),
    EnvVariable(ENV_SECRET, "the account's secret (the vendor's server SDKs' name)"),
    EnvVariable(ENV_SECRET_KEY, "the account's secret (older examples' name)", ENV_SECRET),
    EnvVariable(ENV_API_ENDPOINT, "the API's base URL (the vendor's server SDKs' name)"),
    EnvVariable(ENV_BASE_URL, "the API's base URL (this library's older name)", ENV_API_ENDPOINT),
)
"""Every variable read, in precedence order within each setting."""


def _one_of(
    env: Mapping[str, str], primary: str, alias: str, error: type[ConfigurationError]
) -> tuple[str | None, str | None]:
    """The value of a setting with two names, and the name it came from."""
    a, b = env.get(primary, "").strip(), env.get(alias, "").strip()
    if a and b and a != b:
        raise error(
            f"{primary} and {alias} are both set, to different values; they name the same "
            f"setting, so unset one (or make them equal)"
        )
    if a:
        return a, primary
    if b:
        return b, alias
    return None, None


@dataclass(frozen=True)
class EnvCredentials:
    """Credentials as read from the environment (values hidden from the repr).

    Attributes
    ----------
    token
        ``VIDEOSDK_AUTH_TOKEN``, when set (it then wins over key and secret).
    api_key, secret
        The key and the secret, each when set.
    secret_variable
        The variable the secret came from (``VIDEOSDK_SECRET`` or ``VIDEOSDK_SECRET_KEY``).
    """

    token: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)
    secret_variable: str | None = None


def credentials_from_env(environ: Mapping[str, str] | None = None) -> EnvCredentials:
    """Read the credential variables; conflicting secrets raise `CredentialsError`.

    Examples
    --------
    >>> found = credentials_from_env({"VIDEOSDK_API_KEY": "k", "VIDEOSDK_SECRET": "s"})
    >>> found.api_key, found.secret_variable
    ('k', 'VIDEOSDK_SECRET')
    >>> found
    EnvCredentials(secret_variable='VIDEOSDK_SECRET')
    """
    env = os.environ if environ is None else environ
    secret, secret_variable = _one_of(env, ENV_SECRET, ENV_SECRET_KEY, CredentialsError)
    return EnvCredentials(
        token=env.get(ENV_AUTH_TOKEN, "").strip() or None,
        api_key=env.get(ENV_API_KEY, "").strip() or None,
        secret=secret,
        secret_variable=secret_variable,
    )


def base_url_from_env(environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """``(url, variable)`` from ``VIDEOSDK_API_ENDPOINT`` or its alias, or None when unset.

    Raises
    ------
    ConfigurationError
        Both names set to different values.

    Examples
    --------
    >>> base_url_from_env({"VIDEOSDK_API_BASE_URL": "https://example.test"})
    ('https://example.test', 'VIDEOSDK_API_BASE_URL')
    >>> base_url_from_env({}) is None
    True
    """
    env = os.environ if environ is None else environ
    url, variable = _one_of(env, ENV_API_ENDPOINT, ENV_BASE_URL, ConfigurationError)
    return None if url is None or variable is None else (url, variable)


def _whole(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _positive(name: str, value: object, unit: str) -> None:
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if number is None or not math.isfinite(number) or number <= 0:
        raise ConfigurationError(f"{name} must be a number > 0 {unit}, got {value!r}")


def check_client_options(
    *,
    per_page: int | None = None,
    max_concurrency: int | None = None,
    max_retries: int | None = None,
    timeout: float | None = None,
    max_requests_per_second: float | None = None,
) -> None:
    """Refuse bad client options with a `ConfigurationError` naming the option.

    Options given as None are not checked (None means "the default" for each).

    Examples
    --------
    >>> check_client_options(per_page=100, max_concurrency=8, max_requests_per_second=2.5)
    >>> check_client_options(per_page=0)
    Traceback (most recent call last):
    ...
    vsdk_analytics._errors.ConfigurationError: per_page must be an integer >= 1, got 0
    """
    if per_page is not None:
        _whole("per_page", per_page, 1)
    if max_concurrency is not None:
        _whole("max_concurrency", max_concurrency, 1)
    if max_retries is not None:
        _whole("max_retries", max_retries, 0)
    if timeout is not None:
        _positive("timeout", timeout, "seconds")
    if max_requests_per_second is not None:
        _positive("max_requests_per_second", max_requests_per_second, "requests per second")
