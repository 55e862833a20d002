"""Speed and accuracy benchmark: ``python -m benchmarks [--quick]``.

Everything is measured in this one run, so ratios compare like with like on a
noisy machine: the spiking trainings of both precisions (spec field ``precision``)
and the dense NumPy simulation take turns in rounds, so a burst of other work on the
machine falls on all of them alike.  Each figure is printed next to its target; the
accuracy lines guard against speed work silently changing the science.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

from dendcore import Diagnostics, Trainer, load_mnist
from dendcore.presets import get_preset
from dendcore.spec import PRECISIONS

from .dense_baseline import DenseSpikingNetwork


def _set_threads(n: int) -> None:
    import numba
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


def spiking_trainer(preset: str, precision: str, data) -> Trainer:
    tr = Trainer(get_preset(preset).spec.replace(precision=precision), data, seed=0, diagnostics=Diagnostics.none())
    tr.train_examples(5)  # compile / warm up
    return tr


def dense_trainer(preset: str, data):
    """One dense example per call, over the training set in order."""
    spec = get_preset(preset).spec
    dense = DenseSpikingNetwork(spec, Trainer(spec, data, seed=0, diagnostics=Diagnostics.none()).net)
    dense.train_example(data.train_images[0], int(data.train_labels[0]))
    order = itertools.count(1)

    def train(n: int) -> None:
        for i in itertools.islice(order, n):
            dense.train_example(data.train_images[i], int(data.train_labels[i]))
    return train


def interleaved_rates(runners: dict, budgets: dict, rounds: int) -> dict[str, float]:
    """Examples per second of each ``runners[name](n)``, the budget split over rounds taken in turn."""
    seconds = dict.fromkeys(runners, 0.0)
    for _ in range(rounds):
        for name, run in runners.items():
            t0 = time.perf_counter()
            run(budgets[name] // rounds)
            seconds[name] += time.perf_counter() - t0
    return {name: (budgets[name] // rounds) * rounds / seconds[name] for name in runners}


def _suffix(precision: str) -> str:
    return "" if precision == "float64" else "_f32"


def peak_memory_mb(preset: str, examples: int) -> float:
    code = ("import resource, dendcore; from dendcore import Trainer, Diagnostics; "
            "from dendcore.presets import get_preset; "
            f"tr = Trainer(get_preset('{preset}').spec, seed=0); "
            f"list(tr.run(examples={examples}, snapshot_every=500, test_images=1000)); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def first_run_jit_s(preset: str) -> tuple[float, float]:
    """Seconds for the first example and first 20 test images in a new process (warm on-disk cache)."""
    code = ("import time; t0 = time.perf_counter(); from dendcore import Trainer, Diagnostics, load_mnist; "
            "from dendcore.presets import get_preset; data = load_mnist(); "
            f"tr = Trainer(get_preset('{preset}').spec, data, seed=0); t1 = time.perf_counter(); "
            "tr.train_examples(1); t2 = time.perf_counter(); tr.test(20); t3 = time.perf_counter(); "
            "print(t2 - t1, t3 - t2)")
    subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)  # fill the cache
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    a, b = out.stdout.split()
    return float(a), float(b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smaller budgets (a minute or two)")
    ap.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    opts = ap.parse_args()
    q = opts.quick
    data = load_mnist()
    res: dict[str, float] = {}
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"numpy {np.__version__}")

    _set_threads(1)
    n = 500 if q else 2000
    runners, budgets, trainers = {}, {}, {}
    for precision in PRECISIONS:
        for preset, key in (("glr17-1hl", "spiking_train"), ("glr17-2hl", "spiking_train_2hl")):
            name = key + _suffix(precision) + "_ex_s"
            trainers[name] = spiking_trainer(preset, precision, data)
            runners[name], budgets[name] = trainers[name].train_examples, n
    runners["dense_numpy_train_ex_s"], budgets["dense_numpy_train_ex_s"] = dense_trainer("glr17-1hl", data), 12 if q else 32
    res.update(interleaved_rates(runners, budgets, rounds=4))
    print(f"dense NumPy per-step simulation, 1 core:  {res['dense_numpy_train_ex_s']:8.1f} examples/s")
    for precision in PRECISIONS:
        x = _suffix(precision)
        res["speedup_vs_dense" + x] = res[f"spiking_train{x}_ex_s"] / res["dense_numpy_train_ex_s"]
        res["cost_2hl_over_1hl" + x] = res[f"spiking_train{x}_ex_s"] / res[f"spiking_train_2hl{x}_ex_s"]
        print(f"{precision}: spiking training 784-500-10, 1 core: {res[f'spiking_train{x}_ex_s']:8.0f} examples/s")
        print(f"  speed-up over dense NumPy:              {res['speedup_vs_dense' + x]:8.1f} x         (target >= 50)")
        print(f"  spiking training 784-500-100-10:        {res[f'spiking_train_2hl{x}_ex_s']:8.0f} examples/s")
        print(f"  cost 784-500-100-10 / 784-500-10:       {res['cost_2hl_over_1hl' + x]:8.2f}           (target <= 1.4)")
    res["float32_speedup_over_float64"] = res["spiking_train_f32_ex_s"] / res["spiking_train_ex_s"]
    print(f"float32 / float64, 784-500-10 training:   {res['float32_speedup_over_float64']:8.2f} x")

    rate = Trainer(get_preset("glr17-1hl-rate").spec, data, seed=0, diagnostics=Diagnostics.none())
    rate.train_examples(10)
    n = 5000 if q else 20000
    t0 = time.perf_counter()
    rate.train_examples(n)
    res["rate_train_ex_s"] = n / (time.perf_counter() - t0)
    print(f"rate training 784-500-10, 1 core:        {res['rate_train_ex_s']:8.0f} examples/s  (target >= 15000)")

    _set_threads(os.cpu_count() or 1)
    r = rate.test()
    res["rate_test_10k_s"] = r.wall_s
    print(f"rate testing of 10,000 images:            {r.wall_s:8.3f} s           (target < 1)")
    for precision in PRECISIONS:
        tr = trainers[f"spiking_train{_suffix(precision)}_ex_s"]
        tr.test(50)
    seconds = dict.fromkeys(PRECISIONS, 0.0)
    n_test = 1000 if q else 4000
    for part in range(4):             # in turns, as the training above
        for precision in PRECISIONS:
            tr = trainers[f"spiking_train{_suffix(precision)}_ex_s"]
            seconds[precision] += tr.test(indices=np.arange(part * n_test // 4, (part + 1) * n_test // 4)).wall_s
    for precision in PRECISIONS:
        res[f"spiking_test{_suffix(precision)}_img_s"] = n_test / seconds[precision]
        print(f"{precision}: spiking testing, both cores:     {n_test / seconds[precision]:8.0f} images/s    "
              "(target >= 1000)")

    res["peak_memory_mb"] = peak_memory_mb("glr17-1hl", 500 if q else 3000)
    print(f"peak memory of a training run:            {res['peak_memory_mb']:8.0f} MB          (target <= 400)")
    res["first_example_s"], res["first_test_s"] = first_run_jit_s("glr17-1hl")
    print(f"new process, warm cache: first example   {res['first_example_s']:8.2f} s, first test batch "
          f"{res['first_test_s']:.2f} s (target: JIT <= 2 s)")

    # accuracy after a fixed budget: speed work must not move these (float32 differs from float64 once
    # a rounding flips a spike; benchmarks.precision_check compares the two over seeds)
    for precision in PRECISIONS:
        acc = Trainer(get_preset("glr17-1hl").spec.replace(precision=precision), data, seed=0,
                      diagnostics=Diagnostics.none())
        acc.train_examples(2000)
        res[f"spiking_2000ex{_suffix(precision)}_err_pct"] = acc.test(1000).error_pct
    rt = Trainer(get_preset("glr17-1hl-rate").spec, data, seed=0, diagnostics=Diagnostics.none())
    rt.train_examples(10000)
    res["rate_10000ex_err_pct"] = rt.test().error_pct
    print(f"accuracy check: spiking 784-500-10 after 2,000 examples, seed 0: {res['spiking_2000ex_err_pct']:.2f} % "
          f"(float32 {res['spiking_2000ex_f32_err_pct']:.2f} %; 1,000 test images); rate after 10,000: "
          f"{res['rate_10000ex_err_pct']:.2f} % (10,000)")
    if opts.json:
        print(json.dumps(res))


if __name__ == "__main__":
    main()
