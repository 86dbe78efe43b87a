"""Every exception and warning the library raises, as one documented tree.

::

    VideoSDKError
    ├── ConfigurationError (also ValueError)   a bad argument or setting
    │   └── CredentialsError                    missing, malformed or expired credentials
    ├── DatasetConflictError                    a dataset in use, or a target to overwrite (exit 3)
    ├── APIError                                the API answered with something unusable
    │   ├── APIStatusError                      an HTTP error status (.response, .request)
    │   │   ├── AuthenticationError             401, also after a fresh token
    │   │   ├── PermissionDeniedError           403
    │   │   ├── NotFoundError                   404
    │   │   ├── RateLimitError                  429 after every retry
    │   │   └── ServerError                     5xx after every retry
    │   ├── APIConnectionError                  the server could not be reached
    │   │   └── APITimeoutError                 no answer in time
    │   └── ResponseFormatError                 not JSON, or JSON of the wrong shape
    ├── SchemaError (also ValueError)           strict normalization met a bad value
    └── IncompleteFetchError                    a fetch gave up; carries what it got

    VideoSDKWarning (UserWarning)
    ├── DataQualityWarning                      values nulled or moved to `extra`
    ├── CredentialsWarning                      a token or secret needs attention
    └── CompletenessWarning                     paging met an inconsistency it handled

Messages carry the page, the HTTP status and the URL (never its headers), and
say what to do. No exception ever holds a token or a secret.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._constants import MAX_ERROR_BODY_CHARS

if TYPE_CHECKING:
    import httpx
    import polars as pl

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "CompletenessWarning",
    "ConfigurationError",
    "CredentialsError",
    "CredentialsWarning",
    "DataQualityWarning",
    "DatasetConflictError",
    "IncompleteFetchError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseFormatError",
    "SchemaError",
    "ServerError",
    "VideoSDKError",
    "VideoSDKWarning",
    "status_error",
]


class VideoSDKError(Exception):
    """Base class of every error this library raises."""


class ConfigurationError(VideoSDKError, ValueError):
    """A bad argument, URL or environment setting."""


class CredentialsError(ConfigurationError):
    """Credentials are missing, malformed, or already expired."""


class DatasetConflictError(VideoSDKError):
    """A runtime conflict over a file or dataset, not a bad argument.

    Raised when another sync holds the dataset's lock (after ``lock_timeout=``), and
    when `write_parquet` would replace a synced dataset, a directory this library did
    not write, or a file it did not write, without ``overwrite=True``. Nothing was
    written. The CLI exits with code 3 (``--wait SECONDS``, ``--overwrite``).
    """


class APIError(VideoSDKError):
    """The API answered in a way the fetch cannot use.

    Attributes
    ----------
    url
        The request URL (it never contains credentials).
    page
        The page number requested, when the request was for a page.
    """

    def __init__(self, message: str, *, url: str | None = None, page: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.page = page


class APIStatusError(APIError):
    """An HTTP error status.

    Attributes
    ----------
    status_code
        The HTTP status.
    body
        The start of the response body (at most 500 characters), for diagnosis.
    retry_after
        Seconds the server asked us to wait, when it said so.
    response
        The answer as an `httpx.Response` (status, headers, the whole body with any
        echoed token replaced by ``<token>``), when there was one.
    request
        ``response.request``: the `httpx.Request` (method and URL; its headers never
        hold the token).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: str = "",
        url: str | None = None,
        page: int | None = None,
        retry_after: float | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message, url=url, page=page)
        self.status_code = status_code
        self.body = body[:MAX_ERROR_BODY_CHARS]
        self.retry_after = retry_after
        self.response = response

    @property
    def request(self) -> httpx.Request | None:
        """The request that got this answer (None when built without a response)."""
        return None if self.response is None else self.response.request


class AuthenticationError(APIStatusError):
    """401: the token was refused, also after minting a fresh one."""


class PermissionDeniedError(APIStatusError):
    """403: the token is valid but may not list sessions."""


class NotFoundError(APIStatusError):
    """404: wrong base URL or an unknown session id."""


class RateLimitError(APIStatusError):
    """429 on every retry."""


class ServerError(APIStatusError):
    """5xx on every retry."""


class APIConnectionError(APIError):
    """The server could not be reached, or the connection broke.

    Attributes
    ----------
    kind
        What happened: ``"refused"``, ``"dns"``, ``"tls"``, ``"dropped"``, ``"timeout"``
        or ``"other"`` (None when unknown).
    """

    kind: str | None = None


class APITimeoutError(APIConnectionError):
    """The server did not answer within the timeout."""


class ResponseFormatError(APIError):
    """The body was not JSON, or not of the documented shape.

    Attributes
    ----------
    retryable
        True when the body is not JSON (cut off, an HTML error page: a proxy glitch
        that may pass); False for valid JSON of the wrong shape, or a 200 whose body
        is the server's error message, which retrying will not fix.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        page: int | None = None,
        retryable: bool = True,
    ) -> None:
        super().__init__(message, url=url, page=page)
        self.retryable = retryable


class SchemaError(VideoSDKError, ValueError):
    """With ``strict=True``: a value that does not fit `SESSIONS_SCHEMA`.

    Attributes
    ----------
    page, session_id, field
        Where the bad value was.
    """

    def __init__(
        self, message: str, *, page: int | None, session_id: str | None, field: str
    ) -> None:
        super().__init__(message)
        self.page = page
        self.session_id = session_id
        self.field = field


class IncompleteFetchError(VideoSDKError):
    """A fetch could not prove it saw every session; nothing it fetched is lost.

    Attributes
    ----------
    sessions
        Every session fetched before giving up, normalized (`SESSIONS_SCHEMA`).
    missing_pages
        Page numbers (at the page size in `per_page`) whose requests failed after retries.
    per_page
        The page size the missing page numbers refer to.
    unverified
        Position ranges ``(from, to)`` counted from the top of the list (as it was when
        paged) where the pages received could not be linked: sessions may hide there.
    reason
        Why, in a few words.
    """

    def __init__(
        self,
        message: str,
        *,
        sessions: pl.DataFrame,
        missing_pages: list[int],
        per_page: int,
        unverified: list[tuple[int, int]] | None = None,
        reason: str = "",
    ) -> None:
        super().__init__(message)
        self.sessions = sessions
        self.missing_pages = missing_pages
        self.per_page = per_page
        self.unverified = unverified or []
        self.reason = reason


class VideoSDKWarning(UserWarning):
    """Base class of every warning this library emits."""


class DataQualityWarning(VideoSDKWarning):
    """Values that did not fit the schema were nulled (originals kept in `extra`)."""


class CredentialsWarning(VideoSDKWarning):
    """A token or secret was accepted but needs attention (prefix stripped, short secret)."""


class CompletenessWarning(VideoSDKWarning):
    """Paging met an inconsistency (shifted offsets, wrong totals) and handled it."""


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}

_ADVICE: dict[int, str] = {
    401: "check VIDEOSDK_API_KEY/VIDEOSDK_SECRET_KEY or VIDEOSDK_AUTH_TOKEN",
    403: "the token's API key may not list AI deployment sessions",
    404: "check the base URL (VIDEOSDK_API_BASE_URL)",
    429: "lower max_concurrency or try again later",
}


def status_error(
    status_code: int,
    *,
    body: str,
    url: str,
    page: int | None,
    retry_after: float | None = None,
    attempts: int = 1,
    response: httpx.Response | None = None,
) -> APIStatusError:
    """Build the `APIStatusError` subclass for an HTTP status, with advice."""
    cls = _STATUS_CLASSES.get(status_code)
    if cls is None:
        cls = ServerError if status_code >= 500 else APIStatusError
    advice = _ADVICE.get(status_code, "the service may be unavailable; try again later")
    where = f"page {page}" if page is not None else url
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    message = f"HTTP {status_code} for {where}{tries} ({url}): {advice}"
    return cls(
        message,
        status_code=status_code,
        body=body,
        url=url,
        page=page,
        retry_after=retry_after,
        response=response,
    )
