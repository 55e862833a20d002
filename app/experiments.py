"""The paper's experiments as cards: what each compares, the published numbers, and this session's results.

Plain data and bookkeeping (no Panel): :data:`EXPERIMENTS` lists the
experiments of Guerguiev, Lillicrap & Richards (2017) with the presets that
run them (``dendcore/presets.py``) and the comparison a ghost run makes
natural; :class:`Scoreboard` keeps, per preset, the latest numbers of the
session's runs (main or ghost) whose spec *is* that preset.  ``app/cards.py``
draws the cards.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

from dendcore import PRESETS, ModelSpec, Snapshot


@dataclass(frozen=True)
class Variant:
    preset: str             # the spiking preset; "<preset>-rate" is offered as the fast version
    label: str
    published: str          # what the paper reports, as text ("" when it gives nothing)
    metric: str = "test"    # "test": test error; "angle": angle to backprop of hidden layer 1


@dataclass(frozen=True)
class Experiment:
    key: str
    title: str
    text: str                                  # one paragraph: what the experiment tests
    variants: tuple[Variant, ...]
    compare: tuple[str, str] | None = None     # (preset, ghost choice): the side-by-side run to load
    compare_note: str = ""


def _published(preset: str, extra: str = "") -> str:
    p = PRESETS[preset].published_error_pct
    text = f"{p:g} % test error after 60 epochs" if p is not None else ""
    return f"{text}{'; ' if text and extra else ''}{extra}"


EXPERIMENTS: tuple[Experiment, ...] = (
    Experiment(
        "depth", "Depth: 0, 1 or 2 hidden layers",
        "Does the dendritic rule give hidden layers anything useful to do? A network without a hidden layer "
        "learns with the output rule alone, so whatever a hidden layer adds must come from credit that "
        "reached it through the apical dendrites. If the plateau signal were useless, extra layers would "
        "be dead weight; in the paper each added layer lowers the final error. Early in training the deeper "
        "network can lag behind, so compare after many examples (the rate versions get there in minutes).",
        (Variant("glr17-0hl", "784-10 (no hidden layer)", _published("glr17-0hl", "plateaus early")),
         Variant("glr17-1hl", "784-500-10", _published("glr17-1hl")),
         Variant("glr17-2hl", "784-500-100-10", _published("glr17-2hl"))),
        None, "A ghost shares the main run's architecture, so depth is compared by loading each preset in turn."),
    Experiment(
        "sparse", "Sparse feedback, with and without rescaling",
        "Real feedback connections are sparse. Here 80 % of the feedback weights Y are set to zero. With "
        "rescaling the survivors are multiplied by 5, so the apical dendrites receive a top-down signal of "
        "the usual size from fewer synapses; without it that signal is five times weaker. The experiment "
        "asks whether learning needs dense all-to-all feedback, and separates the effect of losing "
        "connections from the effect of a quieter signal: the hidden layer's whole learning signal is the "
        "difference of two plateaus, and a weaker apical input makes that difference smaller.",
        (Variant("glr17-1hl-sparse", "sparse, survivors ×5", _published("glr17-1hl-sparse")),
         Variant("glr17-1hl-sparse-norescale", "sparse, not rescaled", "")),
        ("glr17-1hl-sparse", "sparse_norescale"), "sparse feedback (main) beside the same without the rescale (ghost)"),
    Experiment(
        "symmetric", "Symmetric and noisy symmetric feedback",
        "Random feedback weights are the point of the model: no synapse has to know the forward weights. "
        "What does that cost? With symmetric feedback, Y is the transpose of the output weights, rebuilt "
        "after every example, so the apical dendrites receive the error signal backprop would send (seen "
        "through the plateau nonlinearity). Adding noise to that copy asks whether an approximate copy is "
        "enough. Compare the angle to backprop too: with symmetric feedback it starts far lower (spiking, "
        "37.2–40.0° against 87.8–88.7° after 1,000 examples), while random feedback has to rotate the forward "
        "weights into alignment first; after one spiking epoch the two are close (64.9–67.0° against 67.8–70.2°).",
        (Variant("glr17-1hl-symmetric", "symmetric Y", _published("glr17-1hl-symmetric")),
         Variant("glr17-1hl-noisy-symmetric", "symmetric Y + noise", ""),
         Variant("glr17-1hl", "random Y (reference)", _published("glr17-1hl"))),
        ("glr17-1hl", "symmetric"), "random feedback (main) beside symmetric feedback (ghost)"),
    Experiment(
        "apical", "Apical coupling g_a: 0, 0.05 and 0.6",
        "The model's namesake assumption is that the apical dendrite is electrically segregated from the "
        "soma, so feedback can be collected without disturbing the forward pass. The coupling g_a lets "
        "the apical voltage leak into the soma: then the forward phase is already pushed around by the "
        "feedback, and the basal drive counts for less. Strong attenuation (g_a = 0.05) should be "
        "nearly harmless; weak attenuation (g_a = 0.6, as strong as the basal "
        "coupling) should hurt.",
        (Variant("glr17-2hl", "g_a = 0 (segregated)", _published("glr17-2hl")),
         Variant("glr17-2hl-ga005", "g_a = 0.05", "about the same as g_a = 0"),
         Variant("glr17-2hl-ga06", "g_a = 0.6", "clearly worse")),
        ("glr17-2hl", "ga06"), "g_a = 0 (main) beside g_a = 0.6 (ghost)"),
    Experiment(
        "angle", "Spiking versus rate feedback: the angle to backprop",
        "How close is the dendritic update to the true gradient? The angle between the change the rule makes "
        "to the hidden weights and the change backprop would make for the same example measures it: 90° is "
        "unrelated, 0° identical. With spiking neurons the plateaus are averages of noisy Poisson-driven "
        "voltages over windows of random length, so each update carries noise on top of the signal; rate "
        "neurons carry the same signal without that noise. The paper finds the angle settling at about "
        "65–70° with spiking feedback and 35–40° with rate feedback (measured here after one epoch, seeds "
        "0–2: 67.8–70.2° and 36.8–42.2°); both are well below 90°, which is why learning works at all.",
        (Variant("glr17-1hl", "spiking feedback", "angle about 65–70°", metric="angle"),
         Variant("glr17-1hl-rate", "rate feedback", "angle about 35–40°", metric="angle")),
        ("glr17-1hl", "rate"), "spiking (main) beside rate-mode neurons (ghost)"),
    Experiment(
        "jitter", "Stochastic plateau timing",
        "The rule compares a plateau at the end of the forward phase with one at the end of the target "
        "phase, as if every neuron shared a clock. Here each neuron's plateau instead happens at its own "
        "random moment, up to 5 ms before the phase ends, so the windows it averages are shifted and "
        "neurons disagree about when a phase is over. The question is whether learning needs precise "
        "synchrony across the layer. Timing only exists in spiking mode: the rate version is identical to "
        "the synchronous rate run, a built-in control.",
        (Variant("glr17-1hl-jittered", "jittered plateaus", ""),
         Variant("glr17-1hl", "synchronous plateaus", _published("glr17-1hl"))),
        ("glr17-1hl", "jittered"), "synchronous plateaus (main) beside jittered ones (ghost)"),
    Experiment(
        "baselines", "Baselines: backprop and feedback alignment",
        "The same network trained by two familiar rules. Backprop sends each hidden neuron the exact output "
        "error through the transposed forward weights; feedback alignment sends it through fixed random "
        "weights, like the dendritic model, but as an error to be applied directly rather than as a "
        "difference of plateau potentials. They bracket the dendritic rule: how much does biological "
        "plausibility cost, and how much of it is the random feedback itself? Each rule runs at its own "
        "learning rates (the baselines' error is far smaller than a difference of plateaus, so their hidden "
        "rates are much larger; chosen on held-out training images). So tuned, backprop learned fastest and "
        "feedback alignment second at every budget measured, up to one epoch: after 10,000 rate-mode "
        "examples 7.8 %, 9.6 % and 12.0 % test error.",
        (Variant("glr17-1hl-backprop", "backprop", ""),
         Variant("glr17-1hl-fa", "feedback alignment", ""),
         Variant("glr17-1hl", "segregated dendrites", _published("glr17-1hl"))),
        ("glr17-1hl", "backprop"), "segregated dendrites (main) beside backprop (ghost)"),
)


def presets_matching(spec: ModelSpec, dataset: str) -> list[str]:
    """The presets a run *is*: every field equal (live ones included), on MNIST."""
    if dataset != "mnist":
        return []
    return [name for name, p in PRESETS.items() if p.spec == spec]


@dataclass
class Result:
    run: tuple                               # ("main" | "ghost", run id)
    examples_seen: int = 0
    test: tuple[float, int, int] | None = None      # (error %, images, at examples)
    angle: float | None = None               # hidden layer 1, mean over the last 100 examples

    @property
    def who(self) -> str:
        return "your run" if self.run[0] == "main" else "your ghost run"


@dataclass
class Scoreboard:
    """This session's latest numbers per preset; ``version`` grows with every change."""
    results: dict[str, Result] = field(default_factory=dict)
    version: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def observe(self, run: tuple, spec: ModelSpec, dataset: str, last: Snapshot | None,
                test: tuple[float, int, int] | None) -> list[str]:
        """Record a run's latest state under every preset it matches; returns those presets."""
        if (last is None or last.examples_seen == 0) and test is None:
            return []       # nothing trained yet: an earlier run's result stays until this one has one
        names = presets_matching(spec, dataset)
        if not names:
            return names
        angle = None
        if last is not None and last.angle_to_backprop_deg:
            a = last.angle_to_backprop_deg[0]
            angle = float(a) if a is not None and math.isfinite(a) else None
        with self._lock:
            for name in names:
                cur = self.results.get(name)
                if cur is None or cur.run != run:
                    cur = self.results[name] = Result(run)     # a new run of this preset replaces the old one
                cur.examples_seen = last.examples_seen if last is not None else cur.examples_seen
                cur.test = test if test is not None else cur.test
                cur.angle = angle if angle is not None else cur.angle
            self.version += 1
        return names

    def get(self, preset: str) -> Result | None:
        return self.results.get(preset)


def describe(result: Result | None, metric: str) -> str:
    """The user's number for a card, in words."""
    if result is None:
        return "not run yet"
    if metric == "angle":
        if result.angle is None:
            return f"{result.who}: no angle yet ({result.examples_seen:,} examples)"
        return f"{result.who}: {result.angle:.0f}° at {result.examples_seen:,} examples"
    if result.test is None:
        return f"{result.who}: {result.examples_seen:,} examples, no test yet"
    err, n, at = result.test
    return f"{result.who}: {err:.1f} % at {at:,} examples ({n:,} test images)"
