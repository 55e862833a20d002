"""The comparison lab in Debian's headless Chromium: a ghost run, an experiment card, a sweep's heat map.

Screenshots go to ``screenshots/`` (git-ignored) for a person to look at.
"""
import re
import time
from pathlib import Path

import pytest

pytest.importorskip("panel")
sync_api = pytest.importorskip("playwright.sync_api")

from tests.system.conftest import (CHROMIUM, SHOTS, examples_seen, from_every_model, in_force_text,  # noqa: E402
                                   plot_titles, settled, wait_until, wait_until_open)
from tests.app.conftest import finished_point, make_tiny_sweep  # noqa: E402
from tests.system.conftest import served_app  # noqa: E402

pytestmark = pytest.mark.browser

GHOST_SEEN = re.compile(r"ghost \(([^)]*)\): examples seen (\d+)")

# the data length of the line behind a legend entry (Bokeh draws on a canvas; its models hold the data)
LEGEND_DATA = """label => {
    for (const doc of (window.Bokeh ? window.Bokeh.documents : [])) {
        for (const m of doc._all_models.values()) {
            if (m.label != null && m.label.value === label && m.renderers != null && m.renderers.length) {
                const r = m.renderers[0];
                return {visible: m.visible && r.visible, n: r.data_source.data.x.length};
            }
        }
    }
    return null;
}"""

# page coordinates of the centre of a heat-map cell, from the figure's own scales
CELL_XY = """([title, xf, yf]) => {
    for (const doc of (window.Bokeh ? window.Bokeh.documents : [])) {
        for (const m of doc._all_models.values()) {
            if (m.title != null && m.title.text === title && m.x_range != null) {
                const view = Bokeh.index.find_one(m);
                if (view == null) return null;
                const fr = view.frame;
                const sx = fr.x_scale.compute(fr.x_range.synthetic(xf));
                const sy = fr.y_scale.compute(fr.y_range.synthetic(yf));
                const box = view.canvas_view.el.getBoundingClientRect();
                return [box.left + sx, box.top + sy];
            }
        }
    }
    return null;
}"""


def server_errors(log: Path) -> list[str]:
    """Tracebacks in the server log, except tornado's when it writes to a tab that was just closed."""
    out = []
    for block in re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d)", log.read_text()):
        if "Traceback" in block and not ("tornado" in block and re.search(r"WebSocketClosedError|StreamClosedError",
                                                                           block)):
            out.append(block)
    return out


# the texts of every model in one JavaScript turn: both status lines as of the same moment
MODEL_TEXTS = """() => {
    const out = [];
    for (const doc of (window.Bokeh ? window.Bokeh.documents : []))
        for (const m of doc._all_models.values())
            if (typeof m.text === "string") out.push(m.text);
    return out.join("\\n");
}"""


def both_seen(page) -> tuple[int, int]:
    """(main run, ghost) examples seen, read together: two reads in turn would let the page move between them."""
    text = page.evaluate(MODEL_TEXTS)
    main, ghost = re.search(r"examples seen: (\d+)", text), GHOST_SEEN.search(text)
    assert main and ghost, text[:500]
    return int(main.group(1)), int(ghost.group(2))


def ghost_seen(page) -> tuple[str, int] | None:
    loc = page.get_by_text(GHOST_SEEN)
    if not loc.count():
        return None
    m = GHOST_SEEN.search(loc.first.inner_text(timeout=5_000))
    return (m.group(1), int(m.group(2))) if m else None


@pytest.fixture(scope="module")
def sweeps_root(tmp_path_factory):
    pytest.importorskip("distributed")
    root = tmp_path_factory.mktemp("browser-sweeps")
    res = make_tiny_sweep(root / "tiny")
    assert res.returncode == 1, res.stderr       # one run fails on purpose
    return root


@pytest.fixture(scope="module")
def server(sweeps_root):
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed")
    with served_app("--check-unused-sessions", "1000", "--unused-session-lifetime", "10000",
                    env={"DENDRITE_SWEEPS_DIR": str(sweeps_root)}) as srv:
        yield srv


def open_page(browser, url):
    page = browser.new_page(viewport={"width": 1900, "height": 2600})
    page.set_default_timeout(30_000)
    page.goto(url, timeout=60_000)
    wait_until_open(page)
    return page


def test_ghost_curve_advances_beside_the_main_run(server, browser):
    base, log = server
    page = open_page(browser, f"{base}/app?preset=glr17-1hl-rate&hidden=100")
    assert ghost_seen(page) is None
    page.locator(".dl-ghost select").first.select_option(label="backprop")
    page.get_by_text("Ghost run: backprop. Both runs started again").first.wait_for(timeout=20_000)
    page.get_by_text("What the ghost run compares").first.wait_for(timeout=10_000)
    assert "ghost=backprop" in page.url
    wait_until(lambda: ghost_seen(page) == ("backprop", 0), 30, "the ghost's status line")

    page.get_by_role("button", name="▶ Play").click()
    page.mouse.move(5, 2500)
    first = wait_until(lambda: (g := ghost_seen(page)) and g[1] > 0 and g[1], 30, "the ghost to train")
    wait_until(lambda: ghost_seen(page)[1] > first + 2000, 30, "the ghost to keep training")
    curve = wait_until(lambda: (d := page.evaluate(LEGEND_DATA, "ghost: training")) and d["n"] >= 3 and d,
                       30, "the ghost's training curve in the error plot")
    assert curve["visible"]
    wait_until(lambda: page.evaluate(LEGEND_DATA, "ghost: training")["n"] > curve["n"], 30,
               "the ghost's curve to advance")
    # the main run goes on beside it, and the ghost never gets ahead
    main, ghost = both_seen(page)
    assert main >= ghost > 0
    wait_until(lambda: "angle to backprop 0°" in page.get_by_text(GHOST_SEEN).first.inner_text(), 30,
               "the backprop ghost's angle to backprop (0°)")
    time.sleep(1.0)
    page.screenshot(path=str(SHOTS / "lab-01-ghost.png"))

    page.get_by_role("button", name="‖ Pause").click()
    paused = settled(lambda: (examples_seen(page), ghost_seen(page)[1]), "both runs to stop")
    time.sleep(1.5)
    assert (examples_seen(page), ghost_seen(page)[1]) == paused, "Pause stops both runs"

    page.locator(".dl-ghost select").first.select_option(label="off")
    page.get_by_text("Ghost run off").first.wait_for(timeout=10_000)
    wait_until(lambda: ghost_seen(page) is None, 10, "the ghost's status line to go")
    wait_until(lambda: not page.evaluate(LEGEND_DATA, "ghost")["visible"], 10, "the ghost's curves to go")
    wait_until(lambda: re.search(r"ghost-\w+-engine: engine thread stopped", log.read_text()), 10,
               "the ghost's thread to stop")
    page.close()


def test_experiment_card_loads_a_comparison_and_shows_results(server, browser):
    base, log = server
    page = open_page(browser, f"{base}/app")
    page.get_by_text("The paper's experiments", exact=True).click()
    card = page.locator(".dl-card-symmetric")
    card.get_by_text("3.6 % test error after 60 epochs").first.wait_for(timeout=20_000)
    page.screenshot(path=str(SHOTS / "lab-02-cards.png"))
    card.get_by_role("button", name="▶ Compare live in rate mode (fast)").click()
    wait_until(lambda: "784-500-10 · rate" in in_force_text(page), 30, "the rate preset to load")
    wait_until(lambda: (g := ghost_seen(page)) and g[0] == "symmetric Y", 30, "the symmetric ghost")
    assert "preset=glr17-1hl-rate" in page.url and "ghost=symmetric" in page.url
    page.get_by_role("button", name="▶ Play").click()
    page.mouse.move(5, 2500)
    wait_until(lambda: "test error: not measured" not in page.get_by_text(re.compile("examples seen: ")).first
               .inner_text(), 60, "a test measurement")
    page.get_by_text("The paper's experiments", exact=True).click()
    wait_until(lambda: card.get_by_text(re.compile(r"your run: [\d.]+ % at")).count() > 0, 30,
               "the card to show the run's test error")
    wait_until(lambda: card.get_by_text(re.compile(r"your ghost run: [\d.]+ % at")).count() > 0, 30,
               "the card to show the ghost's test error")
    time.sleep(0.5)
    page.screenshot(path=str(SHOTS / "lab-03-card-results.png"))
    page.get_by_role("button", name="‖ Pause").click()
    page.close()
    assert not server_errors(log)


def test_sweep_heat_map_and_click_through(server, browser):
    base, log = server
    page = open_page(browser, f"{base}/app")
    page.get_by_text("Sweeps", exact=True).click()
    chooser = page.locator("select").filter(has_text="sweeps/tiny").first
    chooser.wait_for(timeout=20_000)
    options = chooser.locator("option").all_inner_texts()
    assert "sweeps/tiny" in options and any(o.startswith("examples/") for o in options)
    chooser.select_option("sweeps/tiny")
    page.get_by_text("Runs finished: 11 of 12, 1 failed").first.wait_for(timeout=20_000)
    xy = wait_until(lambda: page.evaluate(CELL_XY, ["final test error (%)", "0.6", "1"]), 30, "the heat map")
    time.sleep(0.5)
    page.screenshot(path=str(SHOTS / "lab-04-sweep.png"))
    page.mouse.click(*xy)
    page.get_by_text("g_a = 0.6, feedback_scale = 1").first.wait_for(timeout=20_000)
    assert page.get_by_text(re.compile(r"seed 1: test error [\d.]+ %")).count() > 0
    wait_until(lambda: plot_titles(page, "Training error (lines)"), 30, "the runs' curves")
    # the other map, a cell with a failed run
    xy = page.evaluate(CELL_XY, ["final angle to backprop (°)", "0.6", "2"])
    page.mouse.click(*xy)
    page.get_by_text("deliberate failure").first.wait_for(timeout=20_000)
    time.sleep(1.0)
    page.screenshot(path=str(SHOTS / "lab-05-sweep-click.png"))
    page.close()
    assert not server_errors(log)


# the texts drawn on the heat maps' cells (their sources' "text" column), every document of the page
CELL_TEXTS = from_every_model("m.data != null && m.data.text != null && m.data.n_ok != null", "...m.data.text")


def test_class_maps_fill_in_on_the_teachers_and_a_students_page(server, sweeps_root, browser, monkeypatch):
    """A student's result, written by another server process (here the test), reaches the teacher's projected
    Sweeps tab and another student's class box by itself: no ↻, no reload."""
    from app import class_experiment as cx
    from app.class_view import parse_grid_text
    base, log = server
    monkeypatch.setenv("DENDRITE_SWEEPS_DIR", str(sweeps_root))
    code = cx.create("glr17-1hl-rate", parse_grid_text("g_a=0,0.6"), examples=500, test_images=100)
    teacher = open_page(browser, f"{base}/app")
    teacher.get_by_text("Sweeps", exact=True).click()
    chooser = teacher.locator("select").filter(has_text=f"sweeps/class-{code}").first
    chooser.wait_for(timeout=20_000)
    chooser.select_option(f"sweeps/class-{code}")
    teacher.get_by_text("Runs finished: 0 of 2").first.wait_for(timeout=20_000)
    student = open_page(browser, f"{base}/app?experiment={code}")     # takes one grid point
    student.get_by_text("Runs finished: 0 of 2").first.wait_for(timeout=20_000)
    finished_point(code, 23.5)          # a student on another server; the page took the other point
    teacher.get_by_text("Runs finished: 1 of 2").first.wait_for(timeout=30_000)
    student.get_by_text("Runs finished: 1 of 2").first.wait_for(timeout=30_000)
    wait_until(lambda: "23.5" in student.evaluate(CELL_TEXTS), 15, "the result on the student's map")
    student.screenshot(path=str(SHOTS / "lab-06-class-map-student.png"))
    teacher.screenshot(path=str(SHOTS / "lab-07-class-map-teacher.png"))
    student.close()
    teacher.close()
    assert not server_errors(log)


def test_a_teacher_makes_a_class_experiment_and_a_loop_of_clicks_is_held_back(server, browser):
    """The Sweeps tab's form: the link to hand out with its QR code, the new experiment open below it;
    clicking Create again and again makes five, then says when the next can be made."""
    base, log = server
    page = open_page(browser, f"{base}/app")
    page.get_by_text("Sweeps", exact=True).click()
    page.get_by_text("Class experiment", exact=True).first.click()          # the card opens
    create = page.get_by_role("button", name="Create the class experiment")
    create.click()
    page.get_by_text("Each student opens").first.wait_for(timeout=20_000)
    link = page.get_by_text(re.compile(r"/app\?experiment=[A-Z0-9]{5}$")).first.inner_text()
    code = link.rsplit("=", 1)[1]
    assert page.get_by_role("img", name="QR code of the experiment link").count() == 1
    page.get_by_text(f"sweeps/class-{code}: preset").first.wait_for(timeout=20_000)    # opened below
    page.get_by_text("Runs finished: 0 of 9").first.wait_for(timeout=20_000)
    for made in range(2, 7):
        create.click()
        if made <= 5:
            wait_until(lambda: page.get_by_text(re.compile(r"/app\?experiment=[A-Z0-9]{5}$")).first.inner_text()
                       != link, 20, f"experiment {made}")
            link = page.get_by_text(re.compile(r"/app\?experiment=[A-Z0-9]{5}$")).first.inner_text()
    page.get_by_text(re.compile(r"Not made: this page made 5 class experiments")).first.wait_for(timeout=20_000)
    page.screenshot(path=str(SHOTS / "lab-08-class-experiment-made.png"))
    page.close()
    assert not server_errors(log)
