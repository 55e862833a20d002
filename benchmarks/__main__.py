"""Speed and accuracy benchmark: ``python -m benchmarks [--quick]``.

Everything is measured in this one run, so ratios compare like with like on a
noisy machine.  Each figure is printed next to its target; the accuracy lines
guard against speed work silently changing the science.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

from dendcore import Diagnostics, Trainer, load_mnist
from dendcore.presets import get_preset

from .dense_baseline import DenseSpikingNetwork


def _set_threads(n: int) -> None:
    import numba
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


def spiking_train_rate(preset: str, n: int, data) -> tuple[float, Trainer]:
    tr = Trainer(get_preset(preset).spec, data, seed=0, diagnostics=Diagnostics.none())
    tr.train_examples(5)  # compile / warm up
    t0 = time.perf_counter()
    tr.train_examples(n)
    return n / (time.perf_counter() - t0), tr


def dense_train_rate(preset: str, n: int, data) -> float:
    spec = get_preset(preset).spec
    tr = Trainer(spec, data, seed=0, diagnostics=Diagnostics.none())
    dense = DenseSpikingNetwork(spec, tr.net)
    dense.train_example(data.train_images[0], int(data.train_labels[0]))
    t0 = time.perf_counter()
    for i in range(n):
        dense.train_example(data.train_images[i], int(data.train_labels[i]))
    return n / (time.perf_counter() - t0)


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
    res["spiking_train_ex_s"], tr1 = spiking_train_rate("glr17-1hl", n, data)
    res["spiking_train_2hl_ex_s"], _ = spiking_train_rate("glr17-2hl", n, data)
    res["dense_numpy_train_ex_s"] = dense_train_rate("glr17-1hl", 10 if q else 30, data)
    res["speedup_vs_dense"] = res["spiking_train_ex_s"] / res["dense_numpy_train_ex_s"]
    res["cost_2hl_over_1hl"] = res["spiking_train_ex_s"] / res["spiking_train_2hl_ex_s"]
    print(f"spiking training 784-500-10, 1 core:     {res['spiking_train_ex_s']:8.0f} examples/s  (target >= 1500)")
    print(f"dense NumPy per-step simulation, 1 core:  {res['dense_numpy_train_ex_s']:8.1f} examples/s")
    print(f"  speed-up over dense NumPy:              {res['speedup_vs_dense']:8.1f} x         (target >= 25)")
    print(f"spiking training 784-500-100-10:          {res['spiking_train_2hl_ex_s']:8.0f} examples/s")
    print(f"  cost 784-500-100-10 / 784-500-10:       {res['cost_2hl_over_1hl']:8.2f}           (target <= 1.5)")

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
    tr1.test(50)
    r = tr1.test(1000 if q else 4000)
    res["spiking_test_img_s"] = r.images_per_s
    print(f"spiking testing, both cores:              {r.images_per_s:8.0f} images/s    (target >= 1000)")

    res["peak_memory_mb"] = peak_memory_mb("glr17-1hl", 500 if q else 3000)
    print(f"peak memory of a training run:            {res['peak_memory_mb']:8.0f} MB          (target <= 400)")
    res["first_example_s"], res["first_test_s"] = first_run_jit_s("glr17-1hl")
    print(f"new process, warm cache: first example   {res['first_example_s']:8.2f} s, first test batch "
          f"{res['first_test_s']:.2f} s (target: JIT <= 2 s)")

    # accuracy after a fixed budget: speed work must not move these
    acc = Trainer(get_preset("glr17-1hl").spec, data, seed=0, diagnostics=Diagnostics.none())
    acc.train_examples(2000)
    res["spiking_2000ex_err_pct"] = acc.test(1000).error_pct
    rt = Trainer(get_preset("glr17-1hl-rate").spec, data, seed=0, diagnostics=Diagnostics.none())
    rt.train_examples(10000)
    res["rate_10000ex_err_pct"] = rt.test().error_pct
    print(f"accuracy check: spiking 784-500-10 after 2,000 examples, seed 0: {res['spiking_2000ex_err_pct']:.2f} % "
          f"(1,000 test images); rate after 10,000: {res['rate_10000ex_err_pct']:.2f} % (10,000)")
    if opts.json:
        print(json.dumps(res))


if __name__ == "__main__":
    main()
