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

MAX_HIDDEN_LAYERS = 3

# Fields a running model may change between two examples (dashboard sliders).
LIVE_FIELDS = ("lr", "g_a", "feedback_scale")


class SpecError(ValueError):
    """An invalid specification; the message names the field."""


@dataclass(frozen=True)
class ModelSpec:
    # architecture
    hidden: tuple[int, ...] = (500,)
    n_inputs: int = 784
    n_outputs: int = 10
    mode: str = "spiking"
    rule: str = "dendrites"
    # learning rates, one per layer from the first hidden layer up to the output
    lr: tuple[float, ...] = (0.21, 0.21)
    # conductances and reversal potentials (MODEL.md sections 1 and 10)
    g_l: float = 0.1
    g_b: float = 0.6
    g_a: float = 0.0
    g_d: float = 0.6
    e_exc: float = 8.0
    e_inh: float = -8.0
    phi_max: float = 0.2
    # post-synaptic potential kernel
    tau_l_ms: float = 10.0
    tau_s_ms: float = 3.0
    psp: str = "truncated"
    psp_taps: int = 10
    # phases and windows
    phases: str = "random"
    phase_base_steps: int = 50
    wald_mean: float = 2.0
    wald_scale: float = 1.0
    window: str = "last20"
    window_steps: int = 20
    settle_steps: int = 30
    plateaus: str = "sync"
    jitter_sd_steps: float = 3.0
    jitter_max_steps: int = 5
    # testing
    test_steps: int = 250
    test_window: str = "last220"
    # feedback
    feedback: str = "random"
    feedback_topology: str = "broadcast"
    feedback_scale: float = 1.0
    sparse_density: float = 0.2
    sparse_rescale: bool = True
    symmetric_noise_sd: float = 0.05
    feedback_lr: float = 0.05
    feedback_bias: bool = False
    # initialisation
    init: str = "paper"
    init_dendrite_mean: float = 3.0
    init_dendrite_sd: float = 3.0
    init_bias: float = 0.8
    init_bias_spread: float = 0.001

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
        return f"{arch} {self.mode} {self.rule} g_a={self.g_a:g} feedback={self.feedback}"


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
    for f in fields(s):
        v = getattr(s, f.name)
        if isinstance(v, float) and not math.isfinite(v):
            raise SpecError(f"{f.name}: must be a finite number (got {v})")
    _check(len(s.hidden) <= MAX_HIDDEN_LAYERS, "hidden", f"at most {MAX_HIDDEN_LAYERS} hidden layers")
    for n in s.hidden:
        _check(1 <= n <= 5000, "hidden", f"layer sizes must be between 1 and 5000 (got {n})")
    _check(s.n_inputs >= 1, "n_inputs", "must be positive")
    _check(s.n_outputs >= 2, "n_outputs", "needs at least two classes")
    choices = {
        "mode": MODES, "rule": RULES, "feedback": FEEDBACK_KINDS, "feedback_topology": TOPOLOGIES,
        "psp": PSP_KINDS, "phases": PHASE_KINDS, "window": WINDOW_KINDS, "plateaus": PLATEAU_KINDS,
        "init": INIT_KINDS, "test_window": TEST_WINDOWS,
    }
    for name, allowed in choices.items():
        _check(getattr(s, name) in allowed, name, f"must be one of {', '.join(allowed)} (got {getattr(s, name)!r})")
    _check(len(s.lr) == len(s.hidden) + 1, "lr",
           f"needs one learning rate per layer ({len(s.hidden) + 1} for {len(s.hidden)} hidden layer(s)), got {len(s.lr)}")
    for v in s.lr:
        _check(_finite(v) and 0.0 <= v <= 10.0, "lr", f"learning rates must lie in [0, 10] (got {v})")
    for name in ("g_l", "g_b", "g_d"):
        v = getattr(s, name)
        _check(_finite(v) and 0.0 < v <= 1.0, name, f"must lie in (0, 1] (got {v})")
    _check(_finite(s.g_a) and 0.0 <= s.g_a <= 1.0, "g_a", f"apical coupling must lie in [0, 1] (got {s.g_a})")
    # explicit Euler with dt = 1 stays bounded only while the total conductance is below 2
    _check(s.g_l + s.g_b + s.g_a < 2.0, "g_a", "g_l + g_b + g_a must stay below 2 for a stable Euler step")
    _check(_finite(s.phi_max) and 0.0 < s.phi_max <= 1.0, "phi_max", f"must lie in (0, 1] spikes/step (got {s.phi_max})")
    _check(_finite(s.tau_l_ms) and _finite(s.tau_s_ms) and s.tau_l_ms > s.tau_s_ms > 0, "tau_l_ms",
           "need tau_l_ms > tau_s_ms > 0")
    _check(1 <= s.psp_taps <= 64, "psp_taps", "must lie in [1, 64]")
    _check(20 <= s.phase_base_steps <= 1000, "phase_base_steps", "must lie in [20, 1000]")
    _check(_finite(s.wald_mean) and s.wald_mean > 0, "wald_mean", "must be positive")
    _check(_finite(s.wald_scale) and s.wald_scale > 0, "wald_scale", "must be positive")
    _check(1 <= s.window_steps <= s.phase_base_steps, "window_steps", "must lie in [1, phase_base_steps]")
    _check(0 <= s.settle_steps < s.phase_base_steps, "settle_steps", "must lie in [0, phase_base_steps)")
    _check(_finite(s.jitter_sd_steps) and s.jitter_sd_steps >= 0, "jitter_sd_steps", "must be >= 0")
    _check(0 <= s.jitter_max_steps < s.phase_base_steps - s.window_steps + 1, "jitter_max_steps",
           "must leave room for the integration window")
    _check(s.test_steps in (250, 500) or 50 <= s.test_steps <= 2000, "test_steps", "must lie in [50, 2000]")
    _check(_finite(s.feedback_scale) and 0.0 <= s.feedback_scale <= 100.0, "feedback_scale",
           f"must lie in [0, 100] (got {s.feedback_scale})")
    _check(_finite(s.sparse_density) and 0.0 < s.sparse_density <= 1.0, "sparse_density", "must lie in (0, 1]")
    _check(_finite(s.symmetric_noise_sd) and s.symmetric_noise_sd >= 0, "symmetric_noise_sd", "must be >= 0")
    _check(_finite(s.feedback_lr) and s.feedback_lr >= 0, "feedback_lr", "must be >= 0")
    _check(_finite(s.init_dendrite_sd) and s.init_dendrite_sd > 0, "init_dendrite_sd", "must be positive")
