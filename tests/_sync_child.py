"""Run one `sync_sessions` in a child process that SIGKILLs itself after k partition files.

Usage: ``python tests/_sync_child.py BASE_URL DATASET K PER_PAGE``. With ``K`` 0 the sync
runs to the end and prints the partitions written and the hostname it ran on. The kill
comes right after the k-th partition file is renamed into place and before the state file
is written: the child wraps the directory destination's `write_partition`.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> int:
    from vsdk_analytics import Credentials, sync_sessions
    from vsdk_analytics._dataset import directory as sync_module
    from vsdk_analytics.testing import FAKE_API_KEY, FAKE_SECRET

    base_url, dataset, k, per_page = argv[0], Path(argv[1]), int(argv[2]), int(argv[3])
    written = 0
    real = sync_module.write_partition

    def kill_after_k(*args: Any) -> None:
        nonlocal written
        real(*args)
        written += 1
        if written == k:
            os.kill(os.getpid(), signal.SIGKILL)

    sync_module.write_partition = kill_after_k
    report = sync_sessions(
        dataset,
        Credentials(api_key=FAKE_API_KEY, secret=FAKE_SECRET),
        base_url=base_url,
        per_page=per_page,
        progress=False,
    )
    print(report.partitions_written, socket.gethostname())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
