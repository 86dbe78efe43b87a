"""The dataset lock: an OS lock on ``_vsdk_sync.lock`` that dies with the process holding it.

`filelock` takes an advisory kernel lock (``flock`` on POSIX, ``LockFileEx`` on Windows)
on the lock file, so a sync killed by SIGKILL, an OOM kill or a container that vanishes
releases the dataset at once, on any host or container that shares the directory: no
stale lock to judge or delete. Beside it, ``_vsdk_sync.holder.json`` says who holds it
(pid, hostname, since, run id), for the message a second sync gets; it is informative
only and may name a holder that has since died.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Final

from filelock import FileLock, Timeout

from vsdk_analytics._errors import DatasetConflictError

from .files import format_instant, write_atomically

__all__ = ["HOLDER_FILE", "LOCK_FILE", "DatasetLock"]

LOCK_FILE: Final = "_vsdk_sync.lock"
"""The file a sync holds an OS lock on (inside the dataset directory)."""

HOLDER_FILE: Final = "_vsdk_sync.holder.json"
"""Who holds (or last held) the lock: pid, host, since, run id."""


class DatasetLock:
    """Exclusive use of a dataset directory by one sync (a context manager).

    Parameters
    ----------
    root
        The dataset directory (it must exist).
    timeout
        Seconds to wait for another holder to finish; 0 fails at once, None waits
        without limit.
    run_id
        The sync run id recorded for others to see.
    """

    def __init__(self, root: Path, *, timeout: float | None = 0.0, run_id: str = "") -> None:
        self.path = root / LOCK_FILE
        self.holder_path = root / HOLDER_FILE
        self.timeout = timeout
        self.run_id = run_id
        self._lock = FileLock(
            self.path,
            timeout=-1 if timeout is None else timeout,
            thread_local=False,
            fallback_to_soft=False,
        )

    def holder(self) -> str:
        """Who holds the lock, in words, as its holder recorded it."""
        try:
            body = json.loads(self.holder_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            body = None
        if not isinstance(body, dict) or "pid" not in body:
            return "a process that has not recorded itself yet"
        return (
            f"process {body.get('pid')} on host {body.get('host', '?')} "
            f"(since {body.get('since', '?')}, sync run {body.get('run_id', '?')})"
        )

    def acquire(self) -> None:
        """Take the lock, waiting up to ``timeout``; `DatasetConflictError` when held."""
        try:
            self._lock.acquire()
        except Timeout:
            waited = "" if not self.timeout else f" after waiting {self.timeout:g} s"
            raise DatasetConflictError(
                f"another sync is running on this dataset{waited}: {self.holder()} holds "
                f"{str(self.path)!r}. Let it finish, or wait for it with lock_timeout= "
                "(CLI: --wait SECONDS); the lock is released by the OS when its holder exits"
            ) from None
        body = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": format_instant(datetime.now(timezone.utc)),
            "run_id": self.run_id,
        }
        try:
            write_atomically(self.holder_path, (json.dumps(body) + "\n").encode())
        except BaseException:
            self._lock.release()
            raise

    def release(self) -> None:
        """Release the lock (the holder file stays: it is rewritten by the next holder)."""
        self._lock.release()

    def __enter__(self) -> DatasetLock:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
