"""The page's Bokeh document passes Bokeh's layout checks.

deploy/serve.sh turns Bokeh's document validation and callback-signature checks off (they were a
fifth of every page's build), so they run here on the page a session gets, and on the explanations
drawer once opened (its texts are made on first opening).
"""
import weakref
from types import SimpleNamespace

import pytest

pytest.importorskip("panel")

from bokeh.core.validation.check import check_integrity  # noqa: E402
from bokeh.document import Document  # noqa: E402
from bokeh.io.doc import patch_curdoc  # noqa: E402
from panel.io.state import set_curdoc  # noqa: E402

from app import browsers  # noqa: E402
from app import page as page_mod  # noqa: E402
from app.opening import MAX_WAIT_S, Opening  # noqa: E402
from app.page import build_page  # noqa: E402
from tests.app.conftest import BrowserSession, pump  # noqa: E402


def _issues(doc):
    models = set()
    for root in doc.roots:
        models |= root.references()
    return check_integrity(models)


def test_the_page_document_has_no_layout_errors():
    doc = Document()
    with set_curdoc(doc):
        tpl = build_page()
        try:
            with doc.models.freeze():
                tpl.server_doc(doc, title="checks")
            issues = _issues(doc)
            assert issues.error == []
            # the plot cells and the drawer are empty until a run's figures (or a click) fill them
            assert {w.name for w in issues.warning} <= {"EMPTY_LAYOUT"}
            dash = tpl.dashboard
            assert dash.explain.tabs is None              # not built for a page that never opens it
            dash.explain.show_glossary()
            assert dash.explain.toggle.value and dash.explain.tabs.active == len(dash.explain.pages) - 1
            assert "Theorem 1" in dash.explain.texts[-1].object
            assert _issues(doc).error == []
        finally:
            tpl.dashboard.close()


def _browsers_page(monkeypatch, session=BrowserSession, opening=None):
    """A page built for a browser's session, with an opening tracker on a clock of the test's own."""
    clock = [100.0]
    opening = opening or Opening(clock=lambda: clock[0])
    monkeypatch.setattr(page_mod, "OPENING", opening)
    ctx, doc = session(), Document()
    doc._session_context = weakref.ref(ctx)
    with patch_curdoc(doc):
        tpl = page_mod.build_page()
    tpl.dashboard._test_session = ctx       # the document holds its context weakly
    return tpl.dashboard, doc, opening, clock


def test_a_browsers_page_sends_its_header_first_and_the_rest_once_the_pages_opening_with_it_are_out(monkeypatch):
    """The settings and the plot grid (more than half a page's build) wait while pages are opening."""
    dash, doc, opening, clock = _browsers_page(monkeypatch)
    try:
        # what goes out with the page: Play and the status line, no settings, no tabs
        assert dash.rest_waits and dash.tabs is None and dash.grid is None and dash.downloads is None
        assert [o.name for o in dash.settings.objects] == ["settings-loading"]
        assert [o.name for o in dash.below.objects] == ["plots-loading"]
        assert dash._buttons is not None and dash.status in dash.header.objects[1].objects
        other = opening.requested()               # another page of the class is on its way
        clock[0] += 1.0
        with patch_curdoc(doc):
            dash.tick()
        assert dash.rest_waits and dash.tabs is None, "the rest waits while a page is opening"
        opening.header_shown(other)               # its header is out: its rest and figures may wait
        opening.header_shown(dash._opening)
        clock[0] += 1.0                           # past the grace after the last request
        with patch_curdoc(doc):
            dash.tick()
        assert not dash.rest_waits and dash.below.objects == [dash.tabs]
        assert opening.busy() and not opening.busy(headers_only=True)   # the other page's rest is due
        opening.shown(other)
        assert not opening.busy(), "this page is complete but for its figures"
        assert dash.preset_box is not None and dash.downloads is not None and dash.panes["learning"].cells
        assert len(dash.settings.objects) > 10 and dash.settings.objects[0] is not None
        with patch_curdoc(doc):
            dash.tick()                           # once only
        assert dash.below.objects == [dash.tabs]
    finally:
        dash.close()


class PreviewSession(BrowserSession):
    """A chat service fetching the link to show a preview: it never runs the page's script."""
    request = SimpleNamespace(**{**vars(BrowserSession.request),
                                 "headers": {"User-Agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"}})


SIGNED = browsers.new_id()


class ServedSession(BrowserSession):
    """A page admitted by app/front_door.py, which names its browser (app/browsers.py)."""
    request = SimpleNamespace(**{**vars(BrowserSession.request), "dendrite_browser": SIGNED})


def test_a_link_preview_holds_back_no_other_page(monkeypatch):
    """A preview's page never connects, so the pages of the class do not wait for it (app/link_previews.py)."""
    preview, _, opening, clock = _browsers_page(monkeypatch, PreviewSession)
    try:
        assert preview._opening is None and not opening.busy()
        dash, doc, _, _ = _browsers_page(monkeypatch, ServedSession, opening=opening)
        try:
            assert dash._opening is not None
            # the browser's id reaches the session, whose tabs share that browser's training places
            assert dash.ctrl.browser == SIGNED and preview.ctrl.browser is None
            opening.header_shown(dash._opening)
            clock[0] += 1.0                       # past the grace after the browser page's request
            with patch_curdoc(doc):
                dash.tick()
            assert not dash.rest_waits and dash.tabs is not None, "the settings did not wait for the preview"
        finally:
            dash.close()
    finally:
        preview.close()


def test_a_page_that_never_stops_waiting_gets_the_rest_after_the_longest_wait(monkeypatch):
    dash, doc, opening, clock = _browsers_page(monkeypatch)
    try:
        for _ in range(int(MAX_WAIT_S) + 1):      # pages keep arriving, one a second
            opening.requested()
            clock[0] += 1.0
            with patch_curdoc(doc):
                dash.tick()
        assert not dash.rest_waits and dash.tabs is not None
    finally:
        dash.close()


def test_the_ghost_card_and_the_class_box_are_made_when_first_needed(tmp_path, monkeypatch):
    from app import class_experiment as cx
    from app.class_view import parse_grid_text

    monkeypatch.setenv("DENDRITE_SWEEPS_DIR", str(tmp_path))
    doc = Document()
    with set_curdoc(doc):
        tpl = build_page()
        dash = tpl.dashboard
        try:
            assert dash.ghost_card is None and dash._class_box is None
            n = len(dash.header.objects)
            dash.ctrl.ghost = "backprop"
            assert dash.header.objects[-1] is dash.ghost_card and len(dash.header.objects) == n + 1
            assert "backprop" in dash.ghost_card.objects[0].object and dash.ghost_card.visible
            dash.ctrl.ghost = "off"
            assert not dash.ghost_card.visible and len(dash.header.objects) == n + 1
            code = cx.create("glr17-1hl-rate", parse_grid_text("g_a=0,0.6"), examples=500, test_images=100)
            assert dash.ctrl.join_experiment(code), dash.ctrl.message
            dash.show_class_map(code)
            at = dash.header.objects.index(dash._class_box)
            assert dash.header.objects[at - 1] is dash.in_force and at > 1, "below Play and the run's description"
            assert dash._class_box.visible and len(dash.class_map.heat.figures) == 2
        finally:
            dash.close()


def test_a_students_class_maps_follow_with_the_settings(tmp_path, monkeypatch):
    """A class experiment's page goes out with its note beside Play; the maps (files read, two figures)
    come with the settings, once the pages opening together have their headers."""
    from app import class_experiment as cx
    from app.class_view import parse_grid_text
    monkeypatch.setenv("DENDRITE_SWEEPS_DIR", str(tmp_path))
    code = cx.create("glr17-1hl-rate", parse_grid_text("g_a=0,0.6"), examples=500, test_images=100)
    dash, doc, opening, clock = _browsers_page(monkeypatch)
    try:
        assert dash.ctrl.join_experiment(code), dash.ctrl.message
        dash.show_class_map(code)
        assert dash._class_box is not None and dash.class_map.heat is None, "the header went out without the maps"
        opening.header_shown(dash._opening)
        clock[0] += 1.0
        with patch_curdoc(doc):
            dash.tick()
        assert dash.downloads is not None and len(dash.class_map.heat.figures) == 2
        assert "Runs finished: 0 of 2" in dash.class_map.info.object
        framed = dict(dash.class_map.heat.mine.data)
        assert framed["x"], "the student's own cell is framed"
        # idle past CLAIM_IDLE_S, the point went to another student: Play moves the frame to the next point
        monkeypatch.setattr(cx, "CLAIM_IDLE_S", 0.0)
        monkeypatch.setattr(cx, "CLAIM_STALE_S", -1.0)
        with patch_curdoc(doc):
            dash.ctrl.poll()
            assert cx.claim(code, "another student").task["point"] == dash.ctrl._assignment.task["point"]
            monkeypatch.setattr(cx, "CLAIM_STALE_S", 60.0)   # the other student's claim is fresh
            dash.ctrl.start()
        assert dash.ctrl.running and dash.class_map.heat.mine.data["x"] != framed["x"]
        assert structural_locked(dash), "the point's settings are the class's"
        with patch_curdoc(doc):
            pump(dash.ctrl, lambda c: not c.in_experiment, timeout=120)
        assert "the settings are yours again" in dash.ctrl.experiment_note
        assert structural_locked(dash) is False, "a finished point's page gets its controls back"
        assert dash.class_map.heat.mine.data["x"] != framed["x"] and dash.class_map.heat.mine.data["x"], \
            "the finished point stays framed as the student's"
    finally:
        dash.close()


def structural_locked(dash) -> bool | None:
    """Whether the page's settings that start a new run (hidden layers among them) are read-only."""
    from app.look import param_widgets
    widgets = [w for pane in dash._param_panes if "hidden" in (getattr(pane, "parameters", None) or ())
               for w in param_widgets(pane).values() if "disabled" in w.param]
    return all(w.disabled for w in widgets) if widgets else None


def test_a_follower_finds_take_it_from_here_in_the_header_from_the_start(monkeypatch):
    """On a phone the settings are folded behind the menu: the button that ends following sits beside
    Play, in the part of the page that goes out first."""
    from app.controller import Controller, TrainingSlots
    from tests.app.conftest import NoTsne, pump
    presenter = Controller(slots=TrainingSlots(4), tsne=NoTsne(), preset="glr17-1hl-rate", hidden="30")
    dash = None
    try:
        presenter.activate()
        code = presenter.present()
        presenter.start()
        pump(presenter, lambda c: c.tracker.examples_seen >= 500, timeout=60)
        dash, doc, opening, clock = _browsers_page(monkeypatch)
        take = dash.share.take_button
        transport = dash.header.objects[1]
        assert take is not None and take in transport.objects and not take.visible, "hidden unless following"
        assert dash.downloads is None, "the header went out without the settings"
        assert dash.ctrl.follow(code)
        assert take.visible
        opening.header_shown(dash._opening)
        clock[0] += 1.0
        with patch_curdoc(doc):
            dash.tick()
        assert dash.downloads is not None and dash.share.banner.visible and not dash.share.share_button.visible
        assert all(w.disabled for p in dash._param_panes for w in p.layout.objects if "disabled" in w.param
                   and type(w).__name__ != "Markdown"), "the follower's controls are read-only"
        take.clicks += 1                              # "Take it from here"
        assert not dash.ctrl.following and not take.visible and dash.ctrl.engine is not None
    finally:
        if dash is not None:
            dash.close()
        presenter.close()
