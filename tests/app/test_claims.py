"""Numbers on the page come from the files the repository ships, so a text cannot drift from its data."""
import csv
import re

import pytest

pytest.importorskip("panel")

from dendcore import PRESETS  # noqa: E402
from app.cards import ExperimentCards  # noqa: E402
from app.controller import Controller  # noqa: E402
from app.experiments import EXPERIMENTS  # noqa: E402
from app.paper import CURVES  # noqa: E402
from app.seats import TrainingSlots  # noqa: E402
from tests.app.conftest import NoTsne  # noqa: E402


def flat(text):
    """A text as the page flows it: line breaks are spaces."""
    return " ".join(text.split())


def shipped_curves():
    return sorted(CURVES.glob("*.csv"))


def test_every_shipped_curve_is_a_full_60_epoch_run_of_a_preset():
    assert shipped_curves()
    for path in shipped_curves():
        assert path.stem in PRESETS, path.name
        rows = list(csv.DictReader(path.open()))
        assert [float(r["epoch"]) for r in rows] == [float(e) for e in range(1, 61)], path.name
        assert all(int(r["examples_seen"]) == 60000 * int(float(r["epoch"])) for r in rows)


def test_cards_show_each_shipped_result_beside_the_papers():
    c = Controller(slots=TrainingSlots(1), tsne=NoTsne())
    try:
        cards = ExperimentCards(c)
        text = "\n".join(cards.results_markdown(e) for e in EXPERIMENTS)
    finally:
        c.close()
    shown = {v.preset for e in EXPERIMENTS for v in e.variants}
    for path in shipped_curves():
        last = list(csv.DictReader(path.open()))[-1]
        if path.stem in shown:
            assert f"{float(last['test_error_pct']):.2f} % after 60 epochs" in text, path.stem
        published = PRESETS[path.stem].published_error_pct
        if published is not None and path.stem in shown:
            assert f"{published:g} % test error after 60 epochs" in text


def eigen_rows(mode):
    from app.paper import CURVES as curves
    path = curves.parent / "eigen" / f"eigen-{mode}.csv"
    return [{k: (v if k in ("mode", "preset") else float(v) if v else None) for k, v in r.items()}
            for r in csv.DictReader(path.open())]


def test_the_eigenvalue_text_quotes_the_shipped_measurements():
    """Every number the Alignment explanation gives for the Theorem-1 eigenvalue, recomputed from
    dendcore/data/eigen/*.csv (written by ``python -m benchmarks.eigen_story``)."""
    from app.explain import ALIGNMENT
    text = flat(ALIGNMENT)
    rate, spiking = eigen_rows("rate"), eigen_rows("spiking")
    first_epoch = [r for r in rate if r["block_start"] == 0]
    assert {r["seed"] for r in first_epoch} == {0, 1, 2}
    firsts = [int(r["paper_first_below1"]) for r in first_epoch]
    assert (f"in the first epoch it stays between {min(r['paper_min'] for r in first_epoch):.2f} and "
            f"{max(r['paper_max'] for r in first_epoch):.2f} and first dips below 1 after "
            f"{min(firsts):,}–{max(firsts):,} examples (seeds 0–2)") in text
    long = [r for r in rate if r["seed"] == 0]
    assert [r["block_end"] for r in long] == [60000.0 * k for k in range(1, len(long) + 1)]
    pct = [r["paper_below1_pct"] for r in long[1:]]
    assert (f"over {len(long)} epochs (seed 0) it stays between {min(r['paper_min'] for r in long):.2f} and "
            f"{max(r['paper_max'] for r in long):.2f}, is below 1 in {min(pct):.0f}–{max(pct):.0f} % of each "
            f"epoch's samples after the first, and no epoch is below 1 throughout") in text
    assert all(r["paper_max"] >= 1.0 for r in rate)
    assert {r["seed"] for r in spiking} == {0, 1, 2}
    ends = sorted({r["block_end"] for r in spiking})
    first = [r for r in spiking if r["block_end"] == ends[0]]
    last = [r for r in spiking if r["block_end"] == ends[-1]]
    seeds_first = [min(r["paper_first_below1"] for r in spiking if r["seed"] == k and r["paper_first_below1"])
                   for k in (0, 1, 2)]

    def pct(rows):
        return f"{min(r['paper_below1_pct'] for r in rows):.0f}–{max(r['paper_below1_pct'] for r in rows):.0f} %"
    assert (f"Spiking mode, first {ends[-1]:,.0f} examples (`eigen-spiking.csv`, seeds 0–2): between "
            f"{min(r['paper_min'] for r in spiking):.2f} and {max(r['paper_max'] for r in spiking):.2f}, first "
            f"below 1 after {min(seeds_first):,.0f}–{max(seeds_first):,.0f} examples; below 1 in {pct(first)} of "
            f"the samples of the first {ends[0]:,.0f} examples and in {pct(last)} of those of the last "
            f"{ends[-1] - last[0]['block_start']:,.0f}") in text
    assert "drops below 1 during" not in text and "drops below it during" not in text


# ------------------------------------------------------------------ angles, losses, first-epoch errors
def story(mode, preset="glr17-1hl"):
    """Rows of dendcore/data/story/learning-<mode>.csv (``python -m benchmarks.learning_story``) by example count."""
    path = CURVES.parent / "story" / f"learning-{mode}.csv"
    by_n = {}
    for r in csv.DictReader(path.open()):
        if r["preset"] == preset:
            by_n.setdefault(int(r["examples_seen"]), []).append({k: float(v) for k, v in r.items()
                                                                if k not in ("mode", "preset")})
    assert all(sorted(row["seed"] for row in rows) == [0, 1, 2] for rows in by_n.values()), path
    return by_n


def span(rows, col, fmt=".1f"):
    values = [r[col] for r in rows]
    return f"{min(values):{fmt}}–{max(values):{fmt}}"


def mean(values):
    values = list(values)
    return sum(values) / len(values)


def comparison(mode, rule, examples):
    path = CURVES.parent / "sweeps" / "baseline_comparison.csv"
    row, = [r for r in csv.DictReader(path.open()) if (r["mode"], r["rule"], r["rates"], r["examples"]) ==
            (mode, rule, "own", str(examples))]
    return row


def test_the_learning_text_quotes_the_shipped_errors_and_losses():
    from app.explain import LEARNING
    text = flat(LEARNING)
    spk, rate = comparison("spiking", "dendrites", 10000), comparison("rate", "dendrites", 60000)
    assert (f"Mean test error {float(spk['test_error_mean']):.1f} % after 10,000 spiking examples "
            f"({spk['seeds']} seeds) and {float(rate['test_error_mean']):.1f} % after one epoch in rate mode "
            f"({rate['seeds']} seeds;") in text
    epoch1 = list(csv.DictReader((CURVES / "glr17-1hl.csv").open()))[0]
    assert epoch1["epoch"] == "1.0"
    assert f"was at {float(epoch1['test_error_pct']):.1f} % after its first epoch" in text
    s = story("spiking")
    first, last = s[1000], s[60000]
    out = 100 * mean(r["loss_output"] for r in last) / mean(r["loss_output"] for r in first)
    hid = 100 * mean(r["loss_hidden"] for r in last) / mean(r["loss_hidden"] for r in first)
    assert out < 100 and hid < 100          # "falls together"
    assert f"the output loss fell to {out:.0f} % and the hidden loss to {hid:.0f} % of their values" in text
    later = [r for n, rows in s.items() if n > 10000 for r in rows]
    assert all(r["loss_correlation"] > 0 for r in later)
    assert f"correlated at r = {span(later, 'loss_correlation', '.2f')} over windows" in text
    floor = float(re.search(r"without spike noise, r > ([0-9.]+)", text).group(1))
    assert all(r["loss_correlation"] > floor for n, rows in story("rate").items() if n > 10000 for r in rows)


def test_the_alignment_text_quotes_the_shipped_angles():
    from app.explain import ALIGNMENT
    text = flat(ALIGNMENT)
    spk, rate = story("spiking"), story("rate")
    assert (f"spiking {span(spk[1000], 'angle_to_backprop_deg')}° after 1,000 examples and "
            f"{span(spk[60000], 'angle_to_backprop_deg')}° after one epoch; rate "
            f"{span(rate[1000], 'angle_to_backprop_deg')}° after 1,000 and "
            f"{span(rate[60000], 'angle_to_backprop_deg')}° after one epoch") in text
    assert (f"the angle of Y to W fell to {span(spk[60000], 'weight_angle_deg')}° (spiking) and "
            f"{span(rate[60000], 'weight_angle_deg')}° (rate)") in text
    # "both angles start near 90° and fall"
    assert all(r["angle_to_backprop_deg"] > 85 and r["weight_angle_deg"] > 85 for r in spk[1000])
    assert all(r["angle_to_backprop_deg"] < 75 for r in spk[60000] + rate[60000])
    curve = list(csv.DictReader((CURVES / "glr17-1hl.csv").open()))
    c1, c60 = float(curve[0]["angle_to_backprop_deg"]), float(curve[-1]["angle_to_backprop_deg"])
    assert c60 > c1
    assert f"from {c1:.1f}° after the first epoch to {c60:.1f}° after the last" in text
    # the paper's ranges, "as measured here in the first epoch": the seeds' means fall inside (± 2°)
    assert 65 - 2 <= mean(r["angle_to_backprop_deg"] for r in spk[60000]) <= 70 + 2
    assert 35 - 2 <= mean(r["angle_to_backprop_deg"] for r in rate[60000]) <= 40 + 2


def test_the_apical_coupling_texts_quote_k_b_as_the_spec_computes_it():
    from dendcore import ModelSpec
    from app.explain import GHOST
    text = flat(GHOST["ga06"])
    assert (f"k_b falls from {ModelSpec(g_a=0.0).k_b:.2f} to {ModelSpec(g_a=0.6).k_b:.2f}") in text
    # the paper's g_a results are for 784-500-100-10 (MODEL.md's table): the texts say so
    assert "(784-500-100-10)" in text and "(784-500-100-10)" in flat(GHOST["ga005"])


def test_the_ghost_and_the_card_quote_the_same_first_epoch_angles():
    from app.explain import GHOST
    spk, rate = story("spiking")[60000], story("rate")[60000]
    pair = f"{span(spk, 'angle_to_backprop_deg')}° and {span(rate, 'angle_to_backprop_deg')}°"
    assert f"measured here after one epoch, {pair}" in flat(GHOST["rate"])
    card, = [e for e in EXPERIMENTS if e.key == "angle"]
    assert f"(measured here after one epoch, seeds 0–2: {pair})" in flat(card.text)


def test_the_symmetric_feedback_texts_quote_the_shipped_angles():
    from app.explain import GHOST
    angle = "angle_to_backprop_deg"
    sym_s, rnd_s = story("spiking", "glr17-1hl-symmetric"), story("spiking")
    sym_r, rnd_r = story("rate", "glr17-1hl-symmetric"), story("rate")
    early = f"{span(sym_s[1000], angle)}° against {span(rnd_s[1000], angle)}° after 1,000 examples"
    late = f"{span(sym_s[60000], angle)}° against {span(rnd_s[60000], angle)}°"
    ghost = flat(GHOST["symmetric"])
    assert (f"in rate mode its angle to backprop was {span(sym_r[60000], angle)}° after one epoch against "
            f"{span(rnd_r[60000], angle)}° with random feedback") in ghost
    assert f"with spikes {early}, but" in ghost
    assert f"but {late} after one epoch" in ghost
    card, = [e for e in EXPERIMENTS if e.key == "symmetric"]
    assert f"(spiking, {early})" in flat(card.text) and f"close ({late})" in flat(card.text)
    # "starts far lower" (spiking: over the first 10,000 examples; rate: at every point of two epochs)
    for sym, rnd, points in ((sym_s, rnd_s, range(1000, 10001, 1000)), (sym_r, rnd_r, sym_r)):
        for n in points:
            assert mean(r[angle] for r in sym[n]) + 5 < mean(r[angle] for r in rnd[n]), n


def test_the_test_settings_quote_the_step_counts_the_model_runs():
    """The help of "Test images" compares a test image's steps with a training example's."""
    import numpy as np
    from app.settings import Settings
    from dendcore import ModelSpec
    from dendcore.rng import seed_state, wald
    spec = ModelSpec()
    text = flat(Settings.param["test_images"].doc)
    assert f"shown for {spec.test_steps} time steps" in text
    rng = np.zeros(4, dtype=np.uint64)
    seed_state(rng, 1, 0, 0)
    extra = np.mean([np.floor(wald(rng, spec.wald_mean, spec.wald_scale)) for _ in range(20000)])
    per_example = 2 * (spec.phase_base_steps + extra)           # a forward and a target phase
    assert "a training example for about 100" in text and 95 <= per_example <= 110, per_example
    assert "share each measurement" in flat(Settings.param["test_every"].doc)
