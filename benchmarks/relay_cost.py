"""What sharing a presented run with the other server processes costs: ``python -m benchmarks.relay_cost``.

A presenting session trains spiking 784-500-10 (glr17-1hl) in this process and its page's polls are
made here five times a second, as the page's periodic callback does; a follower reads it through a
second stage, as a follower on another server of deploy/serve.sh does (app/relay.py).  Reported:
the presenter's part of a poll spent writing (CPU ms of the polling thread: pickling one update,
writing it, the liveness touch, the look for take-over requests), the follower's poll (reading and
unpickling what came, then its own merge), the bytes written per second, and how far the follower's
newest snapshot is behind the presenter's.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time


def measure(seconds: float, preset: str) -> dict:
    from app import relay
    from app.controller import Controller, TrainingSlots
    from app.presenting import Stage
    from tests.app.conftest import NoTsne

    writing: list[float] = []
    publish = relay.RelayOut.publish

    def timed(self, *args, **kwargs):
        t = time.thread_time()
        publish(self, *args, **kwargs)
        writing.append(time.thread_time() - t)

    relay.RelayOut.publish = timed
    presenter = Controller(slots=TrainingSlots(2), tsne=NoTsne(), preset=preset)
    follower = Controller(slots=TrainingSlots(2), tsne=NoTsne(), preset=preset)
    try:
        presenter.activate()
        code = presenter.present()
        follower.stage = Stage()                    # another server process's codes
        assert follower.follow(code), follower.message
        folder = os.path.join(os.environ[relay.RELAY_ENV], code)
        presenter.start()
        reading, behind, written = [], [], 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            presenter.poll()
            t = time.thread_time()
            follower.poll()
            reading.append(time.thread_time() - t)
            if follower.last_snapshot is not None and presenter.last_snapshot is not None:
                behind.append(presenter.last_snapshot.examples_seen - follower.last_snapshot.examples_seen)
            time.sleep(0.2)
        written = sum(os.path.getsize(os.path.join(folder, n)) for n in os.listdir(folder) if n.startswith("log-"))
        segments = len([n for n in os.listdir(folder) if n.startswith("log-")])
        wall = time.monotonic() - t0
    finally:
        relay.RelayOut.publish = publish
        presenter.close()
        follower.close()
    ms = sorted(1000 * w for w in writing)
    return {"preset": preset, "polls": len(ms), "write_ms_median": statistics.median(ms),
            "write_ms_p95": ms[int(0.95 * (len(ms) - 1))], "write_ms_max": ms[-1],
            "read_ms_median": 1000 * statistics.median(reading),
            "kept_bytes_per_s": written / wall, "segments_kept": segments,
            "follower_behind_examples_median": statistics.median(behind) if behind else None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--preset", default="glr17-1hl")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dendrite-relay-") as root:
        os.environ["DENDRITE_RELAY_DIR"] = root
        r = measure(a.seconds, a.preset)
    print(f"{r['preset']}, {r['polls']} polls of the presenter's page (5 a second)")
    print(f"presenter's poll, writing for other servers (CPU ms): median {r['write_ms_median']:.2f}, "
          f"p95 {r['write_ms_p95']:.2f}, max {r['write_ms_max']:.2f}")
    print(f"follower's poll on another server (CPU ms): median {r['read_ms_median']:.2f}")
    print(f"relay files kept: {r['kept_bytes_per_s'] / 1e3:.0f} KB per second of the run in "
          f"{r['segments_kept']} segment(s)")
    print(f"follower behind the presenter (examples, median): {r['follower_behind_examples_median']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
