"""Words a student meets on the page, and formulas written for reading (no MathJax: Unicode and HTML).

The explanation texts are written with ASCII shorthand (``α^f``, ``V_b``, ``J_β``); :func:`unicode_math`
turns it into real superscripts and subscripts for the Markdown panes, and :func:`plot_math` into the
Unicode characters a canvas can draw (plot titles, legends and axis labels cannot hold markup).
"""
from __future__ import annotations

import re

TEXT = """
**Soma, basal and apical dendrite.** A pyramidal neuron of the model has three compartments. The
**basal** dendrite takes the input from the layer below (the image, for the first hidden layer); the
**apical** dendrite takes the feedback from the output layer, through the fixed weights **Y**; the
**soma** adds up what reaches it and fires. The apical coupling **g_a** says how much of the apical
voltage leaks into the soma: 0 means fully *segregated*.

**Forward and target phase.** Each example is shown twice: first the image alone (forward phase),
then with the correct output nudged on (target phase).

**Plateau potential (α^f, α^t).** At the end of each phase the apical voltage, averaged over a
short window and squashed by a sigmoid σ, gives one number per neuron: α^f in the forward phase,
α^t in the target phase. Their difference α^t − α^f is the neuron's whole learning signal.

**Loss of a layer.** For the output layer, how far the target-phase rates are from the forward-phase
rates (squared); for a hidden layer, the same for its plateau potentials, ‖α^t − α^f‖².

**Angle to backprop.** The angle between the weight change this rule makes and the change exact
backpropagation would make for the same example: 0° is the same direction, 90° unrelated.

**Learning rate.** How large a step each example's weight change takes, one for the hidden layers and
one for the output layer. Each learning rule has its own: the hidden error of backprop or feedback
alignment is far smaller than a difference of plateau potentials, so their presets (and ghosts) use hidden
rates many times larger, chosen by a sweep on held-out training images.

**Theorem 1.** The paper proves that the hidden layers' targets lower the output loss as long as the
largest eigenvalue of (I − J_β J_γ)ᵀ(I − J_β J_γ) stays below 1; J_β and J_γ are the forward and
feedback Jacobians. In our runs it hovers around 1 rather than settling below it (see Alignment).

**Spiking and rate mode.** Spiking neurons fire random spikes (a noisy, slow but faithful
simulation); rate mode jumps to each phase's steady state (exact and much faster).

**Epoch.** One pass through the 60,000 training images. **t-SNE** places test images on a map so
that images the hidden layer treats alike lie close together.
"""

# superscripts and subscripts a canvas can draw (Unicode has no subscript b, so V_b reads "V basal")
_SUP = {"f": "ᶠ", "t": "ᵗ", "T": "ᵀ"}
_SUB = {"a": "ₐ", "out": "ₒᵤₜ", "β": "ᵦ", "γ": "ᵧ", "1": "₁", "2": "₂", "3": "₃", "h": "ₕ"}

_SUP_RE = re.compile(r"(?<=[A-Za-zα-ω)])\^([A-Za-z])\b")
_SUB_RE = re.compile(r"(?<=[A-Za-zα-ωΑ-Ω])_(out|[A-Za-z0-9β-γ])(?![A-Za-z0-9_])")


def unicode_math(markdown: str) -> str:
    """``α^f`` → α<sup>f</sup>, ``V_b`` → V<sub>b</sub> in Markdown (HTML tags, so every letter works)."""
    text = _SUP_RE.sub(lambda m: f"<sup>{m.group(1)}</sup>", markdown)
    return _SUB_RE.sub(lambda m: f"<sub>{m.group(1)}</sub>", text)


def plot_math(text: str) -> str:
    """``α^f`` → αᶠ, ``g_a`` → gₐ, ``L_out`` → Lₒᵤₜ for canvas text; ``V_b`` (no Unicode b below) → "V basal"."""
    text = text.replace("V_b", "V basal")
    text = _SUP_RE.sub(lambda m: _SUP.get(m.group(1), "^" + m.group(1)), text)
    return _SUB_RE.sub(lambda m: _SUB.get(m.group(1), "_" + m.group(1)), text)
