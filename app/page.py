"""The page of one browser session: template, controls, plots and the periodic drain."""
from __future__ import annotations

import contextlib
import logging
import re
import time
import weakref
from collections import deque

import numpy as np
import panel as pn

from . import assets, browsers, class_experiment, glossary, limits, memory, ratelimit
from .link_previews import is_link_preview, user_agent
from .live_panes import LiveStr
from .opening import OPENING
from .address_bar import LinkFix
from .drain import Drain
from .downloads import Downloads
from . import query as link_query
from .cards import ExperimentCards
from .class_view import TIGHT, ClassMap, CreateForm
from .controller import URL_PARAMS, Controller
from .tracker import merge_news
from .explain import ghost_note
from .layout import COMPACT_ALERT, READABLE_ALERT, ExplainDrawer, control_panes, page_template, plot_grid, transport_bar
from .look import param_widgets
from .network_picture import NetworkPicture
from .paper import paper_reference
from .share_view import ShareView, role_of
from .warmup import WARMUP
from .plots import LivePlots, probe_image_uris
from .preset_box import PresetBox, file_stem
from .sweep_view import SweepView

log = logging.getLogger("dendrite_lab.page")


def as_text(text: str) -> str:
    """Markdown source that renders ``text`` literally: no HTML, links, emphasis or maths."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~<>&\"'=:$])", r"\\\1", text or "")


WRAPS = ":host pre { white-space: pre-wrap; }"      # a status line wraps on a phone instead of being cut off

ATTACH_ORDER = ("learning", "plateaus", "example", "alignment", "tsne")

link_query.install()        # long values in a link are refused before Panel converts them (app/query.py)

SESSIONS: "weakref.WeakSet[Dashboard]" = weakref.WeakSet()


class _RefusedValueRecords(logging.Filter):
    """Panel logs a value the browser sent and a control refused as a server error with a
    traceback, then hands it to the session's exception handler (:meth:`Dashboard.on_exception`),
    which tells the student and logs one line; keep the one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (isinstance(exc, ValueError) and record.getMessage().startswith("Callback failed")
                    and pn.config.exception_handler is not None)


logging.getLogger("panel.reactive").addFilter(_RefusedValueRecords())

def _weak_handler(dash: "Dashboard"):
    ref = weakref.ref(dash)

    def on_exception(exc: BaseException) -> None:
        d = ref()
        if d is not None:
            d.on_exception(exc)
    return on_exception


def _group_heading(text: str) -> pn.pane.Markdown:
    """A settings group's heading: the level below the page title's (a screen reader's list of
    headings has no gap), styled as small as the groups' old fourth-level headings."""
    return pn.pane.Markdown(f"## {text}", css_classes=["dl-group"], disable_anchors=True)


class Dashboard:
    """Wires a :class:`Controller` to the plots of its current run."""

    def __init__(self, controller: Controller):
        self.ctrl = controller
        self.plots: LivePlots | None = None
        self.grid = None                        # the plot grid, made with the rest of the page (show_rest)
        self.panes: dict = {}                   # the figure groups' cells in it (app/layout.py)
        self.explain = ExplainDrawer()
        self.picture = NetworkPicture()         # its cell is filled once; it follows each run's plots
        self.update_times: deque[float] = deque(maxlen=500)   # wall times of plot updates (benchmark)
        self.first_point_t: float | None = None
        self.timeline: dict[str, float] = {"created": time.perf_counter()}   # for the benchmark
        self.drain = Drain()                    # the periodic drain, once the page shows
        self.root = None                        # the page's template (set by build_page)
        self.link_refused: list[str] = []       # settings of the page's link that were refused
        self.link_search = ""                   # the page's link as requested ('?a=1&...')
        self._closed = False
        self._to_attach: list = []
        self.link_fix = LinkFix()               # the address bar after a link with refused values
        self._frozen_plots = None               # plots whose objects app/memory.py took out of the collector's sight
        self._frozen = False
        self.downloads: Downloads | None = None  # made with the sidebar
        self.role: tuple[str, str] | None = None   # ("present" | "follow", code) from the link
        self._buttons = None
        self._doc = None                        # the session's document, once the page is shown
        self._tab = limits.TabWatch()
        self._paused_for_tab = False    # the run was paused because the tab's connection went
        self._page_ticket: ratelimit.PageTicket | None = None   # this page's building time, given back
        self._opening: int | None = None        # this page's count among the pages opening (app/opening.py)
        self._held: list | None = None          # a new run's updates, while its plots wait for opening pages
        self._held_since = 0.0
        self._attach_since = 0.0

        c = controller
        self.status = LiveStr(c.param.status, css_classes=["dl-status"], name="status",
                              margin=(0, 10), styles={"flex": "1 1 420px"}, stylesheets=[WRAPS])
        self.in_force = pn.pane.Markdown(pn.bind(lambda s: f"**Running now:** {s}" if s else "", c.param.in_force),
                                         css_classes=["dl-inforce"], name="in-force", margin=(0, 10),
                                         styles={"font-size": "14px"}, stylesheets=[":host p { margin: 0 }"])
        # messages quote what a link or the browser sent: shown as text, never as markup
        self.alert = pn.pane.Alert(pn.bind(as_text, c.param.message), alert_type=c.param.message_kind,
                                   visible=pn.bind(bool, c.param.message), name="message", disable_math=True,
                                   sizing_mode="stretch_width", margin=(0, 10), stylesheets=[READABLE_ALERT, COMPACT_ALERT])
        self.class_note = pn.pane.Alert(pn.bind(as_text, c.param.class_note), alert_type=c.param.class_note_kind,
                                        visible=pn.bind(bool, c.param.class_note), name="class-note",
                                        disable_math=True, css_classes=["dl-class-note"],
                                        sizing_mode="stretch_width", margin=(0, 10),
                                        stylesheets=[READABLE_ALERT, COMPACT_ALERT])
        self._param_panes: list[pn.Param] = []
        self._showing_reference = False
        # the comparison lab: the ghost's status and what it compares, the experiment cards, the sweeps
        self.ghost_line = LiveStr(c.param.ghost_status, visible=pn.bind(bool, c.param.ghost_status),
                                  css_classes=["dl-status", "dl-ghost-status"], name="ghost-status",
                                  sizing_mode="stretch_width", stylesheets=[WRAPS])
        # the ghost's card and the class experiment's box are made when first needed: most pages show
        # neither, and hidden they still cost a page ~10 % of its build
        self.ghost_card: pn.Card | None = None
        self.header: pn.Column | None = None
        self.tabs: pn.Tabs | None = None
        # the other tabs are built when first opened (~40 ms of server time a session would pay up front)
        self.cards: ExperimentCards | None = None
        self.sweeps: SweepView | None = None
        self._cards_tab = pn.Column(sizing_mode="stretch_width", name="experiments-tab")
        self.class_map: ClassMap | None = None
        self.warming = pn.pane.Alert(WARMUP.text, alert_type="info", visible=not WARMUP.done.is_set(),
                                     name="warming", sizing_mode="stretch_width", margin=(0, 10),
                                     stylesheets=[READABLE_ALERT])
        self._class_box: pn.Card | None = None
        self.share = ShareView(c, lambda: self._param_panes + ([self._buttons] if self._buttons else []))
        # the sidebar's settings and the tabs below the header follow the page (show_rest)
        self.settings = pn.Column(pn.pane.Markdown("Loading the settings…", name="settings-loading"),
                                  sizing_mode="stretch_width", margin=0, name="settings")
        self.below = pn.Column(pn.pane.Markdown("The plots follow in a moment…", name="plots-loading",
                                                margin=(10, 14)),
                               sizing_mode="stretch_width", margin=0, name="below-header")   # the tabs, later
        self._rest_since: float | None = None       # when the rest of the page began to wait; None once shown
        self._sweeps_tab = pn.Column(sizing_mode="stretch_width", name="sweeps-tab")

    # ------------------------------------------------------------- widgets
    def sidebar(self) -> list:
        panes = control_panes(self.ctrl)
        self.preset_box = PresetBox(self.ctrl)
        self._param_panes = list(panes.values())

        self.downloads = Downloads(self)
        self.downloads.name(getattr(self, "_stem", "dendrite-lab"))
        share = pn.pane.Markdown("The address bar always holds the current settings: copy it to share "
                                 "this exact setup.", styles={"font-size": "14px", "color": "#444"})
        self._lock_and_warm()
        return [
            self.share.panel(), panes["speed"],
            _group_heading("Live on the running network"), panes["live"],
            _group_heading("Model (a change starts a new run)"), self.preset_box.widget, panes["model"],
            _group_heading("Side by side"), panes["ghost"],
            _group_heading("Test error"), panes["tests"],
            _group_heading("Export"), pn.Row(*self.downloads.widgets[:2]), pn.Row(*self.downloads.widgets[2:]),
            share,
        ]

    def show_rest(self) -> None:
        """The settings into the sidebar and the tabs with the plot grid below the header (once).

        They are more than half of a page's build (0.12 of 0.24 s; 81 and 20 of its 146 models),
        and a page going to a browser sends them once the browser shows the page and the pages
        opening with it are out (``tick``): the header, with Play and the status line, comes first.
        """
        self._rest_since = None
        self.grid, self.panes = plot_grid()
        self.panes.pop("network").objects = [self.picture.panel()]
        live = pn.Column(self.explain.drawer, self.grid, sizing_mode="stretch_width", margin=0)
        # only the open tab is sent to the browser: the page's first load stays as light as before
        self.tabs = pn.Tabs(("Live run", live),
                            ("The paper's experiments", self._cards_tab),
                            ("Sweeps", self._sweeps_tab),
                            dynamic=True, sizing_mode="stretch_width", name="tabs", margin=0)
        self.tabs.param.watch(lambda e: self.open_tab(e.new), "active")
        with self._models_frozen():
            self.settings.objects = self.sidebar()
            self.below.objects = [self.tabs]
            if self.class_map is not None and self.class_map.table is None:
                self._start_class_map()

    @property
    def rest_waits(self) -> bool:
        return self._rest_since is not None

    def main(self) -> list:
        # the ghost's card sits above the tabs: a change to it must not reach a tab the browser has not drawn
        transport = transport_bar(self.ctrl, self.status, self.explain.bar())
        self._buttons = transport.objects[0]
        transport.insert(1, self.share.take_over_button())     # shown while following
        self._lock_and_warm()
        self.header = pn.Column(self.warming, transport, self.class_note, self.ghost_line, self.in_force,
                                self.alert, sizing_mode="stretch_width", margin=0)
        self._ghost_chosen(self.ctrl.ghost)
        self.ctrl.param.watch(lambda e: self._ghost_chosen(e.new), "ghost")
        self.ctrl.param.watch(lambda _e: self._frame_my_point(), "experiment_note")
        return [self.header, self.below]

    def _ghost_chosen(self, choice: str) -> None:
        """The first ghost chosen adds the card saying what it compares, at the foot of the header."""
        if choice == "off" or self.ghost_card is not None:
            return
        c = self.ctrl
        note = pn.pane.Markdown(pn.bind(self.ghost_text, c.param.ghost, c.param.in_force),
                                sizing_mode="stretch_width", name="ghost-note")
        # folded: open, its ~330 px pushed the second row of plots below a projector's screen (and the
        # plots below a phone's first few screens); the page's message already says what the ghost is
        self.ghost_card = pn.Card(note, title="What the ghost run compares", collapsible=True, collapsed=True,
                                  visible=pn.bind(lambda g: g != "off", c.param.ghost), sizing_mode="stretch_width",
                                  header_background="#efe6f5", css_classes=["dl-ghost-card"], name="ghost-card")
        self.header.append(self.ghost_card)

    def open_tab(self, index: int) -> None:
        """Build a tab's contents the first time it is shown (the sweep list is read then, too)."""
        if index == 1 and self.cards is None:
            self.cards = ExperimentCards(self.ctrl, on_load=self.show_live)
            self._cards_tab.objects = [self.cards.panel()]
        elif index == 2 and self.sweeps is None:
            self.sweeps = SweepView()
            form = CreateForm(on_created=lambda code: self._created(code), client=self._client)
            self._sweeps_tab.objects = [form.panel(), self.sweeps.panel()]
            self.sweeps.show()
            self.sweeps.follow_changes()

    def show_class_map(self, code: str) -> None:
        """The class heat map above the plots (this student's cell framed)."""
        if self.class_map is not None:
            self.class_map.stop()
        self.class_map = ClassMap(code, mine=self.ctrl.my_point)
        # the maps follow with the settings (show_rest): the note and Play come first, as on any page
        if not self.rest_waits:
            self._start_class_map()
        note = pn.pane.Markdown(self.ctrl.param.experiment_note, sizing_mode="stretch_width", margin=(0, 10),
                                stylesheets=[TIGHT])
        objects = [self.class_map.panel(note)]
        if self._class_box is None:
            self._class_box = pn.Card(*objects, title="Class experiment", sizing_mode="stretch_width",
                                      collapsible=True, name="class-box")
            # below Play and the run's description: on a phone the box is a screen tall
            self.header.insert(self.header.objects.index(self.in_force) + 1, self._class_box)
        else:
            self._class_box.objects = objects

    def _frame_my_point(self) -> None:
        """Play after an idle spell may have moved this page to another grid point: frame that cell."""
        if self.class_map is None:
            return
        mine = self.ctrl.my_point
        if mine != self.class_map.highlight:
            self.class_map.highlight = mine
            self.class_map.draw()

    def _start_class_map(self) -> None:
        try:
            self.class_map.start()
        except Exception as exc:       # the experiment's files unreadable: the page goes on without the maps
            log.warning("class map of %s failed: %s", self.class_map.code, exc)

    def _created(self, code: str) -> None:
        """A class experiment was made here: list it, open its heat map in the Sweeps tab."""
        if self.sweeps is not None:
            self.sweeps.rescan()
            self.sweeps.chooser.value = f"sweeps/{class_experiment.PREFIX}{code}"

    def show_live(self) -> None:
        """Bring the live plots to the front (after a card loaded a preset)."""
        if self.tabs is not None:
            self.tabs.active = 0

    def ghost_text(self, choice: str, _in_force: str = "") -> str:
        """What the ghost compares (the box above the tabs), for the runs of this session."""
        return glossary.unicode_math(ghost_note(choice, self.ctrl.run, self.ctrl.ghost_run))

    # ------------------------------------------------------------ the drain
    def start(self) -> None:
        """Set the session up: cleanup when the tab closes; network, plots and drain once the page shows.

        The page goes out without figures; when the browser has rendered it
        (``pn.state.onload``) the engine builds the network, and its figures follow group by
        group, the learning curves first.  Measured on 2 cores this gave the earliest first
        plotted point (about 2 s after opening the page, against about 2.8 s with the empty
        figures sent along with the page).  A document without a browser session (the
        ``--liveness`` check renders one) never gets an engine thread.
        """
        pn.state.on_session_destroyed(self._on_destroyed)
        doc = pn.state.curdoc
        if doc is None or doc.session_context is None:
            return
        # Set inside the session, so it is this session's handler: Panel keeps it per document, in
        # a dictionary weak on the document only.  A bound method there held the dashboard and
        # through it the document, so no closed session was ever freed (about 21,000 objects and
        # 5 MB each in the load test); the handler holds the dashboard weakly.
        pn.config.exception_handler = _weak_handler(self)
        request = getattr(doc.session_context, "request", None)
        self.ctrl.browser = browsers.of_request(request)
        if not is_link_preview(user_agent(getattr(request, "headers", None))):
            self._opening = OPENING.requested()     # a preview never connects: nobody waits for it
        pn.state.onload(self._go)

    def _client(self) -> str:
        """The address this page's request was charged to by app/front_door.py ("?" without it: one
        person's own server)."""
        request = getattr(getattr(self._doc, "session_context", None), "request", None)
        ticket = getattr(request, "dendrite_page", None)
        return (ticket.client or ticket.key) if isinstance(ticket, ratelimit.PageTicket) else "?"

    def _give_page_time_back(self) -> None:
        """The page opened in a browser: the time its build took is given back to its client's page
        budget (app/ratelimit.py), which is then only spent by pages nobody opens."""
        request = getattr(getattr(self._doc, "session_context", None), "request", None)
        ticket = getattr(request, "dendrite_page", None)        # set by app/front_door.py when it is in use
        if isinstance(ticket, ratelimit.PageTicket) and ticket.cost_s is not None and not ticket.opened:
            ticket.opened = ratelimit.page_budgets().opened(ticket.key, ticket.cost_s)
            if ticket.opened:
                self._page_ticket = ticket

    def on_exception(self, exc: BaseException) -> None:
        """A change the browser sent failed (e.g. a value outside a control's range).

        Panel calls this instead of letting the error pass silently: the page says what
        was refused, and the controls are sent their values in force again, since the
        browser still shows what it sent.
        """
        log.warning("refused a change from the browser: %s", exc)
        try:
            self.ctrl.notify(self.ctrl.explain_refusal(exc), "warning")
        finally:
            doc = pn.state.curdoc
            if doc is not None and not self._closed:
                doc.add_next_tick_callback(self.resync_controls)

    def resync_controls(self) -> None:
        """Send every control's value in force to the browser again."""
        for pane in self._param_panes:
            for widget in pane.layout.objects:
                parts = [widget] + [getattr(widget, a, None) for a in ("_slider", "_value_edit")]
                if parts[2] is not None and parts[2].value != widget.value:
                    parts[2].value = widget.value        # a refused typed value stays in the box otherwise
                for w in parts:
                    if w is not None and "value" in w.param:
                        try:
                            w.param.trigger("value")
                        except Exception as exc:     # never let the repair itself fail the session
                            log.warning("could not resend %s: %s", type(w).__name__, exc)

    def _go(self) -> None:
        if self._closed:
            return
        self.timeline["onload"] = time.perf_counter()
        self._doc = pn.state.curdoc
        self._give_page_time_back()
        self.link_fix.start(self.ctrl, self.link_refused, self.link_search)
        if self.role is not None:
            kind, code = self.role
            if kind == "follow":
                self.ctrl.follow(code)
            elif kind == "present":
                self.ctrl.present(code)
            elif self.ctrl.join_experiment(code) or self.ctrl.experiment:
                self.show_class_map(self.ctrl.experiment)
        self.ctrl.activate()
        _watch_tabs_start()
        self.drain.start(self._timed_tick)

    def _timed_tick(self) -> None:
        t0 = time.perf_counter()
        try:
            self.tick()
        finally:
            self.drain.priority = bool(self.ctrl.presenting)
            self.drain.opening = self.rest_waits or self._held is not None or bool(self._to_attach)
            self.drain.pace(time.perf_counter() - t0)

    def _lock_and_warm(self) -> None:
        """Controls read-only while following (or pinned in a class experiment); Play held back while
        the server warms up."""
        self.share.lock_controls(bool(self.ctrl.following), bool(self.ctrl.in_experiment))
        self._follow_warm_up()

    def _follow_warm_up(self) -> None:
        """While the server warms up: its progress on the page, Play and Step held back."""
        ready = WARMUP.done.is_set()
        if self.warming.visible and ready:
            self.warming.visible = False
        elif not ready and self.warming.object != WARMUP.text:
            self.warming.object = WARMUP.text
        if self._buttons is not None and not self.ctrl.following:
            widgets = param_widgets(self._buttons)
            for name in ("play", "step"):
                w = widgets.get(name)
                if w is not None and w.disabled == ready:
                    w.disabled = not ready

    def tick(self) -> None:
        """Drain the engine's queue into the plots (one batch of stream events)."""
        if self._closed:
            return
        waiting = self.warming.visible or not WARMUP.done.is_set()
        if waiting:
            self._follow_warm_up()
        if self.link_fix.watching:
            self.link_fix.recheck()
        with pn.io.hold():      # every change of this poll (status line too) reaches the browser as one message
            if self.rest_waits and not OPENING.defers(self._rest_since, headers_only=True) and OPENING.my_turn(True):
                with self._turn():
                    self.show_rest()
                OPENING.shown(self._opening)        # all of it is on the page but the figures
                self._opening = None
            up = self.ctrl.poll()
            if self._opening is not None and (up.new_run or not self.ctrl.building):
                OPENING.header_shown(self._opening)     # its network is on the page (or it builds none)
            if up.new_run:
                # the new run's status goes out now; its plots, and every update until they exist,
                # wait while other pages of this server are opening (app/opening.py)
                self._held, self._held_since = [], OPENING.now()
                self.timeline.setdefault("first_network", time.perf_counter())
            if self._held is not None:
                if not up.empty:
                    self._held.append(up)
                if OPENING.defers(self._held_since) or not OPENING.my_turn():
                    self.drain.found(True)
                    return
                with self._turn():
                    self._show_held()
                return
            if up.empty:
                if self._attach_due():
                    with self._turn():
                        self._attach()
                else:
                    self.drain.found(waiting or self.link_fix.watching or self.ctrl.has_news or bool(self._to_attach)
                                     or self.rest_waits)
                self._show_reference()
                return
            self.drain.found(True)
            # rows first, then figures: a figure attached in the same message as rows streamed into its
            # source got them twice in the browser (its data as sent, and the stream on top)
            self._apply(up)
            if self._attach_due():
                with self._turn():
                    self._attach()

    def _attach_due(self) -> bool:
        return bool(self._to_attach) and not OPENING.defers(self._attach_since) and OPENING.my_turn()

    @contextlib.contextmanager
    def _turn(self):
        """A stage of the page's opening (app/opening.py): the next page's stage waits for the loop's next pass."""
        try:
            yield
        finally:
            OPENING.took()

    def _show_held(self) -> None:
        """The plots of the new run, and every update since its network was built, drawn as one.

        A page that waited for its turn held many polls (a follower among 30 held 25-35 over 16-24 s):
        drawn one by one, each sent its curve rows and redrew the latest example, 82 ms of the event
        loop per follower on average; drawn as one, 19 ms (benchmarks/README.md, nineteenth session).
        """
        held, self._held = self._held, None
        self._new_plots()
        self._showing_reference = False
        self.drain.found(True)
        if held:                # the first is the new run's own
            self._apply(merge_news(held, type(held[0])))
        # after the rows (see tick): a follower's catch-up streamed into the first figures as they were
        # attached, and its page drew the run so far twice, joined by a line back to the first point
        self._attach(1)

    def _apply(self, up) -> None:
        """One poll's update into the plots."""
        if self.plots is not None and self.plots.update(up, example_image=self.ctrl.example_image):
            now = time.perf_counter()
            self.update_times.append(now)
            if self.first_point_t is None and up.snapshots:
                self.first_point_t = now
            if up.snapshots:
                self._showing_reference = False    # the update cut the reference back to the run
        self._show_reference()
        self.picture.flush()
        if self.cards is not None:
            self.cards.refresh()        # only redraws when a result changed

    def _check_tab(self, now: float) -> None:
        """A tab gone for a second stops its training and frees its place (app/limits.py); Bokeh
        keeps the session itself for the unused-session lifetime in case the tab comes back."""
        session = getattr(getattr(self._doc, "session_context", None), "_session", None)
        if session is None or self._closed:
            return
        if self.drain.dozing and self.ctrl.has_news:
            doc = self._doc
            doc.add_next_tick_callback(lambda: self.drain.wake(doc))
        if self._tab.gone(session.connection_count, now) and self.ctrl.running:
            self._doc.add_next_tick_callback(self._stop_for_closed_tab)
        away = self._tab.back()
        if away is not None and self._paused_for_tab:
            self._doc.add_next_tick_callback(lambda: self._tab_back(away))

    def _stop_for_closed_tab(self) -> None:
        if self.ctrl.running and not self._closed:
            log.info("a page's tab closed: its run paused and its training place freed")
            self.ctrl.stop()
            self._paused_for_tab = True

    def _tab_back(self, away: float) -> None:
        """The page joined its session again after its connection dropped: say why the run stands still."""
        if self._closed or not self._paused_for_tab:
            return
        self._paused_for_tab = False
        log.info("a page's tab came back after %.0f s", away)
        if not self.ctrl.running:
            self.ctrl.notify(f"The connection to the server was lost for {away:.0f} s, and your run was paused "
                             f"at example {self.ctrl.tracker.examples_seen:,}. Press ▶ Play to go on.", "info")

    def _show_reference(self) -> None:
        """While the class is full, the error plot shows the whole reference run, not only its start.

        (While training, the reference line ends a little past the run, so the axis follows the run.)
        """
        plots = self.plots
        if not self.ctrl.watching or self._showing_reference or plots is None or plots.paper_curve is None:
            return
        x, y = plots.paper_curve
        plots.paper.send({"x": np.asarray(x, dtype=float), "y": np.asarray(y, dtype=float)})
        self._showing_reference = True

    def _new_plots(self) -> None:
        """A network was built: fresh plots for it."""
        run = self.ctrl.run
        if self.rest_waits:
            self.show_rest()                    # the plots' cells first (never needed so far: it comes first)
        if run is not None:
            self._make_plots(run.spec, run.preset, run.dataset, run.probe_indices)

    def _make_plots(self, spec, preset, dataset, probe_indices) -> None:
        from dendcore import load_dataset
        data = load_dataset(dataset)
        uris = probe_image_uris(data, probe_indices) if spec.n_hidden_layers else []
        labels = np.asarray(data.test_labels)[probe_indices]
        paper_error, curve = paper_reference(preset, spec, dataset)
        if self.plots is not None and self.plots is self._frozen_plots:
            memory.frozen_garbage()             # the old plots were frozen: only a full collection frees them
            self._frozen_plots = None
        self.plots = LivePlots(spec.n_hidden_layers, spec.mode, data.classes, paper_error=paper_error,
                               paper_curve=curve, probe_uris=uris, probe_labels=labels,
                               title=f"Dendrite Lab: {preset}, {spec.describe()}, {dataset}, seed {self.ctrl.seed}")
        self._stem = file_stem(preset, spec)
        self.explain.follow_dataset(dataset)
        self.picture.attach(self.plots)
        if self.downloads is not None:
            self.downloads.name(self._stem)
        figures = self.plots.figures()
        # the browser draws the learning curves first and the other groups at the next poll, so the
        # first point does not wait for all ten figures to be laid out
        self._to_attach = [(name, figures[name]) for name in ATTACH_ORDER]
        self._attach_since = OPENING.now()
        self.first_point_t = None

    def _attach(self, n: int | None = None) -> None:
        """Put the next ``n`` figure groups (all that wait, by default) into their cells."""
        # each cell's new figure made Bokeh walk the whole document again: a dozen walks of its ~680
        # models per page. Inside one freeze it is walked once per call: building and attaching a
        # run's figures took 0.62 s of the loop, 0.52 s with a walk per group, 0.41 s with one walk
        n = len(self._to_attach) if n is None else n
        with self._models_frozen():
            for name, figs in self._to_attach[:n]:
                self.panes[name].objects = [pn.pane.Bokeh(f, sizing_mode="stretch_both", margin=0) for f in figs]
        del self._to_attach[:n]
        if not self._to_attach and not self._frozen and not self._closed and memory.ENABLED:
            # the page is complete: what it holds lives as long as the session
            memory.session_ready()
            self._frozen, self._frozen_plots = True, self.plots

    def _models_frozen(self):
        doc = self._doc
        return doc.models.freeze() if doc is not None else contextlib.nullcontext()

    def _on_destroyed(self, session_context) -> None:   # Bokeh checks this exact signature; None is fine
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        OPENING.shown(self._opening)
        self._opening = None
        if self._page_ticket is not None:
            ratelimit.page_budgets().closed(self._page_ticket.key)
            self._page_ticket = None
        self.drain.stop()
        for view in (self.class_map, self.sweeps):
            if view is not None:
                view.stop()
        self.ctrl.close()
        memory.forget_js_links(self.root)
        if self._frozen:
            self._release_frozen()

    def _release_frozen(self) -> None:
        """Ask for the collection of this session's frozen objects once nothing holds them any more:
        a test still running in a helper thread keeps the session alive for a few seconds."""
        if not self.ctrl.threads_alive:
            memory.frozen_garbage()
            return
        from tornado.ioloop import IOLoop
        IOLoop.current().call_later(1.0, self._release_frozen)


TAB_WATCH_MS = 250
_tab_watch = None


def _watch_tabs_start() -> None:
    """One timer of the process checks every page for a closed tab; the pages' own drains slow
    down to one poll in 2 s on a busy server, too slow to free a place within 5 s."""
    global _tab_watch
    if _tab_watch is None:
        from tornado.ioloop import PeriodicCallback as LoopTimer

        def check_all():
            now = time.monotonic()
            for dash in list(SESSIONS):
                dash._check_tab(now)

        _tab_watch = LoopTimer(check_all, TAB_WATCH_MS)
        _tab_watch.start()


def build_page(controller: Controller | None = None):
    """One session's page; the URL's query string sets the controls and follows them."""
    ctrl = controller or Controller()
    assets.configure_session()
    doc = pn.state.curdoc
    loc = pn.state.location if doc is not None and doc.session_context is not None else None
    if loc is not None:
        link = loc.search
        screened = link_query.screen(link)
        query = dict(loc.query_params)
        refused = ctrl.apply_settings(query) if query else []
        loc.sync(ctrl, {name: name for name in URL_PARAMS}, on_error=ctrl.url_errors)
        if screened.refused:
            ctrl.notify(" ".join(filter(None, [ctrl.message, screened.message()])), "warning")
    dash = Dashboard(ctrl)
    if loc is not None:
        names = [b.split("=", 1)[0] for b in refused]
        dash.link_refused = names + [n for n in screened.refused if n in URL_PARAMS and n not in names]
        dash.link_search = link
        dash.role = role_of(query)
    template = page_template(dash)
    if doc is not None and doc.session_context is not None:
        dash._rest_since = OPENING.now()        # a browser's page: settings and plot grid follow (show_rest)
    else:
        dash.show_rest()                        # a page rendered whole (the liveness check, tests, a notebook)
    if doc is not None:
        assets.install_page_script(doc)
    dash.start()
    SESSIONS.add(dash)          # in-process benchmarks and tests look the session up here
    template.dashboard = dash
    dash.root = template
    return template
