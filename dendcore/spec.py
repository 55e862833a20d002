"""The model specification: a frozen, validated, JSON-serialisable description.

Every default follows MODEL.md (the 2017 code where paper and code differ; the
other behaviour is an option).  A spec says *what* to simulate; the initial
state is built from a spec and a seed by :mod:`dendcore.network`.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, fields
from typing import Any

MODES = ("spiking", "rate")
RULES = ("dendrites", "backprop", "feedback_alignment")
FEEDBACK_KINDS = ("random", "sparse", "symmetric", "noisy_symmetric", "learned")
TOPOLOGIES = ("broadcast", "layerwise")
PSP_KINDS = ("truncated", "exact")
PHASE_KINDS = ("random", "fixed")
WINDOW_KINDS = ("last20", "settle")
PLATEAU_KINDS = ("sync", "jittered")
# "head" is the 2017 code's last commit: forward weights twice as spread and
# independent, non-zero-mean feedback per layer.  The two halves exist apart to
# find out which of them changes how deeper networks learn.
INIT_KINDS = ("paper", "head", "head-forward", "head-feedback")
TEST_WINDOWS = ("last220", "settle")
PRECISIONS = ("float64", "float32")

MAX_HIDDEN_LAYERS = 3


class SpecError(ValueError):
    """An invalid specification; the message names the field."""


@dataclass(frozen=True)
class Declared:
    """What one spec field accepts and means: the single source for validation and controls.

    ``interval`` is written as in a textbook, e.g. ``"[0, 1]"`` or ``"(0, 1]"``; for a tuple
    field it bounds every element.  ``live`` fields may change while a network trains (between
    two examples); any other change needs a new network.
    """
    doc: str
    interval: str | None = None
    choices: tuple | None = None
    live: bool = False
    what: str = ""            # how the error message names the value, e.g. "learning rates"
    label: str = ""           # a short human name for controls

    @property
    def bounds(self) -> tuple[float, float] | None:
        if self.interval is None:
            return None
        lo, hi = (float(t) for t in self.interval[1:-1].split(","))
        return lo, hi

    @property
    def open_ends(self) -> tuple[bool, bool]:
        return (self.interval[0] == "(", self.interval[-1] == ")") if self.interval else (False, False)

    def admits(self, value: float) -> bool:
        if not _finite(value):
            return False
        if self.bounds is None:
            return True
        (lo, hi), (lo_open, hi_open) = self.bounds, self.open_ends
        return (lo < value if lo_open else lo <= value) and (value < hi if hi_open else value <= hi)


def declared(default, doc: str, interval: str | None = None, choices: tuple | None = None, *,
             live: bool = False, what: str = "", label: str = ""):
    return dataclasses.field(default=default, metadata={"declared": Declared(doc, interval, choices, live, what,
                                                                               label)})


@dataclass(frozen=True)
class ModelSpec:
    # architecture
    hidden: tuple[int, ...] = declared((500,), "Sizes of the hidden layers from the input up.", "[1, 5000]",
                                       what="layer sizes", label="Hidden layers")
    n_inputs: int = declared(784, "Input units (pixels).", "[1, 100000]")
    n_outputs: int = declared(10, "Output units (classes).", "[2, 1000]", what="classes")
    mode: str = declared("spiking", "spiking: Poisson spikes, two phases of about 50 ms per example (the paper's "
                         "model); rate: every phase at its steady state, far faster.", choices=MODES, label="Neurons")
    rule: str = declared("dendrites", "How hidden layers learn: segregated dendrites (apical plateaus), backprop "
                         "or feedback alignment (baselines).", choices=RULES, label="Learning rule")
    lr: tuple[float, ...] = declared((0.21, 0.21), "Learning rates, one per layer from the first hidden layer up "
                                     "to the output.", "[0, 100]", live=True, what="learning rates",
                                     label="Learning rate")
    # conductances and reversal potentials (MODEL.md sections 1 and 10)
    g_l: float = declared(0.1, "Leak conductance.", "(0, 1]")
    g_b: float = declared(0.6, "Basal-to-soma conductance.", "(0, 1]")
    g_a: float = declared(0.0, "How strongly the apical dendrite leaks into the soma (a conductance): 0 = "
                          "fully segregated (paper default), 0.05 = strong attenuation, 0.6 = weak attenuation.", "[0, 1]", live=True, what="apical coupling",
                          label="Apical coupling g_a")
    g_d: float = declared(0.6, "Dendrite-to-soma conductance of the output layer.", "(0, 1]")
    e_exc: float = declared(8.0, "Excitatory reversal potential of the output layer's teaching conductances.")
    e_inh: float = declared(-8.0, "Inhibitory reversal potential of the output layer's teaching conductances.")
    phi_max: float = declared(0.2, "Largest firing rate, spikes per 1 ms step.", "(0, 1]")
    # post-synaptic potential kernel
    tau_l_ms: float = declared(10.0, "Long time constant of the PSP kernel (ms).", "(0, 1000]")
    tau_s_ms: float = declared(3.0, "Short time constant of the PSP kernel (ms).", "(0, 1000]")
    psp: str = declared("truncated", "PSP kernel: truncated to psp_taps steps (2017 code) or exact.",
                        choices=PSP_KINDS)
    psp_taps: int = declared(10, "Steps of the truncated PSP kernel.", "[1, 64]")
    # phases and windows
    phases: str = declared("random", "Phase lengths: random (Wald-distributed extra steps) or fixed.",
                           choices=PHASE_KINDS)
    phase_base_steps: int = declared(50, "Base length of each phase (steps).", "[20, 1000]")
    wald_mean: float = declared(2.0, "Mean of the Wald-distributed extra phase length.", "(0, 1000]")
    wald_scale: float = declared(1.0, "Scale of the Wald-distributed extra phase length.", "(0, 1000]")
    window: str = declared("last20", "Integration window of the plateaus: the last window_steps, or after "
                           "settle_steps.", choices=WINDOW_KINDS)
    window_steps: int = declared(20, "Steps of the last20 integration window.", "[1, 1000]")
    settle_steps: int = declared(30, "Steps skipped before the settle window.", "[0, 1000)")
    plateaus: str = declared("sync", "Plateau timing: all at the phase end (sync) or jittered per neuron.",
                             choices=PLATEAU_KINDS)
    jitter_sd_steps: float = declared(3.0, "Spread of the jittered plateau timing (steps).", "[0, 1000]")
    jitter_max_steps: int = declared(5, "Largest plateau shift before the phase end (steps).", "[0, 1000)")
    # testing
    test_steps: int = declared(250, "Steps a test image is shown.", "[50, 2000]")
    test_window: str = declared("last220", "Steps of a test averaged: the last 220, or after settling.",
                                choices=TEST_WINDOWS)
    # feedback
    feedback: str = declared("random", "Feedback weights Y: random (paper), sparse (80 % zeroed), symmetric "
                             "(W transposed), noisy symmetric, or learned.", choices=FEEDBACK_KINDS,
                             label="Feedback weights Y")
    feedback_topology: str = declared("broadcast", "Where feedback comes from: the output layer to every "
                                      "hidden layer (broadcast), or the layer above.", choices=TOPOLOGIES)
    feedback_scale: float = declared(1.0, "Multiplies the feedback weights Y: how loud the top-down signal is "
                                     "in the apical dendrites.", "[0, 100]", live=True, label="Feedback scale")
    sparse_density: float = declared(0.2, "Share of feedback weights kept by sparse feedback.", "(0, 1]")
    sparse_rescale: bool = declared(True, "Sparse feedback's survivors multiplied by 1/density.",
                                    choices=(True, False))
    symmetric_noise_sd: float = declared(0.05, "Noise added to symmetric feedback.", "[0, 100]")
    feedback_lr: float = declared(0.05, "Learning rate of learned feedback.", "[0, 10]")
    feedback_bias: bool = declared(False, "Learned feedback has a bias.", choices=(True, False))
    # initialisation
    init: str = declared("paper", "Initial weights: the paper's, or the 2017 code's last commit (head), or one "
                         "half of it.", choices=INIT_KINDS)
    init_dendrite_mean: float = declared(3.0, "Target mean dendritic potential of the initialisation.")
    init_dendrite_sd: float = declared(3.0, "Target spread of the dendritic potential at initialisation.",
                                       "(0, 1000]")
    init_bias: float = declared(0.8, "Initial bias.")
    init_bias_spread: float = declared(0.001, "Spread of the initial biases.", "[0, 1000]")
    # numerics
    precision: str = declared("float64", "Arithmetic of the spiking simulation: float64 (the reference, equal to the "
                              "NumPy twin to 1e-9) or float32 (weights read, potentials and filter states held in "
                              "single precision: faster; the weights learn in float64 and the random draws are the "
                              "same, so the two differ only by rounding). Rate mode always runs in float64.",
                              choices=PRECISIONS, label="Precision")

    def __post_init__(self):
        # normalise sequences given as lists (e.g. from JSON) to tuples
        for name in ("hidden", "lr"):
            value = getattr(self, name)
            if isinstance(value, (int, float)):
                value = (value,)
            object.__setattr__(self, name, tuple(value))
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "lr", tuple(float(v) for v in self.lr))
        _validate(self)

    # ----- derived quantities (never stored, so they follow g_a live) -----
    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.n_inputs, *self.hidden, self.n_outputs)

    @property
    def n_hidden_layers(self) -> int:
        return len(self.hidden)

    @property
    def k_b(self) -> float:
        return self.g_b / (self.g_l + self.g_b + self.g_a)

    @property
    def k_a(self) -> float:
        return self.g_a / (self.g_l + self.g_b + self.g_a)

    @property
    def k_d(self) -> float:
        return self.g_d / (self.g_l + self.g_d)

    @property
    def p_hidden(self) -> float:
        return 20.0 / self.phi_max

    @property
    def p_output(self) -> float:
        return 20.0 / self.phi_max**2

    def kernel(self, exact: bool = False) -> list[float]:
        """kappa(1..taps); the untruncated kernel sums to 1."""
        n = self.psp_taps
        tl, ts = self.tau_l_ms, self.tau_s_ms
        return [(math.exp(-t / tl) - math.exp(-t / ts)) / (tl - ts) for t in range(1, n + 1)]

    # ----- conversions -----
    def replace(self, **changes) -> "ModelSpec":
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise SpecError(f"unknown spec field(s): {', '.join(sorted(unknown))}")
        if "hidden" in changes and "lr" not in changes:
            depth = len(tuple(changes["hidden"]))
            if depth != len(self.hidden):
                # a new depth needs a new learning-rate vector: take the paper's
                changes["lr"] = paper_learning_rates(depth)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        d["lr"] = list(self.lr)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelSpec":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise SpecError(f"unknown spec field(s): {', '.join(sorted(unknown))}")
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> "ModelSpec":
        return cls.from_dict(json.loads(text))

    def with_field_text(self, assignment: str) -> "ModelSpec":
        """Apply ``FIELD=VALUE`` as typed on a command line."""
        if "=" not in assignment:
            raise SpecError(f"expected FIELD=VALUE, got {assignment!r}")
        name, text = (part.strip() for part in assignment.split("=", 1))
        return self.replace(**{name: parse_field_value(name, text)})

    def describe(self) -> str:
        arch = "-".join(str(n) for n in self.sizes)
        numerics = " float32" if self.precision == "float32" and self.mode == "spiking" else ""
        return f"{arch} {self.mode} {self.rule} g_a={self.g_a:g} feedback={self.feedback}{numerics}"


def paper_learning_rates(n_hidden: int) -> tuple[float, ...]:
    """The paper's rates: 0.19 (no hidden layer), 0.21/0.21 (one), 0.23 hidden / 0.12 output (two or more)."""
    if n_hidden == 0:
        return (0.19,)
    if n_hidden == 1:
        return (0.21, 0.21)
    return (0.23,) * n_hidden + (0.12,)


def parse_field_value(name: str, text: str) -> Any:
    by_name = {f.name: f for f in fields(ModelSpec)}
    if name not in by_name:
        raise SpecError(f"unknown spec field {name!r}; known: {', '.join(sorted(by_name))}")
    default = by_name[name].default
    try:
        if isinstance(default, bool):
            low = text.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if isinstance(default, tuple):
            items = [t for t in text.replace(",", " ").replace("-", " ").split()] if name == "hidden" \
                else [t for t in text.replace(",", " ").split()]
            if name == "hidden" and text.strip() in ("", "none", "()"):
                return ()
            conv = int if name == "hidden" else float
            return tuple(conv(t) for t in items)
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        return text
    except ValueError:
        raise SpecError(f"{name}: cannot read {text!r} as {type(default).__name__}") from None


def _check(cond: bool, field_name: str, message: str):
    if not cond:
        raise SpecError(f"{field_name}: {message}")


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _validate(s: ModelSpec):
    for name, decl in DECLARED.items():
        value = getattr(s, name)
        values = value if isinstance(value, tuple) else (value,)
        if decl.choices is not None:
            _check(value in decl.choices, name,
                   f"must be one of {', '.join(map(str, decl.choices))} (got {value!r})")
            continue
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                raise SpecError(f"{name}: must be a finite number (got {v})")
            if decl.interval is not None:
                _check(decl.admits(v), name, f"{decl.what + ' ' if decl.what else ''}must lie in "
                       f"{decl.interval} (got {v})")
    # what one field's declaration cannot say: lengths and relations between fields
    _check(len(s.hidden) <= MAX_HIDDEN_LAYERS, "hidden", f"at most {MAX_HIDDEN_LAYERS} hidden layers")
    _check(len(s.lr) == len(s.hidden) + 1, "lr",
           f"needs one learning rate per layer ({len(s.hidden) + 1} for {len(s.hidden)} hidden layer(s)), got {len(s.lr)}")
    # explicit Euler with dt = 1 stays bounded only while the total conductance is below 2
    _check(s.g_l + s.g_b + s.g_a < 2.0, "g_a", "g_l + g_b + g_a must stay below 2 for a stable Euler step")
    _check(s.tau_l_ms > s.tau_s_ms, "tau_l_ms", "need tau_l_ms > tau_s_ms > 0")
    _check(s.window_steps <= s.phase_base_steps, "window_steps", "must lie in [1, phase_base_steps]")
    _check(s.settle_steps < s.phase_base_steps, "settle_steps", "must lie in [0, phase_base_steps)")
    _check(s.jitter_max_steps < s.phase_base_steps - s.window_steps + 1, "jitter_max_steps",
           "must leave room for the integration window")


DECLARED: dict[str, Declared] = {f.name: f.metadata["declared"] for f in fields(ModelSpec)}

# Fields a running model may change between two examples (dashboard sliders).
LIVE_FIELDS = tuple(name for name, d in DECLARED.items() if d.live)
