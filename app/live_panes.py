"""Text panes that change at every update of a training page: the status line and the network picture.

When a pane's object changes, Panel recomputes every property of its Bokeh model (its design's
stylesheets resolved again, sizes, styles) and hands them all to Bokeh, which compares each with
the model's.  For an HTML or Str pane only the text can have changed: the pane's other settings
reach the model through their own watchers, and the parameters that re-render it (the object,
``sanitize_html``, ``sanitize_hook``) map to nothing but the text.  In a class each page's two
such panes change every 2 s, and the full update took 0.6-0.7 ms each against 0.07 ms for the
text alone (benchmarks/tick_cost.py gives the whole update).  tests/app/test_live_panes.py checks
that the model ends the same either way.
"""
from __future__ import annotations

import panel as pn


class _TextOnly:
    def _update(self, ref, model) -> None:
        if self.enable_streaming:               # Panel's own sends a streamed suffix instead
            super()._update(ref, model)
            return
        model.update(**self._process_param_change({"object": self.object}))


class LiveHTML(_TextOnly, pn.pane.HTML):
    """An HTML pane whose new objects reach the browser as its text alone."""


class LiveStr(_TextOnly, pn.pane.Str):
    """A Str pane whose new objects reach the browser as its text alone."""
