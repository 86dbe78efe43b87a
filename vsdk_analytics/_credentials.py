"""Credentials: mint or hold the VideoSDK JWT, and attach it to requests.

`Credentials` is the public object. It either mints HS256 tokens from an API
key and secret (re-minting before expiry and once after a 401), or holds a
ready token. `Credentials.auth` gives the `httpx.Auth` for httpx clients
(`vsdk_analytics._httpx_wire.JWTAuth`). Neither ever shows a secret or a token
in a repr, a log line or an exception.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final

from ._config import credentials_from_env
from ._constants import (
    ENV_API_KEY,
    ENV_AUTH_TOKEN,
    ENV_SECRET,
    ENV_SECRET_KEY,
    TOKEN_REFRESH_MARGIN_SECONDS,
    TOKEN_TTL_SECONDS,
)
from ._errors import CredentialsError, CredentialsWarning

if TYPE_CHECKING:
    from ._httpx_wire import JWTAuth

__all__ = ["Credentials"]

_MIN_SECRET_BYTES: Final = 32
"""RFC 7518 section 3.2: an HS256 key must be at least 256 bits."""

_BEARER: Final = "bearer "
_BASE64URL: Final = re.compile(r"[A-Za-z0-9_-]*={0,2}")
"""A JWS part: base64url (RFC 7515 section 2 has no padding; pyjwt accepts some)."""
_KEY_AND_SECRET: Final = f"{ENV_API_KEY} and {ENV_SECRET} (or {ENV_SECRET_KEY})"


def _unverified_claims(token: str) -> dict[str, Any]:
    """The claims of a compact JWS, unverified; ValueError if it is not one."""
    parts = token.split(".")
    if len(parts) != 3 or not all(map(_BASE64URL.fullmatch, parts)):
        raise ValueError("not three base64url parts")
    # binascii.Error, UnicodeDecodeError and JSONDecodeError are ValueErrors
    header, payload, _signature = (
        base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))
        for bare in (part.rstrip("=") for part in parts)
    )
    header, payload = json.loads(header.decode()), json.loads(payload.decode())
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise ValueError("not JSON objects")
    return payload


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat(timespec="seconds")


def _token_expiry(token: str, *, source: str) -> float | None:
    """Read `exp` from a JWT without verifying it (we do not hold the secret).

    Reading is base64url and JSON (RFC 7519 section 7.2, steps 1-8; no signature to
    check), done here with the standard library: importing pyjwt loads cryptography
    when it is installed, about 70 ms that a ready token never needs. pyjwt mints.
    """
    try:
        claims = _unverified_claims(token)
    except ValueError:
        # Never chain the pyjwt error: keep the token out of every traceback.
        raise CredentialsError(
            f"{source} is not a JWT (expected three base64url parts separated by dots); "
            "generate a token from your API key and secret, or pass api_key= and secret="
        ) from None
    exp = claims.get("exp")
    if exp is None:
        return None
    if isinstance(exp, bool) or not isinstance(exp, (int, float)):
        raise CredentialsError(f"{source} has a non-numeric `exp` claim")
    return float(exp)


class Credentials:
    """How to authenticate against the VideoSDK API.

    Give either ``api_key`` and ``secret`` (tokens are minted as needed), or a
    ready ``token``. ``Credentials.from_env()`` reads the vendor's environment
    variables.

    Parameters
    ----------
    api_key
        The account's API key (the ``apikey`` claim).
    secret
        The account's secret; signs HS256 tokens. Never shown anywhere.
    token
        A ready JWT, sent as is. A ``Bearer`` prefix is stripped with a
        `CredentialsWarning` (the API wants the bare token).
    ttl_seconds
        Lifetime of minted tokens (default 120 minutes, as the vendor's examples).

    Raises
    ------
    CredentialsError
        Neither or both forms given, a malformed token, or a token already expired.

    Examples
    --------
    >>> creds = Credentials(api_key="my-key", secret="s" * 32)
    >>> creds
    Credentials(api_key='my-k…', secret=<hidden>)
    >>> creds.kind
    'minted'
    """

    __slots__ = ("_api_key", "_clock", "_expires_at", "_lock", "_secret", "_token", "_ttl")

    def __init__(
        self,
        api_key: str | None = None,
        secret: str | None = None,
        *,
        token: str | None = None,
        ttl_seconds: float = TOKEN_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        for name, value in (("api_key", api_key), ("secret", secret), ("token", token)):
            if value is not None and not isinstance(value, str):  # never shown: may be secret
                raise CredentialsError(f"{name} must be a str, not {type(value).__name__}")
        if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int | float):
            raise CredentialsError(
                f"ttl_seconds must be a number of seconds, not {type(ttl_seconds).__name__}"
            )
        self._clock = clock
        self._lock = threading.Lock()
        self._ttl = float(ttl_seconds)
        self._api_key: str | None = None
        self._secret: str | None = None
        self._token: str | None = None
        self._expires_at: float | None = None
        if token is not None:
            if api_key is not None or secret is not None:
                raise CredentialsError("give either token= or api_key= and secret=, not both")
            self._set_ready_token(token, source="the token")
        elif api_key is not None and secret is not None:
            if not api_key.strip() or not secret:
                raise CredentialsError("api_key and secret must not be empty")
            if self._ttl <= TOKEN_REFRESH_MARGIN_SECONDS:
                raise CredentialsError(
                    f"ttl_seconds must be more than {TOKEN_REFRESH_MARGIN_SECONDS:g} seconds"
                )
            self._api_key = api_key.strip()
            self._secret = secret
            if len(secret.encode()) < _MIN_SECRET_BYTES:
                warnings.warn(
                    f"the secret is shorter than {_MIN_SECRET_BYTES} bytes, too short for a "
                    "safe HS256 key; VideoSDK may still accept it",
                    CredentialsWarning,
                    stacklevel=2,
                )
        else:
            raise CredentialsError(
                "credentials need either token= or both api_key= and secret= "
                f"(or use Credentials.from_env() with {ENV_AUTH_TOKEN}, "
                f"or {_KEY_AND_SECRET})"
            )

    def _set_ready_token(self, token: str, *, source: str) -> None:
        token = token.strip()
        if token.lower().startswith(_BEARER):
            warnings.warn(
                f"{source} starts with 'Bearer '; VideoSDK expects the bare token, "
                "so the prefix was removed",
                CredentialsWarning,
                stacklevel=3,
            )
            token = token[len(_BEARER) :].strip()
        if not token:
            raise CredentialsError(f"{source} is empty")
        expires_at = _token_expiry(token, source=source)
        if expires_at is not None and expires_at <= self._clock():
            raise CredentialsError(
                f"{source} expired at {_utc(expires_at)}; mint a new one "
                f"(or set {_KEY_AND_SECRET} so tokens are minted for you)"
            )
        self._token = token
        self._expires_at = expires_at

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Credentials:
        """Read credentials from the environment.

        ``VIDEOSDK_AUTH_TOKEN`` wins when set (a token set on purpose is what is sent;
        an expired or malformed one is an error, never a silent fall back to the key).
        Otherwise ``VIDEOSDK_API_KEY`` and a secret are both needed: ``VIDEOSDK_SECRET``
        (the vendor's name) or ``VIDEOSDK_SECRET_KEY`` (older examples'). Explicit
        arguments to `Credentials` never read the environment.

        Raises
        ------
        CredentialsError
            When none is set, when only half is, or when ``VIDEOSDK_SECRET`` and
            ``VIDEOSDK_SECRET_KEY`` differ, naming the variables (never their values).

        Examples
        --------
        >>> env = {"VIDEOSDK_API_KEY": "my-key", "VIDEOSDK_SECRET": "s" * 32}
        >>> Credentials.from_env(env)
        Credentials(api_key='my-k…', secret=<hidden>)
        """
        found = credentials_from_env(environ)
        if found.token is not None:
            try:
                return cls(token=found.token)
            except CredentialsError as exc:
                raise CredentialsError(f"{ENV_AUTH_TOKEN}: {exc}") from None
        if found.api_key is not None and found.secret is not None:
            return cls(api_key=found.api_key, secret=found.secret)
        if found.api_key is not None:
            raise CredentialsError(
                f"{ENV_SECRET} is not set (nor {ENV_SECRET_KEY}); set it with {ENV_API_KEY}, "
                f"or set {ENV_AUTH_TOKEN}"
            )
        if found.secret is not None:
            raise CredentialsError(
                f"{ENV_API_KEY} is not set but {found.secret_variable} is; set both, "
                f"or set {ENV_AUTH_TOKEN}"
            )
        raise CredentialsError(
            f"no VideoSDK credentials found: set {ENV_AUTH_TOKEN}, or {_KEY_AND_SECRET}"
        )

    @property
    def kind(self) -> str:
        """``'minted'`` (from key and secret) or ``'token'`` (a ready token)."""
        return "minted" if self._secret is not None else "token"

    @property
    def can_refresh(self) -> bool:
        """Whether a fresh token can be minted (after a 401 or near expiry)."""
        return self._secret is not None

    @property
    def expires_at(self) -> datetime | None:
        """When the current token expires (UTC), if known."""
        with self._lock:
            exp = self._expires_at
        return None if exp is None else datetime.fromtimestamp(exp, tz=timezone.utc)

    def __repr__(self) -> str:
        if self._api_key is not None:
            return f"Credentials(api_key={self._api_key[:4] + '…'!r}, secret=<hidden>)"
        exp = self.expires_at
        expiry = "" if exp is None else f", expires_at={exp.isoformat(timespec='seconds')!r}"
        return f"Credentials(token=<hidden>{expiry})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("Credentials cannot be pickled (they hold a secret)")

    def _mint(self) -> str:
        assert self._api_key is not None
        assert self._secret is not None
        now = self._clock()
        exp = now + self._ttl
        payload = {
            "apikey": self._api_key,
            "permissions": ["allow_join"],
            "version": 2,
            "roles": ["crawler"],
            "iat": int(now),
            "exp": int(exp),
        }
        import jwt  # noqa: PLC0415 - pyjwt (and cryptography) load when a token is minted

        with warnings.catch_warnings():
            # pyjwt warns about short HMAC keys on every encode; we warned once already.
            insecure = getattr(jwt, "InsecureKeyLengthWarning", None)
            if insecure is not None:
                warnings.simplefilter("ignore", insecure)
            token = jwt.encode(payload, self._secret, algorithm="HS256")
        self._token = token
        self._expires_at = float(int(exp))
        return token

    def token(self, *, force_refresh: bool = False) -> str:
        """Return a token valid for at least the refresh margin, minting if needed.

        Raises
        ------
        CredentialsError
            A ready token that has expired (it cannot be renewed here).
        """
        with self._lock:
            now = self._clock()
            if self._secret is not None:
                stale = (
                    self._token is None
                    or self._expires_at is None
                    or self._expires_at - now <= TOKEN_REFRESH_MARGIN_SECONDS
                )
                if force_refresh or stale:
                    return self._mint()
                assert self._token is not None
                return self._token
            assert self._token is not None
            if self._expires_at is not None and self._expires_at <= now:
                raise CredentialsError(
                    f"the token expired at {_utc(self._expires_at)} during the fetch; "
                    f"set {_KEY_AND_SECRET} so tokens are re-minted"
                )
            return self._token

    def auth(self) -> JWTAuth:
        """The `httpx.Auth` that signs requests with these credentials (loads httpx)."""
        from ._httpx_wire import JWTAuth  # noqa: PLC0415 - httpx only when asked for

        return JWTAuth(self)
