"""The Live run tab's layout: the transport bar, the plot grid and the explanation drawer.

The grid is one flat row of fixed cells, one per figure, that wrap by the screen's width
(static/cells.css): four columns and three rows that together fill a 1920×1080 projector below
the status line, two columns on a laptop, one on a phone.  A cell keeps its size whether its
figure has arrived or not, so nothing moves when Play starts the run.  The explanations live in
one drawer above the grid, opened by one button (or by *Glossary*), so the plots keep the room.
"""
from __future__ import annotations

import panel as pn

from . import assets, explain, glossary
from .settings import LIVE

# (figure group, figure index in the group, cells wide); the order is the reading order
CELLS = (("learning", 0, 1), ("learning", 1, 1), ("alignment", 0, 1), ("alignment", 1, 1),
         ("plateaus", 0, 1), ("plateaus", 1, 1), ("tsne", 0, 2),
         ("example", 0, 1), ("example", 1, 1), ("network", 0, 2))


# Panel 1.9 renamed Button.button_type to color; stay compatible with older releases
COLOR_KEY = "color" if "color" in pn.widgets.Button.param else "button_type"
LABEL_KEY = "label" if "label" in pn.widgets.Button.param else "name"


def look(kind: str) -> dict:
    """A button's colour (success, warning, primary, danger, light), in this Panel release's words."""
    return {COLOR_KEY: kind}


def transport_bar(ctrl, status, explain_bar) -> pn.FlexBox:
    """Play, Pause, Step and Reset, the explanations' buttons and the status line, at the top of the
    page on every screen (the settings fold away on a phone; these stay)."""
    buttons = pn.Param(
        ctrl, parameters=["play", "pause", "step", "reset"], show_name=False, default_layout=pn.Row,
        widgets={name: {**look(kind), "width": 74, "margin": (5, 4)} for name, kind in
                 (("play", "success"), ("pause", "warning"), ("step", "primary"), ("reset", "danger"))},
        margin=0, name="transport")
    return pn.FlexBox(buttons, explain_bar, status, flex_wrap="wrap", align_items="center",
                      sizing_mode="stretch_width", margin=0)


def control_panes(ctrl) -> dict[str, pn.Param]:
    """The sidebar's controls by group (the Preset box is app/preset_box.py)."""
    # a menu, not a discrete slider: quick arrow keys left the slider's label behind its handle
    speed = pn.Param(ctrl, parameters=["speed"], show_name=False,
                     widgets={"speed": {"type": pn.widgets.Select, "css_classes": ["dl-speed"]}})
    live = pn.Param(ctrl, parameters=["g_a", "lr_hidden", "lr_output", "feedback_scale"], show_name=False,
                    widgets={name: {"type": pn.widgets.EditableFloatSlider, "css_classes": [f"dl-{name}"]}
                             for name in LIVE})
    open_value_boxes(live)
    model = pn.Param(ctrl, parameters=["mode", "hidden", "rule", "feedback", "seed", "dataset"],
                     show_name=False, widgets={"hidden": {"type": pn.widgets.TextInput},
                                               "seed": {"type": pn.widgets.IntInput}})
    tests = pn.Param(ctrl, parameters=["test_every", "test_images"], show_name=False,
                     widgets={"test_every": {"type": pn.widgets.IntInput, "step": 500},
                              "test_images": {"type": pn.widgets.IntInput, "step": 100}})
    ghost = pn.Param(ctrl, parameters=["ghost"], show_name=False, widgets={"ghost": {"css_classes": ["dl-ghost"]}})
    return {"speed": speed, "live": live, "model": model, "tests": tests, "ghost": ghost}


class GroupCells:
    """The grid cells of one figure group; ``objects`` reads and fills them like a Column's."""

    def __init__(self, name: str, cells: list):
        self.name = name
        self.cells = cells

    @property
    def objects(self) -> list:
        return [obj for cell in self.cells for obj in cell.objects]

    @objects.setter
    def objects(self, values: list) -> None:
        for i, cell in enumerate(self.cells):
            cell.objects = [values[i]] if i < len(values) else []


def open_value_boxes(pane: pn.Param) -> None:
    """Let the number box beside each slider send any typed value to the server.

    Bounded, the browser's box keeps a typed 5 on display and never sends it, while 0.6 keeps
    running and nobody says why.  Unbounded, the value reaches the slider, whose own bounds refuse
    it; the session's exception handler then says so and puts the value in force back into the box
    (app/page.py, ``Dashboard.on_exception``).
    """
    for widget in pane.layout.objects:
        box = getattr(widget, "_value_edit", None)
        if box is not None:
            box.param.update(start=None, end=None)


def _cell(name: str, wide: int) -> pn.Column:
    sheets = [assets.text("cells.css")] + ([assets.text("cells-wide.css")] if wide > 1 else [])
    return pn.Column(css_classes=[f"dl-plot-{name}", "dl-cell"], name=f"plot-{name}", margin=4,
                     sizing_mode="stretch_both", stylesheets=sheets)


def plot_grid() -> tuple[pn.FlexBox, dict[str, GroupCells]]:
    """The grid and, per figure group, its cells (filled when the run's figures are built)."""
    by_group: dict[str, list] = {}
    cells = []
    for group, _index, wide in CELLS:
        cell = _cell(group, wide)
        by_group.setdefault(group, []).append(cell)
        cells.append(cell)
    grid = pn.FlexBox(*cells, flex_wrap="wrap", align_content="flex-start", sizing_mode="stretch_width",
                      name="plot-grid", margin=0)
    return grid, {name: GroupCells(name, c) for name, c in by_group.items()}


class ExplainDrawer:
    """The student texts in one place: a toggle opens the drawer, *Glossary* opens it at the glossary."""

    def __init__(self, dataset: str = "mnist"):
        self.pages = [("About", explain.INTRO)] + list(explain.SECTIONS.values()) + [("Glossary", glossary.TEXT)]
        self.dataset = dataset
        # the texts are made when the drawer first opens: rendering their Markdown and sending them
        # was about a tenth of every page's build, for a drawer most pages never open
        self.texts: list[pn.pane.Markdown] = []
        self.tabs: pn.Tabs | None = None
        self.toggle = pn.widgets.Toggle(**{LABEL_KEY: "What am I looking at?"}, value=False, width=200, margin=(5, 4),
                                        css_classes=["dl-explain-toggle"])
        self.glossary_button = pn.widgets.Button(**{LABEL_KEY: "Glossary"}, width=100, margin=(5, 4),
                                                 description="The words used on this page, explained")
        self.glossary_button.on_click(self.show_glossary)
        self.drawer = pn.Column(visible=self.toggle.param.value, sizing_mode="stretch_width",
                                css_classes=["dl-drawer"], name="explain-drawer",
                                styles={"border": "1px solid #c8cfdb", "border-radius": "6px",
                                        "padding": "4px 10px", "background": "white"})
        self.toggle.param.watch(lambda e: self._fill() if e.new else None, "value")

    def _fill(self) -> None:
        if self.tabs is not None:
            return
        self.texts = [pn.pane.Markdown("", sizing_mode="stretch_width", disable_math=True, name=f"explain-{i}")
                      for i in range(len(self.pages))]
        self.tabs = pn.Tabs(*[(title, text) for (title, _), text in zip(self.pages, self.texts)],
                            sizing_mode="stretch_width", name="explain-tabs")
        self.follow_dataset(self.dataset)
        self.drawer.objects = [self.tabs]

    def follow_dataset(self, dataset: str) -> None:
        """The texts about the images on the screen (digits or garments)."""
        self.dataset = dataset
        for (_, text), pane in zip(self.pages, self.texts):
            pane.object = glossary.unicode_math(explain.for_dataset(text, dataset))

    def show_glossary(self, _event=None) -> None:
        self._fill()
        self.tabs.active = len(self.tabs) - 1
        self.toggle.value = True

    def bar(self) -> pn.Row:
        return pn.Row(self.toggle, self.glossary_button, margin=(0, 4), name="explain-bar")


# Panel's theme writes an info alert's text in #087990 on #cff4fc, a contrast of 4.33 where WCAG AA asks
# for 4.5 (axe-core flagged "Following the class code ...", the first thing a follower reads); Bootstrap's
# darker info text, #055160, gives 7.65.  The theme sets the colour on each alert's own shadow root, so
# the page's CSS cannot reach it: the alerts that may show info carry this sheet.
# Panel's alert text on its pale backgrounds is 4.3:1 (info) and 3.9:1 (warning), below WCAG's 4.5:1 (axe
# found the warning in a real browser); the darker shades of the same hues give 7.7:1 and 7.2:1
READABLE_ALERT = (":host(.alert-info) { --info-text-color: #055160; } "
                  ":host(.alert-warning) { --warning-text-color: #664d03; }")
# the header's alerts at about half the theme's padding: each took 68 px of a projector's 1080, where
# the plot grid's three rows want every pixel (static/cells.css)
COMPACT_ALERT = ":host(.alert) { padding: 8px 14px; margin-top: 4px; margin-bottom: 4px; } :host(.alert) p { margin: 0; }"

TITLE = "Dendrite Lab · deep learning with segregated dendrites"


def page_template(dash) -> pn.template.FastListTemplate:
    """The page: Panel's Fast list template, offline (app/assets.py), with a viewport for phones."""
    return pn.template.FastListTemplate(
        # one root for the whole sidebar: the template pays for each root (its design is set and
        # restored around each, ~1.5 ms apiece), and the sidebar's fifteen parts were fifteen roots
        title=TITLE, sidebar=[dash.settings],
        main=dash.main(), sidebar_width=340, accent="#2f5d8f",
        theme_toggle=False, raw_css=[assets.text("page.css")], design=assets.OfflineFast, font=assets.FONT,
        font_url="", meta_viewport="width=device-width, initial-scale=1", main_layout=None)
