"""The page's part of a class experiment: the teacher's form, and the class heat map everyone sees."""
from __future__ import annotations

import html
import math
import secrets

import panel as pn

from dendcore import PRESETS
from dendcore.sweep import SweepError, parse_grid_arg

from . import class_experiment as cx
from .layout import READABLE_ALERT
from .look import button
from .ratelimit import CountBuckets
from .share_view import page_link, qr_image
from .plots.class_map import ClassHeatMaps
from .sweep_view import SweepView


def parse_grid_text(text: str) -> list[tuple[str, list[str]]]:
    """``"g_a=0,0.05,0.6; feedback_scale=0.5,1,2"`` -> [("g_a", [...]), ("feedback_scale", [...])]."""
    parts = [p.strip() for p in str(text).replace("\n", ";").split(";") if p.strip()]
    if not parts:
        raise SweepError("write the grid as field=values, e.g. g_a=0,0.05,0.6; feedback_scale=0.5,1,2")
    return [parse_grid_arg(p) for p in parts]


# Every page's Sweeps list shows the class experiments, so a student clicking Create in a loop must not
# bury the teacher's or fill the disk. One page makes a few at once, then one every two minutes (a teacher
# makes one or two a lesson); the pages of one client address together make more, at most one every 20 s
# once their first 30 are spent. A whole class comes from one school address, so that limit is shared:
# one student's page alone cannot hold the teacher's back, and a student with many tabs only for 20 s.
PAGE_CREATIONS = CountBuckets(burst=5, every_s=120)        # keyed by page
CREATIONS = CountBuckets(burst=30, every_s=20)             # keyed by client address


# the box's short texts one under the other, without a blank line's worth of paragraph margins between them
TIGHT = ":host p { margin: 0 0 6px 0 }"


class ClassMap(SweepView):
    """One experiment's heat maps, updated in place when a student's result lands, the student's own
    cell framed; beside them the page's note on the student's grid point and the experiment's progress."""

    def __init__(self, code: str, mine: dict | None = None):
        super().__init__()
        self.code = code
        self.highlight = mine
        self.heat: ClassHeatMaps | None = None
        self.info.stylesheets = [TIGHT]
        self._texts = pn.Column(self.message, self.info, margin=0, styles={"flex": "1 1 320px", "min-width": "0"})
        # the texts and the two maps wrap: side by side on a projector, one under the other on a phone
        self._box = pn.FlexBox(self._texts, flex_wrap="wrap", align_items="flex-start", sizing_mode="stretch_width",
                               name="class-map")

    def panel(self, note=None):
        if note is not None:
            self._texts.insert(0, note)
        return self._box

    def start(self) -> None:
        self.open(f"sweeps/{cx.PREFIX}{self.code}")
        self.follow_changes()

    def draw(self) -> None:
        if self._applying or self.table is None:
            return
        t = self.table
        x, y = t.axes(self.x_axis.value, self.y_axis.value)
        xs = t.values[x] if x else ["all"]
        ys = t.values[y] if y else ["all"]
        if self.heat is None or not self.heat.fits(xs, ys):
            self.heat = ClassHeatMaps(xs, ys, x or "grid", y or "")
            self._box.objects = [self._texts, *(pn.pane.Bokeh(f, sizing_mode="stretch_width", max_width=f.max_width,
                                                             min_width=f.min_width, margin=(0, 10))
                                                for f in self.heat.figures)]
        self.heat.show(t.cells(x, y, self.fixed()), self.highlighted_cell(x, y))


class CreateForm:
    """A small grid for the class: two fields, a budget, a code and the link to hand out."""

    def __init__(self, on_created=None, client=lambda: "?"):
        self.preset = pn.widgets.Select(label="Preset", options=sorted(PRESETS), value="glr17-1hl-rate", width=240)
        self.grid = pn.widgets.TextInput(label="Grid (field=values; field=values)",
                                         value="g_a=0,0.05,0.6; feedback_scale=0.5,1,2", width=330)
        self.examples = pn.widgets.IntInput(label="Budget (examples per student)", value=5000, start=100,
                                            end=cx.MAX_BUDGET, step=500, width=200)
        self.test_images = pn.widgets.IntInput(label="Test images", value=500, start=100, end=10000, step=100,
                                               width=120)
        self.create_button = button("Create the class experiment", "primary")
        self.create_button.on_click(lambda _e: self.create())
        self.result = pn.pane.HTML("", sizing_mode="stretch_width", name="class-experiment-link")
        self.message = pn.pane.Alert("", alert_type="warning", visible=False, sizing_mode="stretch_width",
                                     stylesheets=[READABLE_ALERT])
        self.on_created = on_created
        self.client = client            # the page's client address (app/front_door.py), for CREATIONS
        self._page = secrets.token_hex(8)       # this page's key in PAGE_CREATIONS
        self.code: str | None = None

    def _refused(self, why: str) -> None:
        self.message.object = f"Not made: {why}; the ones made are in the Sweeps list below."
        self.message.visible = True
        return None

    def panel(self):
        return pn.Card(pn.Row(self.preset, self.grid), pn.Row(self.examples, self.test_images),
                       self.create_button, self.message, self.result, title="Class experiment",
                       collapsed=True, sizing_mode="stretch_width", name="class-experiment")

    def create(self) -> str | None:
        client = self.client()
        wait = PAGE_CREATIONS.take(self._page)
        if wait > 0:
            return self._refused(f"this page made {PAGE_CREATIONS.burst} class experiments in the last few "
                                 f"minutes. The next can be made in {math.ceil(wait)} s")
        wait = CREATIONS.take(client)
        if wait > 0:
            PAGE_CREATIONS.give_back(self._page)
            return self._refused(f"{CREATIONS.burst} class experiments were made from this network (one school "
                                 f"address) in the last few minutes. The next can be made in {math.ceil(wait)} s")
        try:
            code = cx.create(self.preset.value, parse_grid_text(self.grid.value), int(self.examples.value),
                             test_images=int(self.test_images.value))
        except (SweepError, ValueError) as exc:
            PAGE_CREATIONS.give_back(self._page)        # nothing was made: a mistyped grid costs nothing
            CREATIONS.give_back(client)
            self.message.object = f"Cannot create it: {exc}"
            self.message.visible = True
            return None
        self.message.visible = False
        self.code = code
        link = page_link("experiment", code)
        qr = qr_image(link)
        img = f'<img src="{qr}" alt="QR code of the experiment link" width="160" height="160">' if qr else ""
        self.result.object = (f'<div style="font-size:14px">Each student opens</div><div style="font-size:20px;'
                              f'font-weight:700;word-break:break-all">{html.escape(link)}</div>{img}'
                              f'<div>It is also listed in this tab as sweeps/{cx.PREFIX}{code}.</div>')
        if self.on_created is not None:
            self.on_created(code)
        return code
