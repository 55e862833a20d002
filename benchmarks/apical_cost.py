"""What the apical compartment costs a spiking training step: ``python -m benchmarks.apical_cost``.

With g_a = 0 (the presets) the soma never sees the apical potential during a phase, so the engine
computes it only at the plateaus; with g_a > 0 (the g_a slider, a class experiment over g_a) or
jittered plateaus it computes V_a of every hidden neuron at every time step.  This trains spiking
784-500-10 on one core at g_a = 0, 0.05 and 0.6 and with jittered plateaus, the settings taken in
turns over several rounds (a noisy machine slows all alike), and prints examples per CPU second,
median over the rounds, and each setting's speed against g_a = 0.
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    from dendcore import Diagnostics, Trainer, get_preset, load_dataset
    data = load_dataset("mnist")
    base = get_preset("glr17-1hl").spec
    settings = {"g_a = 0": base, "g_a = 0.05": dataclasses.replace(base, g_a=0.05),
                "g_a = 0.6": dataclasses.replace(base, g_a=0.6),
                "jittered plateaus": get_preset("glr17-1hl-jittered").spec}
    trainers = {name: Trainer(spec, data=data, seed=0, diagnostics=Diagnostics.none())
                for name, spec in settings.items()}
    for tr in trainers.values():
        tr.train_examples(100)                   # compiled or loaded, memory touched
    rates: dict[str, list[float]] = {name: [] for name in trainers}
    for _ in range(args.rounds):
        for name, tr in trainers.items():
            t0 = time.process_time()
            tr.train_examples(args.examples)
            rates[name].append(args.examples / (time.process_time() - t0))
    ref = statistics.median(rates["g_a = 0"])
    print(f"spiking 784-500-10, {args.examples} examples x {args.rounds} rounds, one core (examples per CPU s):")
    for name, r in rates.items():
        med = statistics.median(r)
        print(f"  {name:18s} {med:7.0f}   ({', '.join(f'{x:.0f}' for x in r)})   {med / ref:.2f} of g_a = 0")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
