"""A class experiment: three students fill three grid points, the heat map shows them, also after a restart."""
import json
import os

import pytest

pytest.importorskip("panel")

from dendcore.sweep import SweepError, load_sweep  # noqa: E402
from app import class_experiment as cx  # noqa: E402
from app.class_view import parse_grid_text  # noqa: E402
from app.controller import Controller, TrainingSlots  # noqa: E402
from app.sweep_view import SweepTable, value_label  # noqa: E402
from tests.app.conftest import NoTsne, finished_point, pump  # noqa: E402


@pytest.fixture
def sweeps(tmp_path, monkeypatch):
    monkeypatch.setenv("DENDRITE_SWEEPS_DIR", str(tmp_path))
    return tmp_path


def student():
    return Controller(slots=TrainingSlots(8), tsne=NoTsne())


def test_three_students_fill_three_points_and_the_map_shows_them(sweeps):
    code = cx.create("glr17-1hl-rate", parse_grid_text("g_a=0,0.6; feedback_scale=1,2"), examples=1500,
                     test_images=200)
    students = [student() for _ in range(3)]
    try:
        for s in students:
            assert s.join_experiment(code), s.message
        points = [s._assignment.task["point"] for s in students]
        assert len(set(points)) == 3, "each student gets a point of their own"
        # the settings are the point's, and fixed
        s0 = students[0]
        assert s0.g_a == s0._assignment.task["spec"]["g_a"]
        s0.g_a = 0.33
        assert s0.g_a != 0.33 and "grid point" in s0.message
        for s in students:
            s.start()
        for s in students:
            pump(s, lambda c: not c.in_experiment, timeout=120)
            assert "Grid point done" in s.experiment_note and not s.running
            assert "Grid point done" not in s.message, "said once, in the class box"
    finally:
        for s in students:
            s.close()
    definition, records = load_sweep(sweeps / f"class-{code}")
    assert sorted(r["point"] for r in records) == sorted(points)
    assert all(r["status"] == "ok" and r["examples_seen"] == 1500 and r["test_images"] == 200 for r in records)
    # a restarted server reads the same files: the heat map has three finished cells of four
    table = SweepTable(f"sweeps/class-{code}", *load_sweep(sweeps / f"class-{code}"))
    cells = table.cells("g_a", "feedback_scale")
    assert int(cells["n_ok"].sum()) == 3 and cells["err"].notna().sum() == 3
    # the fourth student gets the last point; a fifth finds none left
    late, later = student(), student()
    try:
        assert late.join_experiment(code)
        assert late._assignment.task["point"] not in points
        assert not later.join_experiment(code) and "taken or done" in later.message
    finally:
        late.close()          # a closed tab gives its point back
        later.close()
    again = student()
    try:
        assert again.join_experiment(code)
    finally:
        again.close()


def test_a_stale_claim_is_taken_over_and_bad_definitions_are_refused(sweeps, monkeypatch):
    code = cx.create("glr17-1hl-rate", [("g_a", ["0"])], examples=500)
    a = cx.claim(code, "tab-1")
    assert a is not None and cx.claim(code, "tab-2") is None
    monkeypatch.setattr(cx, "CLAIM_STALE_S", -1.0)      # tab-1 stopped refreshing its claim
    b = cx.claim(code, "tab-2")
    assert b is not None and json.loads(b.claim.read_text())["who"] == "tab-2"
    with pytest.raises(SweepError):
        cx.create("glr17-1hl-rate", [("g_a", ["0"])], examples=10**7)
    with pytest.raises(SweepError):
        cx.create("glr17-1hl-rate", [("g_a", [str(i / 100) for i in range(70)])], examples=100)
    with pytest.raises(SweepError):
        cx.create("glr17-1hl-rate", [("g_a", ["0"])], examples=100, code=code)


def test_a_page_idle_with_its_point_gives_it_back_and_play_takes_it_or_the_next(sweeps, monkeypatch):
    """Tabs opened only to hold grid points keep none: unplayed for CLAIM_IDLE_S, a claim is no longer
    refreshed, the next student takes it over, and the idle page's Play moves it to the next free point."""
    code = cx.create("glr17-1hl-rate", parse_grid_text("g_a=0,0.6"), examples=60_000, test_images=200)
    monkeypatch.setattr(cx, "HEARTBEAT_S", 0.0)          # every poll refreshes a claim that is kept
    hoarder, late, third = student(), student(), student()
    try:
        assert hoarder.join_experiment(code)
        first = hoarder._assignment
        pump(hoarder, lambda c: not c.building)
        old = first.claim.stat().st_mtime - 100.0
        os.utime(first.claim, (old, old))
        hoarder.poll()
        assert first.claim.stat().st_mtime > old, "refreshed while the page holds it within the idle time"
        monkeypatch.setattr(cx, "CLAIM_IDLE_S", 0.0)     # the page sat without Play since it joined
        os.utime(first.claim, (old, old))
        hoarder.poll()
        assert first.claim.stat().st_mtime == old, "an idle page no longer refreshes its claim"
        assert "free for the class again" in hoarder.experiment_note
        monkeypatch.setattr(cx, "CLAIM_STALE_S", 30.0)
        assert late.join_experiment(code)
        assert late._assignment.task["point"] == first.task["point"], "the late student takes the idle point"
        hoarder.start()       # Play: the point is the late student's now, so the hoarder gets the other one
        assert hoarder.running and hoarder.in_experiment
        assert hoarder._assignment.task["point"] != first.task["point"]
        assert "went to another student" in hoarder.message and "you train grid point 2" in hoarder.experiment_note
        cx.release(first)
        assert late._assignment.claim.exists(), "a superseded assignment never frees the new owner's claim"
        # a page idle while nobody needed its point takes the same point back
        late.poll()
        assert "free for the class again" in late.experiment_note
        late.start()
        assert late.running and late._assignment.task["point"] == first.task["point"]
        assert json.loads(first.claim.read_text())["who"] == late._assignment.who
        assert "you train grid point 1" in late.experiment_note
        # training keeps the claim however long it takes; a third student finds both points taken
        old = late._assignment.claim.stat().st_mtime - 100.0
        os.utime(late._assignment.claim, (old, old))
        late.poll()
        assert late._assignment.claim.stat().st_mtime > old
        assert not third.join_experiment(code) and "taken or done" in third.message
    finally:
        for s in (hoarder, late, third):
            s.close()


def test_one_browsers_tabs_take_at_most_two_points(sweeps, monkeypatch):
    """A student opening the link in many tabs takes two points (the training places one browser may use),
    not the class's: the third tab is told why; another browser, or a page without the front door, joins."""
    from app.presenting import PresentError
    code = cx.create("glr17-1hl-rate", parse_grid_text("g_a=0,0.05,0.1,0.6"), examples=500)
    a, b = "a" * 32, "b" * 32
    mine = [cx.claim(code, f"tab-{i}", browser=a, per_browser=2) for i in range(2)]
    assert all(m is not None for m in mine)
    with pytest.raises(PresentError, match="already train 2 of its grid points"):
        cx.claim(code, "tab-3", browser=a, per_browser=2)
    assert cx.claim(code, "other", browser=b, per_browser=2) is not None
    cx.release(mine[0])                                   # a closed tab: its browser may take another
    again = cx.claim(code, "tab-3", browser=a, per_browser=2)
    assert again is not None and json.loads(again.claim.read_text())["browser"] == a
    monkeypatch.setattr(cx, "CLAIM_STALE_S", -1.0)        # stale claims (closed or idle tabs) do not count
    assert cx.claim(code, "tab-4", browser=a, per_browser=2) is not None
    # a session says why on its page (the controller passes its browser)
    s = student()
    try:
        monkeypatch.setattr(cx, "CLAIM_STALE_S", 60.0)
        s.browser = a
        monkeypatch.setattr(cx, "PER_BROWSER", 1)
        assert not s.join_experiment(code) and "already train 1 of its grid points" in s.message
    finally:
        s.close()


def test_the_class_map_is_redrawn_in_place_only_when_a_result_lands(sweeps):
    from app.class_view import ClassMap
    code = cx.create("glr17-1hl-rate", parse_grid_text("g_a=0,0.6; feedback_scale=1,2"), examples=500,
                     test_images=200)
    mine = {"g_a": 0.6, "feedback_scale": 2}
    cmap = ClassMap(code, mine=mine)
    cmap.panel()
    cmap.start()
    heat = cmap.heat
    err = heat.sources[0]

    def at(x, y, column="value", source=err):
        return source.data[column][list(zip(source.data["x"], source.data["y"])).index((x, y))]

    assert len(err.data["x"]) == 4 and all(v != v for v in err.data["value"]), "no result yet: four grey cells"
    assert dict(heat.mine.data) == {"x": ["0.6"], "y": ["2"]}, "the student's own cell is framed"
    assert not cmap.refresh_if_changed(), "nothing changed: nothing read, nothing drawn"
    first = finished_point(code, 31.5)
    assert cmap.refresh_if_changed()
    x, y = value_label(first["grid"]["g_a"]), value_label(first["grid"]["feedback_scale"])
    assert cmap.heat is heat and heat.sources[0] is err, "the same figures, new data"
    assert at(x, y) == 31.5 and at(x, y, "text") == "31.5"
    assert at(x, y, source=heat.sources[1]) == pytest.approx(66.0), "the angle of the last row"
    assert "Runs finished: 1 of 4" in cmap.info.object
    second = finished_point(code, 12.0)
    assert cmap.refresh_if_changed() and not cmap.refresh_if_changed()
    x2, y2 = value_label(second["grid"]["g_a"]), value_label(second["grid"]["feedback_scale"])
    assert at(x2, y2) == 12.0 and at(x, y) == 31.5
    mapper = heat.mappers[0]
    assert (mapper.low, mapper.high) == (12.0, 31.5), "the colour scale spans the finished cells"
    assert at(x, y, "text_color") == "white" and at(x2, y2, "text_color") == "#222222", \
        "white text on the dark end of the scale"
    cmap.stop()


def test_the_sweeps_tab_follows_a_class_experiment_and_keeps_the_cell_shown(sweeps):
    from app.sweep_view import SweepView
    code = cx.create("glr17-1hl-rate", parse_grid_text("g_a=0,0.6; feedback_scale=1,2"), examples=500,
                     test_images=200)
    first = finished_point(code, 40.0)
    view = SweepView()                  # the teacher's tab, projected
    view.rescan()
    assert view.open(f"sweeps/class-{code}")
    view.x_axis.value = "feedback_scale"      # the teacher turned the map around
    x, y = value_label(first["grid"]["feedback_scale"]), value_label(first["grid"]["g_a"])
    assert view.select(x, y) and "1 of 1 runs finished" in view.cell_info.object
    assert not view.refresh_if_changed()
    finished_point(code, 20.0)
    assert view.refresh_if_changed(), "a student's result redraws the projected map"
    assert "Runs finished: 2 of 4" in view.info.object
    assert view.table.axes(view.x_axis.value, view.y_axis.value) == ("feedback_scale", "g_a")
    assert view.selected == (x, y) and "test error 40.00 %" in view.cell_info.object, "the cell shown stays shown"


def test_a_long_budget_measures_the_test_error_every_fifth_of_it(sweeps):
    from app.class_runs import experiment_test_every
    assert experiment_test_every(60_000, 2500) == 12_000
    assert experiment_test_every(13_000, 2500) == 3000, "rounded up to a step of 500"
    assert experiment_test_every(5000, 2500) == 2500 and experiment_test_every(60_000, 20_000) == 20_000, \
        "never more often than the page's setting"
    code = cx.create("glr17-1hl", parse_grid_text("g_a=0,0.6"), examples=40_000)
    s = student()
    try:
        assert s.join_experiment(code)
        assert s.test_every == 8000 and s.settings()["test_every"] == 8000
    finally:
        s.close()


def test_a_new_experiment_is_listed_on_a_crowded_server_and_creating_is_rate_limited(sweeps, monkeypatch):
    """A term of classes (or a student clicking Create in a loop) leaves more experiments than the Sweeps
    list shows: the newest are the ones listed, so the teacher's new one opens; one page makes only a few at
    once, then one every few minutes, and the pages of one school address a few more together, each
    refusal saying when the next can be made."""
    import os
    from app import class_view
    from app.class_view import CreateForm
    from app.ratelimit import CountBuckets
    from app.sweep_view import MAX_LISTED, SweepView, list_sweeps

    for i in range(MAX_LISTED + 20):        # older ones, named before any code ("0" is not in the alphabet)
        d = sweeps / f"class-0{i:04d}"
        d.mkdir()
        (d / "sweep.json").write_text("{}")
        os.utime(d / "sweep.json", (1_000_000 + i, 1_000_000 + i))
    clock = [0.0]
    monkeypatch.setattr(class_view, "PAGE_CREATIONS", CountBuckets(burst=2, every_s=120, clock=lambda: clock[0]))
    monkeypatch.setattr(class_view, "CREATIONS", CountBuckets(burst=3, every_s=20, clock=lambda: clock[0]))
    created = []
    form = CreateForm(on_created=created.append, client=lambda: "10.0.0.7")
    form.grid.value = "g_a=0,,"
    for _ in range(3):
        assert form.create() is None and "Cannot create it" in form.message.object     # costs nothing
    form.grid.value = "g_a=0,0.6"
    form.examples.value = 500
    for _ in range(2):
        assert form.create() is not None and not form.message.visible
    names = [n for n in list_sweeps() if n.startswith("sweeps/")]
    assert len(names) == MAX_LISTED and all(f"sweeps/class-{c}" in names for c in created), "the newest are listed"
    assert "sweeps/class-00000" not in names and names == sorted(names)
    view = SweepView()
    view.rescan()
    assert view.open(f"sweeps/class-{created[-1]}")

    assert form.create() is None and form.message.visible
    assert "this page made 2 class experiments" in form.message.object and "120 s" in form.message.object
    assert len(created) == 2
    # another page of the same school address: the address's third, then the address is held back
    teacher = CreateForm(client=lambda: "10.0.0.7")
    assert teacher.create() is not None
    assert teacher.create() is None and "3 class experiments were made from this network" in teacher.message.object
    assert "20 s" in teacher.message.object
    assert CreateForm(client=lambda: "10.0.0.8").create() is not None, "another address is not held back"
    clock[0] = 20.0
    assert teacher.create() is not None, "a page that the address held back was not charged for it"
    clock[0] = 60.0
    assert form.create() is None and "60 s" in form.message.object
    clock[0] = 121.0
    assert form.create() is not None and not form.message.visible


def test_count_buckets_refill_and_forget_the_oldest_clients():
    from app.ratelimit import CountBuckets
    clock = [0.0]
    b = CountBuckets(burst=3, every_s=10, max_clients=2, clock=lambda: clock[0])
    assert [b.take("a") for _ in range(4)] == [0.0, 0.0, 0.0, 10.0]
    clock[0] = 5.0
    assert b.take("a") == 5.0
    clock[0] = 25.0
    assert [b.take("a") for _ in range(3)] == [0.0, 0.0, 5.0]       # 2.5 by now: two, and half of a third
    b.take("b"), b.take("c")            # "a" is the least recently seen of three: forgotten, full again
    assert len(b) == 2 and b.take("a") == 0.0
    with pytest.raises(ValueError):
        CountBuckets(burst=0, every_s=10)
