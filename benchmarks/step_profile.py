"""Where a spiking training step's time goes: ``python -m benchmarks.step_profile [--perf OUT]``.

Times spiking training (784-500-10 and 784-500-100-10 by default) on one core
after a warm-up, alternating the presets over several rounds so a noisy
machine affects both alike.  With ``--perf OUT`` the training of the first
preset is recorded by ``perf record`` attached to this process, with a perf map
naming the compiled kernels (``benchmarks.perf_map``), and the machine code of
``run_phase`` is written next to OUT for ``objdump`` (addresses in OUT.addr).
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import time

import numba

from dendcore import Diagnostics, Trainer, load_mnist
from dendcore.presets import get_preset
from dendcore.spec import PRECISIONS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--presets", nargs="+", default=["glr17-1hl", "glr17-2hl"])
    ap.add_argument("--examples", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--perf", metavar="OUT", help="perf record the first preset's training into OUT")
    ap.add_argument("--precision", choices=PRECISIONS, default="float64",
                    help="the spiking simulation's arithmetic (spec field precision)")
    opts = ap.parse_args()
    numba.set_num_threads(1)
    if opts.perf:
        from . import perf_map  # noqa: F401  (keeps the object code of kernels as they load)
    data = load_mnist()
    trainers = {}
    for p in opts.presets:
        spec = get_preset(p).spec.replace(precision=opts.precision)
        trainers[p] = Trainer(spec, data, seed=0, diagnostics=Diagnostics.none())
        trainers[p].train_examples(5)
    if opts.perf:
        from .perf_map import dump_functions, write_perf_map
        syms = write_perf_map()
        with open(opts.perf + ".addr", "w") as f:
            for name, addr, path in dump_functions(syms, "run_phase", opts.perf + ".run_phase"):
                f.write(f"{addr:x} {path} {name}\n")
        perf = subprocess.Popen(["perf", "record", "-F", "4000", "-p", str(os.getpid()), "-o", opts.perf],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        t0 = time.perf_counter()
        trainers[opts.presets[0]].train_examples(opts.examples)
        dt = time.perf_counter() - t0
        perf.send_signal(signal.SIGINT)
        perf.wait()
        print(f"{opts.presets[0]}: {opts.examples / dt:.0f} ex/s under perf")
        return
    rates: dict[str, list[float]] = {p: [] for p in opts.presets}
    cpu_rates: dict[str, list[float]] = {p: [] for p in opts.presets}
    for _ in range(opts.rounds):
        for p in opts.presets:
            t0, c0 = time.perf_counter(), time.thread_time()
            trainers[p].train_examples(opts.examples)
            rates[p].append(opts.examples / (time.perf_counter() - t0))
            cpu_rates[p].append(opts.examples / (time.thread_time() - c0))
    for p in opts.presets:
        r = sorted(rates[p])
        # per second of this thread's CPU time too: on a shared machine it leaves out the waits for a core
        print(f"{p}: best {r[-1]:.0f} ex/s, median {r[len(r) // 2]:.0f} (rounds: {', '.join(f'{x:.0f}' for x in rates[p])}); "
              f"per CPU second best {max(cpu_rates[p]):.0f}")
    if len(opts.presets) >= 2:
        a, b = max(rates[opts.presets[0]]), max(rates[opts.presets[1]])
        print(f"cost {opts.presets[1]} / {opts.presets[0]}: {a / b:.2f}")


if __name__ == "__main__":
    main()
