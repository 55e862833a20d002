"""A public classroom instance: the class-full experience, the run-length limit, bad input and safety.

Three layers: the controller and page without a server (fast), ``deploy/serve.sh`` as a subprocess
(routes that must not exist), and Debian's Chromium on a server started with
``DENDRITE_MAX_TRAININGS=1`` (two pages: one trains, one watches).  Screenshots go to ``screenshots/``.
"""
import html
import os
import re
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("panel")

ROOT = Path(__file__).resolve().parents[2]

import panel as pn  # noqa: E402

from dendcore import PRESETS, Trainer  # noqa: E402
from app.controller import PLACE_FREE, Controller, TrainingSlots  # noqa: E402
from app.seats import MAX_PER_CORE  # noqa: E402
from tests.app.conftest import NoTsne, pump  # noqa: E402

GARBAGE = {"hidden": "abc", "g_a": "1e308", "lr_hidden": "-5", "dataset": "../../etc/passwd", "seed": "NaN"}


def make(slots, **params):
    params.setdefault("preset", "glr17-1hl-rate")
    params.setdefault("hidden", "20")
    return Controller(slots=slots, tsne=NoTsne(), **params)


@pytest.fixture
def closing():
    """Controllers (and pages) made by a test are closed after it, and their threads must end."""
    made = []
    yield made
    for c in made:
        c.close()
    for c in made:
        if c.engine is not None:
            assert c.engine.stopped.wait(5), "an engine thread outlived its session"


def seen(c: Controller) -> int:
    return c.last_snapshot.examples_seen if c.last_snapshot is not None else 0


# ------------------------------------------------------------------ the class is full
def test_class_full_session_watches_then_plays_when_a_place_frees(closing):
    slots = TrainingSlots(1)
    a, b = make(slots), make(slots)
    closing += [a, b]
    a.activate()
    b.activate()
    a.start()
    assert a.running and slots.in_use == 1
    b.start()
    assert not b.running and b.watching and slots.in_use == 1
    assert b.class_note.startswith("The class is full — you can watch: 1 network is training")
    assert "Step" in b.class_note and b.class_note_kind == "warning"
    assert "class is full" in b.message
    pump(b, lambda c: c.run is not None)
    assert "watching (the class is full)" in b.status
    # the note stays however many other notices come and go (it is not a toast)
    b.notify("Something else happened.")
    for _ in range(5):
        b.poll()
        time.sleep(0.05)
    assert b.class_note.startswith("The class is full") and b.message == "Something else happened."
    # watching is real: Step trains this network, without taking a training place
    b.step_once()
    pump(b, lambda c: seen(c) == 1)
    b.step_once()
    pump(b, lambda c: seen(c) == 2)
    assert not b.running and b.watching and slots.in_use == 1
    # a place frees up: the note says so, and Play works
    pump(a, lambda c: seen(c) > 0)
    a.stop()
    b.notify("The class is full — ▶ Play was refused for now; see the note above.", "warning")
    pump(b, lambda c: c.class_note == PLACE_FREE)
    assert b.class_note_kind == "success" and b.message == "", "no stale refusal beside the good news"
    b.start()
    assert b.running and not b.watching and b.class_note == "" and slots.in_use == 1
    pump(b, lambda c: seen(c) > 200)
    # and now the other one watches
    a.start()
    assert a.watching and not a.running
    b.stop()
    pump(a, lambda c: c.class_note == PLACE_FREE)
    b.start()                   # taken again before a pressed Play: a's note goes back to "full"
    pump(a, lambda c: c.class_note.startswith("The class is full"))
    for c in (a, b):
        c.close()
    assert slots.in_use == 0


def test_a_watching_page_shows_the_whole_reference_run(closing):
    """On the page: the class-full note is an element of its own, and the error plot shows the whole
    60-epoch reference curve (while training, the curve only runs a little ahead of the run)."""
    from app.page import build_page

    slots = TrainingSlots(1)
    holder = make(slots)
    closing.append(holder)
    holder.start()
    c = make(slots, preset="glr17-1hl", hidden="500")      # the preset's own network: a reference exists
    closing.append(c)
    dash = build_page(controller=c).dashboard
    try:
        c.activate()
        c.start()
        assert c.watching
        note = dash.class_note.get_root()
        assert "The class is full — you can watch" in html.unescape(note.text) and dash.class_note.visible

        def reference_x():
            dash.tick()
            src = dash.plots._h.get("paper_src") if dash.plots is not None else None
            return np.asarray(src.data["x"]) if src is not None else np.zeros(0)

        t0 = time.perf_counter()
        while (reference_x().size == 0 or dash._to_attach) and time.perf_counter() - t0 < 60:
            time.sleep(0.05)
        x = reference_x()
        assert x.size and x.max() >= 59 * 60000, "the whole 60-epoch reference is drawn while watching"
        holder.stop()
        c.start()
        assert c.running
        # (the shipped curve starts after one epoch, so early in a run none of it is drawn)
        t0 = time.perf_counter()
        while reference_x().max(initial=0) > 1e6 and time.perf_counter() - t0 < 30:
            time.sleep(0.05)
        assert reference_x().max(initial=0) < 1e6, "training: the reference follows the run again"
        assert dash.plots.errors == 0
    finally:
        dash.close()


# ------------------------------------------------------------------ the run-length limit
def test_run_length_limit_stops_the_run_and_frees_its_place(closing, monkeypatch):
    from app import engine
    monkeypatch.setattr(engine, "MAX_EPOCHS", 2000 / 60000)        # 2,000 examples
    slots = TrainingSlots(1)
    c, other = make(slots), make(slots)
    closing += [c, other]
    c.activate()
    c.start()
    pump(c, lambda c: "longest run" in c.message)
    assert c.message.startswith("Stopped after 0.0333333 epochs (2000 examples)")
    assert not c.running and seen(c) == 2000 and slots.in_use == 0
    assert "paused" in c.status
    # the place is free for someone else at once
    other.start()
    assert other.running and slots.in_use == 1
    # Play on a finished run says why instead of taking a place (or claiming the class is full)
    c.notify("")
    c.start()
    assert not c.running and not c.watching and "longest run" in c.message and slots.in_use == 1
    time.sleep(0.3)
    c.poll()
    assert seen(c) == 2000
    # Reset starts a new run, which trains again, up to the same limit
    other.stop()
    c.restart()
    c.start()
    pump(c, lambda c: c.run is not None and c.run.run_id == 2 and seen(c) > 0)
    pump(c, lambda c: not c.running and "longest run" in c.message)
    assert seen(c) == 2000 and slots.in_use == 0


@pytest.mark.parametrize("env, epochs, cap", [
    ({"DENDRITE_MAX_EPOCHS": "0.5", "DENDRITE_MAX_TRAININGS": "3"}, 0.5, 3),
    ({"DENDRITE_MAX_EPOCHS": "abc", "DENDRITE_MAX_TRAININGS": "2.5"}, 100.0, None),
    ({"DENDRITE_MAX_EPOCHS": "-1", "DENDRITE_MAX_TRAININGS": "0"}, 100.0, None),
    ({"DENDRITE_MAX_EPOCHS": "nan", "DENDRITE_MAX_TRAININGS": "inf"}, 100.0, None),
])
def test_limits_come_from_the_environment_and_typos_are_reported(env, epochs, cap):
    code = ("import app.engine as e, app.controller as c, app.seats as s, os; "
            "print(e.MAX_EPOCHS, c.SLOTS.capacity, os.cpu_count(), s.CAP_FROM_ENV)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **env},
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    got_epochs, got_cap, cpus, from_env = r.stdout.split()
    assert float(got_epochs) == epochs
    # a typo leaves the cap to the server (the upper bound until the warm-up measures the machine)
    assert int(got_cap) == (cap if cap is not None else MAX_PER_CORE * int(cpus))
    assert from_env == str(cap is not None)
    bad = [k for k, v in env.items() if (k.endswith("EPOCHS") and epochs == 100.0) or (k.endswith("TRAININGS") and cap is None)]
    for name in bad:
        assert name in r.stderr, f"a bad {name} must be reported"


# ------------------------------------------------------------------ bad links
def test_garbage_link_values_get_a_message_and_the_defaults(closing):
    c = make(TrainingSlots(1), preset="glr17-1hl", hidden="500")
    closing.append(c)
    values = {**GARBAGE, "test_every": "inf", "test_images": "1e9", "preset": "x" * 5000, "mode": "[1, 2]",
              "feedback": None, "not_a_control": "1"}
    bad = c.apply_settings(values)
    assert {b.split("=")[0] for b in bad} == set(values) - {"not_a_control"}
    assert c.message_kind == "warning" and c.message.startswith("The link contained values this page cannot use")
    for name in GARBAGE:
        assert f"{name}=" in c.message
    assert "'../../etc/passwd'" in c.message and len(c.message) < 1000, "long values are cut short"
    assert c.build_spec() == PRESETS["glr17-1hl"].spec and (c.seed, c.dataset) == (0, "mnist")
    # a working default: the network builds and trains
    c.activate()
    c.start()
    pump(c, lambda c: seen(c) > 0, timeout=60)


def test_garbage_link_through_the_location_sync(closing):
    """The path the page takes: the query string read once, then kept in sync (and rewritten)."""
    from panel.io.location import Location
    from app.controller import URL_PARAMS

    c = make(TrainingSlots(1))
    closing.append(c)
    loc = Location(search="?" + "&".join(f"{k}={v}" for k, v in GARBAGE.items()) + "&feedback_scale=2")
    c.apply_settings(dict(loc.query_params))
    loc.sync(c, {n: n for n in URL_PARAMS}, on_error=c.url_errors)
    for part in ("hidden='abc'", "seed=", "g_a=", "lr_hidden=", "dataset='../../etc/passwd'"):
        assert part in c.message, part
    assert (c.hidden, c.g_a, c.lr_hidden, c.seed, c.dataset) == ("20", 0.0, 0.21, 0, "mnist")
    assert c.feedback_scale == 2.0, "the good value of the link is applied"
    q = dict(loc.query_params)
    assert (q["dataset"], str(q["hidden"]), float(q["g_a"])) == ("mnist", "20", 0.0), \
        "the address bar is rewritten to the values in force"


def test_a_partly_bad_link_change_keeps_controls_and_network_consistent(closing):
    """param applies a batch up to its first bad value without running any watcher; the page's
    on_error hook must make the network follow the values that did get set."""
    from panel.io.location import Location
    from app.controller import URL_PARAMS

    c = make(TrainingSlots(1))
    closing.append(c)
    loc = Location(search="")
    loc.sync(c, {n: n for n in URL_PARAMS}, on_error=c.url_errors)
    c.activate()
    pump(c, lambda c: c.run is not None)
    loc.search = "?hidden=30&g_a=5"          # what a browser (or a hand-made client) may send later
    assert c.hidden == "30" and c.g_a == 0.0
    assert "g_a=5" in c.message
    pump(c, lambda c: c.run is not None and c.run.spec.hidden == (30,))
    assert "784-30-10" in c.in_force


def test_messages_render_as_text_not_markup(closing):
    from app.page import build_page

    c = make(TrainingSlots(1))
    closing.append(c)
    dash = build_page(controller=c).dashboard
    try:
        c.apply_settings({"hidden": "<img src=x onerror=alert(1)>", "mode": "[x](javascript:alert(1))",
                          "rule": "*bold* http://evil.example $x^2$"})
        rendered = dash.alert.get_root().text            # HTML the browser will insert
        assert "<img" not in html.unescape(rendered).replace("&lt;img", "")
        shown = html.unescape(html.unescape(rendered))
        assert "<img src=x onerror=alert(1)>" in shown, "the value is shown, as text"
        for tag in ("<a ", "<em>", "<strong>", "<img "):
            assert tag not in html.unescape(rendered), tag
    finally:
        dash.close()


def test_refusals_from_the_browser_are_explained():
    c = make(TrainingSlots(1))
    try:
        for change, words in [({"g_a": 5.0}, ["Apical coupling g_a", "outside 0 to 1", "back at 0"]),
                              ({"seed": 10 ** 9}, ["Seed", "outside 0 to 1,000,000"]),
                              ({"test_images": 10 ** 7}, ["Test images", "outside 100 to 10,000"]),
                              ({"mode": "quantum"}, ["Neurons", "'quantum'", "refused"])]:
            with pytest.raises(ValueError) as err:
                c.param.update(**change)
            text = c.explain_refusal(err.value)
            for w in words:
                assert w in text, (w, text)
        assert "beyond the largest" in c.explain_refusal(ValueError(
            "Number parameter 'EditableFloatSlider.value' must be at most 1.0, not 5."))
        assert "not one of the choices" in c.explain_refusal(ValueError("/etc not in list"))
    finally:
        c.close()


# ------------------------------------------------------------------ rapid clicking
def test_rapid_play_reset_leaves_a_consistent_state(closing):
    slots = TrainingSlots(1)
    before = threading.active_count()
    c = make(slots)
    closing.append(c)
    c.activate()
    for k in range(50):
        (c.start if k % 2 == 0 else c.restart)()
        c.poll()
        time.sleep(0.005)
    assert not c.running and slots.in_use == 0        # the last click was Reset
    pump(c, lambda c: c.run is not None and c.run.run_id == c._run_id and c._pending_run is None)
    time.sleep(0.3)
    c.poll()
    assert seen(c) == 0 and "paused" in c.status and "examples seen: 0" in c.status
    assert threading.active_count() <= before + 2      # one engine thread (and maybe one test thread)
    c.start()
    pump(c, lambda c: seen(c) > 100)
    c.close()
    assert c.engine.stopped.wait(5)
    time.sleep(0.2)
    assert threading.active_count() <= before and slots.in_use == 0


# ------------------------------------------------------------------ divergence
def test_the_largest_learning_rates_do_not_diverge(closing):
    """At the controls' upper bounds the network stays finite: the errors are bounded by the sigmoid."""
    c = make(TrainingSlots(1), hidden="100")
    closing.append(c)
    c.param.update(lr_hidden=c.param.lr_hidden.bounds[1], lr_output=c.param.lr_output.bounds[1],
                   feedback_scale=c.param.feedback_scale.bounds[1], g_a=c.param.g_a.bounds[1])
    c.activate()
    c.start()
    pump(c, lambda c: seen(c) >= 10000, timeout=60)
    assert c.message_kind != "danger", c.message
    s = c.last_snapshot
    assert np.isfinite(s.loss_output) and np.all(np.isfinite(s.loss_hidden))


def test_a_diverging_run_says_so_and_reset_recovers(closing, monkeypatch):
    """A non-finite weight, found by the kernels' own check: the engine raises DivergenceError."""
    original = Trainer.train_examples
    poisoned = []

    def poison_once(self, n, record_last=False):
        if self.examples_seen >= 1000 and not poisoned:
            poisoned.append(self.examples_seen)
            self.net.w[: self.net.w.size // 2] = np.nan        # the hidden layer's weights
        return original(self, n, record_last=record_last)

    monkeypatch.setattr(Trainer, "train_examples", poison_once)
    from app.page import build_page
    slots = TrainingSlots(1)
    c = make(slots)
    closing.append(c)
    dash = build_page(controller=c).dashboard
    c.activate()
    c.start()
    pump(c, lambda c: c.message_kind == "danger", timeout=30)
    assert re.search(r"training diverged at example \d+", c.message) and "press Reset" in c.message
    shown = html.unescape(html.unescape(dash.alert.get_root().text))      # what the page shows
    assert "training diverged at example" in shown and dash.alert.alert_type == "danger" and dash.alert.visible
    assert not c.running and slots.in_use == 0 and c.engine.alive
    at = seen(c)
    c.start()                                    # the weights are still broken: it says so again
    pump(c, lambda c: not c.running and c.message_kind == "danger")
    c.restart()
    assert c.message_kind == "info"
    c.start()
    pump(c, lambda c: c.run.run_id == 2 and seen(c) > 1500, timeout=30)
    assert c.running and c.message_kind != "danger" and at >= 1000
    dash.close()


# ------------------------------------------------------------------ nothing on disk, no code
def test_datasets_come_from_a_fixed_list(closing):
    import dendcore
    from dendcore.datasets import load_dataset

    c = make(TrainingSlots(1))
    closing.append(c)
    names = c.param.dataset.objects
    assert names and all(re.fullmatch(r"[a-z0-9-]+", n) for n in names)
    by_path = Path(dendcore.__file__).resolve().parent / "data" / "mnist"
    assert load_dataset(str(by_path)).n_inputs == 784        # the engine would load a path ...
    with pytest.raises(ValueError):
        c.dataset = str(by_path)                              # ... the page never passes one
    assert c.apply_settings({"dataset": str(by_path)}) and c.dataset == "mnist"


def test_the_app_takes_no_code_or_pickles_from_users():
    forbidden = re.compile(r"\bpickle\b|allow_pickle\s*=\s*True|\beval\(|\bexec\(|FileInput|__import__|"
                           r"\bmarshal\b|\bshelve\b|joblib|cloudpickle|dill\b|StaticFiles|static_dirs|--static")
    # (app/relay.py pickles what one server presents for the others, in a directory private to them, and
    # reads it back through an unpickler that builds the dashboard's dataclasses and arrays only: below)
    hits = [f"{p.name}:{i}" for p in sorted((ROOT / "app").glob("*.py")) if p.name != "relay.py"
            for i, line in enumerate(p.read_text().splitlines(), 1) if forbidden.search(line)]
    assert hits == []
    assert not (ROOT / "app" / "static").exists(), "panel serve would publish app/static/ to the web"
    relay_text = (ROOT / "app" / "relay.py").read_text()
    assert "pickle.load(" not in relay_text and "pickle.loads(" not in relay_text, "records are read by relay.loads"


class _Shell:
    def __reduce__(self):
        return (os.system, ("touch /tmp/dendrite-relay-pwned",))


class _Eval:
    def __reduce__(self):
        return (eval, ("1 + 1",))


def test_a_relay_record_can_build_the_news_and_nothing_else():
    """A file someone else put in the relay directory stops a mirror; it never runs code."""
    import pickle

    import numpy as np

    from app.controller import RunInfo, Update
    from app.relay import loads
    from dendcore.presets import get_preset
    from dendcore.snapshot import Snapshot
    snap = Snapshot(version=1, examples_seen=100, epoch=0.0, wall_s=0.0, examples=100, loss_output=0.5,
                    loss_hidden=[0.1], train_error_pct=50.0, alpha_f=np.arange(3.0))
    news = Update(run_id=1, new_run=True, spec=get_preset("glr17-1hl").spec, snapshots=[snap])
    run = RunInfo(1, news.spec, 0, "mnist", "glr17-1hl", np.arange(5))
    back = loads(pickle.dumps(("up", news, run, np.float64(2.5)), protocol=pickle.HIGHEST_PROTOCOL))
    got, got_run = back[1], back[2]
    assert got.spec == news.spec and got.snapshots[0].examples_seen == 100 and back[3] == 2.5
    assert np.array_equal(got.snapshots[0].alpha_f, snap.alpha_f) and np.array_equal(got_run.probe_indices, np.arange(5))
    for hostile in (_Shell(), _Eval(), {"x": _Eval()}, pickle.loads):
        with pytest.raises(pickle.UnpicklingError):
            loads(pickle.dumps(hostile))
    assert not os.path.exists("/tmp/dendrite-relay-pwned")


# ------------------------------------------------------------------ the served app (deploy/serve.sh)
MAX_EPOCHS_SERVED = 2.0        # 120,000 examples: rate mode gets there in seconds, spiking pages never do


@pytest.fixture(scope="module")
def served():
    """``deploy/serve.sh`` (the image's command and flags) with one training place per process."""
    from benchmarks.load_test import Server
    with Server(cap=1, session_lifetime_ms=10000, extra_env={"DENDRITE_MAX_EPOCHS": str(MAX_EPOCHS_SERVED)}) as srv:
        srv.wait_ready()
        time.sleep(1.0)
        srv.baseline_threads = srv.sample()["threads"]
        yield srv


def raw_get(base: str, path: str) -> tuple[int, bytes]:
    """GET a path exactly as written (no client-side clean-up of ``..``)."""
    import http.client
    host, port = base.replace("http://", "").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


SECRETS = (b"[tool.pytest.ini_options]", b"build_page().servable", b"root:x:0:", b"class Controller(",
           b"def parse_hidden", b"ALLOWANCE_WAIT_S", b"MNIST ships inside the package")


@pytest.mark.parametrize("path", [
    "/admin", "/admin/", "/admin/overview", "/pyproject.toml", "/README.md", "/app/main.py", "/app/static/main.py",
    "/app/../pyproject.toml", "/static/../pyproject.toml", "/static/../../../../etc/passwd",
    "/static/%2e%2e/%2e%2e/pyproject.toml", "/static/extensions/..%2f..%2f..%2fpyproject.toml",
    "/static/extensions/panel/../../../../../../etc/passwd", "/components/app.page/Dashboard/page.py",
    "/components/app.page/Dashboard/../../main.py", "/components/app.controller/Controller/controller.py",
    "/components/dendcore/spec.py", "/components/panel.layout.base/Column/../../../../../../../etc/passwd",
    "/dendcore/data/mnist/ATTRIBUTION.md", "/liveness?endpoint=/etc/passwd", "/static/",
])
def test_nothing_on_the_servers_disk_is_reachable(served, path):
    status, body = raw_get(served.base, path)
    assert status != 200 or not any(s in body for s in SECRETS), (path, status, body[:200])
    if path.startswith("/admin"):
        assert status == 404, "the Bokeh/Panel admin page must be off"
    assert status != 200, (path, status)


# ------------------------------------------------------------------ in Debian's Chromium
browser_only = pytest.mark.browser


@contextmanager
def pages(browser, *urls):
    """Pages opened one after the other (each waits for its network); paused and closed at the end."""
    from tests.system.conftest import open_page
    opened = []
    try:
        for url in urls:
            opened.append(open_page(browser, url))
        yield opened
    finally:
        for p in opened:
            try:
                p.get_by_role("button", name="‖ Pause").click(timeout=5_000)   # frees a training place now
            except Exception:
                pass
            p.close()


def shot(page, name):
    d = ROOT / "screenshots"
    d.mkdir(exist_ok=True)
    page.mouse.move(5, 2900)
    page.screenshot(path=str(d / name))


def visible_text(page, text, timeout=20_000):
    page.get_by_text(text).first.wait_for(state="visible", timeout=timeout)
    return True


def play(page, timeout=60):
    """Press Play like a student would: when the class is full, wait for a free place and press again."""
    t0 = time.monotonic()
    while True:
        page.get_by_role("button", name="▶ Play").click()
        time.sleep(0.5)
        note = page.get_by_text("The class is full — you can watch")
        if note.count() == 0 or not note.first.is_visible():
            return
        if time.monotonic() - t0 > timeout:
            raise AssertionError("no training place became free")
        visible_text(page, "A place is free now", timeout=int(1000 * timeout))


JS_MODEL = """([kind, key]) => {
    for (const doc of window.Bokeh.documents) {
        const all = [...doc._all_models.values()];
        if (kind === 'title') {
            const m = all.find(m => m.title === key && 'value' in m);
            if (m) return m.id;
        } else if (kind === 'class') {           // the number box of an editable slider with this CSS class
            const root = all.find(m => (m.css_classes || []).includes(key));
            if (!root) continue;
            const stack = [root];
            while (stack.length) {
                const m = stack.pop();
                if (m.type === 'Spinner') return m.id;
                for (const c of (m.children || [])) stack.push(Array.isArray(c) ? c[0] : c);
            }
        }
    }
    return null;
}"""
JS_SET = """([id, v]) => { for (const doc of window.Bokeh.documents) { const m = doc.get_model_by_id(id);
                            if (m) { m.value = v; return true; } } return false; }"""
JS_GET = """(id) => { for (const doc of window.Bokeh.documents) { const m = doc.get_model_by_id(id);
                       if (m) return m.value; } return null; }"""
JS_REFERENCE_MAX_X = """() => { let best = 0;
    for (const doc of window.Bokeh.documents) for (const m of doc._all_models.values()) {
        if (m.type !== 'ColumnDataSource') continue;
        const x = m.data instanceof Map ? m.data.get('x') : (m.data || {})['x'];
        // (the t-SNE map holds NaN placeholders until its first map arrives)
        if (x && x.length) best = Math.max(best, ...Array.from(x).filter(Number.isFinite));
    } return best; }"""


@browser_only
def test_class_full_in_the_browser(served, browser):
    from tests.system.conftest import examples_seen, wait_until
    base = served.base
    with pages(browser, f"{base}/app", f"{base}/app") as (a, b):
        a.get_by_role("button", name="▶ Play").click()
        wait_until(lambda: examples_seen(a) > 0, 60, "the first page to train")
        b.get_by_role("button", name="▶ Play").click()
        visible_text(b, "The class is full — you can watch")
        wait_until(lambda: "watching (the class is full)" in b.get_by_text("examples seen:").first.inner_text(), 10,
                   "the status line to say so")
        # watching means something: the whole 60-epoch reference run is drawn in the error plot
        wait_until(lambda: b.evaluate(JS_REFERENCE_MAX_X) >= 59 * 60000, 30, "the whole reference curve")
        time.sleep(3)                               # not a toast: the note stays
        visible_text(b, "The class is full — you can watch", timeout=1000)
        shot(b, "06-class-full.png")
        # ... and Step trains this page's own network, one example at a time
        b.get_by_role("button", name="Step").click()
        wait_until(lambda: examples_seen(b) == 1, 30, "Step to train one example")
        assert examples_seen(a) > 0
        # the other student pauses: a place is free, and Play works
        a.get_by_role("button", name="‖ Pause").click()
        visible_text(b, "A place is free now")
        shot(b, "07-place-free.png")
        b.get_by_role("button", name="▶ Play").click()
        wait_until(lambda: examples_seen(b) > 200, 60, "the second page to train")
        assert b.get_by_text("The class is full").count() == 0 or not b.get_by_text("The class is full").first.is_visible()
        # now the first one is told the class is full
        a.get_by_role("button", name="▶ Play").click()
        visible_text(a, "The class is full — you can watch")


@browser_only
def test_run_length_limit_in_the_browser(served, browser):
    from tests.system.conftest import examples_seen, wait_until
    base = served.base
    limit = int(MAX_EPOCHS_SERVED * 60000)
    with pages(browser, f"{base}/app?preset=glr17-1hl-rate&hidden=30") as (c,):
        play(c)
        visible_text(c, "the longest run this server allows", timeout=120_000)
        wait_until(lambda: examples_seen(c) == limit, 20, f"the status line at {limit} examples")
        assert "paused" in c.get_by_text("examples seen:").first.inner_text()
        shot(c, "08-run-limit.png")
        # the place was freed when the run stopped: another page trains at once
        with pages(browser, f"{base}/app") as (d,):
            d.get_by_role("button", name="▶ Play").click()      # at once: no waiting for a place
            wait_until(lambda: examples_seen(d) > 0, 60, "another page to train after the limit")
            assert d.get_by_text("The class is full").count() == 0 or \
                not d.get_by_text("The class is full").first.is_visible()


@browser_only
def test_garbage_link_in_the_browser(served, browser):
    from tests.system.conftest import examples_seen, in_force_text, wait_until
    base = served.base
    query = ("hidden=abc&g_a=1e308&lr_hidden=-5&dataset=../../etc/passwd&seed=NaN"
             "&rule=%3Cimg%20src%3Dx%20onerror%3D%22window.__xss%3D1%22%3E")
    with pages(browser, f"{base}/app?{query}") as (e,):
        visible_text(e, "The link contained values this page cannot use")
        for part in ("hidden", "g_a", "lr_hidden", "../../etc/passwd", "seed", "<img src=x"):
            assert e.get_by_text(part, exact=False).count() > 0, part
        assert "784-500-10 · spiking · dendrites" in in_force_text(e), "the default network runs"
        # Panel's browser side holds an address change until the page's document is idle (every view
        # drawn), which on a loaded CI machine took more than 10 s twice
        try:
            wait_until(lambda: "dataset=mnist" in e.url and "hidden=500" in e.url, 30, "the address bar rewritten")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the address bar shows {e.url}") from None
        assert e.evaluate("() => window.__xss === undefined"), "a value from the link ran as HTML"
        play(e)
        wait_until(lambda: examples_seen(e) > 0, 60, "the default network to train")
        shot(e, "09-bad-link.png")


@browser_only
def test_out_of_range_values_over_the_websocket(served, browser):
    from tests.system.conftest import examples_seen, in_force_text, wait_until
    base = served.base
    with pages(browser, f"{base}/app", f"{base}/app?preset=glr17-1hl-rate&hidden=30") as (f, g):
        play(f)
        wait_until(lambda: examples_seen(f) > 0, 60, "the other session to train")
        spec_before = in_force_text(g)
        cases = [(("class", "dl-g_a"), 5.0, 0.0, "beyond the largest"),
                 (("title", "Seed"), 10 ** 9, 0, "outside 0 to 1,000,000"),
                 (("title", "Test images"), 10 ** 7, 500, "outside 100 to 10,000"),
                 (("title", "Dataset"), "/etc", "mnist", "not one of the choices"),
                 (("title", "Hidden layers"), "99999-abc", "30", "Hidden layers: write layer sizes"),
                 (("title", "Hidden layers"), "-5", "30", "each layer needs 1 to"),
                 (("title", "Speed"), "99", "0", "not one of the choices")]
        for key, bad, kept, words in cases:
            model = g.evaluate(JS_MODEL, list(key))
            assert model, key
            seen_f = examples_seen(f)
            assert g.evaluate(JS_SET, [model, bad])
            visible_text(g, words)
            wait_until(lambda: g.evaluate(JS_GET, model) == kept, 10, f"{key} back at {kept!r} in the browser")
            wait_until(lambda: examples_seen(f) > seen_f, 30, "the other session to keep training")
        assert in_force_text(g) == spec_before, "nothing reached the network"
        shot(g, "10-refused-values.png")
        g.get_by_role("button", name="▶ Play").click()           # and the session still works
        visible_text(g, "The class is full")                     # (f holds the one place)
    assert "Exception in callback" not in served.log_text()


@browser_only
def test_rapid_play_reset_clicking(served, browser):
    from tests.system.conftest import examples_seen, wait_until
    base = served.base
    wait_until(lambda: served.sample()["threads"] <= served.baseline_threads, 60, "earlier sessions to end")
    with pages(browser, f"{base}/app?preset=glr17-1hl-rate&hidden=30") as (h,):
        play = h.get_by_role("button", name="▶ Play")
        reset = h.get_by_role("button", name="↺ Reset")
        for k in range(50):
            (play if k % 2 == 0 else reset).click(delay=0, no_wait_after=True)
        visible_text(h, "Reset: a fresh network")
        wait_until(lambda: "examples seen: 0 " in h.get_by_text("examples seen:").first.inner_text()
                   and "paused" in h.get_by_text("examples seen:").first.inner_text(), 30, "a paused fresh network")
        time.sleep(1.0)
        assert examples_seen(h) == 0
        shot(h, "11-rapid-clicks.png")
        # no training place was leaked: another page may train (the cap is 1)
        with pages(browser, f"{base}/app") as (i,):
            i.get_by_role("button", name="▶ Play").click()
            wait_until(lambda: examples_seen(i) > 0, 60, "another page to train")
        # the other page paused before it closed; should that click not reach a busy server before the
        # tab closed, its place frees when its session ends: press Play again as a student would
        last_click = [0.0]

        def trains():
            if examples_seen(h) > 1000:
                return True
            if time.monotonic() - last_click[0] > 3.0:
                h.get_by_role("button", name="▶ Play").click()
                last_click[0] = time.monotonic()
            return False
        wait_until(trains, 60, "the clicked page to train")
    # every engine thread ends with its session
    wait_until(lambda: served.sample()["threads"] <= served.baseline_threads, 60, "the threads to go back to baseline")
    log = served.log_text()
    assert f'File "{ROOT / "app"}' not in log and "engine thread failed" not in log, log[-3000:]
    assert "Callback failed" not in log, "a refused value is one warning line, not a server error"


# ------------------------------------------------------------------ sharing the CPU
def test_compute_gate_serves_in_arrival_order_and_can_be_left():
    from app.compute import ComputeGate
    gate = ComputeGate(1)
    assert gate.acquire()
    served, threads = [], []
    for k in range(4):
        t = threading.Thread(target=lambda k=k: (gate.acquire(), served.append(k), time.sleep(0.02), gate.release()))
        t.start()
        threads.append(t)
        while gate.waiting < k + 1:           # queue them in a known order
            time.sleep(0.001)
    stop = threading.Event()
    quitter = threading.Thread(target=lambda: served.append(("left", gate.acquire(stop.is_set))))
    quitter.start()
    while gate.waiting < 5:
        time.sleep(0.001)
    stop.set()                                 # a session closing while it waits for a turn
    quitter.join(2)
    assert served == [("left", False)] and gate.waiting == 4
    gate.release()
    for t in threads:
        t.join(5)
    assert served[1:] == [0, 1, 2, 3], "first come, first served"
    assert gate.acquire() and gate.waiting == 0    # the turn was not lost on the way
    gate.release()


def test_sessions_share_the_cpu_evenly(closing, monkeypatch):
    """Four sessions behind a one-wide gate: each trains, at about the same rate."""
    from app import engine
    from app.compute import ComputeGate
    monkeypatch.setattr(engine, "COMPUTE", ComputeGate(1))
    slots = TrainingSlots(4)
    cs = [make(slots) for _ in range(4)]
    closing += cs
    for c in cs:
        c.activate()
        c.start()
    for c in cs:
        pump(c, lambda c: seen(c) > 0)
    for c in cs:
        c.poll()
    n0, t0 = [seen(c) for c in cs], time.perf_counter()
    while time.perf_counter() - t0 < 3.0:      # drained like pages do, so no queue holds anyone back
        for c in cs:
            c.poll()
        time.sleep(0.05)
    rates = [(seen(c) - n) / (time.perf_counter() - t0) for c, n in zip(cs, n0)]
    assert min(rates) > 0, rates
    jain = sum(rates) ** 2 / (len(rates) * sum(r * r for r in rates))
    # no session starves; the bound leaves room for a machine shared with other jobs
    # (at load 5.7 one run measured Jain 0.89, slowest/fastest 0.34)
    assert jain > 0.8 and min(rates) > 0.25 * max(rates), rates


def test_a_rewritten_link_is_rewritten_again_when_the_browser_undoes_it(closing, monkeypatch):
    """On a busy server the browser's report of its own address may arrive after the page rewrote a
    link with refused values; the next polls put the values in force back (and stop after a while)."""
    from panel.io.location import Location
    from app import address_bar
    from app.page import build_page

    c = make(TrainingSlots(1))
    closing.append(c)
    dash = build_page(controller=c).dashboard
    loc = Location(search="?hidden=abc&seed=7")
    monkeypatch.setattr(type(pn.state), "location", property(lambda self: loc))
    dash.link_fix.start(c, ["hidden"], "?hidden=abc&seed=7")
    in_force = f"hidden={c.hidden}"
    assert in_force in loc.search and "seed=7" in loc.search, loc.search
    loc.search = "?hidden=abc&seed=7"                 # the browser's late report
    dash.tick()
    assert in_force in loc.search, loc.search
    loc.search = "?hidden=300&seed=7"                 # the student's own change is left alone
    dash.tick()
    assert "hidden=300" in loc.search
    dash.link_fix.until = time.perf_counter() - 1
    loc.search = "?hidden=abc"
    dash.tick()                                       # the watch is over
    assert not dash.link_fix.watching and loc.search == "?hidden=abc"
    assert address_bar.RECHECK_S > 0


def test_the_link_is_rewritten_when_the_bar_already_showed_the_values_in_force(closing, monkeypatch):
    """Panel's sync can write the values in force into the server's copy of the bar before the page
    opens; the browser's report then brings the refused link back, and the watch must know it from
    the link as requested (keyed on the bar at opening, half the pages of a loaded machine kept it)."""
    from panel.io.location import Location
    from app.page import build_page

    c = make(TrainingSlots(1))
    closing.append(c)
    dash = build_page(controller=c).dashboard
    in_force = f"hidden={c.hidden}"
    loc = Location(search=f"?{in_force}&seed=7")        # sync's write, before the page opened
    monkeypatch.setattr(type(pn.state), "location", property(lambda self: loc))
    dash.link_fix.start(c, ["hidden"], "?hidden=abc&seed=7")
    loc.search = "?hidden=abc&seed=7"                 # the browser's report of its address
    dash.tick()
    assert in_force in loc.search and "seed=7" in loc.search, loc.search
