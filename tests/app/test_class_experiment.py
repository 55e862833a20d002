"""A class experiment: three students fill three grid points, the heat map shows them, also after a restart."""
import json

import pytest

pytest.importorskip("panel")

from dendcore.sweep import SweepError, load_sweep  # noqa: E402
from app import class_experiment as cx  # noqa: E402
from app.class_view import parse_grid_text  # noqa: E402
from app.controller import Controller, TrainingSlots  # noqa: E402
from app.sweep_view import SweepTable  # noqa: E402
from tests.app.conftest import NoTsne, pump  # noqa: E402


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
            assert "Grid point done" in s.message and not s.running
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
