"""The baseline comparison texts quote the shipped comparison file, and nothing else: a text cannot drift."""
import csv
import re
from pathlib import Path

import pytest

pytest.importorskip("panel")

from dendcore import PRESETS  # noqa: E402
from app.explain import BASELINE_FIGURES, GHOST  # noqa: E402
from app.experiments import EXPERIMENTS  # noqa: E402

FIGURES = " ".join(BASELINE_FIGURES.split())      # as the page flows it: line breaks are spaces

SHIPPED = Path(__file__).resolve().parents[2] / "dendcore" / "data" / "sweeps"
NAMES = {"backprop": "backprop", "feedback_alignment": "feedback alignment", "dendrites": "segregated dendrites"}


def rows(name: str) -> list[dict]:
    with (SHIPPED / name).open() as f:
        return list(csv.DictReader(f))


def texts() -> dict[str, str]:
    card = next(e for e in EXPERIMENTS if e.key == "baselines")
    return {"figures": BASELINE_FIGURES, "card": card.text, **{k: GHOST[k] for k in NAMES}}


def test_the_figures_are_the_shipped_comparison_rule_by_rule():
    compare = [r for r in rows("baseline_comparison.csv") if r["rates"] == "own"]
    for mode in ("rate", "spiking"):
        mine = [r for r in compare if r["mode"] == mode]
        budgets = sorted({int(r["examples"]) for r in mine})
        assert budgets, mode
        assert " / ".join(f"{b:,}" for b in budgets) + " examples" in FIGURES, mode
        for rule, name in NAMES.items():
            by = {int(r["examples"]): float(r["test_error_mean"]) for r in mine if r["rule"] == rule}
            quoted = f"{name} " + " / ".join(f"{by[b]:.1f}" for b in budgets) + " %"
            assert quoted in FIGURES, (mode, quoted)
    # every texts' test error is a number of the shipped files, rounded as shown
    shipped = {f"{float(r[k]):.1f}" for r in rows("baseline_comparison.csv") for k in ("test_error_mean",)
               if r[k]} | {f"{float(r['val_error_mean']):.1f}" for r in rows("baseline_lr_sweep.csv")
                           if r["val_error_mean"]}
    shipped |= {f"{p.published_error_pct:.1f}" for p in PRESETS.values() if p.published_error_pct}   # the paper's
    for where, text in texts().items():
        for number in re.findall(r"(?<![\d.])\d+\.\d(?![\d.])", text):
            assert number in shipped, (where, number)


def test_the_texts_quote_the_rates_the_presets_ship():
    bp, fa, one = (PRESETS[n].spec.lr for n in ("glr17-1hl-backprop", "glr17-1hl-fa", "glr17-1hl"))
    assert f"backprop {bp[0]:g} / {bp[1]:g}" in FIGURES
    assert f"feedback alignment {fa[0]:g} / {fa[1]:g}" in FIGURES
    assert f"segregated dendrites {one[0]:g} / {one[1]:g}" in FIGURES
    for key in NAMES:
        assert "weight transport buys" not in GHOST[key]
        assert BASELINE_FIGURES.strip() in GHOST[key]
