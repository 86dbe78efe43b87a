from __future__ import annotations

import base64
import json
import logging
import pickle
import time
import traceback
from typing import Any

import httpx
import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vsdk_analytics import ConfigurationError, Credentials, CredentialsError, CredentialsWarning
from vsdk_analytics._client import resolve_base_url
from vsdk_analytics._config import ENVIRONMENT, check_client_options
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
    with pytest.raises(CredentialsError, match="VIDEOSDK_SECRET is not set") as info:
        Credentials.from_env({"VIDEOSDK_API_KEY": KEY})
    assert "VIDEOSDK_SECRET_KEY" in str(info.value)
    for name in ("VIDEOSDK_SECRET", "VIDEOSDK_SECRET_KEY"):
        with pytest.raises(CredentialsError, match=f"VIDEOSDK_API_KEY is not set but {name} is"):
            Credentials.from_env({name: SECRET})


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


@pytest.mark.parametrize("secret_name", ["VIDEOSDK_SECRET", "VIDEOSDK_SECRET_KEY"])
def test_from_env_accepts_either_secret_name(secret_name: str) -> None:
    creds = Credentials.from_env({"VIDEOSDK_API_KEY": KEY, secret_name: SECRET})
    assert creds.kind == "minted"
    assert _claims(creds.token())["apikey"] == KEY  # signed with that secret


def test_from_env_vendor_names_only() -> None:
    """The vendor's server SDKs' three variables are enough for credentials and URL."""
    env = {
        "VIDEOSDK_API_KEY": KEY,
        "VIDEOSDK_SECRET": SECRET,
        "VIDEOSDK_API_ENDPOINT": "https://eu.example.test/",
    }
    assert Credentials.from_env(env).kind == "minted"
    assert resolve_base_url(None, env) == "https://eu.example.test"


def test_both_secret_names_equal_is_fine_different_is_refused_without_values() -> None:
    both = {"VIDEOSDK_API_KEY": KEY, "VIDEOSDK_SECRET": SECRET, "VIDEOSDK_SECRET_KEY": SECRET}
    assert Credentials.from_env(both).kind == "minted"
    other = "another-secret-that-is-long-enough-9876543210"
    with pytest.raises(CredentialsError) as info:
        Credentials.from_env({**both, "VIDEOSDK_SECRET_KEY": other})
    message = str(info.value)
    assert "VIDEOSDK_SECRET and VIDEOSDK_SECRET_KEY" in message
    assert SECRET not in message
    assert other not in message
    assert info.value.__cause__ is None


def test_conflicting_secrets_are_refused_even_when_a_token_is_set() -> None:
    token = jwt.encode({"apikey": KEY}, SECRET, algorithm="HS256")
    env = {"VIDEOSDK_AUTH_TOKEN": token, "VIDEOSDK_SECRET": SECRET, "VIDEOSDK_SECRET_KEY": "x"}
    with pytest.raises(CredentialsError, match="VIDEOSDK_SECRET and VIDEOSDK_SECRET_KEY"):
        Credentials.from_env(env)


def test_explicit_credentials_never_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDEOSDK_SECRET", "a")
    monkeypatch.setenv("VIDEOSDK_SECRET_KEY", "b")  # a conflict, but not consulted
    assert Credentials(api_key=KEY, secret=SECRET).kind == "minted"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "https://api.videosdk.live"),
        ({"VIDEOSDK_API_ENDPOINT": "https://a.example.test"}, "https://a.example.test"),
        ({"VIDEOSDK_API_BASE_URL": "https://b.example.test/"}, "https://b.example.test"),
        (
            {
                "VIDEOSDK_API_ENDPOINT": "https://a.example.test",
                "VIDEOSDK_API_BASE_URL": " https://a.example.test ",
            },
            "https://a.example.test",
        ),
        ({"VIDEOSDK_API_ENDPOINT": ""}, "https://api.videosdk.live"),
    ],
)
def test_base_url_from_the_environment(env: dict[str, str], expected: str) -> None:
    assert resolve_base_url(None, env) == expected


def test_base_url_argument_wins_and_conflicting_variables_are_refused() -> None:
    env = {
        "VIDEOSDK_API_ENDPOINT": "https://a.example.test",
        "VIDEOSDK_API_BASE_URL": "https://b.example.test",
    }
    assert resolve_base_url("https://c.example.test", env) == "https://c.example.test"
    with pytest.raises(ConfigurationError) as info:
        resolve_base_url(None, env)
    assert "VIDEOSDK_API_ENDPOINT and VIDEOSDK_API_BASE_URL" in str(info.value)
    assert "example.test" not in str(info.value)
    assert not isinstance(info.value, CredentialsError)


@pytest.mark.parametrize("url", ["api.videosdk.live", "localhost:8080", "127.0.0.1:8080/"])
def test_base_url_without_scheme_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="base_url has no scheme"):
        resolve_base_url(url)
    with pytest.raises(ConfigurationError, match="VIDEOSDK_API_ENDPOINT has no scheme"):
        resolve_base_url(None, {"VIDEOSDK_API_ENDPOINT": url})


def test_base_url_with_credentials_is_not_echoed() -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve_base_url("ftp://user:hunter2@example.test")
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"max_concurrency": -1}, "max_concurrency must be an integer >= 1, got -1"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_concurrency": True}, "max_concurrency"),
        ({"max_concurrency": 2.5}, "max_concurrency"),
        ({"per_page": 0}, "per_page must be an integer >= 1, got 0"),
        ({"max_retries": -1}, "max_retries must be an integer >= 0"),
        ({"timeout": 0}, "timeout must be a number > 0 seconds"),
        ({"timeout": float("nan")}, "timeout"),
        ({"max_requests_per_second": 0}, "max_requests_per_second must be a number > 0"),
        ({"max_requests_per_second": float("inf")}, "max_requests_per_second"),
        ({"max_requests_per_second": "5"}, "max_requests_per_second"),
    ],
)
def test_check_client_options_refuses(options: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        check_client_options(**options)  # type: ignore[arg-type]


def test_check_client_options_accepts_good_values_and_defaults() -> None:
    check_client_options()
    check_client_options(
        per_page=1, max_concurrency=1, max_retries=0, timeout=0.5, max_requests_per_second=0.1
    )


def test_every_variable_is_in_the_docs_table() -> None:
    from pathlib import Path

    doc = (Path(__file__).parents[1] / "docs" / "fetching.md").read_text(encoding="utf-8")
    section = doc.split("## Credentials and environment", 1)[1].split("\n## ", 1)[0]
    for variable in ENVIRONMENT:
        assert f"`{variable.name}`" in section, variable.name


@given(
    header=st.one_of(
        st.just({"alg": "HS256", "typ": "JWT"}), st.dictionaries(st.text(), st.integers())
    ),
    payload=st.one_of(
        st.fixed_dictionaries({"exp": st.integers(0, 2**40)}),
        st.dictionaries(st.text(), st.integers()),
        st.lists(st.integers()),
    ),
    signature=st.text(alphabet="abcXYZ019-_", max_size=20),
    garble=st.sampled_from(["", "!", "==", "."]),
)
def test_ready_token_claims_are_read_as_pyjwt_reads_them(
    header: dict[str, Any], payload: Any, signature: str, garble: str
) -> None:
    """Whatever claims ``jwt.decode`` reads (unverified), the stdlib reader reads too.

    It may accept a few tokens pyjwt refuses for their padding or signature bits (never
    checked here: the server refuses a bad token with a 401), never a token that is not
    three base64url parts.
    """
    from vsdk_analytics._credentials import _unverified_claims

    def part(value: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    token = f"{part(header)}.{part(payload)}{garble}.{signature}"
    try:
        expected = jwt.decode(token, options={"verify_signature": False, "verify_exp": False})
    except jwt.PyJWTError:
        expected = None
    try:
        got = _unverified_claims(token)
    except ValueError:
        got = None
    if expected is not None:
        assert got == expected
    if garble in {"!", "."} or not isinstance(payload, dict):
        assert got is None


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"token": b"secret-token-bytes"}, "token must be a str, not bytes"),
        ({"token": lambda: "t"}, "token must be a str, not function"),
        ({"api_key": 12345, "secret": "s" * 32}, "api_key must be a str, not int"),
        ({"api_key": "key", "secret": b"s" * 32}, "secret must be a str, not bytes"),
        ({"api_key": "key", "secret": "s" * 32, "ttl_seconds": "600"}, "ttl_seconds must be"),
        ({"api_key": "key", "secret": "s" * 32, "ttl_seconds": True}, "ttl_seconds must be"),
    ],
)
def test_values_of_the_wrong_type_get_a_credentials_error_that_hides_them(
    options: dict[str, Any], named: str
) -> None:
    with pytest.raises(CredentialsError, match=named) as caught:
        Credentials(**options)
    assert "secret-token" not in str(caught.value)
    assert "sss" not in str(caught.value)


def test_base_url_is_normalized_and_malformed_ones_are_refused() -> None:
    assert resolve_base_url("HTTPS://API.Example.test/v1/") == "https://api.example.test/v1"
    assert resolve_base_url("http://[::1]:8080/") == "http://[::1]:8080"
    for bad in ("https://exa mple.test", "https://a.test:99999", "https://a.test:port"):
        with pytest.raises(ConfigurationError, match="not a valid URL"):
            resolve_base_url(bad)
    for bad in ("https://a.test/?x=1", "https://a.test/#top", "https://a.test/?"):
        with pytest.raises(ConfigurationError, match="a query or a fragment"):
            resolve_base_url(bad)
