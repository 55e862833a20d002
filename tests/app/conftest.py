"""Helpers shared by the dashboard's unit tests (no server, no browser)."""
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from app.controller import Controller, Update

ROOT = Path(__file__).resolve().parents[2]


class BrowserSession:
    """What a page looks at in its document's session context: a browser's session, no query in its link."""
    id = "test-session"
    server_context = None
    request = SimpleNamespace(arguments={}, headers={}, cookies={}, uri="/app", host="localhost",
                              protocol="http", remote_ip="127.0.0.1")


class NoTsne:
    """Stands in for the t-SNE worker (keeps the unit tests' CPU for training)."""

    def __init__(self):
        self.submitted = []

    def submit(self, activity, examples_seen, run_id):
        self.submitted.append((np.asarray(activity).shape, examples_seen, run_id))
        return True

    def reset(self, run_id, layout_key=None):
        pass

    def close(self):
        pass

    def take(self):
        return None

    busy = False
    ready = True            # the engine's hint: a probe may be taken now
    has_result = False


def pump(c: Controller, until, timeout=20.0) -> list[Update]:
    """Poll like the page does until ``until(controller)`` holds."""
    ups = []
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        ups.append(c.poll())
        if until(c):
            return ups
        time.sleep(0.02)
    raise AssertionError(f"condition not met within {timeout} s; status: {c.status!r}, message: {c.message!r}")


def closed_after_test(make_controller):
    """Fixture body: a factory of controllers that are closed after the test; their threads must stop."""
    made = []

    def factory(**params):
        c = make_controller(**params)
        made.append(c)
        return c
    yield factory
    for c in made:
        ghost_engine = c.ghost_run.engine
        c.close()
        if c.engine is not None:
            assert not c.engine.alive, "the engine thread must stop when the session closes"
        if ghost_engine is not None:
            assert not ghost_engine.alive, "the ghost's thread must stop when the session closes"



SWEEP_ARGS = ["--preset", "glr17-1hl-rate", "--set", "hidden=20", "--grid", "g_a=0,0.6",
              "--grid", "feedback_scale=0.5,1,2", "--seeds", "2", "--examples", "300", "--test-images", "100",
              "--workers", "2", "--no-progress", "--fail-on", "g_a=0.6,feedback_scale=2-seed1"]


def make_tiny_sweep(out: Path) -> subprocess.CompletedProcess:
    """A 12-run sweep (one run fails on purpose) made by the command line, as a user would."""
    return subprocess.run([sys.executable, "-m", "dendcore", "sweep", *SWEEP_ARGS, "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=180)


def finished_point(code: str, test_error: float) -> dict:
    """The next open grid point of class experiment ``code``, finished by a student with this test error
    (as app/class_runs.py writes it); the record."""
    from app import class_experiment as cx
    a = cx.claim(code, who=f"student-{test_error}")
    assert a is not None, "every grid point is taken"
    rows = [{"examples": 100, "examples_seen": 100 * (i + 1), "train_error_pct": 90.0 - i,
             "angle_to_backprop_deg": [70.0 - i]} for i in range(5)]
    return cx.finish(a, rows, (test_error, 200, 2000), 1.0)
