"""Reproducibility, save/resume, divergence handling and the command line."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dendcore import DivergenceError, Trainer, load_run, save_run
from dendcore.presets import GLR17_1HL
from dendcore.runio import RunFileError, append_snapshots, read_snapshots


def _state(tr):
    return [tr.net.w, tr.net.b, tr.net.y, tr.dyn.V, tr.dyn.budget, tr.rng_train, tr.rng_order]


@pytest.mark.parametrize("mode", ["spiking", "rate"])
def test_same_seed_same_run_bit_for_bit(small_trainer, mode):
    a = small_trainer(mode=mode, chunk=7)
    b = small_trainer(mode=mode, chunk=50)  # chunking must not matter
    a.train_examples(60)
    b.train_examples(60)
    for x, y in zip(_state(a), _state(b)):
        assert np.array_equal(x, y)
    c = small_trainer(mode=mode, seed=1)
    c.train_examples(60)
    assert not np.array_equal(a.net.w, c.net.w)


def test_save_and_resume_continue_exactly(small_trainer, tmp_path, mnist):
    full = small_trainer(hidden=(30, 20))
    full.train_examples(40)
    part = small_trainer(hidden=(30, 20))
    part.train_examples(25)
    save_run(part, tmp_path / "run")
    resumed = load_run(tmp_path / "run", data=mnist)
    assert resumed.examples_seen == 25
    resumed.train_examples(15)
    for x, y in zip(_state(full), _state(resumed)):
        assert np.array_equal(x, y)
    assert np.array_equal(full.test(indices=np.arange(20)).scores, resumed.test(indices=np.arange(20)).scores)


def test_epoch_boundary_reshuffles(mnist):
    from dendcore import Dataset
    tiny = Dataset("tiny", mnist.train_images[:30], mnist.train_labels[:30], mnist.test_images[:10],
                   mnist.test_labels[:10], mnist.classes)
    tr = Trainer(GLR17_1HL.replace(mode="rate", hidden=(20,)), tiny, seed=0)
    s1 = tr.train_examples(30)
    s2 = tr.train_examples(30)
    assert sorted(s1.indices) == list(range(30)) == sorted(s2.indices)
    assert list(s1.indices) != list(s2.indices)
    assert tr.epoch == 2.0


def test_divergence_is_reported_and_weights_kept(small_trainer):
    tr = small_trainer(mode="rate", lr=(10.0, 10.0))
    # a basal input of +inf and -inf at once: the dendrite's sum is NaN
    tr.net.W(1)[3, :392] = np.inf
    tr.net.W(1)[3, 392:] = -np.inf
    before = tr.net.w.copy()
    with pytest.raises(DivergenceError) as info:
        tr.train_examples(20)
    assert "example 1 " in str(info.value) and "hidden layer 1" in str(info.value)
    assert info.value.example == 1 and info.value.layer == "hidden layer 1"
    assert np.array_equal(tr.net.w, before, equal_nan=True)
    assert tr.examples_seen == 0


def test_snapshots_round_trip(small_trainer, tmp_path):
    from dendcore import Diagnostics
    tr = small_trainer(hidden=(30, 20))
    tr.diagnostics = Diagnostics(traces=False)
    snaps = list(tr.run(examples=40, snapshot_every=20, test_images=30))
    assert [s.examples_seen for s in snaps] == [20, 40]
    assert snaps[-1].test_error_pct is not None and snaps[0].test_error_pct is None
    assert len(snaps[-1].angle_to_backprop_deg) == 2 and snaps[-1].eig_jacobian > 0
    append_snapshots(tmp_path, snaps)
    back = read_snapshots(tmp_path)
    assert [s.to_dict() for s in back] == [s.to_dict() for s in snaps]
    (tmp_path / "snapshots.jsonl").write_text("{not json\n")
    with pytest.raises(RunFileError, match="snapshots.jsonl:1"):
        read_snapshots(tmp_path)


def test_voltage_traces_are_one_array_and_round_trip_as_rows(small_trainer, tmp_path):
    """A snapshot's traces hold the recorded rows of the latest example as arrays (no Python list per
    step for the garbage collector to walk) and are stored as plain rows in a run file."""
    import gc

    from dendcore import Diagnostics
    tr = small_trainer(hidden=(30,))
    tr.diagnostics = Diagnostics(traces=True)
    tr._trace_idx = tr._pick_trace_neurons()
    tr._rec = np.zeros((tr._rec.shape[0], 3, tr._trace_idx.size))
    snap = tr.snapshot(tr.train_examples(2, record_last=True))
    t = snap.traces
    steps = t.forward_steps + t.target_steps
    for name, k in (("V", 0), ("V_b", 1), ("V_a", 2)):
        got = getattr(t, name)
        assert isinstance(got, np.ndarray) and not gc.is_tracked(got)
        assert got.shape == (steps, len(t.neurons)) and np.array_equal(got, tr._rec[:steps, k, :])
    assert not np.shares_memory(t.V, tr._rec), "the next example's recording must not change this snapshot"
    append_snapshots(tmp_path, [snap])
    [back] = read_snapshots(tmp_path)
    assert isinstance(back.traces.V, list) and np.array_equal(np.array(back.traces.V_a), t.V_a)
    assert back.to_dict() == snap.to_dict()


def test_live_changes_apply_and_validate(small_trainer):
    from dendcore import SpecError
    tr = small_trainer()
    tr.set_live(g_a=0.05, lr=(0.1, 0.1), feedback_scale=2.0)
    assert tr.spec.k_b == pytest.approx(0.8) and tr.prm[2] == 0.05
    with pytest.raises(SpecError, match="g_a"):
        tr.set_live(g_a=3.0)
    with pytest.raises(SpecError, match="cannot change while running"):
        tr.set_live(hidden=(3,))
    tr.train_examples(2)


def _cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "dendcore", *args], capture_output=True, text=True, timeout=timeout)


def test_cli_presets_and_help():
    r = _cli("presets")
    assert r.returncode == 0 and "glr17-1hl " in r.stdout and "glr17-2hl-ga06-rate" in r.stdout
    assert len(r.stdout.strip().splitlines()) >= 16
    r = _cli("train", "--help")
    assert r.returncode == 0 and "--set FIELD=VALUE" in r.stdout and "--json" in r.stdout


def test_cli_train_json_and_resume(tmp_path):
    out = tmp_path / "run"
    r = _cli("train", "--preset", "glr17-1hl-rate", "--examples", "300", "--test-images", "200", "--seed", "3",
             "--set", "hidden=50", "--out", str(out), "--json", "--no-progress")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    for key in ("test_error_pct", "examples", "train_wall_s", "train_examples_per_s", "test_images_per_s"):
        assert res[key] is not None
    assert res["examples"] == 300 and 0 <= res["test_error_pct"] <= 100
    assert (out / "state.npz").is_file() and (out / "snapshots.jsonl").is_file()
    r = _cli("train", "--resume", str(out), "--examples", "100", "--test-images", "100", "--json", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["examples_seen"] == 400
    r = _cli("test", str(out), "--test-images", "50", "--json")
    assert r.returncode == 0 and json.loads(r.stdout.strip().splitlines()[-1])["test_images"] == 50


@pytest.mark.parametrize("args, message", [
    (["--preset", "nope"], "unknown preset"),
    (["--set", "g_a=7"], "g_a: apical coupling must lie in [0, 1]"),
    (["--set", "lr=-1,0.2"], "lr: learning rates must lie"),
    (["--set", "hidden=0"], "hidden:"),
    (["--dataset", "/nonexistent/dir"], "/nonexistent/dir: unknown dataset"),
    (["--examples", "-5"], "--examples must be >= 0"),
])
def test_cli_bad_input_is_one_clear_line(args, message):
    r = _cli("train", *args, "--no-progress")
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_cli_divergence_keeps_last_good_state(tmp_path):
    out = tmp_path / "boom"
    r = _cli("train", "--preset", "glr17-1hl-rate", "--examples", "50", "--set", "hidden=20", "--out", str(out),
             "--no-progress", "--test-images", "10")
    assert r.returncode == 0, r.stderr
    # corrupt one basal weight row so the next example produces NaN in hidden layer 1
    with np.load(out / "state.npz") as z:
        state = {k: z[k] for k in z.files}
    state["w"][:784 * 20].reshape(784, 20)[:, 5] = np.where(np.arange(784) < 392, np.inf, -np.inf)
    np.savez(out / "state.npz", **state)
    r = _cli("train", "--resume", str(out), "--examples", "100", "--no-progress", "--json")
    assert r.returncode == 3, r.stderr
    assert "diverged at example 51" in r.stderr and "hidden layer 1" in r.stderr
    assert "last good state is saved" in r.stderr and "Traceback" not in r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["diverged"] is True
    tr = load_run(out)
    assert tr.examples_seen == 50
    assert np.array_equal(tr.net.w, state["w"])


def test_in_memory_state_resumes_exactly(mnist):
    from dendcore import ModelSpec, Trainer
    spec = ModelSpec(hidden=(30,), mode="spiking")
    a = Trainer(spec, mnist, seed=5)
    a.train_examples(120)
    state = a.state()
    a.train_examples(80)           # the copy must not follow
    b = Trainer.resume(spec, mnist, 5, state)
    assert b.examples_seen == 120
    b.train_examples(80)
    assert b.examples_seen == a.examples_seen == 200
    for name, arr in a.net.arrays().items():
        assert np.array_equal(arr, b.net.arrays()[name]), name


def test_reproduction_script_keeps_float32_away_from_the_shipped_curves(small_trainer, tmp_path):
    """`benchmarks.reproduce` appends to a shipped reference curve unless told otherwise: a float32 run
    must name its own file, and a float32 run resumed without the flag is refused, not continued."""
    root = Path(__file__).resolve().parents[2]

    def reproduce(*args):
        return subprocess.run([sys.executable, "-m", "benchmarks.reproduce", "--preset", "glr17-1hl", *args],
                              capture_output=True, text=True, timeout=300, cwd=root)

    r = reproduce("--precision", "float32", "--run", str(tmp_path / "new"))
    assert r.returncode == 2 and "say where it goes with --csv" in r.stderr
    assert not (tmp_path / "new").exists()
    run = tmp_path / "f32"
    save_run(small_trainer(precision="float32"), run)
    r = reproduce("--epochs", "1", "--run", str(run))
    assert r.returncode == 2 and "is float32: resume it with --precision float32" in r.stderr
    assert not r.stdout                                 # nothing trained, no curve touched
