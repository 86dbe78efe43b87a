"""The fake account's tokens: `mint_token` and `TokenChecker` (HS256, checked like the vendor)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from vsdk_analytics.testing._data import encode_json

__all__ = ["TokenChecker", "mint_token"]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint_token(api_key: str, secret: str, *, ttl_seconds: float, now: float) -> str:
    """An HS256 JWT in the vendor's shape (``apikey``, ``permissions``, ``version``, ``roles``)."""
    header = _b64url(encode_json({"alg": "HS256", "typ": "JWT"}))
    iat = int(now)
    claims = {
        "apikey": api_key,
        "permissions": ["allow_join"],
        "version": 2,
        "roles": ["crawler"],
        "iat": iat,
        "exp": iat + int(ttl_seconds),
    }
    signing_input = f"{header}.{_b64url(encode_json(claims))}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


class TokenChecker:
    """Checks ``Authorization`` headers against one account, caching valid tokens.

    Not thread-safe by itself (`FakeVideoSDK` holds its lock).
    """

    def __init__(self) -> None:
        self._valid: dict[str, float | None] = {}

    def clear(self) -> None:
        """Forget the cached tokens (the account's key or secret changed)."""
        self._valid.clear()

    def problem(self, authorization: str | None, api_key: str, secret: str) -> str | None:
        """Why the header is refused (the 401's message), or ``None`` when it is valid."""
        if authorization is None or not authorization.strip():
            return "missing Authorization header: send the token as its value"
        token = authorization.strip()
        if token[:7].lower() == "bearer ":
            return "send the token without a 'Bearer ' prefix: Authorization: <token>"
        if token not in self._valid:
            problem = self._verify(token, api_key, secret)
            if problem is not None:
                return problem
        expires = self._valid[token]
        if expires is not None and expires <= time.time():
            del self._valid[token]
            return "token expired"
        return None

    def _verify(self, token: str, api_key: str, secret: str) -> str | None:  # noqa: PLR0911
        """Check an HS256 token like the vendor; cache it when valid. Returns the problem."""
        parts = token.split(".")
        if len(parts) != 3:
            return "invalid token: not a JWT"
        try:
            header = json.loads(_b64url_decode(parts[0]))
            claims = json.loads(_b64url_decode(parts[1]))
            signature = _b64url_decode(parts[2])
        except ValueError:
            return "invalid token: not a JWT"
        if not isinstance(header, dict) or header.get("alg") != "HS256":
            return "invalid token: the algorithm must be HS256"
        expected = hmac.new(
            secret.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256
        ).digest()
        if not hmac.compare_digest(signature, expected):
            return "invalid token: bad signature"
        if not isinstance(claims, dict):
            return "invalid token: the payload is not an object"
        exp = claims.get("exp")
        if exp is not None and (isinstance(exp, bool) or not isinstance(exp, (int, float))):
            return "invalid token: exp is not a number"
        if claims.get("apikey") != api_key:
            return "invalid token: unknown apikey"
        if len(self._valid) > 256:
            self._valid.clear()
        self._valid[token] = None if exp is None else float(exp)
        return None
