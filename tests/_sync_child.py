"""Run one `sync_sessions` in a child process that SIGKILLs itself after k partition files.

Usage: ``python tests/_sync_child.py BASE_URL DATASET K PER_PAGE``. With ``K`` 0 the sync
runs to the end. The kill comes from the sync's test hook, right after the k-th partition
file is renamed into place and before the state file is written.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from vsdk_analytics import Credentials, _incremental
    from vsdk_analytics.testing import FAKE_API_KEY, FAKE_SECRET

    base_url, dataset, k, per_page = argv[0], Path(argv[1]), int(argv[2]), int(argv[3])
    written = 0

    def kill_after_k(path: Path) -> None:
        nonlocal written
        written += 1
        if written == k:
            os.kill(os.getpid(), signal.SIGKILL)

    _incremental._after_partition_replaced = kill_after_k
    report = _incremental.sync_sessions(
        dataset,
        Credentials(api_key=FAKE_API_KEY, secret=FAKE_SECRET),
        base_url=base_url,
        per_page=per_page,
        progress=False,
    )
    print(report.partitions_written)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
