"""What the figures follow: :class:`Latest` values and bounded :class:`Rows` (app/plots/latest.py, rows.py)."""
import numpy as np
import pytest

from app.plots.latest import Latest
from app.plots.rows import Rows
from app.plots.series import MAX_ROWS, Series, scalar_columns


def test_latest_holds_the_value_before_its_subscribers_read_it():
    latest, seen = Latest(), []
    assert latest.data is None
    latest.add_subscriber(lambda: seen.append(("first", latest.data)))
    latest.add_subscriber(lambda: seen.append(("second", latest.data)))
    latest.send({"x": 1})
    latest.send(None)
    assert seen == [("first", {"x": 1}), ("second", {"x": 1}), ("first", None), ("second", None)]


def test_a_failing_subscriber_stops_no_other_and_its_error_reaches_the_sender():
    latest, seen = Latest(), []

    def broken():
        raise RuntimeError("first plot broke")

    def also_broken():
        raise ValueError("second plot broke")

    for fn in (broken, lambda: seen.append(latest.data), also_broken, lambda: seen.append(-latest.data)):
        latest.add_subscriber(fn)
    with pytest.raises(RuntimeError, match="first plot broke"):
        latest.send(3)
    assert seen == [3, -3] and latest.data == 3


def rows_seen(rows):
    """The rows' columns as lists, each time its subscribers run."""
    seen = []
    rows.add_subscriber(lambda: seen.append({c: a.tolist() for c, a in rows.arrays.items()}))
    return seen


def test_rows_append_and_keep_only_the_last_length():
    rows = Rows(("x", "y"), length=4)
    seen = rows_seen(rows)
    rows.send({"x": [1, 2, 3], "y": [10, 20, 30]})
    rows.send({"y": [40, 50], "x": [4, 5]})          # any order of the columns
    assert seen == [{"x": [1, 2, 3], "y": [10, 20, 30]}, {"x": [2, 3, 4, 5], "y": [20, 30, 40, 50]}]
    assert len(rows) == 4 and all(a.dtype == np.float64 for a in rows.arrays.values())
    rows.send({"x": np.arange(10, 17), "y": np.zeros(7)})      # more than length at once
    assert rows.arrays["x"].tolist() == [13, 14, 15, 16]
    df = rows.data
    assert list(df.columns) == ["x", "y"] and df["x"].tolist() == [13, 14, 15, 16]
    df.loc[0, "x"] = -1.0
    assert rows.arrays["x"][0] == 13, "data is a copy"


def test_rows_replace_and_clear_draw_once_each():
    rows = Rows(("x", "y"), length=3)
    rows.send({"x": [1], "y": [2]})
    seen = rows_seen(rows)
    rows.replace({"x": [7, 8, 9, 10], "y": [1, 2, 3, 4]})
    assert seen == [{"x": [8, 9, 10], "y": [2, 3, 4]}]
    rows.clear()
    assert seen[1:] == [{"x": [], "y": []}] and len(rows) == 0
    rows.send({"x": [], "y": []})
    assert len(seen) == 3 and len(rows) == 0


def test_held_arrays_never_change_after_they_are_handed_out():
    """A Bokeh source may hold the arrays as they are: neither the sender nor later sends may change them."""
    rows = Rows(("x",), length=2)
    given = np.array([1.0, 2.0])
    rows.send({"x": given})
    given[0] = 99.0
    held = rows.arrays["x"]
    assert held.tolist() == [1.0, 2.0]
    rows.send({"x": [3.0]})
    rows.replace({"x": given})
    given[1] = 98.0
    assert rows.arrays["x"].tolist() == [99.0, 2.0]
    rows.clear()
    assert held.tolist() == [1.0, 2.0]


def test_rows_refuse_wrong_columns_and_ragged_rows_and_keep_what_they_hold():
    rows = Rows(("examples_seen", "test_err"), length=10)
    rows.send({"examples_seen": [1], "test_err": [50]})
    seen = rows_seen(rows)
    with pytest.raises(KeyError, match=r"missing \['test_err'\]"):
        rows.send({"examples_seen": [2]})
    with pytest.raises(KeyError, match=r"unknown \['train_err'\]"):
        rows.replace({"examples_seen": [2], "test_err": [40], "train_err": [3]})
    with pytest.raises(ValueError, match="differ in length"):
        rows.send({"examples_seen": [2, 3], "test_err": [40]})
    assert seen == [] and rows.arrays["test_err"].tolist() == [50.0]
    with pytest.raises(ValueError, match="distinct"):
        Rows(("x", "x"), length=3)
    with pytest.raises(ValueError, match=">= 0"):
        Rows(("x",), length=-1)


def test_a_failing_subscriber_of_rows_still_leaves_the_rows_sent():
    rows = Rows(("x",), length=5)

    def broken():
        raise RuntimeError("plot broke")

    rows.add_subscriber(broken)
    seen = rows_seen(rows)
    with pytest.raises(RuntimeError):
        rows.send({"x": [1.0]})
    assert rows.arrays["x"].tolist() == [1.0] and seen == [{"x": [1.0]}]


def row(k):
    out = dict.fromkeys(scalar_columns(0), float("nan"))
    out.update(examples_seen=float(k), train_err=float(k % 7), loss_out=1.0 / k)
    return out


def test_a_series_thinning_its_rows_draws_once_with_the_whole_curve():
    series = Series(0)
    seen = rows_seen(series.scalars)
    series.send_rows([row(k) for k in range(1, MAX_ROWS)])
    assert not series.replace and len(seen) == 1
    series.send_rows([row(k) for k in range(MAX_ROWS, MAX_ROWS + 4)])
    assert series.replace and series.merge == 2 and len(seen) == 2, "one draw, not a clear and a send"
    x = seen[-1]["examples_seen"]
    assert len(x) == (MAX_ROWS + 3) // 2 + 1 and x[0] == 2.0 and x[-1] == MAX_ROWS + 3.0
    assert seen[-1]["train_err"][0] == pytest.approx(1.5)        # rows 1 and 2 merged: their mean
    series.restart(run_id=5)
    assert seen[-1] == {c: [] for c in series.columns} and len(series.scalars) == 0
