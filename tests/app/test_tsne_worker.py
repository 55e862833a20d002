"""The shared t-SNE worker process runs only on CPU that training and the page leave idle."""
import os
import sys

import pytest

from app import tsne


def _scheduling() -> tuple[int, int]:
    return os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, 0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SCHED_IDLE is Linux's")
def test_the_tsne_worker_runs_at_idle_priority():
    try:
        policy, _ = tsne.shared_executor().submit(_scheduling).result(timeout=120)
    finally:
        tsne.shutdown()
    # a niceness only weights the share: the class-of-30 load test saw nice 15 still take 0.3 cores
    assert policy == os.SCHED_IDLE
