"""The class's training cap: sized from the engine's measured speed unless the environment sets it."""
from app import seats
from app.compute import own_cores
from app.seats import MAX_PER_CORE, MIN_PER_CORE, WATCHABLE_RATE, TrainingSlots, places_for


def test_places_keep_every_training_watchable_within_the_safety_bounds():
    assert places_for(2, 2875) == 2 * MAX_PER_CORE           # a fast machine: the upper bound (a class of 30)
    assert places_for(2, 544) == int(2 * 544 / WATCHABLE_RATE)   # each of them keeps >= 40 examples/s
    assert 2 * 544 / places_for(2, 544) >= WATCHABLE_RATE
    assert places_for(2, 10) == 2 * MIN_PER_CORE             # however slow, a few train
    assert places_for(0, 1000) >= MIN_PER_CORE


def test_servers_side_by_side_share_the_cores():
    """deploy/serve.sh's DENDRITE_SERVERS processes each count their share of the cores (at least one),
    so two servers on two cores have half the training places each."""
    assert own_cores(1, 2) == 2 and own_cores(2, 2) == 1 and own_cores(3, 2) == 1 and own_cores(2, 8) == 4
    assert places_for(own_cores(2, 2), 2875) * 2 == places_for(2, 2875)


def test_the_warm_up_measure_sizes_the_cap_unless_the_environment_set_it(monkeypatch):
    slots = TrainingSlots(99)
    monkeypatch.setattr(seats, "CAP_FROM_ENV", False)
    monkeypatch.setattr(seats, "CORES", 2)
    assert seats.size_from_speed(400.0, slots) == 20 and slots.capacity == 20
    assert seats.size_from_speed(None, slots) == 20          # no measurement: unchanged
    monkeypatch.setattr(seats, "CAP_FROM_ENV", True)
    assert seats.size_from_speed(5000.0, slots) == 20        # DENDRITE_MAX_TRAININGS wins


def test_the_server_computes_blas_products_in_the_calling_thread():
    """The served app's BLAS libraries run one thread each, those loaded before the call (NumPy's)
    and after it (SciPy's, loaded by the kernels' warm-up): a pool's threads would spin beside the
    trainings.  In a child process, so this process keeps its own settings."""
    import json
    import os
    import subprocess
    import sys
    code = ("import json, numpy; from app.compute import single_threaded_blas; names = single_threaded_blas(); "
            "import scipy.linalg; from threadpoolctl import threadpool_info; "
            "print(json.dumps([names, [(i['filepath'], i['num_threads']) for i in threadpool_info() "
            "if i['user_api'] == 'blas']]))")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env, check=True)
    names, libraries = json.loads(out.stdout.strip().splitlines()[-1])
    assert names and all("(1 thread)" in n for n in names)
    assert len(libraries) >= 2, libraries          # NumPy's OpenBLAS and SciPy's, loaded afterwards
    assert all(threads == 1 for _, threads in libraries), libraries


def test_the_server_hands_the_gil_over_sooner_than_python_does():
    """A training thread waiting for the GIL while the event loop is busy gets it after 0.5 ms, not
    Python's 5 ms (benchmarks/gil_contention.py).  In a child process, so this one keeps its own."""
    import subprocess
    import sys
    code = ("import sys; before = sys.getswitchinterval(); from app.compute import short_gil_turns; "
            "print(before, short_gil_turns(), sys.getswitchinterval())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    before, returned, after = map(float, out.stdout.split())
    assert before == 0.005
    assert returned == after == 0.0005
