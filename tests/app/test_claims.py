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
