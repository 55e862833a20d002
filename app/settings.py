"""The dashboard's settings: its controls, generated from the spec's declarations, and the link codec.

:class:`Settings` is a param class and nothing more: no thread, no engine, no page.
Each control that maps to a :class:`dendcore.ModelSpec` field takes its bounds,
choices, help text and whether it acts live from that field's declaration
(``dendcore.spec.DECLARED``), so validation and controls cannot disagree.  Where a
public classroom page allows less than the engine, :data:`CLASSROOM_LIMITS` says
so, with the reason.  Controls fall into three groups:

* ``STRUCTURAL`` -- preset, mode, hidden layers, learning rule, feedback kind,
  seed, dataset: changing one needs a new network.
* ``LIVE`` -- the controls of live spec fields (learning rates, g_a, feedback
  scale): sent to the running network.
* ``PACING`` -- speed and the test schedule: how the thread trains, not what.

The address bar carries ``URL_PARAMS``; :meth:`Settings.apply_settings` and
:meth:`Settings.explain_refusal` turn what a link or the browser sent into values,
or into sentences for the page.
"""
from __future__ import annotations

import re
from typing import Any

import param

from dendcore import PRESETS, ModelSpec, SpecError
from dendcore.datasets import available_datasets
from dendcore.spec import DECLARED, MAX_HIDDEN_LAYERS, RULES as SPEC_RULES, paper_learning_rates

from .ghost import GHOST_OPTIONS

DEFAULT_PRESET = "glr17-1hl"

# Where the classroom page allows less than the engine (the engine's bounds are in DECLARED).
CLASSROOM_LIMITS = {
    # 2000 units per layer: a 5000-5000-5000 network needs ~0.6 GB and minutes per epoch, on a server
    # shared by a class
    "hidden": ((1, 2000), "a class shares one server"),
    # backprop and feedback alignment learn best with a hidden rate of 17 (their error is far smaller than
    # a difference of plateaus; dendcore/presets.py); a slider to the engine's 100 would spend most of its
    # travel where nothing learns
    "lr": ((0.0, 20.0), "larger rates learn no better"),
    # beyond 10 the apical signal saturates the plateau's sigmoid; same reason for the slider's travel
    "feedback_scale": ((0.0, 10.0), "larger scales saturate the plateaus"),
}
MAX_HIDDEN_UNITS = CLASSROOM_LIMITS["hidden"][0][1]

SPEEDS = {"1 example/s": 1, "5 examples/s": 5, "20 examples/s": 20, "100 examples/s": 100,
          "full speed": 0}
RULES = {"segregated dendrites": "dendrites", "backprop": "backprop",
         "feedback alignment": "feedback_alignment"}
assert set(RULES.values()) == set(SPEC_RULES), "every learning rule needs a name on the page"

# the spec field behind each control
SPEC_FIELD = {"mode": "mode", "hidden": "hidden", "rule": "rule", "feedback": "feedback",
              "lr_hidden": "lr", "lr_output": "lr", "g_a": "g_a", "feedback_scale": "feedback_scale"}
LIVE = tuple(c for c, f in SPEC_FIELD.items() if DECLARED[f].live)
STRUCTURAL = ("preset",) + tuple(c for c, f in SPEC_FIELD.items() if not DECLARED[f].live) + ("seed", "dataset")
PACING = ("speed", "test_every", "test_images")
URL_PARAMS = STRUCTURAL + LIVE + ("test_every", "test_images", "ghost")


# --------------------------------------------------------------------- helpers
# numbers separated by one "-", "," "x" or spaces: "500-100", "500, 100", "500x100", "500 100"
_LAYERS = re.compile(r"^\d+(\s*[-,x]\s*\d+|\s+\d+)*$")


def parse_hidden(text: str) -> tuple[int, ...]:
    """``"500-100"``, ``"500, 100"`` or ``"500 100"`` -> (500, 100); ``""``/``"none"`` -> ()."""
    t = str(text).strip().lower()
    if t in ("", "none", "0", "()", "-"):
        return ()
    negative = re.match(r"^-\s*(\d+)", t)
    if negative:       # "-5" read as 5 would build a network the box does not describe
        raise SpecError(f"hidden: each layer needs 1 to {MAX_HIDDEN_UNITS} units (got -{negative.group(1)})")
    if not _LAYERS.match(t):
        raise SpecError(f"hidden: write layer sizes as numbers, e.g. 500 or 500-100 (got {cut(repr(str(text)))})")
    digits = re.findall(r"\d+", t)
    too_long = next((d for d in digits if len(d.lstrip("0")) > 6), None)
    if too_long is not None:
        raise SpecError(f"hidden: each layer needs 1 to {MAX_HIDDEN_UNITS} units (got {cut(too_long, 12)})")
    sizes = tuple(int(d) for d in digits)
    if len(sizes) > MAX_HIDDEN_LAYERS:
        raise SpecError(f"hidden: at most {MAX_HIDDEN_LAYERS} hidden layers (got {len(sizes)})")
    for n in sizes:
        if not 1 <= n <= MAX_HIDDEN_UNITS:
            raise SpecError(f"hidden: each layer needs 1 to {MAX_HIDDEN_UNITS} units (got {n})")
    return sizes


def cut(text: str, limit: int = 60) -> str:
    """User-supplied text cut short for a message (a link can carry megabytes)."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _shorten(value: Any) -> str:
    return cut(repr(value))


def format_hidden(sizes) -> str:
    return "-".join(str(int(n)) for n in sizes) if len(sizes) else "none"


def lr_vector(n_hidden: int, lr_hidden: float, lr_output: float) -> tuple[float, ...]:
    return (float(lr_hidden),) * n_hidden + (float(lr_output),)


def spec_description(spec: ModelSpec) -> str:
    lr = ", ".join(f"{v:g}" for v in spec.lr)
    return (f"{'-'.join(str(n) for n in spec.sizes)} · {spec.mode} · {spec.rule.replace('_', ' ')} · "
            f"feedback {spec.feedback} × {spec.feedback_scale:g} · g_a = {spec.g_a:g} · lr = ({lr})")


def _dataset_objects() -> list[str]:
    try:
        return list(available_datasets())
    except Exception:   # a broken optional install must not break the page
        return ["mnist"]


# ---------------------------------------------------------- generated controls
def _control_doc(field: str, extra: str = "") -> str:
    d = DECLARED[field]
    when = "Acts on the running network." if d.live else "Starts a new run."
    return " ".join(t for t in (d.doc, extra, when) if t)


def _label(field: str, label: str | None = None) -> str:
    return (label or DECLARED[field].label or field) + (" (live)" if DECLARED[field].live else "")


def spec_number(field: str, default: float, step: float, label: str | None = None, extra: str = ""):
    """A number control for a spec field: the declaration's bounds, or the classroom's where narrower."""
    bounds = CLASSROOM_LIMITS[field][0] if field in CLASSROOM_LIMITS else DECLARED[field].bounds
    return param.Number(default=default, bounds=bounds, step=step, label=_label(field, label),
                        doc=_control_doc(field, extra))


def spec_choice(field: str, default: str, objects=None):
    """A selector for a spec field with declared choices (``objects`` may name them: label -> value)."""
    return param.Selector(default=default, objects=objects or list(DECLARED[field].choices),
                          label=_label(field), doc=_control_doc(field))


class LayerSizes(param.String):
    """Hidden-layer sizes as text, refused like an out-of-range number when they do not parse.

    A plain String would take anything a link or the browser sends (the network would keep
    its old layers while the control showed the garbage), and a link's one-batch update
    would set it without running the watchers that build the network.
    """

    def _validate_value(self, val, allow_None):
        super()._validate_value(val, allow_None)
        if val is not None:
            try:
                parse_hidden(val)
            except SpecError as exc:
                raise ValueError(str(exc)) from None


class Settings(param.Parameterized):
    """The controls of one session and what they mean as a spec and as a link."""

    # ---- the model (changing these builds a new network)
    preset = param.Selector(default=DEFAULT_PRESET, objects=list(PRESETS), label="Preset", doc=(
        "A setup from Guerguiev, Lillicrap & Richards (2017). Choosing one sets every control below; "
        "presets ending in -rate use the fast rate-based neurons. Starts a new run."))
    mode = spec_choice("mode", "spiking")
    hidden = LayerSizes(default="500", label=_label("hidden"), doc=_control_doc("hidden", (
        f"E.g. 500, 500-100 or none; at most {MAX_HIDDEN_LAYERS} layers of 1-{MAX_HIDDEN_UNITS} units. "
        f"Changing the depth sets the paper's learning rates.")))
    rule = spec_choice("rule", "dendrites", objects=RULES)
    feedback = spec_choice("feedback", "random")
    seed = param.Integer(default=0, bounds=(0, 1_000_000), label="Seed", doc=(
        "Random seed of the weights, spikes and example order: the same setup and seed give the same "
        "run. Starts a new run."))
    dataset = param.Selector(default="mnist", objects=_dataset_objects(), label="Dataset", doc=(
        "MNIST digits; Fashion-MNIST clothing when Debian's dataset-fashion-mnist is installed. "
        "Starts a new run."))

    # ---- live (applied to the running network between two chunks)
    g_a = spec_number("g_a", 0.0, 0.01)
    lr_hidden = spec_number("lr", 0.21, 0.01, label="Learning rate, hidden",
                            extra="This one sets every hidden layer (paper: 0.21 with one hidden layer, 0.23 "
                                  "with two).")
    lr_output = spec_number("lr", 0.21, 0.01, label="Learning rate, output",
                            extra="This one sets the output layer (paper: 0.21 with one hidden layer, 0.12 "
                                  "with two, 0.19 with none).")
    feedback_scale = spec_number("feedback_scale", 1.0, 0.1)

    # ---- pacing
    speed = param.Selector(default=0, objects=SPEEDS, label="Speed", doc=(
        "Slow speeds train one example at a time so you can follow each image and its voltage traces."))
    test_every = param.Integer(default=2500, bounds=(500, 60000), label="Test every (examples)", doc=(
        "How often the test error is measured (also at 500, 1000 and 2000 examples). A spiking "
        "test runs beside the training and shares its cores; sessions on the same link and settings "
        "share each measurement."))
    test_images = param.Integer(default=500, bounds=(100, 10000), label="Test images", doc=(
        "How many test images each measurement uses (more = less noisy, slower: in spiking mode a "
        "test image is shown for 250 time steps, a training example for about 100)."))

    # ---- comparison
    ghost = param.Selector(default="off", objects=GHOST_OPTIONS, label="Ghost run", doc=(
        "A second network with the same seed, examples and architecture but another rule or setting, "
        "trained beside this one; its curves are dashed. Turning it on starts both runs again from "
        "example 0. It takes a training place of its own while it plays."))

    # ---- the notice line: refusals and what a change did
    message = param.String(default="", precedence=-1, doc="The latest notice for the user.")
    message_kind = param.Selector(default="info", objects=["info", "success", "warning", "danger"], precedence=-1)

    def __init__(self, **params):
        self._applying = False
        super().__init__(**params)
        self._sync_controls_from_preset(self.preset, keep=set(params))

    # ---------------------------------------------------------------- spec
    def build_spec(self) -> ModelSpec:
        """The spec the controls describe (raises SpecError naming the field)."""
        base = PRESETS[self.preset].spec
        hidden = parse_hidden(self.hidden)
        return base.replace(mode=self.mode, hidden=hidden, rule=self.rule, feedback=self.feedback,
                            lr=lr_vector(len(hidden), self.lr_hidden, self.lr_output),
                            g_a=float(self.g_a), feedback_scale=float(self.feedback_scale))

    def pacing(self) -> dict:
        return {"speed": float(self.speed), "test_every": int(self.test_every), "test_images": int(self.test_images)}

    def quietly(self, **values) -> None:
        """Set controls without starting anything (the watchers see ``_applying``)."""
        self._applying = True
        try:
            self.param.update(**values)
        finally:
            self._applying = False

    def _sync_controls_from_preset(self, name: str, keep: set[str] = frozenset()) -> None:
        """Set the controls to a preset's values, except those named in ``keep``."""
        s = PRESETS[name].spec
        values = {"mode": s.mode, "hidden": format_hidden(s.hidden), "rule": s.rule, "feedback": s.feedback,
                  "lr_hidden": s.lr[0] if s.hidden else self.lr_hidden, "lr_output": s.lr[-1],
                  "g_a": s.g_a, "feedback_scale": s.feedback_scale}
        self.quietly(**{k: v for k, v in values.items() if k not in keep})

    def follow_depth(self, events) -> str:
        """After the hidden layers changed depth, the paper's learning rates; returns the page's note.

        Raises SpecError when the new layers do not parse.
        """
        try:
            old_depth = len(parse_hidden(next(e.old for e in events if e.name == "hidden")))
        except SpecError:
            old_depth = -1
        depth = len(parse_hidden(self.hidden))
        if depth == old_depth:
            return ""
        rates = paper_learning_rates(depth)
        self.quietly(lr_hidden=rates[0] if depth else self.lr_hidden, lr_output=rates[-1])
        return (f" The learning rates were set to the paper's for {depth} hidden layer"
                f"{'' if depth == 1 else 's'}: {', '.join(f'{r:g}' for r in rates)}.")

    def notify(self, text: str, kind: str = "info") -> None:
        """Show a notice on the page (kind: info, success, warning or danger)."""
        self.param.update(message=text, message_kind=kind)

    # ---------------------------------------------------------------- link
    def settings(self) -> dict[str, Any]:
        """The current setup as link parameters (what the page writes into the URL)."""
        return {name: getattr(self, name) for name in URL_PARAMS}

    def apply_settings(self, values: dict[str, Any]) -> list[str]:
        """Apply settings from a shared link (query parameters): the preset first, then the rest.

        Values are coerced to each parameter's type; invalid ones are skipped
        and reported on the page.  Returns the rejected ``name=value`` texts.
        """
        values = {k: v for k, v in values.items() if k in URL_PARAMS}
        bad = []
        coerced = {}
        for name, value in values.items():
            try:
                coerced[name] = self._coerce(name, value)
            except (TypeError, ValueError, OverflowError, SpecError):
                bad.append(f"{name}={_shorten(value)}")
        if "preset" in coerced:
            try:
                self.param.update(preset=coerced.pop("preset"))
            except ValueError:
                bad.append(f"preset={_shorten(values['preset'])}")
        for name, value in coerced.items():    # one by one, so one bad value spoils nothing else
            try:
                self.param.update(**{name: value})
            except ValueError:
                bad.append(f"{name}={_shorten(values[name])}")
        if bad:
            self.notify("The link contained values this page cannot use: " + ", ".join(bad) +
                        " (the current values were kept for those).", "warning")
        return bad

    def url_errors(self, values: dict[str, Any]) -> list[str]:
        """Location.sync's on_error hook: its one-batch update failed part-way.

        param has then already set the values before the bad one, without calling
        any watcher, so the controls would disagree with the running network.  The
        values are applied again one by one, and the watchers of those set silently
        are run now.
        """
        silent = []
        for name, value in values.items():
            if name in URL_PARAMS:
                try:
                    if getattr(self, name) == value:
                        silent.append(name)
                except Exception:
                    pass
        bad = self.apply_settings(values)
        if silent:
            self.param.trigger(*silent)
        return bad

    def explain_refusal(self, exc: BaseException) -> str:
        """A sentence for the page about a value the browser sent that a control cannot take."""
        text = str(exc)
        m = re.search(r"parameter '\w+\.(\w+)'", text)
        if m and m.group(1) in self.param:
            p = self.param[m.group(1)]
            label = p.label or p.name
            got = re.search(r"(?:, not| does not accept) (.+?)(?:\.|;.*)?$", text, re.S)
            got = f" ({cut(got.group(1))})" if got else ""
            bounds = getattr(p, "bounds", None)
            if bounds and None not in bounds:
                lo, hi = (f"{b:,}" if isinstance(b, int) else f"{b:g}" for b in bounds)
                return (f"{label}: the value sent{got} is outside {lo} to {hi}, so it was refused; "
                        f"the control is back at {getattr(self, p.name)!s}.")
            return f"{label}: the value sent{got} is not one this control takes, so it was refused."
        if text.startswith("hidden: "):
            return f"Hidden layers: {cut(text[8:], 200)}. The value was refused; the control shows the layers in force."
        m = re.search(r"must be at (most|least) (\S+), not (.+?)\.?$", text, re.S)
        if m:     # a widget's own bounds (e.g. the box beside a slider)
            side = "largest" if m.group(1) == "most" else "smallest"
            return (f"The value sent ({cut(m.group(3))}) is beyond the {side} this control allows "
                    f"({m.group(2)}), so it was refused; the control shows the value in force.")
        m = re.match(r"(.*) not in list$", text, re.S)
        if m:
            return (f"{cut(repr(m.group(1)))} is not one of the choices offered, so it was refused; the control "
                    f"shows the choice in force.")
        return f"A change from the page was refused: {cut(text, 200)}"

    def _coerce(self, name: str, value: Any) -> Any:
        p = self.param[name]
        if isinstance(p, param.Integer):
            f = float(value)
            if f != int(f):
                raise ValueError(value)
            return int(f)
        if isinstance(p, param.Number):
            return float(value)
        if name == "hidden":
            text = format_hidden(value) if isinstance(value, (list, tuple)) else str(value)
            return format_hidden(parse_hidden(text))
        return str(value) if not isinstance(value, str) else value
