"""Numbers on the page come from the files the repository ships, so a text cannot drift from its data."""
import csv

import pytest

pytest.importorskip("panel")

from dendcore import PRESETS  # noqa: E402
from app.cards import ExperimentCards  # noqa: E402
from app.controller import Controller  # noqa: E402
from app.experiments import EXPERIMENTS  # noqa: E402
from app.paper import CURVES  # noqa: E402
from app.seats import TrainingSlots  # noqa: E402
from tests.app.conftest import NoTsne  # noqa: E402


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
    text = " ".join(ALIGNMENT.split())
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
