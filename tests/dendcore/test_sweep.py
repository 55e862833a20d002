"""Parameter sweeps on a real Dask cluster: records, resume, failures, refusals, the command line.

Every run is tiny (784-20-10 in rate mode, 200 examples, 100 test images), so
the whole module takes well under a minute; most of it is worker start-up.
"""
import json
import subprocess
import sys
import time

import pytest

distributed = pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")

from dendcore.spec import SpecError  # noqa: E402
from dendcore.sweep import (SweepError, load_sweep, parse_grid_arg, point_id, run_one,  # noqa: E402
                            run_sweep)

PRESET = "glr17-1hl-rate"
SETS = ("hidden=20",)
GRID = {"g_a": ["0", "0.6"]}
TINY = dict(seeds=2, examples=200, test_images=100, sets=SETS, progress=False)
CLI_TINY = ["--preset", PRESET, "--set", "hidden=20", "--seeds", "2", "--examples", "200",
            "--test-images", "100", "--no-progress"]
RUN_KEYS = {"status", "spec", "seed", "grid", "point", "test_error_pct", "test_images", "examples",
            "train_wall_s", "angle_to_backprop_deg", "angle_deg", "curve"}


def _cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "dendcore", "sweep", *args], capture_output=True, text=True,
                          timeout=timeout)


def _workers():
    """Dask worker processes started (directly or not) by this test process and still running.

    A child that ended meanwhile (a zombie not yet reaped, or gone) has no command line to read
    and is no worker that stayed behind."""
    found = []
    for p in psutil.Process().children(recursive=True):
        try:
            if any("spawn_main" in part for part in p.cmdline()):
                found.append(p)
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            pass
    return found


def _records(out):
    return {p.name: json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))}


def _check_ok_record(rec, point, seed):
    assert RUN_KEYS <= set(rec)
    assert rec["status"] == "ok" and rec["point"] == point and rec["seed"] == seed
    assert rec["spec"]["hidden"] == [20] and rec["spec"]["mode"] == "rate"
    assert rec["spec"]["g_a"] == rec["grid"]["g_a"]
    assert rec["examples"] == 200 and rec["examples_seen"] == 200 and rec["test_images"] == 100
    assert 0.0 <= rec["test_error_pct"] <= 100.0
    assert 0.0 <= rec["angle_deg"] <= 180.0 and len(rec["angle_to_backprop_deg"]) == 1
    assert rec["train_wall_s"] > 0
    curve = rec["curve"]
    assert 5 <= len(curve) <= 25 and curve[-1]["examples_seen"] == 200
    assert curve[-1]["test_error_pct"] == rec["test_error_pct"]
    assert all(c["test_error_pct"] is None for c in curve[:-1])
    assert {"examples_seen", "train_error_pct", "test_error_pct", "angle_deg"} <= set(curve[0])


# ------------------------------------------------------------------ no cluster needed
def test_grid_arguments_and_point_names():
    assert parse_grid_arg("g_a=0, 0.05,0.6") == ("g_a", ["0", "0.05", "0.6"])
    assert parse_grid_arg("hidden=500,100;300") == ("hidden", ["500,100", "300"])
    with pytest.raises(SpecError):
        parse_grid_arg("g_a")
    with pytest.raises(SpecError):
        parse_grid_arg("g_a=0,,1")
    assert point_id({"g_a": 0.05, "feedback_scale": 2.0}) == "g_a=0.05,feedback_scale=2"
    assert point_id({"hidden": [500, 100]}) == "hidden=500_100"
    assert point_id({}) == "base"
    odd = point_id({"feedback": "a/b c"})
    assert "/" not in odd and " " not in odd and odd != point_id({"feedback": "a_b c"})


def test_worker_function_records_its_own_failure():
    """An exception inside the worker becomes a failed record, not an exception."""
    from dendcore.presets import get_preset
    spec = get_preset(PRESET).spec.replace(hidden=(20,)).to_dict()
    task = {"run": "x-seed0", "point": "x", "grid": {}, "seed": 0, "spec": spec, "preset": PRESET,
            "dataset": "no-such-dataset", "examples": 10, "test_images": 10, "snapshot_every": 5, "fail": False}
    rec = run_one(task)
    assert rec["status"] == "failed" and "no-such-dataset" in rec["error"] and "\n" not in rec["error"]
    json.dumps(rec, allow_nan=False)


@pytest.mark.parametrize("grid, names", [
    ("g_a=0,1.5", ["g_a", "1.5"]),          # valid type, invalid value
    ("g_a=0,lots", ["g_a", "lots"]),        # unreadable value
    ("g_apical=0,0.1", ["g_apical"]),       # unknown field
    ("mode=rate,dreaming", ["mode", "dreaming"]),
])
def test_bad_grid_is_refused_before_anything_runs(tmp_path, grid, names):
    out = tmp_path / "sweep"
    r = _cli(*CLI_TINY, "--grid", grid, "--out", str(out))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert all(n in lines[0] for n in names)
    assert not (out / "sweep.json").exists() and not (out / "runs").exists()


# ------------------------------------------------------------------ own local cluster
def test_cli_sweep_then_rerun_skips_everything(tmp_path):
    """The command line end to end on its own 2-worker local cluster, then a resume that has nothing to do."""
    out = tmp_path / "sweep"
    before = len(_workers())
    r = _cli(*CLI_TINY, "--grid", "g_a=0,0.6", "--workers", "2", "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert (summary["n_runs"], summary["n_ok"], summary["n_failed"], summary["n_skipped"]) == (4, 4, 0, 0)
    assert [p["point"] for p in summary["points"]] == ["g_a=0", "g_a=0.6"]
    for p in summary["points"]:
        assert p["n_ok"] == 2 and p["test_error_mean"] is not None and p["test_error_sd"] is not None
    assert "g_a" in r.stdout.splitlines()[0]  # the table comes first
    recs = _records(out)
    assert sorted(recs) == ["g_a=0-seed0.json", "g_a=0-seed1.json", "g_a=0.6-seed0.json", "g_a=0.6-seed1.json"]
    for name, rec in recs.items():
        _check_ok_record(rec, name.split("-seed")[0], int(name.split("-seed")[1][:-5]))
    definition = json.loads((out / "sweep.json").read_text())
    assert definition["grid"] == [{"field": "g_a", "values": [0.0, 0.6]}] and definition["seeds"] == [0, 1]
    assert not list(out.rglob("*.tmp"))

    mtimes = {p: p.stat().st_mtime_ns for p in (out / "runs").iterdir()}
    t0 = time.perf_counter()
    r = _cli(*CLI_TINY, "--grid", "g_a=0,0.6", "--workers", "2", "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    again = json.loads(r.stdout.strip().splitlines()[-1])
    assert (again["n_ok"], again["n_failed"], again["n_skipped"]) == (0, 0, 4)
    assert again["wall_s"] < 5.0 and time.perf_counter() - t0 < 30.0  # no cluster was started
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").iterdir()} == mtimes
    assert again["points"] == summary["points"]
    assert len(_workers()) == before


def test_api_local_cluster_is_closed(tmp_path):
    before = len(_workers())
    s = run_sweep(PRESET, {"g_a": [0.0]}, 1, 100, tmp_path / "s", workers=2, test_images=50, sets=SETS,
                  progress=False)
    assert (s.n_runs, s.n_ok) == (1, 1)
    assert len(_workers()) == before


# ------------------------------------------------------------------ a shared cluster for the API tests
@pytest.fixture(scope="module")
def scheduler():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster:
        yield cluster.scheduler_address


def test_resume_reruns_only_the_missing_run(tmp_path, scheduler):
    out = tmp_path / "sweep"
    first = run_sweep(PRESET, GRID, out=out, scheduler=scheduler, **TINY)
    assert (first.n_runs, first.n_ok, first.n_failed, first.n_skipped) == (4, 4, 0, 0) and first.ok
    recs = _records(out)
    gone = out / "runs" / "g_a=0.6-seed1.json"
    gone.unlink()
    kept = {p: p.stat().st_mtime_ns for p in (out / "runs").iterdir()}
    second = run_sweep(PRESET, GRID, out=out, scheduler=scheduler, **TINY)
    assert (second.n_ok, second.n_failed, second.n_skipped) == (1, 0, 3)
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    redone = json.loads(gone.read_text())
    _check_ok_record(redone, "g_a=0.6", 1)
    # same spec and seed: the engine reproduces the run exactly
    assert redone["test_error_pct"] == recs[gone.name]["test_error_pct"]
    assert redone["curve"] == recs[gone.name]["curve"]
    assert second.points == first.points

    definition, rows = load_sweep(out)
    assert [p["point"] for p in definition["points"]] == ["g_a=0", "g_a=0.6"]
    assert [(r["grid"]["g_a"], r["seed"]) for r in rows] == [(0.0, 0), (0.0, 1), (0.6, 0), (0.6, 1)]
    assert all(r["status"] == "ok" and r["test_error_pct"] is not None and r["angle_deg"] is not None
               for r in rows)


def test_failing_point_is_recorded_and_retried(tmp_path, scheduler):
    out = tmp_path / "sweep"
    s = run_sweep(PRESET, GRID, out=out, scheduler=scheduler, fail_on=["g_a=0.6"], **TINY)
    assert (s.n_runs, s.n_ok, s.n_failed, s.n_skipped) == (4, 2, 2, 0) and not s.ok
    assert sorted(f["run"] for f in s.failures) == ["g_a=0.6-seed0", "g_a=0.6-seed1"]
    by_point = {p["point"]: p for p in s.points}
    assert by_point["g_a=0"]["n_ok"] == 2 and by_point["g_a=0"]["test_error_mean"] is not None
    assert by_point["g_a=0.6"]["n_failed"] == 2 and by_point["g_a=0.6"]["test_error_mean"] is None
    bad = json.loads((out / "runs" / "g_a=0.6-seed0.json").read_text())
    assert bad["status"] == "failed" and "InjectedFailure" in bad["error"] and bad["curve"]
    _, rows = load_sweep(out)
    assert [r["status"] for r in rows] == ["ok", "ok", "failed", "failed"]

    retry = run_sweep(PRESET, GRID, out=out, scheduler=scheduler, **TINY)
    assert (retry.n_ok, retry.n_failed, retry.n_skipped) == (2, 0, 2) and retry.ok
    assert json.loads((out / "runs" / "g_a=0.6-seed0.json").read_text())["status"] == "ok"


def test_cli_failing_point_exits_1_with_summary(tmp_path, scheduler):
    out = tmp_path / "sweep"
    r = _cli(*CLI_TINY, "--grid", "g_a=0,0.6", "--scheduler", scheduler, "--fail-on", "g_a=0-seed1",
             "--out", str(out), "--json")
    assert r.returncode == 1
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert (summary["n_ok"], summary["n_failed"], summary["n_skipped"]) == (3, 1, 0)
    assert summary["failures"][0]["run"] == "g_a=0-seed1"
    assert "g_a=0-seed1 failed" in r.stderr


def test_other_definition_in_same_directory_is_refused(tmp_path, scheduler):
    out = tmp_path / "sweep"
    run_sweep(PRESET, GRID, out=out, scheduler=scheduler, **TINY)
    definition = (out / "sweep.json").read_text()
    for change in (dict(grid={"g_a": ["0", "0.3"]}), dict(seeds=3), dict(examples=300),
                   dict(sets=("hidden=30",))):
        kw = {**TINY, "grid": GRID, **change}
        with pytest.raises(SweepError, match="different sweep"):
            run_sweep(PRESET, out=out, scheduler=scheduler, **kw)
    assert (out / "sweep.json").read_text() == definition
    r = _cli(*CLI_TINY, "--grid", "g_a=0,0.3", "--out", str(out))
    assert r.returncode == 2 and "--force" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    # --force replaces the definition and keeps the runs that still belong to it
    s = run_sweep(PRESET, {"g_a": ["0", "0.6", "0.3"]}, out=out, scheduler=scheduler, force=True, **TINY)
    assert (s.n_runs, s.n_ok, s.n_skipped) == (6, 2, 4)
    definition, rows = load_sweep(out)
    assert [p["point"] for p in definition["points"]] == ["g_a=0", "g_a=0.6", "g_a=0.3"] and len(rows) == 6
