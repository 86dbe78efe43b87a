"""Where a file or dataset lives: a local path, or a prefix in an object store (obstore).

`parse_location` turns what a user passes (a path, ``file://...``, ``s3://bucket/key``,
``gs://``, ``az://``/``abfs://``) into a local `pathlib.Path` or an
`ObjectLocation`. ``file://`` URLs are local paths (every local guarantee holds). An
`ObjectLocation` talks to the store through obstore, the Python binding of the Rust
``object_store`` crate that Polars and deltalake use too, so the three agree on URLs
and on each cloud's standard environment: ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_REGION``, ``AWS_ENDPOINT_URL`` (S3-compatible stores such as MinIO; with
``AWS_ALLOW_HTTP=true`` for a plain-HTTP endpoint), ``GOOGLE_SERVICE_ACCOUNT``,
``AZURE_STORAGE_ACCOUNT_NAME``, ``AZURE_STORAGE_ACCOUNT_KEY``...

An object is written by one PUT: it appears whole or not at all, never partial.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from vsdk_analytics._errors import ConfigurationError

__all__ = [
    "LAKE_EXTRA_HINT",
    "OBJECT_STORE_SCHEMES",
    "ObjectLocation",
    "is_object_store_url",
    "parse_location",
]

OBJECT_STORE_SCHEMES: Final = frozenset(
    {"s3", "s3a", "gs", "gcs", "az", "azure", "abfs", "abfss", "adl"}
)
"""URL schemes read and written through an object store (``file://`` is a local path)."""

LAKE_EXTRA_HINT: Final = "install the lake extra: pip install 'vsdk-analytics[lake]'"


def is_object_store_url(path: object) -> bool:
    """Whether ``path`` is a URL of an object store (``s3://``, ``gs://``, ``az://``...).

    Examples
    --------
    >>> is_object_store_url("s3://bucket/sessions"), is_object_store_url("sessions")
    (True, False)
    >>> is_object_store_url("file:///tmp/sessions")
    False
    """
    if not isinstance(path, str) or "://" not in path:
        return False
    return path.split("://", 1)[0].lower() in OBJECT_STORE_SCHEMES


def _import_obstore() -> Any:
    try:
        import obstore  # noqa: PLC0415 - an optional dependency, loaded only for URLs
    except ImportError:  # pragma: no cover - the lake extra is installed in the tests
        raise ConfigurationError(f"object-store URLs need obstore: {LAKE_EXTRA_HINT}") from None
    return obstore


@dataclass(frozen=True)
class ObjectLocation:
    """A file or dataset prefix in an object store.

    Attributes
    ----------
    url
        The URL as given, without a trailing slash (``s3://bucket/path``).
    root
        The store's root URL (``s3://bucket``).
    key
        The object key (a file) or prefix (a dataset), without slashes at either end.
    """

    url: str
    root: str
    key: str
    _store: list[Any] = field(default_factory=list, repr=False, compare=False)

    @property
    def store(self) -> Any:
        """The obstore store of the bucket (built on first use, from the environment)."""
        if not self._store:
            obstore = _import_obstore()
            try:
                self._store.append(obstore.store.from_url(self.root))
            except Exception as exc:  # obstore raises its own error kinds
                raise ConfigurationError(
                    f"cannot open the object store {self.root!r}: {exc}"
                ) from None
        return self._store[0]

    def child(self, name: str) -> ObjectLocation:
        """The location of ``name`` under this prefix."""
        key = f"{self.key}/{name}" if self.key else name
        return ObjectLocation(f"{self.root}/{key}", self.root, key, self._store)

    @property
    def name(self) -> str:
        """The last component of the key."""
        return self.key.rsplit("/", 1)[-1]

    def url_of(self, key: str) -> str:
        """The URL of an object key of this store."""
        return f"{self.root}/{key}"

    def put(self, data: bytes, *, create: bool = False) -> None:
        """Write this object in one PUT; ``create``: only if it does not exist yet.

        Raises
        ------
        FileExistsError
            ``create`` and the object exists (checked by the store, atomically).
        """
        obstore = _import_obstore()
        try:
            obstore.put(self.store, self.key, data, mode="create" if create else "overwrite")
        except obstore.exceptions.AlreadyExistsError:
            raise FileExistsError(self.url) from None

    def get(self) -> bytes:
        """The bytes of this object."""
        obstore = _import_obstore()
        return bytes(obstore.get(self.store, self.key).bytes())

    def exists(self) -> bool:
        """Whether this object exists."""
        obstore = _import_obstore()
        try:
            obstore.head(self.store, self.key)
        except FileNotFoundError:
            return False
        return True

    def list_keys(self) -> list[str]:
        """The keys of every object under this prefix (as a directory), sorted."""
        obstore = _import_obstore()
        prefix = f"{self.key}/" if self.key else None
        keys: list[str] = []
        for batch in obstore.list(self.store, prefix=prefix):
            keys.extend(str(item["path"]) for item in batch)
        return sorted(keys)

    def delete(self, keys: list[str]) -> None:
        """Delete these object keys (missing ones are ignored)."""
        if keys:
            _import_obstore().delete(self.store, keys)


def parse_location(path: str | os.PathLike[str]) -> Path | ObjectLocation:
    """A local path (plain paths and ``file://`` URLs) or an `ObjectLocation`.

    Examples
    --------
    >>> parse_location("s3://acc/lake/sessions/")
    ObjectLocation(url='s3://acc/lake/sessions', root='s3://acc', key='lake/sessions')
    >>> parse_location("file:///tmp/sessions.parquet")
    PosixPath('/tmp/sessions.parquet')
    """
    if isinstance(path, str) and "://" in path:
        parts = urlsplit(path)
        scheme = parts.scheme.lower()
        if scheme == "file":
            if parts.netloc not in ("", "localhost"):
                raise ConfigurationError(f"{path!r}: a file:// URL names no host (file:///path)")
            return Path(unquote(parts.path))
        if scheme not in OBJECT_STORE_SCHEMES:
            raise ConfigurationError(
                f"{path!r}: unsupported URL scheme {scheme!r}; use a local path or one of "
                + ", ".join(f"{s}://" for s in sorted(OBJECT_STORE_SCHEMES | {"file"}))
            )
        if not parts.netloc:
            raise ConfigurationError(f"{path!r} names no bucket or container")
        if parts.query or parts.fragment:
            raise ConfigurationError(f"{path!r}: object-store URLs take no query or fragment")
        key = parts.path.strip("/")
        root = f"{scheme}://{parts.netloc}"
        return ObjectLocation(f"{root}/{key}" if key else root, root, key)
    return Path(path)
