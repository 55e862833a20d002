"""The same link gives the same numbers: rows depend on the settings, the seed and the example count only.

Two sessions with the same settings, one at full speed and one paced at 100 examples/s (so
their chunks end at different places), export identical rows, and equal the command line's
``python -m dendcore train`` run of the same spec and seed at those example counts.  The second
session's test is the first one's (app.shared_tests): the command line measures it on its own.
"""
import json
import subprocess
import sys

import pytest

pytest.importorskip("panel")

from app.controller import Controller, TrainingSlots  # noqa: E402
from tests.app.conftest import ROOT, NoTsne, pump  # noqa: E402

SETTINGS = dict(preset="glr17-1hl", hidden="20", seed=4, test_images=100, test_every=500)
UPTO = 600
QUANTITIES = ("train_error_pct", "loss_output", "loss_hidden", "angle_to_backprop_deg", "weight_angle_deg",
              "eig_jacobian", "eig_weights", "loss_correlation")


def session_rows(speed):
    c = Controller(slots=TrainingSlots(4), tsne=NoTsne(), speed=speed, **SETTINGS)
    try:
        c.activate()
        c.start()
        pump(c, lambda c: c.tracker.last is not None and c.tracker.last.examples_seen >= UPTO
             and c.tracker.last_test is not None, timeout=120)
        c.stop()
        return c.history
    finally:
        c.close()


def by_count(rows):
    train = {r["examples_seen"]: r for r in rows if r["examples"]}
    tests = {r["examples_seen"]: r["test_error_pct"] for r in rows if r.get("test_error_pct") is not None}
    return train, tests


def test_two_sessions_and_the_cli_agree(tmp_path):
    from app.shared_tests import SHARED_TESTS
    fast_train, fast_tests = by_count(session_rows(speed=0))
    measured = SHARED_TESTS.measured
    slow_train, slow_tests = by_count(session_rows(speed=100))
    assert SHARED_TESTS.measured == measured, "the second copy of the run measured its test again"
    counts = [k for k in range(100, UPTO + 1, 100)]
    assert set(counts) <= set(fast_train) and set(counts) <= set(slow_train), "a snapshot every 100 examples"
    for k in counts:
        for q in QUANTITIES:
            assert fast_train[k][q] == slow_train[k][q], (k, q)
    assert fast_tests[500] == slow_tests[500]

    out = tmp_path / "cli"
    res = subprocess.run([sys.executable, "-m", "dendcore", "train", "--preset", "glr17-1hl", "--set", "hidden=20",
                          "--seed", "4", "--examples", str(UPTO), "--snapshot-every", "100", "--test-every", "500",
                          "--test-images", "100", "--no-progress", "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    cli = {r["examples_seen"]: r for r in map(json.loads, (out / "snapshots.jsonl").read_text().splitlines())}
    for k in counts:
        for q in QUANTITIES:
            assert cli[k][q] == fast_train[k][q], (k, q, cli[k][q], fast_train[k][q])
    assert cli[500]["test_error_pct"] == fast_tests[500]


def test_a_run_with_live_changes_replays_on_the_command_line(tmp_path):
    """Live changes are recorded with the example count they took effect at; --replay applies them there."""
    from app import export
    c = Controller(slots=TrainingSlots(4), tsne=NoTsne(), speed=0, **SETTINGS)
    try:
        c.activate()
        c.start()
        pump(c, lambda c: c.tracker.last is not None and c.tracker.last.examples_seen >= 150, timeout=120)
        c.g_a = 0.05
        c.lr_hidden = 0.1
        pump(c, lambda c: c.tracker.changes, timeout=60)
        pump(c, lambda c: c.tracker.last.examples_seen >= UPTO and c.tracker.last_test is not None, timeout=120)
        c.stop()
        record = json.loads(export.run_json(c.run, c.history, c.tracker.start_spec, c.tracker.changes))
    finally:
        c.close()
    assert record["spec_at_start"]["g_a"] != 0.05 and record["spec"]["g_a"] == 0.05
    applied = {k: v for ch in record["changes"] for k, v in ch["set"].items()}
    assert applied["g_a"] == 0.05 and applied["lr"][0] == 0.1
    at = record["changes"][0]["examples_seen"]
    assert 150 <= at < UPTO
    path = tmp_path / "run.json"
    path.write_text(json.dumps(record))

    out = tmp_path / "replayed"
    res = subprocess.run([sys.executable, "-m", "dendcore", "train", "--replay", str(path),
                          "--examples", str(UPTO), "--snapshot-every", "100", "--test-every", "500",
                          "--test-images", "100", "--no-progress", "--out", str(out), "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.splitlines()[-1])["changes_applied"] == len(record["changes"])
    cli = {r["examples_seen"]: r for r in map(json.loads, (out / "snapshots.jsonl").read_text().splitlines())}
    train, tests = by_count(record["snapshots"])
    counts = [k for k in range(100, UPTO + 1, 100) if k in train]
    assert [k for k in counts if k > at], "rows after the change"
    for k in counts:
        for q in QUANTITIES:
            assert cli[k][q] == train[k][q], (k, q, cli[k][q], train[k][q])
        assert cli[k]["g_a"] == train[k]["g_a"]
    assert cli[500]["test_error_pct"] == tests[500]

    # without the changes the rows part after the change: the test can tell
    plain = tmp_path / "plain"
    res = subprocess.run([sys.executable, "-m", "dendcore", "train", "--preset", "glr17-1hl", "--set", "hidden=20",
                          "--seed", "4", "--examples", str(UPTO), "--snapshot-every", "100", "--no-progress",
                          "--out", str(plain)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    base = {r["examples_seen"]: r for r in map(json.loads, (plain / "snapshots.jsonl").read_text().splitlines())}
    last = max(counts)
    assert base[last]["train_error_pct"] != cli[last]["train_error_pct"] or \
        base[last]["loss_output"] != cli[last]["loss_output"]
