"""How a training thread paces itself: chunk sizes, the start of the next chunk, the test schedule.

Pure objects, given the clock's readings rather than reading it, so they are tested
without threads (tests/app/test_pacing.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

TARGET_CHUNK_S = 0.05      # at full speed a chunk lasts about this long (bounds slider latency)
MAX_CHUNK = 5000           # examples per chunk, whatever the speed
# First chunks for 784-500-10, scaled down for larger networks (a 2000-2000-2000 spiking chunk of 10
# took 0.9 s, a rate one of 200 3.6 s): small, so the first point appears quickly and no network holds a
# compute place long before its speed is known.
FIRST_CHUNK = {"spiking": 10, "rate": 200}
REFERENCE_WEIGHTS = 784 * 500 + 500 * 10    # the network FIRST_CHUNK is sized for
PACED_CHUNK_S = 0.2        # at a limited speed, one chunk per this many seconds (or per example)
FIRST_TEST_AT = 500        # tests at 500, 1000, 2000, ... then every ``test_every`` examples
# Snapshots fall on multiples of this many examples and summarise exactly those examples, whatever
# the speed, the chunking or the machine: the same link gives the same rows (and the CLI's
# ``train --snapshot-every`` the same numbers).  About 30 snapshots a second at full speed on one core.
SNAPSHOT_EVERY = {"spiking": 100, "rate": 1000}
RATE_MEMORY = 0.7          # weight of the previous rate in the examples/s average
RESUME_GAP_S = 5.0         # a longer gap between two chunks is a pause, not slow training


@dataclass
class Pacing:
    """What the page asks for: a speed (0 = as fast as possible) and the test schedule."""
    speed: float = 0.0        # examples per second
    test_every: int = 2500    # examples between two test measurements (0 = never)
    test_images: int = 500


class ChunkPacer:
    """Sizes chunks so that one lasts about ``TARGET_CHUNK_S`` at full speed, or paces them at a set speed."""

    def __init__(self, mode: str, sizes: tuple[int, ...] = (784, 500, 10)):
        self.grid = SNAPSHOT_EVERY.get(mode, 100)
        self.chunk = scaled_to(FIRST_CHUNK.get(mode, 10), sizes)
        self.rate = math.nan        # examples per second of computing, a moving average (sizes chunks)
        self.achieved = math.nan    # examples per second of wall time, waits included (what the page shows)
        self.due = 0.0              # earliest start of the next chunk (perf_counter seconds) when paced
        self._last_end: float | None = None

    def wait(self, now: float, running: bool) -> float:
        """Seconds until the next chunk may start (a Step never waits)."""
        return self.due - now if running else 0.0

    def next_stop(self, examples_seen: int) -> int:
        """The next snapshot's example count."""
        return (examples_seen // self.grid + 1) * self.grid

    def size(self, pacing: Pacing, stepping: bool, room: int, allowed: int | None = None) -> int:
        """Examples in the next chunk: one per Step, ``speed × PACED_CHUNK_S`` when paced, else the
        timed chunk; never past ``room`` (the next snapshot, test or the run-length limit).  With ``allowed`` (a ghost's leash),
        a chunk that would end close to the leader's next chunk end ends exactly there, so both runs
        report the same example counts."""
        if stepping:
            n = 1
        elif pacing.speed > 0:
            n = max(1, int(round(pacing.speed * PACED_CHUNK_S)))
        else:
            n = self.chunk
        if n < room <= n + n // 2:
            # reach the stop now rather than leave a sliver for a chunk of its own: each chunk costs
            # the thread its turns at the GIL and a round of commands, whatever its size
            n = room
        n = max(1, min(n, room))
        if allowed is not None and allowed <= 2 * n:
            n = allowed
        return n

    def done(self, n: int, started: float, seconds: float, pacing: Pacing) -> None:
        """A chunk of ``n`` examples that began at ``started`` took ``seconds``."""
        if seconds > 0:
            self.rate = _average(self.rate, n / seconds)
        end = started + seconds
        if self._last_end is not None and 0 < end - self._last_end <= RESUME_GAP_S:
            # a paced run waits between chunks, and a crowded server between turns: the page shows
            # what the student gets, not how fast one chunk computed
            self.achieved = _average(self.achieved, n / (end - self._last_end))
        elif math.isnan(self.achieved) and seconds > 0 and pacing.speed <= 0:
            self.achieved = n / seconds
        self._last_end = end
        if pacing.speed > 0:
            self.due = started + n / pacing.speed
        else:
            self.due = 0.0
            if not math.isnan(self.rate):
                self.chunk = int(min(MAX_CHUNK, max(1, self.rate * TARGET_CHUNK_S)))


def forward_weights(sizes: tuple[int, ...]) -> int:
    """Synapses between consecutive layers of ``sizes`` (inputs first): what an example's cost grows with."""
    return sum(a * b for a, b in zip(sizes, sizes[1:]))


def scaled_to(reference_count: int, sizes: tuple[int, ...]) -> int:
    """A count of examples sized for 784-500-10, for a network of ``sizes`` (at least 1)."""
    return max(1, int(reference_count * REFERENCE_WEIGHTS / max(1, forward_weights(sizes))))


def _average(old: float, new: float) -> float:
    return new if math.isnan(old) else RATE_MEMORY * old + (1 - RATE_MEMORY) * new


def next_schedule(at: int, every: int) -> int:
    """The test after the one at ``at`` examples: doubling from 500 until the spacing reaches ``every``."""
    if at < every:
        return min(2 * at, at + every) if at > 0 else FIRST_TEST_AT
    return at + every


class MeasurementSchedule:
    """When the next test-error measurement falls due."""
    __test__ = False     # not a pytest class

    def __init__(self):
        self.next = FIRST_TEST_AT

    def due(self, examples_seen: int, every: int) -> bool:
        return every > 0 and examples_seen >= self.next

    def advance(self, examples_seen: int, every: int) -> None:
        while self.next <= examples_seen:
            self.next = next_schedule(self.next, every)
