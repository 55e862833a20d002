"""Live changes replayed at their example counts: Trainer.run(changes=...) and the dashboard download."""
import json

import numpy as np
import pytest

from dendcore import Trainer
from dendcore.presets import GLR17_1HL
from dendcore.replay import parse_changes, read_replay
from dendcore.runio import RunFileError, trainer_state
from dendcore.spec import SpecError

SPEC = GLR17_1HL.replace(mode="rate", hidden=(20,))


def test_changes_apply_at_their_counts_as_if_set_by_hand(mnist):
    a = Trainer(SPEC, mnist, seed=3)
    snaps = list(a.run(examples=400, snapshot_every=100, test_at_end=False,
                       changes=[(150, {"g_a": 0.05}), (300, {"lr": (0.1, 0.3)}), (400, {"feedback_scale": 2.0})]))
    b = Trainer(SPEC, mnist, seed=3)
    rows = []
    for upto, change in [(150, {"g_a": 0.05}), (300, {"lr": (0.1, 0.3)}), (400, {"feedback_scale": 2.0})]:
        rows.append(b.train_examples(upto - b.examples_seen))
        b.set_live(**change)
    assert [s.examples_seen for s in snaps] == [100, 200, 300, 400]
    assert a.spec == b.spec and a.spec.feedback_scale == 2.0       # the change at the very end holds too
    sa, sb = trainer_state(a), trainer_state(b)
    assert sa.keys() == sb.keys()
    for key in set(sa) - {"wall_s"}:          # (the clock differs)
        np.testing.assert_array_equal(sa[key], sb[key], err_msg=key)
    assert a.test(200).error_pct == b.test(200).error_pct
    assert snaps[1].g_a == 0.05 and snaps[0].g_a != 0.05             # the window 100-200 ends after the change


def test_a_change_before_the_start_is_refused(mnist):
    tr = Trainer(SPEC, mnist, seed=0)
    tr.train_examples(50)
    with pytest.raises(SpecError, match="before this run's start"):
        list(tr.run(examples=10, changes=[(20, {"g_a": 0.1})]))


@pytest.mark.parametrize("items, words", [
    ("x", "expected a list"),
    ([{"examples_seen": 5}], "expected"),
    ([{"examples_seen": -1, "set": {"g_a": 0.1}}], "whole number"),
    ([{"examples_seen": 5, "set": {"hidden": [3]}}], "cannot change during a run"),
    ([{"examples_seen": 9, "set": {"g_a": 0.1}}, {"examples_seen": 5, "set": {"g_a": 0.2}}], "must not decrease"),
])
def test_bad_change_lists_are_refused_clearly(items, words):
    with pytest.raises(SpecError, match=words):
        parse_changes(items)


def test_dashboard_downloads_are_read_and_anything_else_refused(tmp_path):
    good = {"format": "dendrite-lab-dashboard-run", "seed": 2, "dataset": "mnist", "spec": SPEC.to_dict(),
            "spec_at_start": SPEC.to_dict(), "changes": [{"examples_seen": 10, "set": {"lr": [0.1, 0.2]}}]}
    path = tmp_path / "run.json"
    path.write_text(json.dumps(good))
    r = read_replay(path)
    assert r.spec == SPEC and r.seed == 2 and r.changes == ((10, {"lr": (0.1, 0.2)}),)
    for bad, words in [({"format": "other"}, "not a Dendrite Lab dashboard download"),
                       ({**good, "spec_at_start": None}, "no starting spec"),
                       ({**good, "changes": [{"examples_seen": 1, "set": {"seed": 1}}]}, "cannot change"),
                       ({**good, "seed": "two"}, "seed and dataset")]:
        path.write_text(json.dumps(bad))
        with pytest.raises(RunFileError, match=words):
            read_replay(path)
    path.write_text("not json")
    with pytest.raises(RunFileError, match="not a JSON file"):
        read_replay(path)
