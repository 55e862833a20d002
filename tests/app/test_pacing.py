"""Chunk pacing and the test schedule, without threads or clocks."""
import math

from app.pacing import (FIRST_CHUNK, MAX_CHUNK, PACED_CHUNK_S, TARGET_CHUNK_S, ChunkPacer, MeasurementSchedule,
                        Pacing)


def test_first_chunks_are_small_then_sized_to_the_target_time():
    p = ChunkPacer("rate")
    full = Pacing(speed=0)
    assert p.size(full, stepping=False, room=10**6) == FIRST_CHUNK["rate"]
    p.done(200, started=0.0, seconds=0.1, pacing=full)          # 2000 examples/s
    assert p.rate == 2000 and p.chunk == int(2000 * TARGET_CHUNK_S)
    p.done(100, started=0.1, seconds=0.1, pacing=full)          # 1000 examples/s: a moving average
    assert math.isclose(p.rate, 0.7 * 2000 + 0.3 * 1000)
    p.done(10**6, started=0.2, seconds=1.0, pacing=full)
    assert p.chunk == MAX_CHUNK


def test_chunks_at_full_speed_reach_the_snapshot_grid_without_slivers():
    """At about 1,900 examples/s a timed chunk is 95 examples: it goes on to the grid point at 100
    rather than leave 5 for a chunk of their own; one that would leave more than half a chunk stops."""
    p = ChunkPacer("spiking")
    full = Pacing(speed=0)
    p.done(95, started=0.0, seconds=95 / 1900, pacing=full)
    assert p.chunk == 95
    seen, sizes = 0, []
    while seen < 1000:
        n = p.size(full, stepping=False, room=p.next_stop(seen) - seen)
        sizes.append(n)
        seen += n
    assert sizes == [100] * 10
    assert p.size(full, stepping=False, room=150) == 95 and p.size(full, stepping=False, room=142) == 142
    assert p.size(full, stepping=True, room=2) == 1
    assert p.size(Pacing(speed=5), stepping=False, room=1000) == round(5 * PACED_CHUNK_S)


def test_a_large_network_starts_with_a_chunk_sized_to_it():
    """A 2000-2000-2000 spiking chunk of 10 examples took 0.9 s, a rate chunk of 200 3.6 s: the first
    chunk, taken before the speed is known, shrinks with the number of synapses."""
    big = (784, 2000, 2000, 2000, 10)
    assert ChunkPacer("spiking").chunk == FIRST_CHUNK["spiking"]          # 784-500-10
    assert ChunkPacer("spiking", big).chunk == 1
    assert 1 <= ChunkPacer("rate", big).chunk <= FIRST_CHUNK["rate"] // 20
    assert ChunkPacer("rate", (784, 10)).chunk > FIRST_CHUNK["rate"]       # smaller networks start larger


def test_a_set_speed_paces_chunks_in_time():
    p = ChunkPacer("spiking")
    slow = Pacing(speed=5)
    n = p.size(slow, stepping=False, room=10**6)
    assert n == round(5 * PACED_CHUNK_S)
    p.done(n, started=10.0, seconds=0.01, pacing=slow)
    assert math.isclose(p.due, 10.0 + n / 5)
    assert math.isclose(p.wait(10.05, running=True), p.due - 10.05)
    assert p.wait(10.05, running=False) == 0.0            # a Step never waits


def test_steps_room_and_leash():
    p = ChunkPacer("rate")
    full = Pacing()
    assert p.size(full, stepping=True, room=10**6) == 1
    assert p.size(full, stepping=False, room=7) == 7       # never past the run-length limit
    assert p.size(full, stepping=False, room=10**6, allowed=300) == 300    # end where the leader ended
    assert p.size(full, stepping=False, room=10**6, allowed=10**5) == FIRST_CHUNK["rate"]


def test_measurements_double_then_keep_the_spacing():
    s = MeasurementSchedule()
    seen = []
    for examples in range(0, 12001, 50):
        if s.due(examples, 2500):
            seen.append(examples)
            s.advance(examples, 2500)
    assert seen == [500, 1000, 2000, 4000, 6500, 9000, 11500]
    assert not MeasurementSchedule().due(10**6, 0), "test_every = 0 measures never"


def test_the_speed_shown_is_the_speed_achieved():
    p = ChunkPacer("spiking")
    slow = Pacing(speed=1)
    t = 0.0
    for _ in range(10):          # one example per second, each computed in 3 ms
        p.done(1, started=t, seconds=0.003, pacing=slow)
        t += 1.0
    assert p.rate > 300 and abs(p.achieved - 1.0) < 0.01
    p.done(1, started=t + 60, seconds=0.003, pacing=slow)     # after a pause: not 1/60 example/s
    assert abs(p.achieved - 1.0) < 0.01
