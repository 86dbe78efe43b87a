from __future__ import annotations

import logging
import pickle
import time
import traceback

import httpx
import jwt
import pytest

from vsdk_analytics import Credentials, CredentialsError, CredentialsWarning
from vsdk_analytics._constants import TOKEN_REFRESH_MARGIN_SECONDS

SECRET = "an-account-secret-that-is-long-enough-0123456789"
KEY = "my-api-key-123"


def _claims(token: str) -> dict[str, object]:
    return jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False})


def test_minted_token_has_the_vendor_payload() -> None:
    creds = Credentials(api_key=KEY, secret=SECRET)
    claims = _claims(creds.token())
    assert claims["apikey"] == KEY
    assert claims["permissions"] == ["allow_join"]
    assert claims["version"] == 2
    assert claims["roles"] == ["crawler"]
    assert isinstance(claims["iat"], int)
    assert isinstance(claims["exp"], int)
    assert claims["exp"] - claims["iat"] == 120 * 60


def test_token_is_cached_then_reminted_before_expiry() -> None:
    now = [1_750_000_000.0]
    creds = Credentials(api_key=KEY, secret=SECRET, ttl_seconds=600, clock=lambda: now[0])
    first = creds.token()
    assert creds.token() == first
    now[0] += 600 - TOKEN_REFRESH_MARGIN_SECONDS - 1
    assert creds.token() == first
    now[0] += 2
    second = creds.token()
    assert second != first
    assert _claims(second)["iat"] == int(now[0])


def test_ready_token_is_sent_as_is() -> None:
    token = jwt.encode({"apikey": KEY, "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    creds = Credentials(token=token)
    assert creds.token() == token
    assert creds.kind == "token"
    assert not creds.can_refresh


def test_expired_token_fails_before_any_request_saying_when() -> None:
    exp = 1_600_000_000
    token = jwt.encode({"apikey": KEY, "exp": exp}, SECRET, algorithm="HS256")
    with pytest.raises(CredentialsError, match="expired at 2020-09-13T12:26:40"):
        Credentials(token=token)


def test_token_expiring_during_a_fetch_is_refused() -> None:
    now = [1_750_000_000.0]
    token = jwt.encode({"apikey": KEY, "exp": int(now[0]) + 10}, SECRET, algorithm="HS256")
    creds = Credentials(token=token, clock=lambda: now[0])
    now[0] += 11
    with pytest.raises(CredentialsError, match="expired"):
        creds.token()


def test_bearer_prefix_is_stripped_with_a_warning() -> None:
    token = jwt.encode({"apikey": KEY}, SECRET, algorithm="HS256")
    with pytest.warns(CredentialsWarning, match="Bearer"):
        creds = Credentials(token=f"Bearer {token}")
    assert creds.token() == token


def test_not_a_jwt_is_refused_without_echoing_it() -> None:
    with pytest.raises(CredentialsError, match="not a JWT") as info:
        Credentials(token="opaque-secret-value")
    assert "opaque-secret-value" not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
    shown = "".join(traceback.format_exception_only(type(info.value), info.value))
    assert "opaque-secret-value" not in shown


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "either token= or both"),
        ({"api_key": KEY}, "either token= or both"),
        ({"api_key": KEY, "secret": SECRET, "token": "x.y.z"}, "not both"),
        ({"api_key": " ", "secret": SECRET}, "must not be empty"),
    ],
)
def test_bad_combinations(kwargs: dict[str, str], match: str) -> None:
    with pytest.raises(CredentialsError, match=match):
        Credentials(**kwargs)


def test_short_secret_warns_once_and_pyjwt_warning_is_contained() -> None:
    with pytest.warns(CredentialsWarning, match="shorter than 32 bytes"):
        creds = Credentials(api_key=KEY, secret="short")
    # filterwarnings=error: a pyjwt InsecureKeyLengthWarning here would fail the test
    token = creds.token()
    assert jwt.decode(token, "short", algorithms=["HS256"], options={"verify_signature": False})


def test_from_env_prefers_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    token = jwt.encode({"apikey": KEY}, SECRET, algorithm="HS256")
    monkeypatch.setenv("VIDEOSDK_AUTH_TOKEN", token)
    monkeypatch.setenv("VIDEOSDK_API_KEY", KEY)
    monkeypatch.setenv("VIDEOSDK_SECRET_KEY", SECRET)
    assert Credentials.from_env().kind == "token"
    monkeypatch.delenv("VIDEOSDK_AUTH_TOKEN")
    assert Credentials.from_env().kind == "minted"


def test_from_env_names_the_variables_when_nothing_is_set() -> None:
    with pytest.raises(CredentialsError) as info:
        Credentials.from_env()
    for name in ("VIDEOSDK_AUTH_TOKEN", "VIDEOSDK_API_KEY", "VIDEOSDK_SECRET_KEY"):
        assert name in str(info.value)


def test_from_env_names_the_missing_half() -> None:
    with pytest.raises(CredentialsError, match="VIDEOSDK_SECRET_KEY is not set"):
        Credentials.from_env({"VIDEOSDK_API_KEY": KEY})


def test_from_env_prefixes_token_errors_with_the_variable() -> None:
    exp = 1_600_000_000
    token = jwt.encode({"exp": exp}, SECRET, algorithm="HS256")
    with pytest.raises(CredentialsError, match="^VIDEOSDK_AUTH_TOKEN: .*expired"):
        Credentials.from_env({"VIDEOSDK_AUTH_TOKEN": token})


def test_secrets_never_in_repr_str_or_pickle(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    minted = Credentials(api_key=KEY, secret=SECRET)
    token = minted.token()
    ready = Credentials(token=token)
    for creds in (minted, ready):
        for text in (repr(creds), str(creds), repr(creds.auth()), f"{creds}"):
            assert SECRET not in text
            assert token not in text
    assert "my-a…" in repr(minted)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(minted)
    assert SECRET not in caplog.text
    assert token not in caplog.text


def test_auth_flow_sends_bare_token_and_remints_once_after_401() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(401 if len(seen) == 1 else 200)

    now = [1_750_000_000.0]

    def clock() -> float:
        now[0] += 1.0
        return now[0]

    creds = Credentials(api_key=KEY, secret=SECRET, clock=clock)
    with httpx.Client(transport=httpx.MockTransport(handler), auth=creds.auth()) as client:
        assert client.get("https://api.videosdk.live/x").status_code == 200
    assert len(seen) == 2
    assert not seen[0].startswith("Bearer")
    assert seen[0] != seen[1]


def test_auth_flow_does_not_loop_on_repeated_401() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(401)

    creds = Credentials(api_key=KEY, secret=SECRET)
    with httpx.Client(transport=httpx.MockTransport(handler), auth=creds.auth()) as client:
        assert client.get("https://api.videosdk.live/x").status_code == 401
    assert len(calls) == 2


def test_ready_token_is_not_retried_after_401() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(401)

    token = jwt.encode({"apikey": KEY}, SECRET, algorithm="HS256")
    with httpx.Client(
        transport=httpx.MockTransport(handler), auth=Credentials(token=token).auth()
    ) as client:
        assert client.get("https://api.videosdk.live/x").status_code == 401
    assert len(calls) == 1
